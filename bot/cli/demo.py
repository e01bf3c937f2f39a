"""`sitrep demo`: the pipeline on embedded defaults, as a new user first meets it.

Today it covers what exists: an embedded PostgreSQL, the sandbox organisation served by local
fakes of Sentry, Jira and GitHub, a real sync over HTTP, the product tree, and the health, DORA
and sprint reports of one product. The bot through the console joins as it is built.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from sqlalchemy.engine import Engine

from bot.cli import products as products_cli
from bot.cli.common import user_errors
from bot.cli.report_text import render_report
from bot.cli.sync import RichProgress, summary_table
from bot.sandbox import running_sandbox
from collectors.runner import run_sync
from insights.queries.reports import build_dora_report, build_health_report
from insights.queries.scope import resolve_scope
from insights.queries.sprint import build_sprint_report
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


def show_insights(engine: Engine) -> None:
    """Steps 5-7: the three reports for one product, as `sitrep report` prints them."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    builders: list[tuple[str, Callable[[Any, Any], Any]]] = [
        ("health", lambda s, scope: build_health_report(s, scope, days=30, now=now)),
        ("dora", lambda s, scope: build_dora_report(s, scope, days=30, now=now)),
        ("sprint", lambda s, scope: build_sprint_report(s, scope, now=now)),
    ]
    for number, (kind, build) in enumerate(builders, start=5):
        step(number, f'Insights: `sitrep report {kind} --product "{DEMO_PRODUCT}"`')
        with user_errors(), session_scope(engine) as session:
            report = build(session, resolve_scope(session, product=DEMO_PRODUCT))
        typer.echo(render_report(report))


def demo() -> None:
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
            typer.secho(f"    {report.source} {report.scope}: {report.error}", fg=typer.colors.RED)

    step(4, "The product tree (`sitrep products show`)")
    with user_errors(), session_scope(engine) as session:
        typer.echo(products_cli.render_tree(session, include_inactive=False))

    show_insights(engine)

    typer.secho(f"\nDemo finished in {time.monotonic() - started:.1f}s.", fg=typer.colors.GREEN)
    typer.echo(
        "Try: .venv/bin/sitrep report dora --team payments --days 90  (reports read the database "
        "in DATABASE_URL or the default embedded one; the demo keeps its own sitrep_demo). "
        "The Slack bot joins this demo as it is built (see Status in the README)."
    )
    if failed:
        raise typer.Exit(1)
