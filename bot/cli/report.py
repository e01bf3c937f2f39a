"""`sitrep report health|dora|sprint`: the insights in a terminal, as text or JSON."""

from __future__ import annotations

import datetime as dt
import json
import os
from enum import StrEnum
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from bot.cli.common import EXIT_BAD_INPUT, err, open_engine, user_errors
from bot.cli.report_text import render_report
from insights.errors import InsightsError
from insights.queries.reports import build_dora_report, build_health_report
from insights.queries.scope import Scope, resolve_scope
from insights.report import Report
from storage.db import session_scope

app = typer.Typer(
    help="Product health, DORA metrics and sprint risks, computed from the synced data.",
    no_args_is_help=True,
)


class Format(StrEnum):
    text = "text"
    json = "json"


Product = Annotated[
    str | None,
    typer.Option(
        "--product", "-p", help="A product (its sub-products included).", show_default=False
    ),
]
Team = Annotated[
    str | None,
    typer.Option("--team", "-t", help="A team: the products it owns.", show_default=False),
]
Days = Annotated[int, typer.Option("--days", "-d", min=1, max=3650, help="Window length in days.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="text or json.")]
AsOf = Annotated[
    dt.datetime | None,
    typer.Option(
        "--as-of",
        help="End the window at this UTC time instead of now (e.g. 2026-11-16).",
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"],
        show_default=False,
    ),
]


def _now(as_of: dt.datetime | None) -> dt.datetime:
    if as_of is None:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    return as_of.replace(tzinfo=dt.UTC) if as_of.tzinfo is None else as_of.astimezone(dt.UTC)


def _scope(session: Session, product: str | None, team: str | None) -> Scope:
    if product and team:
        err("Give --product or --team, not both.")
        raise typer.Exit(EXIT_BAD_INPUT)
    return resolve_scope(session, product=product, team=team)


def _emit(session_engine: Any, report: Report | Any, output: Format) -> None:
    """Narrate (LLM when configured, else the rules) and print."""
    # Imported here: openai costs ~0.3 s to import, which every other command would pay.
    from insights.llm import LlmConfig, with_llm_summary

    report = with_llm_summary(session_engine, report, LlmConfig.from_env(os.environ))
    if output is Format.json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        typer.echo(render_report(report))


def _run(build: Any, product: str | None, team: str | None, output: Format, **kwargs: Any) -> None:
    with user_errors():
        engine = open_engine()
        try:
            with session_scope(engine) as session:
                scope = _scope(session, product, team)
                report = build(session, scope, **kwargs)
        except InsightsError as exc:
            err(str(exc))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        _emit(engine, report, output)


@app.command("health")
def health(
    product: Product = None,
    team: Team = None,
    days: Days = 30,
    output: FormatOpt = Format.text,
    as_of: AsOf = None,
) -> None:
    """Errors, open bugs against their SLA, deployments and the 0-100 health score."""
    _run(build_health_report, product, team, output, days=days, now=_now(as_of))


@app.command("dora")
def dora(
    product: Product = None,
    team: Team = None,
    days: Days = 30,
    output: FormatOpt = Format.text,
    as_of: AsOf = None,
) -> None:
    """The DORA metrics with their performance bands, against the previous window."""
    _run(build_dora_report, product, team, output, days=days, now=_now(as_of))


@app.command("sprint")
def sprint(
    product: Product = None,
    team: Team = None,
    board: Annotated[
        str | None,
        typer.Option("--board", "-b", help="A board, by id or name.", show_default=False),
    ] = None,
    sprint_name: Annotated[
        str | None,
        typer.Option(
            "--sprint",
            "-s",
            help="A closed sprint by name (default: the active one).",
            show_default=False,
        ),
    ] = None,
    output: FormatOpt = Format.text,
    as_of: AsOf = None,
) -> None:
    """Sprint progress, scope change, carry-over, ageing work and the flow bottleneck."""
    from insights.queries.sprint import build_sprint_report

    _run(
        build_sprint_report,
        product,
        team,
        output,
        now=_now(as_of),
        board=board,
        sprint=sprint_name,
    )
