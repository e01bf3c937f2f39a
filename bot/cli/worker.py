"""`sitrep worker`: the scheduler process (syncs, digests, housekeeping; see `bot.worker`)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from bot.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, err, open_engine, user_errors

log = logging.getLogger("sitrep.worker")


def worker(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run each job once (sync, App Home republish, due digests, cleanup), deliver "
            "the outbox, and exit.",
        ),
    ] = False,
) -> None:
    """Schedule source syncs (SITREP_SYNC_INTERVAL, default 15m), digests and cleanup.

    Run as many as you like: one schedules (a Postgres advisory lock), the others wait as
    standbys and take over when it stops.
    """
    from bot.config import BotConfig, ConfigError
    from bot.deps import build_deps
    from bot.worker import Worker, WorkerSettings

    try:
        config = BotConfig.from_env(os.environ)
        settings = WorkerSettings.from_env(os.environ)
    except ConfigError as exc:
        err(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    with user_errors():
        engine = open_engine()
    deps = build_deps(engine, config)
    scheduler = Worker(deps, settings)
    if once:
        with user_errors():
            done = scheduler.run_once()
        if done is None:
            err(
                "Another worker is scheduling right now; --once would run its jobs a second "
                "time. Stop it first, or let it run."
            )
            raise typer.Exit(EXIT_FAILED)
        synced = done["sync"]
        failed = sum(1 for r in synced if r.status == "failed")
        typer.echo(
            f"sync: {len(synced)} scopes ({failed} failed) · digests: {done['digests']} · "
            f"webhook keys forgotten: {done['cleanup']} · messages sent: {done['outbox']}"
        )
        if failed:
            raise typer.Exit(EXIT_FAILED)
        return
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the running jobs", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)  # what Heroku and Kubernetes send
    signal.signal(signal.SIGINT, on_signal)
    typer.echo("sitrep worker: waiting for the scheduler lock (standby until it is free)")
    scheduler.run(stop)
