"""The ``project:<KEY>`` scope: issues, their status changes, sprint memberships and incidents.

Issues come from ``/rest/api/3/search/jql`` ordered by ``updated ASC``, so every committed prefix
is a true checkpoint: the cursor (the latest ``updated`` committed) is saved with the rows it
covers. JQL dates have minute resolution in the API user's time zone, so the next query starts
at the cursor minus an overlap window, floored to the minute, written in that zone; the upserts
absorb what the overlap fetches twice.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from collectors.base import ScopeProgress, SyncContext
from collectors.jira import mapping
from collectors.jira.client import SEARCH_PAGE, JiraClient
from storage import sync_state
from storage.models import Incident, Sprint, SprintMembership, WorkItem, WorkItemTransition
from storage.repository import ids_by_external_id, upsert_rows

OVERLAP = dt.timedelta(minutes=5)  # minute resolution, plus search-index lag
# Issues per committed checkpoint. Each holds its whole changelog until written, and several
# projects sync at once: 500 keeps their sum well inside the sync's memory budget.
FLUSH_ISSUES = 500


@dataclass(frozen=True)
class SiteSettings:
    """What the ``fields`` scope discovered about the site."""

    fields: mapping.FieldIds
    time_zone: str


def jql_for(project: str, since: dt.datetime | None, time_zone: str) -> str:
    """The search for one project, from ``since`` (minus the overlap) in the user's zone."""
    jql = f'project = "{project}"'
    if since is not None:
        try:
            zone: dt.tzinfo = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            zone, since = dt.UTC, since - dt.timedelta(days=1)  # unknown zone: a day covers any
        start = (since - OVERLAP).astimezone(zone)
        jql += f' AND updated >= "{start:%Y/%m/%d %H:%M}"'
    return jql + " ORDER BY updated ASC"


def save_cursor(
    session: Session, scope: str, cursor: dict[str, Any], saved: dict[str, Any] | None
) -> dict[str, Any]:
    """Store ``cursor`` unless it is what is stored already (a quiet sync leaves no trace)."""
    if cursor != saved:
        sync_state.set_cursor(session, source=mapping.SOURCE, scope=scope, cursor=cursor)
    return cursor


