"""``POST /webhooks/sentry``: verify, parse, deduplicate, hand over; answered well within 1 s.

The order follows `bot.alerts.sentry_webhook`'s docstring: a bad signature is 401 before the body
is read as JSON (so nothing unsigned is processed), a malformed body 400 with the reason (logged),
an ignored resource 200. Accepted alerts are stored and their Slack messages enqueued in one
transaction (`bot.alerts.service.accept`); Slack is reached afterwards, by the outbox, so neither
a slow Slack nor a Slack outage delays the answer to Sentry.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from bot.alerts.errors import MalformedWebhook
from bot.alerts.sentry_webhook import is_legacy_plugin_body, parse_webhook, verify_signature
from bot.deps import Deps

log = logging.getLogger("sitrep.webhooks")

MAX_BODY = 1_000_000  # Sentry's payloads are a few kB; refuse anything absurd before hashing


async def sentry_webhook(deps: Deps, request: Request) -> tuple[int, str, str]:  # noqa: PLR0911
    """(HTTP status, message, outcome for the metrics)."""
    body = await request.body()
    if len(body) > MAX_BODY:
        return 413, "payload too large", "too_large"
    secret = deps.config.sentry_client_secret
    if not secret:
        log.error("Sentry webhook refused: SENTRY_CLIENT_SECRET is not set")
        return 401, "webhooks are not configured here (SENTRY_CLIENT_SECRET)", "unconfigured"
    signature = request.headers.get("sentry-hook-signature")
    if not verify_signature(secret, body, signature):
        if not signature and is_legacy_plugin_body(body):
            try:
                parse_webhook(request.headers.get("sentry-hook-resource"), body)
            except MalformedWebhook as exc:
                log.warning("Sentry webhook refused (400): %s", exc)
                return 400, str(exc), "malformed"
        log.warning("Sentry webhook refused (401): bad or missing Sentry-Hook-Signature")
        return 401, "invalid signature", "unauthorised"
    try:
        alert = parse_webhook(
            request.headers.get("sentry-hook-resource"),
            body,
            request_id=request.headers.get("request-id"),
        )
    except MalformedWebhook as exc:
        log.warning("Sentry webhook refused (400): %s", exc)
        return 400, str(exc), "malformed"
    if alert is None:
        return 200, "ignored", "ignored"
    from bot.alerts.service import accept

    outcome = await run_in_threadpool(accept, deps, alert)
    return 200, outcome, outcome.split(":", 1)[0]
