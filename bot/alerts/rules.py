"""The routing rules' configuration: ``SITREP_ALERT_LEVELS`` (the minimum level to post).

    SITREP_ALERT_LEVELS="low=fatal; high=warning; Payment System=info; Internal Tools=none"

Each ``name=level`` pair sets the minimum level of issue and event alerts, for a priority
(critical, high, medium, low) or for one product by name; ``none`` switches them off. Unset
entries keep `bot.alerts.routing`'s defaults (fatal and error everywhere, warning for critical
and high priority products). Pairs are separated by ``;`` because product names may hold commas.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.alerts.routing import DEFAULT_MIN_LEVEL_BY_PRIORITY, RoutingRules
from bot.alerts.sentry_webhook import LEVELS
from bot.config import ConfigError

VARIABLE = "SITREP_ALERT_LEVELS"
PRIORITIES = ("critical", "high", "medium", "low")


def rules_from_env(env: Mapping[str, str]) -> RoutingRules:
    """The rules `SITREP_ALERT_LEVELS` describes; `ConfigError` names the pair at fault."""
    text = env.get(VARIABLE, "").strip()
    by_priority: dict[str, str | None] = dict(DEFAULT_MIN_LEVEL_BY_PRIORITY)
    by_product: dict[str, str | None] = {}
    for pair in filter(None, (p.strip() for p in text.split(";"))):
        name, equals, level = (part.strip() for part in pair.partition("="))
        level = level.lower()
        if not equals or not name or level not in (*LEVELS, "none"):
            raise ConfigError(
                f"{VARIABLE}: cannot read {pair!r}; write name=level pairs separated by ';', "
                f"the name a priority ({', '.join(PRIORITIES)}) or a product, the level one of "
                f"{', '.join(LEVELS)} or none (e.g. 'low=fatal; Payment System=info')"
            )
        minimum = None if level == "none" else level
        if name.lower() in PRIORITIES:
            by_priority[name.lower()] = minimum
        else:
            by_product[name] = minimum
    return RoutingRules(min_level_by_priority=by_priority, min_level_by_product=by_product)
