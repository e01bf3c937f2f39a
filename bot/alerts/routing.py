"""Where a Sentry alert goes, or why it stays quiet; and the burst cap that keeps channels readable.

Pure: products, maintenance windows, rules and recent posts come in as arguments, and the caller
stores whatever needs storing.

`route_alert` applies these rules, in this order; the first one that mutes gives the reason, so
deliberate silence (level, maintenance) is reported before a configuration gap (no channel):

1. **Owner.** The alert's Sentry project must belong to a product (slugs compared
   case-insensitively, as in the products file). A metric alert may cover several projects: the
   first one that belongs to a product decides. No owner: no channel, and a reason saying which
   project to map.
2. **Level.** Issue and event alerts below the product's minimum level are muted. The minimum is
   the product's own entry in `RoutingRules.min_level_by_product` when there is one, else the
   entry for its priority; by default fatal and error always post, warning only for critical
   and high priority products, info and debug never. ``None`` as a minimum means "never". A
   missing or unknown level counts as error, so a surprise never goes unseen. Metric alerts
   always pass: someone set their thresholds on purpose.
3. **Maintenance.** Anything is muted while a maintenance window of the product *or of one of
   its ancestors* covers ``now`` (a platform's maintenance covers the products inside it). The
   window is half-open: ``start <= now < end``.
4. **Channel.** The product's ``slack_channel``, else the nearest ancestor's that has one. None
   anywhere in the chain: no channel, and a reason saying where to set one.

A muted route still names the channel it would have used, so the caller can log it or post later.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.alerts.sentry_webhook import SentryAlert

# Ascending severity; the rank of a level is its index.
_SEVERITY = ("debug", "info", "warning", "error", "fatal")

DEFAULT_MIN_LEVEL_BY_PRIORITY: Mapping[str, str | None] = {
    "critical": "warning",
    "high": "warning",
    "medium": "error",
    "low": "error",
}
"""Default: fatal and error everywhere, warning for critical and high priority, info/debug never."""


@dataclass(frozen=True)
class Ancestor:
    """A parent (or grandparent, ...) of a product, as far as routing cares."""

    name: str
    slack_channel: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProductInfo:
    """The product that owns a Sentry project; ``ancestors`` nearest first (parent, grandparent)."""

    name: str
    priority: str = "medium"
    slack_channel: str | None = None
    ancestors: tuple[Ancestor, ...] = ()


@dataclass(frozen=True)
class MaintenanceWindow:
    """A planned quiet period for a product (aware datetimes; ``note`` ends up in the reason)."""

    start: datetime
    end: datetime
    note: str | None = None

    def covers(self, when: datetime) -> bool:
        return self.start <= when < self.end


@dataclass(frozen=True, kw_only=True)
class RoutingRules:
    """Minimum levels for issue and event alerts: per product name first, else per priority.

    A priority missing from ``min_level_by_priority`` uses the medium priority's minimum.
    """

    min_level_by_priority: Mapping[str, str | None] = field(
        default_factory=lambda: dict(DEFAULT_MIN_LEVEL_BY_PRIORITY)
    )
    min_level_by_product: Mapping[str, str | None] = field(default_factory=dict)

    def min_level(self, product: ProductInfo) -> str | None:
        if product.name in self.min_level_by_product:
            return self.min_level_by_product[product.name]
        fallback = self.min_level_by_priority.get("medium", "error")
        return self.min_level_by_priority.get(product.priority, fallback)


@dataclass(frozen=True)
class Route:
    """Where an alert goes: ``channel`` None when no channel exists; ``muted_reason`` says why it
    is not posted (None: post it)."""

    channel: str | None
    product: str | None
    muted_reason: str | None = None

    @property
    def should_post(self) -> bool:
        return self.channel is not None and self.muted_reason is None


def route_alert(
    alert: SentryAlert,
    *,
    products: Mapping[str, ProductInfo],
    now: datetime,
    maintenance: Mapping[str, Sequence[MaintenanceWindow]] | None = None,
    rules: RoutingRules | None = None,
) -> Route:
    """Route one alert by the rules in the module docstring.

    ``products`` maps Sentry project slugs to their product; ``maintenance`` maps product names
    to their windows.
    """
    rules = rules or RoutingRules()
    by_slug = {slug.lower(): info for slug, info in products.items()}
    product = next(
        (by_slug[slug.lower()] for slug in alert.project_slugs if slug.lower() in by_slug), None
    )
    if product is None:
        return Route(None, None, _unowned_reason(alert))
    channel = _channel(product)
    for reason in (
        _level_reason(alert, product, rules),
        _maintenance_reason(product, maintenance or {}, now),
    ):
        if reason:
            return Route(channel, product.name, reason)
    if channel is None:
        return Route(None, product.name, _no_channel_reason(product))
    return Route(channel, product.name)


def _unowned_reason(alert: SentryAlert) -> str:
    if not alert.project_slugs:
        return "the alert names no Sentry project, so no product owns it"
    projects = ", ".join(repr(slug) for slug in alert.project_slugs)
    return (
        f"Sentry project {projects} belongs to no product; "
        "add it to a product's sentry_projects in the products file"
    )


def _channel(product: ProductInfo) -> str | None:
    if product.slack_channel:
        return product.slack_channel
    return next((a.slack_channel for a in product.ancestors if a.slack_channel), None)


def _level_reason(alert: SentryAlert, product: ProductInfo, rules: RoutingRules) -> str | None:
    if alert.kind == "metric_alert":
        return None
    minimum = rules.min_level(product)
    whose = (
        f"for {product.name}"
        if product.name in rules.min_level_by_product
        else f"for {product.priority}-priority products like {product.name}"
    )
    if minimum is None:
        return f"issue and event alerts are switched off {whose}"
    level = alert.level or "error"
    if _rank(level) < _rank(minimum):
        return f"{level} is below the minimum level ({minimum}) {whose}"
    return None


def _rank(level: str) -> int:
    level = level.lower()
    return _SEVERITY.index(level) if level in _SEVERITY else _SEVERITY.index("error")


def _maintenance_reason(
    product: ProductInfo, maintenance: Mapping[str, Sequence[MaintenanceWindow]], now: datetime
) -> str | None:
    for name in (product.name, *(a.name for a in product.ancestors)):
        window = next((w for w in maintenance.get(name, ()) if w.covers(now)), None)
        if window is None:
            continue
        whose = name if name == product.name else f"{product.name}'s parent {name}"
        until = window.end.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        note = f" ({window.note})" if window.note else ""
        return f"{whose} is in a maintenance window until {until}{note}"
    return None


def _no_channel_reason(product: ProductInfo) -> str:
    chain = f" or its parents ({', '.join(a.name for a in product.ancestors)})"
    return (
        f"no Slack channel on {product.name}{chain if product.ancestors else ''}; "
        "set slack_channel on it or a parent in the products file"
    )


# ------------------------------------------------------------------ burst cap


class BurstAction(enum.Enum):
    POST = "post"
    """Post the alert as its own message."""
    FOLD = "fold"
    """Fold the alert into the channel's summary message instead."""


