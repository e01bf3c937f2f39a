"""Sync Sentry into the domain tables: error issues, their daily event counts, releases.

Scopes, in the order they run:

- ``projects``: the organisation's projects (one request); fails, naming them, when a product
  maps a Sentry project the organisation does not have;
- one per mapped project slug: its issues of every status -> ``error_issues``, and the events per
  UTC day of the last 14 days -> ``error_event_counts`` (upserted; older days are never deleted);
- ``releases``: the organisation's releases of the mapped projects -> ``releases``.

Issues and releases are paged newest first down to a watermark (see `collectors.sentry.cursor`);
rows are written every ``ctx.batch_size`` rows together with the checkpoint that covers them.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from collectors.base import ScopeProgress, SyncContext
from collectors.errors import NotConfigured, RequestFailed, SourceError
from collectors.http import RetryPolicy
from collectors.sentry.client import Page, SentryClient
from collectors.sentry.cursor import Pass, ScopeCursor
from collectors.sentry.mapping import SOURCE, daily_counts, parse_time, to_error_issue, to_releases
from storage.models import ErrorEventCount, ErrorIssue, Release
from storage.repository import ids_by_external_id, upsert_rows
from storage.sync_state import get_cursor, mapped_keys, set_cursor

log = logging.getLogger(__name__)

DEFAULT_URL = "https://sentry.io"
PROJECTS = "projects"
RELEASES = "releases"
# lastSeen is written by Sentry's buffers a little after the event arrives, and events may be
# ingested late: re-read the last hour before the watermark (upserts make the overlap free).
ISSUE_OVERLAP = dt.timedelta(hours=1)
# Issues resolved or ignored without new events keep their lastSeen: a full pass catches them
# whenever the watermark has moved a day past the last full pass.
ISSUE_REFRESH = dt.timedelta(days=1)
# A release's dateReleased and deploy data may be filled in days after it was created.
RELEASE_OVERLAP = dt.timedelta(days=3)


class SentryCollector:
    """The Sentry source: see the module docstring for its scopes."""

    source = SOURCE

    def __init__(self, client: SentryClient, *, web_url: str = DEFAULT_URL) -> None:
        self.client = client
        self.web_url = web_url

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> SentryCollector:
        """Configure from SENTRY_URL (default https://sentry.io), SENTRY_TOKEN and SENTRY_ORG.

        SENTRY_WEB_URL, when set, is where links to releases point (default: SENTRY_URL).
        """
        token = env.get("SENTRY_TOKEN", "").strip()
        org = env.get("SENTRY_ORG", "").strip()
        missing = [
            name for name, value in (("SENTRY_TOKEN", token), ("SENTRY_ORG", org)) if not value
        ]
        if missing:
            raise NotConfigured(
                SOURCE,
                f"set {' and '.join(missing)} to sync Sentry "
                f"(and SENTRY_URL for self-hosted Sentry; it defaults to {DEFAULT_URL}).",
            )
        url = env.get("SENTRY_URL", "").strip() or DEFAULT_URL
        policy = policy or RetryPolicy.from_env(env)  # SITREP_HTTP_ATTEMPTS, SITREP_HTTP_BACKOFF
        client = SentryClient(url, token, org, policy=policy, sleep=sleep)
        return cls(client, web_url=env.get("SENTRY_WEB_URL", "").strip() or url)

    @property
    def requests(self) -> int:
        return self.client.requests

    def close(self) -> None:
        self.client.close()

    def scopes(self, session: Session) -> list[str]:
        projects = mapped_keys(session, "sentry_project")
        return [PROJECTS, *projects, RELEASES] if projects else [PROJECTS]

    def stages(self, scopes: list[str]) -> list[list[str]]:
        """``projects`` (the check) first; then the projects' issues and the releases, which
        touch different rows, side by side."""
        first = [s for s in scopes if s == PROJECTS]
        return [first, [s for s in scopes if s != PROJECTS]]

    def sync_scope(self, scope: str, ctx: SyncContext, progress: ScopeProgress) -> int:
        if scope == PROJECTS:
            return self._check_projects(ctx, progress)
        if scope == RELEASES:
            return self._sync_releases(ctx, progress)
        return self._sync_issues(scope, ctx, progress)

    # ------------------------------------------------------------ projects

    def _check_projects(self, ctx: SyncContext, progress: ScopeProgress) -> int:
        projects = self.client.list_projects()
        progress.total(len(projects))
        progress.advance(len(projects))
        with ctx.transaction() as session:
            mapped = mapped_keys(session, "sentry_project")
        known = {str(p.get("slug")) for p in projects}
        missing = [slug for slug in mapped if slug not in known]
        if missing:
            raise SourceError(
                SOURCE,
                f"the products file maps Sentry project(s) {', '.join(missing)}, which "
                f"organisation {self.client.org!r} does not have; fix the products file or "
                "SENTRY_ORG.",
            )
        return 0

    # ------------------------------------------------------------ issues

    def _load(self, ctx: SyncContext, scope: str) -> ScopeCursor:
        if ctx.full:
            return ScopeCursor()
        with ctx.transaction() as session:
            return ScopeCursor.load(get_cursor(session, source=SOURCE, scope=scope))

    def _sync_issues(self, project: str, ctx: SyncContext, progress: ScopeProgress) -> int:
        cursor = self._load(ctx, project)
        current = cursor.begin(ISSUE_OVERLAP, ISSUE_REFRESH)
        first, current = self._first_issue_page(project, current)
        if current.next is None:  # from the top: the hits are what this pass will read
            progress.total(first.hits)
        issues: dict[str, dict[str, Any]] = {}
        counts: dict[tuple[str, dt.date], int] = {}
        written = 0

        since = current.since

        def fetch(page_cursor: str) -> Page:
            return self.client.issue_page(project, since=since, cursor=page_cursor)

        for page in _prefetching(first, fetch):
            for raw in page.items:
                row = to_error_issue(raw, project)
                issues[row["external_id"]] = row
                current = current.seen(row["last_seen"])
                for day, count in daily_counts(raw):
                    counts[(row["external_id"], day)] = count
            current = Pass(current.since, page.next_cursor, current.high)
            last = page.next_cursor is None
            if last or len(issues) >= ctx.batch_size:
                state = cursor.finish(current) if last else cursor.checkpoint(current)
                written += self._write_issues(ctx, project, issues, counts, state)
                issues, counts = {}, {}
            progress.advance(len(page.items))
        return written

    def _first_issue_page(self, project: str, current: Pass) -> tuple[Page, Pass]:
        """The page a pass starts (or resumes) at; a refused checkpoint restarts the pass."""
        try:
            return self.client.issue_page(
                project, since=current.since, cursor=current.next
            ), current
        except RequestFailed as exc:
            if exc.status != 400 or current.next is None:
                raise
        log.info(
            "sentry %s: the checkpoint's page cursor was refused; restarting the pass", project
        )
        restarted = Pass(current.since)
        return self.client.issue_page(project, since=restarted.since), restarted

    def _write_issues(
        self,
        ctx: SyncContext,
        project: str,
        issues: dict[str, dict[str, Any]],
        counts: dict[tuple[str, dt.date], int],
        state: dict[str, Any],
    ) -> int:
        with ctx.transaction() as session:
            result = upsert_rows(session, ErrorIssue, issues.values(), batch_size=ctx.batch_size)
            ids = ids_by_external_id(session, ErrorIssue, SOURCE, issues)
            count_rows = [
                {"error_issue_id": ids[external_id], "day": day, "count": count}
                for (external_id, day), count in counts.items()
            ]
            per_day = upsert_rows(session, ErrorEventCount, count_rows, batch_size=ctx.batch_size)
            set_cursor(session, source=SOURCE, scope=project, cursor=state)
        ctx.count("error_issues", result.written)
        ctx.count("error_event_counts", per_day.written)
        return result.written + per_day.written

    # ------------------------------------------------------------ releases

    def _sync_releases(self, ctx: SyncContext, progress: ScopeProgress) -> int:
        with ctx.transaction() as session:
            projects = mapped_keys(session, "sentry_project")
        if not projects:
            return 0
        cursor = self._load(ctx, RELEASES)
        current = cursor.begin(RELEASE_OVERLAP)
        page_cursor = current.next
        rows: dict[str, dict[str, Any]] = {}
        written = 0
        progress.total(None)
        while True:
            page = self.client.release_page(projects, page_cursor)
            oldest: dt.datetime | None = None
            for raw in page.items:
                for row in to_releases(raw, projects, self.web_url, self.client.org):
                    rows[row["external_id"]] = row
                created = parse_time(raw.get("dateCreated"))
                current = current.seen(created)
                oldest = created if oldest is None or (created and created < oldest) else oldest
            # Newest first: once a page reaches below the watermark, the rest is known already.
            below = current.since is not None and oldest is not None and oldest < current.since
            last = page.next_cursor is None or below
            current = Pass(current.since, None if last else page.next_cursor, current.high)
            if last or len(rows) >= ctx.batch_size:
                state = cursor.finish(current) if last else cursor.checkpoint(current)
                written += self._write_releases(ctx, rows, state)
                rows = {}
            progress.advance(len(page.items))
            if last:
                return written
            page_cursor = page.next_cursor

    def _write_releases(
        self, ctx: SyncContext, rows: dict[str, dict[str, Any]], state: dict[str, Any]
    ) -> int:
        with ctx.transaction() as session:
            result = upsert_rows(session, Release, rows.values(), batch_size=ctx.batch_size)
            set_cursor(session, source=SOURCE, scope=RELEASES, cursor=state)
        ctx.count("releases", result.written)
        return result.written


def _prefetching(first: Page, fetch: Callable[[str], Page]) -> Iterator[Page]:
    """``first`` and the pages after it; the next page downloads while the caller works on this.

    Only for lists that end on their own (the server filters them): a caller that stops early
    would leave one request wasted. The fetch runs in a copy of the caller's context, so its
    request counts towards the scope.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sentry-prefetch") as pool:
        page = first
        while True:
            ahead = (
                pool.submit(contextvars.copy_context().run, fetch, page.next_cursor)
                if page.next_cursor
                else None
            )
            yield page
            if ahead is None:
                return
            page = ahead.result()
