"""Reports for the bot's surfaces (commands, App Home, digests), computed once per data change.

Fifty people typing ``/sitrep health`` after the morning sync ask the same question; the answer
only changes when the data does. So a report document is cached by what it asked
(`ReportRequest`) and the data it read (`data_version`: the last finished sync and the last
products change), and kept for five minutes (its window ends when it was computed). Concurrent
askers of the same report wait for the first one's answer instead of all computing it (single
flight).

Two levels: each process keeps the documents it used in memory, and every process shares them
through Postgres (`storage.models_bot.ReportDocument`). The worker refreshes the shared ones
people asked for in the last day, and the organisation's, top-level products' and teams' usual
reports, after each sync and every few minutes (`Reports.refresh`), so a question is usually
answered from a document computed before it was asked.

Reports not found are computed in report processes (`sitrep serve`), handed over in batches as
processes come free: the sprint questions about several scopes asked meanwhile are computed
together, each board once (`batch_family`, `Reports._dispatch`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from insights.errors import InsightsError
from insights.llm import LlmConfig
from insights.queries.reports import build_dora_report, build_health_report
from insights.queries.scope import Scope, resolve_scope
from insights.queries.sprint import build_sprint_report, build_sprint_reports
from storage.db import session_scope
from storage.models import Product, SyncRun
from storage.models_bot import ReportDocument

KINDS = ("health", "dora", "sprint")
T = TypeVar("T")
log = logging.getLogger("sitrep.reports")
# A shared document read again this long after it was last asked for is marked asked again
# (one UPDATE an hour per document, not one per question).
_ASKED_EVERY = dt.timedelta(hours=1)


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

    def shared_key(self) -> str | None:
        """The key of the shared document: the request without its instant. None for a request
        at a given instant (a Share button's), which only this process keeps."""
        if self.as_of is not None:
            return None
        return json.dumps(self.fields(), sort_keys=True)

    def fields(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "as_of"}


def usual_requests(session: Session) -> list[ReportRequest]:
    """The reports the worker keeps ready whether or not anyone asked yet: health, DORA (30
    days) and sprint of the organisation, of each top-level product and of each team."""
    top = session.scalars(
        sa.select(Product.name).where(Product.parent_id.is_(None), Product.active)
    ).all()
    teams = session.scalars(
        sa.select(Product.owner_team)
        .where(Product.owner_team.is_not(None), Product.active)
        .distinct()
    ).all()
    scopes: list[tuple[str | None, str | None]] = [
        (None, None),
        *((name, None) for name in sorted(top)),
        *((None, team) for team in sorted(t for t in teams if t)),
    ]
    return [ReportRequest(kind, product, team) for product, team in scopes for kind in KINDS]


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
        self._versioned: dict[str, tuple[tuple[Any, ...], Any]] = {}
        self._lock = threading.Lock()
        # Batches waiting for a report process, the open one of each family (requests of the
        # family join it until it is handed over) and how many processes are busy: `_dispatch`.
        self._waiting: deque[_Batch] = deque()
        self._open: dict[Hashable, _Batch] = {}
        self._busy = 0
        self.batches = 0  # handed to report processes so far

    def get(self, request: ReportRequest, version: tuple[Any, ...] | None = None) -> dict[str, Any]:
        """The report; `insights.errors.InsightsError` (e.g. an unknown product) passes through.
        ``version``: the `data_version` the caller read just before (saves reading it again)."""
        now = (request.as_of or self.clock()).astimezone(dt.UTC)
        if version is None:
            version = self.data_version()
        key = (request, version)
        found = self._fresh(key, now)
        if found is not None:
            return found
        with self._lock:
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:
            found = self._fresh(key, now)
            if found is not None:
                return found
            shared = self._shared(request, version, now)
            if shared is None:
                shared = self._build(request, now)
                self._share(request, version, shared, asked=now)
            computed, doc = shared
            with self._lock:
                self._remember(key, computed, doc)
                self._flights.pop(key, None)
        return doc

    def refresh(self, requests: Iterable[ReportRequest]) -> int:
        """Compute each report as of now and share it (the worker: after a sync, and before the
        shared documents grow older than `ttl`). A request that no longer resolves (a product
        renamed since someone asked) is dropped. Returns how many were refreshed."""
        now = self.clock().astimezone(dt.UTC)
        version = self.data_version()
        done = 0
        batches: dict[Hashable, list[ReportRequest]] = {}
        for request in dict.fromkeys(requests):  # each once, in order
            batches.setdefault(batch_family(request) or request, []).append(request)
        for batch in batches.values():
            for request, doc in zip(batch, self._compute(batch, now), strict=True):
                if isinstance(doc, InsightsError):
                    log.info("not refreshing %s: %s", request.shared_key(), doc)
                    self._forget(request)
                    continue
                self._share(request, version, (now, doc), asked=None)
                with self._lock:
                    self._remember((request, version), now, doc)
                done += 1
        return done

    def wanted(self, within: dt.timedelta = dt.timedelta(days=1)) -> list[ReportRequest]:
        """The reports worth keeping ready: `usual_requests`, then those asked for ``within``."""
        since = self.clock() - within
        with session_scope(self.engine) as session:
            asked = session.scalars(
                sa.select(ReportDocument.request)
                .where(ReportDocument.asked_at >= since)
                .order_by(ReportDocument.asked_at.desc())
            ).all()
            usual = usual_requests(session)
        return [*usual, *(ReportRequest(**fields) for fields in asked)]

    def _remember(self, key: Hashable, computed: dt.datetime, doc: dict[str, Any]) -> None:
        self._cache[key] = (computed, doc)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    def _shared(
        self, request: ReportRequest, version: tuple[Any, ...], now: dt.datetime
    ) -> tuple[dt.datetime, dict[str, Any]] | None:
        """The shared document of this request and data, if one was computed within `ttl`."""
        key = request.shared_key()
        if key is None:
            return None
        table = ReportDocument
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(table.computed_at, table.asked_at, table.document).where(
                    table.key == key,
                    table.version == _version_text(version),
                    table.computed_at > now - self.ttl,
                    table.computed_at <= now,
                )
            ).first()
            if row is None:
                return None
            if now - row.asked_at >= _ASKED_EVERY:
                conn.execute(sa.update(table).where(table.key == key).values(asked_at=now))
        return row.computed_at, row.document

    def _share(
        self,
        request: ReportRequest,
        version: tuple[Any, ...],
        computed: tuple[dt.datetime, dict[str, Any]],
        *,
        asked: dt.datetime | None,
    ) -> None:
        """Keep the document for every process. ``asked``: when someone asked for it (None for
        the worker's refresh, which must not make a document look wanted forever)."""
        key = request.shared_key()
        if key is None:
            return
        at, document = computed
        row = {
            "key": key,
            "request": request.fields(),
            "version": _version_text(version),
            "computed_at": at,
            "document": document,
        }
        statement = insert(ReportDocument).values(**row, asked_at=asked or at)
        updated = {name: statement.excluded[name] for name in row if name != "key"}
        if asked is not None:
            updated["asked_at"] = statement.excluded.asked_at
        try:
            with self.engine.begin() as conn:
                conn.execute(statement.on_conflict_do_update(index_elements=["key"], set_=updated))
        except sa.exc.DBAPIError:  # the answer is computed: a failed share only costs later
            log.exception("could not share the report %s", key)

    def _forget(self, request: ReportRequest) -> None:
        key = request.shared_key()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(ReportDocument).where(ReportDocument.key == key))

    def rendered(
        self,
        request: ReportRequest,
        name: str,
        render: Callable[[dict[str, Any]], T],
        version: tuple[Any, ...] | None = None,
    ) -> T:
        """``render(document)`` of the report, worked out once per cached document and ``name``:
        fifty people asking for the same report get the same Block Kit message, built and
        checked against Slack's limits once. The result is shared: treat it as read-only."""
        doc = self.get(request, version)
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

    def per_version(self, name: str, version: tuple[Any, ...], load: Callable[[], T]) -> T:
        """``load()`` once per data version and ``name``: e.g. the names a command resolves
        against, which change only with the data, so fifty answers need not read them fifty
        times. (Read after ``version``, a value may be a little newer than it: harmless, the
        next version replaces it.) Shared: treat it as read-only."""
        with self._lock:
            hit = self._versioned.get(name)
        if hit is not None and hit[0] == version:
            return cast(T, hit[1])
        value = load()
        with self._lock:
            self._versioned[name] = (version, value)
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
        """Forget every document: this process's and the shared ones."""
        with self._lock:
            self._cache.clear()
            self._rendered.clear()
            self._versioned.clear()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(ReportDocument))

    def start(self) -> None:
        """Start the report processes now (each imports the insights code: ~1 s), rather than
        on the first question."""
        if self._pool is not None:
            list(self._pool.map(_ready, range(self.processes)))

    def close(self) -> None:
        """Stop the report processes (waiting for a report being computed, so none is left)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            with self._lock:
                self._pool = None
                waiting, self._waiting = list(self._waiting), deque()
                self._open.clear()
            for batch in waiting:  # never handed over: their askers must not wait forever
                for future in batch.futures:
                    future.set_exception(CancelledError())

    def _build(
        self, request: ReportRequest, now: dt.datetime
    ) -> tuple[dt.datetime, dict[str, Any]]:
        """The report as of ``now`` (or a moment earlier, when it is computed with others asked
        before it: see `_dispatch`) and that instant."""
        if self._pool is None:
            return now, _raised(self._compute([request], now)[0])
        future: Future[tuple[dt.datetime, Document]] = Future()
        family = batch_family(request)
        with self._lock:
            batch = self._open.get(family) if family is not None else None
            if batch is None:
                batch = _Batch(family, now)
                self._waiting.append(batch)
                if family is not None:
                    self._open[family] = batch
            batch.add(request, now, future)
        self._dispatch()
        computed, doc = future.result()
        return computed, _raised(doc)

    def _dispatch(self) -> None:
        """Hand waiting batches to free report processes, oldest first. A batch waits while every
        process is busy, and questions of its family asked meanwhile join it: after a sync, the
        sprint reports of seven scopes asked at once are computed together, each board once."""
        while True:
            with self._lock:
                if self._pool is None or self._busy >= self.processes or not self._waiting:
                    return
                batch = self._waiting.popleft()
                if self._open.get(batch.family) is batch:  # closed: later questions wait anew
                    del self._open[batch.family]
                self._busy += 1
                self.batches += 1
                pool = self._pool
            try:
                task = pool.submit(_build_in_worker, batch.requests, batch.now, self.llm)
            except RuntimeError as exc:  # the pool is shut down
                task = Future()
                task.set_exception(exc)
            task.add_done_callback(functools.partial(self._settle, batch))

    def queued(self) -> int:
        """How many requests wait for a free report process."""
        with self._lock:
            return sum(len(batch.requests) for batch in self._waiting)

    def _settle(self, batch: _Batch, task: Future[list[Document]]) -> None:
        with self._lock:
            self._busy -= 1
        error = CancelledError() if task.cancelled() else task.exception()
        for i, future in enumerate(batch.futures):
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result((batch.now, task.result()[i]))
        self._dispatch()

    def _compute(self, requests: list[ReportRequest], now: dt.datetime) -> list[Document]:
        """Build ``requests`` together (one `batch_family`, or one request) in this process or
        a report process; an `InsightsError` is returned in its request's place."""
        if self._pool is None:
            return build_documents(self.engine, requests, now, self.llm)
        return self._pool.submit(_build_in_worker, requests, now, self.llm).result()


