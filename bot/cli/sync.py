"""`sitrep sync`: pull Sentry, Jira and GitHub into the database, and show how runs went."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from tabulate import tabulate

from bot.cli.common import err, open_engine, user_errors
from collectors.runner import SOURCES, ScopeReport, run_sync
from storage.db import session_scope
from storage.sync_state import recent_runs

app = typer.Typer(
    help="Sync Sentry, Jira and GitHub into the database.",
    invoke_without_command=True,
)


class _Bar:
    def __init__(self, progress: Progress, task: int) -> None:
        self._progress, self._task = progress, task

    def total(self, count: int | None) -> None:
        self._progress.update(self._task, total=count)  # type: ignore[arg-type]

    def advance(self, count: int = 1) -> None:
        self._progress.advance(self._task, count)  # type: ignore[arg-type]


class RichProgress:
    """A progress bar per source and scope (rich draws nothing live when not on a terminal)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    @contextmanager
    def scope(self, source: str, scope: str) -> Iterator[_Bar]:
        task = self._progress.add_task(f"{source:<7} {scope}", total=None)
        try:
            yield _Bar(self._progress, task)
        finally:
            current = self._progress.tasks[task].completed
            done = max(current, 1)
            self._progress.update(task, total=done, completed=done)


def summary_table(reports: Sequence[ScopeReport]) -> str:
    rows = []
    for r in reports:
        status = {"succeeded": "ok", "failed": "FAILED", "skipped": "skipped"}[r.status]
        rows.append([r.source, r.scope, status, r.rows, r.requests, f"{r.seconds:.1f}s"])
    table = tabulate(
        rows,
        headers=["source", "scope", "status", "rows", "requests", "time"],
        tablefmt="simple",
        intfmt=",",
    )
    total_rows = sum(r.rows for r in reports)
    total_requests = sum(r.requests for r in reports)
    return f"{table}\n\n{total_rows:,} rows written, {total_requests:,} requests."


@app.callback()
def sync(
    ctx: typer.Context,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source", "-s", help=f"Only this source ({', '.join(SOURCES)}); repeatable."
        ),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Ignore the cursors and fetch everything again.")
    ] = False,
) -> None:
    """Sync every configured source (incrementally, from each scope's cursor).

    Which projects, boards and repos to sync comes from the products file
    (`sitrep products apply`). A source without credentials is skipped with a line saying
    what to set. Exits 1 when any scope failed; the others are synced all the same.
    """
    if ctx.invoked_subcommand is not None:
        return
    for name in source or []:
        if name not in SOURCES:
            err(f"Unknown source {name!r}; use one of {', '.join(SOURCES)}.")
            raise typer.Exit(2)
    console = Console(stderr=True)
    with user_errors():
        engine = open_engine()
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description:<36}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            reports = run_sync(engine, sources=source, full=full, progress=RichProgress(progress))
    typer.echo(summary_table(reports))
    for report in reports:
        if report.status == "skipped" and report.error:
            typer.secho(f"skipped: {report.error}", fg=typer.colors.YELLOW)
        elif report.status == "failed":
            err(f"failed: {report.source} {report.scope}: {report.error}")
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(1)


@app.command("status")
def status(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs to show.")] = 30,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this source.")] = None,
) -> None:
    """Show recent sync runs: when, how long, rows, requests and any error."""
    with user_errors(), session_scope(open_engine()) as session:
        runs = recent_runs(session, limit=limit, source=source)
    if not runs:
        typer.echo("No sync has run yet. Run `sitrep sync`.")
        return
    rows = [
        [
            r.started_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
            r.source,
            r.scope,
            r.status,
            r.rows,
            r.requests,
            "" if r.seconds is None else f"{r.seconds:.1f}s",
            (r.error or "")[:80],
        ]
        for r in runs
    ]
    typer.echo(
        tabulate(
            rows,
            headers=[
                "started (UTC)",
                "source",
                "scope",
                "status",
                "rows",
                "requests",
                "time",
                "error",
            ],
            tablefmt="simple",
            intfmt=",",
        )
    )
