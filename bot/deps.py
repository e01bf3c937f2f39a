"""Everything a listener needs, built once per process and passed in (no globals).

`Deps` is what each surface's ``register(app, deps)`` receives: the database, the Slack client,
the outbox, the report cache and a clock (tests stop it). Sentry and Jira clients are made on
demand from the same variables the collectors read, so a button works wherever a sync would.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import ssl
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot.config import BotConfig
from bot.metrics import Metrics
from bot.outbox import Outbox, enqueue
from bot.reports import Reports
from bot.slack.delivery import slack_handlers
from collectors.errors import NotConfigured
from collectors.http import RetryPolicy
from collectors.jira.client import JiraClient
from collectors.sentry.client import SentryClient
from insights.llm import LlmConfig
from storage.db import session_scope

log = logging.getLogger("sitrep.bot")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Acknowledging:
    """How many Slack requests the web process is acknowledging right now.

    Acknowledgements and answers share one GIL. Slack gives an acknowledgement 3 seconds and
    shows the person an error when it is late; an answer a few milliseconds later shows nothing.
    So answer work waits, briefly, while requests are being acknowledged: fifty commands at once
    are all acknowledged before their fifty answers (rendering, storing and posting them) start.
    """

    def __init__(self) -> None:
        self._count = 0
        self._quiet = threading.Condition()

    def __enter__(self) -> None:
        with self._quiet:
            self._count += 1

    def __exit__(self, *_: object) -> None:
        with self._quiet:
            self._count -= 1
            if not self._count:
                self._quiet.notify_all()

    def wait_quiet(self, timeout: float = 0.25) -> bool:
        """Wait until no request is being acknowledged, at most ``timeout`` seconds (a steady
        stream of requests delays answers by that much, never more). True when quiet."""
        with self._quiet:
            return self._quiet.wait_for(lambda: not self._count, timeout)


@dataclass
class Deps:
    engine: Engine
    config: BotConfig
    slack: WebClient
    outbox: Outbox
    reports: Reports
    clock: Callable[[], dt.datetime] = utc_now
    metrics: Metrics = field(default_factory=Metrics)
    # Answers that compute reports run here (`_answer_pool`), never on the threads that
    # acknowledge: those must stay free to acknowledge the next request within Slack's 3 seconds.
    answers: ThreadPoolExecutor = field(default_factory=lambda: _answer_pool(0))
    # What a listener does after its acknowledgement (Bolt answers Slack when the listener
    # returns: see `bot.app`), so that answer never waits on Slack, Jira or Sentry.
    background: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(16, thread_name_prefix="listener")
    )
    acknowledging: Acknowledging = field(default_factory=Acknowledging)
    extras: dict[str, Any] = field(default_factory=dict)
    _busy: int = field(default=0, init=False, repr=False)
    _busy_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def later(self, work: Callable[..., object], *args: Any) -> None:
        """Run ``work(*args)`` on the background pool, logging what it raises (a pool would
        keep the exception in a future nobody reads)."""

        def run() -> None:
            try:
                work(*args)
            except Exception:
                log.exception("background work %s failed", getattr(work, "__name__", work))
            finally:
                with self._busy_lock:
                    self._busy -= 1

        with self._busy_lock:
            self._busy += 1
        self.background.submit(run)

    def busy(self) -> int:
        """How many `later` jobs are queued or running (tests wait for none)."""
        with self._busy_lock:
            return self._busy

    @property
    def env(self) -> Mapping[str, str]:
        return self.config.env

    def post(self, method: str, payload: Mapping[str, Any], *, key: str | None = None) -> int:
        """Enqueue one Slack call and try it at once; the outbox retries it if that fails."""
        if key is None:
            return self.outbox.add_and_send(target="slack", method=method, payload=payload).id
        with session_scope(self.engine) as session:
            item = enqueue(session, target="slack", method=method, payload=payload, key=key)
        self.outbox.send_now([item])
        return item

    def respond(self, response_url: str, body: Mapping[str, Any]) -> int:
        """Answer through a command's or action's response URL (durably, like any post)."""
        return self.post("response_url", {"url": response_url, "body": dict(body)})

    def sentry(self) -> SentryClient:
        """A client for the alert buttons; `NotConfigured` says which variables to set."""
        token, org = self.env.get("SENTRY_TOKEN", ""), self.env.get("SENTRY_ORG", "")
        if not token or not org:
            raise NotConfigured("sentry", "set SENTRY_TOKEN and SENTRY_ORG to act on Sentry issues")
        url = self.env.get("SENTRY_URL") or "https://sentry.io"
        return SentryClient(url, token, org, policy=_quick(self.env), timeout=10.0)

    def jira(self) -> JiraClient:
        url, email = self.env.get("JIRA_URL", ""), self.env.get("JIRA_EMAIL", "")
        token = self.env.get("JIRA_TOKEN", "")
        if not url or not email or not token:
            raise NotConfigured(
                "jira", "set JIRA_URL, JIRA_EMAIL and JIRA_TOKEN to create Jira tickets"
            )
        return JiraClient(url, email, token, policy=_quick(self.env))

    @property
    def sentry_web_url(self) -> str:
        return (
            self.env.get("SENTRY_WEB_URL") or self.env.get("SENTRY_URL") or "https://sentry.io"
        ).rstrip("/")


def _answer_pool(report_processes: int) -> ThreadPoolExecutor:
    """One answering thread per core when reports are computed on them; with report processes
    they mostly wait (on a report process, on Slack), and more of them let a cached answer go
    out while others wait for a report being computed."""
    threads = 2 * report_processes + 2 if report_processes > 0 else os.cpu_count() or 2
    return ThreadPoolExecutor(threads, thread_name_prefix="answer")


def _quick(env: Mapping[str, str]) -> RetryPolicy:
    # A person is waiting on a button: fail over to the outbox's retries instead of sleeping.
    policy = RetryPolicy.from_env(env)
    return RetryPolicy(
        attempts=min(policy.attempts, 2), backoff=min(policy.backoff, 0.5), max_wait=5.0
    )


def build_deps(
    engine: Engine,
    config: BotConfig,
    *,
    clock: Callable[[], dt.datetime] = utc_now,
    report_processes: int = 0,
) -> Deps:
    """The process's dependencies, with every outbox handler registered. ``report_processes``:
    see `Reports` (0: reports are computed on the answering thread)."""
    # One SSL context for every call: given none, urllib builds one (and reads the CA bundle)
    # per request.
    slack = WebClient(
        token=config.bot_token,
        base_url=config.api_url,
        timeout=10,
        ssl=ssl.create_default_context(),
    )
    # The outbox keeps the database's time (next_attempt_at defaults to now()), never the
    # business clock that reports are read at.
    outbox = Outbox(engine, slack_handlers(slack))
    llm = LlmConfig.from_env(config.env or os.environ)
    deps = Deps(
        engine=engine,
        config=config,
        slack=slack,
        outbox=outbox,
        reports=Reports(engine, llm=llm, clock=clock, processes=report_processes),
        clock=clock,
        answers=_answer_pool(report_processes),
    )
    from bot.surfaces import register_outbox  # the surfaces stand on Deps: import late

    register_outbox(deps)
    return deps
