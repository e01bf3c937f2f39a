"""The sprint loader on real Postgres rows: which items, which history, which sprint, which PRs.

Board 42 (PAY) runs two-week sprints; Sprint 2 started on Monday T0 09:00 and "now" is T0 + 7
days. Every expected number is worked out beside the assertion.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from insights.errors import UnknownScope
from insights.queries import sprint_history
from insights.queries.scope import resolve_scope
from insights.queries.sprint import build_sprint_report
from insights.sprint import BoardSprint
from storage.models import (
    Board,
    BoardBaseline,
    PullRequest,
    Sprint,
    SprintMembership,
    WorkItem,
    WorkItemTransition,
)
from storage.product_file import ProductSpec
from storage.products import apply_products

T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=7)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
CATEGORY = {"To Do": "todo", "Done": "done"}
_ids = itertools.count(1)


def work_item(
    session: Session,
    key: str,
    created: dt.datetime,
    path: list[tuple[dt.datetime, str]],
    *,
    points: float | None = None,
    assignee: str | None = None,
    sprints: dict[Sprint, tuple[dt.datetime, dt.datetime | None]] | None = None,
) -> WorkItem:
    """An item created in To Do that then moves to each (when, status) of ``path``."""
    status = path[-1][1] if path else "To Do"
    row = WorkItem(
        source="jira",
        external_id=key,
        key=key,
        project_key=key.split("-", maxsplit=1)[0],
        summary=f"Work on {key}",
        type="story",
        status=CATEGORY.get(status, "in_progress"),
        original_status=status,
        story_points=points,
        assignee=assignee,
        created_at=created,
        resolved_at=path[-1][0] if status == "Done" else None,
    )
    session.add(row)
    session.flush()
    before = "To Do"
    for when, to in path:
        session.add(
            WorkItemTransition(
                source="jira",
                external_id=f"t{next(_ids)}",
                work_item_id=row.id,
                changed_at=when,
                original_from_status=before,
                original_to_status=to,
                from_status=CATEGORY.get(before, "in_progress"),
                to_status=CATEGORY.get(to, "in_progress"),
            )
        )
        before = to
    for sprint, (added, removed) in (sprints or {}).items():
        session.add(
            SprintMembership(
                sprint_id=sprint.id, work_item_id=row.id, added_at=added, removed_at=removed
            )
        )
    return row


def pull(
    session: Session,
    repo: str,
    created: dt.datetime,
    review: dt.datetime | None,
    merged: dt.datetime | None,
    size: int,
) -> None:
    n = next(_ids)
    session.add(
        PullRequest(
            source="github",
            external_id=f"p{n}",
            repo=repo,
            number=n,
            title="Change",
            state="merged" if merged else "open",
            created_at=created,
            first_review_at=review,
            merged_at=merged,
            additions=size,
            deletions=0,
        )
    )


@pytest.fixture
def world(session: Session) -> Session:
    apply_products(
        session,
        [
            ProductSpec(
                name="Payments",
                jira_projects=("PAY",),
                jira_boards=(42,),
                github_repos=("acme/pay",),
            ),
            ProductSpec(
                name="Ops", jira_projects=("OPS",), jira_boards=(43,), github_repos=("acme/ops",)
            ),
        ],
    )
    pay = Board(source="jira", external_id="42", name="PAY board", type="scrum", project_key="PAY")
    ops = Board(source="jira", external_id="43", name="OPS board", type="scrum", project_key="OPS")
    session.add_all([pay, ops])
    session.flush()
    one, two, three = (
        Sprint(
            source="jira",
            external_id="420",
            board_id=pay.id,
            name="PAY Sprint 1",
            state="closed",
            started_at=T0 - 14 * D,
            ends_at=T0 - 2 * H,
            completed_at=T0 - 2 * H,
        ),
        Sprint(
            source="jira",
            external_id="421",
            board_id=pay.id,
            name="PAY Sprint 2",
            state="active",
            started_at=T0,
            ends_at=T0 + 14 * D - 2 * H,
        ),
        Sprint(
            source="jira", external_id="422", board_id=pay.id, name="PAY Sprint 3", state="future"
        ),
    )
    session.add_all([one, two, three])
    session.flush()
    # PAY-1..4: done in Sprint 1 after 10h In Progress and 10, 20, 30, 40h in Code Review.
    for n in (1, 2, 3, 4):
        start = T0 - 10 * D
        work_item(
            session,
            f"PAY-{n}",
            T0 - 20 * D,
            [
                (start, "In Progress"),
                (start + 10 * H, "Code Review"),
                (start + (10 + 10 * n) * H, "Done"),
            ],
            points=1,
            sprints={one: (T0 - 14 * D, None)},
        )
    # Carried over from Sprint 1, waiting in Code Review for 72 hours now.
    work_item(
        session,
        "PAY-5",
        T0 - 20 * D,
        [(T0 - 5 * D, "In Progress"), (NOW - 72 * H, "Code Review")],
        points=5,
        assignee="Ada",
        sprints={one: (T0 - 14 * D, None), two: (T0, None)},
    )
    # Committed, done: In Progress 24h, Code Review 24h.
    work_item(
        session,
        "PAY-6",
        T0 - 3 * D,
        [(T0 + D, "In Progress"), (T0 + 2 * D, "Code Review"), (T0 + 3 * D, "Done")],
        points=3,
        sprints={two: (T0 - D, None)},
    )
    # Added after the start; removed after the start.
    work_item(session, "PAY-7", T0 + D, [], points=2, sprints={two: (T0 + 2 * D, None)})
    work_item(session, "PAY-8", T0 - 3 * D, [], points=8, sprints={two: (T0, T0 + 3 * D)})
    # On the board's project but in no sprint: flow only, in progress for 30 hours.
    work_item(session, "PAY-9", T0 - D, [(NOW - 30 * H, "In Progress")])
    # Done 300 days ago after 1000 hours in review: outside the 180-day history.
    old = T0 - 300 * D
    work_item(
        session,
        "PAY-10",
        old - 100 * D,
        [(old - 60 * D, "In Progress"), (old - 50 * D, "Code Review"), (old, "Done")],
    )
    # In progress since long before the history cutoff: still flows through the whole window.
    work_item(session, "PAY-11", T0 - 201 * D, [(T0 - 200 * D, "In Progress")])
    # Another board's item.
    work_item(session, "OPS-1", T0 - D, [(T0, "Doing")])
    pull(session, "acme/pay", NOW - 50 * H, NOW - 48 * H, NOW - 40 * H, 120)  # pickup 2h, review 8h
    pull(session, "acme/pay", NOW - 10 * H, NOW - 4 * H, None, 10)  # pickup 6h, still open
    pull(session, "acme/pay", NOW - 30 * D, NOW - 29 * D, NOW - 28 * D, 5)  # before the window
    pull(session, "acme/ops", NOW - 50 * H, NOW - 49 * H, NOW - 48 * H, 999)  # another product
    session.flush()
    return session


def only(session: Session, board: str | None = None, sprint: str | None = None) -> BoardSprint:
    scope = resolve_scope(session, product="Payments")
    report = build_sprint_report(session, scope, now=NOW, board=board, sprint=sprint)
    assert len(report.sections) == 1
    return report.sections[0]


def test_the_active_sprint_of_the_product_board(world: Session) -> None:
    section = only(world)
    assert (section.board.id, section.sprint and section.sprint.name) == ("42", "PAY Sprint 2")
    values = {m.id: m.value for m in section.metrics}
    expected = {
        "committed_issues": 3,  # PAY-5, PAY-6, PAY-8
        "committed_points": 16,  # 5 + 3 + 8
        "added_issues": 1,  # PAY-7
        "added_points": 2,
        "removed_issues": 1,  # PAY-8
        "removed_points": 8,
        "completed_issues": 1,  # PAY-6
        "completed_points": 3,
        "remaining_issues": 2,  # PAY-5, PAY-7
        "remaining_points": 7,
        "say_do_ratio": 3 / 16,
        "carried_over_issues": 1,  # PAY-5 was in Sprint 1 while it ran
        "carried_over_points": 5,
        "carried_over_2plus_issues": 0,
        "time_elapsed": 168 / 334,
        # Scope 10 points, 3 done in 7 days: 3 + 3/7 x 166/24 of 10 by the end.
        "projected_completion": (3 + 3 / 7 * 166 / 24) / 10,
        "wip_issues": 1,  # PAY-5 (PAY-9 is not in the sprint)
        "aging_wip_issues": 1,
        # In the flow window (T0 - 7d .. now): In Progress 216 (PAY-5) + 24 (PAY-6) + 30 (PAY-9)
        # + 336 (PAY-11, all 14 days) = 606h; Code Review 72 + 24 = 96h. PAY-1..4 moved before.
        "bottleneck_share": 606 / 702,
        "flow_efficiency": 24 / 48,  # PAY-6: 24h In Progress of a 48h cycle
        "pr_pickup_time": 4,  # 2h and 6h
        "pr_review_time": 8,
        "pr_size": 120,
    }
    assert {k: values[k] for k in expected} == pytest.approx(expected)
    assert section.bottleneck == "In Progress"
    assert [row["key"] for row in section.tables["sprint_items"]] == [
        "PAY-5",
        "PAY-6",
        "PAY-7",
        "PAY-8",
    ]
    statuses = {row["status"]: row for row in section.tables["time_in_status"]}
    assert set(statuses) == {"In Progress", "Code Review"}  # no OPS "Doing"
    # Code Review visits in the last 180 days: 10, 20, 24, 30, 40h (PAY-10's 1000h is too old):
    # median 24, p85 at rank 4 x 0.85 = 3.4 -> 30 + 0.4 x 10 = 34.
    assert statuses["Code Review"]["median_visit_hours"] == pytest.approx(24)
    assert statuses["Code Review"]["p85_visit_hours"] == pytest.approx(34)
    assert [(r["key"], r["days_in_status"]) for r in section.tables["aging_wip"]] == [
        ("PAY-5", 3.0)
    ]
    assert section.tables["wip_by_assignee"] == [
        {"assignee": "Ada", "in_progress": 1, "points": 5.0, "aging": 1}
    ]
    finding = next(f for f in section.findings if f.kind == "aging_wip")
    assert finding.evidence == (
        "1 item waiting in Code Review for more than 3 days; the usual p85 is 1.4 days (PAY-5)"
    )


def test_an_item_of_another_project_in_the_sprint_counts(
    world: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    sprint = world.scalars(sa.select(Sprint).where(Sprint.external_id == "421")).one()
    work_item(world, "OPS-2", T0 - D, [(T0 + D, "Doing")], points=5, sprints={sprint: (T0, None)})
    world.flush()
    section = only(world)
    rows = {row["key"]: row for row in section.tables["sprint_items"]}
    assert rows["OPS-2"]["committed"] and rows["OPS-2"]["status"] == "Doing"
    assert {m.id: m.value for m in section.metrics}["committed_points"] == 16 + 5
    # The loader's path for many boards reads the same.
    everything = build_sprint_report(world, resolve_scope(world), now=NOW).as_dict()
    monkeypatch.setattr(sprint_history, "_FEW_BOARDS", 0)
    assert only(world).as_dict() == section.as_dict()
    assert build_sprint_report(world, resolve_scope(world), now=NOW).as_dict() == everything


@pytest.mark.parametrize("board", ["42", "pay BOARD", "PAY board (42)"])
def test_a_closed_sprint_by_name(world: Session, board: str) -> None:
    section = only(world, board=board, sprint="pay sprint 1")
    assert section.sprint is not None and section.as_of == T0 - 2 * H
    values = {m.id: m.value for m in section.metrics}
    assert (values["committed_issues"], values["committed_points"]) == (5, 9)  # PAY-1..5
    assert (values["completed_issues"], values["completed_points"]) == (4, 4)
    assert (values["remaining_issues"], values["remaining_points"]) == (1, 5)  # PAY-5
    assert values["carried_over_issues"] == 0  # no sprint before it
    assert values["projected_completion"] is None


def test_the_sprint_alone_finds_its_board(world: Session) -> None:
    scope = resolve_scope(world)
    report = build_sprint_report(world, scope, now=NOW, sprint="421")
    assert report.board is not None and report.board.name == "PAY board"
    everything = build_sprint_report(world, scope, now=NOW)
    assert [s.board.name for s in everything.sections] == ["OPS board", "PAY board"]
    assert everything.sections[0].note == "no active sprint: flow only"


def test_unknown_board_and_sprint_names_suggest_the_closest(world: Session) -> None:
    scope = resolve_scope(world, product="Payments")
    with pytest.raises(UnknownScope) as board:
        build_sprint_report(world, scope, now=NOW, board="PAY bord")
    assert board.value.kind == "board" and board.value.suggestions[0] == "PAY board (42)"
    with pytest.raises(UnknownScope):  # another product's board is not in this scope
        build_sprint_report(world, scope, now=NOW, board="OPS board")
    with pytest.raises(UnknownScope) as sprint:
        build_sprint_report(world, scope, now=NOW, board="42", sprint="PAY Sprint 9")
    assert sprint.value.kind == "sprint" and "PAY Sprint 1" in sprint.value.suggestions
    with pytest.raises(UnknownScope):
        build_sprint_report(world, scope, now=NOW, sprint="Sprint 99 of nothing")


def code_review(section: BoardSprint) -> tuple[float, float]:
    row = next(r for r in section.tables["time_in_status"] if r["status"] == "Code Review")
    return row["median_visit_hours"], row["p85_visit_hours"]


def test_the_usual_times_are_kept_per_board_and_day_until_the_data_changes(
    world: Session,
) -> None:
    scope = resolve_scope(world, product="Payments")
    first = build_sprint_report(world, scope, now=NOW).sections[0]
    # The history window is the 180 whole days before the day of "now" (2026-03-09 09:00).
    day = dt.datetime(2026, 3, 9, tzinfo=dt.UTC)
    assert (first.history.start, first.history.end) == (day - 180 * D, day)
    stored = world.scalars(sa.select(BoardBaseline)).one()
    assert (stored.since, stored.until) == (day - 180 * D, day)
    assert stored.usual["Code Review"] == [5, 24.0, 34.0]  # as in the first test
    assert code_review(first) == (24, 34)

    # Later that day the stored numbers are read, not worked out again: doctor the row to see.
    stored.usual = {**stored.usual, "Code Review": [5, 24.0, 99.0]}
    world.flush()
    later = build_sprint_report(world, scope, now=NOW + 5 * H).sections[0]
    assert code_review(later) == (24, 99)

    # New data (a sync, or rows written by hand) moves the version: worked out again, and kept.
    work_item(world, "PAY-12", T0 - 9 * D, [(T0 - 8 * D, "Code Review"), (T0 - 7 * D, "Done")])
    world.flush()
    fresh = build_sprint_report(world, scope, now=NOW + 5 * H).sections[0]
    # Code Review visits now 10, 20, 24, 24, 30, 40h: median 24, p85 at rank 4.25 -> 30 + 2.5.
    assert code_review(fresh) == pytest.approx((24, 32.5))
    world.expire_all()
    assert world.scalars(sa.select(BoardBaseline)).one().usual["Code Review"][2] == 32.5

    # The next day has its own window; the row is worked out for it.
    tomorrow = build_sprint_report(world, scope, now=NOW + D).sections[0]
    assert tomorrow.history.end == day + D
    assert len(world.scalars(sa.select(BoardBaseline)).all()) == 2


def test_a_visit_that_ended_today_waits_for_tomorrow_in_the_usual_times(world: Session) -> None:
    # 6 hours in Code Review, ended at 08:00 today: not in today's window (it ends at midnight).
    work_item(world, "PAY-13", NOW - D, [(NOW - 7 * H, "Code Review"), (NOW - H, "Done")])
    world.flush()
    scope = resolve_scope(world, product="Payments")
    assert code_review(build_sprint_report(world, scope, now=NOW).sections[0]) == (24, 34)
    tomorrow = build_sprint_report(world, scope, now=NOW + D).sections[0]
    # 6, 10, 20, 24, 30, 40h: median 22, p85 at rank 4.25 -> 30 + 2.5.
    assert code_review(tomorrow) == pytest.approx((22, 32.5))
