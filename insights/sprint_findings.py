"""The metrics and findings of one board's sprint section (definitions in `insights.sprint`).

Split from `insights.sprint` to keep each module small; it reads the records defined there
only through their attributes, so the two do not import each other at run time.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from insights import flow
from insights.common import Finding, Metric, Window, median, ratio

if TYPE_CHECKING:
    from insights.sprint import Progress, Projection, SprintRecord, SprintRules

SPRINT_METRICS = {
    "committed_issues": ("Committed issues", "issues"),
    "committed_points": ("Committed points", "points"),
    "added_issues": ("Issues added after the start", "issues"),
    "added_points": ("Points added after the start", "points"),
    "removed_issues": ("Issues removed after the start", "issues"),
    "removed_points": ("Points removed after the start", "points"),
    "completed_issues": ("Completed issues", "issues"),
    "completed_points": ("Completed points", "points"),
    "remaining_issues": ("Issues not completed", "issues"),
    "remaining_points": ("Points not completed", "points"),
    "say_do_ratio": ("Completed / committed", "ratio"),
    "carried_over_issues": ("Issues carried over", "issues"),
    "carried_over_points": ("Points carried over", "points"),
    "carried_over_2plus_issues": ("Issues carried over from 2+ sprints", "issues"),
    "time_elapsed": ("Sprint time elapsed", "ratio"),
    "projected_completion": ("Projected completion at the end", "ratio"),
}


def sprint_metrics(
    progress: Progress | None,
    ahead: Projection | None,
    sprint: SprintRecord | None,
    as_of: dt.datetime,
    rules: SprintRules,
) -> tuple[Metric, ...]:
    """The sprint's metrics, in `SPRINT_METRICS` order; all None without a started sprint with
    issues (an empty sprint has no data, not zeros)."""
    values: dict[str, float | None] = dict.fromkeys(SPRINT_METRICS)
    details: dict[str, dict[str, Any]] = defaultdict(dict)
    if progress is not None and progress.scope and sprint is not None:
        p = progress
        remaining = p.final - p.completed - p.outside
        carried = frozenset(p.earlier)
        values |= {
            "committed_issues": len(p.committed),
            "committed_points": p.points_of(p.committed),
            "added_issues": len(p.added),
            "added_points": p.points_of(p.added),
            "removed_issues": len(p.removed),
            "removed_points": p.points_of(p.removed),
            "completed_issues": len(p.completed),
            "completed_points": p.points_of(p.completed),
            "remaining_issues": len(remaining),
            "remaining_points": p.points_of(remaining),
            "carried_over_issues": len(carried),
            "carried_over_points": p.points_of(carried),
            "carried_over_2plus_issues": sum(1 for n in p.earlier.values() if n >= 2),
        }
        basis = "points" if p.estimated else "issues"
        done, committed = (
            (values["completed_points"], values["committed_points"])
            if p.estimated
            else (len(p.completed), len(p.committed))
        )
        values["say_do_ratio"] = ratio(done or 0.0, committed or 0.0)
        details["say_do_ratio"] = {"basis": basis}
        details["completed_issues"] = {"completed_outside": len(p.outside)}
        details["committed_points"] = {
            "unestimated": sum(1 for k in p.committed if p.points.get(k) is None)
        }
        if sprint.started_at and sprint.ends_at and sprint.ends_at > sprint.started_at:
            values["time_elapsed"] = (as_of - sprint.started_at) / (
                sprint.ends_at - sprint.started_at
            )
    if ahead is not None:
        values["projected_completion"] = ahead.share
        details["projected_completion"] = {
            "basis": ahead.basis,
            "done_share": ahead.done_share,
            "burn_per_day": ahead.burn_per_day,
            "days_left": max(0.0, ahead.total_days - ahead.elapsed_days),
            "on_track": ahead.share >= rules.on_track_share,
        }
    return tuple(
        Metric(key, label, values[key], unit, detail=details.get(key, {}))
        for key, (label, unit) in SPRINT_METRICS.items()
    )


def flow_metrics(
    members: Sequence[flow.ItemHistory],
    usual: Mapping[str, flow.UsualTime],
    aging: Sequence[flow.AgingItem],
    neck: flow.StatusTime | None,
    efficiency: flow.FlowEfficiency,
    pulls: flow.PullFlow,
    as_of: dt.datetime,
) -> tuple[Metric, ...]:
    """WIP, aging WIP, the bottleneck, flow efficiency and the PR review flow."""
    wip = sum(1 for item in members if item.category_at(as_of) == flow.IN_PROGRESS)
    return (
        Metric("wip_issues", "Issues in progress", wip if members else None, "issues"),
        Metric(
            "aging_wip_issues",
            "Issues in a status longer than its p85",
            len(aging) if members and usual else None,
            "issues",
        ),
        Metric(
            "bottleneck_share",
            "Share of in-progress time in the bottleneck status",
            neck.share if neck else None,
            "ratio",
            detail={
                "status": neck.status if neck else None,
                "kind": ("active" if neck.active else "wait") if neck else None,
                "item_hours": neck.hours if neck else None,
            },
        ),
        Metric(
            "flow_efficiency",
            "Flow efficiency (active / cycle time)",
            efficiency.value,
            "ratio",
            detail={"items": efficiency.items},
        ),
        Metric(
            "pr_pickup_time",
            "PR pickup time (median)",
            pulls.pickup_hours,
            "hours",
            detail={"pull_requests": pulls.pickup_pulls},
        ),
        Metric(
            "pr_review_time",
            "PR review time (median)",
            pulls.review_hours,
            "hours",
            detail={"pull_requests": pulls.review_pulls},
        ),
        Metric(
            "pr_size",
            "PR size (median)",
            pulls.size_lines,
            "lines",
            detail={"pull_requests": pulls.size_pulls},
        ),
    )


def item_rows(
    progress: Progress, items: Mapping[str, flow.ItemHistory], as_of: dt.datetime
) -> list[dict[str, Any]]:
    """The sprint's items (its scope and the removed ones), each with its role."""
    rows = []
    for key in sorted(progress.scope | progress.removed, key=key_order):
        item = items.get(key)
        visit = item.visit_at(as_of) if item else None
        rows.append(
            {
                "key": key,
                "status": visit.status if visit else None,
                "points": progress.points.get(key),
                "assignee": item.assignee if item else None,
                "committed": key in progress.committed,
                "added": key in progress.added,
                "removed": key in progress.removed,
                "completed": key in progress.completed,
                "earlier_sprints": progress.earlier.get(key, 0),
                "summary": item.summary if item else "",
            }
        )
    return rows


