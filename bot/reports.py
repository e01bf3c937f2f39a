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
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from insights.llm import LlmConfig
from insights.queries.reports import build_dora_report, build_health_report
from insights.queries.scope import resolve_scope
from insights.queries.sprint import build_sprint_report
from storage.db import session_scope
from storage.models import Product, SyncRun

KINDS = ("health", "dora", "sprint")


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
    ) -> None:
        self.engine = engine
        self.llm = llm
        self.clock = clock
        self.max_entries = max_entries
        self.ttl = ttl
        self._cache: OrderedDict[Hashable, tuple[dt.datetime, dict[str, Any]]] = OrderedDict()
        self._flights: dict[Hashable, threading.Lock] = {}
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

    def _build(self, request: ReportRequest, now: dt.datetime) -> dict[str, Any]:
        with session_scope(self.engine) as session:
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
        if self.llm is not None and report.summary is not None:
            from insights.llm import summarise  # openai is slow to import; only when used

            summary = summarise(
                self.engine,
                kind=report.kind,
                facts=report.facts(),
                fallback=report.summary,
                config=self.llm,
            )
            report = report.with_summary(summary)
        doc: dict[str, Any] = report.as_dict()
        return doc
