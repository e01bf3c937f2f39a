"""The compact history path gives the numbers of the `flow` path, on random histories.

`flow_history.usual_times` must equal `flow.usual_times` over the same items, and leaving out the
items `flow_history.stood_still` picks must change no number of a window starting then.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from insights import flow, flow_history
from insights.common import HOUR, Window
from insights.flow_history import Changelog
from insights.queries import sprint_history

T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
STATUSES = [
    ("To Do", "todo"),
    ("In Progress", "in_progress"),
    ("Code Review", "in_progress"),
    ("QA", "in_progress"),
    ("Done", "done"),
    ("", "in_progress"),  # no status name: no visit
    ("Odd", ""),  # no category: in progress, as flow reads it
]


def micros(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def random_item(rng: random.Random, key: str) -> tuple[flow.ItemHistory, Changelog, list[str]]:
    """An item with 0-7 changes over ~300 days, some in the same second, some before its
    creation; as `flow` sees it and as the compact path does (with its to-categories)."""
    created = (
        T0 + rng.randint(-300 * 24, 20 * 24) * HOUR + rng.randint(0, 59) * dt.timedelta(minutes=1)
    )
    moment = created + rng.choice([-2, 0, 1, 5]) * HOUR
    before = rng.choice(STATUSES)
    changes: list[flow.Transition] = []
    for _ in range(rng.randint(0, 7)):
        moment += rng.choice([0, 1, 3, 30, 200]) * HOUR + rng.randint(0, 999) * dt.timedelta(
            microseconds=1
        )
        after = rng.choice(STATUSES)
        changes.append(flow.Transition(moment, before[0], after[0], before[1], after[1]))
        before = after
    current, category = before[0] or "To Do", before[1] or "in_progress"
    history = flow.ItemHistory(key, created, flow.visits_from(created, current, category, changes))
    changelog: Changelog = (
        [micros(created), *(micros(c.changed_at) for c in changes)],
        changes[0].from_status or "" if changes else "",
        [c.to_status or "" for c in changes],
    )
    return history, changelog, [c.to_category or "" for c in changes]


@pytest.mark.parametrize("seed", range(20))
def test_usual_times_of_changelogs_equal_those_of_item_histories(seed: int) -> None:
    rng = random.Random(seed)
    made = [random_item(rng, f"A-{n}") for n in range(60)]
    history = Window(T0 - 180 * 24 * HOUR, T0)
    expected = flow.usual_times([h for h, _, _ in made], history)
    found = flow_history.usual_times(
        [c for _, c, _ in made], micros(history.start), micros(history.end)
    )
    assert found == expected  # equal floats, not approximately


@pytest.mark.parametrize("seed", range(20))
def test_items_that_stood_still_change_no_flow_number(seed: int) -> None:
    rng = random.Random(seed)
    made = [random_item(rng, f"A-{n}") for n in range(60)]
    window = Window(T0 - 14 * 24 * HOUR, T0)
    usual = flow.usual_times([h for h, _, _ in made], Window(T0 - 180 * 24 * HOUR, T0))
    start = micros(window.start)
    kept = [
        h
        for h, (instants, _, tos), categories in made
        if not (tos and flow_history.stood_still(instants, tos[-1], categories[-1], start))
    ]
    everything = [h for h, _, _ in made]
    assert len(kept) < len(everything)  # the test leaves something out
    assert flow.time_in_status(kept, window, usual) == flow.time_in_status(
        everything, window, usual
    )
    assert flow.flow_efficiency(kept, window) == flow.flow_efficiency(everything, window)
    assert flow.aging_wip(kept, usual, window.end) == flow.aging_wip(everything, usual, window.end)
    assert flow.wip_by_assignee(kept, window.end) == flow.wip_by_assignee(everything, window.end)


def test_stood_still_needs_a_last_change_before_the_start_into_todo_or_done() -> None:
    start = 1_000
    assert flow_history.stood_still([0, 10, 20], "Review", "done", start)
    assert flow_history.stood_still([0, 10], "Open", "todo", start)
    assert not flow_history.stood_still([0], "", "", start)  # no changes: judged by its status
    assert not flow_history.stood_still([0, 1_000], "Done", "done", start)  # moved at the start
    assert not flow_history.stood_still([0, 10], "Review", "in_progress", start)
    assert not flow_history.stood_still([0, 10], "Review", "", start)  # no category: in progress
    assert not flow_history.stood_still([0, 10], "", "done", start)  # no status: an older visit


@pytest.mark.parametrize("seed", range(20))
def test_visits_of_a_packed_changelog_equal_those_of_transitions(seed: int) -> None:
    """The loader builds visits straight from the packed query columns (`visits_of`); they are
    the visits `flow.visits_from` makes of the same changes as `flow.Transition`s."""
    rng = random.Random(seed)
    for _ in range(60):
        created = T0 + rng.randint(-300 * 24, 20 * 24) * HOUR
        moment = created + rng.choice([-2, 0, 1, 5]) * HOUR
        before = rng.choice(STATUSES)
        changes: list[flow.Transition] = []
        for _ in range(rng.randint(0, 7)):
            moment += rng.choice([0, 1, 3, 30]) * HOUR + rng.randint(0, 999) * dt.timedelta(
                microseconds=1
            )
            after = rng.choice(STATUSES)
            changes.append(
                flow.Transition(moment, before[0] or None, after[0] or None, before[1], after[1])
            )
            before = after
        current, category = before[0] or "To Do", before[1] or "in_progress"
        instants = [micros(created), *(micros(c.changed_at) for c in changes)]
        parts = [
            part or ""
            for c in changes
            for part in (c.from_status, c.to_status, c.from_category, c.to_category)
        ]
        transitions = [
            flow.Transition(
                c.changed_at,
                c.from_status,
                c.to_status,
                c.from_category or None,
                c.to_category or None,
            )
            for c in changes
        ]
        expected = flow.visits_from(created, current, category, transitions)
        assert sprint_history.visits_of(created, current, category, instants, parts) == expected
