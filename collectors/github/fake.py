"""A local GitHub REST API that renders the sandbox `World` the way api.github.com answers.

What it models (and the collector relies on):

- auth: ``Authorization: Bearer <token>`` or ``token <token>``; anything else is a 401
  ``{"message": "Bad credentials"}``; unknown repos, PRs and deployments are a 404 ``Not Found``;
- pagination: ``per_page`` (default 30, at most 100) and ``page``; a ``link`` header with
  ``next``/``last`` and ``prev``/``first`` only when the list has more than one page;
- pull lists: ``state`` (default open), ``sort`` created|updated, ``direction`` (default desc for
  created, asc otherwise), no ``since``; the size fields only on the single-PR GET;
- conditional requests: a weak ``ETag`` on every 200; ``If-None-Match`` with it answers 304 with
  no body, and a 304 does not count against the rate limit;
- the primary rate limit: ``x-ratelimit-{limit,remaining,used,reset,resource}`` on every answer,
  and a 403 ``API rate limit exceeded`` with ``remaining: 0`` once the quota is spent.

The fake keeps its own copies of the record lists, so `GitHubFake`'s helpers can change an item
between two syncs without touching the `World` the app was built from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collectors.github.fake_deliveries import DeliveryRenderer
from collectors.sandbox.world import (
    Deployment,
    DeploymentStatus,
    PullRequest,
    Repo,
    Review,
    WorkflowRun,
    World,
)

SANDBOX_TOKEN = "sandbox-github-token"
DOCS = "https://docs.github.com/rest"
# The sandbox quota is generous so the large benchmark is never throttled; tests pass a small one.
DEFAULT_RATE_LIMIT = 1_000_000
RATE_WINDOW = 3600.0
UNAUTHENTICATED_LIMIT = 60
T = TypeVar("T")


def sandbox_env(base_url: str) -> dict[str, str]:
    """The environment a collector needs to talk to a fake served at ``base_url``."""
    return {"GITHUB_API_URL": base_url, "GITHUB_TOKEN": SANDBOX_TOKEN}


class GitHubFake:
    """The fake's mutable state: repos (own list copies), rate-limit counters, renderers."""

    def __init__(
        self,
        world: World,
        *,
        token: str = SANDBOX_TOKEN,
        rate_limit: int = DEFAULT_RATE_LIMIT,
        rate_window: float = RATE_WINDOW,
    ) -> None:
        self.world = world
        self.token = token
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.repos: dict[str, Repo] = {
            name: dataclasses.replace(
                repo,
                pulls=list(repo.pulls),
                deployments=list(repo.deployments),
                workflow_runs=list(repo.workflow_runs),
                releases=list(repo.releases),
            )
            for name, repo in world.repos.items()
        }
        self.used = 0
        self.reset_at = time.time() + rate_window
        self._lock = threading.Lock()
        self.render = DeliveryRenderer(world)
        self._cache: dict[tuple[str, str], Any] = {}

    # ------------------------------------------------------------ changing the world (tests)

    def update_pull(self, repo: str, number: int, **changes: Any) -> PullRequest:
        """Replace PR ``number`` with a copy carrying ``changes`` (pass ``updated_at`` too)."""
        pulls = self.repos[repo].pulls
        index = next(i for i, p in enumerate(pulls) if p.number == number)
        pulls[index] = dataclasses.replace(pulls[index], **changes)
        self._cache.clear()
        return pulls[index]

    def add_review(self, repo: str, number: int, review: Review) -> PullRequest:
        """Add a review; like GitHub, submitting one bumps the PR's ``updated_at``."""
        pr = next(p for p in self.repos[repo].pulls if p.number == number)
        return self.update_pull(
            repo,
            number,
            reviews=[*pr.reviews, review],
            updated_at=max(pr.updated_at, review.submitted_at),
        )

    def add_pull(self, repo: str, pr: PullRequest) -> None:
        self.repos[repo].pulls.append(pr)
        self._cache.clear()

    def add_deployment_status(
        self, repo: str, deployment_id: int, status: DeploymentStatus
    ) -> Deployment:
        """Append a status to a deployment (which bumps its ``updated_at``)."""
        deployments = self.repos[repo].deployments
        index = next(i for i, d in enumerate(deployments) if d.id == deployment_id)
        old = deployments[index]
        deployments[index] = dataclasses.replace(old, statuses=[*old.statuses, status])
        self._cache.clear()
        return deployments[index]

    def add_workflow_run(self, repo: str, run: WorkflowRun) -> None:
        self.repos[repo].workflow_runs.append(run)
        self._cache.clear()

    # ------------------------------------------------------------ helpers for the routes

    def cached(self, repo: Repo, key: str, build: Callable[[], T]) -> T:
        """A view of ``repo`` (a sorted list, an index) built once until the next change."""
        cache_key = (repo.full_name, key)
        if cache_key not in self._cache:
            self._cache[cache_key] = build()
        value: T = self._cache[cache_key]
        return value

    def charge(self) -> tuple[bool, dict[str, str]]:
        """Count one request against the quota; returns (allowed, rate-limit headers)."""
        with self._lock:
            now = time.time()
            if now >= self.reset_at:
                self.used, self.reset_at = 0, now + self.rate_window
            allowed = self.used < self.rate_limit
            if allowed:
                self.used += 1
            return allowed, self.rate_headers()

    def rate_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(max(0, self.rate_limit - self.used)),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-reset": str(int(self.reset_at)),
            "x-ratelimit-resource": "core",
        }

    def authorised(self, request: Request) -> bool:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() in ("bearer", "token") and credentials.strip() == self.token


# ---------------------------------------------------------------- responses


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"message": message, "documentation_url": DOCS, "status": str(status)}
    return Response(
        _dumps(body), status, headers=headers, media_type="application/json; charset=utf-8"
    )


