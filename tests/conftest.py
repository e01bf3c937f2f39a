"""Test fixtures: a real PostgreSQL for every test, never a stand-in.

The server is `TEST_DATABASE_URL` when set (its user must be allowed to create databases), else
an embedded pgserver in a temporary directory, deleted afterwards. Migrations run once into a
template database; then

- `session` gives each test a transaction on a shared migrated database, rolled back afterwards
  (the code under test may commit: it commits a SAVEPOINT);
- `database_url` gives a test a whole database of its own, cloned from the template in a few
  milliseconds, for code that opens its own connections (CLI commands, subprocesses).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import Session

from storage import db, migrate

TEMPLATE = "sitrep_test_template"
_counter = itertools.count()


def _admin(url: URL) -> Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def _recreate(admin_url: URL, name: str, template: str | None = None) -> URL:
    engine = _admin(admin_url)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        clause = f' TEMPLATE "{template}"' if template else ""
        conn.execute(sa.text(f'CREATE DATABASE "{name}"{clause}'))
    engine.dispose()
    return admin_url.set(database=name)


def _drop(admin_url: URL, name: str) -> None:
    engine = _admin(admin_url)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def admin_url(tmp_path_factory: pytest.TempPathFactory) -> URL:
    """A URL with the right to create databases on the test server."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return db.normalise_url(configured)
    import pgserver  # type: ignore[import-untyped]

    pgdata = tmp_path_factory.mktemp("pg") / "data"
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    return db.normalise_url(server.get_uri())


@pytest.fixture(scope="session")
def template_url(admin_url: URL) -> URL:
    """A database migrated to head, the template every test database is cloned from."""
    url = _recreate(admin_url, TEMPLATE)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    migrate.upgrade(engine)
    engine.dispose()  # CREATE DATABASE ... TEMPLATE needs the template to have no connections
    return url


@pytest.fixture(scope="session")
def engine(admin_url: URL, template_url: URL) -> Iterator[Engine]:
    url = _recreate(admin_url, "sitrep_test", TEMPLATE)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture
def database_url(admin_url: URL, template_url: URL) -> Iterator[URL]:
    """A migrated database of the test's own, dropped afterwards."""
    name = f"sitrep_t{os.getpid()}_{next(_counter)}"
    url = _recreate(admin_url, name, TEMPLATE)
    yield url
    _drop(admin_url, name)
