"""Sprint progress: what a board committed to, what changed, what got done, where it is heading.

Pure code over frozen records (`insights.queries.sprint` loads them); the flow metrics come from
`insights.flow`. A sprint is read "as of" one instant: now for an active sprint, its completion
(else its planned end) for a closed one. A change at an instant has happened by that instant.

- **Committed**: in the sprint at its start (added at or before the start, or with no known add
  time, and not removed by then). **Added**: joined after the start, up to ``as_of``.
  **Removed**: left after the start, up to ``as_of`` (an item added and removed counts in both).
- **Completed**: in the sprint at ``as_of``, done then, and done only after it joined (at the
  start for committed items). Items already done when they joined are "completed outside"
  the sprint, as Jira's sprint report lists them, and do not count.
- **Remaining**: in the sprint at ``as_of``, neither completed nor completed outside.
- **Carried over**: in the sprint's scope (committed or added) and in at least one earlier
  sprint of the board (one that started before it) while that sprint ran; "2+" means two or more.
- Done means the status category done (Jira's sprint report uses the board's last column).
- Points are the items' current story points (storage keeps no estimate history); an item
  without points adds none, and every points metric is None when no item in the sprint has any.
- **Projected completion** (active sprints): burn rate = completed / elapsed days; projected =
  min(scope, completed + burn rate x remaining days), as a share of the scope (completed +
  remaining at ``as_of``). In points when any item is estimated, else in issues. None during
  the first day.

Flow (`insights.flow`) reads the board's items (its project's and its sprints') over the flow
window: the sprint so far, and at least the ``flow_days`` (14) up to ``as_of``, so a sprint's
first day is not judged on a few hours. WIP, aging WIP and WIP per assignee read the sprint's
items at ``as_of`` (the board's items when there is no sprint).

Findings, ranked by score (0..1): sprint at risk (0.6-1.0), aging work per status (0.5-0.9),
a wait status as the bottleneck (0.4-0.8), overloaded assignee (0.35-0.6), scope added
(0.3-0.7), carry-over (0.3-0.6), slow PR pickup (0.3-0.5).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from insights import flow
from insights.common import DAY, FactsOnce, Finding, Metric, Summary, Window, jsonable, ranked
from insights.sprint_findings import findings_for, flow_metrics, item_rows, sprint_metrics


@dataclass(frozen=True)
class BoardRecord:
    id: str  # the Jira board id
    name: str
    project_key: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "project_key": self.project_key}


@dataclass(frozen=True)
class SprintRecord:
    id: str  # the Jira sprint id
    name: str
    state: str  # future | active | closed
    started_at: dt.datetime | None
    ends_at: dt.datetime | None
    completed_at: dt.datetime | None = None

    def as_of(self, now: dt.datetime) -> dt.datetime:
        """The instant the sprint is read at: now, or the end of a closed sprint."""
        if self.state == "closed":
            return min(self.completed_at or self.ends_at or now, now)
        return now

    def as_dict(self) -> dict[str, Any]:
        dates = (self.started_at, self.ends_at, self.completed_at)
        started, ends, completed = (d.isoformat() if d else None for d in dates)
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "started_at": started,
            "ends_at": ends,
            "completed_at": completed,
        }


@dataclass(frozen=True, slots=True)
class Membership:
    """An item's time in one sprint (``added_at`` None: in it since before anything recorded)."""

    sprint_id: str
    item_key: str
    added_at: dt.datetime | None
    removed_at: dt.datetime | None = None

    def member_at(self, moment: dt.datetime) -> bool:
        added = self.added_at is None or self.added_at <= moment
        return added and (self.removed_at is None or self.removed_at > moment)


