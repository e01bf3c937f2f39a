"""Migrations and models must describe the same schema; upgrades must be repeatable."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import URL

from storage import migrate
from storage.models import Base


def test_models_and_migrations_do_not_drift(database_url: URL) -> None:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], (
        "storage/models.py and the migrations disagree; generate a migration with "
        f"`sitrep db revision 'what changed'`:\n{diff}"
    )


def test_upgrade_is_idempotent_and_downgrade_reverses_it(database_url: URL) -> None:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    head = migrate.head_revision()
    assert migrate.current_revision(engine) == head
    assert migrate.upgrade(engine) == (head, head)
    assert not migrate.pending(engine)

    from alembic import command

    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "base")
    assert "products" not in sa.inspect(engine).get_table_names()
    assert migrate.pending(engine)

    migrate.ensure_current(engine)
    tables = set(sa.inspect(engine).get_table_names())
    assert {"products", "pull_requests", "work_item_transitions", "sync_runs"} <= tables
    with engine.connect() as conn:
        triggers = conn.execute(
            sa.text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'products'::regclass")
        ).scalars()
        assert "products_no_cycle" in set(triggers)
