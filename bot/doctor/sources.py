"""The source checks: Sentry, Jira and GitHub, each configured as `sitrep sync` configures it.

Each is built with its collector's own `from_env` (so the doctor reads exactly what a sync reads)
with one attempt per request, then makes one cheap authenticated call:

- Sentry: the first page of the organisation's projects (needs ``org:read``);
- Jira: ``GET /rest/api/3/myself``;
- GitHub: ``GET /rate_limit`` (free: it spends none of the quota it reports).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from bot.doctor.model import Check, Status, unreachable_fix
from collectors.errors import AuthenticationFailed, BadPayload, NotConfigured, SourceError
from collectors.github.client import DEFAULT_API_URL
from collectors.github.sync import GitHubCollector
from collectors.http import RetryPolicy
from collectors.jira.sync import JiraCollector
from collectors.sentry.sync import DEFAULT_URL as SENTRY_DEFAULT_URL
from collectors.sentry.sync import SentryCollector

SOURCE_NAMES = ("sentry", "jira", "github")
ONE_ATTEMPT = RetryPolicy(attempts=1)
_STATUS = re.compile(r"\((\d{3})\)")
_RETRIES_SPENT = re.compile(r"still failing after \d+ attempts \((.*)\)\.?$")


@dataclass(frozen=True)
class Source:
    """How to check one source and what to tell a person about it."""

    name: str
    title: str
    variables: tuple[str, ...]  # any of them set: the person meant to configure the source
    url_variable: str
    default_url: str
    token_variable: str
    off: str  # not configured: what to set
    fixes: Mapping[int, str]  # HTTP status -> what to do
    probe: Callable[[Mapping[str, str]], str]  # one call; returns what it found

    def url(self, env: Mapping[str, str]) -> str:
        return env.get(self.url_variable, "").strip() or self.default_url

    def check(self, env: Mapping[str, str]) -> Check:
        if not any(env.get(name, "").strip() for name in self.variables):
            return Check(
                self.name, Status.OFF, f"not configured: sync skips {self.title}", self.off
            )
        try:
            found = self.probe(env)
        except NotConfigured as exc:  # half of the variables set
            return Check(self.name, Status.FAIL, _message(exc), self.off)
        except SourceError as exc:
            return self._failure(env, exc)
        return Check(self.name, Status.OK, found)

    def _failure(self, env: Mapping[str, str], exc: SourceError) -> Check:
        url = self.url(env)
        status = getattr(exc, "status", None)
        if isinstance(exc, AuthenticationFailed):
            found = _STATUS.search(str(exc))
            status = int(found[1]) if found else 401
        if status in (401, 403):
            verdict = "rejected" if status == 401 else "refused access"
            return Check(
                self.name,
                Status.FAIL,
                f"{self.token_variable} {verdict} ({status}) by {url}",
                self.fixes[status],
            )
        if status is not None:
            return Check(
                self.name,
                Status.FAIL,
                _message(exc)[:300],
                self.fixes.get(status, unreachable_fix(self.url_variable, url)),
            )
        if isinstance(exc, BadPayload):
            return Check(
                self.name,
                Status.FAIL,
                f"{url} does not answer like the {self.title} API: {_message(exc)}",
                f"check {self.url_variable}",
            )
        # "GET /x still failing after 1 attempts (ConnectError: ...)." -> the reason alone
        found = _RETRIES_SPENT.search(_message(exc))
        return Check(
            self.name,
            Status.FAIL,
            f"cannot reach {url}: {found[1] if found else _message(exc)}",
            unreachable_fix(self.url_variable, url),
        )


def _message(exc: SourceError) -> str:
    return str(exc).removeprefix(f"{exc.source}: ")


# ---------------------------------------------------------------- the probes


def _probe_sentry(env: Mapping[str, str]) -> str:
    collector = SentryCollector.from_env(env, policy=ONE_ATTEMPT)
    client = collector.client
    try:
        path = f"organizations/{quote(client.org, safe='')}/projects/"
        page = client.page(path, {"per_page": client.per_page})
    finally:
        collector.close()
    count = page.hits or len(page.items)
    more = "+" if page.next_cursor and not page.hits else ""
    where = env.get("SENTRY_URL", "").strip() or SENTRY_DEFAULT_URL
    return f"{where}, organisation {client.org}: {count}{more} projects"


def _probe_jira(env: Mapping[str, str]) -> str:
    collector = JiraCollector.from_env(env, policy=ONE_ATTEMPT)
    try:
        user = collector.client.myself()
    finally:
        collector.close()
    name = user.get("displayName") or user.get("accountId") or "?"
    zone = f", time zone {user['timeZone']}" if user.get("timeZone") else ""
    return f"{collector.client.base_url} as {name}{zone}"


def _probe_github(env: Mapping[str, str]) -> str:
    collector = GitHubCollector.from_env(env, policy=ONE_ATTEMPT)
    try:
        body = collector.client.get_object("/rate_limit")
    finally:
        collector.close()
    core = (body.get("resources") or {}).get("core") or body.get("rate") or {}
    where = env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
    if not isinstance(core.get("remaining"), int):
        return f"{where}: token accepted"
    reset = dt.datetime.fromtimestamp(int(core.get("reset", 0)), dt.UTC).strftime("%H:%M UTC")
    return (
        f"{where}: token accepted; {core['remaining']:,} of {core.get('limit', 0):,} "
        f"requests left until {reset}"
    )


def _github_tokens_page(env: Mapping[str, str]) -> str:
    api = env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
    parts = urlsplit(api)
    web = (
        "https://github.com"
        if parts.netloc in ("api.github.com", "")
        else f"{parts.scheme}://{parts.netloc}"  # GitHub Enterprise: https://HOST/api/v3
    )
    return f"{web}/settings/tokens"


def _sentry_tokens_page(env: Mapping[str, str]) -> str:
    return (env.get("SENTRY_URL", "").strip() or SENTRY_DEFAULT_URL).rstrip("/") + (
        "/settings/account/api/auth-tokens/"
    )


SENTRY_SCOPES = "org:read, project:read and event:read (and event:write for the alert buttons)"
ATLASSIAN_TOKENS = "https://id.atlassian.com/manage-profile/security/api-tokens"


def sources(env: Mapping[str, str]) -> dict[str, Source]:
    """The three sources, with fixes that point at the token pages of the configured hosts."""
    sentry_tokens, github_tokens = _sentry_tokens_page(env), _github_tokens_page(env)
    return {
        "sentry": Source(
            name="sentry",
            title="Sentry",
            variables=("SENTRY_TOKEN", "SENTRY_ORG", "SENTRY_URL"),
            url_variable="SENTRY_URL",
            default_url=SENTRY_DEFAULT_URL,
            token_variable="SENTRY_TOKEN",
            off=f"set SENTRY_TOKEN (an auth token from {sentry_tokens}) and SENTRY_ORG (the "
            "organisation slug), and SENTRY_URL for self-hosted Sentry or another region; the "
            f"token needs {SENTRY_SCOPES}",
            fixes={
                401: f"create an auth token at {sentry_tokens} with {SENTRY_SCOPES}",
                403: f"the token lacks a scope: it needs {SENTRY_SCOPES}",
                404: "check SENTRY_ORG: the organisation slug, as in "
                "https://sentry.io/organizations/<slug>/ (and SENTRY_URL for another region)",
            },
            probe=_probe_sentry,
        ),
        "jira": Source(
            name="jira",
            title="Jira",
            variables=("JIRA_URL", "JIRA_EMAIL", "JIRA_TOKEN"),
            url_variable="JIRA_URL",
            default_url="",  # no default: JIRA_URL is required
            token_variable="JIRA_TOKEN",
            off="set JIRA_URL (the site, e.g. https://acme.atlassian.net), JIRA_EMAIL and "
            f"JIRA_TOKEN (an API token of that account, from {ATLASSIAN_TOKENS})",
            fixes={
                401: f"create an API token at {ATLASSIAN_TOKENS} while signed in as the "
                "JIRA_EMAIL account, and set it as JIRA_TOKEN",
                403: "sign in to Jira once in a browser (too many failed logins ask for a "
                "CAPTCHA), then check JIRA_EMAIL and JIRA_TOKEN",
                404: "check JIRA_URL: the site root, e.g. https://acme.atlassian.net",
            },
            probe=_probe_jira,
        ),
        "github": Source(
            name="github",
            title="GitHub",
            variables=("GITHUB_TOKEN", "GITHUB_API_URL"),
            url_variable="GITHUB_API_URL",
            default_url=DEFAULT_API_URL,
            token_variable="GITHUB_TOKEN",
            off="set GITHUB_TOKEN (a token that can read pull requests, deployments, actions "
            f"and releases of the mapped repos: {github_tokens}); GITHUB_API_URL for "
            "GitHub Enterprise",
            fixes={
                401: f"create a token at {github_tokens} and set it as GITHUB_TOKEN",
                403: "the token is blocked: authorise it for your organisation's SAML SSO, "
                "or check the organisation's IP allow list",
                404: "check GITHUB_API_URL (GitHub Enterprise: https://HOST/api/v3)",
            },
            probe=_probe_github,
        ),
    }
