"""The Jira fake's issue endpoints: get, changelog, bulk changelogs, create, remote links."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collectors.jira.fake_http import (
    bad_request,
    base_url,
    int_param,
    json_body,
    not_found,
    page_offset,
    page_token,
)
from collectors.jira.fake_jql import JqlError
from collectors.jira.fake_render import parse_field_list, render_history, render_issue
from collectors.jira.fake_state import ISSUE_TYPE_IDS, PRIORITY_IDS, SPRINT_FIELD, JiraState

CHANGELOG_PAGE_MAX = 100
BULK_CHANGELOG_MAX = 10_000
BULK_ISSUES_MAX = 1000


async def _get_issue(request: Request, state: JiraState) -> Response:
    issue = state.issue(request.path_params["key"])
    if issue is None:
        return not_found("Issue does not exist or you do not have permission to see it.")
    params = request.query_params
    wanted = parse_field_list(params.getlist("fields") or ["*all"])
    changelog = "changelog" in {e.strip() for e in params.get("expand", "").split(",")}
    return JSONResponse(render_issue(base_url(request), state, issue, wanted, changelog=changelog))


async def _issue_changelog(request: Request, state: JiraState) -> Response:
    issue = state.issue(request.path_params["key"])
    if issue is None:
        return not_found("Issue does not exist or you do not have permission to see it.")
    try:
        start = max(0, int_param(request.query_params.get("startAt"), 0))
        size = int_param(request.query_params.get("maxResults"), CHANGELOG_PAGE_MAX)
    except ValueError:
        return bad_request("startAt and maxResults must be numbers.")
    size = max(1, min(size, CHANGELOG_PAGE_MAX))
    base = base_url(request)
    page = issue.changes[start : start + size]
    path = f"{base}/rest/api/3/issue/{issue.key}/changelog"
    last = start + len(page) >= len(issue.changes)
    body: dict[str, Any] = {
        "self": f"{path}?startAt={start}&maxResults={size}",
        "maxResults": size,
        "startAt": start,
        "total": len(issue.changes),
        "isLast": last,
        "values": [render_history(base, state, c) for c in page],
    }
    if not last:
        body["nextPage"] = f"{path}?startAt={start + size}&maxResults={size}"
    return JSONResponse(body)


async def _bulk_changelog(request: Request, state: JiraState) -> Response:  # noqa: PLR0911
    if not state.bulk_changelog:
        return not_found("null for uri: /rest/api/3/changelog/bulkfetch")
    body = await json_body(request)
    if body is None:
        return bad_request("The request body is not valid JSON.")
    keys = body.get("issueIdsOrKeys")
    if not isinstance(keys, list) or not keys:
        return bad_request("issueIdsOrKeys must contain at least one issue.")
    if len(keys) > BULK_ISSUES_MAX:
        return bad_request(f"You can request the changelogs of at most {BULK_ISSUES_MAX} issues.")
    field_ids = body.get("fieldIds") or []
    if len(field_ids) > 10:
        return bad_request("You can filter by at most 10 field ids.")
    try:
        size = max(1, min(int_param(body.get("maxResults"), 1000), BULK_CHANGELOG_MAX))
        offset = page_offset(body.get("nextPageToken"), json.dumps(sorted(map(str, keys))))
    except (JqlError, ValueError):
        return bad_request("The provided next page token or maxResults is invalid.")
    # Issues Jira cannot find (or the user cannot see) are left out without an error.
    found = {i.id: i for i in (state.issue(str(k)) for k in keys) if i is not None}
    wanted_ids = {str(f) for f in field_ids}
    flat = [
        (issue, change)
        for _, issue in sorted(found.items())
        for change in issue.changes
        if not wanted_ids or ("status" if change.field == "status" else SPRINT_FIELD) in wanted_ids
    ]
    page = flat[offset : offset + size]
    base = base_url(request)
    logs: list[dict[str, Any]] = []
    for issue, change in page:  # one issue's histories may continue on the next page
        if not logs or logs[-1]["issueId"] != str(issue.id):
            logs.append({"issueId": str(issue.id), "changeHistories": []})
        logs[-1]["changeHistories"].append(render_history(base, state, change))
    result: dict[str, Any] = {"issueChangeLogs": logs}
    if offset + len(page) < len(flat):
        result["nextPageToken"] = page_token(offset + len(page), json.dumps(sorted(map(str, keys))))
    return JSONResponse(result)


def _named(value: Any, known: dict[str, str]) -> str | None:
    """A ``{"name": ...}`` or ``{"id": ...}`` reference -> the name, if Jira knows it."""
    if not isinstance(value, dict):
        return None
    if value.get("name") in known:
        return str(value["name"])
    by_id = {v: k for k, v in known.items()}
    return by_id.get(str(value.get("id")))


def _is_adf(value: Any) -> bool:
    """An ADF document at its top level: ``{"type": "doc", "version": 1, "content": [...]}``."""
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    )


async def _create_issue(request: Request, state: JiraState) -> Response:
    body = await json_body(request)
    fields = (body or {}).get("fields")
    if not isinstance(fields, dict):
        return bad_request("Issue fields are required.")
    errors: dict[str, str] = {}
    raw_project = fields.get("project")
    project_ref: dict[str, Any] = raw_project if isinstance(raw_project, dict) else {}
    project = str(project_ref.get("key") or "")
    if not project and project_ref.get("id"):
        project = next(
            (k for k in state.projects if state.project_id(k) == str(project_ref["id"])), ""
        )
    if project not in state.projects:
        errors["project"] = "valid project is required"
    kind = _named(fields.get("issuetype"), ISSUE_TYPE_IDS)
    if kind is None:
        errors["issuetype"] = "valid issue type is required"
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors["summary"] = "You must specify a summary of the issue."
    priority = "Medium"
    if "priority" in fields:
        priority = _named(fields["priority"], PRIORITY_IDS) or ""
        if not priority:
            errors["priority"] = "The priority selected is invalid."
    description = fields.get("description")
    if description is not None and not _is_adf(description):
        # Jira Cloud's v3 API takes rich text only as an Atlassian Document (v2 took strings).
        errors["description"] = (
            "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
        )
    labels = fields.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) and " " not in x for x in labels):
        errors["labels"] = "Labels must be a list of words without spaces."
    if errors:
        return bad_request(**errors)
    assert kind is not None and isinstance(summary, str)
    issue = state.create_issue(
        project=project, type=kind, summary=summary.strip(), priority=priority, labels=labels
    )
    if description is not None:
        state.descriptions[issue.key] = description
    self_url = f"{base_url(request)}/rest/api/3/issue/{issue.id}"
    return JSONResponse({"id": str(issue.id), "key": issue.key, "self": self_url}, 201)


async def _remote_links(request: Request, state: JiraState) -> Response:  # noqa: PLR0911
    issue = state.issue(request.path_params["key"])
    if issue is None:
        return not_found("Issue does not exist or you do not have permission to see it.")
    links = state.remote_links.setdefault(issue.key, {})
    if request.method == "GET":
        global_id = request.query_params.get("globalId")
        if global_id is None:
            return JSONResponse(list(links.values()))
        if global_id not in links:
            return not_found("No remote link with that globalId.")
        return JSONResponse(links[global_id])
    body = await json_body(request)
    target = (body or {}).get("object")
    if not isinstance(target, dict):
        return bad_request(object="'object' is required.")
    if not target.get("title"):
        return bad_request(title="'title' is required.")
    if not target.get("url"):
        return bad_request(url="'url' is required.")
    assert body is not None
    global_id = body.get("globalId")
    existing = links.get(global_id) if global_id else None
    link_id = existing["id"] if existing else state.next_link_id()
    link: dict[str, Any] = {
        "id": link_id,
        "self": f"{base_url(request)}/rest/api/3/issue/{issue.key}/remotelink/{link_id}",
        "object": target,
    }
    for name in ("globalId", "application", "relationship"):
        if body.get(name) is not None:
            link[name] = body[name]
    links[str(global_id) if global_id else f"_local:{link_id}"] = link
    return JSONResponse({"id": link_id, "self": link["self"]}, 200 if existing else 201)


ROUTES: list[tuple[str, Callable[[Request, JiraState], Awaitable[Response]], list[str]]] = [
    ("/rest/api/3/issue", _create_issue, ["POST"]),
    ("/rest/api/3/issue/{key}", _get_issue, ["GET"]),
    ("/rest/api/3/issue/{key}/changelog", _issue_changelog, ["GET"]),
    ("/rest/api/3/issue/{key}/remotelink", _remote_links, ["GET", "POST"]),
    ("/rest/api/3/changelog/bulkfetch", _bulk_changelog, ["POST"]),
]
