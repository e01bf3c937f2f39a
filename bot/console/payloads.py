"""Requests shaped exactly as Slack (and Sentry) send them to the bot, signed.

Used by `sitrep console`, the demo and the tests to drive the bot through its real HTTP endpoint:
a slash command is a form post; a button click or a modal submission is a form post whose
``payload`` field holds JSON; an Events API callback is a JSON post. Field names follow Slack's
documentation of each payload (only the fields a Slack app reads are filled).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from bot.alerts import sentry_webhook
from bot.slack.signing import sign

TEAM = {"id": "T0SITREP", "domain": "sitrep-sandbox"}
APP_ID = "A0SITREP"


def signed(secret: str, body: str, content_type: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a request Slack could have sent now."""
    raw = body.encode()
    return raw, {"Content-Type": content_type, **sign(secret, raw)}


def slash_command(
    text: str,
    *,
    user_id: str,
    user_name: str,
    channel_id: str,
    channel_name: str,
    response_url: str,
    trigger_id: str,
    command: str = "/sitrep",
) -> str:
    """The form body of a slash command (``application/x-www-form-urlencoded``)."""
    return urlencode(
        {
            "token": "unused-verification-token",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def block_action(
    action: Mapping[str, Any],
    *,
    block_id: str,
    user_id: str,
    user_name: str,
    channel_id: str | None,
    response_url: str | None,
    trigger_id: str,
    message: Mapping[str, Any] | None = None,
    view: Mapping[str, Any] | None = None,
    selected: Mapping[str, Any] | None = None,
) -> str:
    """The form body of a click on ``action`` (an element dict from the message or view).

    ``message`` is the message holding the button (None for an ephemeral one: Slack does not
    send those back); ``view`` the view holding it (App Home, modal). ``selected`` is the option
    picked in a select menu.
    """
    clicked: dict[str, Any] = {
        "type": action.get("type", "button"),
        "action_id": action.get("action_id"),
        "block_id": block_id,
        "action_ts": f"{time.time():.6f}",
    }
    if "text" in action:
        clicked["text"] = action["text"]
    if "value" in action:
        clicked["value"] = action["value"]
    if selected is not None:
        clicked["selected_option"] = dict(selected)
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": TEAM,
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM["id"]},
        "api_app_id": APP_ID,
        "token": "unused-verification-token",
        "trigger_id": trigger_id,
        "actions": [clicked],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id")}
        payload["view"] = dict(view)
    else:
        ts = (message or {}).get("ts")
        payload["container"] = {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel_id,
            "is_ephemeral": message is None,
        }
        payload["channel"] = {"id": channel_id, "name": channel_id}
        if message is not None:
            payload["message"] = dict(message)
        payload["response_url"] = response_url
    return urlencode({"payload": json.dumps(payload)})


def view_submission(
    view: Mapping[str, Any],
    values: Mapping[str, Mapping[str, Any]],
    *,
    user_id: str,
    user_name: str,
    trigger_id: str,
) -> str:
    """The form body of submitting modal ``view`` with ``values`` (block id -> action id ->
    state, as in ``view.state.values``)."""
    submitted = dict(view)
    submitted["state"] = {"values": {k: dict(v) for k, v in values.items()}}
    payload = {
        "type": "view_submission",
        "team": TEAM,
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM["id"]},
        "api_app_id": APP_ID,
        "token": "unused-verification-token",
        "trigger_id": trigger_id,
        "view": submitted,
        "response_urls": [],
    }
    return urlencode({"payload": json.dumps(payload)})


def event_callback(event: Mapping[str, Any]) -> str:
    """The JSON body of an Events API delivery of ``event``."""
    return json.dumps(
        {
            "token": "unused-verification-token",
            "team_id": TEAM["id"],
            "api_app_id": APP_ID,
            "event": dict(event),
            "type": "event_callback",
            "event_id": "Ev" + secrets.token_hex(8).upper(),
            "event_time": int(time.time()),
        }
    )


def input_state(
    element: Mapping[str, Any], value: str | None = None, option: Any = None
) -> dict[str, Any]:
    """The state Slack reports for an input ``element`` a person filled in."""
    kind = element.get("type")
    if kind == "plain_text_input":
        return {"type": kind, "value": value}
    if kind in ("static_select", "external_select", "radio_buttons"):
        return {"type": kind, "selected_option": option}
    if kind == "checkboxes":
        return {"type": kind, "selected_options": option or []}
    if kind == "users_select":
        return {"type": kind, "selected_user": value}
    if kind == "conversations_select":
        return {"type": kind, "selected_conversation": value}
    return {"type": kind, "value": value}


def sentry_webhook_headers(secret: str, raw: bytes, resource: str) -> dict[str, str]:
    """The headers of a Sentry integration-platform webhook carrying ``raw``: its resource, its
    signature, and the per-attempt timestamp and request id Sentry adds."""
    return {
        "Content-Type": "application/json",
        "Sentry-Hook-Resource": resource,
        "Sentry-Hook-Signature": sentry_webhook.sign(secret, raw),
        "Sentry-Hook-Timestamp": str(int(time.time())),
        "Request-ID": secrets.token_hex(8),
    }