def _etag(body: bytes) -> str:
    return f'W/"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in wanted or etag.removeprefix("W/") in wanted


class Answer:
    """A 200 body plus extra headers (``link``), turned into a response by `_respond`."""

    def __init__(self, body: Any, headers: dict[str, str] | None = None) -> None:
        self.body = body
        self.headers = headers or {}


Handler = Callable[[GitHubFake, Request], Answer]


def _respond(fake: GitHubFake, request: Request, answer: Answer) -> Response:
    body = _dumps(answer.body)
    etag = _etag(body)
    headers = {
        "etag": etag,
        "cache-control": "private, max-age=60, s-maxage=60",
        "vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
        "x-github-api-version-selected": "2022-11-28",
        **answer.headers,
    }
    if _matches(request.headers.get("if-none-match"), etag):
        # A 304 is free: give back the quota the request was charged.
        with fake._lock:
            fake.used = max(0, fake.used - 1)
            headers |= fake.rate_headers()
        headers.pop("link", None)
        return Response(status_code=304, headers=headers)
    headers |= fake.rate_headers()
    return Response(body, 200, headers=headers, media_type="application/json; charset=utf-8")


def endpoint(handler: Handler, *, free: bool = False) -> Callable[[Request], Any]:
    """Wrap a handler with auth, the rate limit, ETags and GitHub-style errors."""

    async def route(request: Request) -> Response:
        fake: GitHubFake = request.app.state.github
        if not fake.authorised(request):
            headers = {
                "x-ratelimit-limit": str(UNAUTHENTICATED_LIMIT),
                "x-ratelimit-remaining": str(UNAUTHENTICATED_LIMIT - 1),
                "x-ratelimit-used": "1",
                "x-ratelimit-reset": str(int(time.time() + RATE_WINDOW)),
                "x-ratelimit-resource": "core",
            }
            return error(401, "Bad credentials", headers)
        if free:
            headers = fake.rate_headers()
        else:
            allowed, headers = fake.charge()
            if not allowed:
                return error(403, "API rate limit exceeded for user ID 1000.", headers)
        try:
            answer = handler(fake, request)
        except HTTPException as exc:
            return error(exc.status_code, exc.detail, headers)
        return _respond(fake, request, answer)

    return route


def not_found(detail: str = "Not Found") -> HTTPException:
    return HTTPException(404, detail)


def invalid(field: str, value: str) -> HTTPException:
    return HTTPException(422, f"Validation Failed: {field} {value!r} is not a valid value")


# ---------------------------------------------------------------- query helpers


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.query_params.get(name, default))
    except ValueError:
        value = default
    return max(low, min(high, value))


def paginate(
    request: Request,
    items: Sequence[T],
    render: Callable[[T], Any],
    *,
    limit: int | None = None,
) -> Answer:
    """One page of ``items``, rendered, with GitHub's ``link`` header."""
    per_page = _int(request, "per_page", 30, 1, 100)
    page = _int(request, "page", 1, 1, 10**9)
    total = len(items) if limit is None else min(limit, len(items))
    start = (page - 1) * per_page
    chunk = [render(item) for item in items[start : min(start + per_page, total)]]
    return Answer(chunk, _link_header(request, page, per_page, total))


def _link_header(request: Request, page: int, per_page: int, total: int) -> dict[str, str]:
    last = max(1, -(-total // per_page))
    if last == 1:
        return {}  # GitHub sends no link header when everything fits on one page

    def url(n: int) -> str:
        return str(request.url.include_query_params(page=n, per_page=per_page))

    links = []
    if page < last:
        links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
    if page > 1:
        links += [f'<{url(1)}>; rel="first"', f'<{url(min(page - 1, last))}>; rel="prev"']
    return {"link": ", ".join(links)} if links else {}


def repo_of(fake: GitHubFake, request: Request) -> Repo:
    name = f"{request.path_params['owner']}/{request.path_params['repo']}"
    repo = fake.repos.get(name)
    if repo is None:
        raise not_found()
    return repo


def create_app(
    world: World,
    *,
    token: str = SANDBOX_TOKEN,
    rate_limit: int = DEFAULT_RATE_LIMIT,
    rate_window: float = RATE_WINDOW,
) -> Starlette:
    """The fake GitHub API over ``world``; its state is ``app.state.github`` (a `GitHubFake`)."""
    from collectors.github import fake_routes as r

    prefix = "/repos/{owner}/{repo}"
    routes = [
        Route("/rate_limit", endpoint(r.rate_limit, free=True)),
        Route(prefix, endpoint(r.repository)),
        Route(f"{prefix}/pulls", endpoint(r.pulls)),
        Route(prefix + "/pulls/{number:int}", endpoint(r.pull)),
        Route(prefix + "/pulls/{number:int}/reviews", endpoint(r.reviews)),
        Route(prefix + "/pulls/{number:int}/commits", endpoint(r.commits)),
        Route(f"{prefix}/deployments", endpoint(r.deployments)),
        Route(prefix + "/deployments/{deployment_id:int}/statuses", endpoint(r.statuses)),
        Route(f"{prefix}/actions/runs", endpoint(r.workflow_runs)),
        Route(f"{prefix}/releases", endpoint(r.releases)),
    ]

    async def unknown(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return error(status, "Not Found" if status == 404 else str(exc))

    app = Starlette(routes=routes, exception_handlers={404: unknown, 405: unknown})
    app.state.github = GitHubFake(
        world, token=token, rate_limit=rate_limit, rate_window=rate_window
    )
    return app


def fake_state(app: Starlette) -> GitHubFake:
    """The `GitHubFake` behind an app made by `create_app`."""
    state: GitHubFake = app.state.github
    return state
