"""What the Slack fake knows and records: the workspace, every call, messages, views, responses.

Tests read it to assert what the bot did (``state.history("#payments")``, ``state.home(user)``,
``state.calls_to("chat.postMessage")``) and arm it to misbehave (``state.rate_limit_next(2)``,
``state.outage = True``). The server runs in another thread; every change happens on its event
loop, and tests only read, or flip switches between requests.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

TEAM_ID = "T0SANDBOX"
TEAM_NAME = "Sandbox"
TEAM_DOMAIN = "sandbox"
BOT_USER_ID = "U0SITREP"
BOT_ID = "B0SITREP"
APP_ID = "A0SITREP"
# The bot scopes in manifest.json (tests/bot/test_manifest.py keeps the two in step).
DEFAULT_SCOPES = (
    "channels:read",
    "chat:write",
    "chat:write.public",
    "commands",
    "groups:read",
    "users:read",
)
RESPONSE_URL_USES = 5  # Slack: a response_url works five times ...
RESPONSE_URL_TTL = 30 * 60  # ... within 30 minutes


class SlackError(Exception):
    """A refusal: ``{"ok": false, "error": code, **extra}``, with HTTP 200 unless ``status``
    says otherwise (Slack answers most errors 200; 429, 503 and unknown methods are not)."""

    def __init__(
        self,
        code: str,
        *messages: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.headers = headers or {}
        self.body: dict[str, Any] = {"ok": False, "error": code, **extra}
        if messages:
            self.body["response_metadata"] = {"messages": list(messages)}


@dataclass
class User:
    id: str
    name: str
    display_name: str = ""
    real_name: str = ""
    tz: str = "UTC"
    is_bot: bool = False

    def to_api(self) -> dict[str, Any]:
        now = dt.datetime.now(ZoneInfo(self.tz))
        offset = now.utcoffset() or dt.timedelta()
        real = self.real_name or self.name
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "real_name": real,
            "deleted": False,
            "is_bot": self.is_bot,
            "tz": self.tz,
            "tz_label": now.tzname(),
            "tz_offset": int(offset.total_seconds()),
            "profile": {
                "display_name": self.display_name,
                "real_name": real,
                "display_name_normalized": self.display_name,
                "real_name_normalized": real,
            },
        }


DEFAULT_USERS = (
    User("U0ALICE", "alice", "Alice", "Alice Martin", "Europe/Berlin"),
    User("U0BOB", "bob", "Bob", "Bob Chen", "America/New_York"),
)


@dataclass
class Channel:
    id: str
    name: str  # "" for a DM
    is_private: bool = False
    user: str = ""  # the other party of a DM (an ``im``)
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def is_im(self) -> bool:
        return bool(self.user)

    def to_api(self) -> dict[str, Any]:
        if self.is_im:
            return {"id": self.id, "created": self.created, "is_im": True, "user": self.user}
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "created": self.created,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_private": self.is_private,
            "is_archived": False,
            "is_member": True,
        }


@dataclass
class Call:
    """One request to the Web API, answered or refused."""

    method: str
    args: dict[str, Any]
    at: dt.datetime
    status: int = 0  # 0 while the fake is still answering
    error: str | None = None
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


@dataclass
class Message:
    """A message as it stands now; ``edits`` counts the ``chat.update``s that changed it."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    user: str = BOT_USER_ID
    thread_ts: str | None = None  # set on replies, and on a parent once it has replies
    reply_broadcast: bool = False
    reply_count: int = 0
    edits: int = 0
    metadata: dict[str, Any] | None = None

    @property
    def is_reply(self) -> bool:
        return bool(self.thread_ts) and self.thread_ts != self.ts

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
            "team": TEAM_ID,
            "blocks": self.blocks,
        }
        if self.user == BOT_USER_ID:
            body |= {"bot_id": BOT_ID, "app_id": APP_ID}
        if self.thread_ts:
            body["thread_ts"] = self.thread_ts
        if self.reply_count:
            body["reply_count"] = self.reply_count
        if self.edits:
            body["edited"] = {"user": BOT_USER_ID, "ts": self.ts}
        return body


@dataclass
class Ephemeral:
    channel: str
    user: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None


