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
        return self

    def stop(self) -> None:
        self.deps.outbox.stop()
        self.outbox_thread.join(5)
        self.http.close()
        self.server.stop()
        self.slack.stop()

    # ------------------------------------------------------------------ Slack -> bot

    def command(self, text: str, *, user: str | None = None, channel: str = "general") -> Reply:
        """``/sitrep ...`` typed by ``user`` in ``channel`` (the leading command is optional)."""
        state = self.slack.state
        user = user or self.user
        found = state.resolve(channel, create=True)
        words = text.split(maxsplit=1)
        command, rest = (
            (words[0], words[1] if len(words) > 1 else "")
            if text.startswith("/")
            else ("/sitrep", text)
        )
        url = state.new_response_url(channel=found.id, user=user)
        body = payloads.slash_command(
            rest,
            user_id=user,
            user_name=user.lower(),
            channel_id=found.id,
            channel_name=found.name,
            response_url=url,
            trigger_id=state.new_trigger_id(),
            command=command,
        )
        return self._post(body, "application/x-www-form-urlencoded", response_url=url)

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
        state = self.slack.state
        user = user or self.user
        source = (view or {}).get("blocks") or (message or {}).get("blocks") or blocks or []
        block_id, action = find_button(source, label)
        found = state.resolve(channel, create=True)
        url = (
            None
            if view is not None
            else state.new_response_url(channel=found.id, ts=(message or {}).get("ts"), user=user)
        )
        body = payloads.block_action(
            action,
            block_id=block_id,
            user_id=user,
            user_name=user.lower(),
            channel_id=found.id,
            response_url=url,
            trigger_id=state.new_trigger_id(),
            message=message,
            view=view,
        )
        return self._post(body, "application/x-www-form-urlencoded", response_url=url)

    def submit(
        self,
        view: Mapping[str, Any],
        values: Mapping[str, Mapping[str, Any]],
        *,
        user: str | None = None,
    ) -> Reply:
        user = user or self.user
        body = payloads.view_submission(
            view,
            values,
            user_id=user,
            user_name=user.lower(),
            trigger_id=self.slack.state.new_trigger_id(),
        )
        return self._post(body, "application/x-www-form-urlencoded")

    def event(self, event: Mapping[str, Any]) -> Reply:
        return self._post(payloads.event_callback(event), "application/json")

    def _post(self, body: str, content_type: str, *, response_url: str | None = None) -> Reply:
        raw, headers = payloads.signed(SIGNING_SECRET, body, content_type)
        started = time.perf_counter()
        response = self.http.post("/slack/events", content=raw, headers=headers)
        took = time.perf_counter() - started
        try:
            ack: Any = response.json()
        except json.JSONDecodeError:
            ack = response.text
        return Reply(self, response.status_code, ack, took, response_url)

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
        """Wait until the outbox has nothing left to send now."""
        deadline = time.monotonic() + timeout
        while self.deps.outbox.pending():
            if time.monotonic() > deadline:
                raise TimeoutError("the outbox still has pending items")
            time.sleep(0.02)


def find_button(blocks: list[dict[str, Any]], label: str) -> tuple[str, dict[str, Any]]:
    """(block_id, element) of the button whose text is ``label`` (or an accessory button)."""
    try:
        return driver_find_button(blocks, label)
    except LookupError as exc:
        raise AssertionError(str(exc)) from None
