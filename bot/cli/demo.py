"""`sitrep demo`: the pipeline on embedded defaults, as a new user first meets it.

An embedded PostgreSQL, the sandbox organisation served by local fakes of Sentry, Jira and
GitHub, a real sync over HTTP, the product tree; then the Slack bot through its real HTTP endpoint
with a fake Slack, shown by the console stand-in: the App Home, `/sitrep health`, `dora` and
`sprint`, a daily digest, and a Sentry alert turned into a Jira ticket (`bot.cli.demo_steps`).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from sqlalchemy.engine import Engine

from bot.cli import products as products_cli
from bot.cli.common import user_errors
from bot.cli.sync import RichProgress, summary_table
from bot.sandbox import Sandbox, running_sandbox
from collectors.runner import run_sync
from storage import db, migrate
from storage.db import session_scope
from storage.products import apply_products

DEMO_DATABASE = "sitrep_demo"
DEMO_PRODUCT = "Payment System"
# Fixed ports keep the links stored from the fakes (issue and board URLs) the same from one demo
# run to the next, so a second run really has nothing to rewrite. Free ports when taken.
DEMO_PORT = 8911


def step(number: int, text: str) -> None:
    typer.secho(f"\n[{number}] {text}", bold=True)


def show_bot(engine: Engine, sandbox: Sandbox, *, keep: bool) -> bool:
    """Steps 5-10: the bot through its real HTTP endpoint, Slack played by the console."""
    from bot.cli import demo_steps

    return demo_steps.run(engine, sandbox, keep=keep, step=step)


def demo(
    keep: Annotated[
        bool,
        typer.Option(
            "--keep",
            help="Leave the bot, the fake Slack and the sandbox running afterwards, to try "
            "`sitrep console` by hand (Ctrl-C stops them).",
        ),
    ] = False,
) -> None:
    """Run Sitrep end to end on embedded defaults: no configuration needed.

    Uses its own database (`sitrep_demo`) in the embedded PostgreSQL, so it never touches the
    products and data you synced yourself.
    """
    started = time.monotonic()
    with user_errors():
        step(1, "Starting the embedded PostgreSQL and applying migrations")
        url = db.embedded_server_url(db.data_dir(), DEMO_DATABASE)
        engine = db.get_engine(url)
        before, after = migrate.upgrade(engine)
        typer.echo(f"    database {db.describe(url)}")
        typer.echo(f"    schema {before or '(empty)'} -> {after}")

        step(2, "Starting the sandbox organisation: local fakes of Sentry, Jira and GitHub")
        with ExitStack() as stack:
            try:
                sandbox = stack.enter_context(running_sandbox(first_port=DEMO_PORT))
            except OSError:
                typer.echo(f"    ports {DEMO_PORT}-{DEMO_PORT + 2} are taken; using free ones")
                sandbox = stack.enter_context(running_sandbox())
            for name, server in sandbox.servers.items():
                typer.echo(f"    {name:<7} {server.url}")
            counts = sandbox.world.counts()
            typer.echo(
                f"    {counts['products']} products, {counts['pull_requests']:,} pull requests, "
                f"{counts['deployments']:,} deployments, {counts['jira_issues']:,} Jira issues, "
                f"{counts['sentry_issues']:,} Sentry issues over the last 90 days"
            )
            with session_scope(engine) as session:
                plan = apply_products(session, sandbox.world.products)
            typer.echo(f"    products: {plan.summary()}")

            step(3, "Syncing over HTTP (incremental: a second demo run fetches only what changed)")
            columns = (
                SpinnerColumn(),
                TextColumn("{task.description:<36}"),
                BarColumn(),
                MofNCompleteColumn(),
            )
            with Progress(*columns, console=Console(stderr=True)) as progress:
                reports = run_sync(engine, env=sandbox.env(), progress=RichProgress(progress))
            typer.echo(summary_table(reports))
            failed = [r for r in reports if r.status != "succeeded"]
            for report in failed:
                typer.secho(
                    f"    {report.source} {report.scope}: {report.error}", fg=typer.colors.RED
                )

            step(4, "The product tree (`sitrep products show`)")
            with session_scope(engine) as session:
                typer.echo(products_cli.render_tree(session, include_inactive=False))

            ok = show_bot(engine, sandbox, keep=keep)

    typer.secho(f"\nDemo finished in {time.monotonic() - started:.1f}s.", fg=typer.colors.GREEN)
    if failed or not ok:
        raise typer.Exit(1)
