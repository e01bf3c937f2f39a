"""Run every configured source, scope by scope, and record each run.

One failing source or scope never stops the others. A source without credentials is skipped
with one line saying what to set; a source whose credentials are refused fails once (its other
scopes would only fail the same way) and the remaining sources still run. `run_sync` is a plain
function: the CLI calls it with progress bars, the scheduler without.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from collectors.base import Collector, NullProgress, ProgressSink, SyncContext
from collectors.errors import AuthenticationFailed, NotConfigured, SourceError
from storage import sync_state
from storage.db import session_scope

log = logging.getLogger(__name__)

SOURCES = ("sentry", "jira", "github")


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
    source runs in a thread of its own; scopes within a source keep their order (Jira's boards
    must land before the projects whose sprint memberships point at them).
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

    with ThreadPoolExecutor(max_workers=len(names) or 1, thread_name_prefix="sync") as pool:
        results = list(pool.map(one, names))
    return [report for source_reports in results for report in source_reports]


def _run_source(
    engine: Engine, collector: Collector, *, full: bool, progress: ProgressSink
) -> list[ScopeReport]:
    source = collector.source
    with session_scope(engine) as session:
        if full:
            sync_state.clear_cursors(session, source=source)
        scopes = collector.scopes(session)
    reports = []
    for scope in scopes:
        report, refused = _run_scope(engine, collector, scope, full=full, progress=progress)
        reports.append(report)
        if refused:
            # The same credentials will be refused for every other scope: say it once.
            break
    return reports


def _run_scope(
    engine: Engine, collector: Collector, scope: str, *, full: bool, progress: ProgressSink
) -> tuple[ScopeReport, bool]:
    source = collector.source
    with session_scope(engine) as session:
        run_id = sync_state.start_run(session, source=source, scope=scope)
    before, started = collector.requests, time.monotonic()
    rows, error, refused = 0, None, False
    try:
        with progress.scope(source, scope) as bar:
            rows = collector.sync_scope(scope, SyncContext(engine, full=full), bar)
    except AuthenticationFailed as exc:
        error, refused = str(exc), True
    except SourceError as exc:
        error = str(exc)
    except Exception as exc:  # one scope's bug must not stop the others; keep it visible
        log.exception("%s %s: unexpected error", source, scope)
        error = f"{source}: unexpected {type(exc).__name__}: {exc}"
    requests = collector.requests - before
    with session_scope(engine) as session:
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
