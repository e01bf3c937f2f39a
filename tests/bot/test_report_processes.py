"""Reports computed in report processes (`sitrep serve`'s default) are the reports computed in
the web process: same documents, and a wrong name still comes back as `UnknownScope`."""

from __future__ import annotations

from collections.abc import Iterator

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
