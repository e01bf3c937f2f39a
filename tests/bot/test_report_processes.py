"""Reports computed in report processes (`sitrep serve`'s default) are the reports computed in
the web process: same documents, and a wrong name still comes back as `UnknownScope`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from bot.reports import ReportRequest, Reports, build_document
from insights.errors import UnknownScope

from .conftest import BOT_NOW


@pytest.fixture
def in_processes(synced_db: sa.Engine) -> Iterator[Reports]:
    reports = Reports(synced_db, clock=lambda: BOT_NOW, processes=1)
    reports.start()
    yield reports
    reports.close()


def test_reports_from_a_report_process_equal_those_computed_here(
    synced_db: sa.Engine, in_processes: Reports
) -> None:
    for request in (
        ReportRequest("health"),
        ReportRequest("dora", product="Payment System", days=90),
        ReportRequest("sprint", product="Payment System"),
    ):
        # Computed here directly (another `Reports` would find the shared copy).
        assert in_processes.get(request) == build_document(synced_db, request, BOT_NOW, None)


def test_an_unknown_name_crosses_back_as_unknown_scope(in_processes: Reports) -> None:
    with pytest.raises(UnknownScope) as raised:
        in_processes.get(ReportRequest("health", product="Paymnet System"))
    assert raised.value.kind == "product"
    assert raised.value.suggestions[0] == "Payment System"


def test_close_stops_the_report_processes(synced_db: sa.Engine) -> None:
    reports = Reports(synced_db, clock=lambda: BOT_NOW, processes=1)
    reports.start()
    pool = reports._pool
    assert pool is not None
    workers = list(pool._processes.values())
    assert workers and all(p.is_alive() for p in workers)
    reports.close()
    for process in workers:
        process.join(timeout=10)
    assert not any(p.is_alive() for p in workers)


def test_sprint_questions_asked_while_the_processes_are_busy_are_computed_together(
    synced_db: sa.Engine, in_processes: Reports
) -> None:
    """A burst of sprint questions about several scopes (what follows a sync) waits for the busy
    report process, then is computed in one batch that reads each board once; each asker gets
    the document it would have got alone. The process is held busy by a table lock."""
    first = ReportRequest("sprint", team="payments")
    burst = [
        ReportRequest("sprint"),
        ReportRequest("sprint", product="Payment System"),
        ReportRequest("sprint", product="Paymnet System"),  # unknown: its asker alone is told
        ReportRequest("sprint", team="mobile"),
    ]
    lock = synced_db.connect()
    lock.execute(sa.text("LOCK TABLE boards IN ACCESS EXCLUSIVE MODE"))
    results: dict[ReportRequest, object] = {}

    def ask(request: ReportRequest) -> None:
        try:
            results[request] = in_processes.get(request)
        except UnknownScope as exc:
            results[request] = exc

    with ThreadPoolExecutor(len(burst) + 1) as askers:
        askers.submit(ask, first)
        deadline = time.monotonic() + 10
        while in_processes.batches < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        for request in burst:
            askers.submit(ask, request)
        while in_processes.queued() < len(burst) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert in_processes.queued() == len(burst)
        lock.rollback()  # the first report goes on; the burst follows as one batch
        lock.close()
    assert in_processes.batches == 2
    for request in (first, *burst):
        if request.product == "Paymnet System":
            assert isinstance(results[request], UnknownScope)
        else:
            assert results[request] == build_document(synced_db, request, BOT_NOW, None)
