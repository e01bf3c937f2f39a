"""`sitrep demo`: the pipeline on embedded defaults, as a new user first meets it.

Today it covers what exists: an embedded PostgreSQL, migrations, the sandbox products file and
the product tree. Later steps (sandbox fakes, sync, insights, the bot through the console) join
as they are built.
"""

from __future__ import annotations

import time

import typer

from bot.cli import products as products_cli
from bot.cli.common import user_errors
from collectors.sandbox import PRODUCTS_FILE
from storage import db, migrate
from storage.db import session_scope
from storage.product_file import load_products_file
from storage.products import apply_products

DEMO_DATABASE = "sitrep_demo"


def step(number: int, text: str) -> None:
    typer.secho(f"\n[{number}] {text}", bold=True)


def demo() -> None:
    """Run Sitrep end to end on embedded defaults: no configuration needed.

    Uses its own database (`sitrep_demo`) in the embedded PostgreSQL, so it never touches the
    products you applied yourself.
    """
    started = time.monotonic()
    with user_errors():
        step(1, "Starting the embedded PostgreSQL and applying migrations")
        url = db.embedded_server_url(db.data_dir(), DEMO_DATABASE)
        engine = db.get_engine(url)
        before, after = migrate.upgrade(engine)
        typer.echo(f"    database {db.describe(url)}")
        typer.echo(f"    schema {before or '(empty)'} -> {after}")

        step(2, f"Applying the sandbox organisation's products ({PRODUCTS_FILE.name})")
        specs = load_products_file(PRODUCTS_FILE)
        with session_scope(engine) as session:
            plan = apply_products(session, specs)
        for change in plan.changes:
            typer.echo(f"    {change}")
        typer.echo(f"    {plan.summary()}")

    step(3, "The product tree (`sitrep products show`)")
    # The same rendering as the real command, pointed at the demo database.
    with user_errors(), session_scope(engine) as session:
        typer.echo(products_cli.render_tree(session, include_inactive=False))

    typer.secho(f"\nDemo finished in {time.monotonic() - started:.1f}s.", fg=typer.colors.GREEN)
    typer.echo(
        "Next: sync, insights and the Slack bot join this demo as they are built "
        "(see Status in the README)."
    )
