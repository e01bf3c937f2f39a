"""Block Kit of the alert messages: one issue or metric alert, a burst summary, a thread reply.

Pure: a stored alert document and its state in, ``(text, blocks)`` out. Every title, culprit,
description and name comes from Sentry or Jira, so it goes through `source_text` (escaped, cut);
only this module writes ``<...>`` (links, and mentions of the Slack users who acted).

An issue message, top to bottom: the title linked to Sentry (and the culprit), the facts as
fields (product, project, level, status, events, users, first and last seen), who did what
(newest last, with the Jira ticket linked), and the buttons. Create and Link give way to the
ticket once there is one; Resolve and Ignore go once the issue is resolved or ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from bot.slack.blocks import (
    clip,
    context_block,
    escape,
    fields_section,
    fmt_when,
    list_section,
    number,
    section,
    source_text,
)
from bot.slack.ids import ActionId

LEVEL_EMOJI = {"fatal": "🔥", "error": "🔴", "warning": "🟠", "info": "🔵", "debug": "⚪"}
METRIC_EMOJI = {"critical": "🔴", "warning": "🟠", "resolved": "✅"}
STATUS_LINE = {"open": "🔴 Unresolved", "resolved": "✅ Resolved", "ignored": "🔕 Ignored"}
ACTION_LINES = 6  # the newest actions shown under a message
SUMMARY_LINES = 15
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


@dataclass(frozen=True)
class TicketRef:
    """The Jira ticket of the issue; ``key`` None while its creation is in flight."""

    key: str | None
    url: str | None
    how: str  # created | linked
    by: str | None


@dataclass(frozen=True)
class AlertState:
    """What a message shows: the document, the bot's status, the actions log, the ticket."""

    message_id: int
    doc: Mapping[str, Any]
    status: str = "open"
    actions: Sequence[Mapping[str, Any]] = ()
    events: int = 1
    ticket: TicketRef | None = None


def mention(user: object) -> str:
    """``<@U123>`` for a Slack user id, else the name escaped (it came from elsewhere)."""
    text = str(user or "someone")
    return f"<@{text}>" if _USER_ID.match(text) else escape(text)


def safe_link(url: object, label: object, limit: int = 150) -> str:
    """Like `bot.slack.blocks.link` with a longer label: a title is worth more than 60 chars."""
    shown = source_text(label, limit)
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 500:
        return shown
    return f"<{escape(url).replace('|', '%7C').replace(' ', '%20')}|{shown}>"


def button_value(message_id: int) -> str:
    return json.dumps({"m": message_id}, separators=(",", ":"))


def message_id_of(value: str | None) -> int:
    """The message id a button carried; `ValueError` if it is not one of ours."""
    data = json.loads(value or "")
    if not isinstance(data, dict) or not isinstance(data.get("m"), int):
        raise ValueError(f"not an alert button value: {str(value)[:80]!r}")
    return int(data["m"])


# ---------------------------------------------------------------- issue and metric messages


def alert_message(state: AlertState) -> tuple[str, list[Block]]:
    """The root message of an issue (or event alert) or of a metric alert."""
    if state.doc.get("kind") == "metric_alert":
        return _metric(state)
    return _issue(state)


def fallback(doc: Mapping[str, Any]) -> str:
    """The ``text`` of a message (notifications, screen readers)."""
    product = f" in {source_text(doc['product'], 80)}" if doc.get("product") else ""
    if doc.get("kind") == "metric_alert":
        status = str(doc.get("status") or doc.get("action") or "alert").capitalize()
        return f"{status}{product}: {source_text(doc.get('title', ''), 300)}"
    level = str(doc.get("level") or "error").capitalize()
    return f"{level}{product}: {source_text(doc.get('title', ''), 300)}"


