"""How the Jira fake renders `World` records as Jira Cloud JSON.

Shared sub-objects (users, statuses, issue types) are built once per site and reused, so a page
of a hundred issues with their changelogs is quick to build.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, cast
from zoneinfo import ZoneInfo

from collectors.jira.fake_state import (
    ALL_FIELDS,
    CLASSIC_POINTS_FIELD,
    EMBEDDED_HISTORIES,
    ISSUE_TYPE_IDS,
    PRIORITY_IDS,
    RANK_FIELD,
    SPRINT_FIELD,
    STATUS_CATEGORIES,
    STATUS_CATEGORY_OF,
    STORY_POINTS_FIELD,
    JiraState,
    status_id,
)
from collectors.sandbox.world import Change, JiraIssue, Sprint


def jira_time(value: dt.datetime, tz: ZoneInfo) -> str:
    """Platform API style: milliseconds and a colon-less offset in the API user's time zone."""
    return value.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S.000%z")


def agile_time(value: dt.datetime) -> str:
    """Agile API style (sprint dates): UTC with a ``Z``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def render_user(base: str, state: JiraState, account_id: str | None) -> dict[str, Any] | None:
    """A user as Jira shows one (e-mail hidden); the same dict is reused for each account."""
    if account_id is None:
        return None
    cached = state.cache.get(("user", base, account_id))
    if cached is not None:
        return cast(dict[str, Any], cached)
    person = state.people.get(account_id)
    avatar = f"https://avatars.example/{account_id}.png"
    user = {
        "self": f"{base}/rest/api/3/user?accountId={account_id}",
        "accountId": account_id,
        "accountType": "atlassian",
        "displayName": person.name if person else account_id,
        "active": True,
        "timeZone": state.time_zone,
        "avatarUrls": {size: f"{avatar}?s={size}" for size in ("16x16", "24x24", "32x32", "48x48")},
    }
    state.cache[("user", base, account_id)] = user
    return user


def render_status(base: str, name: str) -> dict[str, Any]:
    category = STATUS_CATEGORY_OF.get(name, "indeterminate")
    cat_id, cat_name, colour = STATUS_CATEGORIES[category]
    sid = status_id(name)
    return {
        "self": f"{base}/rest/api/3/status/{sid}",
        "id": sid,
        "name": name,
        "description": "",
        "statusCategory": {
            "self": f"{base}/rest/api/3/statuscategory/{cat_id}",
            "id": cat_id,
            "key": category,
            "colorName": colour,
            "name": cat_name,
        },
    }


def render_sprint_value(sprint: Sprint) -> dict[str, Any]:
    """One entry of the sprint custom field on an issue."""
    value: dict[str, Any] = {
        "id": sprint.id,
        "name": sprint.name,
        "state": sprint.state,
        "boardId": sprint.board_id,
        "goal": sprint.goal,
    }
    for name, when in (
        ("startDate", sprint.start),
        ("endDate", sprint.end),
        ("completeDate", sprint.complete),
    ):
        if when is not None:
            value[name] = agile_time(when)
    return value


def render_item(change: Change) -> dict[str, Any]:
    if change.field == "status":
        item = {"field": "status", "fieldtype": "jira", "fieldId": "status"}
    else:
        item = {"field": "Sprint", "fieldtype": "custom", "fieldId": SPRINT_FIELD}
    # Jira writes an empty Sprint value as "", never null.
    item["from"] = change.from_value or ""
    item["fromString"] = change.from_string or ""
    item["to"] = change.to_value or ""
    item["toString"] = change.to_string or ""
    return item


def render_history(base: str, state: JiraState, change: Change) -> dict[str, Any]:
    history: dict[str, Any] = {"id": str(change.history_id)}
    author = render_user(base, state, change.author)
    if author is not None:
        history["author"] = author
    history["created"] = jira_time(change.at, state.tz)
    history["items"] = [render_item(change)]
    return history


def parse_field_list(values: Iterable[str]) -> set[str] | None:
    """``fields`` parameter(s) -> the field ids wanted; None means all, an empty set only ``id``."""
    wanted: set[str] = set()
    everything = False
    excluded: set[str] = set()
    for value in values:
        for name in filter(None, (v.strip() for v in value.split(","))):
            if name in ("*all", "*navigable"):
                everything = True
            elif name.startswith("-"):
                excluded.add(name[1:])
            elif name not in ("id", "key"):
                wanted.add(name)
    if excluded and not wanted:
        everything = True
    if everything:
        return {f for f in ALL_FIELDS if f not in excluded}
    return wanted - excluded


def _cached(state: JiraState, key: tuple[str, ...], make: Callable[[], Any]) -> Any:
    value = state.cache.get(key)
    if value is None:
        value = state.cache[key] = make()
    return value


def _issuetype(base: str, state: JiraState, issue: JiraIssue) -> Any:
    type_id = ISSUE_TYPE_IDS.get(issue.type, "10002")
    return _cached(
        state,
        ("issuetype", base, issue.type),
        lambda: {
            "self": f"{base}/rest/api/3/issuetype/{type_id}",
            "id": type_id,
            "name": issue.type,
            "subtask": issue.type == "Subtask",
            "hierarchyLevel": -1 if issue.type == "Subtask" else 0,
        },
    )


def _project(base: str, state: JiraState, issue: JiraIssue) -> Any:
    return _cached(
        state,
        ("project", base, issue.project),
        lambda: {
            "self": f"{base}/rest/api/3/project/{issue.project}",
            "id": state.project_id(issue.project),
            "key": issue.project,
            "name": state.project_names.get(issue.project, issue.project),
            "projectTypeKey": "software",
            "simplified": False,
        },
    )


def _priority(base: str, state: JiraState, issue: JiraIssue) -> Any:
    priority_id = PRIORITY_IDS[issue.priority]
    return _cached(
        state,
        ("priority", base, issue.priority),
        lambda: {
            "self": f"{base}/rest/api/3/priority/{priority_id}",
            "id": priority_id,
            "name": issue.priority,
        },
    )


def _resolution(base: str, state: JiraState, issue: JiraIssue) -> Any:
    if not issue.resolved:
        return None
    return {"self": f"{base}/rest/api/3/resolution/10000", "id": "10000", "name": "Done"}


def _sprints(base: str, state: JiraState, issue: JiraIssue) -> Any:
    return [render_sprint_value(state.world.sprints[s]) for s in issue.sprint_ids] or None


_Renderer = Callable[[str, JiraState, JiraIssue], Any]
_FIELD_RENDERERS: dict[str, _Renderer] = {
    "summary": lambda b, s, i: i.summary,
    "issuetype": _issuetype,
    "project": _project,
    "status": lambda b, s, i: _cached(
        s, ("status", b, i.status), lambda: render_status(b, i.status)
    ),
    "priority": _priority,
    "created": lambda b, s, i: jira_time(i.created, s.tz),
    "updated": lambda b, s, i: jira_time(i.updated, s.tz),
    "resolutiondate": lambda b, s, i: jira_time(i.resolved, s.tz) if i.resolved else None,
    "resolution": _resolution,
    "assignee": lambda b, s, i: render_user(b, s, i.assignee),
    "reporter": lambda b, s, i: render_user(b, s, i.reporter),
    "creator": lambda b, s, i: render_user(b, s, i.reporter),
    "labels": lambda b, s, i: list(i.labels),
    "description": lambda b, s, i: s.descriptions.get(i.key),
    STORY_POINTS_FIELD: lambda b, s, i: i.story_points,
    CLASSIC_POINTS_FIELD: lambda b, s, i: None,
    RANK_FIELD: lambda b, s, i: f"0|i{i.id:06d}:",
    SPRINT_FIELD: _sprints,
}


def render_fields(
    base: str, state: JiraState, issue: JiraIssue, wanted: set[str]
) -> dict[str, Any]:
    """The ``fields`` object, with only the wanted (known) fields."""
    return {
        name: render(base, state, issue)
        for name, render in _FIELD_RENDERERS.items()
        if name in wanted
    }


_ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"


def render_issue(
    base: str,
    state: JiraState,
    issue: JiraIssue,
    wanted: set[str] | None,
    *,
    changelog: bool,
) -> dict[str, Any]:
    """An issue as search and issue GET return it: only ``id`` when no field was asked for."""
    if not wanted and not changelog and wanted is not None:
        return {"id": str(issue.id)}
    body: dict[str, Any] = {
        "expand": _ISSUE_EXPAND,
        "id": str(issue.id),
        "self": f"{base}/rest/api/3/issue/{issue.id}",
        "key": issue.key,
        "fields": render_fields(base, state, issue, set(ALL_FIELDS) if wanted is None else wanted),
    }
    if changelog:
        shown = issue.changes[:EMBEDDED_HISTORIES]
        body["changelog"] = {
            "startAt": 0,
            "maxResults": len(shown),
            "total": len(issue.changes),
            "histories": [render_history(base, state, c) for c in shown],
        }
    return body


def error_body(*messages: str, **errors: str) -> dict[str, Any]:
    """Jira's error shape."""
    return {"errorMessages": list(messages), "errors": dict(errors)}
