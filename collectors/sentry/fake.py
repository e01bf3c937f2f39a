"""A local Sentry: the sandbox World served over HTTP the way sentry.io's REST API answers.

Endpoints (organisation slug ``world.org``, "acme" in the sandbox)::

    GET /api/0/organizations/{org}/projects/              per_page, cursor, query
    GET /api/0/projects/{org}/{project}/issues/           query, sort, limit, statsPeriod, cursor
    GET /api/0/organizations/{org}/issues/{id}/
    PUT /api/0/organizations/{org}/issues/{id}/           {"status": "resolved"|"ignored"|...}
    GET /api/0/organizations/{org}/releases/              project (repeated), query, per_page,
                                                          cursor

What it models, because the real service does it too:

- every request needs ``Authorization: Bearer <token>``, else 401 with a ``detail``;
- an issue list without ``query`` means ``is:unresolved``: send ``query=`` for every status;
- pagination is the ``Link`` header, always with both ``rel="previous"`` and ``rel="next"``, each
  with ``results="true|false"`` and ``cursor="<value>:<offset>:<is_prev>"``. Issue cursors carry
  the sort value (last seen in ms for ``sort=date``) so a page boundary does not move when issues
  change between requests; projects and releases page by offset (``0:100:0``);
- ``X-Hits`` carries the number of issues that match; ``limit``/``per_page`` above 100 is a 400;
- rate-limit headers on every answer (``X-Sentry-Rate-Limit-Limit``, ``-Remaining``, ``-Reset``
  in epoch seconds, ``-ConcurrentLimit``, ``-ConcurrentRemaining``) and a 429 over the limit;
- unknown organisation, project, issue or path: 404 ``{"detail": ...}``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collectors.fakes import ASGIApp, Message, Receive, Scope, Send
from collectors.sandbox.world import World
from collectors.sentry.fake_render import (
    STATS_PERIODS,
    WEB_URL,
    render_issue,
    render_project,
    render_release,
)
from collectors.sentry.fake_state import SORTS, SearchError, SentryState

SENTRY_TOKEN = "sandbox-sentry-token"
SENTRY_ORG = "acme"
MAX_PER_PAGE = 100
CONCURRENT_LIMIT = 25
NOT_FOUND = "The requested resource does not exist"
T = TypeVar("T")


def sandbox_env(base_url: str) -> dict[str, str]:
    """The environment a `SentryCollector` needs to sync from the fake at ``base_url``."""
    return {
        "SENTRY_URL": base_url,
        "SENTRY_TOKEN": SENTRY_TOKEN,
        "SENTRY_ORG": SENTRY_ORG,
        "SENTRY_WEB_URL": WEB_URL,
    }


def state_of(app: Starlette) -> SentryState:
    """The mutable Sentry data behind an app made by `create_app` (tests change it)."""
    state: SentryState = app.state.sentry
    return state


def create_app(
    world: World,
    *,
    token: str = SENTRY_TOKEN,
    rate_limit: int = 10_000,
    rate_window: int = 1,
) -> Starlette:
    """A Starlette app serving ``world``'s Sentry data; ``rate_limit`` requests per window."""
    api = _Api(world)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = exc.detail
        if exc.status_code == 404 and detail == "Not Found":
            detail = NOT_FOUND
        return JSONResponse({"detail": detail}, status_code=exc.status_code)

    # The gate sits outside the exception handling, so 404s for unknown paths get its headers.
    app = Starlette(
        routes=[
            Route("/api/0/organizations/{org}/projects/", api.projects),
            Route("/api/0/projects/{org}/{project}/issues/", api.issues),
            Route(
                "/api/0/organizations/{org}/issues/{issue_id}/", api.issue, methods=["GET", "PUT"]
            ),
            Route("/api/0/organizations/{org}/releases/", api.releases),
        ],
        middleware=[Middleware(_Gate, token=token, limit=rate_limit, window=rate_window)],
        exception_handlers={HTTPException: http_error},
    )
    app.state.sentry = api.state
    return app


