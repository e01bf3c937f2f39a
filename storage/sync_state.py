"""Sync bookkeeping: a cursor per source and scope, and a record of every run.

A cursor is opaque JSON owned by the collector that wrote it. Collectors save it in the same
transaction as the rows it covers, so after a crash the cursor never claims more than was
committed: the next run resumes from it and the idempotent upserts absorb any overlap.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from storage.models import SyncCursor, SyncRun

# Core statements on the tables, not ORM ones: every scope of every sync runs these, and the
# ORM's unit of work costs several times the CPU of the statement itself.
_CURSORS: sa.Table = SyncCursor.__table__  # type: ignore[assignment]
_RUNS: sa.Table = SyncRun.__table__  # type: ignore[assignment]
_GET_CURSOR = sa.select(_CURSORS.c.cursor).where(
    _CURSORS.c.source == sa.bindparam("source"), _CURSORS.c.scope == sa.bindparam("scope")
)
_START_RUN = sa.insert(_RUNS).values(status="running").returning(_RUNS.c.id)
_FINISH_RUN = (
    sa.update(_RUNS)
    .where(_RUNS.c.id == sa.bindparam("run_id"))
    .values(finished_at=sa.func.clock_timestamp())
)


def get_cursor(session: Session, *, source: str, scope: str) -> dict[str, Any] | None:
    cursor = session.execute(_GET_CURSOR, {"source": source, "scope": scope}).scalar_one_or_none()
    return None if cursor is None else dict(cursor)


def set_cursor(session: Session, *, source: str, scope: str, cursor: dict[str, Any]) -> None:
    statement = insert(_CURSORS).values(source=source, scope=scope, cursor=cursor)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["source", "scope"],
            set_={"cursor": statement.excluded.cursor, "updated_at": sa.func.now()},
        )
    )


def clear_cursors(session: Session, *, source: str) -> int:
    """Forget how far ``source`` got (a full resync); returns how many cursors were dropped."""
    result = session.execute(sa.delete(SyncCursor).where(SyncCursor.source == source))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def start_run(session: Session, *, source: str, scope: str) -> int:
    return int(session.execute(_START_RUN, {"source": source, "scope": scope}).scalar_one())


def finish_run(
    session: Session,
    run_id: int,
    *,
    rows: int,
    requests: int,
    error: str | None = None,
) -> None:
    session.execute(
        _FINISH_RUN,
        {
            "run_id": run_id,
            "status": "failed" if error else "succeeded",
            "rows": rows,
            "requests": requests,
            "error": error,
        },
    )


@dataclass(frozen=True)
class RunRecord:
    source: str
    scope: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    rows: int
    requests: int
    error: str | None

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def recent_runs(session: Session, *, limit: int = 30, source: str | None = None) -> list[RunRecord]:
    query = sa.select(SyncRun).order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(limit)
    if source:
        query = query.where(SyncRun.source == source)
    return [
        RunRecord(
            r.source, r.scope, r.status, r.started_at, r.finished_at, r.rows, r.requests, r.error
        )
        for r in session.scalars(query)
    ]


def mapped_keys(session: Session, kind: str) -> list[str]:
    """The keys of one mapping kind across active products: what a collector should sync."""
    from storage.models import Product, ProductMapping

    query = (
        sa.select(ProductMapping.key)
        .join(Product, Product.id == ProductMapping.product_id)
        .where(ProductMapping.kind == kind, Product.active)
        .order_by(ProductMapping.key)
    )
    return list(session.scalars(query))
