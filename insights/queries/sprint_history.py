"""Load the work items of every board in a report and their status history, in two queries.

For each board (see `insights.queries.sprint` for the rest of its section) this reads the items
the board touches: its project's and those that were ever in one of its sprints, created by
the board's instant (``as_of``), and kept when they are in the reported sprint, in progress now,
or moved since the cutoff. Each with all its transitions (the pure code clips at ``as_of``).

The cutoff depends on whether the board's usual time per status is already known (kept per
history window in Postgres: `insights.queries.baselines`):

- **known**, and the board's sprint has started: the cutoff is the start of the flow window.
  The items are found by id first (`_recent_ids`: a few thousand on a large organisation),
  then read with their changes and what the report shows of them, in one query.
- **not known** (the first report of a day or after a sync), or no started sprint: the cutoff
  is the start of the history window (180 whole days before the day of ``as_of``) if earlier.
  Every kept item feeds the usual times (`flow_history.usual_times`), but only a few show in
  the flow window: for a started sprint, an item that stood still before the window
  (`flow_history.stood_still`) and is neither in the sprint nor in progress is left out of the
  board's items, and no `flow.ItemHistory` is built for it (~45k of ~50k items on the large
  sandbox). A second query reads the summary, assignee, points and status of those shown.

Rows come one per board and kept item, with the transitions packed per item so that ~250k of
them cost neither a row nor a Python object each: the instants as one ``bytea`` of big-endian
64-bit integers (PostgreSQL's binary timestamp: microseconds since 2000-01-01 UTC, from
``timestamptz_send``), the four status columns as one string split by U+001F.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session

from insights import flow, flow_history
from insights.queries.rows import rows_table
from storage.models import Sprint, SprintMembership, WorkItem, WorkItemTransition

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # where timestamptz_send counts from
MICROSECOND = dt.timedelta(microseconds=1)
SEPARATOR = "\x1f"  # ASCII unit separator: no Jira status name contains it
_TZ = sa.DateTime(timezone=True)
_FEW_BOARDS = 12  # up to this many boards the loader reads through indexes (measured: `_query`)


@dataclass(frozen=True)
class BoardQuery:
    """What to load for one board: its row id, project, reported sprint and windows."""

    board_id: int  # boards.id
    project_key: str | None
    sprint_id: int | None  # sprints.id of the reported sprint
    as_of: dt.datetime
    flow_start: dt.datetime
    history_start: dt.datetime
    # A started sprint: its flow numbers read only its items and the board's items that moved
    # in the flow window, so items that stood still before it can be left out.
    trim: bool
    history_end: dt.datetime  # whole days: the history window ends at the day of as_of
    # The usual times are known (`insights.queries.baselines`): the history need not be read.
    usual_known: bool = False

    @property
    def cutoff(self) -> dt.datetime:
        """Items that last moved before this are not read (unless in progress or in the sprint)."""
        if self.usual_known and self.trim:
            return self.flow_start
        return min(self.flow_start, self.history_start)


@dataclass
class BoardHistory:
    """One board's items (those the flow window can see) and its usual time per status."""

    items: dict[str, flow.ItemHistory] = field(default_factory=dict)
    usual: dict[str, flow.UsualTime] = field(default_factory=dict)


def load_histories(session: Session, boards: Sequence[BoardQuery]) -> dict[int, BoardHistory]:
    """Each board's items and usual times, by ``boards.id``."""
    found = {b.board_id: BoardHistory() for b in boards}
    if not boards:
        return found
    trims = {b.board_id: micros(b.flow_start) if b.trim else None for b in boards}
    usual = {
        b.board_id: flow_history.UsualTimes(micros(b.history_start), micros(b.history_end))
        for b in boards
        if not b.usual_known
    }
    shown: list[tuple[int, int, str, Sequence[int], list[str]]] = []
    recent = all(b.usual_known and b.trim for b in boards)
    ids = _recent_ids(session, boards) if recent else None
    # A batch of rows at a time, keeping nothing but what the flow window shows: ~50k rows
    # and their lists alive at once make each full pass of the garbage collector costly.
    rows = itertools.chain.from_iterable(
        session.connection().execute(_query(boards, ids)).partitions(2000)
    )
    details: dict[int, tuple[Any, ...]] = {}
    for board_id, item_id, status, member, raw, text, *shows in rows:
        if shows:  # what the report shows of the item came along (`_recent_items`)
            details[item_id] = tuple(shows)
        instants = unpack(raw)  # the creation, then each change
        parts = text.split(SEPARATOR) if text is not None else []
        if len(parts) != 4 * (len(instants) - 1):
            raise ValueError(
                f"a status name of work item {item_id} contains U+001F: rename it in Jira"
            )
        tally = usual.get(board_id)
        if parts and tally is not None:
            tally.add(instants, parts[0], parts[1::4])
        start = trims[board_id]
        if not (
            start is not None
            and parts
            and not member
            and status != flow.IN_PROGRESS
            and flow_history.stood_still(instants, parts[-3], parts[-1], start)
        ):
            shown.append((board_id, item_id, status, instants, parts))
    if ids is None:
        details = _details(session, {item_id for _, item_id, *_ in shown})
    built: dict[int, flow.ItemHistory] = {}  # an item on two boards is built once
    for board_id, item_id, status, moments, parts in shown:
        history = built.get(item_id)
        if history is None:
            key, summary, assignee, points, created, current = details[item_id]
            history = built[item_id] = flow.ItemHistory(
                key=key,
                created_at=created,
                visits=visits_of(created, current, status, moments, parts),
                summary=summary,
                assignee=assignee,
                story_points=points,
            )
        found[board_id].items[history.key] = history
    for board_id, tally in usual.items():
        found[board_id].usual = tally.result()
    return found