def key_order(key: str) -> tuple[str, int, str]:
    """PAY-9 before PAY-10."""
    match = re.fullmatch(r"(.*?)-(\d+)", key)
    return (match.group(1), int(match.group(2)), "") if match else (key, 0, key)


# ---------------------------------------------------------------- findings


def findings_for(
    progress: Progress | None,
    ahead: Projection | None,
    statuses: Sequence[flow.StatusTime],
    neck: flow.StatusTime | None,
    aging: Sequence[flow.AgingItem],
    wip: Sequence[flow.AssigneeWip],
    pulls: flow.PullFlow,
    window: Window,
    rules: SprintRules,
) -> list[Finding]:
    """Every finding of one section, unranked (scores in the `insights.sprint` docstring)."""
    found = [*_at_risk(ahead, rules), *_aging(aging, rules), *_bottleneck(neck, statuses, window)]
    found += [*_overloaded(wip, rules), *_slow_pickup(pulls, rules)]
    if progress is not None and progress.scope:
        found += [*_scope_creep(progress, rules), *_carry_over(progress, rules)]
    return found


def _at_risk(ahead: Projection | None, rules: SprintRules) -> list[Finding]:
    if ahead is None or ahead.elapsed_days < rules.risk_min_elapsed * ahead.total_days:
        return []
    if ahead.share >= rules.on_track_share:
        return []
    shortfall = rules.on_track_share - ahead.share
    return [
        Finding(
            "sprint_at_risk",
            "Sprint at risk: agree now what to finish and what to drop",
            f"{_pct(ahead.done_share)} of {ahead.basis} done with {_pct(ahead.time_left_share)} "
            f"of the time left; at this rate {_pct(ahead.share)} will be done "
            f"({ahead.burn_per_day:.1f} {ahead.basis} a day)",
            0.6 + 0.4 * min(1.0, shortfall / 0.5),
            {
                "done_share": ahead.done_share,
                "time_left_share": ahead.time_left_share,
                "projected_share": ahead.share,
                "burn_per_day": ahead.burn_per_day,
            },
        )
    ]


def _aging(aging: Sequence[flow.AgingItem], rules: SprintRules) -> list[Finding]:
    by_status: dict[str, list[flow.AgingItem]] = defaultdict(list)
    for item in aging:
        by_status[item.status].append(item)
    found = []
    for status, items in sorted(by_status.items()):
        waiting = not flow.is_active(status, flow.IN_PROGRESS, rules.active_statuses)
        youngest = min(i.age_hours for i in items)
        p85 = items[0].p85_hours
        keys = ", ".join(i.key for i in items[:5]) + (", ..." if len(items) > 5 else "")
        found.append(
            Finding(
                "aging_wip",
                f"Unblock {status}" if waiting else f"Check on stalled work in {status}",
                f"{_items(len(items))} {'waiting in' if waiting else 'in'} {status} for more "
                f"than {_span(youngest, down=True, like=p85)}; the usual p85 is "
                f"{_span(p85, like=youngest)} ({keys})",
                0.5 + 0.05 * min(len(items), 8),
                {"items": len(items), "min_age_hours": youngest, "p85_hours": p85},
            )
        )
    return found


