"""Product health on hand-built records; expected values are worked out in the comments."""

from __future__ import annotations

import datetime as dt

import pytest

from insights import health
from insights.common import Window
from insights.health import BugRecord, DeploymentOutcome, ErrorIssueRecord, HealthInput
from insights.health_findings import health_findings

NOW = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
WINDOW = Window.last(7, NOW)  # days 9..15 of November; previous window 2..8
D = dt.timedelta(days=1)
SLA = {"PAY": {"critical": 2, "high": 7, "medium": 30, "low": 90}}


def day(n: int) -> dt.date:
    return dt.date(2026, 11, n)


def at(n: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 11, n, hour, tzinfo=dt.UTC)


def issue(id_: int, first: int, last: int, **extra: object) -> ErrorIssueRecord:
    fields: dict[str, object] = {
        "project": "pay-api",
        "short_id": f"PAY-{id_}",
        "title": "KeyError",
        "level": "error",
        "status": "unresolved",
        "substatus": "ongoing",
        "user_count": 10,
    }
    fields.update(extra)
    return ErrorIssueRecord(id_, first_seen=at(first), last_seen=at(last), **fields)  # type: ignore[arg-type]


def data(**changes: object) -> HealthInput:
    fields: dict[str, object] = {
        "issues": [],
        "daily_events": {},
        "bugs": [],
        "deployments": [],
        "sla_days": SLA,
        "has_errors": True,
        "has_bugs": True,
        "has_deployments": True,
        "events_since": day(1) - 30 * D,
    }
    fields.update(changes)
    return HealthInput(**fields)  # type: ignore[arg-type]


def metrics(result: health.Health) -> dict[str, health.Metric]:
    return {m.id: m for m in result.metrics}


def test_error_counts_new_regressed_and_unresolved_by_level() -> None:
    issues = [
        issue(1, 1, 12),  # old, seen in the window, unresolved error
        issue(2, 10, 14, level="fatal", substatus="new"),  # new in the window
        issue(3, 3, 13, substatus="regressed"),  # regressed, seen in the window
        issue(4, 1, 5),  # not seen in the window
        issue(5, 9, 9, status="resolved", substatus=None),  # new, resolved
    ]
    events = {
        1: {day(8): 100, day(9): 3, day(15): 4},  # day 8 is the previous window
        2: {day(10): 7},
        3: {day(13): 1, day(16): 50},  # day 16 is after the window
    }
    m = metrics(health.compute(data(issues=issues, daily_events=events), WINDOW))
    assert m["error_events"].value == 3 + 4 + 7 + 1
    assert m["error_events"].previous == 100
    assert m["error_events"].trend == "down"
    assert m["new_error_issues"].value == 2  # issues 2 and 5
    assert m["regressed_error_issues"].value == 1
    assert m["unresolved_error_issues"].value == 3
    assert m["unresolved_error_issues"].detail["by_level"]["fatal"] == 1
    assert m["users_affected"].value == 40  # issues 1, 2, 3, 5 were seen: 4 x 10


def test_event_history_before_the_first_sync_is_unknown_not_zero() -> None:
    events = {1: {day(12): 5}}
    partial = data(issues=[issue(1, 1, 12)], daily_events=events, events_since=day(12))
    m = metrics(health.compute(partial, WINDOW))
    assert m["error_events"].value == 5
    assert m["error_events"].detail["coverage"] == "partial"
    assert m["error_events"].previous is None  # the previous window ends before day 12


def test_open_bugs_against_their_sla() -> None:
    bugs = [
        BugRecord("PAY-1", "PAY", "critical", NOW - 3 * D, None),  # 3 days > 2: over
        BugRecord("PAY-2", "PAY", "critical", NOW - 1 * D, None),  # within
        BugRecord("PAY-3", "PAY", None, NOW - 40 * D, None),  # no priority = medium, 40 > 30
        BugRecord("PAY-4", "PAY", "high", NOW - 20 * D, NOW - 2 * D),  # resolved
        BugRecord("PAY-5", "PAY", "low", NOW - 10 * D, None),  # within 90
    ]
    result = health.compute(data(bugs=bugs), WINDOW)
    m = metrics(result)
    assert m["open_bugs"].value == 4
    assert m["open_bugs"].detail["by_priority"] == {"critical": 2, "high": 0, "medium": 1, "low": 1}
    # At the end of the previous window (9th 00:00) PAY-4 was open (13 days, high: over 7),
    # PAY-3 was 33 days old (over 30), PAY-1 and PAY-2 did not exist yet.
    assert m["open_bugs"].previous == 3
    assert m["bugs_over_sla"].value == 2
    assert m["bugs_over_sla"].previous == 2
    assert [row["key"] for row in result.overdue_bugs] == ["PAY-1", "PAY-3"]
    # Score: overdue critical 10 + medium 2 = 12 points -> 88.
    assert m["health_score"].value == 88


def test_score_factors_are_capped_and_explained() -> None:
    issues = [issue(i, 10, 12, level="fatal", substatus="new") for i in range(1, 8)]
    deployments = [DeploymentOutcome("acme/pay", i % 2 == 0, at(10 + i % 5)) for i in range(8)]
    result = health.compute(data(issues=issues, deployments=deployments), WINDOW)
    factors = {f.id: f.points for f in result.factors}
    # 7 fatal x 5 = 35, capped at 20; 7 new x 2 = 14; 4 of 8 failed: 30 x 0.5 = 15 (cap 15).
    assert factors == {"fatal": 20, "new_or_regressed": 14, "failed_deployments": 15}
    m = metrics(result)
    assert m["health_score"].value == 100 - 20 - 14 - 15
    assert m["deployments"].value == 4
    assert m["failed_deployments"].value == 4
    kinds = [f.kind for f in health_findings(result)]
    assert kinds[0] == "fatal_errors"  # 20 points: the most costly first
    assert set(kinds) == {"fatal_errors", "new_errors", "failed_deployments"}


def test_error_rise_costs_points_only_with_full_history() -> None:
    issues = [issue(1, 1, 14)]
    events = {1: {day(5): 10, day(12): 25}}  # 10 -> 25: +150%, 20 x 1.5 = 30, capped 20
    result = health.compute(data(issues=issues, daily_events=events), WINDOW)
    assert {f.id: f.points for f in result.factors}["error_trend"] == 20
    partial = data(issues=issues, daily_events=events, events_since=day(5))
    assert "error_trend" not in {f.id for f in health.compute(partial, WINDOW).factors}


def test_no_sources_means_none_everywhere() -> None:
    empty = data(has_errors=False, has_bugs=False, has_deployments=False, events_since=None)
    m = metrics(health.compute(empty, WINDOW))
    assert all(metric.value is None for metric in m.values()), m


@pytest.mark.parametrize("hour", [0, 13])
def test_daily_counts_count_the_days_starting_inside_the_window(hour: int) -> None:
    window = Window(at(9, hour), at(11, hour))
    events = {1: {day(9): 1, day(10): 10, day(11): 100}}
    m = metrics(health.compute(data(issues=[issue(1, 1, 11)], daily_events=events), window))
    # 00:00 -> days 9 and 10; 13:00 -> days 10 and 11 (their midnights fall inside).
    assert m["error_events"].value == (11 if hour == 0 else 110)
