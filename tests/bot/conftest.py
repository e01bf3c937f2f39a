"""The bot against the small sandbox: synced once, cloned for every test that writes.

`bot` starts a `BotHarness` (the web app on a real port, a fake Slack, the sandbox fakes) over a
database of the test's own, cloned in milliseconds from one synced copy of the sandbox. The clock
is the sandbox's "now" plus the time elapsed since the test started, so reports read the planted
data and Slack's five-minute signature window still holds.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from bot.sandbox import Sandbox, running_sandbox
from collectors.runner import run_sync
from collectors.sandbox.generator import generate
from collectors.sandbox.world import World
from storage.db import session_scope
from storage.products import apply_products
from tests.bot.harness import BotHarness
from tests.conftest import TEMPLATE, _counter, _drop, _recreate

BOT_NOW = dt.datetime(2026, 11, 16, 9, 0, tzinfo=dt.UTC)
SYNCED = "sitrep_bot_sandbox"


@pytest.fixture(scope="session")
def bot_world() -> World:
    return generate("small", seed=7, now=BOT_NOW)


@pytest.fixture(scope="session")
def bot_sandbox(bot_world: World) -> Iterator[Sandbox]:
    """The sandbox fakes, running for the whole session (the alert buttons reach them)."""
    with running_sandbox(world=bot_world) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def synced_url(
    admin_url: URL, template_url: URL, bot_world: World, bot_sandbox: Sandbox
) -> Iterator[URL]:
    """A database holding the small sandbox after a real sync; a template, never used directly."""
    url = _recreate(admin_url, SYNCED, TEMPLATE)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with session_scope(engine) as session:
        apply_products(session, bot_world.products)
    reports = run_sync(engine, env=bot_sandbox.env() | {"SITREP_HTTP_BACKOFF": "0.01"})
    assert all(r.status == "succeeded" for r in reports), reports
    engine.dispose()
    yield url
    _drop(admin_url, SYNCED)


@pytest.fixture
def synced_db(admin_url: URL, synced_url: URL) -> Iterator[sa.Engine]:
    """A writable copy of the synced sandbox, the test's own."""
    name = f"sitrep_b{os.getpid()}_{next(_counter)}"
    url = _recreate(admin_url, name, SYNCED)
    engine = sa.create_engine(url, pool_size=20, max_overflow=10)
    yield engine
    engine.dispose()
    _drop(admin_url, name)


@pytest.fixture
def bot(synced_db: sa.Engine, bot_sandbox: Sandbox) -> Iterator[BotHarness]:
    started = time.monotonic()

    def clock() -> dt.datetime:
        return BOT_NOW + dt.timedelta(seconds=time.monotonic() - started)

    harness = BotHarness(synced_db, bot_sandbox.env(), clock=clock).start()
    yield harness
    harness.stop()
