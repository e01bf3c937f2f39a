"""`sitrep doctor`: a line per check of the configuration and of each configured service."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from enum import StrEnum
from typing import Annotated

import typer

from bot.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, err
from bot.doctor import DEFAULT_TIMEOUT, REQUIRABLE, Diagnosis, Status, diagnose

SYMBOLS = {
    Status.OK: ("✓", typer.colors.GREEN),
    Status.WARN: ("!", typer.colors.YELLOW),
    Status.FAIL: ("✗", typer.colors.RED),
    Status.OFF: ("-", typer.colors.BRIGHT_BLACK),
}
NAME_WIDTH = 16


class Format(StrEnum):
    text = "text"
    json = "json"


def doctor(
    output: Annotated[Format, typer.Option("--format", "-f", help="text or json.")] = Format.text,
    require: Annotated[
        list[str] | None,
        typer.Option(
            "--require",
            "-r",
            metavar="SERVICE",
            help=f"Fail if this service is not configured ({', '.join(REQUIRABLE)}); repeatable.",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds each service has to answer.")
    ] = DEFAULT_TIMEOUT,
) -> None:
    """Check the configuration and reach each configured service, a line per check.

    Checks the database (reachable, migrations, products), Sentry, Jira and GitHub (one
    authenticated call each), Slack (auth.test), Sentry alert webhooks and the LLM endpoint.
    Each line is ✓ ok, ! warning, ✗ failed, or - not configured, with what to do about it.
    Tokens are never printed.

    Exits 1 when the database or a configured service fails, when no source (Sentry, Jira,
    GitHub) is configured at all, or when a service named with --require is not configured.
    Optional services left unset (Slack, the LLM, ...) and warnings do not fail it.
    """
    wanted = [name.strip().lower() for name in require or []]
    unknown = [name for name in wanted if name not in REQUIRABLE]
    if unknown:
        err(f"Cannot require {', '.join(unknown)}: choose from {', '.join(REQUIRABLE)}.")
        raise typer.Exit(EXIT_BAD_INPUT)
    diagnosis = diagnose(timeout=timeout, require=wanted)
    if output is Format.json:
        typer.echo(json.dumps(diagnosis.as_dict(), indent=2))
    else:
        print_text(diagnosis)
    if not diagnosis.ok:
        raise typer.Exit(EXIT_FAILED)


def print_text(diagnosis: Diagnosis) -> None:
    """``<symbol> <name> <detail>``, then ``fix: ...`` under the detail when there is one.

    On a terminal, long lines are wrapped under the detail column; piped output keeps one
    line each, for grep.
    """
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 0
    indent = " " * (NAME_WIDTH + 3)
    for check in diagnosis.checks:
        symbol, colour = SYMBOLS[check.status]
        typer.secho(f"{symbol} ", fg=colour, bold=True, nl=False)
        typer.echo(_wrap(f"{check.name:<{NAME_WIDTH}} {check.detail}", width, indent))
        if check.fix and check.status is not Status.OK:
            typer.echo(_wrap(f"{indent}fix: {check.fix}", width, indent))
    failures, warnings = diagnosis.failures, diagnosis.warnings
    typer.echo()
    if failures:
        names = ", ".join(c.name for c in failures)
        err(f"{_count(len(failures), 'problem')} ({names}). Fix and run `sitrep doctor` again.")
    elif warnings:
        typer.secho(f"Working, with {_count(len(warnings), 'warning')}.", fg=typer.colors.YELLOW)
    else:
        typer.secho("Everything configured works.", fg=typer.colors.GREEN)


def _wrap(text: str, width: int, indent: str) -> str:
    if width < 60:  # not a terminal, or too narrow to help
        return text
    return textwrap.fill(
        text, width - 2, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
