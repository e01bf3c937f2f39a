"""Load what `insights.sprint` needs for each board of a scope, in five indexed queries a board.

What is loaded for one board, as of the sprint's instant (``as_of``, see `SprintRecord.as_of`):

- its sprints, and the memberships of the reported sprint's items in every sprint of the board
  (for carry-over);
- its work items: those of the board's project and those that were ever in one of its sprints,
  kept when they are in the reported sprint, moved (any transition) since the history cutoff, or
  are in progress now. The cutoff is ``history_days`` (180) before ``as_of``, or the flow
  window's start if earlier. Items created after ``as_of`` are left out;
- the transitions of those items, all of them, as arrays per item (the pure code clips at
  ``as_of``);
- the pull requests of the repos owned by the board's product (the product the products file
  maps the board to) that were first reviewed or merged in the flow window.

On a large database (100k items, 1M transitions) this reads a few thousand rows per board,
through the indexes on ``sprints.board_id``, ``sprint_memberships``, ``work_items.project_key``,
``work_item_transitions.work_item_id`` and ``pull_requests (repo, merged_at)``.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session

from insights import flow
from insights.common import Window
from insights.errors import UnknownScope
from insights.narrator import narrate
from insights.queries.scope import Scope, suggest
from insights.sprint import (
    BoardInput,
    BoardRecord,
    Membership,
    SprintRecord,
    SprintReport,
    SprintRules,
    board_sprint,
    windows,
)
from storage.models import (
    Board,
    PullRequest,
    Sprint,
    SprintMembership,
    WorkItem,
    WorkItemTransition,
)


def build_sprint_report(
    session: Session,
    scope: Scope,
    *,
    now: dt.datetime,
    board: str | None = None,
    sprint: str | None = None,
    rules: SprintRules | None = None,
) -> SprintReport:
    """The sprint report of one board (``board``: its id or name) or of every board in scope.

    Each board reports its active sprint (the latest started one if there are several; flow
    only when there is none), or ``sprint`` (a name or id, e.g. a closed sprint). Without
    ``board``, ``sprint`` picks the board it belongs to. Unknown names raise `UnknownScope`.
    """
    rules = rules or SprintRules()
    candidates = _boards(session, scope)
    if board is not None:
        chosen = [_find_board(board, candidates)]
    elif sprint is not None:
        chosen = [_board_of_sprint(session, sprint, candidates)]
    else:
        chosen = candidates
    sections = tuple(
        board_sprint(_load(session, scope, b, now, sprint, rules), now=now, rules=rules)
        for b in chosen
    )
    report = SprintReport(scope.as_dict(), now, sections)
    return report.with_summary(narrate(report.facts()))


def _boards(session: Session, scope: Scope) -> list[Board]:
    query = sa.select(Board).order_by(Board.name, Board.external_id)
    if scope.kind != "organisation":
        query = query.where(Board.external_id.in_(scope.boards))
    return list(session.scalars(query))


def _label(board: Board) -> str:
    return f"{board.name} ({board.external_id})"


def _find_board(name: str, boards: list[Board]) -> Board:
    wanted = name.strip().casefold()
    for board in boards:
        if wanted in (
            board.external_id.casefold(),
            board.name.casefold(),
            _label(board).casefold(),
        ):
            return board
    raise UnknownScope("board", name, suggest(name, [_label(b) for b in boards]))


def _matches(name: str, sprint: Sprint) -> bool:
    return name.strip().casefold() in (sprint.external_id.casefold(), sprint.name.casefold())


def _board_of_sprint(session: Session, name: str, boards: list[Board]) -> Board:
    by_id = {b.id: b for b in boards}
    sprints = list(session.scalars(sa.select(Sprint).where(Sprint.board_id.in_(by_id))))
    for found in sprints:
        if _matches(name, found) and found.board_id is not None:
            return by_id[found.board_id]
    raise UnknownScope("sprint", name, suggest(name, sorted({s.name for s in sprints})))


def _record(sprint: Sprint) -> SprintRecord:
    return SprintRecord(
        sprint.external_id,
        sprint.name,
        sprint.state,
        sprint.started_at,
        sprint.ends_at,
        sprint.completed_at,
    )


def _pick(sprints: list[Sprint], name: str | None) -> Sprint | None:
    if name is not None:
        for found in sprints:
            if _matches(name, found):
                return found
        raise UnknownScope("sprint", name, suggest(name, [s.name for s in sprints]))
    active = [s for s in sprints if s.state == "active"]
    return max(
        active,
        key=lambda s: (s.started_at or dt.datetime.min.replace(tzinfo=dt.UTC), s.id),
        default=None,
    )


# The loaders below read through ``session.connection()`` and fetch all rows at once: plain
# rows, because ORM row processing and row-by-row fetching cost more than the queries
# themselves on the thousands of rows of a large board.


def _load(
    session: Session,
    scope: Scope,
    board: Board,
    now: dt.datetime,
    sprint_name: str | None,
    rules: SprintRules,
) -> BoardInput:
    rows = list(session.scalars(sa.select(Sprint).where(Sprint.board_id == board.id)))
    chosen = _pick(rows, sprint_name)
    record = _record(chosen) if chosen else None
    window, history = windows(record, now, rules)
    as_of = window.end
    memberships = _memberships(session, board, chosen) if chosen else ()
    items = _items(session, board, chosen, as_of, min(window.start, history.start))
    return BoardInput(
        board=BoardRecord(board.external_id, board.name, board.project_key),
        sprint=record,
        sprints=tuple(_record(s) for s in rows),
        memberships=memberships,
        items=items,
        pulls=_pulls(session, _repos(scope, board), window),
    )


def _memberships(session: Session, board: Board, sprint: Sprint) -> tuple[Membership, ...]:
    """The reported sprint's items in every sprint of the board."""
    members = sa.select(SprintMembership.work_item_id).where(
        SprintMembership.sprint_id == sprint.id
    )
    query = (
        sa.select(
            Sprint.external_id, WorkItem.key, SprintMembership.added_at, SprintMembership.removed_at
        )
        .join(Sprint, Sprint.id == SprintMembership.sprint_id)
        .join(WorkItem, WorkItem.id == SprintMembership.work_item_id)
        .where(Sprint.board_id == board.id, SprintMembership.work_item_id.in_(members))
    )
    return tuple(Membership(*row) for row in session.connection().execute(query).all())


