"""The GitHub collector against the fake GitHub over real HTTP, writing to a real PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from collectors.base import NullScopeProgress, SyncContext
from collectors.errors import NotConfigured
from collectors.fakes import FakeServer, Faults
from collectors.github.fake import create_app, fake_state, sandbox_env
from collectors.github.sync import GitHubCollector
from collectors.http import RetryPolicy
from collectors.runner import ScopeReport, run_sync
from collectors.sandbox.generator import generate
from collectors.sandbox.world import DeploymentStatus, Review, World
from storage.db import session_scope

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
POLICY = RetryPolicy(backoff=0.01, max_backoff=0.05)
TABLES = {
    "pull_requests": "external_id",
    "pull_request_reviews": "external_id",
    "deployments": "external_id",
    "releases": "external_id",
}


@pytest.fixture(scope="module")
def small_world() -> World:
    return generate("small", seed=7, now=NOW)


@pytest.fixture(scope="module")
def world(small_world: World) -> World:
    """The small sandbox cut down (every repo, fewer items) to keep repeated syncs quick."""
    repos = {
        name: dataclasses.replace(
            repo,
            pulls=repo.pulls[:20],
            deployments=repo.deployments[-12:],
            workflow_runs=repo.workflow_runs[-10:],
            releases=repo.releases[-6:],
        )
        for name, repo in small_world.repos.items()
    }
    return dataclasses.replace(small_world, repos=repos)


def serve(app: Any, faults: Faults | None = None) -> FakeServer:
    return FakeServer(app, faults=faults)


def factory(source: str, env: Mapping[str, str]) -> GitHubCollector:
    assert source == "github"
    return GitHubCollector.from_env(env, policy=POLICY)


def sync(engine: Engine, server: FakeServer, **kw: Any) -> list[ScopeReport]:
    env = {**sandbox_env(server.url), **kw.pop("env", {})}
    return run_sync(engine, sources=["github"], env=env, factory=factory, **kw)


def snapshot(engine: Engine) -> dict[str, Any]:
    """Every synced row and cursor, minus what legitimately differs (row ids, synced_at)."""
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for table, key in TABLES.items():
            rows = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {key}")).mappings()
            out[table] = [
                {k: v for k, v in row.items() if k not in ("id", "synced_at", "pull_request_id")}
                for row in rows
            ]
        links = conn.execute(
            sa.text(
                "SELECT r.external_id, p.external_id FROM pull_request_reviews r "
                "JOIN pull_requests p ON p.id = r.pull_request_id ORDER BY 1"
            )
        )
        out["review_links"] = [tuple(row) for row in links]
        cursors = conn.execute(
            sa.text("SELECT scope, cursor FROM sync_cursors WHERE source = 'github' ORDER BY 1")
        )
        out["cursors"] = [tuple(row) for row in cursors]
    return out


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
        conn.execute(sa.text("DELETE FROM sync_cursors"))


# ---------------------------------------------------------------- configuration and auth


def test_missing_token_says_what_to_set() -> None:
    with pytest.raises(NotConfigured) as caught:
        GitHubCollector.from_env({"GITHUB_API_URL": "http://127.0.0.1:9"})
    message = str(caught.value)
    assert message.startswith("github: set GITHUB_TOKEN")
    assert "\n" not in message


def test_a_bad_deploy_pattern_is_a_configuration_error() -> None:
    env = {"GITHUB_TOKEN": "x", "SITREP_DEPLOY_WORKFLOW_PATTERN": "(unclosed"}
    with pytest.raises(NotConfigured, match="SITREP_DEPLOY_WORKFLOW_PATTERN"):
        GitHubCollector.from_env(env)


def test_wrong_token_fails_once_naming_the_variable(engine: Engine, world: World) -> None:
    with serve(create_app(world)) as server:
        reports = sync(engine, server, env={"GITHUB_TOKEN": "not-the-token"})
    assert len(reports) == 1  # refused credentials are reported once, not per scope
    assert reports[0].status == "failed"
    assert reports[0].error is not None
    assert reports[0].error.startswith("github: the credentials were refused (401)")
    assert "GITHUB_TOKEN" in reports[0].error


def test_scopes_are_four_streams_per_mapped_repo(engine: Engine, world: World) -> None:
    collector = GitHubCollector.from_env(sandbox_env("http://127.0.0.1:9"))
    try:
        with session_scope(engine) as session:
            scopes = collector.scopes(session)
    finally:
        collector.close()
    assert len(scopes) == 4 * len(world.repos)
    assert "acme/payments:pulls" in scopes
    assert "acme/admin-console:workflow_runs" in scopes


# ---------------------------------------------------------------- full, repeat, incremental


def test_full_sync_renders_the_world(engine: Engine, small_world: World) -> None:
    world = small_world
    with serve(create_app(world)) as server:
        reports = sync(engine, server)
    assert all(r.status == "succeeded" for r in reports), [r.error for r in reports]

    counts = world.counts()
    assert count(engine, "SELECT count(*) FROM pull_requests") == counts["pull_requests"]
    assert count(engine, "SELECT count(*) FROM pull_request_reviews") == counts["reviews"]
    deploy_runs = sum(
        1 for r in world.repos.values() for run in r.workflow_runs if "Deploy" in run.name
    )
    assert 0 < deploy_runs < counts["workflow_runs"]  # CI runs are not deployments
    assert (
        count(engine, "SELECT count(*) FROM deployments WHERE origin = 'deployment'")
        == (counts["deployments"])
    )
    assert count(engine, "SELECT count(*) FROM deployments WHERE origin = 'workflow_run'") == (
        deploy_runs
    )
    assert count(engine, "SELECT count(*) FROM releases") == counts["releases"]

    # One merged PR, field by field.
    repo = world.repos["acme/payments"]
    pr = next(p for p in repo.pulls if p.merged_at and len(p.reviews) > 1)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT * FROM pull_requests WHERE external_id = :id"),
            {"id": f"acme/payments#{pr.number}"},
        ).one()
    assert (row.state, row.original_state) == ("merged", "closed")
    assert (row.head_branch, row.base_branch, row.labels) == (pr.head, pr.base, pr.labels)
    assert (row.additions, row.deletions, row.changed_files) == (
        pr.additions,
        pr.deletions,
        pr.changed_files,
    )
    assert row.commits == len(pr.commits)
    assert row.merge_commit_sha == pr.merge_commit_sha
    assert row.merged_at == pr.merged_at
    assert row.first_commit_at == min(c.committed_at for c in pr.commits)
    expected_review = min(r.submitted_at for r in pr.reviews if r.reviewer != pr.author)
    assert row.first_review_at == expected_review
    assert row.url == f"https://github.com/acme/payments/pull/{pr.number}"

    # A superseded production deployment: GitHub says inactive, it still was a success.
    superseded = next(
        d for d in repo.deployments if d.statuses and d.statuses[-1].state == "inactive"
    )
    with engine.connect() as conn:
        dep = conn.execute(
            sa.text("SELECT * FROM deployments WHERE external_id = :id"),
            {"id": str(superseded.id)},
        ).one()
    assert (dep.status, dep.original_status) == ("success", "inactive")
    assert dep.environment == "production"
    assert dep.started_at == superseded.statuses[0].created_at
    assert dep.finished_at == superseded.statuses[-2].created_at
    assert dep.sha == superseded.sha

    release = world.repos["acme/fraud-scoring"].releases[0]
    with engine.connect() as conn:
        rel = conn.execute(
            sa.text("SELECT * FROM releases WHERE source = 'github' AND external_id = :id"),
            {"id": str(release.id)},
        ).one()
    assert (rel.scope, rel.version, rel.sha) == (
        "acme/fraud-scoring",
        release.tag_name,
        release.target_commitish,
    )
    assert rel.released_at == release.published_at


def test_second_sync_changes_nothing_with_one_request_per_scope(
    engine: Engine, world: World
) -> None:
    with serve(create_app(world)) as server:
        sync(engine, server)
        before = snapshot(engine)
        reports = sync(engine, server)
    assert snapshot(engine) == before
    assert {r.requests for r in reports} == {1}
    assert {r.rows for r in reports} == {0}
    assert len(reports) == 4 * len(world.repos)


def test_incremental_sync_picks_up_changed_items(engine: Engine, world: World) -> None:
    app = create_app(world)
    fake = fake_state(app)
    with serve(app) as server:
        sync(engine, server)
        repo = world.repos["acme/checkout-api"]
        old = repo.pulls[3]
        reviewer = next(p.login for p in world.people if p.login != old.author)
        fake.add_review(
            repo.full_name, old.number, Review(99_000_001, reviewer, "CHANGES_REQUESTED", NOW)
        )
        fake.update_pull(repo.full_name, repo.pulls[5].number, title="Renamed", updated_at=NOW)
        deployment = repo.deployments[-1]
        fake.add_deployment_status(
            repo.full_name, deployment.id, DeploymentStatus(99_000_002, "inactive", NOW)
        )
        before = server.requests
        reports = sync(engine, server)
        used = server.requests - before

    by_scope = {r.scope: r for r in reports}
    assert by_scope["acme/checkout-api:pulls"].rows == 3  # two PRs and the new review
    assert by_scope["acme/checkout-api:deployments"].rows == 1
    assert by_scope["acme/checkout-web:pulls"].requests == 1  # untouched repos: one 304 each
    # 1 list + 3 per changed PR; 1 list + 1 statuses for the deployment; 1 each elsewhere.
    assert used <= 4 * len(world.repos) + 6 + 1
    with engine.connect() as conn:
        review = conn.execute(
            sa.text(
                "SELECT state, original_state FROM pull_request_reviews WHERE external_id = :i"
            ),
            {"i": "99000001"},
        ).one()
        title = conn.execute(
            sa.text("SELECT title FROM pull_requests WHERE external_id = :i"),
            {"i": f"{repo.full_name}#{repo.pulls[5].number}"},
        ).scalar_one()
        dep = conn.execute(
            sa.text("SELECT status, original_status FROM deployments WHERE external_id = :i"),
            {"i": str(deployment.id)},
        ).one()
    assert tuple(review) == ("changes_requested", "CHANGES_REQUESTED")
    assert title == "Renamed"
    assert tuple(dep)[1] == "inactive"


def test_faults_end_in_the_same_database_as_a_clean_run(engine: Engine, world: World) -> None:
    with serve(create_app(world)) as server:
        clean_requests = sum(r.requests for r in sync(engine, server))
    clean = snapshot(engine)
    wipe(engine)

    faults = Faults(
        rate_limit_every=5,
        retry_after=0,
        error_burst_every=17,
        error_burst_length=2,
        truncate_every=13,
        drop_every=29,
    )
    with serve(create_app(world), faults=faults) as server:
        reports = sync(engine, server)
    assert all(r.status == "succeeded" for r in reports), [r.error for r in reports]
    assert sum(r.requests for r in reports) > clean_requests * 1.2  # the faults were retried
    assert snapshot(engine) == clean


def test_full_sync_ignores_the_cursor(engine: Engine, world: World) -> None:
    with serve(create_app(world)) as server:
        sync(engine, server)
        with engine.begin() as conn:  # lose a row behind the cursor's back
            conn.execute(sa.text("DELETE FROM releases"))
        incremental = sync(engine, server)
        assert count(engine, "SELECT count(*) FROM releases") == 0
        assert {r.rows for r in incremental} == {0}
        sync(engine, server, full=True)
    assert count(engine, "SELECT count(*) FROM releases") == world.counts()["releases"]


# ---------------------------------------------------------------- crash and resume

_KILLABLE = """
import sys, sqlalchemy as sa
from collectors.base import NullScopeProgress, SyncContext
from collectors.github.fake import sandbox_env
from collectors.github.sync import GitHubCollector
from collectors.http import RetryPolicy
engine = sa.create_engine(sys.argv[1])
collector = GitHubCollector.from_env(sandbox_env(sys.argv[2]), policy=RetryPolicy(backoff=0.01))
from storage.db import session_scope
with session_scope(engine) as session:
    scopes = collector.scopes(session)
