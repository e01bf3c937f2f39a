"""Talk to Jira Cloud: URLs, Basic auth, pagination; yields raw JSON dicts.

Retries, ``Retry-After`` and request counting come from `collectors.http.SourceClient`. Jira pages
three ways and this module hides all of them: ``nextPageToken``/``isLast`` (issue search, bulk
changelog), ``startAt``/``isLast`` (agile lists, the per-issue changelog).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from collectors.errors import BadPayload, RequestFailed
from collectors.http import RetryPolicy, SourceClient

SOURCE = "jira"
SEARCH_PAGE = 100  # Jira's cap when fields or the changelog are asked for
AGILE_PAGE = 50
CHANGELOG_PAGE = 100
BULK_ISSUES = 1000  # issues per bulk changelog request (Jira's limit)
BULK_PAGE = 1000  # histories per bulk changelog page
AUTH_HINT = "check JIRA_EMAIL and JIRA_TOKEN (an API token of that Atlassian account)"

Histories = list[dict[str, Any]]


class JiraClient:
    """Jira Cloud platform REST v3 and agile REST 1.0, as iterators of raw dicts."""

    def __init__(
        self,
        base_url: str,
        email: str,
        token: str,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = SourceClient(
            SOURCE,
            self.base_url,
            headers={"Accept": "application/json"},
            auth=(email, token),
            auth_hint=AUTH_HINT,
            policy=policy,
            sleep=sleep,
        )
        self._bulk_changelog = True

    @property
    def requests(self) -> int:
        return self.http.requests

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------ site

    def fields(self) -> list[dict[str, Any]]:
        """Every field of the site, custom ones included (``GET /rest/api/3/field``)."""
        body, _ = self.http.get_json("/rest/api/3/field")
        fields: list[dict[str, Any]] = _expect(body, list, "/rest/api/3/field")
        return fields

    def myself(self) -> dict[str, Any]:
        """The API user, whose ``timeZone`` JQL dates are read in."""
        body, _ = self.http.get_json("/rest/api/3/myself")
        user: dict[str, Any] = _expect(body, dict, "/rest/api/3/myself")
        return user

    def approximate_count(self, jql: str) -> int | None:
        """Roughly how many issues match (for a progress bar); None if Jira will not say."""
        try:
            body, _ = self.http.post_json("/rest/api/3/search/approximate-count", {"jql": jql})
        except RequestFailed:
            return None
        count = body.get("count") if isinstance(body, dict) else None
        return count if isinstance(count, int) else None

    # ------------------------------------------------------------ issues

    def iter_search(
        self,
        jql: str,
        *,
        fields: Sequence[str],
        expand: str | None = None,
        page_size: int = SEARCH_PAGE,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of issues matching ``jql`` (``/rest/api/3/search/jql``, token paging)."""
        params: dict[str, Any] = {"jql": jql, "fields": ",".join(fields), "maxResults": page_size}
        if expand:
            params["expand"] = expand
        token: str | None = None
        while True:
            page_params = params if token is None else {**params, "nextPageToken": token}
            body, _ = self.http.get_json("/rest/api/3/search/jql", params=page_params)
            body = _expect(body, dict, "/rest/api/3/search/jql")
            yield _expect(body.get("issues"), list, "/rest/api/3/search/jql issues")
            token = body.get("nextPageToken")
            # isLast is the documented end marker; a missing token ends it too.
            if body.get("isLast", True) or not token:
                return

    def iter_changelog(self, issue: str) -> Iterator[dict[str, Any]]:
        """Every changelog history of one issue (``startAt`` paging)."""
        start = 0
        path = f"/rest/api/3/issue/{issue}/changelog"
        while True:
            body, _ = self.http.get_json(
                path, params={"startAt": start, "maxResults": CHANGELOG_PAGE}
            )
            body = _expect(body, dict, path)
            values = _expect(body.get("values"), list, path)
            yield from values
            start += len(values)
            total = body.get("total")
            if not values or body.get("isLast") or (isinstance(total, int) and start >= total):
                return

    def bulk_changelogs(self, issue_ids: Sequence[str]) -> dict[str, Histories]:
        """Whole changelogs of up to 1000 issues (``POST /rest/api/3/changelog/bulkfetch``).

        One issue's histories may continue on the next page, so they are merged here.
        """
        path = "/rest/api/3/changelog/bulkfetch"
        result: dict[str, Histories] = {i: [] for i in issue_ids}
        token: str | None = None
        while True:
            request: dict[str, Any] = {"issueIdsOrKeys": list(issue_ids), "maxResults": BULK_PAGE}
            if token:
                request["nextPageToken"] = token
            body, _ = self.http.post_json(path, request)
            body = _expect(body, dict, path)
            for log in _expect(body.get("issueChangeLogs", []), list, path):
                histories = log.get("changeHistories") or []
                result.setdefault(str(log.get("issueId")), []).extend(histories)
            token = body.get("nextPageToken")
            if not token:
                return result

    def complete_changelogs(self, issues: list[dict[str, Any]]) -> None:
        """Replace embedded changelogs Jira cut short (over 100 histories) with whole ones.

        Uses the bulk endpoint, and the per-issue one on sites that do not have it.
        """
        short = [
            issue
            for issue in issues
            if (log := issue.get("changelog")) is not None
            and int(log.get("total", 0)) > len(log.get("histories") or [])
        ]
        if not short:
            return
        whole: dict[str, Histories] = {}
        if self._bulk_changelog:
            try:
                for start in range(0, len(short), BULK_ISSUES):
                    ids = [str(i["id"]) for i in short[start : start + BULK_ISSUES]]
                    whole.update(self.bulk_changelogs(ids))
            except RequestFailed as exc:
                if exc.status not in (404, 405):
                    raise
                self._bulk_changelog = False  # an older site: ask issue by issue from now on
                whole = {}
        for issue in short:
            issue_id = str(issue["id"])
            if issue_id not in whole:
                whole[issue_id] = list(self.iter_changelog(issue_id))
            histories = whole[issue_id]
            issue["changelog"] = {
                "startAt": 0,
                "maxResults": len(histories),
                "total": len(histories),
                "histories": histories,
            }

    def get_issue(
        self, key: str, *, fields: Sequence[str] = ("summary", "status")
    ) -> dict[str, Any]:
        """One issue by key or id (``GET /rest/api/3/issue/{key}``); 404 is `RequestFailed`."""
        path = f"/rest/api/3/issue/{quote(key, safe='')}"
        body, _ = self.http.get_json(path, params={"fields": ",".join(fields)})
        issue: dict[str, Any] = _expect(body, dict, path)
        return issue

    def create_issue(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Create an issue (``POST /rest/api/3/issue``): ``{"id", "key", "self"}``.

        ``fields`` as Jira takes them: ``project`` ({"key"}), ``issuetype`` ({"name"}),
        ``summary``, ``priority`` ({"name"}), ``labels``, ``description`` (an ADF document: v3
        refuses plain text). A 400 (a field this project does not take) is `RequestFailed`
        with Jira's ``errors`` in the message; it is not retried.
        """
        path = "/rest/api/3/issue"
        body, _ = self.http.post_json(path, {"fields": dict(fields)})
        created: dict[str, Any] = _expect(body, dict, path)
        if not isinstance(created.get("key"), str):
            raise BadPayload(SOURCE, f"{path} answered without an issue key")
        return created

    def add_remote_link(
        self,
        key: str,
        *,
        global_id: str,
        url: str,
        title: str,
        summary: str | None = None,
        application: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Link ``key`` to a page elsewhere (``POST /rest/api/3/issue/{key}/remotelink``).

        Jira updates the link with the same ``global_id`` instead of adding another, so sending
        it twice (an outbox retry) leaves one link. Returns ``{"id", "self"}``.
        """
        path = f"/rest/api/3/issue/{quote(key, safe='')}/remotelink"
        target: dict[str, Any] = {"url": url, "title": title}
        if summary:
            target["summary"] = summary
        request: dict[str, Any] = {"globalId": global_id, "object": target}
        if application:
            request["application"] = dict(application)
        body, _ = self.http.post_json(path, request)
        link: dict[str, Any] = _expect(body, dict, path)
        return link

    def search_keys(self, jql: str, *, limit: int = 10) -> list[str]:
        """The keys of the first ``limit`` issues matching ``jql`` (one page, newest first if
        the query says so)."""
        path = "/rest/api/3/search/jql"
        params = {"jql": jql, "fields": "summary", "maxResults": limit}
        body, _ = self.http.get_json(path, params=params)
        issues = _expect(_expect(body, dict, path).get("issues"), list, path)
        return [str(i["key"]) for i in issues if isinstance(i, dict) and i.get("key")]

    # ------------------------------------------------------------ agile

    def board(self, board_id: int) -> dict[str, Any]:
        path = f"/rest/agile/1.0/board/{board_id}"
        body, _ = self.http.get_json(path)
        board: dict[str, Any] = _expect(body, dict, path)
        return board

    def iter_sprints(self, board_id: int) -> Iterator[dict[str, Any]]:
        """Every sprint of a scrum board, all states (closed, active, then future)."""
        path = f"/rest/agile/1.0/board/{board_id}/sprint"
        start = 0
        while True:
            body, _ = self.http.get_json(path, params={"startAt": start, "maxResults": AGILE_PAGE})
            body = _expect(body, dict, path)
            values = _expect(body.get("values"), list, path)
            yield from values
            start += len(values)
            if not values or body.get("isLast", True):
                return


def _expect(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise BadPayload(SOURCE, f"{what} answered {type(value).__name__}, not {kind.__name__}")
    return value
