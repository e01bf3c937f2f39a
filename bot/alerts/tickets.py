"""What the alert buttons change: the Jira link claim, the status, and the outbox items that act.

Exactly one Jira issue per Sentry issue is Postgres's doing, not ours: `claim` inserts the
`JiraLink` row with ``ON CONFLICT DO NOTHING``, so of any number of simultaneous submissions one
inserts and every other one gets the winner's row back (to tell its user who was first). A claim
whose creation never finished (no key after `STALE_CLAIM`, and no creation still waiting in the
outbox) belonged to a crashed process and may be taken over.

The Jira and Sentry calls themselves go through the outbox (`bot.alerts.remote`), enqueued in the
same transaction as the claim or the status: a Jira outage delays the ticket, never loses it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from bot.alerts.messages import enqueue_redraw, rows_of
from bot.outbox import enqueue
from storage.models_bot import AlertMessage, JiraLink, OutboxItem

STALE_CLAIM = dt.timedelta(minutes=5)
CREATE = "jira.create_issue"
REMOTE_LINK = "jira.remote_link"
SENTRY_STATUS = "sentry.update_status"
PRIORITY_OF_LEVEL = {
    "fatal": "Highest",
    "error": "High",
    "warning": "Medium",
    "info": "Low",
    "debug": "Lowest",
}
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
SUMMARY_CHARS = 255  # Jira's limit for a summary


@dataclass(frozen=True)
class Holder:
    """Who holds the Sentry issue's ticket (when a claim was lost)."""

    key: str | None
    url: str | None
    how: str
    by: str | None


@dataclass(frozen=True)
class TicketDraft:
    project: str
    summary: str
    priority: str
    description: str


def label_for(issue_id: str) -> str:
    """The label that finds the ticket of a Sentry issue again (idempotent creation)."""
    return f"sentry-{issue_id}"


def claim(
    session: Session,
    issue_id: str,
    *,
    how: str,
    user: str,
    now: dt.datetime,
    key: str | None = None,
    url: str | None = None,
) -> Holder | None:
    """Take the issue's one ticket slot: None when won, else who holds it."""
    values = {
        "sentry_issue_id": issue_id,
        "how": how,
        "by_user": user,
        "jira_key": key,
        "jira_url": url,
        "claimed_at": now,
        "done_at": now if key else None,
    }
    won = session.execute(
        insert(JiraLink)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[JiraLink.sentry_issue_id])
        .returning(JiraLink.sentry_issue_id)
    ).scalar_one_or_none()
    if won is not None:
        return None
    held = session.get(JiraLink, issue_id, with_for_update=True, populate_existing=True)
    if held is None:  # released between the two statements: try once more
        return claim(session, issue_id, how=how, user=user, now=now, key=key, url=url)
    if (
        held.jira_key is None
        and held.claimed_at < now - STALE_CLAIM
        and not _creating(session, issue_id)
    ):
        for name, value in values.items():
            setattr(held, name, value)
        return None
    return Holder(held.jira_key, held.jira_url, held.how, held.by_user)


def _creating(session: Session, issue_id: str) -> bool:
    """Whether a creation for this issue is still waiting in the outbox (Jira is down)."""
    return bool(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(OutboxItem)
            .where(
                OutboxItem.method == CREATE,
                OutboxItem.state == "pending",
                OutboxItem.payload["sentry_issue_id"].astext == issue_id,
            )
        )
    )


def issue_fields(draft: TicketDraft, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ``fields`` of Jira's create call for a draft from the modal."""
    issue_id = str(doc.get("issue_id"))
    return {
        "project": {"key": draft.project},
        "issuetype": {"name": "Bug"},
        "summary": " ".join(draft.summary.split())[:SUMMARY_CHARS],
        "priority": {"name": draft.priority},
        "labels": [label_for(issue_id)],
        "description": adf(draft.description, doc.get("web_url"), doc.get("short_id") or issue_id),
    }


def adf(text: str, url: object, label: object) -> dict[str, Any]:
    """An Atlassian Document: a paragraph per line of ``text``, then a link back to Sentry."""
    content: list[dict[str, Any]] = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]}
        for line in (raw.rstrip() for raw in text.splitlines())
        if line
    ]
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        content.append(
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Sentry issue: "},
                    {
                        "type": "text",
                        "text": str(label),
                        "marks": [{"type": "link", "attrs": {"href": url}}],
                    },
                ],
            }
        )
    return {"type": "doc", "version": 1, "content": content}