def visits_of(
    created: dt.datetime,
    current_status: str | None,
    current_category: str,
    instants: Sequence[int],
    parts: Sequence[str],
) -> tuple[flow.Visit, ...]:
    """`flow.visits_from` of a packed changelog (``instants``: the creation then each change,
    in order; ``parts``: four strings per change, as the query packs them), without building a
    `flow.Transition` per change: ~20k of them on a large organisation. A test checks both
    give the same visits."""
    if len(instants) < 2:
        return (flow.Visit(current_status or "Unknown", current_category, created),)
    times = [instant(t) for t in instants[1:]]
    found = []
    if parts[0] and times[0] > created:
        found.append(flow.Visit(parts[0], parts[2] or flow.TODO, created, times[0]))
    last = len(times) - 1
    for i, status in enumerate(parts[1::4]):
        if status:
            start = times[i]
            end = times[i + 1] if i < last else None
            if end is None or end > start:
                found.append(flow.Visit(status, parts[4 * i + 3] or flow.IN_PROGRESS, start, end))
    return tuple(found)


# What the report shows of an item, in `load_histories`'s order.
_SHOWN = (
    WorkItem.key,
    WorkItem.summary,
    WorkItem.assignee,
    WorkItem.story_points,
    WorkItem.created_at,
    WorkItem.original_status,
)

# What both shapes of `_query` read of each candidate item (with ``latest``, when it last moved):
# `kept` relies on these names.
_ITEM = (WorkItem.id, WorkItem.project_key, WorkItem.created_at, WorkItem.status)


def _details(session: Session, ids: set[int]) -> dict[int, tuple[Any, ...]]:
    """What the report shows of these items, by id: read for the few the flow window shows."""
    query = sa.select(WorkItem.id, *_SHOWN).where(
        WorkItem.id == sa.any_(sa.bindparam("ids", list(ids), type_=ARRAY(sa.BigInteger)))
    )
    return {row[0]: tuple(row[1:]) for row in session.connection().execute(query)}


def micros(moment: dt.datetime) -> int:
    """``moment`` as microseconds since `PG_EPOCH`."""
    return (moment - PG_EPOCH) // MICROSECOND


def instant(us: int) -> dt.datetime:
    return PG_EPOCH + us * MICROSECOND


def unpack(raw: bytes) -> array[int]:
    """Big-endian 64-bit integers, as an array (a sequence that bisects without copying)."""
    values = array("q", raw)
    if sys.byteorder == "little":
        values.byteswap()
    return values


def _moved(boards: Sequence[BoardQuery]) -> sa.Select[int, dt.datetime]:
    """Each item that moved since the earliest cutoff, and when it last did."""
    cutoff = min(b.cutoff for b in boards)
    return (
        sa.select(
            WorkItemTransition.work_item_id,
            sa.func.max(WorkItemTransition.changed_at).label("latest"),
        )
        .where(WorkItemTransition.changed_at >= cutoff)
        .group_by(WorkItemTransition.work_item_id)
    )


