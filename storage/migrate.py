"""Schema migrations with Alembic, configured in code so no `alembic.ini` has to be found.

Every Sitrep command that touches the database calls `upgrade` first, so a fresh database (or one
an older release left behind) is brought to head without anyone remembering `sitrep db upgrade`.
Concurrent upgrades (a web and a worker process starting together) are serialised with a
PostgreSQL advisory lock.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# An arbitrary, fixed key: "sitrep" spelled as ASCII bytes.
_UPGRADE_LOCK = 0x736974726570


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def pending(engine: Engine) -> bool:
    return current_revision(engine) != head_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply pending migrations; return the revisions before and after."""
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        before = MigrationContext.configure(conn).get_current_revision()
        command.upgrade(alembic_config(conn), revision)
        after = MigrationContext.configure(conn).get_current_revision()
    return before, after


def ensure_current(engine: Engine) -> None:
    """Upgrade only when something is pending: the cheap check runs on every command."""
    if pending(engine):
        upgrade(engine)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new migration from the models (a developer's command)."""
    with engine.begin() as conn:
        command.revision(alembic_config(conn), message=message, autogenerate=True)
