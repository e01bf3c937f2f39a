"""Is every number an LLM wrote one that the facts contain? Pure code: no I/O.

The rule, applied to each number written in the answer:

1. **What counts as a number.** Digits (``15``, ``15.3``, ``1,243``), with ``k`` for thousands
   (``1.2k``) and an optional unit after them (``%``, ``percent``, ``ms``, ``s``, ``min``, ``h``,
   ``hours``, ``d``, ``days``, ``weeks``, also hyphenated: ``30-day``), the number words two to
   twenty and the tens (``five days``), and dates (``2026-11-22``, ``Nov 22``, ``22 November
   2026``). Nothing is exempt: not small numbers, not 0, not ordinals (``3rd``). Skipped as
   identifiers: digits glued to a letter before them (``p85``, ``v2``, ``Q3``) and dotted
   versions (``1.2.3``). ``one`` is skipped too (it is mostly a pronoun).
2. **What the facts contain.** Every number in the facts JSON (walked recursively; booleans are
   not numbers), the length of every list, and every number written inside a string of the facts
   (evidence sentences, titles), read with the same rules as the answer. A number's unit comes
   from its key (``wait_hours``, ``failure_rate``, ``days``), from a sibling ``"unit"`` for
   ``value``/``previous``-like keys, or from the text around it.
3. **When a written number matches a fact.** Its value equals the fact after the unit change it
   makes, within half a unit of the last digit written (so ``15%``, ``15.3%`` and ``15.30%`` all
   match 0.153, ``16%`` does not; ``1.2k`` matches 1,150 to 1,250). Any number may be written
   without a unit. A percent matches a percent, or a fraction x100; a JSON number of unknown
   unit may be either. A time matches a time after conversion (36.5 h -> 1.5 days, 95 min ->
   1.6 h), or a JSON number of unknown unit as it is. Counts (list lengths, numbers written in
   the facts' text without a unit, units such as "per day" or "points") are never converted.
   Signs are ignored (``-5%`` and ``down 5%`` quote the same fact).
4. **Dates** match when a date in the facts has the same month and day (and year, if written);
   the years of the facts' dates count as numbers.

Known limits: the check proves a number is *in* the facts, not that it is used in the right
place ("5 incidents" passes when 5 is a count of something else), and numbers inside untrusted
source text (an issue title) are facts too, so they can be quoted. Derived claims written as
words ("doubled", "half") are not checked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

COUNT = "count"  # a number with a unit we never convert: list lengths, "per day", "points"
_SECONDS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_UNIT_WORDS = {
    "percent": ("%", "percent", "per cent", "percentage", "pct"),
    "fraction": ("fraction", "ratio", "rate", "share"),
    "ms": ("ms", "millisecond", "milliseconds"),
    "s": ("s", "sec", "secs", "second", "seconds"),
    "min": ("min", "mins", "minute", "minutes"),
    "h": ("h", "hr", "hrs", "hour", "hours"),
    "d": ("d", "day", "days"),
    "w": ("w", "wk", "wks", "week", "weeks"),
}
_UNIT_OF = {word: unit for unit, words in _UNIT_WORDS.items() for word in words}
# Units that may follow a number in text (longest first, so "minutes" wins over "min").
_TEXT_UNITS = sorted(
    (w for u, ws in _UNIT_WORDS.items() if u != "fraction" for w in ws), key=len, reverse=True
)
_UNIT_RE = "|".join(re.escape(w).replace(r"\ ", r"\s") for w in _TEXT_UNITS)
_NUMBER = re.compile(
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)*)"
    r"(?P<k>[kK](?![A-Za-z]))?"
    rf"(?P<unit>\s?-?\s?(?:{_UNIT_RE})(?![A-Za-z]))?"
)
_WORDS = {
    "zero": 0,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_WORD_NUMBER = re.compile(
    rf"\b(?P<word>{'|'.join(_WORDS)})\b(?P<unit>\s?-?\s?(?:{_UNIT_RE})(?![A-Za-z]))?",
    re.IGNORECASE,
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = (
    r"(?P<{g}>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DATES = (
    re.compile(
        r"\b(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
        r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    ),
    re.compile(
        _MONTH.format(g="mname") + r"\s(?P<day>\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s(?P<year>\d{4}))?"
    ),
    re.compile(
        r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s"
        + _MONTH.format(g="mname")
        + r"(?:,?\s(?P<year>\d{4}))?"
    ),
)
# Keys whose number takes the unit named by a sibling "unit" key (a Metric's value and the like).
_UNIT_FOLLOWERS = re.compile(r"^(value|previous|target|threshold|baseline|median|mean|p\d+)$")


@dataclass(frozen=True)
class Quantity:
    """A number as written: its value, its unit (None when it has none) and its precision."""

    text: str
    value: float
    unit: str | None = None
    tolerance: float = 0.0


@dataclass(frozen=True)
class Date:
    text: str
    month: int
    day: int
    year: int | None = None


@dataclass(frozen=True)
class Grounding:
    """The verdict on an answer: ``ungrounded`` is what it wrote without a fact behind it."""

    ungrounded: tuple[str, ...]
    checked: int

    @property
    def ok(self) -> bool:
        return not self.ungrounded

    @property
    def reason(self) -> str:
        if self.ok:
            return f"all {self.checked} numbers are in the facts"
        quoted = ", ".join(repr(text) for text in self.ungrounded)
        return f"numbers not in the facts: {quoted} ({self.checked} checked)"


def check(texts: str | Iterable[str], facts: Any) -> Grounding:
    """Check every number in ``texts`` against ``facts`` (a JSON-able value)."""
    known = Facts.of(facts)
    ungrounded: list[str] = []
    checked = 0
    for text in [texts] if isinstance(texts, str) else texts:
        quantities, dates = extract(text)
        checked += len(quantities) + len(dates)
        ungrounded += [q.text for q in quantities if not known.has(q)]
        ungrounded += [d.text for d in dates if not known.has_date(d)]
    return Grounding(tuple(ungrounded), checked)


def extract(text: str) -> tuple[list[Quantity], list[Date]]:
    """The numbers and the dates written in ``text`` (dates first, each read only once)."""
    dates: list[Date] = []
    for pattern in _DATES:
        for m in pattern.finditer(text):
            date = _date(m)
            if date is not None:
                dates.append(date)
                text = text[: m.start()] + " " * (m.end() - m.start()) + text[m.end() :]
    quantities: list[Quantity] = []
    for m in _NUMBER.finditer(text):
        before = text[m.start() - 1] if m.start() else " "
        digits = m["num"]
        if before.isalpha() or before == "_" or digits.count(".") > 1:
            continue  # an identifier (p85, v2, Q3, PAY123) or a version (1.2.3)
        decimals = len(digits.partition(".")[2])
        scale = 1000.0 if m["k"] else 1.0
        value = float(digits.replace(",", "")) * scale
        quantities.append(
            Quantity(m[0].strip(), value, _unit(m["unit"]), 0.5 * 10.0**-decimals * scale)
        )
    for m in _WORD_NUMBER.finditer(text):
        quantities.append(
            Quantity(m[0].strip(), float(_WORDS[m["word"].lower()]), _unit(m["unit"]), 0.5)
        )
    return quantities, dates


@dataclass(frozen=True)
class Facts:
    """The numbers (with their units) and the dates a facts document contains."""

    numbers: tuple[Quantity, ...]
    dates: tuple[Date, ...]

    @classmethod
    def of(cls, facts: Any) -> Facts:
        numbers: list[Quantity] = []
        dates: list[Date] = []
        for value, unit in _walk(facts, None):
            if isinstance(value, str):
                found, found_dates = extract(value)
                # Text already shows numbers as people read them: "5" in a sentence is a count,
                # not a fraction that could be written as 500%.
                numbers += [q if q.unit else dataclasses.replace(q, unit=COUNT) for q in found]
                dates += found_dates
                numbers += [Quantity(str(d.year), float(d.year)) for d in found_dates if d.year]
            else:
                numbers.append(Quantity(str(value), abs(float(value)), unit))
        return cls(tuple(numbers), tuple(dates))

    def has(self, written: Quantity) -> bool:
        slack = written.tolerance + 1e-9 * max(1.0, written.value)
        return any(
            abs(candidate - written.value) <= slack
            for fact in self.numbers
            for candidate in _as_written(fact, written.unit)
        )

    def has_date(self, written: Date) -> bool:
        return any(
            (d.month, d.day) == (written.month, written.day)
            and (written.year is None or d.year == written.year)
            for d in self.dates
        )


def _walk(value: Any, unit: str | None) -> Iterator[tuple[Any, str | None]]:
    """Every number and string in ``value``, each with the unit its place gives it."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | float | str):
        yield value, unit
    elif isinstance(value, Mapping):
        sibling = value.get("unit")
        sibling_unit = _unit_named(sibling) if isinstance(sibling, str) else None
        for key, item in value.items():
            name = str(key)
            own = _unit_named(name.rsplit("_", 1)[-1])
            if own is None and _UNIT_FOLLOWERS.match(name):
                own = sibling_unit
            yield from _walk(item, own)
    elif isinstance(value, Sequence):
        yield len(value), COUNT
        for item in value:
            yield from _walk(item, unit)