def _recent_ids(session: Session, boards: Sequence[BoardQuery]) -> list[int]:
    """The items the flow windows may read: moved since the earliest cutoff (index on
    ``changed_at``), in progress (index on ``status``) or in a reported sprint (primary key of
    ``sprint_memberships``). Read first, so the planner knows how few they are."""
    sprints = [b.sprint_id for b in boards if b.sprint_id is not None]
    moved = _moved(boards)
    in_progress = sa.select(WorkItem.id).where(WorkItem.status == flow.IN_PROGRESS)
    if len(boards) <= _FEW_BOARDS:
        # A few boards: only their projects' items and their sprints' (an organisation's
        # boards cover nearly every item, and the check would cost more than it saves).
        candidate = sa.union(
            sa.select(WorkItem.id).where(
                WorkItem.project_key.in_({b.project_key for b in boards if b.project_key})
            ),
            sa.select(SprintMembership.work_item_id)
            .join(Sprint, Sprint.id == SprintMembership.sprint_id)
            .where(Sprint.board_id.in_([b.board_id for b in boards])),
        )
        moved = moved.where(WorkItemTransition.work_item_id.in_(candidate))
        in_progress = in_progress.where(WorkItem.id.in_(candidate))
    recent = moved.subquery()
    query = sa.union(
        sa.select(recent.c.work_item_id),
        in_progress,
        sa.select(SprintMembership.work_item_id).where(SprintMembership.sprint_id.in_(sprints)),
    )
    return list(session.connection().scalars(query))


def _query(
    boards: Sequence[BoardQuery], ids: list[int] | None = None
) -> sa.Select[*tuple[Any, ...]]:
    """One row per board and kept item (see the module docstring), in one of two shapes.

    When every board's usual times are known and its sprint started, only the flow windows are
    read (`_recent_items`: the few thousand ``ids`` of `_recent_ids`). Otherwise the history
    is read too (`_history_items`: about half of all items)."""
    columns: list[sa.ColumnClause[Any]] = [
        sa.column("board_id", sa.BigInteger),
        sa.column("project_key", sa.String),
        sa.column("sprint_id", sa.BigInteger),
        sa.column("cutoff", _TZ),
        sa.column("as_of", _TZ),
    ]
    rows = [(b.board_id, b.project_key, b.sprint_id, b.cutoff, b.as_of) for b in boards]
    table = rows_table("boards", columns, rows)
    board = sa.select(*table.c).cte("board")
    if ids is not None:
        reported, item, foreign = _recent_items(board, boards, ids)
    else:
        reported, item, foreign = _history_items(board, boards)

    def kept(pairs: sa.Select[*tuple[Any, ...]]) -> sa.Select[*tuple[Any, ...]]:
        """The board's items that the report reads (module docstring), with their fields."""
        in_sprint = reported.alias()
        return (
            pairs.add_columns(
                *(c for c in item.c if c.name not in ("project_key", "latest")),
                in_sprint.c.work_item_id.is_not(None).label("member"),
            )
            .outerjoin(
                in_sprint,
                sa.and_(
                    in_sprint.c.board_id == board.c.board_id,
                    in_sprint.c.work_item_id == item.c.id,
                ),
            )
            .where(
                item.c.created_at <= board.c.as_of,
                sa.or_(
                    item.c.status == flow.IN_PROGRESS,
                    in_sprint.c.work_item_id.is_not(None),
                    item.c.latest >= board.c.cutoff,
                ),
            )
        )

    items = sa.union_all(
        kept(
            sa.select(board.c.board_id)
            .select_from(item)
            .join(board, board.c.project_key == item.c.project_key)
        ),
        kept(
            sa.select(board.c.board_id)
            .select_from(foreign)
            .join(board, board.c.board_id == foreign.c.board_id)
            .join(item, item.c.id == foreign.c.work_item_id)
        ),
    ).subquery("kept")
    ordered = (WorkItemTransition.changed_at, WorkItemTransition.id)
    statuses = sa.func.concat_ws(
        SEPARATOR,
        *(
            sa.func.coalesce(column, "")
            for column in (
                WorkItemTransition.original_from_status,
                WorkItemTransition.original_to_status,
                WorkItemTransition.from_status,
                WorkItemTransition.to_status,
            )
        ),
    )
    moves = (
        sa.select(
            WorkItemTransition.work_item_id,
            sa.func.string_agg(
                sa.func.timestamptz_send(WorkItemTransition.changed_at),
                aggregate_order_by(sa.literal_column("''::bytea"), *ordered),
            ).label("times"),
            sa.func.string_agg(statuses, aggregate_order_by(sa.literal(SEPARATOR), *ordered)).label(
                "statuses"
            ),
        )
        .where(WorkItemTransition.work_item_id.in_(sa.select(item.c.id)))
        .group_by(WorkItemTransition.work_item_id)
        .subquery("moves")
    )
    return (
        sa.select(
            items.c.board_id,
            items.c.id,
            items.c.status,
            items.c.member,
            # The creation first, as the changes (psycopg hands bytea over as they are).
            sa.type_coerce(
                sa.func.timestamptz_send(items.c.created_at).op("||")(
                    sa.func.coalesce(moves.c.times, sa.literal_column("''::bytea"))
                ),
                sa.types.NullType(),
            ),
            moves.c.statuses,
            *(c for c in items.c if c.key.startswith("shown_")),
        )
        .select_from(items)
        .outerjoin(moves, moves.c.work_item_id == items.c.id)
    )


