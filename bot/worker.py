"""The worker process: source syncs, digests and housekeeping on a schedule, by one worker at once.

Jobs (APScheduler 3, in-memory: the schedule is this module, the state is in Postgres):

- **sync** every ``SITREP_SYNC_INTERVAL`` (default 15 minutes; ``90s``, ``15m``, ``1h`` or plain
  minutes): every configured source (`collectors.runner.run_sync`), then the shared reports are
  refreshed (below), then the App Home tab of everyone who opened it is republished with the new
  numbers;
- **refresh** every 4 minutes and after each sync: the reports people use are recomputed and
  shared (`bot.reports.Reports.refresh`), so questions are answered without computing;
- **digests** every minute: `bot.digests.run.run_due` sends what is due;
- **follow-ups** every 10 minutes: a Sentry alert left open without a Jira ticket for
  ``SITREP_ALERT_FOLLOW_UP`` (default 4 hours; ``off`` to disable) gets one nudge in its thread
  (`bot.alerts.followups`);
- **cleanup** hourly: webhook dedup keys older than two days are forgotten (Sentry redelivers
  within minutes; a day of keys is plenty, two is safe), and shared reports unasked for a week.

The outbox is delivered by a thread of its own in every worker (and every web process): any
number of senders can share it safely.

Only one worker schedules at a time. The leader holds a Postgres session-level advisory lock on a
connection of its own for as long as it runs; the others are standbys that try the lock every
``standby_retry`` seconds. When the leader dies its connection closes, Postgres releases the lock,
and a standby takes over within one retry. A leader that finds its lock connection gone (the
database restarted, a network cut) stops scheduling at once and goes back to standby, so two
leaders never overlap for longer than one check interval.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
    BackgroundScheduler,
)
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from bot.alerts.followups import DEFAULT_AFTER, follow_up
from bot.config import ConfigError
from bot.deps import Deps
from bot.digests.run import run_due
from bot.home.service import republish_homes
from collectors.runner import ScopeReport, run_sync
from storage.models_bot import ReportDocument, WebhookDelivery

log = logging.getLogger("sitrep.worker")

# A fixed 64-bit key, from a name so it does not collide with anyone's small integers.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"sitrep.worker.scheduler").digest()[:8], signed=True)
_INTERVAL = re.compile(r"^\s*(\d+)\s*([smh]?)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "": "minutes"}

Sync = Callable[[Engine, Mapping[str, str]], list[ScopeReport]]


def _run_sync(engine: Engine, env: Mapping[str, str]) -> list[ScopeReport]:
    return run_sync(engine, env=env)


def parse_interval(value: str, name: str = "SITREP_SYNC_INTERVAL") -> dt.timedelta:
    found = _INTERVAL.match(value)
    if not found or int(found.group(1)) < 1:
        raise ConfigError(
            f"{name} must be a duration such as 15m, 90s or 1h (plain numbers are minutes), "
            f"not {value!r}"
        )
    return dt.timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    sync_interval: dt.timedelta = dt.timedelta(minutes=15)
    digest_interval: dt.timedelta = dt.timedelta(minutes=1)
    cleanup_interval: dt.timedelta = dt.timedelta(hours=1)
    # Shorter than `Reports.ttl` (5 minutes), so a shared report is replaced before it expires.
    report_refresh_interval: dt.timedelta = dt.timedelta(minutes=4)
    follow_up_interval: dt.timedelta = dt.timedelta(minutes=10)
    # How long an alert may stay open without a ticket before its thread is nudged (None: never).
    follow_up_after: dt.timedelta | None = DEFAULT_AFTER
    keep_deliveries: dt.timedelta = dt.timedelta(days=2)
    keep_reports: dt.timedelta = dt.timedelta(days=7)
    standby_retry: float = 10.0  # seconds between a standby's tries of the lock
    lock_check: float = 5.0  # seconds between a leader's checks that it still holds it
    outbox_interval: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerSettings:
        found: dict[str, Any] = {}
        if value := env.get("SITREP_SYNC_INTERVAL", "").strip():
            found["sync_interval"] = parse_interval(value)
        if value := env.get("SITREP_ALERT_FOLLOW_UP", "").strip():
            off = value.casefold() in ("off", "never", "none", "0")
            found["follow_up_after"] = (
                None if off else parse_interval(value, "SITREP_ALERT_FOLLOW_UP")
            )
        return cls(**found)


class LeaderLock:
    """A Postgres session-level advisory lock, held on a connection of its own.

    The connection is taken out of the pool for good and closed (never returned) on release: a
    pooled connection would carry the session lock to whoever borrows it next.
    """

    def __init__(self, engine: Engine, key: int = LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self._conn: Connection | None = None
        self.held = False

    def try_acquire(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = self._conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            ).scalar_one()
        except DBAPIError as exc:
            log.warning("cannot reach the database to take the scheduler lock: %s", exc.orig)
            self._drop()
            return False
        self.held = bool(got)
        return self.held

    def alive(self) -> bool:
        """Whether the lock's connection is still up (then the lock is still ours)."""
        if self._conn is None or not self.held:
            return False
        try:
            self._conn.execute(sa.text("SELECT 1"))
        except DBAPIError:
            self._drop()
            return False
        return True

    def backend_pid(self) -> int | None:
        """The lock connection's server process (tests terminate it to play a crash)."""
        if self._conn is None:
            return None
        pid = self._conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        return int(pid)

    def release(self) -> None:
        self._drop()

    def _drop(self) -> None:
        self.held = False
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.invalidate()  # closes the DBAPI connection: the server drops the lock
                conn.close()
            except DBAPIError:
                pass


