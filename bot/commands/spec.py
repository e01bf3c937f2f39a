"""What `/sitrep` understands: every command's usage line, what it does and examples.

One table feeds the help message, the usage shown with an error and the "Did you mean ...?" for
an unknown command, so they cannot disagree. Adding a command: a row here, a case in
`bot.commands.parse`, an answer in `bot.commands.answer`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

SLASH = "/sitrep"
DEFAULT_DAYS = 30
MAX_DAYS = 365
DEFAULT_MUTE = dt.timedelta(hours=1)
MAX_MUTE = dt.timedelta(days=14)  # longer is a product to remove from the products file


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str  # the arguments, after "/sitrep <name>"
    summary: str
    examples: tuple[str, ...]

    @property
    def line(self) -> str:
        return f"{SLASH} {self.name} {self.usage}".rstrip()

    def help_text(self) -> str:
        """Plain text: the usage line and the examples (shown in a code block)."""
        lines = [self.line, *(f"  e.g. {SLASH} {example}" for example in self.examples)]
        return "\n".join(lines)


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "health",
        "[product|team] [7d|30d|90d]",
        "Health score with its reasons: Sentry errors, bugs past their SLA, failed deployments.",
        ("health", "health Payment System", "health payments 7d"),
    ),
    CommandSpec(
        "dora",
        "[product|team] [7d|30d|90d]",
        "DORA metrics with bands and trends; any window from 1d to 365d.",
        ("dora Payment System 30d", "dora team payments 90d"),
    ),
    CommandSpec(
        "sprint",
        "[board|team|product]",
        "The active sprint of each board: progress, scope change, carry-over, risks.",
        ("sprint PAY board", "sprint payments"),
    ),
    CommandSpec(
        "alerts",
        "[product|team]",
        "The latest Sentry alerts Sitrep posted and the top unresolved Sentry issues, linked.",
        ("alerts Checkout",),
    ),
    CommandSpec(
        "products",
        "",
        "The product tree: owner team, priority, Slack channel and what is mapped to each.",
        ("products",),
    ),
    CommandSpec(
        "digest",
        "[product]",
        "Preview the digest a subscription would post now (only you see it).",
        ("digest", "digest Payment System"),
    ),
    CommandSpec(
        "subscribe",
        "digest|alerts [product] [daily|weekly [weekday]] [HH:MM] [time zone]",
        "Subscribe this channel. Digests default to daily at 09:00 in your Slack time zone; "
        "alerts are posted as they happen.",
        (
            "subscribe digest Payment System",
            "subscribe digest weekly friday 16:00 Europe/Berlin",
            "subscribe alerts Checkout",
        ),
    ),
    CommandSpec(
        "unsubscribe",
        "digest|alerts [product]",
        "Stop a subscription of this channel.",
        ("unsubscribe digest Payment System",),
    ),
    CommandSpec(
        "subscriptions",
        "",
        "The subscriptions of this channel, with their next run.",
        ("subscriptions",),
    ),
    CommandSpec(
        "mute",
        '[product] [30m|2h|1d|until HH:MM [time zone]] ["reason"]',
        "Hold a product's Sentry alerts (and its sub-products') for a while, e.g. during a "
        "deploy: default 1 hour, at most 14 days. Alone: what is muted now.",
        ('mute Checkout 2h "migrating the payments DB"', "mute Payment System until 18:00", "mute"),
    ),
    CommandSpec(
        "unmute",
        "product",
        "End a product's mute now: its Sentry alerts are posted again.",
        ("unmute Checkout",),
    ),
    CommandSpec(
        "sync status",
        "",
        "When each source last synced, how many rows, and what failed.",
        ("sync status",),
    ),
    CommandSpec("help", "[command]", "This list, or one command's usage.", ("help dora",)),
)

BY_NAME = {spec.name: spec for spec in COMMANDS}
NAMES = tuple(spec.name.split()[0] for spec in COMMANDS)  # the first word is what is typed


def spec(name: str) -> CommandSpec:
    return BY_NAME[name]


def overview() -> str:
    """Every usage line, for an error that is not about one command."""
    return "\n".join(spec.line for spec in COMMANDS)
