"""Accepting a Sentry alert (being built; see the issue notes)."""

from __future__ import annotations

from bot.alerts.sentry_webhook import SentryAlert
from bot.deps import Deps


def accept(deps: Deps, alert: SentryAlert) -> str:
    """Not built yet: the alert is only acknowledged."""
    return "accepted"
