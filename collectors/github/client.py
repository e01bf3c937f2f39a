"""GitHub REST client: URLs, auth, ``link`` pagination and conditional requests; yields raw dicts.

Retries, ``Retry-After`` and the rate-limit headers are `collectors.http.SourceClient`'s job.
Every list is read with ``per_page=100`` (GitHub's maximum) to spend as few requests as possible.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from collectors.errors import BadPayload, RequestFailed
from collectors.http import RetryPolicy, SourceClient, parse_link_header

SOURCE = "github"
DEFAULT_API_URL = "https://api.github.com"
PER_PAGE = 100
RETRY_ROUNDS = 4  # rounds of the retry policy's attempts for one request (see `_get`)
log = logging.getLogger(__name__)
AUTH_HINT = "set GITHUB_TOKEN to a token that can read the repositories in the products file"

Json = dict[str, Any]


@dataclass
class Page:
    """One page of a list: its items, its ETag, and the URL of the next page (if any)."""

    items: list[Json]
    etag: str | None
    next_url: str | None
    not_modified: bool = False
    extra: Json = field(default_factory=dict)  # envelope fields besides the list (total_count)


class GitHubClient:
    """Read-only access to the endpoints Sitrep needs, for one API base URL and token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = SourceClient(
            SOURCE,
            base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                # Plain JSON, not application/vnd.github+json: GitHub answers both the same,
                # and spec-validating proxies (Prism) only know application/json.
                "Accept": "application/json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "sitrep-collector",
            },
            auth_hint=AUTH_HINT,
            policy=policy,
            sleep=sleep,
            transport=transport,
        )

    @property
    def requests(self) -> int:
        return self.http.requests

    def close(self) -> None:
        self.http.close()

    def _get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Any, httpx.Response]:
        """`SourceClient.get_json`, given a few more rounds when its retries ran out.

        Our worker threads share the server's bad moments: while one request retries, the
        others take the slots in between, so one unlucky request can meet a fault on every
        attempt. Another round of attempts (after the policy's backoff) rides that out; a
        request that keeps failing still fails the scope.
        """
        for round_ in range(RETRY_ROUNDS):
            try:
                return self.http.get_json(url, params=params, headers=headers)
            except RequestFailed as exc:
                if exc.status is not None or round_ == RETRY_ROUNDS - 1:
                    raise
                log.info("github GET %s: %s; another round of retries", url, exc)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ lists

    def get_page(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        *,
        etag: str | None = None,
        items_key: str | None = None,
    ) -> Page:
        """One page; with ``etag`` a 304 comes back as ``Page(not_modified=True)``."""
        headers = {"If-None-Match": etag} if etag else None
        try:
            body, response = self._get(url, params, headers)
        except RequestFailed as exc:
            if exc.status == 404:
                raise RequestFailed(
                    SOURCE,
                    f"{url} was not found (404): check the repo name in the products file "
                    "and that GITHUB_TOKEN can see it.",
                    404,
                ) from exc
            raise
        next_url = parse_link_header(response.headers.get("link")).get("next", {}).get("url")
        if response.status_code == 304:
            return Page([], etag, None, not_modified=True)
        extra: Json = {}
        if items_key is not None:
            if not isinstance(body, dict) or not isinstance(body.get(items_key), list):
                raise BadPayload(SOURCE, f"{url}: expected an object with a {items_key!r} list")
            extra = {k: v for k, v in body.items() if k != items_key}
            body = body[items_key]
        if not isinstance(body, list):
            raise BadPayload(SOURCE, f"{url}: expected a JSON list, got {type(body).__name__}")
        return Page(body, response.headers.get("etag"), next_url, extra=extra)

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        etag: str | None = None,
        items_key: str | None = None,
    ) -> Iterator[Page]:
        """Every page of a list, following ``rel="next"``; stops after a 304 on the first."""
        page = self.get_page(
            path, {**(params or {}), "per_page": PER_PAGE}, etag=etag, items_key=items_key
        )
        yield page
        while page.next_url and not page.not_modified:
            # The next link already carries the query (per_page included).
            page = self.get_page(page.next_url, items_key=items_key)
            yield page

    def list_all(self, path: str, params: Mapping[str, Any] | None = None) -> list[Json]:
        """A whole (short) list: reviews or commits of one PR, statuses of one deployment."""
        return [item for page in self.iter_pages(path, params) for item in page.items]

    # ------------------------------------------------------------ single things

    def get_object(self, path: str) -> Json:
        try:
            body, _ = self._get(path)
        except RequestFailed as exc:
            if exc.status == 404:
                raise RequestFailed(SOURCE, f"{path} was not found (404).", 404) from exc
            raise
        if not isinstance(body, dict):
            raise BadPayload(SOURCE, f"{path}: expected a JSON object")
        return body

    def get_pull(self, repo: str, number: int) -> Json:
        """The single PR: the only place with additions, deletions, changed_files, commits."""
        return self.get_object(f"/repos/{repo}/pulls/{number}")

    def list_reviews(self, repo: str, number: int) -> list[Json]:
        return self.list_all(f"/repos/{repo}/pulls/{number}/reviews")

    def list_pull_commits(self, repo: str, number: int) -> list[Json]:
        return self.list_all(f"/repos/{repo}/pulls/{number}/commits")

    def list_deployment_statuses(self, repo: str, deployment_id: int) -> list[Json]:
        return self.list_all(f"/repos/{repo}/deployments/{deployment_id}/statuses")
