"""Sentry's REST API as Sitrep uses it: URLs, bearer auth, cursor pagination; yields raw dicts.

Sentry pages with the ``Link`` header: it always carries both ``rel="previous"`` and
``rel="next"``, and there are more results only while ``next`` says ``results="true"`` (the
``next`` link is present even on the last page). Each page is returned with the cursor of the
page after it, so a sync can checkpoint between pages and resume there after a crash.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from collectors.errors import BadPayload, RequestFailed
from collectors.http import RetryPolicy, SourceClient, parse_link_header

SOURCE = "sentry"
PER_PAGE = 100  # Sentry's maximum; more is a 400
AUTH_HINT = "check SENTRY_TOKEN (an auth token with org:read, project:read and event:read)"


@dataclass(frozen=True)
class Page:
    """One page of a list endpoint: its items, the cursor of the next page (None: last page)."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    hits: int | None = None  # X-Hits: how many items match in total, when Sentry says


class SentryClient:
    """Read (and, for Slack buttons, update) one organisation's Sentry data."""

    def __init__(
        self,
        base_url: str,
        token: str,
        org: str,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
        per_page: int = PER_PAGE,
    ) -> None:
        self.org = org
        self.per_page = per_page
        self.http = SourceClient(
            SOURCE,
            base_url.rstrip("/") + "/api/0/",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            auth_hint=AUTH_HINT,
            policy=policy,
            sleep=sleep,
            timeout=timeout,
        )

    @property
    def requests(self) -> int:
        return self.http.requests

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------ pages

    def page(self, path: str, params: Mapping[str, Any], cursor: str | None = None) -> Page:
        """One page of a list endpoint, starting at ``cursor`` (None: the first page)."""
        query = dict(params)
        if cursor:  # never send an empty cursor: the spec requires a non-empty one
            query["cursor"] = cursor
        body, response = self.http.get_json(path, params=query)
        if not isinstance(body, list):
            raise BadPayload(SOURCE, f"GET {path} returned {type(body).__name__}, not a list")
        nxt = parse_link_header(response.headers.get("link")).get("next", {})
        more = nxt.get("results") == "true" and bool(nxt.get("cursor"))
        hits = response.headers.get("x-hits")
        return Page(
            body, nxt["cursor"] if more else None, int(hits) if hits and hits.isdigit() else None
        )

    def pages(
        self, path: str, params: Mapping[str, Any], cursor: str | None = None
    ) -> Iterator[Page]:
        """Every page from ``cursor`` on, following ``next`` while it has results."""
        while True:
            page = self.page(path, params, cursor)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # ------------------------------------------------------------ endpoints

    def _not_found(self, exc: RequestFailed, what: str) -> RequestFailed:
        if exc.status == 404:
            return RequestFailed(SOURCE, f"{what} not found; check SENTRY_ORG ({self.org!r})", 404)
        return exc

    def list_projects(self) -> list[dict[str, Any]]:
        """Every project of the organisation (one request for up to 100 projects)."""
        path = f"organizations/{quote(self.org, safe='')}/projects/"
        try:
            return [p for page in self.pages(path, {"per_page": self.per_page}) for p in page.items]
        except RequestFailed as exc:
            raise self._not_found(exc, f"organisation {self.org!r}") from exc

    def issue_page(
        self,
        project: str,
        *,
        since: dt.datetime | None,
        cursor: str | None = None,
        stats_period: str = "14d",
    ) -> Page:
        """A page of a project's issues of every status, last seen first.

        ``since`` filters on ``lastSeen >=``; without it every issue comes back. ``query`` is
        always sent: left out, Sentry would only return unresolved issues.
        """
        query = f"lastSeen:>={_search_time(since)}" if since else ""
        path = f"projects/{quote(self.org, safe='')}/{quote(project, safe='')}/issues/"
        params = {
            "query": query,
            "sort": "date",
            "limit": self.per_page,
            "statsPeriod": stats_period,
        }
        try:
            return self.page(path, params, cursor)
        except RequestFailed as exc:
            raise self._not_found(exc, f"project {project!r} of organisation {self.org!r}") from exc

    def release_page(self, projects: Sequence[str], cursor: str | None = None) -> Page:
        """A page of the organisation's releases of ``projects`` (slugs), newest first."""
        path = f"organizations/{quote(self.org, safe='')}/releases/"
        params: dict[str, Any] = {"project": list(projects), "per_page": self.per_page}
        try:
            return self.page(path, params, cursor)
        except RequestFailed as exc:
            raise self._not_found(exc, f"organisation {self.org!r}") from exc

    def get_issue(self, issue_id: str) -> dict[str, Any]:
        path = f"organizations/{quote(self.org, safe='')}/issues/{quote(issue_id, safe='')}/"
        body, _ = self.http.get_json(path)
        if not isinstance(body, dict):
            raise BadPayload(SOURCE, f"GET {path} returned {type(body).__name__}, not an object")
        return body

    def update_issue_status(self, issue_id: str, status: str) -> dict[str, Any]:
        """Resolve, ignore or unresolve an issue (Slack buttons); returns the updated issue."""
        path = f"organizations/{quote(self.org, safe='')}/issues/{quote(issue_id, safe='')}/"
        response = self.http.request("PUT", path, json_body={"status": status}, expect_json=True)
        body = response.json()
        if not isinstance(body, dict):
            raise BadPayload(SOURCE, f"PUT {path} returned {type(body).__name__}, not an object")
        return body


def _search_time(when: dt.datetime) -> str:
    """A date-time for Sentry's search syntax, in UTC, to the second (rounded down)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
