"""The alert messages in the database, and how their Slack messages are (re)drawn.

Slack is never told *what changed*: every redraw renders the row as it stands when the outbox
sends it (`render`), so two updates racing each other both show the latest state, and a retried
update cannot bring back an older one. Items that touch a posted message wait for the item that
posted it (``after``), which is how they learn its ``ts`` even when the post itself was delayed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.alerts.blocks import AlertState, TicketRef, alert_message, summary_message
from bot.config import BotConfig
from bot.outbox import enqueue
from storage.models_bot import AlertMessage, JiraLink, OutboxItem

POST = "alerts.post"
UPDATE = "alerts.update"
REPLY = "alerts.reply"
SUMMARY = "summary:"


def post_key(row: AlertMessage) -> str:
    """The outbox key of the item that posts ``row``: one post per subject and channel, ever."""
    return f"alert:{row.subject}:{row.channel_id}"


def root_item(session: Session, row: AlertMessage) -> int | None:
    """The item that posts ``row``'s message; None when there is none or Slack refused it for
    good (an update waiting on it would wait forever)."""
    found = session.execute(
        sa.select(OutboxItem.id).where(
            OutboxItem.key == post_key(row), OutboxItem.state != "failed"
        )
    ).scalar_one_or_none()
    return int(found) if found is not None else None


def enqueue_post(session: Session, row: AlertMessage) -> int:
    return enqueue(
        session, target="slack", method=POST, payload={"message_id": row.id}, key=post_key(row)
    )


def enqueue_redraw(session: Session, rows: Iterable[AlertMessage]) -> list[int]:
    """A chat.update for each posted (or about to be posted) message among ``rows``."""
    items = []
    for row in rows:
        root = root_item(session, row)
        if root is None:  # folded into a summary: nothing of its own to redraw
            continue
        items.append(
            enqueue(
                session, target="slack", method=UPDATE, payload={"message_id": row.id}, after=root
            )
        )
    return items


def enqueue_reply(
    session: Session, row: AlertMessage, text: str, blocks: list[dict[str, Any]], *, key: str
) -> int | None:
    root = root_item(session, row)
    if root is None:
        return None
    payload = {"message_id": row.id, "text": text, "blocks": blocks}
    return enqueue(session, target="slack", method=REPLY, payload=payload, key=key, after=root)


def rows_of(session: Session, subject: str, *, lock: bool = False) -> list[AlertMessage]:
    """Every channel's message about ``subject`` (an action in one shows in all of them)."""
    query = sa.select(AlertMessage).where(AlertMessage.subject == subject).order_by(AlertMessage.id)
    if lock:
        query = query.with_for_update()
    return list(session.scalars(query))


def ticket_of(session: Session, issue_id: str | None) -> TicketRef | None:
    if not issue_id:
        return None
    link = session.get(JiraLink, issue_id)
    if link is None:
        return None
    return TicketRef(link.jira_key, link.jira_url, link.how, link.by_user)


def state_of(session: Session, row: AlertMessage) -> AlertState:
    doc = row.alert or {}
    issue_id = doc.get("issue_id")
    return AlertState(
        message_id=row.id,
        doc=doc,
        status=row.status,
        actions=list(row.actions or []),
        events=row.events,
        ticket=ticket_of(session, str(issue_id) if issue_id else None),
    )


def render(
    session: Session, row: AlertMessage, config: BotConfig
) -> tuple[str, list[dict[str, Any]]]:
    """The message's ``text`` and ``blocks`` (as dicts, validated by slack_sdk) right now."""
    if row.subject.startswith(SUMMARY):
        text, blocks = summary_message(
            folded_into(session, row),
            since=(row.alert or {}).get("since"),
            resumes_at=(row.alert or {}).get("resumes_at"),
            limit=config.burst_limit,
            per=_period(config),
        )
    else:
        text, blocks = alert_message(state_of(session, row))
    return text, [b.to_dict() for b in blocks]


def folded_into(session: Session, summary: AlertMessage) -> Sequence[dict[str, Any]]:
    """The alerts folded into ``summary``: its channel's folded ones since it was started."""
    rows = session.scalars(
        sa.select(AlertMessage)
        .where(
            AlertMessage.channel_id == summary.channel_id,
            AlertMessage.folded,
            AlertMessage.created_at >= summary.created_at,
        )
        .order_by(AlertMessage.created_at, AlertMessage.id)
    )
    return [row.alert or {} for row in rows]


def _period(config: BotConfig) -> str:
    minutes = int(config.burst_per.total_seconds() // 60)
    if minutes and minutes % 60 == 0:
        hours = minutes // 60
        return "hour" if hours == 1 else f"{hours} hours"
    if minutes:
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return f"{int(config.burst_per.total_seconds())} seconds"