def _bottleneck(
    neck: flow.StatusTime | None, statuses: Sequence[flow.StatusTime], window: Window
) -> list[Finding]:
    """Only a wait status is worth a finding: most time in an active status is normal."""
    if neck is None or neck.active or neck.share is None:
        return []
    runner_up = next((s for s in statuses if s is not neck and s.share is not None), None)
    typical = neck.usual.median_hours if neck.usual else None
    usual = f" (median visit {_span(typical)})" if typical is not None else ""
    other = f"; next is {runner_up.status} with {_pct(runner_up.share or 0)}" if runner_up else ""
    return [
        Finding(
            "bottleneck",
            f"Relieve the {neck.status} bottleneck",
            f"{neck.status} holds {_pct(neck.share)} of the in-progress time in the last "
            f"{window.days:.0f} days{usual}{other}",
            0.4 + 0.4 * neck.share,
            {"share": neck.share, "item_hours": neck.hours},
        )
    ]


def _overloaded(wip: Sequence[flow.AssigneeWip], rules: SprintRules) -> list[Finding]:
    typical = median(w.items for w in wip if w.assignee != flow.UNASSIGNED)
    if typical is None:
        return []
    limit = max(rules.wip_min, rules.wip_factor * typical)
    return [
        Finding(
            "overloaded_assignee",
            f"Rebalance {w.assignee}'s work",
            f"{_items(w.items)} in progress; the median per person is {typical:g}",
            0.35 + 0.05 * min(w.items - typical, 5),
            {"in_progress": w.items, "median_per_person": typical},
        )
        for w in wip
        if w.assignee != flow.UNASSIGNED and w.items >= limit
    ]


def _slow_pickup(pulls: flow.PullFlow, rules: SprintRules) -> list[Finding]:
    pickup = pulls.pickup_hours
    if pickup is None or pickup <= rules.pickup_hours:
        return []
    return [
        Finding(
            "slow_pr_pickup",
            "Pick up pull requests sooner",
            f"PRs waited a median {_span(pickup)} for a first review ({pulls.pickup_pulls} PRs)",
            0.3 + 0.2 * min(1.0, (pickup - rules.pickup_hours) / rules.pickup_hours),
            {"pickup_hours": pickup, "pull_requests": pulls.pickup_pulls},
        )
    ]


def _scope_creep(p: Progress, rules: SprintRules) -> list[Finding]:
    basis = "points" if p.estimated else "issues"
    added = p.points_of(p.added) if p.estimated else len(p.added)
    committed = p.points_of(p.committed) if p.estimated else len(p.committed)
    share = ratio(added or 0.0, committed or 0.0)
    if not p.added or share is None or share < rules.scope_creep_share:
        return []
    points = f" ({added:g} points)" if p.estimated else ""
    return [
        Finding(
            "scope_creep",
            "Protect the sprint scope: trade new work for planned work",
            f"{_items(len(p.added))}{points} added after the start, {_pct(share)} of the "
            f"{committed:g} committed {basis}; {len(p.removed)} removed",
            0.3 + 0.4 * min(1.0, share),
            {"added_issues": len(p.added), "added": added or 0.0, "share": share},
        )
    ]


def _carry_over(p: Progress, rules: SprintRules) -> list[Finding]:
    carried = len(p.earlier)
    twice = sum(1 for n in p.earlier.values() if n >= 2)
    share = carried / len(p.scope)
    if carried == 0 or (share < rules.carry_over_share and twice == 0):
        return []
    return [
        Finding(
            "carry_over",
            "Split or re-plan the work that keeps rolling over",
            f"{carried} of {len(p.scope)} issues carried over from earlier sprints, "
            f"{twice} of them from 2 or more",
            0.3 + 0.3 * min(1.0, share),
            {"carried_over": carried, "carried_over_2plus": twice, "share": share},
        )
    ]


def _pct(value: float) -> str:
    return f"{round(value * 100):d}%"


def _items(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def _span(hours: float, *, down: bool = False, like: float = 0.0) -> str:
    """Hours under two days, else days (in days too when ``like``, a figure quoted beside it,
    is two days or more); ``down`` rounds down so "more than X" stays true."""
    value, unit = (hours, "hours") if max(hours, like) < 48 else (hours / 24, "days")
    shown = math.floor(value * 10) / 10 if down else round(value, 1)
    return f"{shown:g} {unit}"