@dataclass(frozen=True)
class SprintRules:
    """The knobs of the definitions and findings; the defaults are documented in the README."""

    flow_days: int = 14  # the flow window covers the sprint and at least this many days
    history_days: int = 180  # visits that ended in these whole days give the usual times
    active_statuses: frozenset[str] | None = None  # None: by name (see `insights.flow`)
    on_track_share: float = 0.8  # projected share below this: the sprint is at risk
    risk_min_elapsed: float = 0.25  # ...once this share of its time has passed
    scope_creep_share: float = 0.2  # added / committed at or above this: a finding
    carry_over_share: float = 0.25  # carried-over share of the scope at or above this
    wip_min: int = 3  # an assignee is overloaded from this many items in progress...
    wip_factor: float = 2.0  # ...and this many times the median per assignee
    pickup_hours: float = 24.0  # median PR pickup above this: a finding


@dataclass(frozen=True)
class BoardInput:
    """Everything one board section reads. ``items`` holds the sprint's items and the board's
    items with recent activity (its project's and its sprints'), by key.

    ``usual`` is the usual time per status over the history window, when the loader has worked
    it out from the whole history (`insights.flow_history`); then ``items`` may leave out board
    items that `flow_history.stood_still` through the flow window of a started sprint, as they
    change no flow number. ``None``: `flow.usual_times` reads it from ``items``.
    """

    board: BoardRecord
    sprint: SprintRecord | None
    sprints: tuple[SprintRecord, ...] = ()
    memberships: tuple[Membership, ...] = ()
    items: Mapping[str, flow.ItemHistory] = field(default_factory=dict)
    pulls: tuple[flow.PullTiming, ...] = ()
    usual: Mapping[str, flow.UsualTime] | None = None


@dataclass(frozen=True)
class Progress:
    """The sprint's items by role, as sets of keys."""

    committed: frozenset[str]
    added: frozenset[str]
    removed: frozenset[str]
    final: frozenset[str]  # in the sprint at as_of
    completed: frozenset[str]
    outside: frozenset[str]  # done before they joined
    earlier: Mapping[str, int]  # carried-over key -> how many earlier sprints it was in
    points: Mapping[str, float | None]

    @property
    def scope(self) -> frozenset[str]:
        return self.committed | self.added

    @property
    def estimated(self) -> bool:
        return any(self.points.get(k) is not None for k in self.scope)

    def points_of(self, keys: Iterable[str]) -> float | None:
        return sum(self.points.get(k) or 0.0 for k in keys) if self.estimated else None


def sprint_progress(
    sprint: SprintRecord,
    sprints: Iterable[SprintRecord],
    memberships: Iterable[Membership],
    items: Mapping[str, flow.ItemHistory],
    as_of: dt.datetime,
) -> Progress | None:
    """Committed, added, removed, completed and carried-over items; None before the start."""
    start = sprint.started_at
    if start is None or start > as_of:
        return None
    earlier = {
        s.id: (s.started_at, s.completed_at or s.ends_at or as_of)
        for s in sprints
        if s.id != sprint.id and s.started_at is not None and s.started_at < start
    }
    own = [m for m in memberships if m.sprint_id == sprint.id]
    committed = {m.item_key for m in own if m.member_at(start)}
    added = {m.item_key for m in own if m.added_at and start < m.added_at <= as_of}
    removed = {m.item_key for m in own if m.removed_at and start < m.removed_at <= as_of}
    final = {m.item_key for m in own if m.member_at(as_of)} & (committed | added)
    keys = committed | added
    completed: set[str] = set()
    outside: set[str] = set()
    for m in own:
        item = items.get(m.item_key)
        done = item.done_since(as_of) if item and m.item_key in final else None
        if done is not None:
            joined = max(start, m.added_at or start)
            (completed if done > joined else outside).add(m.item_key)
    runs: dict[str, int] = {}
    for m in memberships:
        span = earlier.get(m.sprint_id)
        if span and m.item_key in keys and _overlaps(m, *span):
            runs[m.item_key] = runs.get(m.item_key, 0) + 1
    return Progress(
        frozenset(committed),
        frozenset(added),
        frozenset(removed),
        frozenset(final),
        frozenset(completed),
        frozenset(outside),
        runs,
        {k: items[k].story_points if k in items else None for k in keys},
    )


