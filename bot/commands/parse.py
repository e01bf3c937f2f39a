"""``/sitrep`` text -> a typed command (`bot.commands.model`), or a `UsageError` saying what to
type instead. Pure.

Two steps, so that Slack's acknowledgement never waits for the database:

- `parse` reads the words: the command, a window (``30d``), a schedule (``weekly friday 16:00
  Europe/Berlin``) and the raw text of a name. Its errors (an unknown command, ``31x``) are
  answered in the acknowledgement itself.
- `bot.commands.names.resolve` finds that name among the products, teams and boards
  (case-insensitively) or fails with the closest names (rapidfuzz), after the acknowledgement.

Names contain spaces ("Payment System"), so the fixed words are read from the end and whatever is
left is the name. A name that ends in such a word can be quoted: ``dora "Project 42" 7d``. A
leading ``team``, ``board`` or ``product`` says what kind of name follows when two kinds share a
name (the team ``checkout`` and the product ``Checkout``: the product wins otherwise).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import available_timezones

from bot.commands.model import (
    Alerts,
    Command,
    Digest,
    Help,
    Mute,
    Name,
    NameKind,
    Products,
    Report,
    ReportKind,
    Subscribe,
    SubscriptionKind,
    Subscriptions,
    SyncStatus,
    Unmute,
    Unsubscribe,
    UsageError,
)
from bot.commands.names import close_matches
from bot.commands.spec import DEFAULT_DAYS, MAX_DAYS, MAX_MUTE, NAMES, overview, spec
from bot.digests.schedule import WEEKDAYS

_QUOTES = '"“”„'  # Slack clients may turn "..." into curly quotes; any of them closes
_WINDOW = re.compile(r"^(\d+)\s*(?:d|days?)$", re.IGNORECASE)
_WINDOWISH = re.compile(r"^(\d+)\s*([a-z]{0,6})$", re.IGNORECASE)  # 30, 31x, 2w: meant a window
_UNIT_DAYS = {"w": 7, "wk": 7, "week": 7, "weeks": 7, "m": 30, "month": 30, "months": 30}
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_CLOCK_12H = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)$", re.IGNORECASE)
_ZONE_LIKE = re.compile(r"^[A-Za-z][\w+\-]*(?:/[\w+\-]+)+$")
_FILLERS = frozenset({"at", "on", "every"})  # "weekly on friday at 16:00"
# A mute's length: 30m, 2h, 1h30m, 1d (and "90 minutes", "2 hours" as two words).
_LENGTH = re.compile(r"^(?=\d)(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?:ins?)?)?$", re.IGNORECASE)
_LENGTH_UNITS = {
    **dict.fromkeys(("minute", "minutes", "min", "mins"), dt.timedelta(minutes=1)),
    **dict.fromkeys(("hour", "hours", "hr", "hrs"), dt.timedelta(hours=1)),
    **dict.fromkeys(("day", "days"), dt.timedelta(days=1)),
}
_UNTIL = frozenset({"until", "till", "til"})
_ALIASES = {"?": "help", "-h": "help", "--help": "help", "product": "products", "alert": "alerts"}


@dataclass(frozen=True)
class Token:
    text: str
    quoted: bool = False


# ---------------------------------------------------------------- parsing


def parse(text: str) -> Command:
    """The command ``text`` asks for (names unresolved); `UsageError` if it cannot be one."""
    tokens = tokenize(text)
    if not tokens:
        return Help()
    head, rest = tokens[0], tokens[1:]
    word = _ALIASES.get(head.text.casefold(), head.text.casefold())
    parser = None if head.quoted else _PARSERS.get(word)
    if parser is None:
        close = close_matches(head.text, list(NAMES), cutoff=60, limit=1)
        raise UsageError(f"Unknown command '{head.text}'.", usage=overview(), suggestions=close)
    return parser(word, rest)


def tokenize(text: str) -> list[Token]:
    """Words split on blanks; ``"..."`` (straight or curly) is one word, never a keyword."""
    tokens: list[Token] = []
    i, text = 0, text.strip()
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text[i] in _QUOTES:
            close = min((p for q in _QUOTES if (p := text.find(q, i + 1)) != -1), default=-1)
            if close == -1:
                raise UsageError(
                    f"A quote opened before '{text[i + 1 : i + 21]}' is never closed.",
                    usage=overview(),
                )
            tokens.append(Token(" ".join(text[i + 1 : close].split()), quoted=True))
            i = close + 1
        else:
            end = i
            while end < len(text) and not text[end].isspace() and text[end] not in _QUOTES:
                end += 1
            tokens.append(Token(text[i:end]))
            i = end
    return [t for t in tokens if t.text]


def _help(word: str, rest: list[Token]) -> Command:
    if not rest:
        return Help()
    topic = _ALIASES.get(rest[0].text.casefold(), rest[0].text.casefold())
    if topic not in NAMES:
        close = close_matches(rest[0].text, list(NAMES), cutoff=60, limit=2)
        raise UsageError(f"No command '{rest[0].text}'.", usage=overview(), suggestions=close)
    return Help("sync status" if topic == "sync" else topic)


def _report(word: str, rest: list[Token]) -> Command:
    kind: ReportKind = "health" if word == "health" else "dora" if word == "dora" else "sprint"
    if kind == "sprint":
        if rest and not rest[-1].quoted and _WINDOW.match(rest[-1].text):
            raise UsageError(
                f"A sprint report covers each board's active sprint, so it takes no window "
                f"('{rest[-1].text}'); windows are for health and dora.",
                usage=spec("sprint").help_text(),
            )
        return Report(kind, _name(rest, ("board", "product", "team")))
    days, rest = _take_window(rest, word)
    return Report(kind, _name(rest, ("product", "team")), days or DEFAULT_DAYS)


def _alerts(word: str, rest: list[Token]) -> Command:
    return Alerts(_name(rest, ("product", "team")))


def _digest(word: str, rest: list[Token]) -> Command:
    return Digest(_name(rest, ("product",)))


def _no_arguments(word: str, rest: list[Token]) -> Command:
    if rest:
        typed = " ".join(t.text for t in rest)
        raise UsageError(
            f"'{word}' takes no arguments (you typed '{typed}').", usage=spec(word).help_text()
        )
    return Products() if word == "products" else Subscriptions()


def _sync(word: str, rest: list[Token]) -> Command:
    if not rest or (len(rest) == 1 and rest[0].text.casefold() == "status"):
        return SyncStatus()
    typed = " ".join(t.text for t in rest)
    raise UsageError(
        f"Unknown command 'sync {typed}'. Syncs run on the worker's schedule; "
        "'sync status' shows how they went.",
        usage=spec("sync status").help_text(),
        suggestions=("sync status",),
    )


def _subscribe(word: str, rest: list[Token]) -> Command:
    usage = spec(word).help_text()
    kind, rest = _take_kind(word, rest)
    schedule, rest = _take_schedule(rest, usage)
    if word == "unsubscribe":
        return Unsubscribe(kind, _name(rest, ("product",)))  # a pasted schedule is harmless
    cadence, weekday = schedule.cadence, schedule.weekday
    if kind == "alerts" and schedule.given():
        raise UsageError(
            "Alerts are posted as they happen: a schedule (daily, weekly, a time, a time zone) "
            "is for digests.",
            usage=usage,
        )
    if weekday is not None and cadence == "daily":
        day = WEEKDAYS[weekday].capitalize()
        raise UsageError(
            f"A daily digest runs every day; for {day}s only, say 'weekly {day.lower()}'.",
            usage=usage,
            suggestions=(f"weekly {day.lower()}",),
        )
    if weekday is not None:
        cadence = "weekly"
    name = _name(rest, ("product",))
    return Subscribe(kind, name, cadence, weekday, schedule.at, schedule.time_zone)


def _mute(word: str, rest: list[Token]) -> Command:
    usage = spec(word).help_text()
    if word == "unmute":
        name = _name(rest, ("product",))
        if name is None:
            raise UsageError(
                "Say which product to unmute, e.g. '/sitrep unmute Checkout' "
                "('/sitrep mute' lists what is muted).",
                usage=usage,
            )
        return Unmute(name)
    note = None
    # A quoted last word after a length is the reason ('mute Checkout 2h "deploy"'); so is one
    # right after the name ('mute Checkout "deploy"'), unless it is the name ('product "X"').
    if len(rest) >= 2 and rest[-1].quoted:
        length, before = _take_length(rest[:-1], usage)
        named = len(before) == 1 and not before[0].quoted and before[0].text.casefold() == "product"
        if length.given() or (before and not named):
            note, rest = rest[-1].text, rest[:-1]
    length, rest = _take_length(rest, usage)
    name = _name(rest, ("product",))
    if name is None and (length.given() or note):
        raise UsageError(
            "Say which product to mute, e.g. '/sitrep mute Checkout 2h'.",
            usage=usage,
        )
    return Mute(name, length.length, length.until, length.time_zone, note)


_PARSERS: dict[str, Callable[[str, list[Token]], Command]] = {
    "help": _help,
    "health": _report,
    "dora": _report,
    "sprint": _report,
    "alerts": _alerts,
    "products": _no_arguments,
    "subscriptions": _no_arguments,
    "digest": _digest,
    "subscribe": _subscribe,
    "unsubscribe": _subscribe,
    "mute": _mute,
    "unmute": _mute,
    "sync": _sync,
}


# ---------------------------------------------------------------- the parts of a command


def _name(tokens: list[Token], kinds: tuple[NameKind, ...]) -> Name | None:
    if not tokens:
        return None
    first = tokens[0].text.casefold()
    for kind in kinds:
        if len(tokens) > 1 and not tokens[0].quoted and first == kind:
            return Name(_joined(tokens[1:]), (kind,))
    return Name(_joined(tokens), kinds)


def _joined(tokens: Sequence[Token]) -> str:
    return " ".join(t.text for t in tokens)


def _take_window(tokens: list[Token], command: str) -> tuple[int | None, list[Token]]:
    """A trailing ``30d`` (or ``30 days``), checked to be 1 to 365 days."""
    usage = spec(command).help_text()
    if not tokens or tokens[-1].quoted:
        return None, tokens
    last = tokens[-1].text
    if (
        len(tokens) > 1
        and last.casefold() in ("day", "days")
        and not tokens[-2].quoted
        and tokens[-2].text.isdigit()
    ):
        typed, days, rest = f"{tokens[-2].text} {last}", int(tokens[-2].text), tokens[:-2]
    elif found := _WINDOW.match(last):
        typed, days, rest = last, int(found.group(1)), tokens[:-1]
    elif found := _WINDOWISH.match(last):
        number, unit = int(found.group(1)), found.group(2).casefold()
        guess = number * _UNIT_DAYS.get(unit, 1)
        raise UsageError(
            f"'{last}' is not a window: use 7d, 30d or 90d, or any number of days from 1d to "
            f'{MAX_DAYS}d. (A name that ends in a number can be quoted: "Project 42".)',
            usage=usage,
            suggestions=(f"{guess}d",) if 1 <= guess <= MAX_DAYS else ("7d", "30d", "90d"),
        )
    else:
        return None, tokens
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(
            f"A window runs from 1d to {MAX_DAYS}d, not '{typed}'.",
            usage=usage,
            suggestions=(f"{MAX_DAYS}d",) if days > MAX_DAYS else ("1d",),
        )
    return days, rest


def _take_kind(word: str, tokens: list[Token]) -> tuple[SubscriptionKind, list[Token]]:
    usage = spec(word).help_text()
    if not tokens:
        raise UsageError(f"Say what to {word} this channel to: digest or alerts.", usage=usage)
    typed = tokens[0].text.casefold()
    if typed in ("digest", "digests"):
        return "digest", tokens[1:]
    if typed in ("alerts", "alert"):
        return "alerts", tokens[1:]
    raise UsageError(
        f"You can {word} to digest or alerts, not '{tokens[0].text}'.",
        usage=usage,
        suggestions=close_matches(tokens[0].text, ["digest", "alerts"], cutoff=40, limit=1)
        or ("digest", "alerts"),
    )


@dataclass
class _Length:
    length: dt.timedelta | None = None
    until: dt.time | None = None
    time_zone: str | None = None

    def given(self) -> bool:
        return self.length is not None or self.until is not None


def _take_length(tokens: list[Token], usage: str) -> tuple[_Length, list[Token]]:
    """A trailing mute length (``2h``, ``90 minutes``) or ``until HH:MM [time zone]``, and an
    optional ``for`` before it; checked to be more than nothing and at most `MAX_MUTE`."""
    words = [None if t.quoted else t.text.casefold() for t in tokens]
    found, rest = _Length(), tokens
    if len(tokens) >= 2 and words[-2] in _UNTIL:
        clock = _time_of_day(tokens[-1].text, usage) if words[-1] else None
        if clock is None:
            raise UsageError(
                f"'until {tokens[-1].text}': say until when as a time of day, e.g. until 18:00.",
                usage=usage,
            )
        found, rest = _Length(until=clock), tokens[:-2]
    elif len(tokens) >= 3 and words[-3] in _UNTIL and words[-2] and words[-1]:
        clock = _time_of_day(tokens[-2].text, usage)
        zone = _time_zone(tokens[-1].text, usage)
        if clock is None or zone is None:
            raise UsageError(
                f"'until {tokens[-2].text} {tokens[-1].text}': say until when as a time of day "
                "and, if not yours, an IANA time zone, e.g. until 18:00 Europe/Berlin.",
                usage=usage,
            )
        found, rest = _Length(until=clock, time_zone=zone), tokens[:-3]
    elif len(tokens) >= 2 and words[-1] in _LENGTH_UNITS and (words[-2] or "").isdigit():
        unit = _LENGTH_UNITS[words[-1] or ""]
        found, rest = _Length(length=int(tokens[-2].text) * unit), tokens[:-2]
    elif words and words[-1] and (parts := _LENGTH.match(words[-1])):
        days, hours, minutes = (int(p or 0) for p in parts.groups())
        length = dt.timedelta(days=days, hours=hours, minutes=minutes)
        found, rest = _Length(length=length), tokens[:-1]
    elif words and words[-1] and _WINDOWISH.match(words[-1]):
        raise UsageError(
            f"'{tokens[-1].text}' is not a length: use minutes, hours or days such as 30m, 2h "
            f"or 1d (up to {MAX_MUTE.days}d), or until HH:MM. (A name that ends in a number "
            'can be quoted: "Project 42".)',
            usage=usage,
            suggestions=("30m", "2h", "1d"),
        )
    if found.length is not None and not dt.timedelta(0) < found.length <= MAX_MUTE:
        raise UsageError(
            f"A mute lasts from 1 minute to {MAX_MUTE.days} days, not '{tokens[-1].text}'.",
            usage=usage,
            suggestions=(f"{MAX_MUTE.days}d",) if found.length > MAX_MUTE else ("30m",),
        )
    if found.given() and rest and not rest[-1].quoted and rest[-1].text.casefold() == "for":
        rest = rest[:-1]
    return found, rest


@dataclass
class _Schedule:
    cadence: str | None = None
    weekday: int | None = None
    at: dt.time | None = None
    time_zone: str | None = None

    def given(self) -> bool:
        return any(v is not None for v in (self.cadence, self.weekday, self.at, self.time_zone))


def _take_schedule(tokens: list[Token], usage: str) -> tuple[_Schedule, list[Token]]:
    """Trailing cadence, weekday, time and time zone words, in any order, each at most once."""
    schedule, typed = _Schedule(), dict[str, str]()  # part -> the word that gave it
    while tokens and not tokens[-1].quoted:
        word = tokens[-1].text
        low = word.casefold()
        if low in ("daily", "weekly"):
            part, schedule.cadence = "cadence", low
        elif (day := _weekday(low)) is not None:
            part, schedule.weekday = "weekday", day
        elif (clock := _time_of_day(word, usage)) is not None:
            part, schedule.at = "time", clock
        elif (zone := _time_zone(word, usage)) is not None:
            part, schedule.time_zone = "time zone", zone
        elif low in _FILLERS and typed:
            tokens = tokens[:-1]
            continue
        else:
            break
        if part in typed:
            raise UsageError(
                f"Two of a kind: '{word}' and '{typed[part]}'; give one {part}.", usage=usage
            )
        typed[part] = word
        tokens = tokens[:-1]
    return schedule, tokens


def _weekday(word: str) -> int | None:
    word = word.removesuffix("s") if len(word) > 4 else word  # "fridays"
    for number, day in enumerate(WEEKDAYS):
        if word == day or word == day[:3]:
            return number
    return None


def _time_of_day(word: str, usage: str) -> dt.time | None:
    """``09:00``, ``9:30``, ``4pm``, ``4:30pm``; None if the word is no time at all."""
    hour = minute = -1
    if found := _CLOCK.match(word):
        hour, minute = int(found.group(1)), int(found.group(2))
    elif found := _CLOCK_12H.match(word):
        hour, minute = int(found.group(1)), int(found.group(2) or 0)
        if not 1 <= hour <= 12:
            hour = 99
        else:
            hour = hour % 12 + (12 if found.group(3).casefold() == "pm" else 0)
    else:
        return None
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise UsageError(
            f"'{word}' is not a time of day: use HH:MM on a 24-hour clock, e.g. 09:00 or 16:30.",
            usage=usage,
        )
    return dt.time(hour, minute)


def warm_up() -> None:
    """Read the time zone table now, not in the first ``subscribe``'s acknowledgement."""
    _zones()


@functools.cache
def _zones() -> dict[str, str]:
    """IANA names by their folded spelling. Single words are only the abbreviations (UTC, CET)
    so that a product name ending in "Japan" or "Poland" is not read as a time zone."""
    names = available_timezones()
    zones = {n.casefold(): n for n in names if "/" in n}
    zones |= {n.casefold(): n for n in names if "/" not in n and n.isupper() and len(n) <= 7}
    zones |= {"utc": "UTC", "gmt": "UTC", "z": "UTC"}
    return zones


def _time_zone(word: str, usage: str) -> str | None:
    """An IANA time zone (any case), None for a word that is not meant as one; a word that
    looks like one (``Europe/Berln``) but is not is an error with the closest names."""
    zone = _zones().get(word.casefold())
    if zone is not None:
        return zone
    if _ZONE_LIKE.match(word):
        choices = sorted({z for z in _zones().values() if "/" in z})
        raise UsageError(
            f"Unknown time zone '{word}': use an IANA name such as Europe/Berlin or "
            "America/New_York.",
            usage=usage,
            suggestions=close_matches(word, choices, cutoff=50, limit=3),
        )
    return None
