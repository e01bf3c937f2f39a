"""The four streams of a repo, each synced as its own scope: pulls, deployments, workflow runs,
releases.

Every stream starts with one conditional request for the first page of its list (``If-None-Match``
with the ETag the cursor kept): a 304 means nothing changed and the scope is done. Otherwise rows
are upserted in batches as they come (durable progress), and the new cursor is saved with the
last batch once the whole stream has been read. A rerun after a crash starts from the old cursor;
the upserts are idempotent, and items already stored unchanged (same ``updated_at``) are not
fetched again, so a resumed sync is cheap and ends with the same rows.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from collectors.base import ScopeProgress, SyncContext
from collectors.errors import BadPayload
from collectors.github import mapping
from collectors.github.client import GitHubClient, Json, Page
from collectors.github.mapping import SOURCE, Row, parse_time
from storage import sync_state
from storage.models import Deployment, PullRequest, PullRequestReview, Release
from storage.repository import ids_by_external_id, upsert_rows

T = TypeVar("T")
R = TypeVar("R")
# Pull lists have no `since`: read newest-updated first and stop a little before the watermark,
# so a PR updated in the same second as the last one we saw is not skipped.
OVERLAP = dt.timedelta(minutes=1)
# A run still queued this long after the newest one no longer holds the watermark back.
OPEN_RUN_HORIZON = dt.timedelta(days=3)
# A PR row carries its payload and its reviews': tens of KB each. Committing every 500 (not
# every ctx.batch_size) keeps four repos' batches in flight well inside the memory budget.
PULLS_PER_WRITE = 500


class Stream:
    """What every stream shares: the client, the worker pool, the context and the scope."""

    def __init__(
        self,
        client: GitHubClient,
        pool: ThreadPoolExecutor,
        repo: str,
        scope: str,
        ctx: SyncContext,
        progress: ScopeProgress,
    ) -> None:
        self.client, self.pool, self.repo, self.scope = client, pool, repo, scope
        self.ctx, self.progress = ctx, progress
        self.written = 0

    def cursor(self) -> dict[str, Any]:
        if self.ctx.full:
            return {}
        with self.ctx.transaction() as session:
            return sync_state.get_cursor(session, source=SOURCE, scope=self.scope) or {}

    def first_page(
        self, path: str, params: dict[str, Any], etag: str | None, **kw: Any
    ) -> tuple[Page, Iterator[Page]]:
        pages = self.client.iter_pages(path, params, etag=etag, **kw)
        return next(pages), pages

    def save(self, session: Session, cursor: dict[str, Any]) -> None:
        sync_state.set_cursor(session, source=SOURCE, scope=self.scope, cursor=cursor)

    def upsert(self, session: Session, model: Any, rows: list[Row]) -> None:
        if not rows:
            return
        result = upsert_rows(session, model, rows, batch_size=self.ctx.batch_size)
        self.ctx.count(model.__tablename__, result.written)
        self.written += result.written

    def stored(
        self, model: Any, external_ids: list[str], column: Callable[[Any], Any]
    ) -> dict[str, Any]:
        """external_id -> a stored value (its updated_at), to skip items that did not change."""
        if self.ctx.full or not external_ids:
            return {}
        table = model.__table__
        query = sa.select(table.c.external_id, column(table)).where(
            table.c.source == SOURCE, table.c.external_id.in_(external_ids)
        )
        with self.ctx.transaction() as session:
            return {str(row[0]): row[1] for row in session.execute(query)}


def bounded_map(
    pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T], window: int = 64
) -> Iterator[R]:
    """``map(fn, items)`` on the pool, in order, with at most ``window`` calls in flight.

    Each call runs in a copy of the caller's context, so its requests count towards the scope.
    """
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(contextvars.copy_context().run, fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def _at(value: Any) -> dt.datetime:
    """A timestamp the API always sends (created_at, updated_at)."""
    parsed = parse_time(value)
    if parsed is None:
        raise BadPayload(SOURCE, f"expected a timestamp, got {value!r}")
    return parsed


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _items(first: Page, rest: Iterator[Page]) -> Iterator[Json]:
    for page in chain([first], rest):
        yield from page.items


# ---------------------------------------------------------------- pulls


class PullStream(Stream):
    """PRs newest-updated first down to the watermark; per changed PR the single PR (sizes),
    its reviews and its commits, fetched concurrently."""

    def run(self) -> int:
        cursor = self.cursor()
        watermark = parse_time(cursor.get("watermark"))
        first, rest = self.first_page(
            f"/repos/{self.repo}/pulls",
            {"state": "all", "sort": "updated", "direction": "desc"},
            cursor.get("etag"),
        )
        if first.not_modified:
            return 0
        newest = max((_at(p["updated_at"]) for p in first.items), default=None)
        etag = first.etag
        stop_at = watermark - OVERLAP if watermark else None
        self.progress.total(None if first.next_url else len(first.items))
        # A list page is megabytes of objects: hold none longer than it is being read.
        pages = chain([first], rest)
        del first
        flush = min(self.ctx.batch_size, PULLS_PER_WRITE)
        batch: list[tuple[Row, list[Json]]] = []
        for row, reviews in bounded_map(self.pool, self._fetch, self._changed(pages, stop_at)):
            batch.append((row, reviews))
            self.progress.advance()
            if len(batch) >= flush:
                with self.ctx.transaction() as session:
                    self._write(session, batch)
                batch = []
        new_watermark = max(filter(None, (newest, watermark)), default=None)
        with self.ctx.transaction() as session:
            self._write(session, batch)
            self.save(session, {"etag": etag, "watermark": _iso(new_watermark)})
        return self.written

    def _changed(self, pages: Iterator[Page], stop_at: dt.datetime | None) -> Iterator[int]:
        """Numbers of the listed PRs newer than ``stop_at`` whose stored ``updated_at`` differs."""
        for page in pages:
            fresh = []
            done = False
            for item in page.items:
                if stop_at is not None and _at(item["updated_at"]) <= stop_at:
                    done = True
                    break
                fresh.append((item["number"], parse_time(item["updated_at"])))
            ids = [mapping.pull_external_id(self.repo, number) for number, _ in fresh]
            known = self.stored(PullRequest, ids, lambda t: t.c.updated_at)
            for (number, updated), external_id in zip(fresh, ids, strict=True):
                if known.get(external_id) != updated:
                    yield number
                else:
                    self.progress.advance()
            if done:
                return

    def _fetch(self, number: int) -> tuple[Row, list[Json]]:
        pull = self.client.get_pull(self.repo, number)
        reviews = self.client.list_reviews(self.repo, number)
        commits = self.client.list_pull_commits(self.repo, number)
        return mapping.to_pull_request(self.repo, pull, reviews, commits), reviews

    def _write(self, session: Session, batch: list[tuple[Row, list[Json]]]) -> None:
        if not batch:
            return
        self.upsert(session, PullRequest, [row for row, _ in batch])
        ids = ids_by_external_id(session, PullRequest, SOURCE, [r["external_id"] for r, _ in batch])
        reviews = [
            mapping.to_review(review, ids[row["external_id"]])
            for row, pull_reviews in batch
            for review in pull_reviews
        ]
        self.upsert(session, PullRequestReview, reviews)


# ---------------------------------------------------------------- deployments


class DeploymentStream(Stream):
    """Every deployment (the list is short, newest first); statuses only for the ones whose
    ``updated_at`` (the time of their latest status) differs from what is stored.

    The whole list is read, not just the new end: GitHub marks an old deployment ``inactive``
    when a newer one to the same environment succeeds, however old it is.
    """

    def run(self) -> int:
        cursor = self.cursor()
        first, rest = self.first_page(f"/repos/{self.repo}/deployments", {}, cursor.get("etag"))
        if first.not_modified:
            return 0
        self.progress.total(None if first.next_url else len(first.items))
        batch: list[Row] = []
        for row in bounded_map(self.pool, self._fetch, self._changed(first, rest)):
            batch.append(row)
            self.progress.advance()
            if len(batch) >= self.ctx.batch_size:
                with self.ctx.transaction() as session:
                    self.upsert(session, Deployment, batch)
                batch = []
        with self.ctx.transaction() as session:
            self.upsert(session, Deployment, batch)
            self.save(session, {"etag": first.etag})
        return self.written

    def _changed(self, first: Page, rest: Iterator[Page]) -> Iterator[Json]:
        for page in chain([first], rest):
            ids = [str(d["id"]) for d in page.items]
            known = self.stored(Deployment, ids, lambda t: t.c.raw["updated_at"].astext)
            for deployment, external_id in zip(page.items, ids, strict=True):
                if known.get(external_id) != deployment.get("updated_at"):
                    yield deployment
                else:
                    self.progress.advance()

    def _fetch(self, deployment: Json) -> Row:
        statuses = self.client.list_deployment_statuses(self.repo, deployment["id"])
        return mapping.to_deployment(self.repo, deployment, statuses)


# ---------------------------------------------------------------- workflow runs and releases


class WorkflowRunStream(Stream):
    """Deploy workflow runs (name matching the pattern) as production deployments.

    Runs are listed newest created first; the watermark is the creation time of the oldest run
    still unfinished when we looked (else the newest), so runs that finish later are read again.
    """

    def __init__(self, *args: Any, pattern: re.Pattern[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pattern = pattern

    def run(self) -> int:
        cursor = self.cursor()
        watermark = parse_time(cursor.get("watermark"))
        stop_at = watermark - OVERLAP if watermark else None
        first, rest = self.first_page(
            f"/repos/{self.repo}/actions/runs", {}, cursor.get("etag"), items_key="workflow_runs"
        )
        if first.not_modified:
            return 0
        self.progress.total(None if watermark else first.extra.get("total_count"))
        newest: dt.datetime | None = None
        oldest_open: dt.datetime | None = None
        batch: list[Row] = []
        for run in _items(first, rest):
            created = _at(run["created_at"])
            if stop_at is not None and created < stop_at:
                break
            newest = max(newest or created, created)
            if run.get("status") != "completed":
                oldest_open = min(oldest_open or created, created)
            if self.pattern.search(run.get("name") or run.get("path") or ""):
                batch.append(mapping.to_workflow_deployment(self.repo, run))
            self.progress.advance()
            if len(batch) >= self.ctx.batch_size:
                with self.ctx.transaction() as session:
                    self.upsert(session, Deployment, batch)
                batch = []
        new_watermark = newest or watermark
        if oldest_open is not None and newest is not None:
            new_watermark = max(oldest_open, newest - OPEN_RUN_HORIZON)
        with self.ctx.transaction() as session:
            self.upsert(session, Deployment, batch)
            self.save(session, {"etag": first.etag, "watermark": _iso(new_watermark)})
        return self.written


class ReleaseStream(Stream):
    """Every release (a repo has few): drafts get published and notes edited in place."""

    def run(self) -> int:
        cursor = self.cursor()
        first, rest = self.first_page(f"/repos/{self.repo}/releases", {}, cursor.get("etag"))
        if first.not_modified:
            return 0
        self.progress.total(None if first.next_url else len(first.items))
        batch: list[Row] = []
        for release in _items(first, rest):
            batch.append(mapping.to_release(self.repo, release))
            self.progress.advance()
            if len(batch) >= self.ctx.batch_size:
                with self.ctx.transaction() as session:
                    self.upsert(session, Release, batch)
                batch = []
        with self.ctx.transaction() as session:
            self.upsert(session, Release, batch)
            self.save(session, {"etag": first.etag})
        return self.written