def _overlaps(m: Membership, start: dt.datetime, end: dt.datetime) -> bool:
    return (m.added_at is None or m.added_at < end) and (
        m.removed_at is None or m.removed_at > start
    )


@dataclass(frozen=True)
class Projection:
    basis: str  # points | issues
    done: float
    scope: float
    elapsed_days: float
    total_days: float
    burn_per_day: float
    projected: float

    @property
    def share(self) -> float:
        return self.projected / self.scope

    @property
    def done_share(self) -> float:
        return self.done / self.scope

    @property
    def time_left_share(self) -> float:
        return max(0.0, 1 - self.elapsed_days / self.total_days)


def projection(progress: Progress, sprint: SprintRecord, as_of: dt.datetime) -> Projection | None:
    """Where the active sprint ends at its current burn rate (module docstring)."""
    if sprint.state != "active" or sprint.started_at is None or sprint.ends_at is None:
        return None
    elapsed, total = (as_of - sprint.started_at) / DAY, (sprint.ends_at - sprint.started_at) / DAY
    basis = "points" if progress.estimated else "issues"

    def amount(keys: frozenset[str]) -> float:
        found = progress.points_of(keys)
        return float(len(keys)) if found is None else found

    scope = amount(progress.final - progress.outside)
    done = amount(progress.completed)
    if elapsed < 1 or total <= 0 or scope == 0:
        return None
    rate = done / elapsed
    projected = min(scope, done + rate * max(0.0, total - elapsed))
    return Projection(basis, done, scope, elapsed, total, rate, projected)


# ---------------------------------------------------------------- one board


@dataclass(frozen=True)
class BoardSprint:
    """One board's section of the report: its sprint (if any) and its flow."""

    board: BoardRecord
    sprint: SprintRecord | None
    as_of: dt.datetime
    window: Window  # the flow window
    history: Window  # where the usual time per status comes from
    metrics: tuple[Metric, ...]
    findings: tuple[Finding, ...]
    tables: Mapping[str, list[dict[str, Any]]]
    bottleneck: str | None = None
    note: str | None = None

    def metric(self, metric_id: str) -> Metric:
        for metric in self.metrics:
            if metric.id == metric_id:
                return metric
        raise KeyError(metric_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "board": self.board.as_dict(),
            "sprint": self.sprint.as_dict() if self.sprint else None,
            "as_of": self.as_of.isoformat(),
            "window": self.window.as_dict(),
            "history_window": self.history.as_dict(),
            "bottleneck": self.bottleneck,
            "note": self.note,
            "metrics": {m.id: m.as_dict() for m in self.metrics},
            "findings": [f.as_dict() for f in self.findings],
            "tables": {k: _jsonable_rows(v) for k, v in self.tables.items()},
        }


_PLAIN = (str, int, bool, type(None))


def _jsonable_rows(rows: list[dict[str, Any]]) -> Any:
    """`jsonable` of a table, skipping the values it returns as they are: a report on ~50
    boards has ~40k cells, and `jsonable` asks each one if it is a Mapping (an ABC check)."""
    if not all(type(row) is dict for row in rows):
        return jsonable(rows)
    return [
        {str(k): v if type(v) in _PLAIN else jsonable(v) for k, v in row.items()} for row in rows
    ]


def windows(
    sprint: SprintRecord | None, now: dt.datetime, rules: SprintRules
) -> tuple[Window, Window]:
    """The flow window (the sprint so far, and at least ``flow_days`` up to its instant, so a
    sprint's first day is not judged on a few hours) and the history window: the
    ``history_days`` whole UTC days before the day of that instant. Whole days, so the usual
    times hold all day and can be kept (`insights.queries.baselines`)."""
    as_of = sprint.as_of(now) if sprint else now
    start = as_of - rules.flow_days * DAY
    if sprint and sprint.started_at and sprint.started_at < start:
        start = sprint.started_at
    day = as_of.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return Window(start, as_of), Window(day - rules.history_days * DAY, day)