@dataclass
class Worker:
    """The scheduler of one worker process; `run` until ``stop`` is set, or `run_once`."""

    deps: Deps
    settings: WorkerSettings = field(default_factory=WorkerSettings)
    sync: Sync = _run_sync
    lock_key: int = LOCK_KEY
    role: str = "starting"  # starting | standby | leader | stopped
    runs: dict[str, int] = field(default_factory=dict)  # job name -> times it finished

    def __post_init__(self) -> None:
        self.lock = LeaderLock(self.deps.engine, self.lock_key)
        self.became_leader = threading.Event()
        self._refreshing = threading.Lock()

    # ------------------------------------------------------------------ the jobs

    def sync_job(self) -> list[ScopeReport]:
        reports = self.sync(self.deps.engine, self.deps.env)
        failed = [r for r in reports if r.status == "failed"]
        for report in failed:
            log.warning("sync of %s %s failed: %s", report.source, report.scope, report.error)
        log.info("sync done: %d scopes, %d failed", len(reports), len(failed))
        self.refresh_job(wait=True)  # new data: never skipped for a refresh of the old
        homes = republish_homes(self.deps)
        log.info("republished %d App Home tabs", homes)
        self._ran("sync")
        return reports

    def refresh_job(self, *, wait: bool = False) -> int:
        """Recompute the shared report documents people use (`Reports.wanted`) for the data and
        the time as they are now, so questions are answered without computing: after each sync
        (new data) and every `report_refresh_interval` (a document is served for `Reports.ttl`).
        The organisation's sprint report among them also keeps every board's usual times for
        the day (`insights.queries.baselines`). One at a time: the timer's refresh is skipped
        while another runs; the sync's (``wait``) waits for it, as that one read the old data."""
        if not self._refreshing.acquire(blocking=wait):
            return 0
        try:
            done = self.deps.reports.refresh(self.deps.reports.wanted())
        except Exception:  # a failed refresh only means answers are computed when asked
            log.exception("refreshing the shared reports failed")
            return 0
        finally:
            self._refreshing.release()
        log.info("refreshed %d shared reports", done)
        self._ran("refresh")
        return done

    def digests_job(self) -> int:
        runs = run_due(self.deps, self.deps.clock())
        for run in runs:
            log.info("digest of subscription %d: %s", run.subscription_id, run.outcome)
        self._ran("digests")
        return len(runs)

    def follow_ups_job(self) -> int:
        after = self.settings.follow_up_after
        nudged = follow_up(self.deps, after) if after is not None else 0
        self._ran("follow_ups")
        return nudged

    def cleanup_job(self) -> int:
        with self.deps.engine.begin() as conn:
            # The database's clock, as received_at is: the business clock may be a sandbox's.
            cutoff = sa.func.now() - self.settings.keep_deliveries
            deleted = conn.execute(
                sa.delete(WebhookDelivery).where(WebhookDelivery.received_at < cutoff)
            ).rowcount
            # Shared reports nobody asked for in a week (the usual ones come back at the next
            # refresh; the rest were one-off questions).
            unasked = sa.func.now() - self.settings.keep_reports
            reports = conn.execute(
                sa.delete(ReportDocument).where(ReportDocument.asked_at < unasked)
            ).rowcount
        log.info("forgot %d webhook deliveries and %d unasked reports", deleted, reports)
        self._ran("cleanup")
        return int(deleted or 0)

    def _ran(self, job: str) -> None:
        self.runs[job] = self.runs.get(job, 0) + 1

    # ------------------------------------------------------------------ running

    def run_once(self) -> dict[str, Any] | None:
        """Each job once, then the outbox until nothing is due; None if another worker leads."""
        if not self.lock.try_acquire():
            return None
        try:
            self.role = "leader"
            done: dict[str, Any] = {
                "sync": self.sync_job(),
                "digests": self.digests_job(),
                "follow_ups": self.follow_ups_job(),
                "cleanup": self.cleanup_job(),
            }
            sent = 0
            for _ in range(100):  # replies wait for their parent: a few rounds
                batch = self.deps.outbox.deliver()
                if not batch:
                    break
                sent += len(batch)
            done["outbox"] = sent
            return done
        finally:
            self.lock.release()
            self.role = "stopped"

    def scheduler(self) -> Any:
        scheduler = BackgroundScheduler(timezone=dt.UTC)
        now = dt.datetime.now(dt.UTC)
        jobs: tuple[tuple[str, Callable[[], Any], dt.timedelta], ...] = (
            ("sync", self.sync_job, self.settings.sync_interval),
            ("digests", self.digests_job, self.settings.digest_interval),
            ("follow_ups", self.follow_ups_job, self.settings.follow_up_interval),
            ("cleanup", self.cleanup_job, self.settings.cleanup_interval),
            ("refresh", self.refresh_job, self.settings.report_refresh_interval),
        )
        for name, job, every in jobs:
            scheduler.add_job(
                job,
                IntervalTrigger(seconds=every.total_seconds(), timezone=dt.UTC),
                id=name,
                name=name,
                # A new leader catches up at once; the refresh first follows the sync (its end
                # refreshes), then keeps its own pace.
                next_run_time=now + every if name == "refresh" else now,
                max_instances=1,  # a slow sync is not started twice
                coalesce=True,  # missed runs (a long pause) run once, not in a burst
                misfire_grace_time=None,
            )
        return scheduler

    def run(self, stop: threading.Event) -> None:
        """Standby until the lock is ours, then schedule until ``stop`` or the lock is lost."""
        outbox = self.deps.outbox.start(self.settings.outbox_interval)
        try:
            while not stop.is_set():
                if not self.lock.try_acquire():
                    if self.role != "standby":
                        log.info(
                            "standby: another worker is scheduling; trying again every %.0f s",
                            self.settings.standby_retry,
                        )
                    self.role = "standby"
                    stop.wait(self.settings.standby_retry)
                    continue
                if self._lead(stop):
                    # Our way to the database just broke: step back for a few retries so a
                    # healthy standby takes over; if there is none, we take the lock back.
                    stop.wait(self.settings.standby_retry * 3)
        finally:
            self.lock.release()
            self.deps.outbox.stop()
            outbox.join(10)
            self.role = "stopped"

    def _lead(self, stop: threading.Event) -> bool:
        """Schedule until ``stop`` (False) or until the lock is lost (True)."""
        log.info("leader: this worker schedules syncs and digests")
        self.role = "leader"
        self.became_leader.set()
        scheduler = self.scheduler()
        scheduler.start()
        lost = False
        try:
            while not stop.wait(self.settings.lock_check):
                if not self.lock.alive():
                    log.error("lost the scheduler lock (its connection closed); back to standby")
                    lost = True
                    break
        finally:
            scheduler.shutdown(wait=True)
            self.lock.release()
            self.became_leader.clear()
            self.role = "standby" if not stop.is_set() else "stopped"
        return lost
