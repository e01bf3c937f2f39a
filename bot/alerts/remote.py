"""Outbox handlers that act in Jira and Sentry for the alert buttons.

Sorting answers the outbox's way: a source that is down, slow or rate limiting is `RetryLater`
(the ticket is created when Jira is back); an answer no retry can change (Jira refusing a field,
an unknown ticket key, an issue Sentry does not know) gives up *visibly*: the claim is released,
the status reverted, and the message says what went wrong, so someone can try again.

Creation is idempotent across retries and crashes: the issue carries the label
``sentry-<issue id>`` and every attempt first searches for it, so an attempt whose answer was
lost (Jira created the issue, we never heard) finds that issue instead of making a second one.
Remote links are keyed by ``globalId`` (``sentry-issue-<id>``): Jira updates rather than
duplicates a link sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from bot.alerts.messages import enqueue_redraw, rows_of
from bot.alerts.tickets import CREATE, REMOTE_LINK, SENTRY_STATUS, label_for
from bot.deps import Deps
from bot.outbox import Result, RetryLater, Undeliverable
from collectors.errors import AuthenticationFailed, NotConfigured, RequestFailed, SourceError
from collectors.jira.client import JiraClient
from storage.db import session_scope
from storage.models_bot import JiraLink

log = logging.getLogger("sitrep.alerts")

GiveUp = Callable[[str], None]


def register_remote(deps: Deps) -> None:
    deps.outbox.register(CREATE, partial(create_issue, deps), partial(issue_created, deps))
    deps.outbox.register(REMOTE_LINK, partial(remote_link, deps))
    deps.outbox.register(SENTRY_STATUS, partial(sentry_status, deps))


def create_issue(deps: Deps, payload: dict[str, Any], parent: Result | None) -> Result:
    issue_id = str(payload["sentry_issue_id"])
    client = _client(deps, lambda reason: _release(deps, payload, reason))
    try:
        found = client.search_keys(
            f'labels = "{label_for(issue_id)}" ORDER BY created ASC', limit=1
        )
        key = found[0] if found else str(client.create_issue(payload["fields"])["key"])
    except SourceError as exc:
        raise _sorted(exc, lambda reason: _release(deps, payload, reason)) from exc
    finally:
        client.close()
    return {"key": key, "url": browse_url(deps, key)}


def issue_created(deps: Deps, session: Session, payload: dict[str, Any], result: Result) -> None:
    issue_id = str(payload["sentry_issue_id"])
    link = session.get(JiraLink, issue_id, with_for_update=True)
    now = deps.clock()
    if link is not None:
        link.jira_key, link.jira_url, link.done_at = result["key"], result["url"], now
    note = {
        "what": "created",
        "user": payload.get("user"),
        "key": result["key"],
        "url": result["url"],
        "at": now.isoformat(),
    }
    rows = rows_of(session, f"issue:{issue_id}", lock=True)
    for row in rows:
        row.actions = [*(row.actions or []), note]
    enqueue_redraw(session, rows)


def remote_link(deps: Deps, payload: dict[str, Any], parent: Result | None) -> Result:
    key = payload.get("key") or (parent or {}).get("key")
    if not key:
        raise Undeliverable("no Jira key to link (the creation failed)")
    if not payload.get("url"):
        return {"key": key, "skipped": "no Sentry URL to link to"}
    client = _client(deps, lambda reason: _unlink(deps, payload, reason))
    try:
        link = client.add_remote_link(
            str(key),
            global_id=f"sentry-issue-{payload['sentry_issue_id']}",
            url=str(payload["url"]),
            title=str(payload["title"]),
            summary=payload.get("summary"),
            application={"type": "io.sentry", "name": "Sentry"},
        )
    except SourceError as exc:
        raise _sorted(exc, lambda reason: _unlink(deps, payload, reason)) from exc
    finally:
        client.close()
    return {"key": key, "link_id": link.get("id")}


def sentry_status(deps: Deps, payload: dict[str, Any], parent: Result | None) -> Result:
    def revert(reason: str) -> None:
        _revert_status(deps, payload, reason)

    try:
        client = deps.sentry()
    except NotConfigured as exc:
        revert(str(exc))
        raise Undeliverable(str(exc)) from exc
    try:
        issue = client.update_issue_status(str(payload["issue_id"]), str(payload["status"]))
    except SourceError as exc:
        raise _sorted(exc, revert) from exc
    finally:
        client.close()
    return {"issue_id": payload["issue_id"], "status": issue.get("status")}


def browse_url(deps: Deps, key: str) -> str | None:
    base = deps.env.get("JIRA_URL", "").rstrip("/")
    return f"{base}/browse/{key}" if base else None


def _client(deps: Deps, give_up: GiveUp) -> JiraClient:
    try:
        return deps.jira()
    except NotConfigured as exc:
        give_up(str(exc))
        raise Undeliverable(str(exc)) from exc


def _sorted(exc: SourceError, give_up: GiveUp) -> Exception:
    """Retry what time can fix; give up (visibly) on what it cannot."""
    if isinstance(exc, AuthenticationFailed):
        return RetryLater(f"{exc} (retrying: a fixed token lets it through)", 60.0)
    status = exc.status if isinstance(exc, RequestFailed) else None
    if status is not None and 400 <= status < 500 and status not in (408, 409, 429):
        give_up(_reason(exc))
        return Undeliverable(str(exc))
    return RetryLater(str(exc))


def _reason(exc: SourceError) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:299] + "…"


def _note(rows: list[Any], reason: str, now: str) -> None:
    for row in rows:
        row.actions = [*(row.actions or []), {"what": "failed", "note": reason, "at": now}]


def _release(deps: Deps, payload: dict[str, Any], reason: str) -> None:
    """Jira refused the ticket: free the slot so someone can try again, and say why."""
    issue_id = str(payload["sentry_issue_id"])
    log.warning("Jira refused the ticket for Sentry issue %s: %s", issue_id, reason)
    with session_scope(deps.engine) as session:
        link = session.get(JiraLink, issue_id, with_for_update=True)
        if link is not None and link.jira_key is None:
            session.delete(link)
        rows = rows_of(session, f"issue:{issue_id}", lock=True)
        _note(rows, f"Jira ticket not created: {reason}", deps.clock().isoformat())
        items = enqueue_redraw(session, rows)
    if items:
        deps.outbox.wake()


def _unlink(deps: Deps, payload: dict[str, Any], reason: str) -> None:
    """A link to a ticket Jira does not have: drop it (only a link made by hand)."""
    issue_id = str(payload["sentry_issue_id"])
    log.warning("remote link of Sentry issue %s failed: %s", issue_id, reason)
    if payload.get("how") != "linked":
        return  # a created ticket exists: its missing back link is not worth undoing it
    with session_scope(deps.engine) as session:
        link = session.get(JiraLink, issue_id, with_for_update=True)
        if link is not None and link.jira_key == payload.get("key"):
            session.delete(link)
        rows = rows_of(session, f"issue:{issue_id}", lock=True)
        _note(rows, f"{payload.get('key')} could not be linked: {reason}", deps.clock().isoformat())
        items = enqueue_redraw(session, rows)
    if items:
        deps.outbox.wake()


def _revert_status(deps: Deps, payload: dict[str, Any], reason: str) -> None:
    """Sentry refused the change: the message must not claim it happened."""
    subject, status = str(payload["subject"]), str(payload["status"])
    with session_scope(deps.engine) as session:
        rows = rows_of(session, subject, lock=True)
        for row in rows:
            if row.status == status:
                row.status = "open"
        _note(
            rows,
            f"Sentry did not change the status to {status}: {reason}",
            deps.clock().isoformat(),
        )
        items = enqueue_redraw(session, rows)
    if items:
        deps.outbox.wake()