def _issue(state: AlertState) -> tuple[str, list[Block]]:
    doc = state.doc
    level = str(doc.get("level") or "error")
    title = f"{LEVEL_EMOJI.get(level, '🔴')} *{safe_link(doc.get('web_url'), doc.get('title'))}*"
    if doc.get("culprit"):
        title += f"\n{source_text(doc['culprit'], 200)}"
    status = STATUS_LINE.get(state.status, escape(state.status))
    if doc.get("substatus") and state.status == "open":
        status += f" ({escape(str(doc['substatus']).replace('_', ' '))})"
    project = doc.get("project_slug")
    short = f" · {source_text(doc['short_id'], 40)}" if doc.get("short_id") else ""
    fields = [
        f"*Product*\n{source_text(doc.get('product') or 'none', 80)}",
        f"*Project*\n{source_text(project or '?', 80)}{short}",
        f"*Level*\n{escape(level)}",
        f"*Status*\n{status}",
        f"*Events*\n{_count(doc.get('count'), state.events)}",
        f"*Users*\n{_count(doc.get('user_count'))}",
        f"*First seen*\n{fmt_when(doc.get('first_seen'), time=True)}",
        f"*Last seen*\n{fmt_when(doc.get('last_seen'), time=True)}",
    ]
    if doc.get("assignee"):
        fields.append(f"*Assignee*\n{source_text(doc['assignee'], 80)}")
    blocks: list[Block] = [section(title), fields_section(fields)]
    log = _log_lines(state)
    if log:
        blocks.append(context_block("\n".join(log)))
    buttons = _buttons(state)
    if buttons:
        blocks.append(ActionsBlock(block_id="alert_actions", elements=buttons))
    return fallback(doc), blocks


def _count(value: Any, alerts: int | None = None) -> str:
    """Sentry's count; without one (an event alert), how many alerts this message got."""
    if isinstance(value, int):
        return f"{value:,}"
    if value is None:
        return f"{alerts} alert{'s' if alerts != 1 else ''} here" if alerts else "?"
    return number(value)


def _log_lines(state: AlertState) -> list[str]:
    lines = [_action_line(a) for a in list(state.actions)[-ACTION_LINES:]]
    ticket = state.ticket
    if ticket is not None and ticket.key is None:
        lines.append(f"⏳ {mention(ticket.by)} is creating a Jira ticket…")
    elif ticket is not None and not any(a.get("key") == ticket.key for a in state.actions):
        # Linked before this message existed (another channel, an earlier alert).
        lines.append(f"🎫 Jira: {safe_link(ticket.url, ticket.key, 40)}")
    return lines


def _action_line(action: Mapping[str, Any]) -> str:
    who, what = mention(action.get("user")), str(action.get("what", ""))
    when = f" · {fmt_when(action.get('at'), year=False, time=True)}" if action.get("at") else ""
    key = safe_link(action.get("url"), action.get("key") or "the ticket", 40)
    lines = {
        "resolved": f"✅ Resolved by {who}",
        "ignored": f"🔕 Ignored by {who}",
        "created": f"🎫 {who} created {key}",
        "linked": f"🔗 {who} linked {key}",
    }
    if what in lines:
        return lines[what] + when
    return f"⚠️ {source_text(action.get('note') or what, 300)}{when}"


def _buttons(state: AlertState) -> list[ButtonElement]:
    if not state.doc.get("issue_id"):
        return []
    value = button_value(state.message_id)
    buttons = []
    if state.ticket is None:
        buttons += [
            ButtonElement(
                text="Create Jira ticket",
                action_id=ActionId.CREATE_JIRA.value,
                value=value,
                style="primary",
            ),
            ButtonElement(
                text="Link existing ticket", action_id=ActionId.LINK_JIRA.value, value=value
            ),
        ]
    if state.status == "open":
        buttons += [
            ButtonElement(text="Resolve", action_id=ActionId.RESOLVE_SENTRY.value, value=value),
            ButtonElement(text="Ignore", action_id=ActionId.IGNORE_SENTRY.value, value=value),
        ]
    return buttons