def board_sprint(data: BoardInput, *, now: dt.datetime, rules: SprintRules) -> BoardSprint:
    """Compute one board's section (metrics, findings, tables) as of its sprint's instant."""
    sprint = data.sprint
    window, history = windows(sprint, now, rules)
    as_of = window.end
    progress = (
        sprint_progress(sprint, data.sprints, data.memberships, data.items, as_of)
        if sprint
        else None
    )
    board_items = list(data.items.values())
    members = (
        [data.items[k] for k in progress.final if k in data.items] if progress else board_items
    )
    usual = data.usual if data.usual is not None else flow.usual_times(board_items, history)
    statuses = flow.time_in_status(board_items, window, usual, rules.active_statuses)
    neck = flow.bottleneck(statuses)
    aging = flow.aging_wip(members, usual, as_of)
    wip = flow.wip_by_assignee(members, as_of, aging)
    efficiency = flow.flow_efficiency(board_items, window, rules.active_statuses)
    pulls = flow.pull_flow(data.pulls, window)
    ahead = projection(progress, sprint, as_of) if progress and sprint else None
    metrics = (
        *sprint_metrics(progress, ahead, sprint, as_of, rules),
        *flow_metrics(members, usual, aging, neck, efficiency, pulls, as_of),
    )
    tables: dict[str, list[dict[str, Any]]] = {
        "time_in_status": [s.as_row() for s in statuses],
        "aging_wip": [a.as_row() for a in aging],
        "wip_by_assignee": [w.as_row() for w in wip],
    }
    if progress:
        tables["sprint_items"] = item_rows(progress, data.items, as_of)
    note = None
    if sprint is None:
        note = "no active sprint: flow only"
    elif progress is None:
        note = "the sprint has not started"
    elif not progress.scope:
        note = "the sprint has no issues"
    found = findings_for(progress, ahead, statuses, neck, aging, wip, pulls, window, rules)
    return BoardSprint(
        data.board,
        sprint,
        as_of,
        window,
        history,
        metrics,
        ranked(found),
        tables,
        neck.status if neck else None,
        note,
    )


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class SprintReport(FactsOnce):
    """One section per board; ``board``, ``sprint``, ``metrics`` and ``tables`` are those of the
    only section (empty when the report covers several boards: read ``sections``)."""

    scope: Mapping[str, Any]
    now: dt.datetime
    sections: tuple[BoardSprint, ...]
    summary: Summary | None = None
    kind: str = "sprint"

    @property
    def _single(self) -> BoardSprint | None:
        return self.sections[0] if len(self.sections) == 1 else None

    @property
    def board(self) -> BoardRecord | None:
        return self._single.board if self._single else None

    @property
    def sprint(self) -> SprintRecord | None:
        return self._single.sprint if self._single else None

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return self._single.metrics if self._single else ()

    @property
    def tables(self) -> Mapping[str, list[dict[str, Any]]]:
        return self._single.tables if self._single else {}

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every section's findings, ranked; prefixed with the board's name when several."""
        if len(self.sections) == 1:
            return self.sections[0].findings
        return ranked(
            dataclasses.replace(f, action=f"{s.board.name}: {f.action}")
            for s in self.sections
            for f in s.findings
        )

    def section(self, board: str) -> BoardSprint:
        for section in self.sections:
            if board in (section.board.id, section.board.name):
                return section
        raise KeyError(board)

    def _facts(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "scope": dict(self.scope),
            "as_of": self.now.isoformat(),
            "boards": [s.as_dict() for s in self.sections],
            "findings": [f.as_dict() for f in self.findings],
        }
