"""The one place action and view ids live, and what the buttons carry.

Block Kit builders set these on buttons, selects and modals; listeners register on the same
members (``app.action(ActionId.SHARE_REPORT)``), so a renamed id can never leave a button
without its listener. The values are what Slack stores in messages already posted: changing one
orphans the buttons of old messages, so add new members rather than rename old ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar


class ActionId(StrEnum):
    """``action_id`` of interactive elements (Slack allows 255 characters, unique per block)."""

    SHARE_REPORT = "share_report"  # post an ephemeral report in the channel for everyone
    CREATE_JIRA = "create_jira_ticket"  # open the create-ticket modal for a Sentry issue
    LINK_JIRA = "link_jira_ticket"  # link a Sentry issue to an existing Jira ticket
    RESOLVE_SENTRY = "resolve_sentry_issue"
    IGNORE_SENTRY = "ignore_sentry_issue"
    LINK_SUGGESTED_JIRA = "link_suggested_jira"  # "Link it instead" in the create-ticket modal
    HOME_FILTER = "home_filter"  # the App Home's product/team selector
    HOME_DRILL = "home_drill"  # open one product's detail from the App Home


class CallbackId(StrEnum):
    """``callback_id`` of modals (``app.view(CallbackId.CREATE_JIRA_MODAL)``)."""

    CREATE_JIRA_MODAL = "create_jira_modal"
    LINK_JIRA_MODAL = "link_jira_modal"  # pick an existing ticket for a Sentry issue
    HOME_DETAILS_MODAL = "home_details_modal"  # one product's reports, from the App Home


@dataclass(frozen=True)
class ReportRef:
    """What the Share button carries: enough to compute the same report again, not the report
    (a button's ``value`` holds at most 2000 characters, and a report is bigger).

    ``as_of`` is the instant the report was read at (its window's end), so the shared copy can
    cover the same window the user saw; ``board`` and ``sprint`` (ids) are set for a sprint report
    of one board.
    """

    kind: str
    scope_kind: str  # product | team | organisation
    scope_name: str
    days: int | None = None
    board: str | None = None
    sprint: str | None = None
    as_of: str | None = None

    _KEYS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("kind", "k"),
        ("scope_kind", "sk"),
        ("scope_name", "s"),
        ("days", "d"),
        ("board", "b"),
        ("sprint", "sp"),
        ("as_of", "t"),
    )

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> ReportRef:
        """The reference of a report document (``as_dict()``)."""
        scope, window = doc.get("scope") or {}, doc.get("window") or {}
        boards = doc.get("boards") or []
        one = boards[0] if len(boards) == 1 else None
        days = window.get("days")
        as_of = window.get("end") or doc.get("as_of")
        return cls(
            kind=str(doc.get("kind")),
            scope_kind=str(scope.get("kind", "organisation")),
            scope_name=str(scope.get("name", "")),
            days=round(days) if isinstance(days, int | float) else None,
            board=str(one["board"]["id"]) if one else None,
            sprint=str(one["sprint"]["id"]) if one and one.get("sprint") else None,
            as_of=str(as_of) if as_of else None,
        )

    def to_value(self) -> str:
        """Compact JSON, e.g. ``{"k":"dora","sk":"product","s":"Payment System","d":30}``."""
        data = {short: getattr(self, name) for name, short in self._KEYS}
        kept = {k: v for k, v in data.items() if v is not None}
        return json.dumps(kept, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_value(cls, value: str) -> ReportRef:
        """The reference a button carried; `ValueError` when it is not one of ours."""
        data = json.loads(value)  # json.JSONDecodeError is a ValueError
        if not isinstance(data, dict) or any(data.get(k) is None for k in ("k", "sk", "s")):
            raise ValueError(f"not a report reference: {value[:80]!r}")
        values: dict[str, Any] = {name: data.get(short) for name, short in cls._KEYS}
        if values["days"] is not None and not isinstance(values["days"], int):
            raise ValueError(f"days must be a whole number: {values['days']!r}")
        for name in ("kind", "scope_kind", "scope_name", "board", "sprint", "as_of"):
            if values[name] is not None and not isinstance(values[name], str):
                raise ValueError(f"{name} must be text: {values[name]!r}")
        return cls(**values)