def _as_written(fact: Quantity, written: str | None) -> Iterator[float]:
    """The values ``fact`` may be written as in the unit ``written``."""
    have = fact.unit
    if written is None:
        yield fact.value
    elif written == "percent":
        if have in (None, "percent"):
            yield fact.value
        if have in (None, "fraction"):
            yield fact.value * 100
    elif have in _SECONDS:
        yield fact.value * _SECONDS[have] / _SECONDS[written]
    elif have is None:
        yield fact.value


def _unit(text: str | None) -> str | None:
    if not text:
        return None
    word = re.sub(r"\s+", " ", text.strip(" -\t\n").lower())
    return _UNIT_OF.get(word)


def _unit_named(name: str) -> str | None:
    """The unit a key or a ``"unit"`` value names; `COUNT` for units we do not convert."""
    word = name.strip().lower()
    if word in _UNIT_OF:
        return _UNIT_OF[word]
    return COUNT if " " in word or word in ("count", "events", "items", "points") else None


def _date(m: re.Match[str]) -> Date | None:
    groups = m.groupdict()
    month = (
        _MONTHS.index(groups["mname"][:3].lower()) + 1
        if groups.get("mname")
        else int(groups["month"])
    )
    year = int(groups["year"]) if groups.get("year") else None
    try:
        dt.date(year or 2000, month, int(groups["day"]))  # 2000: a leap year, so Feb 29 is valid
    except ValueError:
        return None
    return Date(m[0], month, int(groups["day"]), year)
