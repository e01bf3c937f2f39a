"""The Jira collector against the fake over real HTTP, into a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from collectors.base import NullScopeProgress, SyncContext
from collectors.errors import NotConfigured, RequestFailed
from collectors.fakes import FakeServer, Faults
from collectors.http import RetryPolicy
from collectors.jira.client import JiraClient
from collectors.jira.fake import create_app, sandbox_env
from collectors.jira.fake_state import JiraState
from collectors.jira.sync import JiraCollector
from collectors.jira.sync_issues import jql_for
from collectors.runner import ScopeReport, run_sync
from collectors.sandbox.generator import STATUS_IDS, generate
from collectors.sandbox.world import Change, JiraIssue, World
from storage.db import session_scope
from storage.products import apply_products

NOW = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
POLICY = RetryPolicy(attempts=8, backoff=0.01, max_backoff=0.05)
CATEGORY = {"To Do": "todo", "In Progress": "in_progress", "Code Review": "in_progress"}
CATEGORY |= {"QA": "in_progress", "Done": "done"}


@pytest.fixture(scope="module")
def world() -> World:
    return generate("small", seed=7, now=NOW)


@pytest.fixture
def fake(world: World) -> Iterator[FakeServer]:
    with FakeServer(create_app(world)) as server:
        yield server


def state_of(server: FakeServer) -> JiraState:
    state: JiraState = server.injector.app.state.jira  # type: ignore[attr-defined]
    return state


def sync(
    engine: Engine, server: FakeServer, *, full: bool = False, env: dict[str, str] | None = None
) -> list[ScopeReport]:
    def factory(source: str, environ: Any) -> JiraCollector:
        return JiraCollector.from_env(environ, policy=POLICY, sleep=lambda s: None)

    return run_sync(
        engine, sources=["jira"], full=full, env=env or sandbox_env(server.url), factory=factory
    )


def succeeded(reports: list[ScopeReport]) -> list[ScopeReport]:
    assert [r.error for r in reports if r.status != "succeeded"] == []
    return reports


_SNAPSHOT = {
    "boards": "SELECT external_id, name, type, project_key FROM boards",
    "sprints": "SELECT s.external_id, b.external_id, s.name, s.state, s.original_state, s.goal,"
    " s.started_at, s.ends_at, s.completed_at"
    " FROM sprints s LEFT JOIN boards b ON b.id = s.board_id",
    "work_items": "SELECT external_id, key, project_key, summary, type, original_type, status,"
    " original_status, priority, original_priority, story_points, assignee, reporter, labels,"
    " parent_key, created_at, updated_at, resolved_at FROM work_items",
    "transitions": "SELECT t.external_id, w.external_id, changed_at, from_status, to_status,"
    " original_from_status, original_to_status, author FROM work_item_transitions t"
    " JOIN work_items w ON w.id = t.work_item_id",
    "memberships": "SELECT s.external_id, w.external_id, m.added_at, m.removed_at"
    " FROM sprint_memberships m JOIN sprints s ON s.id = m.sprint_id"
    " JOIN work_items w ON w.id = m.work_item_id",
    "incidents": "SELECT external_id, key, title, project_key, status, original_status, severity,"
    " started_at, resolved_at, deployment_id FROM incidents",
}


def _hashable(row: Any) -> tuple[Any, ...]:
    return tuple(tuple(v) if isinstance(v, list) else v for v in row)


def snapshot(engine: Engine, *, physical: bool = False) -> dict[str, set[tuple[Any, ...]]]:
    """Every domain row the collector wrote, by natural keys (ids and URLs differ per server)."""
    with engine.connect() as conn:
        result = {
            name: {_hashable(row) for row in conn.execute(sa.text(sql))}
            for name, sql in _SNAPSHOT.items()
        }
        if physical:  # where each row lives and when it was written: unchanged means untouched
            for table in ("work_items", "work_item_transitions", "sprints", "incidents"):
                sql = f"SELECT external_id, ctid::text, synced_at, raw FROM {table}"
                result[f"{table}:physical"] = {
                    (r[0], r[1], r[2], str(r[3])) for r in conn.execute(sa.text(sql))
                }
            cursors = "SELECT scope, updated_at, cursor::text FROM sync_cursors"
            result["sync_cursors"] = {tuple(r) for r in conn.execute(sa.text(cursors))}
    return result


def mapped_issues(world: World) -> list[JiraIssue]:
    projects = {k for p in world.products for k in p.jira_projects}
    return [i for i in world.issues if i.project in projects]


# ---------------------------------------------------------------- configuration


def test_missing_settings_name_the_source_and_every_variable_to_set() -> None:
    with pytest.raises(NotConfigured) as caught:
        JiraCollector.from_env({"JIRA_URL": "https://acme.atlassian.net"})
    message = str(caught.value)
    assert message.startswith("jira: ")
    assert "JIRA_EMAIL" in message and "JIRA_TOKEN" in message
    assert "JIRA_URL," not in message  # it was set: not asked for again
    assert "\n" not in message


def test_wrong_credentials_fail_once_with_what_to_check(engine: Engine, fake: FakeServer) -> None:
    env = sandbox_env(fake.url) | {"JIRA_TOKEN": "not-the-token"}
    reports = sync(engine, fake, env=env)
    assert len(reports) == 1  # refused credentials stop the source after its first scope
    assert reports[0].status == "failed"
    error = reports[0].error or ""
    assert error.startswith("jira: ") and "401" in error
    assert "JIRA_EMAIL" in error and "JIRA_TOKEN" in error


def test_scopes_follow_the_product_mappings(engine: Engine, fake: FakeServer) -> None:
    collector = JiraCollector.from_env(sandbox_env(fake.url))
    with session_scope(engine) as session:
        scopes = collector.scopes(session)
    collector.close()
    assert scopes == [
        "fields",
        *(f"board:{b}" for b in (1, 2, 3, 4, 5)),
        *(f"project:{k}" for k in ("CAT", "CHK", "MOB", "OPS", "PAY")),
    ]


def test_jql_dates_are_floored_minutes_in_the_users_zone_minus_the_overlap() -> None:
    since = dt.datetime(2026, 1, 10, 12, 34, 56, tzinfo=dt.UTC)
    assert jql_for("PAY", since, "America/Los_Angeles") == (
        'project = "PAY" AND updated >= "2026/01/10 04:29" ORDER BY updated ASC'
    )
    assert jql_for("PAY", None, "UTC") == 'project = "PAY" ORDER BY updated ASC'


# ---------------------------------------------------------------- full and repeated syncs


def test_a_full_sync_writes_the_world(engine: Engine, fake: FakeServer, world: World) -> None:
    reports = succeeded(sync(engine, fake))
    assert sum(r.rows for r in reports) > 0
    rows = snapshot(engine)
    issues = mapped_issues(world)
    assert {r[0] for r in rows["work_items"]} == {str(i.id) for i in issues}
    status_changes = [c for i in issues for c in i.changes if c.field == "status"]
    assert len(rows["transitions"]) == len(status_changes)
    assert {r[0] for r in rows["sprints"]} == {str(s) for s in world.sprints}
    incidents = [i for i in issues if i.type == "Incident"]
    assert {r[1] for r in rows["incidents"]} == {i.key for i in incidents}

    by_id = {r[0]: r for r in rows["work_items"]}
    for issue in issues:
        row = by_id[str(issue.id)]
        assert row[1:3] == (issue.key, issue.project)
        assert row[4:8] == (issue.type.lower(), issue.type, CATEGORY[issue.status], issue.status)
        expected_priority = {"Highest": "critical", "Lowest": "low"}.get(
            issue.priority, issue.priority.lower()
        )
        assert row[8:10] == (expected_priority, issue.priority)
        assert row[10] == issue.story_points
        assert row[15:18] == (issue.created, issue.updated, issue.resolved)
        assert row[15].tzinfo is not None
    for incident in incidents:
        row = next(r for r in rows["incidents"] if r[1] == incident.key)
        assert row[4] == ("resolved" if incident.status == "Done" else "open")
        assert (row[7], row[8], row[9]) == (incident.created, incident.resolved, None)


def test_transitions_carry_categories_names_and_times(
    engine: Engine, fake: FakeServer, world: World
) -> None:
    succeeded(sync(engine, fake))
    transitions = {r[0]: r for r in snapshot(engine)["transitions"]}
    reworked = next(
        i
        for i in mapped_issues(world)
        if any(c.to_string == "In Progress" and c.from_string == "Code Review" for c in i.changes)
    )
    for change in (c for c in reworked.changes if c.field == "status"):
        row = transitions[f"{change.history_id}:0"]
        assert row[1] == str(reworked.id)
        assert row[2] == change.at
        assert row[3:7] == (
            CATEGORY[change.from_string or ""],
            CATEGORY[change.to_string or ""],
            change.from_string,
            change.to_string,
        )
        assert row[7] == world.person(change.author).name


def expected_memberships(world: World) -> set[tuple[Any, ...]]:
    """Sprint spans straight from the ground truth, as the collector should derive them."""
    expected = set()
    for issue in mapped_issues(world):
        spans: dict[int, list[dt.datetime | None]] = {}
        for change in (c for c in issue.changes if c.field == "Sprint"):
            before = {int(x) for x in (change.from_value or "").split(",") if x.strip()}
            after = {int(x) for x in (change.to_value or "").split(",") if x.strip()}
            for sprint in after - before:
                spans.setdefault(sprint, [change.at, None])[1] = None
            for sprint in before - after:
                spans[sprint][1] = change.at
        for sprint, (added, removed) in spans.items():
            expected.add((str(sprint), str(issue.id), added, removed))
    return expected


def test_sprint_memberships_follow_the_sprint_changes(
    engine: Engine, fake: FakeServer, world: World
) -> None:
    succeeded(sync(engine, fake))
    memberships = snapshot(engine)["memberships"]
    expected = expected_memberships(world)
    assert memberships == expected
    assert any(m[3] is not None for m in memberships)  # some were pulled out of a sprint
    assert any(m[3] is None for m in memberships)


def test_a_second_sync_changes_nothing_and_asks_once_per_scope(
    engine: Engine, fake: FakeServer
) -> None:
    succeeded(sync(engine, fake))
    before = snapshot(engine, physical=True)

    reports = succeeded(sync(engine, fake))

    assert [(r.scope, r.requests, r.rows) for r in reports] == [(r.scope, 1, 0) for r in reports]
    assert snapshot(engine, physical=True) == before


def test_an_incremental_sync_picks_up_a_changed_issue(
    engine: Engine, fake: FakeServer, world: World
) -> None:
    succeeded(sync(engine, fake))
    issue = next(i for i in mapped_issues(world) if i.status == "QA" and i.project != "CAT")
    later = NOW + dt.timedelta(hours=3, seconds=17)
    state_of(fake).transition(issue.key, "Done", at=later)
    other = next(i for i in mapped_issues(world) if i.project == "CAT" and i.status == "Done")
    state_of(fake).touch(other.key, at=later, summary="Renamed while we were away")

    reports = succeeded(sync(engine, fake))

    by_scope = {r.scope: r for r in reports}
    incident = issue.type == "Incident"
    assert by_scope[f"project:{issue.project}"].rows == 3 if incident else 2  # item + transition
    assert (by_scope["project:CAT"].rows, by_scope["project:CAT"].requests) == (1, 1)
    rows = snapshot(engine)
    item = next(r for r in rows["work_items"] if r[0] == str(issue.id))
    assert (item[6], item[7], item[16], item[17]) == ("done", "Done", later, later)
    new = [t for t in rows["transitions"] if t[1] == str(issue.id) and t[2] == later]
    assert [(t[3], t[4], t[5], t[6]) for t in new] == [("in_progress", "done", "QA", "Done")]
    renamed = next(r for r in rows["work_items"] if r[0] == str(other.id))
    assert renamed[3] == "Renamed while we were away"
    assert other.summary != renamed[3]  # the World itself is untouched


def test_a_user_west_of_utc_still_gets_every_change(database_url: URL, world: World) -> None:
    """JQL dates read in the user's zone: written in UTC they would skip eight hours here."""
    engine = sa.create_engine(database_url)
    with session_scope(engine) as session:
        apply_products(session, world.products)
    with FakeServer(create_app(world, time_zone="America/Los_Angeles")) as server:
        succeeded(sync(engine, server))
        issue = max(mapped_issues(world), key=lambda i: i.updated)
        state_of(server).touch(issue.key, at=issue.updated + dt.timedelta(minutes=2), summary="x")
        succeeded(sync(engine, server))
    row = next(r for r in snapshot(engine)["work_items"] if r[0] == str(issue.id))
    engine.dispose()
    assert row[3] == "x"


