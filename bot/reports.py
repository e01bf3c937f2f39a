"""Reports for the bot's surfaces (commands, App Home, digests), computed once per data change.

Fifty people typing ``/sitrep health`` after the morning sync ask the same question; the answer
only changes when the data does. So a report document is cached by what it asked
(`ReportRequest`) and the data it read (`data_version`: the last finished sync and the last
products change), and kept for five minutes (its window ends when it was computed). Concurrent
askers of the same report wait for the first one's answer instead of all computing it (single
flight).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from insights.llm import LlmConfig
from insights.queries.reports import build_dora_report, build_health_report
from insights.queries.scope import resolve_scope
from insights.queries.sprint import build_sprint_report
from storage.db import session_scope
from storage.models import Product, SyncRun

KINDS = ("health", "dora", "sprint")
T = TypeVar("T")


@dataclass(frozen=True)
class ReportRequest:
    """One report: ``product`` or ``team`` (neither: the organisation), a window of ``days``
    (health and DORA), a ``board`` and ``sprint`` (sprint reports), ended at ``as_of`` (now)."""

    kind: str
    product: str | None = None
    team: str | None = None
    days: int = 30
    board: str | None = None
    sprint: str | None = None
    as_of: dt.datetime | None = None


class Reports:
    """Builds report documents (``Report.as_dict()``), narrated by the LLM when configured."""

    def __init__(
        self,
        engine: Engine,
        *,
        llm: LlmConfig | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        max_entries: int = 256,
        ttl: dt.timedelta = dt.timedelta(minutes=5),
        processes: int = 0,
    ) -> None:
        self.engine = engine
        # ``processes`` > 0: reports are computed in that many processes of their own (`sitrep
        # serve`: one per core), so a report being computed never holds the web process's GIL
        # while acknowledgements wait. Spawned, not forked: the web process runs threads.
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        if processes > 0:
            self._pool = ProcessPoolExecutor(
                processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(engine.url.render_as_string(hide_password=False),),
            )
        self.llm = llm
        self.clock = clock
        self.max_entries = max_entries
        self.ttl = ttl
        self._cache: OrderedDict[Hashable, tuple[dt.datetime, dict[str, Any]]] = OrderedDict()
        self._flights: dict[Hashable, threading.Lock] = {}
        self._rendered: OrderedDict[tuple[int, str], tuple[dict[str, Any], Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, request: ReportRequest) -> dict[str, Any]:
        """The report; `insights.errors.InsightsError` (e.g. an unknown product) passes through."""
        now = (request.as_of or self.clock()).astimezone(dt.UTC)
        key = (request, self.data_version())
        found = self._fresh(key, now)
        if found is not None:
            return found
        with self._lock:
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:
            found = self._fresh(key, now)
            if found is not None:
                return found
            doc = self._build(request, now)
            with self._lock:
                self._cache[key] = (now, doc)
                self._flights.pop(key, None)
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
        return doc

    def rendered(
        self, request: ReportRequest, name: str, render: Callable[[dict[str, Any]], T]
    ) -> T:
        """``render(document)`` of the report, worked out once per cached document and ``name``:
        fifty people asking for the same report get the same Block Kit message, built and
        checked against Slack's limits once. The result is shared: treat it as read-only."""
        doc = self.get(request)
        key = (id(doc), name)  # the entry keeps ``doc`` alive, so its id stays its own
        with self._lock:
            hit = self._rendered.get(key)
            if hit is not None and hit[0] is doc:
                self._rendered.move_to_end(key)
                return cast(T, hit[1])
        value = render(doc)
        with self._lock:
            self._rendered[key] = (doc, value)
            while len(self._rendered) > self.max_entries:
                self._rendered.popitem(last=False)
        return value

    def _fresh(self, key: Hashable, now: dt.datetime) -> dict[str, Any] | None:
        """A cached report of the same data, computed less than `ttl` ago (its window ends when it
        was computed: a few minutes' slide changes nothing a person would act on)."""
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            computed, doc = entry
            if not dt.timedelta(0) <= now - computed < self.ttl:
                return None
            self._cache.move_to_end(key)
            return doc

    def data_version(self) -> tuple[Any, ...]:
        """Changes whenever a sync finishes or the products file is applied."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    sa.select(sa.func.max(SyncRun.finished_at)).scalar_subquery(),
                    sa.select(sa.func.max(Product.updated_at)).scalar_subquery(),
                    sa.select(sa.func.count(Product.id)).scalar_subquery(),
                )
            ).one()
        return tuple(row)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._rendered.clear()

    def start(self) -> None:
        """Start the report processes now (each imports the insights code: ~1 s), rather than
        on the first question."""
        if self._pool is not None:
            list(self._pool.map(_ready, range(self.processes)))

    def close(self) -> None:
        """Stop the report processes (waiting for a report being computed, so none is left)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _build(self, request: ReportRequest, now: dt.datetime) -> dict[str, Any]:
        if self._pool is None:
            return build_document(self.engine, request, now, self.llm)
        return self._pool.submit(_build_in_worker, request, now, self.llm).result()


# ---------------------------------------------------------------- report processes

_worker: dict[str, Engine] = {}  # a report process's own engine (`_init_worker`)


def _init_worker(url: str) -> None:
    _worker["engine"] = sa.create_engine(url, pool_size=1, max_overflow=2)
    # Go with the web process however it ends (uvicorn re-raises SIGTERM after its graceful
    # shutdown, so `Reports.close` may never run; a SIGKILL gives no chance at all).
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(0)


def _ready(_: int) -> bool:
    return "engine" in _worker


def _build_in_worker(
    request: ReportRequest, now: dt.datetime, llm: LlmConfig | None
) -> dict[str, Any]:
    return build_document(_worker["engine"], request, now, llm)


def build_document(
    engine: Engine, request: ReportRequest, now: dt.datetime, llm: LlmConfig | None
) -> dict[str, Any]:
    """The report's document (`Report.as_dict()`), narrated by the LLM when ``llm`` is set."""
    with session_scope(engine) as session:
        scope = resolve_scope(session, product=request.product, team=request.team)
        if request.kind == "health":
            report: Any = build_health_report(session, scope, days=request.days, now=now)
        elif request.kind == "dora":
            report = build_dora_report(session, scope, days=request.days, now=now)
        elif request.kind == "sprint":
            report = build_sprint_report(
                session, scope, now=now, board=request.board, sprint=request.sprint
            )
        else:
            raise ValueError(f"unknown report kind {request.kind!r}; use one of {KINDS}")
    if llm is not None and report.summary is not None:
        from insights.llm import summarise  # openai is slow to import; only when used

        summary = summarise(
            engine,
            kind=report.kind,
            facts=report.facts(),
            fallback=report.summary,
            config=llm,
        )
        report = report.with_summary(summary)
    doc: dict[str, Any] = report.as_dict()
    return doc
