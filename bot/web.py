"""The web process: one ASGI app for Slack, Sentry, health checks and Prometheus.

    POST /slack/events      commands, buttons, modals and events (Bolt; signed by Slack)
    POST /webhooks/sentry   Sentry integration-platform webhooks (signed with the client secret)
    GET  /healthz           200 when the database answers, 503 otherwise
    GET  /metrics           Prometheus text format

Bolt's listeners are synchronous (SQLAlchemy, slack_sdk); they run in Starlette's thread pool so
one slow report never holds up the event loop and the acknowledgements of everyone else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.alerts.endpoint import sentry_webhook
from bot.deps import Deps

log = logging.getLogger("sitrep.web")

Endpoint = Callable[[Request], Awaitable[Response]]


def create_web_app(deps: Deps, bolt: App) -> Starlette:
    metrics = deps.metrics

    async def slack_events(request: Request) -> Response:
        with deps.acknowledging:  # answer work waits for these (`Acknowledging`)
            body = await request.body()
            bolt_response = await run_in_threadpool(bolt.dispatch, to_bolt_request(request, body))
            return to_starlette_response(bolt_response)

    async def sentry(request: Request) -> Response:
        status, message, outcome = await sentry_webhook(deps, request)
        metrics.webhooks.labels(outcome).inc()
        return JSONResponse({"detail": message}, status_code=status)

    async def healthz(request: Request) -> Response:
        try:
            await run_in_threadpool(_ping, deps)
        except Exception as exc:  # any database failure means "not healthy"
            return JSONResponse({"ok": False, "error": str(exc).splitlines()[0]}, status_code=503)
        return JSONResponse({"ok": True})

    async def prometheus(request: Request) -> Response:
        try:
            metrics.outbox_pending.set(await run_in_threadpool(deps.outbox.pending))
        except Exception:  # metrics must render even when the database is away
            log.warning("outbox size unavailable", exc_info=True)
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def timed(name: str, endpoint: Endpoint) -> Endpoint:
        async def wrapped(request: Request) -> Response:
            started = time.perf_counter()
            response = await endpoint(request)
            metrics.latency.labels(name).observe(time.perf_counter() - started)
            metrics.requests.labels(name, str(response.status_code)).inc()
            return response

        return wrapped

    app = Starlette(
        routes=[
            Route("/slack/events", timed("slack", slack_events), methods=["POST"]),
            Route("/webhooks/sentry", timed("sentry", sentry), methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
        ]
    )
    app.state.deps = deps
    app.state.metrics = metrics
    return app


def _ping(deps: Deps) -> None:
    with deps.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
