"""Outbox handlers that put alert messages in Slack: post, redraw in place, reply in the thread.

They wrap the outbox's own ``chat.postMessage`` and ``chat.update`` handlers, so Slack's answers
are sorted the same way (429 with ``Retry-After``, outages retried, ``channel_not_found`` failed).
The post's hook remembers the message's ``ts`` and channel id in the same transaction that marks
the item sent: from then on a button click can find the message it belongs to.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot.alerts.messages import POST, REPLY, UPDATE, render
from bot.deps import Deps
from bot.outbox import Result, RetryLater, Undeliverable
from storage.models_bot import AlertMessage


def register_sending(deps: Deps) -> None:
    post = deps.outbox.handlers["chat.postMessage"]
    update = deps.outbox.handlers["chat.update"]

    def drawn(message_id: int) -> tuple[AlertMessage, str, list[dict[str, Any]]]:
        with Session(deps.engine) as session:
            row = session.get(AlertMessage, message_id)
            if row is None:
                raise Undeliverable(f"alert message {message_id} no longer exists")
            text, blocks = render(session, row, deps.config)
            session.expunge(row)
            return row, text, blocks

    def send_post(payload: dict[str, Any], parent: Result | None) -> Result:
        row, text, blocks = drawn(int(payload["message_id"]))
        args = {"channel": row.channel_id, "text": text, "blocks": blocks, "unfurl_links": False}
        return post(args, None)

    def posted(session: Session, payload: dict[str, Any], result: Result) -> None:
        row = session.get(AlertMessage, int(payload["message_id"]), with_for_update=True)
        if row is not None:
            row.ts = result.get("ts")
            row.alert = {**(row.alert or {}), "posted_in": result.get("channel")}

    def send_update(payload: dict[str, Any], parent: Result | None) -> Result:
        row, text, blocks = drawn(int(payload["message_id"]))
        channel = (parent or {}).get("channel") or (row.alert or {}).get("posted_in")
        ts = (parent or {}).get("ts") or row.ts
        if not channel or not ts:
            raise RetryLater("the message is not posted yet", 1.0)
        return update({"channel": channel, "ts": ts, "text": text, "blocks": blocks}, None)

    def send_reply(payload: dict[str, Any], parent: Result | None) -> Result:
        if not parent or not parent.get("ts"):
            raise RetryLater("the thread's first message is not posted yet", 1.0)
        args = {
            "channel": parent.get("channel"),
            "thread_ts": parent["ts"],
            "text": payload["text"],
            "blocks": payload["blocks"],
            "unfurl_links": False,
        }
        return post(args, None)

    deps.outbox.register(POST, send_post, posted)
    deps.outbox.register(UPDATE, send_update)
    deps.outbox.register(REPLY, send_reply)
