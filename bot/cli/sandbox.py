"""`sitrep sandbox serve`: the sandbox organisation's fake Sentry, Jira and GitHub, to poke at."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from collectors.fakes import Faults

app = typer.Typer(
    help="The sandbox organisation: local fake Sentry, Jira and GitHub.", no_args_is_help=True
)


@app.command("serve")
def serve(
    size: Annotated[
        str, typer.Option(help="small (~90 days) or large (a year, ~50k PRs).")
    ] = "small",
    seed: Annotated[int, typer.Option(help="Same seed, same organisation.")] = 7,
    faults: Annotated[
        str,
        typer.Option(
            help=f"Misbehave like a service under load: {Faults.SPEC}. E.g. '429:5,drop:11'."
        ),
    ] = "",
    port: Annotated[
        int, typer.Option(help="First port (Sentry; Jira +1, GitHub +2). 0 picks free ports.")
    ] = 8901,
) -> None:
    """Serve the fakes on 127.0.0.1 until Ctrl-C; print the variables that point Sitrep at them."""
    from bot.sandbox import running_sandbox

    try:
        parsed = Faults.parse(faults)
    except ValueError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    if size not in ("small", "large"):
        typer.secho(f"Unknown size {size!r}: use small or large.", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    typer.echo(f"Generating the {size} sandbox organisation (seed {seed}) ...")
    with running_sandbox(size=size, seed=seed, faults=parsed, first_port=port) as sandbox:
        for name, server in sandbox.servers.items():
            typer.echo(f"  {name:<7} {server.url}")
        counts = ", ".join(
            f"{v:,} {k.replace('_', ' ')}" for k, v in sandbox.world.counts().items()
        )
        typer.echo(f"\nServing {counts}.")
        if parsed.active:
            typer.echo(f"Faults on: {faults}")
        typer.echo(
            "\nPoint Sitrep at it (then `sitrep products apply collectors/sandbox/products.yaml`"
            " and `sitrep sync`):\n"
        )
        for key, value in sandbox.env().items():
            typer.echo(f"export {key}={value}")
        typer.echo("\nCtrl-C stops the servers.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            typer.echo("\nStopped.")