class _Api:
    """The endpoints, over one `SentryState`."""

    def __init__(self, world: World) -> None:
        self.state = SentryState(world)
        teams = sorted({p.owner_team for p in world.products if p.owner_team})
        self.team_of = {
            slug: (str(teams.index(p.owner_team) + 1), p.owner_team)
            for p in world.products
            if p.owner_team
            for slug in p.sentry_projects
        }

    def _check_org(self, request: Request) -> None:
        if str(request.path_params["org"]) != self.state.org:
            raise HTTPException(404, NOT_FOUND)

    async def projects(self, request: Request) -> Response:
        self._check_org(request)
        params = request.query_params
        needle = params.get("query", "").lower()
        found = sorted(
            (
                p
                for p in self.state.projects.values()
                if needle in p.slug or needle in p.name.lower()
            ),
            key=lambda p: p.slug,
        )
        page, links = _offset_page(request, found, _per_page(params.get("per_page")))
        body = [render_project(p, self.state, self.team_of.get(p.slug)) for p in page]
        return JSONResponse(body, headers={"Link": links})

    async def issues(self, request: Request) -> Response:
        self._check_org(request)
        project = self.state.project(str(request.path_params["project"]))
        if project is None:
            raise HTTPException(404, NOT_FOUND)
        params = request.query_params
        # Sentry's quirk: no query at all means "is:unresolved"; an empty one means everything.
        query = params.get("query", "is:unresolved")
        sort = params.get("sort", "date")
        period = params.get("statsPeriod", "24h")
        if period not in STATS_PERIODS:
            raise HTTPException(400, f"Invalid statsPeriod: {period!r}")
        limit = _per_page(params.get("limit"))
        try:
            found = self.state.search(project.slug, query, sort)
        except SearchError as exc:
            raise HTTPException(400, str(exc)) from None
        page, links = _keyed_page(request, found, limit, SORTS[sort])
        body = [render_issue(i, self.state, period) for i in page]
        return JSONResponse(body, headers={"Link": links, "X-Hits": str(len(found))})

    async def issue(self, request: Request) -> Response:
        self._check_org(request)
        issue_id = str(request.path_params["issue_id"])
        found = self.state.issue(issue_id)
        if found is None:
            raise HTTPException(404, NOT_FOUND)
        if request.method == "PUT":
            found = self.state.set_status(issue_id, _status_from(await request.body()))
        return JSONResponse(render_issue(found, self.state, "", detail=True))

    async def releases(self, request: Request) -> Response:
        self._check_org(request)
        params = request.query_params
        try:
            found = self.state.releases_for(params.getlist("project"), params.get("query", ""))
        except SearchError as exc:
            raise HTTPException(400, str(exc)) from None
        page, links = _offset_page(request, found, _per_page(params.get("per_page")))
        body = [render_release(n, r, self.state) for n, r in page]
        return JSONResponse(body, headers={"Link": links})