def _metric(state: AlertState) -> tuple[str, list[Block]]:
    doc = state.doc
    status = str(doc.get("status") or doc.get("action") or "critical")
    head = f"{METRIC_EMOJI.get(status, '🔴')} *{safe_link(doc.get('web_url'), doc.get('title'))}*"
    if doc.get("description_text"):
        head += f"\n{source_text(doc['description_text'], 1000)}"
    rule = doc.get("alert_rule") or {}
    projects = ", ".join(str(p) for p in doc.get("project_slugs") or []) or "?"
    window = f" over {rule['time_window']} min" if rule.get("time_window") else ""
    fields = [
        f"*Rule*\n{source_text(doc.get('rule_name') or rule.get('name') or '?', 150)}",
        f"*Status*\n{escape(status.capitalize())}",
        f"*Product*\n{source_text(doc.get('product') or 'none', 80)}",
        f"*Projects*\n{source_text(projects, 200)}",
        f"*Metric*\n{source_text(rule.get('aggregate') or '?', 100)}{escape(window)}",
        f"*Started*\n{fmt_when(doc.get('started_at'), time=True)}",
    ]
    if doc.get("closed_at"):
        fields.append(f"*Closed*\n{fmt_when(doc['closed_at'], time=True)}")
    blocks: list[Block] = [section(head), fields_section(fields)]
    log = _log_lines(state)
    if log:
        blocks.append(context_block("\n".join(log)))
    return fallback(doc), blocks


# ---------------------------------------------------------------- summary and replies


def summary_message(
    folded: Sequence[Mapping[str, Any]],
    *,
    since: str | None,
    resumes_at: str | None,
    limit: int,
    per: str,
) -> tuple[str, list[Block]]:
    """The one message a burst is folded into: how many, which, and when posting resumes."""
    count = len(folded)
    noun = "alert" if count == 1 else "alerts"
    head = (
        f"🌊 *{count} more {noun}* since {fmt_when(since, year=False, time=True)}, folded here "
        f"to keep the channel readable (at most {limit} alerts per {escape(per)})."
    )
    if resumes_at:
        head += (
            f" Alerts post on their own again from {fmt_when(resumes_at, year=False, time=True)}."
        )
    lines = []
    for doc in folded:
        emoji = LEVEL_EMOJI.get(
            str(doc.get("level")), METRIC_EMOJI.get(str(doc.get("status")), "🔴")
        )
        label = safe_link(doc.get("web_url"), doc.get("title"), 100)
        extra = f" · {source_text(doc['product'], 60)}" if doc.get("product") else ""
        lines.append(f"{emoji} {label}{extra}")
    text = f"{count} more Sentry {noun} folded into one message"
    return text, [section(head), list_section("Folded alerts", lines, limit=SUMMARY_LINES)]


def reply_message(doc: Mapping[str, Any], change: str) -> tuple[str, list[Block]]:
    """A thread reply under the root message: a new event, a state change in Sentry."""
    when = fmt_when(
        doc.get("last_seen") or doc.get("closed_at") or doc.get("started_at"), time=True
    )
    title = safe_link(doc.get("web_url"), doc.get("title"), 150)
    status = str(doc.get("status") or "")
    lines = {
        "event": f"🔁 New event at {when}: {title}",
        "resolved": "✅ Resolved in Sentry",
        "ignored": "🔕 Ignored in Sentry",
        "unresolved": f"⚠️ Unresolved again in Sentry (regression), last seen {when}",
        "assigned": f"👤 Assigned in Sentry to {source_text(doc.get('assignee') or 'nobody', 80)}",
        "metric": f"{METRIC_EMOJI.get(status, '🔴')} {escape(status.capitalize())}: {title}",
    }
    line = lines.get(change, f"📌 {escape(change)}")
    if change == "event" and doc.get("rule_name"):
        line += f"\nRule: {source_text(doc['rule_name'], 150)}"
    if change == "metric" and doc.get("description_text"):
        line += f"\n{source_text(doc['description_text'], 500)}"
    return clip(line.split("\n")[0], 300), [section(line)]


def follow_up_message(
    doc: Mapping[str, Any], open_for_hours: int, alerts: int
) -> tuple[str, list[Block]]:
    """The one nudge in the thread of an alert left open without a ticket (`followups`). Events:
    Sentry's count, as the message shows it; without one, the alerts this message got."""
    events = doc.get("count") if isinstance(doc.get("count"), int) else alerts
    hours = f"{open_for_hours} hour{'s' if open_for_hours != 1 else ''}"
    count = f"{events:,} event{'s' if events != 1 else ''}"
    line = (
        f"⏰ Still open after {hours} ({count} so far, last seen "
        f"{fmt_when(doc.get('last_seen'), time=True)}) and no Jira ticket yet. Create or link one "
        "with the buttons above, or resolve or ignore it."
    )
    return clip(line, 300), [section(line)]
