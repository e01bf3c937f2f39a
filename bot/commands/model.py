"""What a ``/sitrep`` command is once its words are read: one frozen dataclass per command.

Names are kept as typed (`Name`) until `bot.commands.names.resolve` finds what they mean
(`Target`), after the acknowledgement, since that needs the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from bot.commands.spec import DEFAULT_DAYS

NameKind = Literal["product", "team", "board"]
TargetKind = Literal["product", "team", "board", "organisation"]
SubscriptionKind = Literal["digest", "alerts"]
ReportKind = Literal["health", "dora", "sprint"]


class UsageError(Exception):
    """What was wrong, the closest valid words (best first) and how to call the command."""

    def __init__(self, message: str, *, usage: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage
        self.suggestions = tuple(suggestions)


@dataclass(frozen=True)
class Name:
    """A name as typed and the kinds of thing it may name, in order of preference."""

    text: str
    kinds: tuple[NameKind, ...]


@dataclass(frozen=True)
class Target:
    """What a name resolved to: ``name`` as stored; ``board_id`` for a board."""

    kind: TargetKind
    name: str
    board_id: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "organisation":
            return "the organisation"
        return f"team {self.name}" if self.kind == "team" else self.name


ORGANISATION = Target("organisation", "organisation")


@dataclass(frozen=True)
class Help:
    command: ClassVar[str] = "help"
    topic: str | None = None


@dataclass(frozen=True)
class Report:
    command: ClassVar[str] = "report"
    kind: ReportKind
    name: Name | None = None
    days: int = DEFAULT_DAYS


@dataclass(frozen=True)
class Alerts:
    command: ClassVar[str] = "alerts"
    name: Name | None = None


@dataclass(frozen=True)
class Products:
    command: ClassVar[str] = "products"


@dataclass(frozen=True)
class Digest:
    command: ClassVar[str] = "digest"
    name: Name | None = None


@dataclass(frozen=True)
class Subscribe:
    """``None`` fields were not given: the answer fills in the defaults (the user's zone)."""

    command: ClassVar[str] = "subscribe"
    kind: SubscriptionKind
    name: Name | None = None
    cadence: str | None = None
    weekday: int | None = None
    at: dt.time | None = None
    time_zone: str | None = None


@dataclass(frozen=True)
class Unsubscribe:
    command: ClassVar[str] = "unsubscribe"
    kind: SubscriptionKind
    name: Name | None = None


@dataclass(frozen=True)
class Subscriptions:
    command: ClassVar[str] = "subscriptions"


@dataclass(frozen=True)
class Mute:
    """Without a name: list what is muted. With one: mute it for ``length``, or ``until`` a time
    of day in ``time_zone`` (None: the asker's); ``None`` for both means the default length."""

    command: ClassVar[str] = "mute"
    name: Name | None = None
    length: dt.timedelta | None = None
    until: dt.time | None = None
    time_zone: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Unmute:
    command: ClassVar[str] = "unmute"
    name: Name


@dataclass(frozen=True)
class SyncStatus:
    command: ClassVar[str] = "sync status"


Command = (
    Help
    | Report
    | Alerts
    | Products
    | Digest
    | Subscribe
    | Unsubscribe
    | Subscriptions
    | Mute
    | Unmute
    | SyncStatus
)
