"""The worker: one leader at a time through a Postgres advisory lock, and `sitrep worker --once`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bot.cli import app
from bot.config import ConfigError
from bot.deps import build_deps
from bot.reports import usual_requests
from bot.worker import LeaderLock, Worker, WorkerSettings, parse_interval
from storage.db import session_scope
from storage.models import Board, BoardBaseline
from storage.models_bot import HomeView, ReportDocument, Subscription, WebhookDelivery
from tests.bot.conftest import BOT_NOW
from tests.bot.harness import SIGNING_SECRET, BotHarness

FAST = WorkerSettings(standby_retry=0.1, lock_check=0.1, outbox_interval=0.05)


def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@dataclasses.dataclass
class Running:
    worker: Worker
    stop: threading.Event
    thread: threading.Thread


@pytest.fixture
def start_worker(bot: BotHarness) -> Iterator[Callable[[], Running]]:
    """Workers of their own (own outbox, own lock connection) over the test's database.

    Their sources are not configured (an empty environment), so a sync job is a quick run of
    "skipped" sources: these tests are about who schedules, not what a sync fetches.
    """
    started: list[Running] = []
    config = dataclasses.replace(bot.deps.config, env={})

    def start() -> Running:
        deps = build_deps(bot.engine, config, clock=bot.deps.clock)
        worker = Worker(deps, FAST)
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        thread.start()
        started.append(Running(worker, stop, thread))
        return started[-1]

    yield start
    for running in started:
        running.stop.set()
    for running in started:
        running.thread.join(10)


def test_two_workers_one_schedules_the_other_stands_by_and_takes_over(
    bot: BotHarness, start_worker: Callable[[], Running]
) -> None:
    first = start_worker()
    eventually(lambda: first.worker.role == "leader" and first.worker.runs.get("digests", 0) > 0)
    second = start_worker()
    eventually(lambda: second.worker.role == "standby")
    time.sleep(0.5)  # several of its retries
    assert second.worker.role == "standby" and second.worker.runs == {}
    # The sync ends with refreshing the shared reports: a few seconds on the sandbox.
    eventually(lambda: first.worker.runs.get("sync") == 1)
    assert first.worker.runs.get("cleanup") == 1 and first.worker.runs.get("refresh") == 1
    assert second.worker.runs == {}

    # The leader's process dies: Postgres closes its connection and frees the lock.
    pid = first.worker.lock.backend_pid()
    with bot.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    eventually(lambda: second.worker.role == "leader" and second.worker.runs.get("digests", 0) > 0)
    # The old leader noticed it lost the lock and is the standby now.
    eventually(lambda: first.worker.role == "standby")

    # A clean stop hands over too.
    second.stop.set()
    second.thread.join(10)
    assert second.worker.role == "stopped"
    eventually(lambda: first.worker.role == "leader")


def test_a_leader_runs_due_digests_on_its_schedule(
    bot: BotHarness, start_worker: Callable[[], Running]
) -> None:
    channel = bot.slack.state.add_channel("worker-digest").id
    with session_scope(bot.engine) as session:
        session.add(Subscription(channel_id=channel, kind="digest", next_run_at=BOT_NOW))
    start_worker()
    eventually(lambda: len(bot.history(channel)) == 1)
    [main] = bot.history(channel)
    eventually(lambda: len(bot.slack.state.replies(channel, main.ts)) == 3)
    assert main.blocks[0]["text"]["text"] == "Daily digest · the organisation"


@pytest.fixture
def cli_env(bot: BotHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment `sitrep worker` would have in production, pointed at the fakes."""
    env = {
        **bot.env,
        "DATABASE_URL": bot.engine.url.render_as_string(hide_password=False),
        "SLACK_BOT_TOKEN": bot.slack.token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": bot.slack.api_url,
        "SITREP_HTTP_BACKOFF": "0.01",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SITREP_SYNC_INTERVAL", raising=False)


def test_worker_once_runs_every_job_and_exits(bot: BotHarness, cli_env: None) -> None:
    channel = bot.slack.state.add_channel("once").id
    with session_scope(bot.engine) as session:
        session.add(Subscription(channel_id=channel, kind="digest", next_run_at=BOT_NOW))
        session.add(HomeView(user_id="U0ALICE", opened_at=BOT_NOW))
        session.add(WebhookDelivery(key="fresh"))
        session.add(WebhookDelivery(key="old", received_at=sa.func.now() - dt.timedelta(days=3)))
        for key, days in (("asked lately", 6), ("asked long ago", 8)):
            moment = sa.func.now() - dt.timedelta(days=days)
            times = {"computed_at": moment, "asked_at": moment}
            session.add(ReportDocument(key=key, request={}, version="", document={}, **times))

    result = CliRunner().invoke(app, ["worker", "--once"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "sync: " in result.stdout and "digests: 1" in result.stdout

    bot.settle()  # the harness's own outbox thread may have taken some of the replies
    [main] = bot.history(channel)
    assert len(bot.slack.state.replies(channel, main.ts)) == 3
    assert bot.slack.state.home("U0ALICE") is not None  # republished after the sync
    with session_scope(bot.engine) as session:
        keys = session.scalars(sa.select(WebhookDelivery.key)).all()
        sub = session.scalars(sa.select(Subscription)).one()
    assert keys == ["fresh"]
    with session_scope(bot.engine) as session:
        shared = set(session.scalars(sa.select(ReportDocument.key)))
    assert "asked lately" in shared and "asked long ago" not in shared
    assert sub.next_run_at is not None and sub.next_run_at > dt.datetime.now(dt.UTC)


def test_a_sync_leaves_the_usual_reports_and_every_boards_usual_times_ready(
    bot: BotHarness,
) -> None:
    """After a sync the worker refreshes the shared reports (`Reports.refresh`): the usual ones
    are ready for every process, and the organisation's sprint report among them keeps each
    board's usual times for the day, so the first other sprint report is quick too."""
    config = dataclasses.replace(bot.deps.config, env={})  # sources skipped: a quick sync
    worker = Worker(build_deps(bot.engine, config, clock=bot.deps.clock), FAST)
    with session_scope(bot.engine) as session:
        assert not session.scalars(sa.select(BoardBaseline)).all()
        assert not session.scalars(sa.select(ReportDocument)).all()
    before = bot.deps.clock()
    worker.sync_job()
    after = bot.deps.clock()
    day = dt.datetime.combine(bot.deps.clock().date(), dt.time(), tzinfo=dt.UTC)
    with session_scope(bot.engine) as session:
        kept = session.scalars(sa.select(BoardBaseline.board_id).where(BoardBaseline.until == day))
        boards = session.scalars(sa.select(Board.id)).all()
        assert boards and sorted(kept.all()) == sorted(boards)
        shared = session.execute(sa.select(ReportDocument.key, ReportDocument.computed_at)).all()
        usual = usual_requests(session)
    assert {key for key, _ in shared} == {r.shared_key() for r in usual}
    assert all(before <= at <= after for _, at in shared)  # computed by this sync's refresh


def test_worker_once_refuses_while_another_worker_schedules(bot: BotHarness, cli_env: None) -> None:
    lock = LeaderLock(bot.engine)
    assert lock.try_acquire()
    try:
        result = CliRunner().invoke(app, ["worker", "--once"], catch_exceptions=False)
    finally:
        lock.release()
    assert result.exit_code == 1
    assert "Another worker is scheduling right now" in result.output
    again = LeaderLock(bot.engine)
    assert again.try_acquire()  # released with its connection
    again.release()


def test_sync_interval_is_read_from_the_environment(
    bot: BotHarness, cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert WorkerSettings.from_env({}).sync_interval == dt.timedelta(minutes=15)
    assert WorkerSettings.from_env({"SITREP_SYNC_INTERVAL": "5"}).sync_interval == dt.timedelta(
        minutes=5
    )
    assert parse_interval("90s") == dt.timedelta(seconds=90)
    assert parse_interval(" 2h ") == dt.timedelta(hours=2)
    for bad in ("0m", "soon", "15 minutes", "-5"):
        with pytest.raises(ConfigError, match="15m, 90s or 1h"):
            parse_interval(bad)

    monkeypatch.setenv("SITREP_SYNC_INTERVAL", "often")
    result = CliRunner().invoke(app, ["worker", "--once"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "SITREP_SYNC_INTERVAL must be a duration such as 15m" in result.output
