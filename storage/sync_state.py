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


def get_cursor(session: Session, *, source: str, scope: str) -> dict[str, Any] | None:
    row = session.get(SyncCursor, (source, scope))
    return None if row is None else dict(row.cursor)


def set_cursor(session: Session, *, source: str, scope: str, cursor: dict[str, Any]) -> None:
    statement = insert(SyncCursor).values(source=source, scope=scope, cursor=cursor)
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
    run = SyncRun(source=source, scope=scope, status="running")
    session.add(run)
    session.flush()
    return run.id


def finish_run(
    session: Session,
    run_id: int,
    *,
    rows: int,
    requests: int,
    error: str | None = None,
) -> None:
    session.execute(
        sa.update(SyncRun)
        .where(SyncRun.id == run_id)
        .values(
            status="failed" if error else "succeeded",
            finished_at=sa.func.clock_timestamp(),
            rows=rows,
            requests=requests,
            error=error,
        )
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