Document = dict[str, Any] | InsightsError


def _raised(doc: Document) -> dict[str, Any]:
    if isinstance(doc, InsightsError):
        raise doc
    return doc


def batch_family(request: ReportRequest) -> Hashable | None:
    """Requests of one family are computed together when asked at about the same time (they
    share their reading): the sprint reports of every board of a scope, any scope. None: the
    request is computed alone (health and DORA reports share nothing yet: batching them would
    only take turns away from the other report process)."""
    if request.kind == "sprint" and request.board is None and request.sprint is None:
        return ("sprint", request.as_of)
    return None


@dataclass
class _Batch:
    """Requests waiting for a report process, computed together (see `Reports._dispatch`) as
    of their first asker's instant, so the documents are fresh for every later question
    (`Reports._fresh`)."""

    family: Hashable | None
    now: dt.datetime
    requests: list[ReportRequest] = dataclasses.field(default_factory=list)
    futures: list[Future[tuple[dt.datetime, Document]]] = dataclasses.field(default_factory=list)

    def add(
        self,
        request: ReportRequest,
        now: dt.datetime,
        future: Future[tuple[dt.datetime, Document]],
    ) -> None:
        self.now = min(self.now, now)
        self.requests.append(request)
        self.futures.append(future)


def _version_text(version: tuple[Any, ...]) -> str:
    return json.dumps(version, default=str)


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
    requests: list[ReportRequest], now: dt.datetime, llm: LlmConfig | None
) -> list[Document]:
    return build_documents(_worker["engine"], requests, now, llm)


