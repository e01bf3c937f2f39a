"""Report documents shared through Postgres: computed once, answered by every process, refreshed
by the worker (`Reports.refresh`) and never served for other data or after their time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from bot.reports import KINDS, ReportRequest, Reports, usual_requests
from storage.db import session_scope
from storage.models import Product, SyncRun
from storage.models_bot import ReportDocument

from .conftest import BOT_NOW

DORA = ReportRequest("dora", product="Payment System", days=90)
RENAMED = ReportRequest("health", product="Old Name")
At = Callable[[float], Reports]


def mark(engine: sa.Engine, request: ReportRequest) -> None:
    """Doctor the shared copy, so a reader shows whether it came from Postgres."""
    with engine.begin() as conn:
        updated = conn.execute(
            sa.update(ReportDocument)
            .where(ReportDocument.key == request.shared_key())
            .values(document=ReportDocument.document.op("||")(sa.cast({"marker": 1}, JSONB)))
        ).rowcount
    assert updated == 1


@pytest.fixture
def engine(synced_db: sa.Engine) -> sa.Engine:
    return synced_db


@pytest.fixture
def at(engine: sa.Engine) -> Callable[[float], Reports]:
    """A new process's `Reports` (nothing in memory), its clock ``minutes`` after `BOT_NOW`."""

    def reports(minutes: float) -> Reports:
        moment = BOT_NOW + dt.timedelta(minutes=minutes)
        return Reports(engine, clock=lambda: moment)

    return reports


def test_another_process_answers_from_the_shared_document(engine: sa.Engine, at: At) -> None:
    first = at(0).get(DORA)
    assert "marker" not in first
    mark(engine, DORA)
    assert at(2).get(DORA)["marker"] == 1  # read, not computed: the doctored copy shows
    assert {k: v for k, v in at(2).get(DORA).items() if k != "marker"} == first


def test_a_shared_document_of_older_data_or_past_its_time_is_computed_again(
    engine: sa.Engine, at: At
) -> None:
    at(0).get(DORA)
    mark(engine, DORA)
    assert "marker" not in at(5).get(DORA)  # `ttl` (5 minutes) later: computed again
    mark(engine, DORA)  # the copy computed at +5 min now carries the marker
    assert at(6).get(DORA)["marker"] == 1
    with session_scope(engine) as session:  # a sync finishes: the data version moves
        session.add(
            SyncRun(source="jira", scope="x", status="succeeded", finished_at=sa.func.now())
        )
    assert "marker" not in at(6).get(DORA)


def test_names_are_read_once_per_data_version(engine: sa.Engine, at: At) -> None:
    """`Reports.per_version`: fifty answers resolve against one read of the catalog, and a
    sync or a products change (a new data version) makes the next answer read it again."""
    reports, loads = at(0), []

    def load() -> int:
        loads.append(len(loads) + 1)
        return loads[-1]

    assert reports.per_version("names", reports.data_version(), load) == 1
    assert reports.per_version("names", reports.data_version(), load) == 1
    with session_scope(engine) as session:
        session.add(
            SyncRun(source="jira", scope="x", status="succeeded", finished_at=sa.func.now())
        )
    assert reports.per_version("names", reports.data_version(), load) == 2
    assert reports.per_version("other", reports.data_version(), load) == 3
    assert loads == [1, 2, 3]


def test_a_report_at_a_given_instant_stays_in_its_process(engine: sa.Engine, at: At) -> None:
    """A Share button asks for the report as of what the asker saw: kept in memory only."""
    at(0).get(ReportRequest("health", as_of=BOT_NOW - dt.timedelta(hours=1)))
    with session_scope(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ReportDocument)) == 0


def test_refresh_recomputes_the_usual_reports_and_those_asked_lately(
    engine: sa.Engine, at: At
) -> None:
    at(-3 * 24 * 60).get(ReportRequest("dora", team="Payments", days=7))  # asked 3 days ago
    at(0).get(DORA)
    with engine.begin() as conn:  # asked for a product that has been renamed since
        conn.execute(
            sa.insert(ReportDocument).values(
                key=RENAMED.shared_key(),
                request=RENAMED.fields(),
                version="[]",
                computed_at=BOT_NOW,
                asked_at=BOT_NOW,
                document={},
            )
        )
    later = at(3)
    wanted = later.wanted()
    with session_scope(engine) as session:
        usual = usual_requests(session)
    assert wanted[: len(usual)] == usual
    assert set(wanted[len(usual) :]) == {DORA, RENAMED}

    assert later.refresh(wanted) == len(usual) + 1  # the renamed product's is dropped
    with session_scope(engine) as session:
        rows = {r.key: r for r in session.scalars(sa.select(ReportDocument))}
    assert RENAMED.shared_key() not in rows
    refreshed = {r.shared_key() for r in [*usual, DORA]}
    for key in refreshed:
        assert rows[key].computed_at == BOT_NOW + dt.timedelta(minutes=3)
    # A refresh is no question: what nobody asked keeps its old asked_at.
    assert rows[DORA.shared_key()].asked_at == BOT_NOW
    # Another process finds the refreshed documents (doctored: read, not computed).
    mark(engine, DORA)
    assert at(4).get(DORA)["marker"] == 1


def test_usual_requests_cover_the_organisation_top_products_and_teams(
    engine: sa.Engine, at: At
) -> None:
    with session_scope(engine) as session:
        usual = usual_requests(session)
        top = session.scalars(sa.select(Product.name).where(Product.parent_id.is_(None))).all()
        teams = session.scalars(sa.select(Product.owner_team).distinct()).all()
        sub = session.scalars(sa.select(Product.name).where(Product.parent_id.is_not(None))).all()
    scopes = [(None, None), *((name, None) for name in top), *((None, t) for t in teams if t)]
    assert top and sub and any(teams)
    assert set(usual) == {
        ReportRequest(kind, product, team) for product, team in scopes for kind in KINDS
    }
    assert len(usual) == len(set(usual))