@dataclass(frozen=True)
class BurstDecision:
    """``recent`` counts the posts inside the window; when folding, ``resumes_at`` is when the
    oldest of them leaves the window and alerts post on their own again (if no more arrive)."""

    action: BurstAction
    recent: int
    resumes_at: datetime | None = None


@dataclass(frozen=True)
class BurstCap:
    """At most ``limit`` alerts posted to one channel per sliding ``per``; the rest are folded.

    The window is ``(now - per, now]``: a post exactly ``per`` ago no longer counts. Give
    `decide` the times of the alerts *posted on their own* to the channel (not the folded ones,
    nor the summary message): then a channel goes back to normal as soon as the window slides
    past its earlier posts, however long a storm of folded alerts lasts.
    """

    limit: int = 5
    per: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if self.limit < 1 or self.per <= timedelta(0):
            raise ValueError("BurstCap needs limit >= 1 and a positive period")

    def decide(self, posted: Iterable[datetime], now: datetime) -> BurstDecision:
        since = now - self.per
        recent = sorted(when for when in posted if when > since)
        if len(recent) < self.limit:
            return BurstDecision(BurstAction.POST, len(recent))
        # Posting again needs len(recent) - limit + 1 of them to leave the window.
        return BurstDecision(
            BurstAction.FOLD, len(recent), recent[len(recent) - self.limit] + self.per
        )
