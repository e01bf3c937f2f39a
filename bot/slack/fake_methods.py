"""The Web API methods of the Slack fake: arguments in, Slack's answer out (or `SlackError`).

Each method takes the parsed arguments (form fields are strings, JSON bodies keep their types)
and the `SlackState`, and returns the body of an ``ok`` answer. `METHODS` maps each method to the
bot scope it needs, as Slack checks it.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from bot.slack.fake_blocks import (
    MESSAGE_BLOCKS,
    MESSAGE_TEXT,
    VIEW_BYTES,
    BlocksFormatError,
    blocks_errors,
    decode,
    view_errors,
)
from bot.slack.fake_state import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    Channel,
    Ephemeral,
    SlackError,
    SlackState,
)

Args = dict[str, Any]
Method = Callable[[SlackState, Args], Args]
CHANNEL_SCOPES = {
    "public_channel": "channels:read",
    "private_channel": "groups:read",
    "im": "im:read",
}


def auth_test(state: SlackState, args: Args) -> Args:
    return {
        "url": f"https://{TEAM_DOMAIN}.slack.com/",
        "team": TEAM_NAME,
        "user": "sitrep",
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


def chat_post_message(state: SlackState, args: Args) -> Args:
    channel = state.resolve(_required(args, "channel", "channel_not_found"), create=True)
    text, blocks = message_content(args)
    thread_ts = _str(args, "thread_ts") or None
    if thread_ts:
        parent = state.message(channel.id, thread_ts)
        if parent is None:  # stricter than Slack, so a bot bug shows up in a test
            raise SlackError("thread_not_found")
        if parent.is_reply:  # a reply's ts puts the answer in its parent's thread
            parent = state.message(channel.id, str(parent.thread_ts))
            assert parent is not None
        thread_ts = parent.ts
        parent.thread_ts = parent.ts
        parent.reply_count += 1
    message = state.store(
        channel.id,
        text,
        blocks or [],
        thread_ts=thread_ts,
        reply_broadcast=bool(thread_ts) and _bool(args, "reply_broadcast"),
        metadata=_json(args, "metadata"),
    )
    return {"channel": channel.id, "ts": message.ts, "message": message.to_api()}


def chat_update(state: SlackState, args: Args) -> Args:
    channel = state.resolve(_required(args, "channel", "channel_not_found"), ids_only=True)
    message = state.message(channel.id, _required(args, "ts", "message_not_found"))
    if message is None:
        raise SlackError("message_not_found")
    if message.user != BOT_USER_ID:
        raise SlackError("cant_update_message")
    text, blocks = message_content(args)
    message.text = text if "text" in args else message.text
    message.blocks = message.blocks if blocks is None else blocks
    message.edits += 1
    body = message.to_api()
    return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": body}


def chat_post_ephemeral(state: SlackState, args: Args) -> Args:
    channel = state.resolve(_required(args, "channel", "channel_not_found"))
    user = state.user(_required(args, "user", "user_not_found"))
    text, blocks = message_content(args)
    ts = state.next_ts(channel.id)
    thread_ts = _str(args, "thread_ts") or None
    state.ephemerals.append(Ephemeral(channel.id, user.id, ts, text, blocks or [], thread_ts))
    return {"message_ts": ts}


def chat_get_permalink(state: SlackState, args: Args) -> Args:
    channel = state.resolve(_required(args, "channel", "channel_not_found"), ids_only=True)
    message = state.message(channel.id, _required(args, "message_ts", "message_not_found"))
    if message is None:
        raise SlackError("message_not_found")
    link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel.id}/p{message.ts.replace('.', '')}"
    if message.is_reply:
        link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": link}


def views_publish(state: SlackState, args: Args) -> Args:
    user = state.user(_required(args, "user_id", "invalid_arguments"))
    old = state.homes.get(user.id)
    if old and _str(args, "hash") and args["hash"] != old["hash"]:
        raise SlackError("hash_conflict")
    view = _view(state, args, frozenset({"home"}), view_id=old["id"] if old else None)
    state.homes[user.id] = view
    state.view_users[view["id"]] = user.id
    return {"view": view}


def views_open(state: SlackState, args: Args) -> Args:
    trigger = _required(args, "trigger_id", "invalid_arguments")
    view = _view(state, args, frozenset({"modal"}))  # a bad view does not use up the trigger
    state.use_trigger(trigger)
    return {"view": view}


def views_update(state: SlackState, args: Args) -> Args:
    view_id, external_id = _str(args, "view_id"), _str(args, "external_id")
    if not view_id and not external_id:
        raise SlackError("invalid_arguments", "either view_id or external_id is required")
    old = state.views.get(view_id) if view_id else None
    if external_id and not old:
        old = next((v for v in state.views.values() if v["external_id"] == external_id), None)
    if old is None:
        raise SlackError("not_found")
    if _str(args, "hash") and args["hash"] != old["hash"]:
        raise SlackError("hash_conflict")
    view = _view(state, args, frozenset({"modal", "home"}), view_id=old["id"])
    user = state.view_users.get(view["id"])
    if view["type"] == "home" and user:
        state.homes[user] = view
    return {"view": view}


def conversations_list(state: SlackState, args: Args) -> Args:
    types = (_str(args, "types") or "public_channel").split(",")
    _need_channel_scopes(state, types)
    found = [c for c in state.list_channels() if _kind(c) in types]
    limit = min(int(_str(args, "limit") or 100), 1000)
    try:
        cursor = _str(args, "cursor")
        start = int(base64.b64decode(cursor).decode().split(":")[1]) if cursor else 0
    except (ValueError, IndexError):  # bad base64 and bad UTF-8 are ValueErrors too
        raise SlackError("invalid_cursor") from None
    page = found[start : start + limit]
    more = start + limit < len(found)
    next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
    return {
        "channels": [c.to_api() for c in page],
        "response_metadata": {"next_cursor": next_cursor},
    }


def conversations_info(state: SlackState, args: Args) -> Args:
    channel = state.resolve(_required(args, "channel", "channel_not_found"), ids_only=True)
    _need_channel_scopes(state, [_kind(channel)])
    return {"channel": channel.to_api()}


def users_info(state: SlackState, args: Args) -> Args:
    return {"user": state.user(_required(args, "user", "user_not_found")).to_api()}


# method -> (the bot scope it needs, or None, handler)
METHODS: dict[str, tuple[str | None, Method]] = {
    "auth.test": (None, auth_test),
    "chat.postMessage": ("chat:write", chat_post_message),
    "chat.update": ("chat:write", chat_update),
    "chat.postEphemeral": ("chat:write", chat_post_ephemeral),
    "chat.getPermalink": (None, chat_get_permalink),
    "views.publish": (None, views_publish),
    "views.open": (None, views_open),
    "views.update": (None, views_update),
    "conversations.list": (None, conversations_list),  # scopes depend on `types`
    "conversations.info": (None, conversations_info),
    "users.info": ("users:read", users_info),
}


def message_content(args: Args) -> tuple[str, list[dict[str, Any]] | None]:
    """``text`` and ``blocks`` checked as Slack does (also for a response_url post).

    Blocks are ``None`` when absent: chat.update then keeps the old ones, as Slack does.
    """
    text = _str(args, "text")
    if len(text) > MESSAGE_TEXT:
        raise SlackError("msg_too_long")
    if args.get("blocks") in (None, ""):
        if not text and not args.get("attachments"):
            raise SlackError("no_text")
        return text, None
    try:
        errors = blocks_errors(args["blocks"], limit=MESSAGE_BLOCKS)
    except BlocksFormatError as exc:
        raise SlackError("invalid_blocks_format", f"[ERROR] {exc}") from None
    if errors:
        raise SlackError("invalid_blocks", *errors, errors=errors)
    blocks: list[dict[str, Any]] = decode(args["blocks"])
    return text, blocks


def _view(state: SlackState, args: Args, kinds: frozenset[str], view_id: str | None = None) -> Args:
    try:
        view = decode(args.get("view"))
    except ValueError:
        raise SlackError("invalid_arguments", "[ERROR] view is not valid JSON") from None
    if view is None:
        raise SlackError("invalid_arguments", "[ERROR] missing required field: view")
    if len(json.dumps(view)) > VIEW_BYTES:
        raise SlackError("view_too_large")
    errors = view_errors(view, kinds=kinds)
    if errors:
        raise SlackError("invalid_arguments", *errors)
    external_id = str(view.get("external_id", ""))
    taken = [v for v in state.views.values() if external_id and v["external_id"] == external_id]
    if any(v["id"] != view_id for v in taken):
        raise SlackError("duplicate_external_id")
    view_id = view_id or state.new_view_id()
    stored = {
        "private_metadata": "",
        "callback_id": "",
        "external_id": "",
        "state": {"values": {}},
        "clear_on_close": False,
        "notify_on_close": False,
        **view,
        "id": view_id,
        "team_id": TEAM_ID,
        "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
        "root_view_id": view_id,
        "app_id": APP_ID,
        "bot_id": BOT_ID,
    }
    state.views[view_id] = stored
    return stored


def _need_channel_scopes(state: SlackState, kinds: list[str]) -> None:
    for kind in kinds:
        scope = CHANNEL_SCOPES.get(kind)
        if scope is None:
            raise SlackError("invalid_types", f"[ERROR] unknown type: {kind}")
        if scope not in state.scopes:
            raise SlackError("missing_scope", needed=scope, provided=",".join(state.scopes))


def _kind(channel: Channel) -> str:
    if channel.is_im:
        return "im"
    return "private_channel" if channel.is_private else "public_channel"


def _required(args: Args, key: str, error: str) -> str:
    value = _str(args, key)
    if not value:
        if error == "invalid_arguments":
            raise SlackError(error, f"[ERROR] missing required field: {key}")
        raise SlackError(error)
    return value


def _str(args: Args, key: str) -> str:
    value = args.get(key)
    return "" if value is None else str(value)


def _bool(args: Args, key: str) -> bool:
    value = args.get(key)
    return value is True or str(value).lower() in ("true", "1")


def _json(args: Args, key: str) -> Any:
    try:
        return decode(args.get(key))
    except ValueError:
        raise SlackError(f"invalid_{key}_format") from None
