"""Play the Slack client against a running bot: type a command, press a button, submit a modal.

Requests go to the bot's real HTTP endpoint, shaped and signed as Slack sends them
(`bot.console.payloads`). What the bot answers lands where Slack would put it: the response URLs,
channels, Home tabs and modals of a fake Slack. `SlackSide` is that fake, either in this process
(`LocalSide`, the demo) or in another one, reached through its ``/_sandbox/`` control routes
(`RemoteSide`, ``sitrep console`` against ``make demo ARGS=--keep``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from bot.console import payloads
from bot.slack.fake_control import channel_messages, user_views
from bot.slack.fake_state import SlackState


class SlackSide(Protocol):
    def context(self, channel: str, user: str, ts: str | None = None) -> dict[str, str]: ...
    def responses(self, url: str) -> list[dict[str, Any]]: ...
    def history(self, channel: str) -> list[dict[str, Any]]: ...
    def views(self, user: str) -> dict[str, Any]: ...


class LocalSide:
    """A fake Slack in this process."""

    def __init__(self, state: SlackState) -> None:
        self.state = state

    def context(self, channel: str, user: str, ts: str | None = None) -> dict[str, str]:
        found = self.state.resolve(channel, create=True)
        return {
            "channel_id": found.id,
            "channel_name": found.name,
            "response_url": self.state.new_response_url(channel=found.id, ts=ts, user=user),
            "trigger_id": self.state.new_trigger_id(),
        }

    def responses(self, url: str) -> list[dict[str, Any]]:
        return list(self.state.responses(url))

    def history(self, channel: str) -> list[dict[str, Any]]:
        return channel_messages(self.state, channel)

    def views(self, user: str) -> dict[str, Any]:
        return user_views(self.state, user)


class RemoteSide:
    """A fake Slack in another process, through its ``/_sandbox/`` routes."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=10)

    def context(self, channel: str, user: str, ts: str | None = None) -> dict[str, str]:
        answer = self.http.post(
            "/_sandbox/command-context", json={"channel": channel, "user": user, "ts": ts}
        )
        answer.raise_for_status()
        found: dict[str, str] = answer.json()
        return found

    def responses(self, url: str) -> list[dict[str, Any]]:
        rid = url.rstrip("/").rsplit("/", 1)[-1]
        posts: list[dict[str, Any]] = self.http.get(f"/_sandbox/responses/{rid}").json()["posts"]
        return posts

    def history(self, channel: str) -> list[dict[str, Any]]:
        name = channel.removeprefix("#")
        found: list[dict[str, Any]] = self.http.get(f"/_sandbox/history/{name}").json()["messages"]
        return found

    def views(self, user: str) -> dict[str, Any]:
        found: dict[str, Any] = self.http.get(f"/_sandbox/views/{user}").json()
        return found


@dataclass(frozen=True)
class Sent:
    """One request: the bot's HTTP answer (the acknowledgement), how long it took, and the
    response URL the request carried (where the bot's later answers go)."""

    status: int
    ack: Any
    seconds: float
    response_url: str | None = None


@dataclass
class Outcome:
    """What one request led to: the HTTP answer, response-URL posts, a modal that opened."""

    status: int
    ack: Any
    posts: list[dict[str, Any]] = field(default_factory=list)
    modal: dict[str, Any] | None = None


