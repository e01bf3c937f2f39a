"""Flow metrics on hand-built histories; every expected number is worked out beside it."""

from __future__ import annotations

import datetime as dt

import pytest

from insights.common import HOUR, Window
from insights.flow import (
    ItemHistory,
    PullTiming,
    Transition,
    UsualTime,
    Visit,
    aging_wip,
    bottleneck,
    flow_efficiency,
    is_active,
    pull_flow,
    time_in_status,
    usual_times,
    visits_from,
    wip_by_assignee,
)

T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)  # a Monday, 09:00 UTC


def at(h: float) -> dt.datetime:
    return T0 + h * HOUR


def move(h: float, old: str, new: str) -> Transition:
    category = {"To Do": "todo", "Done": "done"}
    return Transition(
        at(h), old, new, category.get(old, "in_progress"), category.get(new, "in_progress")
    )


def item(
    key: str,
    *visits: tuple[str, float, float | None],
    assignee: str | None = None,
    story_points: float | None = None,
) -> ItemHistory:
    """An item from (status, start hour, end hour or None) triples."""
    category = {"To Do": "todo", "Done": "done"}
    made = tuple(
        Visit(s, category.get(s, "in_progress"), at(a), at(b) if b is not None else None)
        for s, a, b in visits
    )
    return ItemHistory(key, made[0].start, made, assignee=assignee, story_points=story_points)


# A full trip with one rework loop: To Do 10h, In Progress 30h, Code Review 12h,
# In Progress 8h, Code Review 10h, then Done at hour 70.
REWORKED = [
    move(10, "To Do", "In Progress"),
    move(40, "In Progress", "Code Review"),
    move(52, "Code Review", "In Progress"),
    move(60, "In Progress", "Code Review"),
    move(70, "Code Review", "Done"),
]


def test_visits_follow_the_transitions_and_the_last_stays_open() -> None:
    visits = visits_from(T0, "Done", "done", REWORKED)
    assert [(v.status, v.start, v.end) for v in visits] == [
        ("To Do", at(0), at(10)),
        ("In Progress", at(10), at(40)),
        ("Code Review", at(40), at(52)),
        ("In Progress", at(52), at(60)),
        ("Code Review", at(60), at(70)),
        ("Done", at(70), None),
    ]
    assert visits[2].category == "in_progress" and visits[-1].category == "done"


def test_an_item_without_transitions_sits_in_its_status_since_it_was_created() -> None:
    assert visits_from(T0, "In Progress", "in_progress", []) == (
        Visit("In Progress", "in_progress", T0, None),
    )


def test_zero_length_visits_are_dropped() -> None:
    # Moved through In Progress within the same second: no visit of 0 hours.
    visits = visits_from(
        T0, "Done", "done", [move(5, "To Do", "In Progress"), move(5, "In Progress", "Done")]
    )
    assert [v.status for v in visits] == ["To Do", "Done"]


def test_the_status_an_item_is_in_now_counts_up_to_now() -> None:
    # In Code Review since hour 100; "now" is hour 130: 30 hours so far, inside the window.
    waiting = item("A-1", ("To Do", 0, 90), ("In Progress", 90, 100), ("Code Review", 100, None))
    rows = {r.status: r for r in time_in_status([waiting], Window(at(80), at(130)))}
    assert rows["Code Review"].hours == 30
    assert rows["In Progress"].hours == 10
    assert "To Do" not in rows  # the backlog is not flow
    assert rows["Code Review"].share == pytest.approx(30 / 40)
    assert rows["Code Review"].now == 1 and rows["In Progress"].now == 0


def test_time_in_status_clips_visits_to_the_window() -> None:
    # In Progress 10..60 and Code Review 60..open; window 40..70 sees 20h and 10h. A visit after
    # the window's end has not happened yet.
    one = item("A-1", ("In Progress", 10, 60), ("Code Review", 60, 200), ("Done", 200, None))
    rows = {r.status: r for r in time_in_status([one], Window(at(40), at(70)))}
    assert (rows["In Progress"].hours, rows["Code Review"].hours) == (20, 10)
    assert rows["Code Review"].now == 1  # at the window's end it is still in review


def test_usual_time_uses_completed_visits_that_ended_in_the_history() -> None:
    history = Window(at(0), at(1000))
    items = [
        item("A-1", ("Code Review", 0, 10), ("Done", 10, None)),  # 10h
        item("A-2", ("Code Review", 5, 25), ("Done", 25, None)),  # 20h
        item("A-3", ("Code Review", 10, 40), ("Done", 40, None)),  # 30h
        item("A-4", ("Code Review", 50, 90), ("Done", 90, None)),  # 40h
        item("A-5", ("Code Review", 900, None)),  # still open: not counted
        item("A-6", ("Code Review", -50, -1), ("Done", -1, None)),  # ended before the history
        item("A-7", ("Code Review", 990, 1000), ("Done", 1000, None)),  # ends at the (open) end
    ]
    usual = usual_times(items, history)
    # Four values 10, 20, 30, 40: the even-count median averages 20 and 30; p85 is at rank
    # 3 x 0.85 = 2.55, so 30 + 0.55 x (40 - 30) = 35.5.
    assert usual["Code Review"] == UsualTime(4, 25.0, 35.5)
    assert set(usual) == {"Code Review"}  # every Done visit is still open


