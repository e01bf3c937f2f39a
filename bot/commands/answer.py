"""From a parsed command to the message that answers it, and the line that acknowledges it.

`answer` never raises: a bad name becomes usage help with the closest names, a known failure
(an unknown scope, a source that is not configured) an explanation, anything else a logged
reference the user can quote.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.commands import alerts, digest, mute, products, report, subscriptions, sync_status
from bot.commands.messages import Body, failure, help_message, notice, usage
from bot.commands.model import (
    Alerts,
    Command,
    Digest,
    Help,
    Mute,
    Name,
    Products,
    Report,
    Subscribe,
    Subscriptions,
    SyncStatus,
    Unmute,
    Unsubscribe,
    UsageError,
)
from bot.commands.spec import spec
from bot.deps import Deps
from bot.slack.blocks import escape
from collectors.errors import NotConfigured
from insights.errors import InsightsError, UnknownScope

log = logging.getLogger("sitrep.commands")

KIND_NAMES = {"health": "health report", "dora": "DORA report", "sprint": "sprint report"}


@dataclass(frozen=True)
class Asker:
    """Who typed the command, and where (subscriptions are per channel): the channel's id and
    the name Slack sent with it ("directmessage" and "privategroup" in DMs)."""

    user: str
    channel: str
    channel_name: str = ""


_ACKNOWLEDGEMENTS: dict[type, str] = {
    Subscribe: "Subscribing this channel…",
    Unsubscribe: "Unsubscribing this channel…",
    Subscriptions: "Looking up this channel's subscriptions…",
    Products: "Listing the products…",
    SyncStatus: "Checking the latest syncs…",
    Unmute: "Unmuting…",
}


def acknowledgement(command: Command) -> str:
    """The short line Slack shows at once, e.g. "Computing the DORA report for Payment System
    (last 30 days)…" (mrkdwn: the name is escaped)."""
    if isinstance(command, Report):
        window = f" (last {command.days} days)" if command.kind != "sprint" else ""
        return f"Computing the {KIND_NAMES[command.kind]} for {_named(command.name)}{window}…"
    if isinstance(command, Alerts):
        return f"Looking up the alerts of {_named(command.name)}…"
    if isinstance(command, Digest):
        return f"Building a digest preview for {_named(command.name)}…"
    if isinstance(command, Mute):
        return f"Muting {_named(command.name)}…" if command.name else "Looking up what is muted…"
    return _ACKNOWLEDGEMENTS.get(type(command), "Working on it…")


def answer(deps: Deps, command: Command, asker: Asker) -> Body:
    """The ephemeral answer to ``command``; errors are answers too."""
    try:
        return _answer(deps, command, asker)
    except UsageError as error:
        return usage(error)
    except UnknownScope as error:  # a board or sprint the report itself could not find
        kind = command.kind if isinstance(command, Report) else "help"
        hint = UsageError(
            f"No {error.kind} called '{error.name}'.",
            usage=spec(kind).help_text(),
            suggestions=error.suggestions,
        )
        return usage(hint)
    except InsightsError as error:
        return notice(f"⚠️ {escape(error)}")
    except NotConfigured as error:
        return notice(f"⚠️ {escape(error)}")
    except Exception:  # the boundary: log it with a reference the user can quote
        reference = secrets.token_hex(4)
        log.exception("/sitrep %s failed (reference %s)", command, reference)
        return failure(reference)


_ANSWERS: dict[type, Callable[[Deps, Any, Asker], Body]] = {
    Help: lambda deps, command, asker: help_message(command.topic),
    Report: lambda deps, command, asker: report.report_answer(deps, command),
    Alerts: lambda deps, command, asker: alerts.alerts_answer(deps, command),
    Products: lambda deps, command, asker: products.products_answer(deps),
    Digest: lambda deps, command, asker: digest.digest_answer(deps, command),
    Subscribe: lambda deps, command, asker: subscriptions.subscribe(
        deps, command, user=asker.user, channel=asker.channel, channel_name=asker.channel_name
    ),
    Unsubscribe: lambda deps, command, asker: subscriptions.unsubscribe(
        deps, command, user=asker.user, channel=asker.channel
    ),
    Subscriptions: lambda deps, command, asker: subscriptions.list_subscriptions(
        deps, channel=asker.channel
    ),
    Mute: lambda deps, command, asker: mute.mute(deps, command, user=asker.user),
    Unmute: lambda deps, command, asker: mute.unmute(deps, command, user=asker.user),
    SyncStatus: lambda deps, command, asker: sync_status.sync_status_answer(deps),
}


def _answer(deps: Deps, command: Command, asker: Asker) -> Body:
    return _ANSWERS[type(command)](deps, command, asker)


def _named(name: Name | None) -> str:
    return escape(name.text) if name else "the organisation"
