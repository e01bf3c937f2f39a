"""How the outbox talks to Slack: one handler per Web API method, and a response-URL sender.

Slack's answers are sorted into the outbox's two outcomes: ``ratelimited`` (429), 5xx and network
errors are `RetryLater` (with ``Retry-After`` when Slack gave one); content and addressing errors
that no retry can fix are `Undeliverable`. Auth errors are retried: a token fixed by an admin
should let the backlog through, not lose it.

An item that waited for a parent (``after_id``) and says ``"in_thread": true`` is posted as a
reply to the parent's message; ``"update_parent": true`` edits the parent message instead.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.outbox import Handler, Result, RetryLater, Undeliverable

log = logging.getLogger("sitrep.slack")

METHODS = (
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "chat.delete",
    "views.publish",
)

# Errors no retry can change: the message or its address is wrong.
PERMANENT = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "user_not_found",
        "user_not_in_channel",
        "invalid_arguments",
        "invalid_arg_name",
        "view_too_large",
        "not_allowed_token_type",
        "restricted_action",
        "used_url",
        "expired_url",
    }
)


def slack_handlers(client: WebClient) -> dict[str, Handler]:
    """Outbox handlers for the Web API methods the bot uses, and ``response_url``."""
    handlers: dict[str, Handler] = {m: _api_handler(client, m) for m in METHODS}
    handlers["response_url"] = _response_url_handler(client.timeout)
    return handlers


def _api_handler(client: WebClient, method: str) -> Handler:
    def send(payload: dict[str, Any], parent: Result | None) -> Result:
        args = _with_parent(payload, parent)
        try:
            response = client.api_call(method, json=args)
        except SlackApiError as exc:
            raise _classify(exc) from exc
        except OSError as exc:  # connection refused, reset, timeout (urllib's are OSErrors)
            raise RetryLater(f"Slack unreachable: {exc}") from exc
        data = response.data if isinstance(response.data, dict) else {}
        return {
            "channel": data.get("channel") or args.get("channel"),
            "ts": data.get("ts") or args.get("ts"),
        }

    return send


def _with_parent(payload: dict[str, Any], parent: Result | None) -> dict[str, Any]:
    args = {k: v for k, v in payload.items() if k not in ("in_thread", "update_parent")}
    if parent and parent.get("ts"):
        if payload.get("in_thread"):
            args["thread_ts"] = parent["ts"]
            args["channel"] = parent.get("channel") or args.get("channel")
        if payload.get("update_parent"):
            args["ts"] = parent["ts"]
            args["channel"] = parent.get("channel") or args.get("channel")
    return args


def _classify(exc: SlackApiError) -> Exception:
    response = exc.response
    error = str(response.get("error", "")) if isinstance(response.data, dict) else ""
    status = response.status_code
    if status == 429 or error == "ratelimited":
        after = _retry_after(response.headers)
        return RetryLater("Slack rate limited the call", after)
    if error in PERMANENT:
        return Undeliverable(f"Slack refused it: {error}")
    if status >= 500:
        return RetryLater(f"Slack answered {status}")
    return RetryLater(f"Slack answered {error or status}")


def _retry_after(headers: Any) -> float | None:
    for name in ("Retry-After", "retry-after"):
        value = headers.get(name) if headers else None
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def _response_url_handler(timeout: float) -> Handler:
    # One client for every answer: its pool keeps connections to Slack open, and building a
    # client per post (an SSL context and its CA bundle each time) cost ~12 ms of CPU, under
    # the GIL, per answer. httpx.Client is safe to share between threads.
    http = httpx.Client(timeout=timeout)

    def send(payload: dict[str, Any], parent: Result | None) -> Result:
        url = str(payload["url"])
        body = payload["body"]
        try:
            response = http.post(url, json=body)
        except httpx.TransportError as exc:
            raise RetryLater(f"response URL unreachable: {exc}") from exc
        if response.status_code == 429:
            raise RetryLater("rate limited", _retry_after(response.headers))
        if response.status_code >= 500:
            raise RetryLater(f"response URL answered {response.status_code}")
        if response.status_code >= 400:
            # 404 used_url / expired_url: the 30-minute, five-use URL is spent; nothing to retry.
            raise Undeliverable(f"response URL answered {response.status_code}: {response.text}")
        return {"status": response.status_code}

    return send
