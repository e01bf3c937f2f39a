"""Each board's usual time per status, kept in Postgres (``board_baselines``) per history window.

The usual times (`insights.flow.UsualTime`) read every status change of a board's items over
the 180 whole days before the day a sprint is read (`insights.sprint.windows`): on a large
organisation ~250k changes, most of a sprint report's cost. The window only moves once a day
and the changes only with a sync, so the numbers are computed once per board, window and data
version, stored, and read back by every later report (the worker's, the web processes', the
CLI's) until either changes.

The data version (`data_version`) moves whenever what the usual times read can have changed:
a Jira sync finished (it may have added, changed or re-homed items, transitions and sprint
memberships), or work items or transitions were written outside a sync (new rows: their ids
grow). A stored row with another version is recomputed on the next read and replaced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from insights.flow import UsualTime
from storage.models import BoardBaseline, SyncRun, WorkItem, WorkItemTransition

# Rows not rewritten for this long are dropped (windows of closed sprints read long ago).
KEEP = dt.timedelta(days=30)


class Key(NamedTuple):
    """One board's history window: ``boards.id``, and the window's start and end."""

    board_id: int
    since: dt.datetime
    until: dt.datetime


def data_version(session: Session) -> str:
    """What the stored usual times were read from (module docstring), as one short string."""
    synced = sa.select(sa.func.max(SyncRun.finished_at)).where(SyncRun.source == "jira")
    row = (
        session.connection()
        .execute(
            sa.select(
                synced.scalar_subquery(),
                sa.select(sa.func.max(WorkItem.id)).scalar_subquery(),
                sa.select(sa.func.max(WorkItemTransition.id)).scalar_subquery(),
            )
        )
        .one()
    )
    finished, items, transitions = row
    return f"{finished.isoformat() if finished else '-'}|{items or 0}|{transitions or 0}"


def load(session: Session, keys: Iterable[Key], version: str) -> dict[Key, dict[str, UsualTime]]:
    """The stored usual times of these windows that were read from ``version``."""
    wanted = list(keys)
    if not wanted:
        return {}
    b = BoardBaseline
    query = sa.select(b.board_id, b.since, b.until, b.usual).where(
        sa.tuple_(b.board_id, b.since, b.until).in_(wanted), b.version == version
    )
    return {
        Key(board_id, since, until): decode(usual)
        for board_id, since, until, usual in session.connection().execute(query)
    }


def store(session: Session, found: Mapping[Key, Mapping[str, UsualTime]], version: str) -> None:
    """Keep these usual times (replacing what a window held), and drop long-unused rows."""
    if not found:
        return
    rows = [
        {
            "board_id": key.board_id,
            "since": key.since,
            "until": key.until,
            "version": version,
            "usual": encode(usual),
        }
        for key, usual in found.items()
    ]
    statement = insert(BoardBaseline).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=[BoardBaseline.board_id, BoardBaseline.since, BoardBaseline.until],
        set_={
            "version": statement.excluded.version,
            "usual": statement.excluded.usual,
            "computed_at": sa.func.now(),
        },
    )
    connection = session.connection()
    connection.execute(statement)
    connection.execute(
        sa.delete(BoardBaseline).where(BoardBaseline.computed_at < sa.func.now() - KEEP)
    )


def encode(usual: Mapping[str, UsualTime]) -> dict[str, list[float | int | None]]:
    return {status: [u.visits, u.median_hours, u.p85_hours] for status, u in usual.items()}


def decode(stored: Mapping[str, list[float | int | None]]) -> dict[str, UsualTime]:
    """Back to `UsualTime`s, in status order as `insights.flow.usual_times` gives them."""
    return {
        status: UsualTime(int(visits or 0), median, p85)
        for status, (visits, median, p85) in sorted(stored.items())
    }
