"""The small sandbox, synced once over HTTP into a database the insight tests only read.

`now` is fixed (a Monday at midnight UTC), so windows line up with ISO weeks and every run sees
the same organisation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from bot.sandbox import running_sandbox
from collectors.runner import run_sync
from collectors.sandbox.generator import generate
from collectors.sandbox.world import World
from storage.db import session_scope
from storage.products import apply_products
from tests.conftest import TEMPLATE, _drop, _recreate

SANDBOX_NOW = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def sandbox_world() -> World:
    return generate("small", seed=7, now=SANDBOX_NOW)


@pytest.fixture(scope="session")
def sandbox_engine(admin_url: URL, template_url: URL, sandbox_world: World) -> Iterator[Engine]:
    """A database holding the small sandbox after a real sync. Read it; do not write to it."""
    name = "sitrep_insights_sandbox"
    url = _recreate(admin_url, name, TEMPLATE)
    engine = sa.create_engine(url)
    with session_scope(engine) as session:
        apply_products(session, sandbox_world.products)
    with running_sandbox(world=sandbox_world) as sandbox:
        reports = run_sync(engine, env=sandbox.env() | {"SITREP_HTTP_BACKOFF": "0.01"})
    failed = [r for r in reports if r.status != "succeeded"]
    assert not failed, failed
    yield engine
    engine.dispose()
    _drop(admin_url, name)