def default_description(doc: Mapping[str, Any]) -> str:
    """The modal's prefilled description: the facts of the Sentry issue, one per line."""
    lines = [
        f"Sentry issue {doc.get('short_id') or doc.get('issue_id')}: {doc.get('title', '')}",
        f"Culprit: {doc['culprit']}" if doc.get("culprit") else "",
        f"Project: {doc.get('project_slug') or '?'} · level {doc.get('level') or 'error'}",
        f"Events: {doc.get('count', '?')} · users: {doc.get('user_count', '?')}",
        f"First seen: {doc.get('first_seen', '?')} · last seen: {doc.get('last_seen', '?')}",
    ]
    return "\n".join(line for line in lines if line)


def start_creation(
    session: Session,
    row: AlertMessage,
    draft: TicketDraft,
    *,
    user: str,
    now: dt.datetime,
) -> list[int]:
    """After a won claim: create the issue, then the remote link, and redraw the messages."""
    doc = row.alert or {}
    issue_id = str(doc["issue_id"])
    payload = {
        "sentry_issue_id": issue_id,
        "fields": issue_fields(draft, doc),
        "user": user,
        "channel": doc.get("posted_in") or row.channel_id,
    }
    create = enqueue(
        session,
        target="jira",
        method=CREATE,
        payload=payload,
        key=f"jira-create:{issue_id}:{now.timestamp()}",
    )
    link = enqueue(
        session,
        target="jira",
        method=REMOTE_LINK,
        payload=_link_payload(doc, key=None),
        after=create,
    )
    return [create, link, *enqueue_redraw(session, rows_of(session, f"issue:{issue_id}"))]


def start_link(
    session: Session,
    row: AlertMessage,
    *,
    key: str,
    url: str | None,
    user: str,
    now: dt.datetime,
) -> list[int]:
    """After a won link claim: note it on every message of the issue, add the remote link."""
    doc = row.alert or {}
    issue_id = str(doc["issue_id"])
    rows = rows_of(session, f"issue:{issue_id}", lock=True)
    note = {"what": "linked", "user": user, "key": key, "url": url, "at": now.isoformat()}
    for each in rows:
        each.actions = [*(each.actions or []), note]
    link = enqueue(
        session,
        target="jira",
        method=REMOTE_LINK,
        payload=_link_payload(doc, key=key) | {"how": "linked", "user": user},
    )
    return [link, *enqueue_redraw(session, rows)]


def _link_payload(doc: Mapping[str, Any], *, key: str | None) -> dict[str, Any]:
    return {
        "sentry_issue_id": str(doc["issue_id"]),
        "key": key,
        "url": doc.get("web_url"),
        "title": f"Sentry: {doc.get('short_id') or doc.get('issue_id')}",
        "summary": str(doc.get("title", ""))[:255],
    }


def set_status(
    session: Session, subject: str, *, status: str, user: str, now: dt.datetime
) -> tuple[list[int], Mapping[str, Any] | None]:
    """Resolve or ignore: ([items], None), or ([], the earlier action) when already so.

    Rows are locked first, so a double click finds the first click's status and does nothing.
    """
    rows = rows_of(session, subject, lock=True)
    if not rows:
        return [], None
    if all(r.status == status for r in rows):
        earlier = next(
            (a for r in rows for a in reversed(r.actions or []) if a.get("what") == status),
            {"what": status, "user": "Sentry"},
        )
        return [], earlier
    note = {"what": status, "user": user, "at": now.isoformat()}
    for row in rows:
        row.status = status
        row.actions = [*(row.actions or []), note]
    issue_id = str((rows[0].alert or {}).get("issue_id"))
    payload = {"issue_id": issue_id, "status": status, "user": user, "subject": subject}
    item = enqueue(session, target="sentry", method=SENTRY_STATUS, payload=payload)
    return [item, *enqueue_redraw(session, rows)], None
