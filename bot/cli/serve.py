"""`sitrep serve`: the web process (Slack requests, Sentry webhooks, /healthz, /metrics)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from bot.cli.common import EXIT_BAD_INPUT, err, open_engine, user_errors

log = logging.getLogger("sitrep.serve")


def serve(
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port to listen on (default: $PORT, else 3000).", min=0),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "0.0.0.0",
    socket_mode: Annotated[
        bool,
        typer.Option(
            "--socket-mode",
            help="Also take Slack's requests over Socket Mode (SLACK_APP_TOKEN), for a laptop "
            "Slack cannot reach; Sentry webhooks still need the HTTP port.",
        ),
    ] = False,
    report_processes: Annotated[
        int | None,
        typer.Option(
            "--report-processes",
            help="Processes that compute reports, so acknowledgements never wait behind one "
            "(default: $SITREP_REPORT_PROCESSES, else one per core; 0: in the web process).",
            min=0,
        ),
    ] = None,
) -> None:
    """Serve Slack (/slack/events), Sentry (/webhooks/sentry), /healthz and /metrics."""
    import uvicorn

    from bot.app import build_app
    from bot.config import BotConfig, ConfigError
    from bot.deps import build_deps
    from bot.web import create_web_app

    try:
        config = BotConfig.from_env(os.environ)
        with user_errors():
            engine = open_engine()
        if report_processes is None:
            report_processes = _processes(os.environ.get("SITREP_REPORT_PROCESSES"))
        deps = build_deps(engine, config, report_processes=report_processes)
    except ConfigError as exc:
        err(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    bolt = build_app(deps)
    web = create_web_app(deps, bolt)
    deps.outbox.start()
    if socket_mode:
        if not config.app_token:
            err(
                "--socket-mode needs SLACK_APP_TOKEN (xapp-..., Basic Information > App-Level "
                "Tokens, scope connections:write)."
            )
            raise typer.Exit(EXIT_BAD_INPUT)
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        SocketModeHandler(bolt, config.app_token).connect()  # type: ignore[no-untyped-call]
    # Hand the GIL over every millisecond instead of every five: an acknowledgement waiting
    # behind a report being computed then gets its turn sooner.
    sys.setswitchinterval(0.001)
    chosen = port if port is not None else int(os.environ.get("PORT", "3000"))
    deps.reports.start()
    try:
        uvicorn.run(web, host=host, port=chosen, log_level="warning", access_log=False)
    finally:
        deps.reports.close()


def _processes(value: str | None) -> int:
    """SITREP_REPORT_PROCESSES, else one per core."""
    from bot.config import ConfigError

    if not value:
        return os.cpu_count() or 1
    try:
        found = int(value)
    except ValueError:
        found = -1
    if found < 0:
        raise ConfigError(f"SITREP_REPORT_PROCESSES must be a whole number >= 0, not {value!r}")
    return found
