"""Product health: errors, open bugs against their SLA, deployments, and a 0-100 score.

Pure code over frozen records (`insights.queries.health` loads them). Definitions (also in the
README's metric table):

- **error_events**: events of the scope's Sentry issues on the UTC days that start inside the
  window (Sentry's daily stats cannot split a day). Counts exist from 14 days before the first
  sync on: a window that starts earlier is marked partial, one that ends earlier is ``None``.
- **new_error_issues**: issues first seen in the window. **regressed_error_issues**: unresolved
  issues Sentry marks ``regressed`` that were seen in the window (Sentry keeps only the current
  substatus, not when it changed).
- **unresolved_error_issues**: unresolved issues seen in the window, by level.
- **users_affected**: the sum over issues seen in the window of each issue's distinct users
  (lifetime: Sentry's per-issue count). A user hit by two issues counts twice: an upper bound.
- **open_bugs**: Jira bugs open at the end of the window, by priority (none counts as medium);
  **bugs_over_sla**: those older than their priority's SLA in days.
- **deployments** / **failed_deployments**: production deployments that finished in the window
  with the final status success / failure or error.
- **health_score**: 100 minus the penalties in `score` (each capped), floored at 0.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from insights.common import DAY, Metric, Window

LEVELS = ("fatal", "error", "warning", "info", "debug")
PRIORITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class ErrorIssueRecord:
    id: int
    project: str
    short_id: str | None
    title: str
    level: str
    status: str
    substatus: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    user_count: int
    url: str | None = None


@dataclass(frozen=True)
class BugRecord:
    key: str
    project_key: str
    priority: str | None
    created_at: dt.datetime
    resolved_at: dt.datetime | None
    url: str | None = None

    def open_at(self, moment: dt.datetime) -> bool:
        return self.created_at < moment and (self.resolved_at is None or self.resolved_at > moment)


@dataclass(frozen=True)
class DeploymentOutcome:
    repo: str
    succeeded: bool
    finished_at: dt.datetime


@dataclass(frozen=True)
class HealthInput:
    """``daily_events`` maps an error issue id to its events per UTC day; ``sla_days`` maps a
    Jira project to days allowed per priority. ``has_*`` say whether the scope has that source
    at all (no source: ``None``, not 0)."""

    issues: Sequence[ErrorIssueRecord]
    daily_events: Mapping[int, Mapping[dt.date, int]]
    bugs: Sequence[BugRecord]
    deployments: Sequence[DeploymentOutcome]
    sla_days: Mapping[str, Mapping[str, float]]
    has_errors: bool
    has_bugs: bool
    has_deployments: bool
    # The first day with synced event counts: Sentry hands out daily counts for the last 14
    # days only, so history builds up from the first sync. Earlier days are unknown, not 0.
    events_since: dt.date | None = None


@dataclass(frozen=True)
class Factor:
    """One reason the score is below 100: the points it cost and why."""

    id: str
    points: float
    cap: float
    evidence: str


@dataclass(frozen=True)
class Health:
    metrics: tuple[Metric, ...]
    factors: tuple[Factor, ...]
    top_issues: tuple[Mapping[str, object], ...]
    overdue_bugs: tuple[Mapping[str, object], ...]


def _days_in(window: Window) -> tuple[dt.date, dt.date]:
    """The UTC dates whose midnight falls inside the window: [first, last)."""
    first = window.start.date() + (DAY if window.start.time() != dt.time() else dt.timedelta())
    last = window.end.date() + (DAY if window.end.time() != dt.time() else dt.timedelta())
    return first, last


def events_in(data: HealthInput, window: Window) -> dict[int, int]:
    first, last = _days_in(window)
    totals: dict[int, int] = {}
    for issue_id, days in data.daily_events.items():
        total = sum(n for day, n in days.items() if first <= day < last)
        if total:
            totals[issue_id] = total
    return totals


def _priority(bug: BugRecord) -> str:
    return bug.priority if bug.priority in PRIORITIES else "medium"


def overdue(data: HealthInput, at: dt.datetime) -> list[tuple[BugRecord, float, float]]:
    """Bugs open at ``at`` older than their SLA: (bug, age in days, SLA in days)."""
    found = []
    for bug in data.bugs:
        if not bug.open_at(at):
            continue
        sla = data.sla_days.get(bug.project_key, {}).get(_priority(bug))
        age = (at - bug.created_at) / DAY
        if sla is not None and age > sla:
            found.append((bug, age, sla))
    return sorted(found, key=lambda f: (PRIORITIES.index(_priority(f[0])), -f[1]))


def coverage(data: HealthInput, window: Window) -> str | None:
    """``full``, ``partial`` or ``None`` (no event counts for any day of the window)."""
    if not data.has_errors or data.events_since is None:
        return None
    first, last = _days_in(window)
    if last <= data.events_since:
        return None
    return "full" if first >= data.events_since else "partial"


@dataclass(frozen=True)
class _Snapshot:
    events: int | None
    events_coverage: str | None
    new: int | None
    regressed: int | None
    unresolved: dict[str, int] | None
    fatal_unresolved: int
    users: int | None
    open_bugs: dict[str, int] | None
    overdue: list[tuple[BugRecord, float, float]]
    deployments: int | None
    failed: int | None


def _snapshot(data: HealthInput, window: Window) -> _Snapshot:
    seen = [i for i in data.issues if i.last_seen >= window.start and i.first_seen < window.end]
    unresolved = Counter(i.level for i in seen if i.status == "unresolved")
    inside = [d for d in data.deployments if d.finished_at in window]
    open_bugs = Counter(_priority(b) for b in data.bugs if b.open_at(window.end))
    errors, bugs, deploys = data.has_errors, data.has_bugs, data.has_deployments
    return _Snapshot(
        events=sum(events_in(data, window).values()) if coverage(data, window) else None,
        events_coverage=coverage(data, window),
        new=sum(1 for i in data.issues if i.first_seen in window) if errors else None,
        regressed=sum(1 for i in seen if i.status == "unresolved" and i.substatus == "regressed")
        if errors
        else None,
        unresolved={lvl: unresolved.get(lvl, 0) for lvl in LEVELS} if errors else None,
        fatal_unresolved=unresolved.get("fatal", 0),
        users=sum(i.user_count for i in seen) if errors else None,
        open_bugs={p: open_bugs.get(p, 0) for p in PRIORITIES} if bugs else None,
        overdue=overdue(data, window.end) if bugs else [],
        deployments=sum(1 for d in inside if d.succeeded) if deploys else None,
        failed=sum(1 for d in inside if not d.succeeded) if deploys else None,
    )


_BUG_WEIGHT = {"critical": 10, "high": 5, "medium": 2, "low": 1}


def score(
    current: _Snapshot, previous: _Snapshot, data: HealthInput
) -> tuple[float | None, list[Factor]]:
    """100 minus these penalties (each capped), floored at 0 and rounded to a whole number;
    ``None`` without any source.

    - fatal: 5 per unresolved fatal issue seen in the window (cap 20);
    - new_or_regressed: 2 per new or regressed issue (cap 20);
    - error_trend: 20 x the relative rise in events over the previous window, when both windows
      have full event counts (cap 20);
    - overdue_bugs: per bug past its SLA, 10 critical / 5 high / 2 medium / 1 low (cap 25);
    - failed_deployments: 30 x the failed share of production deployments (cap 15).
    """
    if not (data.has_errors or data.has_bugs or data.has_deployments):
        return None, []
    factors = []

    def add(id_: str, raw: float, cap: float, evidence: str) -> None:
        if raw > 0:
            factors.append(Factor(id_, min(raw, cap), cap, evidence))

    add("fatal", 5 * current.fatal_unresolved, 20, f"{current.fatal_unresolved} unresolved fatal")
    fresh = (current.new or 0) + (current.regressed or 0)
    add(
        "new_or_regressed",
        2 * fresh,
        20,
        f"{current.new or 0} new, {current.regressed or 0} regressed",
    )
    full = current.events_coverage == previous.events_coverage == "full"
    if current.events is not None and previous.events and full:
        rise = current.events / previous.events - 1
        add("error_trend", 20 * rise, 20, f"{current.events} events against {previous.events}")
    weight = sum(_BUG_WEIGHT[_priority(b)] for b, _, _ in current.overdue)
    add("overdue_bugs", weight, 25, f"{len(current.overdue)} bugs past their SLA")
    total = (current.deployments or 0) + (current.failed or 0)
    if total:
        add(
            "failed_deployments",
            30 * (current.failed or 0) / total,
            15,
            f"{current.failed} of {total} deployments failed",
        )
    return round(max(0.0, 100 - sum(f.points for f in factors))), factors


def compute(data: HealthInput, window: Window, top: int = 5) -> Health:
    """Every health metric for the window, with the previous window's values beside them."""
    before = window.previous()
    now_, prev = _snapshot(data, window), _snapshot(data, before)
    value, factors = score(now_, prev, data)
    prev_value, _ = score(prev, _snapshot(data, before.previous()), data)

    def m(
        id_: str, label: str, cur: float | None, old: float | None, unit: str, **detail: object
    ) -> Metric:
        return Metric(id_, label, cur, unit, previous=old, detail=detail)

    metrics = (
        m("health_score", "Health score", value, prev_value, "score 0-100"),
        m(
            "error_events",
            "Error events",
            now_.events,
            prev.events,
            "events",
            coverage=now_.events_coverage,
            previous_coverage=prev.events_coverage,
        ),
        m("new_error_issues", "New error issues", now_.new, prev.new, "issues"),
        m(
            "regressed_error_issues",
            "Regressed error issues",
            now_.regressed,
            prev.regressed,
            "issues",
        ),
        m(
            "unresolved_error_issues",
            "Unresolved error issues",
            None if now_.unresolved is None else sum(now_.unresolved.values()),
            None if prev.unresolved is None else sum(prev.unresolved.values()),
            "issues",
            by_level=now_.unresolved,
        ),
        m("users_affected", "Users affected", now_.users, prev.users, "users"),
        m(
            "open_bugs",
            "Open bugs",
            None if now_.open_bugs is None else sum(now_.open_bugs.values()),
            None if prev.open_bugs is None else sum(prev.open_bugs.values()),
            "bugs",
            by_priority=now_.open_bugs,
        ),
        m(
            "bugs_over_sla",
            "Bugs past their SLA",
            len(now_.overdue) if data.has_bugs else None,
            len(prev.overdue) if data.has_bugs else None,
            "bugs",
            by_priority=dict(Counter(_priority(b) for b, _, _ in now_.overdue)),
        ),
        m(
            "deployments",
            "Production deployments",
            now_.deployments,
            prev.deployments,
            "deployments",
        ),
        m("failed_deployments", "Failed deployments", now_.failed, prev.failed, "deployments"),
    )
    events = events_in(data, window)
    by_id = {i.id: i for i in data.issues}
    top_issues = tuple(
        {
            "short_id": by_id[i].short_id,
            "title": by_id[i].title,
            "level": by_id[i].level,
            "status": by_id[i].status,
            "events": n,
            "users": by_id[i].user_count,
            "url": by_id[i].url,
        }
        for i, n in sorted(events.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        if i in by_id
    )
    overdue_rows = tuple(
        {
            "key": b.key,
            "priority": _priority(b),
            "age_days": round(age, 1),
            "sla_days": sla,
            "url": b.url,
        }
        for b, age, sla in now_.overdue[:10]
    )
    return Health(metrics, tuple(factors), top_issues, overdue_rows)