class _Gate:
    """ASGI middleware: bearer-token auth and Sentry's rate-limit headers on every answer."""

    def __init__(self, app: ASGIApp, *, token: str, limit: int, window: int) -> None:
        self.app = app
        self.token = token
        self.limit = limit
        self.window = window
        self._window_start = 0
        self._used = 0
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        now = time.time()
        start = int(now // self.window * self.window)
        if start != self._window_start:
            self._window_start, self._used = start, 0
        self._used += 1
        self.in_flight += 1
        try:
            headers = {
                "X-Sentry-Rate-Limit-Limit": str(self.limit),
                "X-Sentry-Rate-Limit-Remaining": str(max(0, self.limit - self._used)),
                "X-Sentry-Rate-Limit-Reset": str(start + self.window),
                "X-Sentry-Rate-Limit-ConcurrentLimit": str(CONCURRENT_LIMIT),
                "X-Sentry-Rate-Limit-ConcurrentRemaining": str(
                    max(0, CONCURRENT_LIMIT - self.in_flight)
                ),
            }
            refusal = self._refusal(scope)
            if refusal is not None:
                status, detail = refusal
                response = JSONResponse({"detail": detail}, status_code=status, headers=headers)
                await response(scope, receive, send)
                return
            await self.app(scope, receive, _adding(send, headers))
        finally:
            self.in_flight -= 1

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        if not auth:
            return 401, "Authentication credentials were not provided."
        scheme, _, credential = auth.partition(" ")
        if scheme.lower() != "bearer" or credential.strip() != self.token:
            return 401, "Invalid token"
        if self._used > self.limit or self.in_flight > CONCURRENT_LIMIT:
            return 429, (
                "You are attempting to use this endpoint too frequently. "
                f"Limit is {self.limit} requests in {self.window} seconds"
            )
        return None


def _adding(send: Send, headers: dict[str, str]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            mutable = MutableHeaders(scope=message)
            for key, value in headers.items():
                mutable[key] = value
        await send(message)

    return wrapped


# ---------------------------------------------------------------- pagination


def _per_page(value: str | None) -> int:
    if value is None or value == "":
        return MAX_PER_PAGE
    try:
        number = int(value)
    except ValueError:
        raise HTTPException(400, f"Invalid per_page value: {value!r}") from None
    if number > MAX_PER_PAGE:
        raise HTTPException(400, f"Invalid per_page value. Cannot exceed {MAX_PER_PAGE}.")
    if number < 1:
        raise HTTPException(400, "Invalid per_page value.")
    return number


def _cursor(request: Request) -> tuple[int, int, bool] | None:
    text = request.query_params.get("cursor")
    if text is None:
        return None
    parts = text.split(":")
    try:
        if len(parts) != 3:
            raise ValueError(text)
        value, offset, is_prev = int(parts[0]), int(parts[1]), parts[2] == "1"
    except ValueError:
        raise HTTPException(400, f"Invalid cursor parameter: {text!r}") from None
    if offset < 0:
        raise HTTPException(400, f"Invalid cursor parameter: {text!r}")
    return value, offset, is_prev


def _window(position: int, is_prev: bool, limit: int, total: int) -> tuple[int, int]:
    position = min(max(position, 0), total)
    if is_prev:
        return max(0, position - limit), position
    return position, min(total, position + limit)


def _links(request: Request, prev: tuple[str, bool], nxt: tuple[str, bool]) -> str:
    parts = []
    for rel, (cursor, results) in (("previous", prev), ("next", nxt)):
        url = request.url.include_query_params(cursor=cursor)
        parts.append(f'<{url}>; rel="{rel}"; results="{str(results).lower()}"; cursor="{cursor}"')
    return ", ".join(parts)


def _offset_page(request: Request, items: Sequence[T], limit: int) -> tuple[Sequence[T], str]:
    cursor = _cursor(request)
    position, is_prev = (cursor[1], cursor[2]) if cursor else (0, False)
    start, end = _window(position, is_prev, limit, len(items))
    links = _links(request, (f"0:{start}:1", start > 0), (f"0:{end}:0", end < len(items)))
    return items[start:end], links


def _keyed_page(
    request: Request, items: Sequence[T], limit: int, key: Callable[[T], int]
) -> tuple[Sequence[T], str]:
    """A page of ``items`` (sorted by ``key`` descending) after a ``value:offset`` cursor."""
    cursor = _cursor(request)
    position, is_prev = 0, False
    if cursor is not None:
        value, offset, is_prev = cursor
        position = sum(1 for i in items if key(i) > value) + offset
    start, end = _window(position, is_prev, limit, len(items))

    def encode(pos: int, prev: bool) -> str:
        if pos == 0:
            value = key(items[0]) if items else 0
            return f"{value}:0:{int(prev)}"
        value = key(items[pos - 1])
        offset = 0
        while pos - 1 - offset >= 0 and key(items[pos - 1 - offset]) == value:
            offset += 1
        return f"{value}:{offset}:{int(prev)}"

    links = _links(
        request, (encode(start, True), start > 0), (encode(end, False), end < len(items))
    )
    return items[start:end], links


def _status_from(body: bytes) -> str:
    try:
        data: Any = json.loads(body or b"{}")
    except json.JSONDecodeError:
        raise HTTPException(400, "Malformed JSON body") from None
    status = str(data.get("status")) if isinstance(data, dict) else ""
    # Sentry still accepts the old names: "muted" for ignored, and resolving "in next release".
    status = {"muted": "ignored", "resolvedInNextRelease": "resolved"}.get(status, status)
    if status not in ("resolved", "unresolved", "ignored"):
        raise HTTPException(400, f"Invalid status: {status!r}")
    return status