def test_aging_wip_is_judged_against_the_status_p85() -> None:
    usual = {"Code Review": UsualTime(4, 25.0, 35.5), "In Progress": UsualTime(3, 10.0, 20.0)}
    now = at(100)
    items = [
        item("A-1", ("Code Review", 64, None)),  # 36h > 35.5: aging
        item("A-2", ("Code Review", 65, None)),  # 35h: not yet
        item("A-3", ("In Progress", 40, None), assignee="ada"),  # 60h, 3x its p85: aging
        item("A-4", ("To Do", 0, None)),  # not started: not work in progress
        item("A-5", ("Blocked", 0, None)),  # no history for Blocked: not judged
        item("A-6", ("In Progress", 0, 50), ("Done", 50, None)),  # done
    ]
    aging = aging_wip(items, usual, now)
    assert [(a.key, a.status, a.age_hours) for a in aging] == [
        ("A-3", "In Progress", 60.0),  # 60 / 20 = 3x its p85 first
        ("A-1", "Code Review", 36.0),
    ]


def test_bottleneck_is_the_in_progress_status_holding_most_item_time() -> None:
    window = Window(at(0), at(100))
    items = [
        item("A-1", ("In Progress", 0, 10), ("Code Review", 10, 60), ("Done", 60, None)),
        item("A-2", ("In Progress", 0, 20), ("Code Review", 20, None)),
        item("A-3", ("To Do", 0, None)),  # 100h in To Do: the backlog is never the bottleneck
    ]
    rows = time_in_status(items, window)
    # Code Review 50 + 80 = 130h, In Progress 10 + 20 = 30h.
    neck = bottleneck(rows)
    assert neck is not None and (neck.status, neck.hours) == ("Code Review", 130)
    assert neck.share == pytest.approx(130 / 160)
    assert not neck.active
    assert bottleneck(time_in_status([items[2]], window)) is None


def test_active_statuses_by_name_or_as_given() -> None:
    assert is_active("In Progress", "in_progress")
    assert not is_active("Code Review", "in_progress")
    assert not is_active("QA", "in_progress")
    assert not is_active("Blocked", "in_progress")
    assert not is_active("Ready for Test", "in_progress")
    assert not is_active("To Do", "todo") and not is_active("Done", "done")
    assert is_active("qa", "in_progress", {"In Progress", "QA"})
    assert not is_active("In Progress", "in_progress", {"Doing"})


def test_flow_efficiency_sums_active_over_cycle_time_of_items_done_in_the_window() -> None:
    window = Window(at(0), at(200))
    reworked = ItemHistory("A-1", T0, visits_from(T0, "Done", "done", REWORKED))
    quick = item("A-2", ("To Do", 0, 100), ("In Progress", 100, 110), ("Done", 110, None))
    late = item("A-3", ("In Progress", 0, 150), ("Done", 250, None))  # done after the window
    straight = item("A-4", ("To Do", 0, 5), ("Done", 5, None))  # never in progress
    result = flow_efficiency([reworked, quick, late, straight], window)
    # cycle 10..70 = 60h, active In Progress 30 + 8 = 38h. A-2: 10h of 10h.
    assert (result.items, result.active_hours, result.cycle_hours) == (2, 48.0, 70.0)
    assert result.value == pytest.approx(48 / 70)
    assert flow_efficiency([late], window).value is None  # nothing finished: None, not 0


def test_wip_per_assignee_counts_items_in_progress_now() -> None:
    now = at(100)
    items = [
        item("A-1", ("In Progress", 0, None), assignee="ada", story_points=3.0),
        item("A-2", ("Code Review", 0, None), assignee="ada", story_points=None),
        item("A-3", ("In Progress", 0, None), assignee=None, story_points=2.0),
        item("A-4", ("To Do", 0, None), assignee="alan"),
        item("A-5", ("In Progress", 0, 50), ("Done", 50, None), assignee="alan"),
        item("A-6", ("In Progress", 150, None), assignee="alan"),  # starts after now
    ]
    rows = [(w.assignee, w.items, w.points) for w in wip_by_assignee(items, now)]
    assert rows == [("ada", 2, 3.0), ("Unassigned", 1, 2.0)]


def test_pull_request_medians() -> None:
    window = Window(at(0), at(100))
    pulls = [
        # pickup 2h, review 4h, size 30
        PullTiming(1, "acme/x", at(0), at(2), at(6), 20, 10),
        # pickup 6h, review 10h, size 100
        PullTiming(2, "acme/x", at(10), at(16), at(26), 90, 10),
        # first review before the window (pickup not counted), merged inside: review 20h, size 7
        PullTiming(3, "acme/x", at(-30), at(-10), at(10), 5, 2),
        # reviewed inside (pickup 1h), merged after the window: no review time or size
        PullTiming(4, "acme/x", at(98), at(99), at(130), 1, 1),
        # never reviewed, merged inside: size only (40)
        PullTiming(5, "acme/x", at(50), None, at(60), 40, 0),
    ]
    result = pull_flow(pulls, window)
    assert (result.pickup_hours, result.pickup_pulls) == (2.0, 3)  # 1, 2, 6
    assert (result.review_hours, result.review_pulls) == (10.0, 3)  # 4, 10, 20
    assert (result.size_lines, result.size_pulls) == (35.0, 4)  # 7, 30, 40, 100: (30 + 40) / 2
    empty = pull_flow([], window)
    assert (empty.pickup_hours, empty.review_hours, empty.size_lines) == (None, None, None)
