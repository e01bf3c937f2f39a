"""The collectors' done-when criteria, end to end: fakes over real HTTP, a real database.

Every test syncs the small sandbox through all three collectors and compares whole databases
by content (tests/collectors/snapshot.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from typer.testing import CliRunner

from bot.cli import app
from bot.sandbox import Sandbox, running_sandbox
from collectors.fakes import Faults
from collectors.runner import run_sync
from collectors.sandbox import PRODUCTS_FILE
from collectors.sandbox.generator import generate
from storage.db import session_scope
from storage.product_file import load_products_file
from storage.products import apply_products
from tests.collectors.snapshot import differences, snapshot

WORLD = generate("small", seed=7)
FAST = {"SITREP_HTTP_BACKOFF": "0.01"}


def prepared(url: URL) -> Engine:
    engine = sa.create_engine(url)
    with session_scope(engine) as session:
        apply_products(session, load_products_file(PRODUCTS_FILE))
    return engine


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with running_sandbox(world=WORLD) as running:
        yield running


@pytest.fixture
def clean_snapshot(admin_url: URL, template_url: URL) -> dict[str, list[tuple[object, ...]]]:
    """The database an uninterrupted, fault-free full sync produces (computed once per test)."""
    from tests.conftest import _drop, _recreate

    url = _recreate(admin_url, "sitrep_e2e_clean", "sitrep_test_template")
    engine = prepared(url)
    with running_sandbox(world=WORLD) as clean:
        reports = run_sync(engine, env=clean.env() | FAST)
    assert all(r.status == "succeeded" for r in reports), [r for r in reports if r.error]
    shot = snapshot(engine)
    engine.dispose()
    _drop(admin_url, "sitrep_e2e_clean")
    return shot


def test_a_second_sync_changes_nothing_and_makes_at_most_one_request_per_scope(
    database_url: URL, sandbox: Sandbox
) -> None:
    engine = prepared(database_url)
    env = sandbox.env() | FAST
    first = run_sync(engine, env=env)
    assert {r.source for r in first} == {"sentry", "jira", "github"}
    assert all(r.status == "succeeded" for r in first), [r for r in first if r.error]
    assert sum(r.rows for r in first) > 3000
    before = snapshot(engine)

    second = run_sync(engine, env=env)

    assert all(r.status == "succeeded" for r in second)
    assert differences(before, snapshot(engine)) == []
    heavy = [(r.source, r.scope, r.requests) for r in second if r.requests > 1]
    assert heavy == [], f"scopes that made more than one request with nothing changed: {heavy}"
    assert sum(r.rows for r in second) == 0


def test_faults_do_not_change_the_result(
    database_url: URL, clean_snapshot: dict[str, list[tuple[object, ...]]]
) -> None:
    faults = Faults(
        rate_limit_every=5,
        error_burst_every=23,
        error_burst_length=2,
        truncate_every=13,
        drop_every=17,
        retry_after=0,
    )
    engine = prepared(database_url)
    with running_sandbox(world=WORLD, faults=faults) as faulty:
        reports = run_sync(engine, env=faulty.env() | FAST | {"SITREP_HTTP_ATTEMPTS": "12"})
        injected = faulty.faults_injected
    assert injected > 50, "the fakes should have misbehaved many times"
    assert all(r.status == "succeeded" for r in reports), [r for r in reports if r.error]
    assert differences(clean_snapshot, snapshot(engine)) == []


def test_a_sync_killed_midway_then_rerun_gives_the_same_database(
    database_url: URL, sandbox: Sandbox, clean_snapshot: dict[str, list[tuple[object, ...]]]
) -> None:
    engine = prepared(database_url)
    env = {
        **os.environ,
        **sandbox.env(),
        **FAST,
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "sync"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and child.poll() is None:
            with engine.connect() as conn:
                written = conn.execute(sa.text("SELECT count(*) FROM pull_requests")).scalar_one()
            if written >= 100:  # GitHub is syncing: some scopes done, some half-way
                break
            time.sleep(0.05)
        assert child.poll() is None, "the sync finished before it could be killed"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)

    rerun = run_sync(engine, env=sandbox.env() | FAST)

    assert all(r.status == "succeeded" for r in rerun), [r for r in rerun if r.error]
    assert differences(clean_snapshot, snapshot(engine)) == []


def test_wrong_credentials_name_the_source_and_the_others_still_sync(
    database_url: URL, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = prepared(database_url)
    for key, value in (sandbox.env() | FAST).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GITHUB_TOKEN", "not-the-token")
    monkeypatch.setenv("DATABASE_URL", database_url.render_as_string(hide_password=False))

    result = CliRunner().invoke(app, ["sync"])

    assert result.exit_code == 1
    assert "GITHUB_TOKEN" in result.stderr
    assert "failed: github" in result.stderr
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM work_items")).scalar_one() > 0
        assert conn.execute(sa.text("SELECT count(*) FROM error_issues")).scalar_one() > 0
        assert conn.execute(sa.text("SELECT count(*) FROM pull_requests")).scalar_one() == 0


def test_a_source_without_credentials_is_skipped_with_what_to_set(
    database_url: URL, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared(database_url)
    for key, value in (sandbox.env() | FAST).items():
        monkeypatch.setenv(key, value)
    for key in ("JIRA_URL", "JIRA_EMAIL", "JIRA_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url.render_as_string(hide_password=False))

    result = CliRunner().invoke(app, ["sync", "--source", "jira", "--source", "sentry"])

    assert result.exit_code == 0, result.output
    assert "skipped: jira" in result.stdout
    assert "JIRA_TOKEN" in result.stdout
    status = CliRunner().invoke(app, ["sync", "status"])
    assert "sentry" in status.stdout and "succeeded" in status.stdout


def test_sync_status_before_any_sync(database_url: URL, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url.render_as_string(hide_password=False))
    result = CliRunner().invoke(app, ["sync", "status"])
    assert "No sync has run yet" in result.stdout


def test_unknown_source_gets_the_valid_names() -> None:
    result = CliRunner().invoke(app, ["sync", "--source", "gitlab"])
    assert result.exit_code == 2
    assert "sentry, jira, github" in result.stderr
