"""Run every configured source, scope by scope, and record each run.

One failing source or scope never stops the others. A source without credentials is skipped
with one line saying what to set; a source whose credentials are refused fails once (its other
scopes would only fail the same way) and the remaining sources still run. `run_sync` is a plain
function: the CLI calls it with progress bars, the scheduler without.
"""

from __future__ import annotations

import contextvars
import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from collectors.base import (
    Collector,
    LazyScopeProgress,
    NullProgress,
    ProgressSink,
    SyncContext,
    transaction,
)
from collectors.errors import AuthenticationFailed, NotConfigured, SourceError
from collectors.http import tallying
from storage import sync_state

log = logging.getLogger(__name__)

SOURCES = ("sentry", "jira", "github")
# Scopes of one source in flight at once. A scope mostly waits (on the source, on the
# database), so a few side by side keep both busy; each holds at most one database connection.
SCOPE_WORKERS = 4
GC_THRESHOLD = 50_000  # allocations between young-generation collections during a sync


@dataclass(frozen=True)
class ScopeReport:
    source: str
    scope: str
    status: str  # succeeded | failed | skipped
    rows: int = 0
    requests: int = 0
    seconds: float = 0.0
    error: str | None = None


def build_collector(source: str, env: Mapping[str, str]) -> Collector:
    """The collector for ``source`` configured from ``env``; raises `NotConfigured`."""
    if source == "sentry":
        from collectors.sentry.sync import SentryCollector

        return SentryCollector.from_env(env)
    if source == "jira":
        from collectors.jira.sync import JiraCollector

        return JiraCollector.from_env(env)
    if source == "github":
        from collectors.github.sync import GitHubCollector

        return GitHubCollector.from_env(env)
    raise ValueError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")


def run_sync(
    engine: Engine,
    *,
    sources: Sequence[str] | None = None,
    full: bool = False,
    env: Mapping[str, str] | None = None,
    progress: ProgressSink | None = None,
    factory: Callable[[str, Mapping[str, str]], Collector] = build_collector,
) -> list[ScopeReport]:
    """Sync ``sources`` (all by default) side by side; reports come back in source order.

    Sources share nothing but the database, and a sync mostly waits on the network, so each
    source runs in a thread of its own, and within a source the scopes of one stage run a few
    at a time (`Collector.stages`: Jira's boards land before the projects whose sprint
    memberships point at them).
    """
    env = os.environ if env is None else env
    sink = progress or NullProgress()
    names = list(sources or SOURCES)

    def one(source: str) -> list[ScopeReport]:
        try:
            collector = factory(source, env)
        except NotConfigured as exc:
            log.info("%s", exc)
            return [ScopeReport(source, "-", "skipped", error=str(exc))]
        try:
            return _run_source(engine, collector, full=full, progress=sink)
        finally:
            collector.close()

    with (
        _fewer_collections(),
        ThreadPoolExecutor(len(names) or 1, thread_name_prefix="sync") as pool,
    ):
        results = list(pool.map(one, names))
    return [report for source_reports in results for report in source_reports]


class _FewerCollections:
    """Let the cyclic garbage collector run far less often while syncs are running.

    A sync allocates millions of short-lived containers (decoded JSON, rows) that reference
    counting frees on its own; with the default thresholds the collector still scans the young
    objects every 700 allocations and the older ones every so often, which cost a sixth to a
    quarter of the sync's CPU (bench/sync.py). The thresholds are restored when the last of the
    syncs running at once ends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._threshold = gc.get_threshold()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._threshold = gc.get_threshold()
                gc.set_threshold(GC_THRESHOLD, 20, 100)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    gc.set_threshold(*self._threshold)


_fewer_collections = _FewerCollections()


def _run_source(
    engine: Engine, collector: Collector, *, full: bool, progress: ProgressSink
) -> list[ScopeReport]:
    """The collector's scopes, stage by stage; within a stage, `SCOPE_WORKERS` side by side.

    The very first scope runs alone: when the credentials are refused it fails, once, and the
    source stops there. A refusal met later (credentials revoked mid-sync) starts no further
    scopes. Reports come back in the collector's scope order.
    """
    source = collector.source
    with transaction(engine) as session:
        if full:
            sync_state.clear_cursors(session, source=source)
        scopes = collector.scopes(session)
    stages = [stage for stage in collector.stages(scopes) if stage]
    if not stages:
        return []
    report, refused = _run_scope(engine, collector, stages[0][0], full=full, progress=progress)
    reports = {report.scope: report}
    if refused:
        return [report]
    stop = threading.Event()

    def one(scope: str) -> None:
        if stop.is_set():
            return
        report, refused = _run_scope(engine, collector, scope, full=full, progress=progress)
        reports[scope] = report
        if refused:
            stop.set()

    rest = [stages[0][1:], *stages[1:]]
    with ThreadPoolExecutor(SCOPE_WORKERS, thread_name_prefix=f"sync-{source}") as pool:
        for stage in rest:
            if stop.is_set():
                break
            # Each scope in a copy of this context: nothing one sets leaks into another.
            futures = [pool.submit(contextvars.copy_context().run, one, s) for s in stage]
            for future in futures:
                future.result()
    return [reports[scope] for scope in scopes if scope in reports]


def _run_scope(
    engine: Engine, collector: Collector, scope: str, *, full: bool, progress: ProgressSink
) -> tuple[ScopeReport, bool]:
    source = collector.source
    with transaction(engine) as session:
        run_id = sync_state.start_run(session, source=source, scope=scope)
    started = time.monotonic()
    rows, error, refused = 0, None, False
    bar = LazyScopeProgress(progress, source, scope)
    with tallying() as tally:
        try:
            rows = collector.sync_scope(scope, SyncContext(engine, full=full), bar)
        except AuthenticationFailed as exc:
            error, refused = str(exc), True
        except SourceError as exc:
            error = str(exc)
        except Exception as exc:  # one scope's bug must not stop the others; keep it visible
            log.exception("%s %s: unexpected error", source, scope)
            error = f"{source}: unexpected {type(exc).__name__}: {exc}"
        finally:
            bar.close()
    requests = tally.count
    with transaction(engine) as session:
        sync_state.finish_run(session, run_id, rows=rows, requests=requests, error=error)
    report = ScopeReport(
        source,
        scope,
        "failed" if error else "succeeded",
        rows=rows,
        requests=requests,
        seconds=time.monotonic() - started,
        error=error,
    )
    return report, refused
