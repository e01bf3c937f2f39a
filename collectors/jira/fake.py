"""A local fake of Jira Cloud (platform REST v3 + Jira Software agile 1.0) over the sandbox World.

What it models, because collectors trip over exactly these:

- HTTP Basic auth with an account email and an API token, else 401;
- ``/rest/api/3/search/jql`` pages with ``nextPageToken``/``isLast`` and no ``total``, returns
  only ``id`` unless ``fields`` is given, caps ``maxResults`` at 100 (5000 for ids only), and
  embeds at most 100 changelog histories per issue (``total`` says how many there are);
- JQL dates have minute resolution in the API user's time zone, and timestamps are rendered in
  that zone (``2023-06-24T21:24:50.000+0200``);
- the retired ``/rest/api/3/search`` answers 410 Gone;
- story points and sprints are custom fields with site-specific ids, found via ``/field``;
- a fixed-window rate limit with ``X-RateLimit-*`` headers and 429 + ``Retry-After`` over it;
- remote links with the same ``globalId`` are updated (200), not duplicated (201).

Here: the app, auth and rate limits, fields, myself and search. Beside it: `fake_issues` (issue,
changelog, bulk changelog, create, remote links), `fake_agile` (boards, sprints), `fake_jql` (the
JQL subset), `fake_render` (World records -> JSON), `fake_state` (per-app mutable state, with
`JiraState.transition` / `touch` / `add_changes` for tests), `fake_http` (shared helpers).
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collectors.jira import fake_agile, fake_issues
from collectors.jira.fake_http import (
    bad_request,
    base_url,
    int_param,
    json_body,
    page_offset,
    page_token,
)
from collectors.jira.fake_jql import JqlError, parse
from collectors.jira.fake_render import error_body, parse_field_list, render_issue, render_user
from collectors.jira.fake_state import (
    ALL_FIELDS,
    BOT,
    CLASSIC_POINTS_FIELD,
    RANK_FIELD,
    SPRINT_FIELD,
    SPRINT_TYPE,
    STORY_POINTS_FIELD,
    STORY_POINTS_TYPE,
    JiraState,
    RateLimit,
)
from collectors.sandbox.world import World

SANDBOX_EMAIL = "sitrep@acme.example"
SANDBOX_TOKEN = "sandbox-jira-token"
SANDBOX_TIME_ZONE = "Europe/Berlin"  # the API user's zone: JQL dates and timestamps use it
SEARCH_PAGE_MAX = 100
SEARCH_IDS_PAGE_MAX = 5000

Handler = Callable[[Request], Awaitable[Response]]

__all__ = [
    "SANDBOX_EMAIL",
    "SANDBOX_TIME_ZONE",
    "SANDBOX_TOKEN",
    "JiraState",
    "RateLimit",
    "create_app",
    "sandbox_env",
]


def sandbox_env(base_url: str) -> dict[str, str]:
    """The environment a `JiraCollector` needs to talk to a fake served at ``base_url``."""
    return {"JIRA_URL": base_url, "JIRA_EMAIL": SANDBOX_EMAIL, "JIRA_TOKEN": SANDBOX_TOKEN}


def create_app(
    world: World,
    *,
    time_zone: str = SANDBOX_TIME_ZONE,
    rate_limit: RateLimit | None = None,
) -> Starlette:
    """The fake Jira site for ``world``; its `JiraState` is ``app.state.jira``."""
    state = JiraState(world, time_zone=time_zone, rate_limit=rate_limit)

    def route(
        path: str, handler: Callable[[Request, JiraState], Awaitable[Response]], methods: list[str]
    ) -> Route:
        return Route(path, _guarded(state, handler), methods=methods)

    routes = [
        route("/rest/api/3/myself", _myself, ["GET"]),
        route("/rest/api/3/field", _fields, ["GET"]),
        route("/rest/api/3/search", _search_gone, ["GET", "POST"]),
        route("/rest/api/3/search/jql", _search, ["GET", "POST"]),
        route("/rest/api/3/search/approximate-count", _approximate_count, ["POST"]),
        *(route(path, handler, methods) for path, handler, methods in fake_issues.ROUTES),
        *(route(path, handler, methods) for path, handler, methods in fake_agile.ROUTES),
    ]
    app = Starlette(routes=routes)
    app.state.jira = state
    return app


# ---------------------------------------------------------------- auth and rate limits


def _authorised(request: Request) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return decoded == f"{SANDBOX_EMAIL}:{SANDBOX_TOKEN}"


def _guarded(
    state: JiraState, handler: Callable[[Request, JiraState], Awaitable[Response]]
) -> Handler:
    async def endpoint(request: Request) -> Response:
        if not _authorised(request):
            return JSONResponse(
                error_body(
                    "You are not authenticated. Authentication required to perform this operation."
                ),
                401,
                headers={"WWW-Authenticate": 'Basic realm="protected-by-atlassian"'},
            )
        now = state.now_epoch()
        allowed, remaining, reset = state.rate_limit.take(now)
        headers = {
            "X-RateLimit-Limit": str(state.rate_limit.limit),
            "X-RateLimit-Remaining": str(remaining),
            # Jira sends the reset as an ISO 8601 instant, not epoch seconds.
            "X-RateLimit-Reset": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(reset)),
            "X-RateLimit-NearLimit": str(remaining < state.rate_limit.limit / 5).lower(),
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil(reset - now)))
            headers["RateLimit-Reason"] = "jira-burst-based"
            return JSONResponse(error_body("Rate limit exceeded."), 429, headers=headers)
        response = await handler(request, state)
        response.headers.update(headers)
        return response

    return endpoint


# ---------------------------------------------------------------- small endpoints


async def _myself(request: Request, state: JiraState) -> Response:
    user = render_user(base_url(request), state, BOT.account_id) or {}
    return JSONResponse({**user, "emailAddress": SANDBOX_EMAIL, "locale": "en_GB"})


def _field(
    field_id: str, name: str, schema: dict[str, Any], *, custom: bool, clause: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": field_id,
        "key": field_id,
        "name": name,
        "custom": custom,
        "orderable": True,
        "navigable": True,
        "searchable": True,
        "clauseNames": [clause or name.lower()]
        + ([f"cf[{field_id.rsplit('_', 1)[-1]}]"] if custom else []),
        "schema": schema,
    }
    return body


def _custom_schema(
    kind: str, custom: str, field_id: str, items: str | None = None
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind, "custom": custom}
    if items:
        schema["items"] = items
    schema["customId"] = int(field_id.rsplit("_", 1)[-1])
    return schema


async def _fields(request: Request, state: JiraState) -> Response:
    system = [
        ("summary", "Summary", {"type": "string", "system": "summary"}),
        ("issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}),
        ("project", "Project", {"type": "project", "system": "project"}),
        ("status", "Status", {"type": "status", "system": "status"}),
        ("priority", "Priority", {"type": "priority", "system": "priority"}),
        ("created", "Created", {"type": "datetime", "system": "created"}),
        ("updated", "Updated", {"type": "datetime", "system": "updated"}),
        ("resolutiondate", "Resolved", {"type": "datetime", "system": "resolutiondate"}),
        ("resolution", "Resolution", {"type": "resolution", "system": "resolution"}),
        ("assignee", "Assignee", {"type": "user", "system": "assignee"}),
        ("reporter", "Reporter", {"type": "user", "system": "reporter"}),
        ("creator", "Creator", {"type": "user", "system": "creator"}),
        ("labels", "Labels", {"type": "array", "items": "string", "system": "labels"}),
        ("description", "Description", {"type": "string", "system": "description"}),
    ]
    fields = [_field(i, n, s, custom=False, clause=i) for i, n, s in system]
    fields += [
        _field(
            RANK_FIELD,
            "Rank",
            _custom_schema("any", "com.pyxis.greenhopper.jira:gh-lexo-rank", RANK_FIELD),
            custom=True,
        ),
        # A plain number field named "Story Points": matching by name would pick the wrong one.
        _field(
            CLASSIC_POINTS_FIELD,
            "Story Points",
            _custom_schema(
                "number",
                "com.atlassian.jira.plugin.system.customfieldtypes:float",
                CLASSIC_POINTS_FIELD,
            ),
            custom=True,
        ),
        _field(
            STORY_POINTS_FIELD,
            "Story point estimate",
            _custom_schema("number", STORY_POINTS_TYPE, STORY_POINTS_FIELD),
            custom=True,
        ),
        _field(
            SPRINT_FIELD,
            "Sprint",
            _custom_schema("array", SPRINT_TYPE, SPRINT_FIELD, items="json"),
            custom=True,
        ),
    ]
    assert {f["id"] for f in fields} == set(ALL_FIELDS)
    return JSONResponse(fields)


async def _search_gone(request: Request, state: JiraState) -> Response:
    return JSONResponse(
        error_body(
            "The requested API has been removed. Please migrate to the /rest/api/3/search/jql "
            "API. A full migration guideline is available at "
            "https://developer.atlassian.com/changelog/#CHANGE-2046"
        ),
        410,
    )


# ---------------------------------------------------------------- search


def _matching(state: JiraState, jql: str) -> list[Any]:
    query = parse(jql, state.tz)
    if query.projects is not None:
        for key in sorted(query.projects):
            if key.upper() not in state.projects:
                raise JqlError(f"The value '{key}' does not exist for the field 'project'.")
        pool = [i for key in sorted(query.projects) for i in state.project_issues(key.upper())]
    else:
        pool = list(state.issues.values())
    return query.sort([i for i in pool if query.matches(i)])


async def _search(request: Request, state: JiraState) -> Response:
    if request.method == "POST":
        body = await json_body(request)
        if body is None:
            return bad_request("The request body is not valid JSON.")
        jql, token = str(body.get("jql") or ""), body.get("nextPageToken")
        fields = body.get("fields") or ["id"]
        fields = [fields] if isinstance(fields, str) else [str(f) for f in fields]
        expand, raw_max = str(body.get("expand") or ""), body.get("maxResults")
    else:
        params = request.query_params
        jql, token = params.get("jql", ""), params.get("nextPageToken")
        fields = params.getlist("fields") or ["id"]
        expand, raw_max = params.get("expand", ""), params.get("maxResults")
    try:
        size = int_param(raw_max, 50)
        matched = _matching(state, jql)
        offset = page_offset(token, jql)
    except JqlError as exc:
        return bad_request(str(exc))
    except ValueError:
        return bad_request("maxResults must be a number.")
    wanted = parse_field_list(fields)
    changelog = "changelog" in {e.strip() for e in expand.split(",")}
    # The page is capped silently, as Jira does: larger when only ids are asked for.
    cap = SEARCH_IDS_PAGE_MAX if (wanted == set() and not changelog) else SEARCH_PAGE_MAX
    size = max(1, min(size, cap))
    page = matched[offset : offset + size]
    base = base_url(request)
    result: dict[str, Any] = {
        "issues": [render_issue(base, state, i, wanted, changelog=changelog) for i in page]
    }
    end = offset + len(page)
    if end < len(matched):
        result["nextPageToken"] = page_token(end, jql)
    result["isLast"] = end >= len(matched)
    return JSONResponse(result)


async def _approximate_count(request: Request, state: JiraState) -> Response:
    body = await json_body(request)
    try:
        matched = _matching(state, str((body or {}).get("jql") or ""))
    except JqlError as exc:
        return bad_request(str(exc))
    return JSONResponse({"count": len(matched)})