# ---------------------------------------------------------------- failures and long changelogs


@pytest.fixture
def reference(database_url: URL, world: World) -> Iterator[Engine]:
    """A second database (same products) for a run to compare with."""
    name = f"{database_url.database}_reference"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE sitrep_test_template'))
    engine = sa.create_engine(database_url.set(database=name))
    with session_scope(engine) as session:
        apply_products(session, world.products)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_faults_on_the_wire_leave_the_same_database(
    engine: Engine, fake: FakeServer, world: World, reference: Engine
) -> None:
    clean_requests = sum(r.requests for r in succeeded(sync(reference, fake)))
    faults = Faults(
        rate_limit_every=5,
        retry_after=0,
        error_burst_every=7,
        error_burst_length=2,
        truncate_every=11,
        drop_every=13,
    )
    with FakeServer(create_app(world), faults=faults) as server:
        reports = succeeded(sync(engine, server))
        assert sum(r.requests for r in reports) == server.requests  # every attempt counted
    assert server.injector.injected > 10 and server.requests > clean_requests  # met, retried
    assert snapshot(engine) == snapshot(reference)


def test_a_sync_cut_short_resumes_to_the_same_database(
    engine: Engine, fake: FakeServer, reference: Engine
) -> None:
    """Checkpoints commit as they go: a run that dies midway, then a rerun, equals one clean run."""
    succeeded(sync(reference, fake))
    env = sandbox_env(fake.url)
    ctx = SyncContext(engine)
    setup = JiraCollector.from_env(env)
    for scope in ("fields", "board:3"):
        setup.sync_scope(scope, ctx, NullScopeProgress())
    setup.close()
    # After the count and two pages of twenty, the next answer is a 503 and this client gives up
    # at once: the run dies midway, like a kill between two checkpoints.
    fake.faults.error_burst_every = fake.requests + 4
    fake.faults.error_burst_length = 1
    dying = JiraCollector(
        JiraClient(fake.url, env["JIRA_EMAIL"], env["JIRA_TOKEN"], policy=RetryPolicy(attempts=1)),
        flush_issues=20,
        page_size=20,
    )
    with pytest.raises(RequestFailed):
        dying.sync_scope("project:CAT", ctx, NullScopeProgress())
    dying.close()
    partial = snapshot(engine)["work_items"]
    assert len(partial) == 40

    assert fake.injector.injected == 1
    fake.faults.error_burst_every = 0
    succeeded(sync(engine, fake))
    assert snapshot(engine) == snapshot(reference)


