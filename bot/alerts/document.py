"""The alert as the bot stores it (``AlertMessage.alert``): a JSON document, merged over time.

One message stands for one Sentry issue (``issue:<id>``) or one incident of a metric alert
rule (``metric:<rule id>:<incident id>``) in one channel. Each webhook about it is merged into
the document: a field the new webhook carries replaces the old value, a field it lacks keeps it
(an event alert has no counts; the issue's ``created`` webhook had them). The buttons and the
outbox redraw the message from this document, so what Slack shows is always the latest state,
whoever triggered the redraw.

Keys beyond the alert's own fields: ``product``, ``jira_projects`` (where tickets go) and
``posted_in`` (the channel id Slack answered with, kept once the message is posted).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from bot.alerts.sentry_webhook import SentryAlert

KEPT = ("posted_in",)  # set by the bot, never by a webhook
_SKIP = ("delivery_key", "request_id")


def subject_of(alert: SentryAlert) -> str | None:
    """What the alert is about; None when Sentry's payload names no issue or rule."""
    if alert.kind == "metric_alert":
        # One message per incident: critical, warning and resolved of it share a thread; the
        # rule's next incident (days later, maybe) gets a message of its own.
        if not alert.alert_rule:
            return None
        return f"metric:{alert.alert_rule.id}:{alert.incident_id}"[:128]
    return f"issue:{alert.issue_id}" if alert.issue_id else None


def to_document(alert: SentryAlert) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for field in dataclasses.fields(alert):
        if field.name in _SKIP:
            continue
        value = getattr(alert, field.name)
        if value is None:
            continue
        doc[field.name] = _plain(value)
    return doc


def merge(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``new`` over ``old``; the kind stays the strongest seen (an issue's full data is not
    replaced by the thinner event alert's)."""
    merged = {**old, **{k: v for k, v in new.items() if v is not None}}
    if old.get("kind") == "issue" and new.get("kind") == "event_alert":
        merged["kind"] = "issue"
        for key in ("title", "web_url", "level"):  # the issue's own words win
            if key in old:
                merged[key] = old[key]
    return merged


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "model_dump"):
        dumped: dict[str, Any] = value.model_dump(mode="json")
        return dumped
    return value
