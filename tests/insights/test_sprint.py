"""Sprint progress, projection, findings and the report, on hand-built sprints.

The main sprint: S2 runs from Monday T0 09:00 for 14 days minus 2 hours; "now" is T0 + 7 days.
S0 and S1 are the two sprints before it.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from insights.common import DAY, HOUR, Summary
from insights.flow import ItemHistory, Visit
from insights.sprint import (
    BoardInput,
    BoardRecord,
    Membership,
    SprintRecord,
    SprintReport,
    SprintRules,
    board_sprint,
    projection,
    sprint_progress,
)

T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
NOW = T0 + 7 * DAY
S0 = SprintRecord(
    "10", "S0", "closed", T0 - 28 * DAY, T0 - 14 * DAY - 2 * HOUR, T0 - 14 * DAY - 2 * HOUR
)
S1 = SprintRecord("11", "S1", "closed", T0 - 14 * DAY, T0 - 2 * HOUR, T0 - 2 * HOUR)
S2 = SprintRecord("12", "S2", "active", T0, T0 + 14 * DAY - 2 * HOUR)
S3 = SprintRecord("13", "S3", "future", None, None)
SPRINTS = (S0, S1, S2, S3)
BOARD = BoardRecord("7", "PAY board", "PAY")
CATEGORY = {"To Do": "todo", "Done": "done"}


def item(
    key: str,
    *visits: tuple[str, dt.datetime],
    points: float | None = None,
    assignee: str | None = None,
) -> ItemHistory:
    """An item from (status, entered at) pairs; each visit ends when the next starts."""
    ends = [start for _, start in visits[1:]] + [None]
    made = tuple(
        Visit(status, CATEGORY.get(status, "in_progress"), start, end)
        for (status, start), end in zip(visits, ends, strict=True)
    )
    return ItemHistory(
        key, made[0].start, made, summary=f"{key} summary", assignee=assignee, story_points=points
    )


ITEMS = {
    i.key: i
    for i in (
        item(
            "P-1",
            ("To Do", T0 - 5 * DAY),
            ("In Progress", T0 + DAY),
            ("Done", T0 + 2 * DAY),
            points=3,
        ),
        item("P-2", ("In Progress", T0 - 20 * DAY), points=5, assignee="ada"),
        item(
            "P-3",
            ("To Do", T0 + DAY),
            ("In Progress", T0 + DAY + 2 * HOUR),
            ("Done", T0 + 3 * DAY),
            points=2,
        ),
        item("P-4", ("To Do", T0 - 3 * DAY), points=8),
        item("P-5", ("To Do", T0 - 10 * DAY)),
        item("P-6", ("To Do", T0 - 4 * DAY), points=13),
        item("P-7", ("In Progress", T0 - 3 * DAY), ("Done", T0 - HOUR), points=1),
        item(
            "P-8", ("To Do", T0 - 3 * DAY), ("In Progress", T0 + 5 * DAY), points=2, assignee="alan"
        ),
    )
}
MEMBERSHIPS = (
    Membership("12", "P-1", T0),  # committed at the very start (a change at T0 has happened)
    Membership("10", "P-2", T0 - 28 * DAY),  # in S0, S1 and S2: carried over from 2 sprints
    Membership("11", "P-2", T0 - 14 * DAY),
    Membership("12", "P-2", T0),
    Membership("12", "P-3", T0 + DAY),  # added after the start, then done
    Membership("12", "P-4", T0 - 2 * DAY, T0 + 4 * DAY),  # committed, removed mid-sprint
    Membership("12", "P-5", None),  # no add time known: in it from the start
    Membership("12", "P-6", T0 - 3 * DAY, T0 - DAY),  # removed before the start: never in it
    Membership("11", "P-7", T0 - 14 * DAY),  # carried over from S1, done before S2 started
    Membership("12", "P-7", T0),
    Membership("11", "P-8", T0 - HOUR),  # added to S1 after it ended: not carried over
    Membership("12", "P-8", T0),
    Membership("12", "P-9", T0 + 8 * DAY),  # added after now: not (yet) in the sprint
)


def test_committed_added_removed_completed_and_carried_over() -> None:
    progress = sprint_progress(S2, SPRINTS, MEMBERSHIPS, ITEMS, NOW)
    assert progress is not None
    assert progress.committed == {"P-1", "P-2", "P-4", "P-5", "P-7", "P-8"}
    assert progress.added == {"P-3"}
    assert progress.removed == {"P-4"}
    assert progress.final == {"P-1", "P-2", "P-3", "P-5", "P-7", "P-8"}
    assert progress.completed == {"P-1", "P-3"}
    assert progress.outside == {"P-7"}  # done an hour before it joined
    assert progress.earlier == {"P-2": 2, "P-7": 1}


def metrics_of(data: BoardInput, rules: SprintRules | None = None) -> dict[str, float | None]:
    section = board_sprint(data, now=NOW, rules=rules or SprintRules())
    return {m.id: m.value for m in section.metrics}


def test_sprint_metrics_count_issues_and_points() -> None:
    values = metrics_of(BoardInput(BOARD, S2, SPRINTS, MEMBERSHIPS, ITEMS))
    expected = {
        "committed_issues": 6,  # P-1, P-2, P-4, P-5, P-7, P-8
        "committed_points": 19,  # 3 + 5 + 8 + 0 (P-5 has none) + 1 + 2
        "added_issues": 1,
        "added_points": 2,
        "removed_issues": 1,
        "removed_points": 8,
        "completed_issues": 2,  # P-1 and P-3; P-7 was done outside
        "completed_points": 5,
        "remaining_issues": 3,  # P-2, P-5, P-8
        "remaining_points": 7,  # 5 + 0 + 2
        "say_do_ratio": 5 / 19,
        "carried_over_issues": 2,
        "carried_over_points": 6,  # P-2 5 + P-7 1
        "carried_over_2plus_issues": 1,
        "time_elapsed": 168 / 334,  # 7 days of 14 days minus 2 hours, in hours
        "wip_issues": 2,  # P-2 and P-8 are in progress now
    }
    assert {k: values[k] for k in expected} == pytest.approx(expected)


def test_projection_from_the_burn_rate() -> None:
    progress = sprint_progress(S2, SPRINTS, MEMBERSHIPS, ITEMS, NOW)
    assert progress is not None
    ahead = projection(progress, S2, NOW)
    assert ahead is not None and ahead.basis == "points"
    # Scope 12 points (P-1 3, P-2 5, P-3 2, P-5 0, P-8 2; P-7 was done outside), 5 done in 7
    # days: 5/7 a day for the 166/24 days left -> 5 + 5/7 x 166/24 = 9.9405 of 12.
    assert (ahead.scope, ahead.done) == (12, 5)
    assert ahead.share == pytest.approx((5 + 5 / 7 * 166 / 24) / 12)
    assert ahead.share == pytest.approx(0.82837, abs=1e-5)
    # During the first day there is no rate to speak of.
    assert projection(progress, S2, T0 + 20 * HOUR) is None


def test_closed_sprint_is_read_at_its_completion_and_edges_count_as_happened() -> None:
    end = S1.completed_at
    assert end is not None
    items = {
        i.key: i
        for i in (
            item("K-1", ("In Progress", T0 - 10 * DAY), ("Done", end), points=1),  # done at the end
            item(
                "K-2",
                ("In Progress", T0 - 10 * DAY),
                ("Done", end + dt.timedelta(seconds=1)),
                points=2,
            ),
            item("K-3", ("To Do", T0 - 20 * DAY), points=4),
            item("K-4", ("To Do", T0 - 20 * DAY), points=8),
            # Done at the very instant the sprint started: done before it, so "outside".
            item("K-5", ("In Progress", T0 - 20 * DAY), ("Done", T0 - 14 * DAY), points=16),
        )
    }
    memberships = (
        Membership("11", "K-1", T0 - 14 * DAY),
        Membership("11", "K-2", T0 - 14 * DAY),
        Membership("11", "K-3", T0 - 14 * DAY, end),  # removed exactly at the end
        Membership("11", "K-4", end),  # added exactly at the end
        Membership("11", "K-5", T0 - 20 * DAY),
    )
    section = board_sprint(
        BoardInput(BOARD, S1, SPRINTS, memberships, items), now=NOW, rules=SprintRules()
    )
    values = {m.id: m.value for m in section.metrics}
    assert section.as_of == end
    assert values["committed_issues"] == 4 and values["committed_points"] == 23  # 1 + 2 + 4 + 16
    assert section.metric("completed_issues").detail == {"completed_outside": 1}
    assert (values["completed_issues"], values["completed_points"]) == (1, 1)
    assert (values["removed_issues"], values["added_issues"]) == (1, 1)
    assert (values["remaining_issues"], values["remaining_points"]) == (2, 10)  # K-2 and K-4
    assert values["time_elapsed"] == 1
    assert values["projected_completion"] is None  # a closed sprint has its result, not a forecast


def test_an_empty_sprint_has_no_data_not_zeros() -> None:
    section = board_sprint(BoardInput(BOARD, S2, SPRINTS, (), {}), now=NOW, rules=SprintRules())
    assert all(m.value is None for m in section.metrics), [
        m for m in section.metrics if m.value is not None
    ]
    assert section.note == "the sprint has no issues"
    assert section.findings == ()


def test_a_sprint_without_estimates_counts_issues_and_has_no_points() -> None:
    items = {
        "U-1": item("U-1", ("In Progress", T0), ("Done", T0 + DAY)),
        "U-2": item("U-2", ("To Do", T0)),
    }
    memberships = (Membership("12", "U-1", T0), Membership("12", "U-2", T0))
    values = metrics_of(BoardInput(BOARD, S2, SPRINTS, memberships, items))
    assert values["committed_issues"] == 2 and values["committed_points"] is None
    assert values["completed_points"] is None and values["say_do_ratio"] == 0.5
    # In issues: 1 of 2 done in 7 days -> 1 + 1/7 x 166/24 = 1.988 of 2 issues by the end.
    assert values["projected_completion"] == pytest.approx((1 + 166 / 24 / 7) / 2)


def test_a_sprint_that_has_not_started_has_no_progress() -> None:
    assert sprint_progress(S3, SPRINTS, (), {}, NOW) is None
    section = board_sprint(BoardInput(BOARD, S3, SPRINTS), now=NOW, rules=SprintRules())
    assert section.note == "the sprint has not started"


def test_carry_over_is_a_finding_with_its_numbers() -> None:
    section = board_sprint(
        BoardInput(BOARD, S2, SPRINTS, MEMBERSHIPS, ITEMS), now=NOW, rules=SprintRules()
    )
    kinds = {f.kind: f for f in section.findings}
    # 2 of the 7 issues in scope (P-1..P-5, P-7, P-8) came from earlier sprints: 29% >= 25%.
    assert kinds["carry_over"].evidence == (
        "2 of 7 issues carried over from earlier sprints, 1 of them from 2 or more"
    )
    # Projected 83% >= 80%: on track, so no risk finding; 2 of 19 points added (11%): no creep.
    assert "sprint_at_risk" not in kinds and "scope_creep" not in kinds


def test_at_risk_and_scope_creep_findings() -> None:
    items = {
        "R-1": item("R-1", ("In Progress", T0), ("Done", T0 + DAY), points=2),
        "R-2": item("R-2", ("In Progress", T0), points=5),
        "R-3": item("R-3", ("To Do", T0 + 2 * DAY), points=3),
    }
    memberships = (
        Membership("12", "R-1", T0),
        Membership("12", "R-2", T0),
        Membership("12", "R-3", T0 + 2 * DAY),
    )
    section = board_sprint(
        BoardInput(BOARD, S2, SPRINTS, memberships, items), now=NOW, rules=SprintRules()
    )
    kinds = {f.kind: f for f in section.findings}
    # 2 of 10 points done (20%) with 166/334 = 50% of the time left; 2 + 2/7 x 166/24 = 3.976
    # of 10 points by the end: 40%.
    risk = kinds["sprint_at_risk"]
    assert risk.evidence == (
        "20% of points done with 50% of the time left; at this rate 40% will be done "
        "(0.3 points a day)"
    )
    assert risk.score == pytest.approx(0.6 + 0.4 * (0.8 - 3.97619 / 10) / 0.5, abs=1e-4)
    # 3 points added to 7 committed: 43%.
    assert kinds["scope_creep"].evidence == (
        "1 item (3 points) added after the start, 43% of the 7 committed points; 0 removed"
    )
    assert section.findings[0].kind == "sprint_at_risk"  # ranked first


def test_aging_bottleneck_and_overload_findings() -> None:
    history = {  # Code Review visits of 10, 20, 30 and 40 hours a month ago: p85 35.5h, median 25h
        f"H-{n}": item(
            f"H-{n}", ("Code Review", T0 - 30 * DAY), ("Done", T0 - 30 * DAY + n * 10 * HOUR)
        )
        for n in (1, 2, 3, 4)
    }
    sprint_items = {
        "W-1": item(
            "W-1",
            ("In Progress", NOW - 80 * HOUR),
            ("Code Review", NOW - 72 * HOUR),
            assignee="ada",
        ),
        "W-2": item(
            "W-2",
            ("In Progress", NOW - 60 * HOUR),
            ("Code Review", NOW - 50 * HOUR),
            assignee="ada",
        ),
        "W-3": item("W-3", ("In Progress", NOW - HOUR), assignee="ada"),
        "W-4": item("W-4", ("In Progress", NOW - HOUR), assignee="ada"),
        "W-5": item("W-5", ("In Progress", NOW - HOUR), assignee="alan"),
        "W-6": item("W-6", ("In Progress", NOW - HOUR), assignee="grace"),
    }
    memberships = tuple(Membership("12", key, T0) for key in sprint_items)
    data = BoardInput(BOARD, S2, SPRINTS, memberships, history | sprint_items)
    section = board_sprint(data, now=NOW, rules=SprintRules())
    kinds = {f.kind: f for f in section.findings}
    aging = kinds["aging_wip"]
    assert aging.action == "Unblock Code Review"
    # The younger waits 50h (2.08 days, shown rounded down); the p85 is 35.5h = 1.48 days.
    assert aging.evidence == (
        "2 items waiting in Code Review for more than 2 days; the usual p85 is 1.5 days (W-1, W-2)"
    )
    # In the 14-day flow window: Code Review 72 + 50 = 122h; In Progress 8 + 10 + 4 x 1 = 22h.
    assert section.bottleneck == "Code Review"
    assert kinds["bottleneck"].evidence == (
        "Code Review holds 85% of the in-progress time in the last 14 days "
        "(median visit 25 hours); next is In Progress with 15%"
    )
    assert section.tables["aging_wip"][0]["key"] == "W-1"
    # ada has 4 in progress; the median per person (4, 1, 1) is 1, so the limit is max(3, 2).
    assert kinds["overloaded_assignee"].action == "Rebalance ada's work"
    assert (
        kinds["overloaded_assignee"].evidence == "4 items in progress; the median per person is 1"
    )
    values = {m.id: m for m in section.metrics}
    assert values["aging_wip_issues"].value == 2
    assert values["bottleneck_share"].value == pytest.approx(122 / 144)
    assert values["bottleneck_share"].detail["status"] == "Code Review"


def test_the_report_lists_each_board_and_is_json() -> None:
    one = board_sprint(
        BoardInput(BOARD, S2, SPRINTS, MEMBERSHIPS, ITEMS), now=NOW, rules=SprintRules()
    )
    other = board_sprint(
        BoardInput(BoardRecord("8", "CHK board", "CHK"), None), now=NOW, rules=SprintRules()
    )
    report = SprintReport({"kind": "organisation", "name": "organisation"}, NOW, (one, other))
    facts = json.loads(json.dumps(report.facts()))
    assert facts["kind"] == "sprint"
    assert [b["board"]["name"] for b in facts["boards"]] == ["PAY board", "CHK board"]
    pay = facts["boards"][0]
    assert pay["sprint"]["name"] == "S2" and pay["sprint"]["started_at"] == T0.isoformat()
    assert pay["metrics"]["committed_points"] == {
        "value": 19,
        "unit": "points",
        "previous": None,
        "trend": None,
        "unestimated": 1,
    }
    assert facts["boards"][1]["note"] == "no active sprint: flow only"
    assert facts["boards"][1]["metrics"]["committed_issues"]["value"] is None
    assert report.findings[0].action.startswith("PAY board: ")
    assert report.metrics == () and report.board is None  # several boards: read the sections
    single = SprintReport({}, NOW, (one,))
    assert single.board == BOARD and single.sprint == S2 and single.metrics == one.metrics
    assert single.section("7") is one and single.section("PAY board") is one


def test_the_facts_are_worked_out_once_and_the_summary_is_not_one() -> None:
    """The narrator, the LLM's grounding and ``as_dict`` all read `facts()`: it is built once,
    `with_summary`'s copy keeps it, and ``as_dict`` adds the summary without changing it."""
    one = board_sprint(
        BoardInput(BOARD, S2, SPRINTS, MEMBERSHIPS, ITEMS), now=NOW, rules=SprintRules()
    )
    report = SprintReport({}, NOW, (one,))
    facts = report.facts()
    assert report.facts() is facts
    summary = Summary("Sprint S2 is on track.", (), (), "narrator")
    told = report.with_summary(summary)
    assert told.facts() is facts and told.summary == summary and report.summary is None
    assert told == SprintReport({}, NOW, (one,), summary=summary)
    document = told.as_dict()
    assert document["summary"]["headline"] == "Sprint S2 is on track."
    assert "summary" not in facts and document["boards"] == facts["boards"]
    assert report.as_dict()["summary"] is None