@dataclass
class ResponseUrl:
    """A ``response_url`` handed to the bot, and the JSON bodies posted to it."""

    id: str
    url: str
    channel: str | None = None  # where the command ran or the button was
    ts: str | None = None  # the message holding the button
    user: str | None = None  # who sees ephemeral answers
    created: float = field(default_factory=time.monotonic)
    posts: list[dict[str, Any]] = field(default_factory=list)
    # When each post arrived (time.perf_counter(), before Slack's checks): benchmarks time the
    # bot's answer by it, not by when a reader noticed it.
    arrivals: list[float] = field(default_factory=list)


class SlackState:
    """The workspace behind one fake: its directory, its switches and everything it recorded."""

    def __init__(
        self,
        *,
        token: str,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        channels: Iterable[str] = ("general",),
        users: Iterable[User] = DEFAULT_USERS,
        strict: bool = False,
        trigger_ttl: float = 3.0,
    ) -> None:
        self.token = token
        self.scopes = tuple(scopes)
        self.strict = strict  # unknown channel names and users are errors, not created
        self.trigger_ttl = trigger_ttl  # Slack: a trigger_id is good for 3 seconds, once
        self.base_url = ""  # where the fake is served; needed for response URLs
        self.outage = False  # every request answers 503 while True
        self.calls: list[Call] = []
        self.ephemerals: list[Ephemeral] = []
        self.homes: dict[str, dict[str, Any]] = {}  # user id -> published Home tab view
        self.views: dict[str, dict[str, Any]] = {}  # view id -> modal or home view
        self.view_users: dict[str, str] = {}  # view id -> the user it was shown to
        self.response_urls: dict[str, ResponseUrl] = {}
        self._rate_limits: list[tuple[str | None, int]] = []  # (method or any, retry_after)
        self._triggers: dict[str, tuple[float, bool]] = {}  # id -> (issued, used)
        self._ids = itertools.count(1)
        self._channels: dict[str, Channel] = {}
        self._messages: dict[str, dict[str, Message]] = {}  # channel id -> ts -> message
        self._last_ts: dict[str, int] = {}  # channel id -> last ts in microseconds
        self.users = {u.id: u for u in users}
        self.users[BOT_USER_ID] = User(BOT_USER_ID, "sitrep", "Sitrep", "Sitrep", is_bot=True)
        for name in channels:
            self.add_channel(name)

    # ------------------------------------------------------------------ setting up

    def add_channel(self, name: str, *, is_private: bool = False) -> Channel:
        name = name.removeprefix("#")
        channel = Channel(self._new_id("C"), name, is_private)  # private ones too, nowadays
        self._channels[channel.id] = channel
        return channel

    def add_user(self, user_id: str, name: str, *, display_name: str = "", tz: str = "UTC") -> User:
        self.users[user_id] = User(user_id, name, display_name, name.title(), tz)
        return self.users[user_id]

    def post_as_user(self, channel: str, user: str, text: str) -> Message:
        """A message someone else wrote (the bot may not edit it: ``cant_update_message``)."""
        found = self.resolve(channel, create=True)
        return self.store(found.id, text, [], user=user)

    def new_trigger_id(self) -> str:
        """A trigger as Slack puts in a command or action payload (3 seconds, single use)."""
        trigger = f"{next(self._ids)}.{int(time.time())}.{secrets.token_hex(16)}"
        self._triggers[trigger] = (time.monotonic(), False)
        return trigger

    def new_response_url(
        self, *, channel: str | None = None, ts: str | None = None, user: str | None = None
    ) -> str:
        """A response URL served by this fake, as Slack puts in a command or action payload.

        ``channel`` is where the command ran or the button was (``in_channel`` answers are
        posted there), ``ts`` the message holding the button (``replace_original`` edits it,
        ``delete_original`` deletes it), ``user`` who sees ``ephemeral`` answers.
        """
        if not self.base_url:
            raise RuntimeError("set state.base_url to the fake's URL first (FakeSlack does)")
        rid = secrets.token_hex(12)
        url = f"{self.base_url.rstrip('/')}/response_url/{rid}"
        found = self.resolve(channel, create=True).id if channel else None
        self.response_urls[rid] = ResponseUrl(rid, url, found, ts, user)
        return url

    def rate_limit_next(
        self, n: int = 1, *, method: str | None = None, retry_after: int = 1
    ) -> None:
        """Answer the next ``n`` calls (to ``method``, or any) with 429 and ``Retry-After``."""
        self._rate_limits += [(method, retry_after)] * n

    # ------------------------------------------------------------------ reading

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, *, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """The successful calls to ``method`` once there are ``count`` (the bot may answer
        after its ``ack``, from another thread); `TimeoutError` if they do not come."""
        deadline = time.monotonic() + timeout
        while len(calls := [c for c in self.calls_to(method) if c.ok]) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(calls)} of {count} {method} calls in {timeout}s")
            time.sleep(0.01)
        return calls

    def channel(self, ref: str) -> Channel | None:
        """A channel by id, ``#name`` or name; a user id finds the DM with that user."""
        ref = ref.removeprefix("#")
        if ref in self._channels:
            return self._channels[ref]
        for channel in self._channels.values():
            if ref in (channel.name, channel.user):
                return channel
        return None

    def history(self, channel: str) -> list[Message]:
        """Top-level messages (and broadcast replies) of a channel, oldest first."""
        return [m for m in self._all(channel) if not m.is_reply or m.reply_broadcast]

    def replies(self, channel: str, thread_ts: str) -> list[Message]:
        return [m for m in self._all(channel) if m.is_reply and m.thread_ts == thread_ts]

    def message(self, channel: str, ts: str) -> Message | None:
        found = self.channel(channel)
        return self._messages.get(found.id, {}).get(ts) if found else None

    def home(self, user: str) -> dict[str, Any] | None:
        """The Home tab last published for ``user``."""
        return self.homes.get(user)

    def responses(self, url: str) -> list[dict[str, Any]]:
        """The bodies posted to a response URL made by `new_response_url`."""
        return self._response_url(url).posts

    def arrivals(self, url: str) -> list[float]:
        """When each of those bodies arrived (``time.perf_counter()``)."""
        return self._response_url(url).arrivals

    def _response_url(self, url: str) -> ResponseUrl:
        return self.response_urls[url.rstrip("/").rsplit("/", 1)[-1]]

    # ------------------------------------------------------------------ used by the methods

    def resolve(self, ref: str, *, create: bool = False, ids_only: bool = False) -> Channel:
        """The channel ``ref`` names; DMs open on demand, names are created unless strict."""
        found = self._channels.get(ref) if ids_only else self.channel(ref)
        if found:
            return found
        if ref in self.users and not ids_only:
            channel = Channel(self._new_id("D"), "", user=ref)
            self._channels[channel.id] = channel
            return channel
        if create and not self.strict and not ids_only and not ref[:1].isupper():
            return self.add_channel(ref)
        raise SlackError("channel_not_found")

    def user(self, user_id: str) -> User:
        if user_id not in self.users:
            if self.strict or not user_id.startswith(("U", "W")):
                raise SlackError("user_not_found")
            self.add_user(user_id, user_id.lower())
        return self.users[user_id]

    def store(self, channel: str, text: str, blocks: list[dict[str, Any]], **kw: Any) -> Message:
        message = Message(channel, self.next_ts(channel), text, blocks, **kw)
        self._messages.setdefault(channel, {})[message.ts] = message
        return message

    def remove(self, channel: str, ts: str) -> None:
        self._messages.get(channel, {}).pop(ts, None)

    def next_ts(self, channel: str) -> str:
        """Slack's ``ts``: epoch seconds with six decimals, unique and increasing per channel."""
        micros = max(time.time_ns() // 1000, self._last_ts.get(channel, 0) + 1)
        self._last_ts[channel] = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def use_trigger(self, trigger: str) -> None:
        issued, used = self._triggers.get(trigger, (None, False))
        if used:
            raise SlackError("exchanged_trigger_id")
        if issued is None and self.strict:
            raise SlackError("invalid_arguments", "invalid `trigger_id`")
        if issued is not None and time.monotonic() - issued > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        self._triggers[trigger] = (issued or time.monotonic(), True)

    def take_rate_limit(self, method: str) -> int | None:
        """The Retry-After for this call if a 429 is armed for it, consuming it."""
        for i, (only, retry_after) in enumerate(self._rate_limits):
            if only in (None, method):
                del self._rate_limits[i]
                return retry_after
        return None

    def new_view_id(self) -> str:
        return self._new_id("V")

    def list_channels(self) -> list[Channel]:
        return list(self._channels.values())

    def _all(self, channel: str) -> list[Message]:
        found = self.channel(channel)
        return list(self._messages.get(found.id, {}).values()) if found else []

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08X}"