_Parts = tuple[sa.CTE, sa.CTE, sa.CTE]  # reported, item, foreign


def _recent_items(board: sa.CTE, boards: Sequence[BoardQuery], ids: list[int]) -> _Parts:
    """The items of the flow windows (``ids``), each read once from ``work_items`` by id."""
    moved = _moved(boards).cte("moved")
    wanted = sa.any_(sa.bindparam("ids", ids, type_=ARRAY(sa.BigInteger)))
    reported = (
        sa.select(board.c.board_id, SprintMembership.work_item_id)
        .select_from(board)
        .join(SprintMembership, SprintMembership.sprint_id == board.c.sprint_id)
        .cte("reported")
    )
    item = (
        sa.select(
            *_ITEM,
            moved.c.latest,
            *(c.label(f"shown_{c.key}") for c in _SHOWN),  # read here, not in `_details`
        )
        .outerjoin(moved, moved.c.work_item_id == WorkItem.id)
        .where(WorkItem.id == wanted)
        .cte("item")
    )
    # Items of a board's sprints from another project, found from the items' memberships.
    foreign = (
        sa.select(board.c.board_id, item.c.id.label("work_item_id"))
        .select_from(item)
        .join(SprintMembership, SprintMembership.work_item_id == item.c.id)
        .join(Sprint, Sprint.id == SprintMembership.sprint_id)
        .join(board, board.c.board_id == Sprint.board_id)
        .where(
            SprintMembership.work_item_id == wanted,  # index on work_item_id
            item.c.project_key.is_distinct_from(board.c.project_key),
        )
        .distinct()
        .cte("foreign")
    )
    return reported, item, foreign


def _history_items(board: sa.CTE, boards: Sequence[BoardQuery]) -> _Parts:
    """The items of the history windows too. Shaped for the planner: ``work_items`` (wide:
    ~1.7 kB a row) is read once, for the items that moved since the earliest cutoff or may be
    kept anyway; each board then takes its project's items, and the items of its sprints from
    other projects (``foreign``)."""
    # Every membership in the boards' sprints, with the board's project and whether it is in
    # the reported sprint.
    member = (
        sa.select(
            board.c.board_id,
            SprintMembership.work_item_id,
            board.c.project_key,
            (SprintMembership.sprint_id == board.c.sprint_id).label("reported"),
        )
        .select_from(board)
        .join(Sprint, Sprint.board_id == board.c.board_id)
        .join(SprintMembership, SprintMembership.sprint_id == Sprint.id)
        .cte("member")
    )
    reported = (
        sa.select(member.c.board_id, member.c.work_item_id).where(member.c.reported).cte("reported")
    )
    projects = {b.project_key for b in boards if b.project_key}
    moved = _moved(boards)  # the items that moved since the earliest cutoff: about half of all
    if len(boards) > _FEW_BOARDS:
        # Many boards (an organisation): one pass over work_items and one over the changes
        # since the cutoff beat ~100k lookups by id.
        candidate = sa.or_(
            WorkItem.project_key.in_(projects), WorkItem.id.in_(sa.select(member.c.work_item_id))
        )
    else:
        # A few boards: their items by id first (index on project_key), then their changes
        # (index on work_item_id).
        ids = sa.union(
            sa.select(WorkItem.id).where(WorkItem.project_key.in_(projects)),
            sa.select(member.c.work_item_id),
        ).cte("candidate")
        candidate = WorkItem.id.in_(sa.select(ids.c.id))
        moved = moved.where(WorkItemTransition.work_item_id.in_(sa.select(ids.c.id)))
    recent = moved.subquery("recent")
    item = (
        sa.select(
            *_ITEM,
            recent.c.latest,
        )
        .outerjoin(recent, recent.c.work_item_id == WorkItem.id)
        .where(
            candidate,
            sa.or_(
                recent.c.latest.is_not(None),
                WorkItem.status == flow.IN_PROGRESS,
                WorkItem.id.in_(sa.select(reported.c.work_item_id)),
            ),
        )
        .cte("item")
    )

    # Items of a board's sprints from another project: rare, but found through every
    # membership. A fence (MATERIALIZED) keeps the planner from pairing each item with each
    # board on the way.
    foreign = (
        sa.select(member.c.board_id, member.c.work_item_id)
        .where(
            sa.exists().where(
                item.c.id == member.c.work_item_id,
                item.c.project_key.is_distinct_from(member.c.project_key),
            )
        )
        .distinct()
        .cte("foreign")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return reported, item, foreign