def _long_history(issue: JiraIssue, state: JiraState, count: int) -> list[Change]:
    changes = []
    at = issue.updated
    names = ["In Progress", "Code Review"]
    current = issue.status
    for n in range(count):
        at += dt.timedelta(minutes=1)
        target = names[n % 2]
        changes.append(
            Change(
                state.next_history_id(),
                at,
                issue.reporter,
                "status",
                STATUS_IDS[current],
                current,
                STATUS_IDS[target],
                target,
            )
        )
        current = target
    return changes


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk-changelog", "per-issue-changelog"])
def test_changelogs_longer_than_jira_embeds_are_fetched_whole(
    engine: Engine, fake: FakeServer, world: World, bulk: bool
) -> None:
    state = state_of(fake)
    state.bulk_changelog = bulk
    issue = next(i for i in world.issues if i.project == "OPS" and i.status == "Done")
    extra = _long_history(issue, state, 230)
    state.add_changes(issue.key, extra)

    succeeded(sync(engine, fake))

    transitions = [t for t in snapshot(engine)["transitions"] if t[1] == str(issue.id)]
    status_changes = [c for c in state.issues[issue.key].changes if c.field == "status"]
    assert len(transitions) == len(status_changes) > 200
    assert {t[0] for t in transitions} >= {f"{c.history_id}:0" for c in extra}