class ProjectSync:
    """One run of one project scope."""

    def __init__(
        self,
        client: JiraClient,
        settings: SiteSettings,
        project: str,
        scope: str,
        ctx: SyncContext,
        progress: ScopeProgress,
        *,
        flush_issues: int = FLUSH_ISSUES,
        page_size: int = SEARCH_PAGE,
    ) -> None:
        self.client, self.settings, self.project = client, settings, project
        self.scope, self.ctx, self.progress = scope, ctx, progress
        self.flush_issues = flush_issues
        self.page_size = page_size
        self.known: dict[str, str] = {}  # status id -> statusCategory key
        self.cursor_time: dt.datetime | None = None
        self.saved: dict[str, Any] | None = None  # the cursor as stored

    def run(self) -> int:
        with self.ctx.transaction() as session:
            cursor = sync_state.get_cursor(session, source=mapping.SOURCE, scope=self.scope)
        self.saved = cursor
        if cursor is not None and not self.ctx.full:
            self.cursor_time = mapping.parse_time(cursor.get("updated"))
            self.known = dict(cursor.get("statuses") or {})
        jql = jql_for(self.project, self.cursor_time, self.settings.time_zone)
        if cursor is None or self.ctx.full:
            # First sync: worth one more request for a progress bar with an end.
            self.progress.total(self.client.approximate_count(jql))
        else:
            self.progress.total(None)
        written = 0
        pending: list[dict[str, Any]] = []
        for page in _prefetch(self._pages(jql)):
            pending.extend(page)
            if len(pending) >= self.flush_issues:
                written += self._flush(pending)
                pending = []
        # Always save a cursor, even for an empty project: the next sync then skips the count.
        written += self._flush(pending)
        return written

    def _pages(self, jql: str) -> Iterator[list[dict[str, Any]]]:
        fields = self.settings.fields.search_fields()
        pages = self.client.iter_search(
            jql, fields=fields, expand="changelog", page_size=self.page_size
        )
        for page in pages:
            self.client.complete_changelogs(page)
            yield page

    def _flush(self, issues: list[dict[str, Any]]) -> int:
        """Write one checkpoint: the issues' rows and the cursor covering them, together."""
        mapping.learn_statuses(issues, self.known)
        fields, base = self.settings.fields, self.client.base_url
        changelogs = [mapping.parse_histories(issue) for issue in issues]
        items = [
            mapping.to_work_item(i, log, base_url=base, fields=fields, known=self.known)
            for i, log in zip(issues, changelogs, strict=True)
        ]
        written = 0
        with self.ctx.transaction() as session:
            batch = self.ctx.batch_size
            if items:
                result = upsert_rows(session, WorkItem, items, batch_size=batch)
                written += self._count("work_items", result.written)
                ids = ids_by_external_id(
                    session, WorkItem, mapping.SOURCE, (r["external_id"] for r in items)
                )
                transitions = [
                    row
                    for item, log in zip(items, changelogs, strict=True)
                    for row in mapping.to_transitions(
                        log, ids[item["external_id"]], self.known, item["url"]
                    )
                ]
                if transitions:
                    result = upsert_rows(session, WorkItemTransition, transitions, batch_size=batch)
                    written += self._count("work_item_transitions", result.written)
                memberships = self._memberships(session, issues, changelogs, ids)
                if memberships:
                    result = upsert_rows(session, SprintMembership, memberships, batch_size=batch)
                    written += self._count("sprint_memberships", result.written)
                incidents = [row for item in items if (row := mapping.to_incident(item))]
                if incidents:
                    result = upsert_rows(session, Incident, incidents, batch_size=batch)
                    written += self._count("incidents", result.written)
            for item in items:
                updated = item["updated_at"]
                if updated is not None and (self.cursor_time is None or updated > self.cursor_time):
                    self.cursor_time = updated
            cursor = {
                "updated": self.cursor_time.isoformat() if self.cursor_time else None,
                "statuses": dict(sorted(self.known.items())),
            }
            self.saved = save_cursor(session, self.scope, cursor, self.saved)
        self.progress.advance(len(issues))
        return written

    def _count(self, table: str, rows: int) -> int:
        self.ctx.count(table, rows)
        return rows

    def _memberships(
        self,
        session: Session,
        issues: list[dict[str, Any]],
        changelogs: list[list[mapping.History]],
        ids: dict[str, int],
    ) -> list[dict[str, Any]]:
        sprint_field = self.settings.fields.sprint
        spans = {
            str(issue["id"]): mapping.sprint_spans(issue, log, sprint_field)
            for issue, log in zip(issues, changelogs, strict=True)
        }
        wanted = {sprint for by_sprint in spans.values() for sprint in by_sprint}
        # Sprints of boards nobody mapped are not in storage: skip those memberships.
        sprint_ids = ids_by_external_id(session, Sprint, mapping.SOURCE, wanted)
        return [
            {
                "sprint_id": sprint_ids[sprint],
                "work_item_id": ids[issue_id],
                "added_at": added,
                "removed_at": removed,
            }
            for issue_id, by_sprint in spans.items()
            for sprint, (added, removed) in sorted(by_sprint.items())
            if sprint in sprint_ids
        ]


_DONE = object()


def _prefetch(
    pages: Iterator[list[dict[str, Any]]], depth: int = 2
) -> Iterator[list[dict[str, Any]]]:
    """Fetch the next pages in a thread while the caller writes the previous ones."""
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not offer(page):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            offer(exc)

    # In a copy of the caller's context: the prefetched pages' requests count towards the scope.
    worker = threading.Thread(
        target=contextvars.copy_context().run, args=(produce,), name="jira-prefetch", daemon=True
    )
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)
