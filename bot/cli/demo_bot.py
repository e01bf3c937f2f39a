"""The demo's second half: the Slack bot, driven through its real HTTP endpoint, seen through the
console stand-in for Slack.

The web process (the same Starlette app `sitrep serve` runs) listens on 127.0.0.1; a fake Slack
takes its messages, views and response-URL answers; `bot.console.driver.Driver` plays the Slack
client: it signs and sends the command, the Home tab event, the button clicks and the modal
submission exactly as Slack would, and `bot.console.render` draws what came back.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import sqlalchemy as sa
import typer
from rich.console import Console
from sqlalchemy.engine import Engine

from bot.app import build_app
from bot.config import BotConfig
from bot.console import payloads
from bot.console.driver import Driver, LocalSide
from bot.console.render import render_message, render_view
from bot.deps import Deps, build_deps
from bot.sandbox import Sandbox
from bot.slack.fake import FakeSlack
from bot.web import create_web_app
from collectors.fakes import FakeServer
from storage.db import data_dir
from storage.models_bot import BOT_STATE_TABLES

DEMO_USER = "U0ALICE"  # Alice Martin (Europe/Berlin) in the fake workspace
DEMO_WEB_PORT = 8914
DEMO_SLACK_PORT = 8915


class RunningBot:
    """The web process, the fake Slack and a driver, for the demo's steps."""

    def __init__(self, engine: Engine, sandbox: Sandbox, clock: Callable[[], dt.datetime]) -> None:
        self.sandbox = sandbox
        # The fake Slack starts empty on every run: what the bot remembers of the last run's
        # workspace (message ts, subscriptions by channel id, Home tabs) would point at nothing.
        with engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {', '.join(BOT_STATE_TABLES)} CASCADE"))
        self.slack = _start(lambda port: FakeSlack(port=port), DEMO_SLACK_PORT)
        self.signing_secret = secrets.token_hex(16)
        self.sentry_secret = secrets.token_hex(16)
        config = BotConfig(
            bot_token=self.slack.token,
            signing_secret=self.signing_secret,
            api_url=self.slack.api_url,
            sentry_client_secret=self.sentry_secret,
            env=sandbox.env(),
        )
        self.deps: Deps = build_deps(engine, config, clock=clock)
        web_app = create_web_app(self.deps, build_app(self.deps))
        self.web = _start(lambda port: FakeServer(web_app, port=port), DEMO_WEB_PORT)
        self.outbox = self.deps.outbox.start(interval=0.1)
        self.driver = Driver(
            self.web.url, self.signing_secret, LocalSide(self.slack.state), user=DEMO_USER
        )
        self.out = Console(width=110)

    def stop(self) -> None:
        self.deps.outbox.stop()
        self.driver.close()
        self.web.stop()
        self.slack.stop()

    def env_lines(self) -> list[str]:
        return [
            f"SITREP_URL={self.web.url}",
            f"SLACK_SIGNING_SECRET={self.signing_secret}",
            f"SLACK_API_URL={self.slack.api_url}",
        ]

    @property
    def users(self) -> dict[str, str]:
        """Slack user ids -> names, so mentions read as @alice, not @U0ALICE."""
        return {user.id: user.name for user in self.slack.state.users.values()}

    # ------------------------------------------------------------------ steps

    def home(self) -> None:
        view = self.driver.open_home()
        self.out.print(
            render_view(view, users=self.users) if view else "(no Home tab was published)"
        )

    def command(self, text: str) -> bool:
        outcome = self.driver.command(text)
        typer.secho(f"    acknowledged in Slack's 3 s: {json.dumps(outcome.ack)[:90]}", dim=True)
        if not outcome.posts:
            typer.secho("    no answer arrived at the response URL", fg=typer.colors.RED)
            return False
        answer = outcome.posts[-1]
        self.out.print(
            render_message(
                answer.get("text", ""),
                answer.get("blocks"),
                title=text,
                ephemeral=True,
                users=self.users,
            )
        )
        return True

    def channel(self, channel: str, *, last: int = 1) -> list[dict[str, Any]]:
        messages = self.driver.side.history(channel)[-last:]
        for message in messages:
            self.out.print(
                render_message(
                    message.get("text", ""),
                    message.get("blocks"),
                    title=f"#{channel.removeprefix('#')} · Sitrep",
                    thread=message.get("replies") or None,
                    users=self.users,
                )
            )
        return messages

    def sentry_webhook(self, body: dict[str, Any]) -> httpx.Response:
        raw = json.dumps(body).encode()
        headers = payloads.sentry_webhook_headers(self.sentry_secret, raw, "issue")
        return httpx.post(
            f"{self.web.url}/webhooks/sentry", content=raw, headers=headers, timeout=10
        )

    def settle(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.deps.outbox.pending() and time.monotonic() < deadline:
            time.sleep(0.05)

    def write_env(self) -> str:
        path = data_dir() / "demo.env"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.env_lines()) + "\n")
        return str(path)


def _start(make: Callable[[int], Any], port: int) -> Any:
    """Start on the fixed demo port (stable links between runs), else on a free one."""
    try:
        return make(port).start()
    except OSError:
        return make(0).start()


def issue_created(
    project: str, *, issue_id: str, title: str, culprit: str, web_url: str, now: dt.datetime
) -> dict[str, Any]:
    """A Sentry ``issue.created`` webhook body, as Sentry's integration platform sends it."""
    seen = now.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    return {
        "action": "created",
        "actor": {"id": "sentry", "name": "Sentry", "type": "application"},
        "data": {
            "issue": {
                "id": issue_id,
                "shortId": f"{project.upper()}-{issue_id[-3:]}",
                "title": title,
                "culprit": culprit,
                "level": "error",
                "status": "unresolved",
                "substatus": "new",
                "statusDetails": {},
                "project": {"id": "1", "name": project, "slug": project, "platform": "python"},
                "count": "37",
                "userCount": 12,
                "firstSeen": seen,
                "lastSeen": seen,
                "assignedTo": None,
                "metadata": {"type": title.split(":", maxsplit=1)[0], "value": title},
                "platform": "python",
                "type": "error",
                "web_url": web_url,
                "permalink": None,
            }
        },
        "installation": {"uuid": "6f1c7c1e-5c1b-4c4e-9a55-0d6f8d8e9a01"},
    }
