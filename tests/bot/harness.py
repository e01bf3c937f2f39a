"""Drive the bot from text, through its real HTTP endpoint, against a fake Slack and the sandbox.

    bot = BotHarness(engine, sandbox_env).start()
    reply = bot.command("/sitrep dora checkout 30d")
    reply.ack          # what the bot answered Slack within 3 s
    reply.wait()       # what it then posted to the command's response URL

Everything is real except Slack and the sources, which are the local fakes: requests are signed
and posted over HTTP to the web app (uvicorn on 127.0.0.1), the bot answers through the fake
Slack's Web API and response URLs, and the outbox delivers as in production.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.app import build_app
from bot.config import BotConfig
from bot.console import payloads
from bot.console.driver import Driver, LocalSide, Sent
from bot.console.driver import find_button as driver_find_button
from bot.deps import Deps, build_deps
from bot.slack.fake import FakeSlack
from bot.slack.fake_state import Message
from bot.web import create_web_app
from collectors.fakes import FakeServer
from storage.models_bot import BOT_STATE_TABLES

SIGNING_SECRET = "harness-signing-secret"
SENTRY_SECRET = "harness-sentry-client-secret"


@dataclass
class Reply:
    """The bot's answer to one request: the HTTP acknowledgement, then what followed."""

    harness: BotHarness
    status: int
    ack: Any
    ack_seconds: float
    response_url: str | None = None

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The bodies posted to the response URL, once there are ``count``."""
        assert self.response_url, "this request had no response URL"
        state = self.harness.slack.state
        deadline = time.monotonic() + timeout
        while len(posts := state.responses(self.response_url)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(posts)} of {count} responses in {timeout}s")
            time.sleep(0.02)
        return posts


@dataclass
class BotHarness:
    engine: Engine
    env: Mapping[str, str]
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    config_overrides: Mapping[str, Any] = field(default_factory=dict)
    user: str = "U0ALICE"

    def start(self) -> BotHarness:
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {', '.join(BOT_STATE_TABLES)} CASCADE"))
        self.slack = FakeSlack().start()
        config = BotConfig(
            bot_token=self.slack.token,
            signing_secret=SIGNING_SECRET,
            api_url=self.slack.api_url,
            sentry_client_secret=SENTRY_SECRET,
            env=dict(self.env),
            **self.config_overrides,
        )
        self.deps: Deps = build_deps(self.engine, config, clock=self.clock)
        self.bolt = build_app(self.deps)
        self.server = FakeServer(create_web_app(self.deps, self.bolt)).start()
        self.outbox_thread = self.deps.outbox.start(interval=0.05)
        self.http = httpx.Client(base_url=self.server.url, timeout=30)
        self.driver = Driver(
            self.server.url, SIGNING_SECRET, LocalSide(self.slack.state), user=self.user
        )
        return self

    def stop(self) -> None:
        self.deps.outbox.stop()
        self.outbox_thread.join(5)
        self.http.close()
        self.driver.close()
        self.server.stop()
        self.slack.stop()

    # ------------------------------------------------------------------ Slack -> bot

    def command(self, text: str, *, user: str | None = None, channel: str = "general") -> Reply:
        """``/sitrep ...`` typed by ``user`` in ``channel`` (the leading command is optional)."""
        return self._reply(self.driver.send_command(text, channel=channel, user=user))

    def click(
        self,
        label: str,
        *,
        message: Mapping[str, Any] | None = None,
        blocks: list[dict[str, Any]] | None = None,
        view: Mapping[str, Any] | None = None,
        channel: str = "general",
        user: str | None = None,
    ) -> Reply:
        """Press the button labelled ``label`` in a posted ``message``, an ephemeral answer's
        ``blocks`` or a ``view`` (App Home, modal)."""
        find_button((view or message or {}).get("blocks") or blocks or [], label)
        sent = self.driver.send_click(
            label, message=message, blocks=blocks, view=view, channel=channel, user=user
        )
        return self._reply(sent)

    def submit(
        self,
        view: Mapping[str, Any],
        values: Mapping[str, Mapping[str, Any]],
        *,
        user: str | None = None,
    ) -> Reply:
        return self._reply(self.driver.send_submit(view, values, user=user))

    def event(self, event: Mapping[str, Any]) -> Reply:
        return self._reply(self.driver.send_event(event))

    def _reply(self, sent: Sent) -> Reply:
        return Reply(self, sent.status, sent.ack, sent.seconds, sent.response_url)

    # ------------------------------------------------------------------ Sentry -> bot

    def sentry(
        self, body: Mapping[str, Any] | bytes, resource: str, *, secret: str = SENTRY_SECRET
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = payloads.sentry_webhook_headers(secret, raw, resource)
        return self.http.post("/webhooks/sentry", content=raw, headers=headers)

    # ------------------------------------------------------------------ reading Slack

    def history(self, channel: str) -> list[Message]:
        return self.slack.state.history(channel)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the listeners' background work is done and the outbox has nothing left
        to send now."""
        deadline = time.monotonic() + timeout
        while self.deps.busy() or self.deps.outbox.pending():
            if time.monotonic() > deadline:
                raise TimeoutError("the outbox still has pending items")
            time.sleep(0.02)


def find_button(blocks: list[dict[str, Any]], label: str) -> tuple[str, dict[str, Any]]:
    """(block_id, element) of the button whose text is ``label`` (or an accessory button)."""
    try:
        return driver_find_button(blocks, label)
    except LookupError as exc:
        raise AssertionError(str(exc)) from None
