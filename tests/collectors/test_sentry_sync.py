"""The Sentry collector against the Sentry fake over real HTTP, into a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.applications import Starlette

from collectors.base import NullScopeProgress, SyncContext
from collectors.errors import AuthenticationFailed, NotConfigured, RequestFailed, SourceError
from collectors.fakes import FakeServer, Faults
from collectors.http import RetryPolicy
from collectors.runner import ScopeReport, run_sync
from collectors.sandbox.generator import generate
from collectors.sandbox.world import World
from collectors.sentry.client import SentryClient
from collectors.sentry.fake import SENTRY_ORG, SENTRY_TOKEN, create_app, sandbox_env, state_of
from collectors.sentry.fake_render import WEB_URL
from collectors.sentry.mapping import daily_counts, to_error_issue
from collectors.sentry.sync import SentryCollector
from storage.db import session_scope
from storage.models import ErrorEventCount, ErrorIssue, Release
from storage.sync_state import get_cursor
from tests.collectors.snapshot import snapshot

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
FAST = RetryPolicy(backoff=0.01, max_backoff=0.05)


@pytest.fixture(scope="module")
def world() -> World:
    return generate("small", seed=7, now=NOW)


@pytest.fixture
def app(world: World) -> Starlette:
    return create_app(world)


@pytest.fixture
def fake(app: Starlette) -> Iterator[FakeServer]:
    with FakeServer(app) as server:
        yield server


def collector_for(url: str, *, per_page: int = 100, **kwargs: Any) -> SentryCollector:
    client = SentryClient(url, SENTRY_TOKEN, SENTRY_ORG, policy=FAST, per_page=per_page, **kwargs)
    return SentryCollector(client, web_url=WEB_URL)


def sync(engine: Engine, url: str, *, full: bool = False) -> list[ScopeReport]:
    def factory(source: str, env: Any) -> SentryCollector:
        return SentryCollector.from_env(env, policy=FAST)

    return run_sync(engine, sources=["sentry"], env=sandbox_env(url), full=full, factory=factory)


def sync_all(engine: Engine, collector: SentryCollector, *, batch_size: int = 2_000) -> int:
    """What the runner does, with a small batch size so checkpoints happen between pages."""
    with session_scope(engine) as session:
        scopes = collector.scopes(session)
    written = 0
    for scope in scopes:
        ctx = SyncContext(engine, batch_size=batch_size)
        written += collector.sync_scope(scope, ctx, NullScopeProgress())
    return written


def differences(a: dict[str, list[Any]], b: dict[str, list[Any]]) -> list[str]:
    """Tables whose rows differ (rows compared by repr: JSONB values are unhashable dicts)."""
    problems = []
    for table in sorted(set(a) | set(b)):
        left, right = [repr(r) for r in a.get(table, [])], [repr(r) for r in b.get(table, [])]
        if left != right:
            only_left = sorted(set(left) - set(right))[:2]
            only_right = sorted(set(right) - set(left))[:2]
            problems.append(f"{table}: {len(left)} vs {len(right)} rows; {only_left} {only_right}")
    return problems


def assert_succeeded(reports: list[ScopeReport]) -> None:
    assert [r for r in reports if r.status != "succeeded"] == []


def issues_by_id(engine: Engine) -> dict[str, ErrorIssue]:
    with session_scope(engine) as session:
        rows = session.scalars(sa.select(ErrorIssue)).all()
        session.expunge_all()
    return {row.external_id: row for row in rows}


def day_counts(engine: Engine, external_id: str) -> dict[dt.date, int]:
    query = (
        sa.select(ErrorEventCount.day, ErrorEventCount.count)
        .join(ErrorIssue, ErrorIssue.id == ErrorEventCount.error_issue_id)
        .where(ErrorIssue.external_id == external_id)
    )
    with engine.connect() as conn:
        return {day: count for day, count in conn.execute(query)}


def clear_sentry(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE error_issues, error_event_counts, releases CASCADE"))
        conn.execute(sa.text("DELETE FROM sync_cursors WHERE source = 'sentry'"))


# ---------------------------------------------------------------- a full sync


def test_a_full_sync_stores_every_issue_its_recent_days_and_the_releases(
    engine: Engine, fake: FakeServer, world: World
) -> None:
    reports = sync(engine, fake.url)

    assert_succeeded(reports)
    slugs = sorted(world.sentry_projects)
    assert [r.scope for r in reports] == ["projects", *slugs, "releases"]
    stored = issues_by_id(engine)
    truth = {str(i.id): i for issues in world.sentry_issues.values() for i in issues}
    assert set(stored) == set(truth)  # every status, not only the unresolved ones
    for external_id, issue in truth.items():
        row = stored[external_id]
        assert (row.project, row.short_id, row.title) == (
            issue.project,
            issue.short_id,
            issue.title,
        )
        assert (row.level, row.status, row.substatus) == (
            issue.level,
            issue.status,
            issue.substatus,
        )
        assert (row.first_seen, row.last_seen) == (issue.first_seen, issue.last_seen)
        assert (row.event_count, row.user_count) == (issue.count, issue.user_count)
        assert row.url == f"{WEB_URL}/organizations/acme/issues/{external_id}/"
    # Daily counts: the 14 days before "now", and today.
    window = {NOW.date() - dt.timedelta(days=n) for n in range(15)}
    busy = max(truth.values(), key=lambda i: sum(v for d, v in i.daily.items() if d in window))
    expected = {d: v for d, v in busy.daily.items() if d in window and v}
    assert expected
    assert day_counts(engine, str(busy.id)) == expected
    with session_scope(engine) as session:
        releases = session.execute(sa.select(Release.scope, Release.version)).all()
        assert len(releases) == len(world.sentry_releases)
        assert ("search", "search@1.1.0") in releases
        days = session.scalar(sa.select(sa.func.count()).select_from(ErrorEventCount))
        assert days is not None and days > 100


def test_a_second_sync_with_nothing_changed_changes_nothing_in_one_request_per_scope(
    engine: Engine, fake: FakeServer
) -> None:
    assert_succeeded(sync(engine, fake.url))
    before = snapshot(engine)

    reports = sync(engine, fake.url)

    assert_succeeded(reports)
    assert {r.scope: r.requests for r in reports if r.requests > 1} == {}
    assert sum(r.rows for r in reports) == 0
    assert differences(before, snapshot(engine)) == []


def test_an_issue_with_new_events_is_picked_up_by_the_next_sync(
    engine: Engine, app: Starlette, fake: FakeServer, world: World
) -> None:
    assert_succeeded(sync(engine, fake.url))
    resolved = next(i for i in world.sentry_issues["payments-api"] if i.status == "resolved")
    at = NOW - dt.timedelta(hours=2)

    state_of(app).touch(resolved.id, at, events=5)
    reports = sync(engine, fake.url)

    assert_succeeded(reports)
    assert {r.scope: r.requests for r in reports if r.requests > 1} == {}
    row = issues_by_id(engine)[str(resolved.id)]
    assert (row.status, row.substatus, row.last_seen) == ("unresolved", "regressed", at)
    assert row.event_count == resolved.count + 5
    assert day_counts(engine, str(resolved.id))[at.date()] == resolved.daily.get(at.date(), 0) + 5
    assert next(r for r in reports if r.scope == "payments-api").rows == 2  # issue + its day


def test_a_status_change_without_events_waits_for_a_full_pass(
    engine: Engine, app: Starlette, fake: FakeServer, world: World
) -> None:
    assert_succeeded(sync(engine, fake.url))
    issue = next(i for i in world.sentry_issues["search"] if i.status == "unresolved")
    client = SentryClient(fake.url, SENTRY_TOKEN, SENTRY_ORG, policy=FAST)
    assert client.update_issue_status(str(issue.id), "resolved")["status"] == "resolved"

    assert_succeeded(sync(engine, fake.url))  # lastSeen did not move: not in the incremental pass
    assert issues_by_id(engine)[str(issue.id)].status == "unresolved"

    # Once the watermark moves a day past the last full pass, the next pass reads everything.
    other = next(i for i in world.sentry_issues["search"] if i.id != issue.id)
    state_of(app).touch(other.id, NOW + dt.timedelta(days=1, hours=2))
    assert_succeeded(sync(engine, fake.url))  # incremental: moves the watermark
    assert_succeeded(sync(engine, fake.url))  # a full pass
    assert issues_by_id(engine)[str(issue.id)].status == "resolved"
    assert issues_by_id(engine)[str(issue.id)].original_status == "resolved"
    client.close()


# ---------------------------------------------------------------- resilience


def test_with_faults_the_database_ends_as_after_a_clean_run(engine: Engine, world: World) -> None:
    with FakeServer(create_app(world)) as clean:
        sync_all(engine, collector_for(clean.url, per_page=10), batch_size=25)
    expected = snapshot(engine)
    clear_sentry(engine)
    faults = Faults(
        rate_limit_every=5,
        retry_after=0,
        error_burst_every=7,
        error_burst_length=2,
        drop_every=11,
        truncate_every=13,
    )

    with FakeServer(create_app(world), faults=faults) as faulty:
        collector = collector_for(faulty.url, per_page=10)
        sync_all(engine, collector, batch_size=25)

    assert collector.requests > faulty.requests / 2 > 40  # the faults were really met
    assert differences(expected, snapshot(engine)) == []


class Killed(BaseException):
    """Stands for SIGKILL: nothing below the sync catches it, no cleanup runs."""


@pytest.mark.parametrize("kill_at", [3, 8, 17, 29])
def test_a_sync_killed_midway_and_run_again_ends_as_an_uninterrupted_one(
    engine: Engine, world: World, kill_at: int
) -> None:
    with FakeServer(create_app(world)) as clean:
        sync_all(engine, collector_for(clean.url, per_page=10), batch_size=10)
    expected = snapshot(engine)
    clear_sentry(engine)

    def die(seconds: float) -> None:
        raise Killed

    # Request number `kill_at` fails; the retry's sleep is where the process "dies".
    faults = Faults(error_burst_every=kill_at, error_burst_length=1)
    with FakeServer(create_app(world), faults=faults) as server:
        with pytest.raises(Killed):
            sync_all(engine, collector_for(server.url, per_page=10, sleep=die), batch_size=10)
        server.faults.error_burst_every = 0
        sync_all(engine, collector_for(server.url, per_page=10), batch_size=10)

    assert differences(expected, snapshot(engine)) == []


def test_a_checkpoint_records_the_page_to_resume_from(engine: Engine, world: World) -> None:
    def die(seconds: float) -> None:
        raise Killed

    # Requests: 1 projects, 2-4 the three pages of the first project; the 4th fails.
    with FakeServer(
        create_app(world), faults=Faults(error_burst_every=4, error_burst_length=1)
    ) as server:
        with pytest.raises(Killed):
            sync_all(engine, collector_for(server.url, per_page=10, sleep=die), batch_size=10)
        first = sorted(world.sentry_projects)[0]
        with session_scope(engine) as session:
            cursor = get_cursor(session, source="sentry", scope=first)
        assert cursor is not None
        assert cursor["watermark"] is None
        assert cursor["pass"]["next"].endswith(":0")
        assert len(issues_by_id(engine)) == 20  # two pages committed with their checkpoint
        server.faults.error_burst_every = 0
        before = server.requests
        collector = collector_for(server.url, per_page=10)
        collector.sync_scope(first, SyncContext(engine, batch_size=10), NullScopeProgress())
        assert server.requests - before == 1  # only the page that was missing


# ---------------------------------------------------------------- configuration and errors


def test_missing_configuration_says_what_to_set() -> None:
    with pytest.raises(NotConfigured) as caught:
        SentryCollector.from_env({"SENTRY_URL": "https://sentry.example.com"})
    message = str(caught.value)
    assert message.startswith("sentry: set SENTRY_TOKEN and SENTRY_ORG")
    assert "\n" not in message
    with pytest.raises(NotConfigured, match=r"^sentry: set SENTRY_ORG to sync"):
        SentryCollector.from_env({"SENTRY_TOKEN": "t"})


def test_a_refused_token_fails_once_naming_the_variable(engine: Engine, fake: FakeServer) -> None:
    env = {**sandbox_env(fake.url), "SENTRY_TOKEN": "wrong"}

    def factory(source: str, env: Any) -> SentryCollector:
        return SentryCollector.from_env(env, policy=FAST)

    reports = run_sync(engine, sources=["sentry"], env=env, factory=factory)

    assert [(r.scope, r.status) for r in reports] == [("projects", "failed")]
    assert reports[0].error is not None
    assert reports[0].error.startswith("sentry: ")
    assert "401" in reports[0].error and "SENTRY_TOKEN" in reports[0].error
    with pytest.raises(AuthenticationFailed):
        SentryCollector.from_env(env, policy=FAST).client.list_projects()


def test_a_mapped_project_sentry_does_not_have_is_named(
    engine: Engine, fake: FakeServer, world: World
) -> None:
    with session_scope(engine) as session:
        session.execute(
            sa.text(
                "UPDATE product_mappings SET key = 'ghost-app' "
                "WHERE kind = 'sentry_project' AND key = 'search'"
            )
        )
    collector = collector_for(fake.url)
    ctx = SyncContext(engine)

    with pytest.raises(SourceError, match="ghost-app"):
        collector.sync_scope("projects", ctx, NullScopeProgress())
    with pytest.raises(RequestFailed, match=r"project 'ghost-app' .* not found"):
        collector.sync_scope("ghost-app", ctx, NullScopeProgress())


def test_a_wrong_organisation_is_named(engine: Engine, fake: FakeServer) -> None:
    client = SentryClient(fake.url, SENTRY_TOKEN, "umbrella", policy=FAST)
    with pytest.raises(RequestFailed, match=r"organisation 'umbrella' not found; check SENTRY_ORG"):
        SentryCollector(client).sync_scope("projects", SyncContext(engine), NullScopeProgress())


# ---------------------------------------------------------------- mapping quirks


def test_levels_and_statuses_outside_ours_are_normalised_keeping_the_originals() -> None:
    raw = {
        "id": "7",
        "permalink": "https://sentry.io/organizations/acme/issues/7/",
        "title": "Something",
        "level": "sample",
        "status": "muted",
        "substatus": "archived_forever",
        "firstSeen": "2026-02-01T10:00:00.123456Z",
        "lastSeen": "2026-02-02T10:00:00Z",
        "count": "12345678901",
        "userCount": 3,
        "assignedTo": {"type": "team", "id": "4", "name": "payments"},
        "stats": {"14d": [[1769904000, 0], [1769990400, 4]]},
    }

    row = to_error_issue(raw, "checkout-web")

    assert (row["level"], row["original_level"]) == ("info", "sample")
    assert (row["status"], row["original_status"]) == ("ignored", "muted")
    assert row["substatus"] == "archived_forever"
    assert row["project"] == "checkout-web"  # no project object: the scope's slug
    assert row["event_count"] == 12_345_678_901  # count is a string, possibly beyond 2**31
    assert row["first_seen"] == dt.datetime(2026, 2, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
    assert row["assignee"] == "team:payments"
    assert "stats" not in row["raw"]  # it slides with the clock; the counts have their own table
    assert list(daily_counts(raw)) == [(dt.date(2026, 2, 2), 4)]
    assert to_error_issue({**raw, "level": "unknown", "status": "reprocessing"}, "x")["level"] == (
        "error"
    )