context = SyncContext(engine, batch_size=int(sys.argv[3]))
for scope in scopes:
    collector.sync_scope(scope, context, NullScopeProgress())
"""


def test_a_sync_killed_midway_resumes_to_the_same_database(
    engine: Engine, world: World, database_url: URL
) -> None:
    with serve(create_app(world)) as server:
        sync(engine, server)
    clean = snapshot(engine)
    wipe(engine)

    url = database_url.render_as_string(hide_password=False)
    with serve(create_app(world), faults=Faults(slow_ms=2)) as server:
        child = subprocess.Popen(
            [sys.executable, "-c", _KILLABLE, url, server.url, "7"],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            deadline = time.monotonic() + 60
            # Kill it once some, but not all, pull requests are committed.
            while count(engine, "SELECT count(*) FROM pull_requests") < 40:
                assert child.poll() is None, "the sync finished before it could be killed"
                assert time.monotonic() < deadline
                time.sleep(0.01)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        partial = count(engine, "SELECT count(*) FROM pull_requests")
        assert 0 < partial < world.counts()["pull_requests"]
        collector = GitHubCollector.from_env(sandbox_env(server.url), policy=POLICY)
        try:
            with session_scope(engine) as session:
                scopes = collector.scopes(session)
            for scope in scopes:
                collector.sync_scope(scope, SyncContext(engine), NullScopeProgress())
        finally:
            collector.close()
    assert snapshot(engine) == clean
