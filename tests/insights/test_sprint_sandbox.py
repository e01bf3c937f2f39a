"""The sprint report on the synced small sandbox: the planted bottleneck, and sprint numbers that
match the generator's own record of every Sprint field change (what Jira's report would show)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from collectors.sandbox.world import JiraIssue, World
from insights import flow
from insights.common import Window
from insights.queries import sprint as sprint_queries
from insights.queries import sprint_history
from insights.queries.scope import resolve_scope
from insights.queries.sprint import build_sprint_report
from insights.queries.sprint_history import BoardHistory, BoardQuery


@pytest.fixture
def reader(sandbox_engine: Engine) -> Iterator[Session]:
    with Session(sandbox_engine) as session:
        yield session


def test_code_review_is_the_bottleneck_of_the_payment_board_only(
    reader: Session, sandbox_world: World
) -> None:
    facts = sandbox_world.facts
    payments = build_sprint_report(
        reader, resolve_scope(reader, product="Payment System"), now=sandbox_world.now
    )
    assert payments.board is not None and payments.board.id == str(facts.bottleneck_board)
    section = payments.sections[0]
    assert section.bottleneck == facts.bottleneck_status == "Code Review"
    assert any(
        f.kind == "bottleneck" and facts.bottleneck_status in f.action for f in payments.findings
    )
    everything = build_sprint_report(reader, resolve_scope(reader), now=sandbox_world.now)
    others = [s for s in everything.sections if s.board.id != str(facts.bottleneck_board)]
    assert others, "the sandbox has other boards"
    for other in others:
        assert other.bottleneck is not None and other.bottleneck != facts.bottleneck_status
        assert not any(f.kind == "bottleneck" for f in other.findings)


def _ids(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def _sprints_at(issue: JiraIssue, moment: dt.datetime) -> set[str]:
    """The issue's Sprint field at ``moment``, replayed from the generator's changelog."""
    value: set[str] = set()
    for change in issue.changes:
        if change.field == "Sprint" and change.at <= moment:
            value = _ids(change.to_value)
    return value


def test_sprint_numbers_match_the_changelog(reader: Session, sandbox_world: World) -> None:
    world, now = sandbox_world, sandbox_world.now
    board = world.boards[world.facts.bottleneck_board]
    sprint = next(
        s for s in world.sprints.values() if s.board_id == board.id and s.state == "active"
    )
    assert sprint.start is not None
    sid = str(sprint.id)
    committed, added, removed, completed = set(), set(), set(), set()
    points: dict[str, float] = {}
    for issue in (i for i in world.issues if i.project == board.project):
        points[issue.key] = issue.story_points or 0.0
        if sid in _sprints_at(issue, sprint.start):
            committed.add(issue.key)
        during = [
            (c.at, _ids(c.from_value), _ids(c.to_value))
            for c in issue.changes
            if c.field == "Sprint" and sprint.start < c.at <= now
        ]
        joins = [at for at, before, after in during if sid in after - before]
        if joins:
            added.add(issue.key)
        if any(sid in before - after for _, before, after in during):
            removed.add(issue.key)
        joined = sprint.start if issue.key in committed else min(joins, default=now)
        resolved = issue.resolved
        if sid in _sprints_at(issue, now) and resolved and joined < resolved <= now:
            completed.add(issue.key)

    report = build_sprint_report(
        reader, resolve_scope(reader, product="Payment System"), now=now, board=str(board.id)
    )
    section = report.sections[0]
    assert section.sprint is not None and section.sprint.name == sprint.name
    values = {m.id: m.value for m in section.metrics}
    assert values["committed_issues"] == len(committed) > 0
    assert values["committed_points"] == sum(points[k] for k in committed)
    assert values["added_issues"] == len(added)
    assert values["added_points"] == sum(points[k] for k in added)
    assert values["removed_issues"] == len(removed)
    assert values["completed_issues"] == len(completed)
    assert values["completed_points"] == sum(points[k] for k in completed)


def test_the_loader_paths_agree(
    reader: Session, sandbox_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whichever way the loader reads (through indexes or in passes, leaving out the items that
    stood still or not, with the usual times stored by the first report or read again), the
    report is the same, and so are the usual times `flow` works out."""
    now, scope = sandbox_world.now, resolve_scope(reader)
    expected = build_sprint_report(reader, scope, now=now).as_dict()
    monkeypatch.setattr(sprint_history, "_FEW_BOARDS", 0)  # the path for an organisation
    assert build_sprint_report(reader, scope, now=now).as_dict() == expected

    loaded: list[tuple[BoardQuery, BoardHistory]] = []

    def untrimmed(session: Session, boards: list[BoardQuery]) -> dict[int, BoardHistory]:
        # Untrimmed, and reading the history again rather than the stored usual times.
        boards = [dataclasses.replace(b, trim=False, usual_known=False) for b in boards]
        found = sprint_history.load_histories(session, boards)
        loaded.extend((b, found[b.board_id]) for b in boards)
        return found

    monkeypatch.setattr(sprint_queries, "load_histories", untrimmed)
    assert build_sprint_report(reader, scope, now=now).as_dict() == expected
    assert len(loaded) == len(expected["boards"]) > 1
    for query, history in loaded:
        assert query.history_end is not None
        window = Window(query.history_start, query.history_end)
        assert history.usual == flow.usual_times(history.items.values(), window)


def test_a_products_boards_read_as_in_the_organisations_report(
    reader: Session, sandbox_world: World
) -> None:
    """Each board of a product's report reads exactly as in the organisation's: a board's
    section depends on the board alone (its items, sprints and its own product's repos), not on
    the scope asked about, whichever path the loader takes for each."""
    now = sandbox_world.now
    everything = build_sprint_report(reader, resolve_scope(reader), now=now).as_dict()
    by_board = {section["board"]["id"]: section for section in everything["boards"]}
    seen = set()
    for product in sandbox_world.products:
        if product.parent is not None:
            continue
        report = build_sprint_report(reader, resolve_scope(reader, product=product.name), now=now)
        for section in report.as_dict()["boards"]:
            assert section == by_board[section["board"]["id"]]
            seen.add(section["board"]["id"])
    assert seen == set(by_board) and len(seen) > 1


def test_reports_of_several_scopes_at_once_read_each_board_once(
    reader: Session, sandbox_world: World
) -> None:
    """`build_sprint_reports` (the bot's batch of a burst of questions) gives each scope the report
    it would get alone, reading the boards once: as many statements as the organisation's alone."""
    now = sandbox_world.now
    teams = sorted({p.owner_team for p in sandbox_world.products if p.owner_team})
    scopes = [
        resolve_scope(reader),
        *(resolve_scope(reader, product=p.name) for p in sandbox_world.products),
        *(resolve_scope(reader, team=t) for t in teams),
    ]
    alone = [build_sprint_report(reader, scope, now=now).as_dict() for scope in scopes]
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    engine = reader.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        build_sprint_report(reader, scopes[0], now=now)
        organisation_alone = len(statements)
        statements.clear()
        together = sprint_queries.build_sprint_reports(reader, scopes, now=now)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert [report.as_dict() for report in together] == alone
    assert len(statements) == organisation_alone
    assert sum(1 for report in alone if report["boards"]) > 3