class Driver:
    """Sends signed requests to the bot at ``web_url`` and collects what followed."""

    def __init__(
        self, web_url: str, signing_secret: str, side: SlackSide, *, user: str = "U0CONSOLE"
    ) -> None:
        self.http = httpx.Client(base_url=web_url.rstrip("/"), timeout=30)
        self.secret = signing_secret
        self.side = side
        self.user = user

    def close(self) -> None:
        self.http.close()

    # ---------------------------------------------------------------- one request, no waiting

    def send_command(self, text: str, *, channel: str = "general", user: str | None = None) -> Sent:
        """Type ``text`` in ``channel`` (``/sitrep`` is assumed when it names no command)."""
        user = user or self.user
        words = text.split(maxsplit=1)
        command, rest = (
            (words[0], words[1] if len(words) > 1 else "")
            if text.startswith("/")
            else ("/sitrep", text.strip())
        )
        ctx = self.side.context(channel, user)
        body = payloads.slash_command(
            rest,
            user_id=user,
            user_name=user.lower(),
            channel_id=ctx["channel_id"],
            channel_name=ctx["channel_name"],
            response_url=ctx["response_url"],
            trigger_id=ctx["trigger_id"],
            command=command,
        )
        return self._post(body, "application/x-www-form-urlencoded", ctx["response_url"])

    def send_click(
        self,
        label: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        message: Mapping[str, Any] | None = None,
        view: Mapping[str, Any] | None = None,
        channel: str = "general",
        user: str | None = None,
    ) -> Sent:
        """Press the button labelled ``label`` in a posted ``message``, an ephemeral answer's
        ``blocks`` or a ``view`` (App Home, modal)."""
        user = user or self.user
        source = list((view or message or {}).get("blocks") or blocks or [])
        block_id, action = find_button(source, label)
        ts = (message or {}).get("ts")
        ctx = self.side.context(str((message or {}).get("channel") or channel), user, ts)
        url = None if view is not None else ctx["response_url"]
        body = payloads.block_action(
            action,
            block_id=block_id,
            user_id=user,
            user_name=user.lower(),
            channel_id=ctx["channel_id"],
            response_url=url,
            trigger_id=ctx["trigger_id"],
            message=message,
            view=view,
        )
        return self._post(body, "application/x-www-form-urlencoded", url)

    def send_submit(
        self,
        view: Mapping[str, Any],
        values: Mapping[str, Mapping[str, Any]],
        *,
        user: str | None = None,
    ) -> Sent:
        """Submit modal ``view`` with ``values`` (block id -> action id -> state)."""
        user = user or self.user
        trigger = self.side.context("general", user)["trigger_id"]
        body = payloads.view_submission(
            view, values, user_id=user, user_name=user.lower(), trigger_id=trigger
        )
        return self._post(body, "application/x-www-form-urlencoded")

    def send_event(self, event: Mapping[str, Any]) -> Sent:
        return self._post(payloads.event_callback(event), "application/json")

    # ---------------------------------------------------------------- and what followed

    def command(self, text: str, *, channel: str = "general", wait: float = 15.0) -> Outcome:
        """``/sitrep <text>`` in ``channel``; waits for the answer at the response URL."""
        sent = self.send_command(text, channel=channel)
        url = sent.response_url or ""
        posts = self._wait_posts(url, wait) if sent.status == 200 else []
        return Outcome(sent.status, sent.ack, posts)

    def click(
        self,
        label: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        message: Mapping[str, Any] | None = None,
        view: Mapping[str, Any] | None = None,
        channel: str = "general",
        wait: float = 10.0,
    ) -> Outcome:
        """Press a button and wait for what it led to: a modal, or answers at the response URL."""
        before = len(self.side.views(self.user).get("modals") or [])
        sent = self.send_click(label, blocks=blocks, message=message, view=view, channel=channel)
        outcome = Outcome(sent.status, sent.ack)
        deadline = time.monotonic() + wait
        while sent.status == 200 and time.monotonic() < deadline:
            modals = self.side.views(self.user).get("modals") or []
            outcome.posts = self.side.responses(sent.response_url) if sent.response_url else []
            if len(modals) > before:
                outcome.modal = modals[-1]
                break
            if outcome.posts:
                break
            time.sleep(0.05)
        return outcome

    def submit(self, view: Mapping[str, Any], values: Mapping[str, Mapping[str, Any]]) -> Outcome:
        sent = self.send_submit(view, values)
        return Outcome(sent.status, sent.ack)

    def event(self, event: Mapping[str, Any]) -> Outcome:
        sent = self.send_event(event)
        return Outcome(sent.status, sent.ack)

    def open_home(self, wait: float = 15.0) -> dict[str, Any] | None:
        """Open the Home tab (``app_home_opened``) and return the view the bot published."""
        before = self.side.views(self.user).get("home")
        self.event(
            {
                "type": "app_home_opened",
                "user": self.user,
                "channel": "D0CONSOLE",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            }
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            home = self.side.views(self.user).get("home")
            if home and home != before:
                return dict(home)
            time.sleep(0.05)
        return before

    def _post(self, body: str, content_type: str, response_url: str | None = None) -> Sent:
        raw, headers = payloads.signed(self.secret, body, content_type)
        started = time.perf_counter()
        response = self.http.post("/slack/events", content=raw, headers=headers)
        seconds = time.perf_counter() - started
        try:
            ack: Any = response.json()
        except ValueError:
            ack = response.text
        return Sent(response.status_code, ack, seconds, response_url)

    def _wait_posts(self, url: str, wait: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            posts = self.side.responses(url)
            if posts:
                return posts
            time.sleep(0.05)
        return []


def find_button(blocks: list[dict[str, Any]], label: str) -> tuple[str, dict[str, Any]]:
    """(block_id, element) of the button labelled ``label`` (case-insensitive); `LookupError`
    naming the buttons there are otherwise."""
    buttons: list[tuple[str, dict[str, Any]]] = []
    for block in blocks:
        elements = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        for element in elements:
            if isinstance(element, dict) and element.get("type") == "button":
                buttons.append((str(block.get("block_id", "")), element))
    for block_id, element in buttons:
        if str((element.get("text") or {}).get("text", "")).lower() == label.lower():
            return block_id, element
    names = ", ".join(repr((e.get("text") or {}).get("text")) for _, e in buttons) or "none"
    raise LookupError(f"no button labelled {label!r}; the buttons are: {names}")
