"""The fake's Jira Software agile REST 1.0 endpoints: boards, board sprints, sprint issues.

Agile lists page with ``startAt``/``maxResults`` (at most 50) and say ``isLast``; sprint dates are
UTC with a ``Z``; a board's sprints come closed first, then active, then future.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collectors.jira.fake_render import agile_time, error_body, parse_field_list, render_issue
from collectors.jira.fake_state import JiraState
from collectors.sandbox.world import Board, Sprint

AGILE_PAGE_MAX = 50
_STATE_ORDER = {"closed": 0, "active": 1, "future": 2}


def _page_params(request: Request) -> tuple[int, int] | None:
    try:
        start = int(request.query_params.get("startAt") or 0)
        size = int(request.query_params.get("maxResults") or AGILE_PAGE_MAX)
    except ValueError:
        return None
    return max(0, start), max(1, min(size, AGILE_PAGE_MAX))


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse(error_body(message), status)


def render_board(base: str, state: JiraState, board: Board) -> dict[str, Any]:
    name = state.project_names.get(board.project, board.project)
    return {
        "id": board.id,
        "self": f"{base}/rest/agile/1.0/board/{board.id}",
        "name": board.name,
        "type": board.type,
        "isPrivate": False,
        "location": {
            "projectId": int(state.project_id(board.project)),
            "projectKey": board.project,
            "projectName": name,
            "projectTypeKey": "software",
            "displayName": f"{name} ({board.project})",
            "name": f"{name} ({board.project})",
        },
    }


def render_sprint(base: str, sprint: Sprint) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": sprint.id,
        "self": f"{base}/rest/agile/1.0/sprint/{sprint.id}",
        "state": sprint.state,
        "name": sprint.name,
    }
    for name, when in (
        ("startDate", sprint.start),
        ("endDate", sprint.end),
        ("completeDate", sprint.complete),
    ):
        if when is not None:
            body[name] = agile_time(when)
    body["originBoardId"] = sprint.board_id
    body["goal"] = sprint.goal
    return body


def _page(values: list[Any], start: int, size: int) -> dict[str, Any]:
    chunk = values[start : start + size]
    return {
        "maxResults": size,
        "startAt": start,
        "total": len(values),
        "isLast": start + len(chunk) >= len(values),
        "values": chunk,
    }


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def list_boards(request: Request, state: JiraState) -> Response:
    paging = _page_params(request)
    if paging is None:
        return _bad("startAt and maxResults must be numbers.")
    params = request.query_params
    boards = sorted(state.world.boards.values(), key=lambda b: b.id)
    project = params.get("projectKeyOrId")
    if project:
        boards = [b for b in boards if project in (b.project, state.project_id(b.project))]
    if params.get("type"):
        boards = [b for b in boards if b.type in params["type"].split(",")]
    if params.get("name"):
        boards = [b for b in boards if params["name"].lower() in b.name.lower()]
    base = _base(request)
    return JSONResponse(_page([render_board(base, state, b) for b in boards], *paging))


async def get_board(request: Request, state: JiraState) -> Response:
    board = _board(request, state)
    if board is None:
        return _bad("Board does not exist or you do not have permission to see it.", 404)
    return JSONResponse(render_board(_base(request), state, board))


def _board(request: Request, state: JiraState) -> Board | None:
    try:
        board_id = int(request.path_params["board_id"])
    except ValueError:
        return None
    return state.world.boards.get(board_id)


async def board_sprints(request: Request, state: JiraState) -> Response:
    board = _board(request, state)
    if board is None:
        return _bad("Board does not exist or you do not have permission to see it.", 404)
    if board.type != "scrum":
        return _bad("The board does not support sprints")
    paging = _page_params(request)
    if paging is None:
        return _bad("startAt and maxResults must be numbers.")
    wanted = {s.strip() for s in request.query_params.get("state", "").split(",") if s.strip()}
    if wanted - set(_STATE_ORDER):
        return _bad(f"The sprint state(s) {sorted(wanted - set(_STATE_ORDER))} are not valid.")
    sprints = sorted(
        (s for s in state.world.sprints.values() if s.board_id == board.id),
        key=lambda s: (_STATE_ORDER[s.state], s.id),
    )
    if wanted:
        sprints = [s for s in sprints if s.state in wanted]
    base = _base(request)
    return JSONResponse(_page([render_sprint(base, s) for s in sprints], *paging))


async def sprint_issues(request: Request, state: JiraState) -> Response:
    try:
        sprint = state.world.sprints.get(int(request.path_params["sprint_id"]))
    except ValueError:
        sprint = None
    if sprint is None:
        return _bad("Sprint does not exist or you do not have permission to see it.", 404)
    paging = _page_params(request)
    if paging is None:
        return _bad("startAt and maxResults must be numbers.")
    start, size = paging
    board = state.world.boards.get(sprint.board_id)
    pool = state.project_issues(board.project) if board else list(state.issues.values())
    members = sorted((i for i in pool if sprint.id in i.sprint_ids), key=lambda i: i.id)
    wanted = parse_field_list(request.query_params.getlist("fields") or ["*all"])
    changelog = "changelog" in request.query_params.get("expand", "")
    base = _base(request)
    chunk = members[start : start + size]
    return JSONResponse(
        {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": size,
            "total": len(members),
            "issues": [render_issue(base, state, i, wanted, changelog=changelog) for i in chunk],
        }
    )


ROUTES: list[tuple[str, Callable[[Request, JiraState], Awaitable[Response]], list[str]]] = [
    ("/rest/agile/1.0/board", list_boards, ["GET"]),
    ("/rest/agile/1.0/board/{board_id}", get_board, ["GET"]),
    ("/rest/agile/1.0/board/{board_id}/sprint", board_sprints, ["GET"]),
    ("/rest/agile/1.0/sprint/{sprint_id}/issue", sprint_issues, ["GET"]),
]