# `flow.Transition`'s fields, in order, and where each comes from.
_TRANSITION_COLUMNS = (
    ("changed_at", WorkItemTransition.changed_at),
    ("from_status", WorkItemTransition.original_from_status),
    ("to_status", WorkItemTransition.original_to_status),
    ("from_category", WorkItemTransition.from_status),
    ("to_category", WorkItemTransition.to_status),
)


def _items(
    session: Session,
    board: Board,
    sprint: Sprint | None,
    as_of: dt.datetime,
    cutoff: dt.datetime,
) -> dict[str, flow.ItemHistory]:
    # The board's candidates first, through two indexes (sprint memberships, project key), then
    # the filters on those few thousand rows only: given one statement, the planner may filter
    # every work item before joining.
    parts = [
        sa.select(SprintMembership.work_item_id)
        .join(Sprint, Sprint.id == SprintMembership.sprint_id)
        .where(Sprint.board_id == board.id)
    ]
    if board.project_key:
        parts.append(sa.select(WorkItem.id).where(WorkItem.project_key == board.project_key))
    candidates = session.connection().execute(sa.union(*parts)).scalars().all()
    if not candidates:
        return {}
    # Each item's transitions as arrays, oldest first (one row per item, and the history
    # filter is their latest change).
    ordered = (WorkItemTransition.changed_at, WorkItemTransition.id)
    moves = (
        sa.select(
            *(
                # psycopg returns lists already: skip SQLAlchemy's per-element processing.
                sa.type_coerce(
                    sa.func.array_agg(aggregate_order_by(column, *ordered)), sa.types.NullType()
                ).label(name)
                for name, column in _TRANSITION_COLUMNS
            ),
            sa.func.max(WorkItemTransition.changed_at).label("latest"),
        )
        .where(WorkItemTransition.work_item_id == WorkItem.id)
        .lateral("moves")
    )
    relevant: list[sa.ColumnElement[bool]] = [
        WorkItem.status == flow.IN_PROGRESS,
        moves.c.latest >= cutoff,
    ]
    if sprint is not None:
        members = sa.select(SprintMembership.work_item_id).where(
            SprintMembership.sprint_id == sprint.id
        )
        relevant.append(WorkItem.id.in_(members))
    query = (
        sa.select(
            WorkItem.key,
            WorkItem.summary,
            WorkItem.assignee,
            WorkItem.story_points,
            WorkItem.created_at,
            WorkItem.status,
            WorkItem.original_status,
            *(moves.c[name] for name, _ in _TRANSITION_COLUMNS),
        )
        .select_from(WorkItem)
        .join(moves, sa.true())
        .where(
            WorkItem.id == sa.any_(sa.bindparam("ids", candidates, type_=ARRAY(sa.BigInteger))),
            WorkItem.created_at <= as_of,
            sa.or_(*relevant),
        )
    )
    items: dict[str, flow.ItemHistory] = {}
    for key, summary, assignee, points, created, status, current, *arrays in (
        session.connection().execute(query).all()
    ):
        # Transitions are built and dropped item by item, so they never pile up for the
        # garbage collector (whose full passes cost more than the query on a large board).
        changes = (
            [flow.Transition(*change) for change in zip(*arrays, strict=True)] if arrays[0] else []
        )
        items[key] = flow.ItemHistory(
            key=key,
            created_at=created,
            visits=flow.visits_from(created, current, status, changes),
            summary=summary,
            assignee=assignee,
            story_points=points,
        )
    return items


def _repos(scope: Scope, board: Board) -> tuple[str, ...]:
    """The repos of the product the board is mapped to (none for an unmapped board)."""
    owner = scope.product_of.get(("jira_board", board.external_id))
    if owner is None:
        return ()
    return tuple(r for r in scope.repos if scope.product_of.get(("github_repo", r)) == owner)


def _pulls(session: Session, repos: tuple[str, ...], window: Window) -> tuple[flow.PullTiming, ...]:
    if not repos:
        return ()
    query = sa.select(
        PullRequest.number,
        PullRequest.repo,
        PullRequest.created_at,
        PullRequest.first_review_at,
        PullRequest.merged_at,
        PullRequest.additions,
        PullRequest.deletions,
    ).where(
        PullRequest.repo.in_(repos),
        sa.or_(
            sa.and_(PullRequest.merged_at >= window.start, PullRequest.merged_at < window.end),
            sa.and_(
                PullRequest.first_review_at >= window.start,
                PullRequest.first_review_at < window.end,
            ),
        ),
    )
    return tuple(flow.PullTiming(*row) for row in session.connection().execute(query).all())
