"""`sitrep db ...`: the database's schema and whereabouts."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import open_engine, user_errors
from storage import db, migrate

app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply pending migrations (other commands do this on their own as well)."""
    with user_errors():
        engine = open_engine(migrate_first=False)
        before, after = migrate.upgrade(engine)
    where = db.describe(engine.url)
    if before == after:
        typer.echo(f"Database {where} is up to date (revision {after}).")
    else:
        typer.echo(f"Database {where} upgraded: {before or '(empty)'} -> {after}.")


@app.command("status")
def status() -> None:
    """Show which database is used and whether migrations are pending."""
    with user_errors():
        engine = open_engine(migrate_first=False)
        current, head = migrate.current_revision(engine), migrate.head_revision()
    typer.echo(f"database:  {db.describe(engine.url)}")
    typer.echo(f"revision:  {current or '(empty)'}")
    typer.echo(f"head:      {head}")
    if current != head:
        typer.echo("Migrations are pending: run `sitrep db upgrade`.")


@app.command("revision", hidden=True)
def revision(message: Annotated[str, typer.Argument(help="What the migration changes.")]) -> None:
    """(Developers) Autogenerate a migration from changes to storage/models.py."""
    with user_errors():
        migrate.revision(open_engine(), message)
