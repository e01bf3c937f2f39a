"""What every insight shares: the time window, a metric value, a finding, a summary.

Pure code: no SQL, no HTTP. Everything is a frozen dataclass, every timestamp timezone-aware UTC,
and a metric with no data is ``None`` (never a misleading 0).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)

Trend = Literal["up", "down", "flat"]


@dataclass(frozen=True)
class Window:
    """The half-open interval ``[start, end)`` a metric looks at."""

    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("a window must end after it starts")

    @classmethod
    def last(cls, days: int, now: dt.datetime) -> Window:
        """The ``days`` days up to ``now``."""
        if days < 1:
            raise ValueError("a window is at least 1 day")
        return cls(now - days * DAY, now)

    @property
    def days(self) -> float:
        return (self.end - self.start) / DAY

    def previous(self) -> Window:
        """The window of the same length just before this one (for trends)."""
        return Window(self.start - (self.end - self.start), self.start)

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, dt.datetime) and self.start <= moment < self.end

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": self.days}


def median(values: Iterable[float]) -> float | None:
    """The median; an even count averages the two middle values. ``None`` for no values."""
    return percentile(values, 50)


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile with linear interpolation between closest ranks.

    The same definition as PostgreSQL's ``percentile_cont`` and NumPy's default, so a number
    checked in SQL or a notebook matches. ``None`` for no values.
    """
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(part: float, whole: float) -> float | None:
    """``part / whole``, ``None`` when there is nothing to divide by."""
    return None if whole == 0 else part / whole


def hours(delta: dt.timedelta) -> float:
    return delta / HOUR


def trend(current: float | None, previous: float | None, tolerance: float = 0.05) -> Trend | None:
    """Direction from ``previous`` to ``current``; within ``tolerance`` (relative) is flat."""
    if current is None or previous is None:
        return None
    if previous == 0:
        return "flat" if current == 0 else "up"
    change = (current - previous) / abs(previous)
    if abs(change) <= tolerance:
        return "flat"
    return "up" if change > 0 else "down"


@dataclass(frozen=True)
class Metric:
    """One number with its unit and, where it has one, its previous value and band.

    ``id`` is stable (the DORA metric names for DORA), used as the JSON key ``metrics.<id>``.
    """

    id: str
    label: str
    value: float | None
    unit: str
    previous: float | None = None
    band: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def trend(self) -> Trend | None:
        return trend(self.value, self.previous)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "value": _round(self.value),
            "unit": self.unit,
            "previous": _round(self.previous),
            "trend": self.trend,
        }
        if self.band is not None or self.id in _BANDED:
            data["band"] = self.band
        data.update({k: _jsonable(v) for k, v in self.detail.items()})
        return data


_BANDED = frozenset(
    {
        "deployment_frequency",
        "lead_time_for_changes",
        "change_failure_rate",
        "failed_deployment_recovery_time",
        "deployment_rework_rate",
    }
)


@dataclass(frozen=True)
class Finding:
    """Something worth acting on, phrased as an action, with the evidence behind it.

    ``score`` ranks findings (higher first); ``numbers`` are the figures the evidence quotes, so
    a narrator (or the LLM grounding check) can cite them.
    """

    kind: str
    action: str
    evidence: str
    score: float
    numbers: Mapping[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "action": self.action,
            "evidence": self.evidence,
            "score": round(self.score, 3),
            "numbers": {k: _round(v) for k, v in self.numbers.items()},
        }


def ranked(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Highest score first; ties by kind so the order is stable."""
    return tuple(sorted(findings, key=lambda f: (-f.score, f.kind, f.action)))


@dataclass(frozen=True)
class Summary:
    """The narrative of a report: a headline, up to 3 risks, up to 3 actions.

    ``source`` says who wrote it: ``narrator`` (rules) or ``llm:<model>``.
    """

    headline: str
    risks: tuple[str, ...]
    actions: tuple[str, ...]
    source: str = "narrator"

    def __post_init__(self) -> None:
        if len(self.risks) > 3 or len(self.actions) > 3:
            raise ValueError("a summary has at most 3 risks and 3 actions")

    def as_dict(self) -> dict[str, Any]:
        return {
            "headline": self.headline,
            "risks": list(self.risks),
            "actions": list(self.actions),
            "source": self.source,
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None:
        return None
    rounded = round(float(value), digits)
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return _round(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_jsonable(v) for v in value]
    return value


def jsonable(value: Any) -> Any:
    """``value`` with floats rounded and dates as ISO strings, ready for ``json.dumps``."""
    return _jsonable(value)


class FactsOnce:
    """``facts()`` worked out once per report and kept: the narrator, the LLM's grounding and
    ``as_dict`` each read them, and building them is not free (the organisation's sprint report
    has ~8k table rows). The summary is no fact, so `with_summary`'s copy keeps them. The dict
    is shared: read it, do not change it. (For frozen dataclasses with these two fields.)"""

    kind: str
    summary: Summary | None

    def _facts(self) -> dict[str, Any]:
        raise NotImplementedError

    def facts(self) -> dict[str, Any]:
        """Every number of the report (not the summary), ready for ``json.dumps``."""
        kept: dict[str, Any] | None = self.__dict__.get("_kept_facts")
        if kept is None:
            kept = self._facts()
            object.__setattr__(self, "_kept_facts", kept)  # frozen: set as its __init__ does
        return kept

    def with_summary(self, summary: Summary) -> Self:
        """The same report (and facts) with ``summary``."""
        other = copy.copy(self)
        object.__setattr__(other, "summary", summary)
        return other

    def as_dict(self) -> dict[str, Any]:
        """`facts()` plus the summary: the ``--format json`` document."""
        return {**self.facts(), "summary": self.summary.as_dict() if self.summary else None}
