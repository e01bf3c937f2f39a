"""`storage.repository.upsert_rows` stages big batches with COPY and sends small ones as VALUES;
both paths must store the same values and report the same counts.

(Here rather than in tests/storage: the small-batch path exists for the collectors' incremental
syncs, whose batches are mostly a handful of rows.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from storage import repository
from storage.db import session_scope
from storage.models import ErrorEventCount, ErrorIssue, PullRequest
from storage.repository import UpsertResult, ids_by_external_id, upsert_rows

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
PATHS = {"copy": 0, "values": 1_000}  # SMALL_BATCH: every batch staged / every batch as VALUES


@pytest.fixture
def engine(database_url: URL) -> Iterator[Engine]:
    engine = sa.create_engine(database_url)
    yield engine
    engine.dispose()


def pull(path: str, n: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "source": "github",
        "external_id": f"acme/{path}#{n}",
        "url": f"https://github.com/acme/{path}/pull/{n}",
        "repo": f"acme/{path}",
        "number": n,
        "title": f"Change {n} — «naïve» \\ tab\there",
        "author": None if n % 3 == 0 else "ada",
        "state": "merged",
        "original_state": "closed",
        "labels": [] if n % 2 else ["backend", "needs, review", 'quote"d'],
        "created_at": T0 + dt.timedelta(hours=n, microseconds=n),
        "merged_at": None if n % 4 == 0 else T0 + dt.timedelta(hours=n + 5),
        "additions": 70_000 if n == 1 else n,  # int4 and int2 parameters in one column
        "raw": None if n == 5 else {"number": n, "nested": {"ok": True, "s": "\u00e9\n"}},
    }
    row.update(overrides)
    return row


def stored(engine: Engine, path: str) -> list[tuple[Any, ...]]:
    columns = [c.name for c in PullRequest.__table__.columns if c.name not in ("id", "synced_at")]
    query = sa.text(
        f"SELECT {', '.join(columns)} FROM pull_requests WHERE repo = :repo ORDER BY number"
    )
    with engine.connect() as conn:
        rows = conn.execute(query, {"repo": f"acme/{path}"}).all()
    return [
        tuple(
            v for c, v in zip(columns, row, strict=True) if c not in ("external_id", "url", "repo")
        )
        for row in rows
    ]


def test_both_paths_store_the_same_values_and_counts(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    results: dict[str, list[UpsertResult]] = {}
    for path, small in PATHS.items():
        monkeypatch.setattr(repository, "SMALL_BATCH", small)
        steps = [
            [pull(path, n) for n in range(1, 9)],
            [pull(path, n) for n in range(1, 9)],  # unchanged
            [pull(path, n, title="Renamed") if n in (2, 7) else pull(path, n) for n in range(1, 9)]
            + [pull(path, 9), pull(path, 9, title="last wins")],
        ]
        results[path] = []
        for rows in steps:
            with session_scope(engine) as session:
                results[path].append(upsert_rows(session, PullRequest, rows))
    assert (
        results["copy"]
        == results["values"]
        == [
            UpsertResult(inserted=8),
            UpsertResult(unchanged=8),
            UpsertResult(inserted=1, updated=2, unchanged=6),
        ]
    )
    assert stored(engine, "copy") == stored(engine, "values")
    assert "last wins" in stored(engine, "values")[-1]


def test_both_paths_handle_composite_keys_and_dates(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    issue = {
        "source": "sentry",
        "external_id": "101",
        "project": "payments-api",
        "title": "KeyError: card",
        "level": "error",
        "status": "unresolved",
        "first_seen": T0,
        "last_seen": T0,
    }
    with session_scope(engine) as session:
        upsert_rows(session, ErrorIssue, [issue])
        issue_id = ids_by_external_id(session, ErrorIssue, "sentry", ["101"])["101"]
    for path, small in PATHS.items():
        monkeypatch.setattr(repository, "SMALL_BATCH", small)
        day = 1 if path == "copy" else 11
        counts = [
            {"error_issue_id": issue_id, "day": dt.date(2026, 3, d), "count": d}
            for d in range(day, day + 3)
        ]
        with session_scope(engine) as session:
            assert upsert_rows(session, ErrorEventCount, counts) == UpsertResult(inserted=3)
            counts[0]["count"] = 40
            result = upsert_rows(session, ErrorEventCount, counts)
        assert result == UpsertResult(updated=1, unchanged=2)
