"""Fixtures the collector tests share.

Each sync test module defines its own `world` (the sandbox it syncs); `engine` then gives it a
database of its own with that world's products applied. Syncs commit, so this replaces the
root conftest's shared, rolled-back `engine` for the tests in this folder.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from collectors.sandbox.world import World
from storage.db import session_scope
from storage.products import apply_products


@pytest.fixture
def engine(database_url: URL, world: World) -> Iterator[Engine]:
    engine = sa.create_engine(database_url)
    with session_scope(engine) as session:
        apply_products(session, world.products)
    yield engine
    engine.dispose()
