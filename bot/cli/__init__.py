"""The `sitrep` console command.

Each group of subcommands is its own module exposing a Typer app; this module only assembles
them. Imports inside commands stay lazy where they are heavy, so `sitrep --help` is instant.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from bot.cli import console, db, demo, doctor, products, report, sandbox, serve, sync, worker

app = typer.Typer(
    name="sitrep",
    help="Sitrep: how your products are doing, from Sentry, Jira and GitHub, in Slack.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(db.app, name="db")
app.add_typer(products.app, name="products")
app.add_typer(sync.app, name="sync")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(report.app, name="report")
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
app.command("worker")(worker.worker)
app.command("console")(console.console)
app.command("doctor")(doctor.doctor)


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log what happens underneath.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    app()
