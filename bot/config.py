"""The bot's configuration, read once from the environment (README: "Configuration").

Only the Slack token and signing secret are required; everything else has a default a small team
can live with. Source credentials (SENTRY_*, JIRA_*) are read by the collectors' own clients, so
one set of variables serves both syncing and the alert buttons.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
_BURST = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*([smh])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours"}


class ConfigError(ValueError):
    """A variable is missing or malformed; the message names it and says what to set."""


@dataclass(frozen=True, kw_only=True)
class BotConfig:
    """What `sitrep serve` and `sitrep worker` need to talk to Slack and decide who may do what.

    ``admins`` may (un)subscribe channels when set, else anyone may. ``actors`` may press Create,
    Link, Resolve and Ignore on alerts when set, else anyone in the channel may (Slack only shows
    the message to channel members).
    """

    bot_token: str
    signing_secret: str
    app_token: str | None = None
    api_url: str = DEFAULT_SLACK_API_URL
    sentry_client_secret: str | None = None
    admins: frozenset[str] = frozenset()
    actors: frozenset[str] = frozenset()
    burst_limit: int = 5
    burst_per: timedelta = timedelta(minutes=10)
    digest_quiet: str = "post"
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BotConfig:
        missing = [n for n in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET") if not _get(env, n)]
        if missing:
            raise ConfigError(
                f"set {' and '.join(missing)}: the bot token (xoxb-...) is under OAuth & "
                "Permissions and the signing secret under Basic Information of your Slack app "
                "(README: Connect Slack)"
            )
        limit, per = _burst(_get(env, "SITREP_ALERT_BURST") or "5/10m")
        quiet = (_get(env, "SITREP_DIGEST_QUIET") or "post").lower()
        if quiet not in ("post", "skip"):
            raise ConfigError(f"SITREP_DIGEST_QUIET must be post or skip, not {quiet!r}")
        return cls(
            bot_token=_get(env, "SLACK_BOT_TOKEN"),
            signing_secret=_get(env, "SLACK_SIGNING_SECRET"),
            app_token=_get(env, "SLACK_APP_TOKEN") or None,
            api_url=_api_url(_get(env, "SLACK_API_URL")),
            sentry_client_secret=_get(env, "SENTRY_CLIENT_SECRET") or None,
            admins=_ids(_get(env, "SITREP_ADMINS")),
            actors=_ids(_get(env, "SITREP_ALERT_ACTORS")),
            burst_limit=limit,
            burst_per=per,
            digest_quiet=quiet,
            env=dict(env),
        )

    def may_subscribe(self, user_id: str) -> bool:
        return not self.admins or user_id in self.admins

    def may_act(self, user_id: str) -> bool:
        return not self.actors or user_id in self.actors


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _api_url(value: str) -> str:
    # slack_sdk joins base_url and the method name by plain concatenation: keep the slash.
    url = value or DEFAULT_SLACK_API_URL
    return url if url.endswith("/") else url + "/"


def _ids(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in re.split(r"[,\s]+", value) if part.strip())


def _burst(value: str) -> tuple[int, timedelta]:
    found = _BURST.match(value)
    if not found or int(found.group(1)) < 1 or int(found.group(2)) < 1:
        raise ConfigError(
            f"SITREP_ALERT_BURST must look like 5/10m (at most 5 alerts a channel per 10 "
            f"minutes), not {value!r}"
        )
    count, amount, unit = int(found.group(1)), int(found.group(2)), found.group(3)
    return count, timedelta(**{_UNITS[unit]: amount})
