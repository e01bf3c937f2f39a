"""Load what `insights.sprint` needs for every board of a report, in a handful of queries.

What is loaded for a board, as of the sprint's instant (``as_of``, see `SprintRecord.as_of`):

- its sprints, and the memberships of the reported sprint's items in every sprint of the board
  (for carry-over);
- its work items with their whole status history, and its usual time per status: see
  `insights.queries.sprint_history`;
- the pull requests of the repos owned by the board's product (the product the products file
  maps the board to) that were first reviewed or merged in the flow window.

Each kind is read for all boards at once (a report on a large organisation covers ~50 boards),
as plain rows through ``session.connection()``: ORM objects and one round of queries per
board cost more than the queries themselves.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from insights import flow
from insights.common import Window
from insights.errors import UnknownScope
from insights.narrator import narrate
from insights.queries import baselines
from insights.queries.gc_pause import paused_gc
from insights.queries.rows import rows_table
from insights.queries.scope import Scope, suggest
from insights.queries.sprint_history import BoardQuery, load_histories
from insights.sprint import (
    BoardInput,
    BoardRecord,
    BoardSprint,
    Membership,
    SprintRecord,
    SprintReport,
    SprintRules,
    board_sprint,
    windows,
)
from storage.models import Board, PullRequest, Sprint, SprintMembership, WorkItem


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
    if board is None and sprint is None:
        return build_sprint_reports(session, [scope], now=now, rules=rules)[0]
    rules = rules or SprintRules()
    candidates = _boards(session, [scope])[0]
    if board is not None:
        chosen = [_find_board(board, candidates)]
    else:  # a sprint without a board: the board it belongs to
        chosen = [_board_of_sprint(session, str(sprint), candidates)]
    with paused_gc():
        sections = tuple(
            board_sprint(data, now=now, rules=rules)
            for data in _load(session, _repos([scope], chosen), chosen, now, sprint, rules)
        )
        return _report(scope, now, sections)


def build_sprint_reports(
    session: Session,
    scopes: Sequence[Scope],
    *,
    now: dt.datetime,
    rules: SprintRules | None = None,
) -> list[SprintReport]:
    """The sprint reports (every board's active sprint) of several scopes at one instant, each
    board read and computed once: a board's section depends on the board alone, not on the
    scope asked about (a test checks it), and the organisation's report and its top-level
    products' read the same boards. Fifty people asking about seven scopes at once after a sync
    cost one organisation's report, not three (`bot.reports` batches them)."""
    rules = rules or SprintRules()
    per_scope = _boards(session, scopes)
    union = list({b.id: b for boards in per_scope for b in boards}.values())
    with paused_gc():
        sections = {
            section.board.id: section
            for section in (
                board_sprint(data, now=now, rules=rules)
                for data in _load(session, _repos(scopes, union), union, now, None, rules)
            )
        }
        return [
            _report(scope, now, tuple(sections[b.external_id] for b in boards))
            for scope, boards in zip(scopes, per_scope, strict=True)
        ]


def _report(scope: Scope, now: dt.datetime, sections: tuple[BoardSprint, ...]) -> SprintReport:
    report = SprintReport(scope.as_dict(), now, sections)
    return report.with_summary(narrate(report.facts()))


def _boards(session: Session, scopes: Sequence[Scope]) -> list[list[Board]]:
    """Each scope's boards, by name (read once for all): the organisation has every board,
    mapped or not."""
    boards = session.scalars(sa.select(Board).order_by(Board.name, Board.external_id)).all()
    found = []
    for scope in scopes:
        keys = set(scope.boards)
        found.append([b for b in boards if scope.kind == "organisation" or b.external_id in keys])
    return found


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


class _SprintRow(NamedTuple):
    id: int
    board_id: int
    external_id: str
    name: str
    state: str
    started_at: dt.datetime | None
    ends_at: dt.datetime | None
    completed_at: dt.datetime | None

    def record(self) -> SprintRecord:
        return SprintRecord(
            self.external_id,
            self.name,
            self.state,
            self.started_at,
            self.ends_at,
            self.completed_at,
        )


def _matches(name: str, sprint: Sprint | _SprintRow) -> bool:
    return name.strip().casefold() in (sprint.external_id.casefold(), sprint.name.casefold())


def _board_of_sprint(session: Session, name: str, boards: list[Board]) -> Board:
    by_id = {b.id: b for b in boards}
    sprints = list(session.scalars(sa.select(Sprint).where(Sprint.board_id.in_(by_id))))
    for found in sprints:
        if _matches(name, found) and found.board_id is not None:
            return by_id[found.board_id]
    raise UnknownScope("sprint", name, suggest(name, sorted({s.name for s in sprints})))


def _pick(sprints: list[_SprintRow], name: str | None) -> _SprintRow | None:
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


def _load(
    session: Session,
    repos: Mapping[int, frozenset[str]],
    boards: list[Board],
    now: dt.datetime,
    sprint_name: str | None,
    rules: SprintRules,
) -> list[BoardInput]:
    sprints = _sprints(session, [b.id for b in boards])
    chosen_sprints = {b.id: _pick(sprints[b.id], sprint_name) for b in boards}
    spans = {b.id: windows(_record(chosen_sprints[b.id]), now, rules) for b in boards}
    keys = {b.id: baselines.Key(b.id, spans[b.id][1].start, spans[b.id][1].end) for b in boards}
    version = baselines.data_version(session)
    known = baselines.load(session, keys.values(), version)
    plans: list[tuple[Board, _SprintRow | None, Window, BoardQuery]] = []
    for board in boards:
        chosen = chosen_sprints[board.id]
        window, history = spans[board.id]
        started = chosen.started_at if chosen else None
        query = BoardQuery(
            board_id=board.id,
            project_key=board.project_key,
            sprint_id=chosen.id if chosen else None,
            as_of=window.end,
            flow_start=window.start,
            history_start=history.start,
            # Without a started sprint, `insights.sprint` reads every board item as WIP.
            trim=started is not None and started <= window.end,
            history_end=history.end,
            usual_known=keys[board.id] in known,
        )
        plans.append((board, chosen, window, query))
    histories = load_histories(session, [query for *_, query in plans])
    fresh = {keys[q.board_id]: histories[q.board_id].usual for *_, q in plans if not q.usual_known}
    baselines.store(session, fresh, version)
    usual = {b.id: known.get(keys[b.id], histories[b.id].usual) for b in boards}
    memberships = _memberships(session, [(b.id, s.id) for b, s, *_ in plans if s is not None])
    pulls = _pulls(session, repos, [(b, window) for b, _, window, _ in plans])
    return [
        BoardInput(
            board=BoardRecord(board.external_id, board.name, board.project_key),
            sprint=chosen.record() if chosen else None,
            sprints=tuple(s.record() for s in sprints[board.id]),
            memberships=tuple(memberships[board.id]),
            items=histories[board.id].items,
            pulls=pulls[board.id],
            usual=usual[board.id],
        )
        for board, chosen, _, _ in plans
    ]


def _record(row: _SprintRow | None) -> SprintRecord | None:
    return row.record() if row else None


def _sprints(session: Session, board_ids: Sequence[int]) -> dict[int, list[_SprintRow]]:
    """Every sprint of these boards, by ``boards.id``."""
    query = sa.select(
        Sprint.id,
        Sprint.board_id,
        Sprint.external_id,
        Sprint.name,
        Sprint.state,
        Sprint.started_at,
        Sprint.ends_at,
        Sprint.completed_at,
    ).where(Sprint.board_id.in_(board_ids))
    found: dict[int, list[_SprintRow]] = defaultdict(list)
    for row in session.connection().execute(query).all():
        sprint = _SprintRow._make(row)
        found[sprint.board_id].append(sprint)
    return found


# The reported sprint's memberships, joined to the item's others. Built once (aliasing copies the
# mapped class's columns).
_MINE = aliased(SprintMembership, name="mine")


def _memberships(
    session: Session, reported: Sequence[tuple[int, int]]
) -> dict[int, list[Membership]]:
    """Per board (``boards.id``, reported ``sprints.id``): the reported sprint's items in every
    sprint of the board."""
    found: dict[int, list[Membership]] = defaultdict(list)
    if not reported:
        return found
    chosen = rows_table(
        "chosen",
        [sa.column("board_id", sa.BigInteger), sa.column("sprint_id", sa.BigInteger)],
        reported,
    )
    mine = _MINE
    query = (
        sa.select(
            chosen.c.board_id,
            Sprint.external_id,
            WorkItem.key,
            SprintMembership.added_at,
            SprintMembership.removed_at,
        )
        .select_from(chosen)
        .join(mine, mine.sprint_id == chosen.c.sprint_id)
        .join(SprintMembership, SprintMembership.work_item_id == mine.work_item_id)
        .join(
            Sprint,
            sa.and_(Sprint.id == SprintMembership.sprint_id, Sprint.board_id == chosen.c.board_id),
        )
        .join(WorkItem, WorkItem.id == SprintMembership.work_item_id)
    )
    for board_id, sprint_id, key, added, removed in session.connection().execute(query).all():
        found[board_id].append(Membership(sprint_id, key, added, removed))
    return found


def _repos(scopes: Sequence[Scope], boards: Sequence[Board]) -> dict[int, frozenset[str]]:
    """Per board (``boards.id``): the repos of the product it is mapped to (none for an
    unmapped board). Every scope that holds a board holds that product and its repos."""
    owners: dict[str, str] = {}
    owned: dict[str, set[str]] = defaultdict(set)
    for scope in scopes:
        for (kind, key), owner in scope.product_of.items():
            if kind == "jira_board":
                owners[key] = owner
            elif kind == "github_repo":
                owned[owner].add(key)
    return {b.id: frozenset(owned.get(owners.get(b.external_id, ""), ())) for b in boards}


def _pulls(
    session: Session,
    repos_of: Mapping[int, frozenset[str]],
    boards: Sequence[tuple[Board, Window]],
) -> dict[int, tuple[flow.PullTiming, ...]]:
    """Per board (``boards.id``): its repos' PRs first reviewed or merged in its flow window.

    One query over every repo and the span of all windows; each board then keeps its own."""
    wanted = {board.id: (repos_of[board.id], window) for board, window in boards}
    repos = sorted(set().union(*(r for r, _ in wanted.values())))
    found: dict[int, tuple[flow.PullTiming, ...]] = {board_id: () for board_id in wanted}
    if not repos:
        return found
    start = min(w.start for _, w in wanted.values())
    end = max(w.end for _, w in wanted.values())
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
            sa.and_(PullRequest.merged_at >= start, PullRequest.merged_at < end),
            sa.and_(PullRequest.first_review_at >= start, PullRequest.first_review_at < end),
        ),
    )
    by_repo: dict[str, list[flow.PullTiming]] = defaultdict(list)
    for row in session.connection().execute(query).all():
        by_repo[row.repo].append(flow.PullTiming(*row))
    for board_id, (board_repos, window) in wanted.items():
        found[board_id] = tuple(
            p
            for repo in sorted(board_repos)
            for p in by_repo.get(repo, ())
            if (p.merged_at is not None and p.merged_at in window)
            or (p.first_review_at is not None and p.first_review_at in window)
        )
    return found
