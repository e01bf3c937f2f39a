"""How far a Sentry scope has synced: a watermark, and the pass in progress.

Sentry lists issues and releases newest first, so a sync pass starts at the top and pages down
to the watermark (the newest time the last *complete* pass saw, minus an overlap window). The
watermark only advances when a pass completes; between pages the pass itself is checkpointed
(the next page's cursor and the newest time seen so far), in the same transaction as the rows
of the pages before it. A pass killed midway resumes at its checkpoint, and anything that changed
meanwhile is newer than the pass's top, so the next pass picks it up.

Every value in it is a time *from the data*, never from the clock: two syncs that saw the same
data leave the same cursor (so an unchanged source leaves the database identical, and a run with
faults or a crash ends exactly where a clean run does). Stored as JSON in ``sync_cursors``::

    {"watermark": "2026-03-01T00:00:00+00:00",  newest time a complete pass saw
     "refreshed": "...",                         the watermark when the last full pass completed
     "pass": {"since": ..., "next": "1772:1:0",  the pass in progress, if any
              "high": ...}}
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any


def _when(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _text(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class Pass:
    """One top-to-watermark walk through a list."""

    since: dt.datetime | None  # the filter: items at or after this time (None: everything)
    next: str | None = None  # Sentry cursor of the next page (None: from the top)
    high: dt.datetime | None = None  # newest time seen in this pass so far

    @property
    def full(self) -> bool:
        return self.since is None

    def seen(self, newest: dt.datetime | None) -> Pass:
        if newest is None or (self.high is not None and newest <= self.high):
            return self
        return replace(self, high=newest)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": _text(self.since),
            "next": self.next,
            "high": _text(self.high),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pass:
        return cls(_when(data.get("since")), data.get("next"), _when(data.get("high")))


@dataclass(frozen=True)
class ScopeCursor:
    watermark: dt.datetime | None = None
    refreshed: dt.datetime | None = None
    current: Pass | None = field(default=None)

    @classmethod
    def load(cls, data: dict[str, Any] | None) -> ScopeCursor:
        if not data:
            return cls()
        current = data.get("pass")
        return cls(
            _when(data.get("watermark")),
            _when(data.get("refreshed")),
            Pass.from_json(current) if isinstance(current, dict) else None,
        )

    def begin(self, overlap: dt.timedelta, refresh_after: dt.timedelta | None = None) -> Pass:
        """The pass to run: the interrupted one, else a new one from the watermark.

        A pass without a filter (everything) runs first, and again once the watermark has moved
        ``refresh_after`` past the last one: changes that do not move the watermark (an issue
        resolved without new events) are only seen by such a pass.
        """
        if self.current is not None:
            return self.current
        if self.watermark is None:
            return Pass(None)
        if refresh_after is not None and (
            self.refreshed is None or self.watermark - self.refreshed >= refresh_after
        ):
            return Pass(None)
        return Pass(self.watermark - overlap)

    def checkpoint(self, current: Pass) -> dict[str, Any]:
        """The cursor to save with a batch of a pass that has more pages."""
        return {**self._base(), "pass": current.to_json()}

    def finish(self, current: Pass) -> dict[str, Any]:
        """The cursor to save with the last batch of a pass: the watermark moves up."""
        watermark = max(filter(None, (self.watermark, current.high)), default=None)
        refreshed = watermark if current.full else self.refreshed
        return {"watermark": _text(watermark), "refreshed": _text(refreshed)}

    def _base(self) -> dict[str, Any]:
        return {"watermark": _text(self.watermark), "refreshed": _text(self.refreshed)}