def build_documents(
    engine: Engine, requests: list[ReportRequest], now: dt.datetime, llm: LlmConfig | None
) -> list[Document]:
    """`build_document` of each request, those of one `batch_family` together; an
    `InsightsError` (an unknown product...) is returned in its request's place."""
    if len(requests) == 1 or batch_family(requests[0]) is None:
        return [_or_error(build_document, engine, r, now, llm) for r in requests]
    with session_scope(engine) as session:
        scopes: list[Scope | InsightsError] = [
            _or_error(resolve_scope, session, product=r.product, team=r.team) for r in requests
        ]
        valid = [s for s in scopes if isinstance(s, Scope)]
        built = iter(build_sprint_reports(session, valid, now=now))
    found: list[Document] = []
    for scope in scopes:
        if isinstance(scope, InsightsError):
            found.append(scope)
            continue
        found.append(_document(engine, next(built), llm))
    return found


def _or_error(build: Callable[..., T], *args: Any, **kwargs: Any) -> T | InsightsError:
    try:
        return build(*args, **kwargs)
    except InsightsError as exc:
        return exc


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
    return _document(engine, report, llm)


def _document(engine: Engine, report: Any, llm: LlmConfig | None) -> dict[str, Any]:
    """The report's document, its summary written by the LLM when ``llm`` is set."""
    if llm is not None:
        from insights.llm import with_llm_summary  # openai is slow to import; only when used

        report = with_llm_summary(engine, report, llm)
    doc: dict[str, Any] = report.as_dict()
    return doc
