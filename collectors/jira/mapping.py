"""Pure functions from Jira payloads to domain rows. One line per Jira quirk, where it bites.

Rows always carry the same columns for one table (the upsert needs that), and every value is a
function of the payload alone, so the same payload always gives the same row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from storage.models import SPRINT_STATES

SOURCE = "jira"
STORY_POINTS_TYPE = "com.pyxis.greenhopper.jira:jsw-story-points"
SPRINT_TYPE = "com.pyxis.greenhopper.jira:gh-sprint"
CLASSIC_POINTS_TYPE = "com.atlassian.jira.plugin.system.customfieldtypes:float"

# statusCategory.key -> our status. Jira has exactly these three (plus "undefined" in odd setups).
STATUS_CATEGORIES = {"new": "todo", "indeterminate": "in_progress", "done": "done"}
# Names that mean "not started" / "finished" when a status was never seen with its category.
_TODO_NAMES = {"to do", "todo", "open", "backlog", "new", "selected for development", "reopened"}
_DONE_NAMES = {"done", "closed", "resolved", "released", "complete", "completed", "won't do"}
TYPES = {
    "story": "story",
    "bug": "bug",
    "task": "task",
    "incident": "incident",
    "epic": "epic",
    "sub-task": "subtask",
    "subtask": "subtask",
}
PRIORITIES = {
    "highest": "critical",
    "blocker": "critical",
    "critical": "critical",
    "high": "high",
    "major": "high",
    "medium": "medium",
    "low": "low",
    "lowest": "low",
    "minor": "low",
    "trivial": "low",
}


@dataclass(frozen=True)
class FieldIds:
    """Site-specific ids of the custom fields we read."""

    story_points: str | None
    sprint: str | None

    def search_fields(self) -> list[str]:
        """What the issue search asks for: only what the mapping reads."""
        base = [
            "summary",
            "issuetype",
            "status",
            "priority",
            "created",
            "updated",
            "resolutiondate",
            "assignee",
            "reporter",
            "labels",
            "parent",
            "project",
        ]
        return base + [f for f in (self.story_points, self.sprint) if f]


def discover_fields(fields: Iterable[Mapping[str, Any]]) -> FieldIds:
    """Find story points and sprint among the site's fields by their type, never by name."""
    by_type: dict[str, str] = {}
    named_points: str | None = None
    for field in fields:
        schema = field.get("schema") or {}
        custom = schema.get("custom")
        if isinstance(custom, str) and custom not in by_type:
            by_type[custom] = str(field["id"])
        # Classic projects may only have the plain number field called "Story Points".
        if custom == CLASSIC_POINTS_TYPE and str(field.get("name", "")).lower() == "story points":
            named_points = str(field["id"])
    return FieldIds(by_type.get(STORY_POINTS_TYPE) or named_points, by_type.get(SPRINT_TYPE))


def parse_time(value: str | None) -> dt.datetime | None:
    """``2023-06-24T21:24:50.000+0200`` (platform) or ``...000Z`` (agile) -> aware UTC."""
    if not value:
        return None
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC)


def status_category(
    status_id: str | None, name: str | None, known: Mapping[str, str]
) -> str | None:
    """A status (by id, else by name) -> todo / in_progress / done; None for no status."""
    if status_id is None and name is None:
        return None
    if status_id is not None and status_id in known:
        return STATUS_CATEGORIES.get(known[status_id], "in_progress")
    # Changelog items carry only a status id and name, not the category: guess from the name.
    lowered = (name or "").strip().lower()
    if lowered in _TODO_NAMES:
        return "todo"
    if lowered in _DONE_NAMES:
        return "done"
    return "in_progress"


def learn_statuses(issues: Iterable[Mapping[str, Any]], known: dict[str, str]) -> None:
    """Remember each current status's category: the only place Jira tells it."""
    for issue in issues:
        status = (issue.get("fields") or {}).get("status") or {}
        category = (status.get("statusCategory") or {}).get("key")
        if status.get("id") is not None and isinstance(category, str):
            known[str(status["id"])] = category


def _name(user: Mapping[str, Any] | None) -> str | None:
    # Jira Cloud hides e-mail addresses and user names: the display name is what people read.
    if not user:
        return None
    return str(user.get("displayName") or user.get("accountId") or "") or None


def _slim_user(user: Any) -> Any:
    if not isinstance(user, dict):
        return user
    return {"accountId": user.get("accountId"), "displayName": user.get("displayName")}


@dataclass(frozen=True, slots=True)
class History:
    """One changelog history, its time parsed once for every mapping that needs it."""

    id: str
    at: dt.datetime | None
    author: str | None
    items: list[dict[str, Any]]
    raw: dict[str, Any]  # compact: author reduced to its accountId


def parse_histories(issue: Mapping[str, Any]) -> list[History]:
    """The issue's (whole) changelog, however it was fetched: embedded, bulk or per issue."""
    parsed = []
    for history in (issue.get("changelog") or {}).get("histories") or []:
        author = history.get("author") or {}
        items = history.get("items") or []
        raw = {
            "id": history.get("id"),
            "created": history.get("created"),
            "author": author.get("accountId"),
            "items": items,
        }
        parsed.append(
            History(
                str(history["id"]), parse_time(history.get("created")), _name(author), items, raw
            )
        )
    return parsed


def issue_url(base_url: str, key: str) -> str:
    return f"{base_url}/browse/{key}"


def to_work_item(
    issue: Mapping[str, Any],
    changelog: list[History],
    *,
    base_url: str,
    fields: FieldIds,
    known: Mapping[str, str],
) -> dict[str, Any]:
    """An issue and its whole changelog -> a WorkItem row."""
    f = issue.get("fields") or {}
    status = f.get("status") or {}
    issuetype = f.get("issuetype") or {}
    type_name = str(issuetype.get("name") or "")
    work_type = TYPES.get(type_name.lower(), "subtask" if issuetype.get("subtask") else "other")
    priority_name = (f.get("priority") or {}).get("name")
    points = f.get(fields.story_points) if fields.story_points else None
    key = str(issue["key"])
    raw_fields = dict(f)
    for user_field in ("assignee", "reporter", "creator"):
        if user_field in raw_fields:
            raw_fields[user_field] = _slim_user(raw_fields[user_field])
    raw = {
        "id": str(issue["id"]),
        "key": key,
        "fields": raw_fields,
        "changelog": [h.raw for h in changelog],
    }
    return {
        "source": SOURCE,
        "external_id": str(issue["id"]),  # the id survives a move to another project; the key not
        "url": issue_url(base_url, key),
        "key": key,
        "project_key": str((f.get("project") or {}).get("key") or key.rsplit("-", 1)[0]),
        "summary": str(f.get("summary") or ""),
        "type": work_type,
        "original_type": type_name or None,
        "status": status_category(status.get("id"), status.get("name"), known) or "todo",
        "original_status": status.get("name"),
        "priority": PRIORITIES.get(str(priority_name).lower()) if priority_name else None,
        "original_priority": priority_name,
        # Story points arrive as floats (5.0), or null when not estimated.
        "story_points": float(points) if isinstance(points, int | float) else None,
        "assignee": _name(f.get("assignee")),
        "reporter": _name(f.get("reporter")),
        "labels": [str(label) for label in f.get("labels") or []],
        "parent_key": (f.get("parent") or {}).get("key"),
        "created_at": parse_time(f.get("created")),
        "updated_at": parse_time(f.get("updated")),
        "resolved_at": parse_time(f.get("resolutiondate")),
        "raw": raw,
    }


def to_transitions(
    changelog: list[History], work_item_id: int, known: Mapping[str, str], url: str
) -> list[dict[str, Any]]:
    """Status changes in the changelog -> WorkItemTransition rows."""
    rows = []
    for history in changelog:
        for index, item in enumerate(history.items):
            # Filter on fieldId: ``field`` is the display name and is translated on some sites.
            if item.get("fieldId", item.get("field")) != "status":
                continue
            rows.append(
                {
                    "source": SOURCE,
                    # The index counts every item of the history, whatever its field.
                    "external_id": f"{history.id}:{index}",
                    "url": url,
                    "work_item_id": work_item_id,
                    "changed_at": history.at,
                    "from_status": status_category(
                        item.get("from") or None, item.get("fromString") or None, known
                    ),
                    "to_status": status_category(
                        item.get("to") or None, item.get("toString") or None, known
                    ),
                    "original_from_status": item.get("fromString") or None,
                    "original_to_status": item.get("toString") or None,
                    "author": history.author,
                }
            )
    return rows


def _sprint_ids(value: str | None) -> set[str]:
    # Sprint changelog values are comma-separated ids ("12, 15"), and "" (not null) when empty.
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def sprint_spans(
    issue: Mapping[str, Any], changelog: list[History], sprint_field: str | None
) -> dict[str, tuple[dt.datetime | None, dt.datetime | None]]:
    """Sprint id -> (added, removed) from the Sprint changes in the changelog.

    ``added`` is when the sprint first appears, ``removed`` when it last disappears (None while
    the issue is still in it). A sprint in the issue's sprint field with no changelog entry (set
    when the issue was created) counts from the issue's creation.
    """
    events = []
    for history in changelog:
        for item in history.items:
            if item.get("fieldId") == sprint_field or item.get("field") == "Sprint":
                events.append((history.at, int(history.id), item))
    events.sort(key=lambda e: (e[0] or dt.datetime.min.replace(tzinfo=dt.UTC), e[1]))
    spans: dict[str, tuple[dt.datetime | None, dt.datetime | None]] = {}
    for at, _, item in events:
        before, after = _sprint_ids(item.get("from")), _sprint_ids(item.get("to"))
        for sprint in after - before:
            spans[sprint] = (spans[sprint][0] if sprint in spans else at, None)
        for sprint in before - after:
            spans[sprint] = (spans[sprint][0] if sprint in spans else None, at)
    fields = issue.get("fields") or {}
    created = parse_time(fields.get("created"))
    for value in (fields.get(sprint_field) if sprint_field else None) or []:
        current = str(value.get("id")) if isinstance(value, dict) else None
        if current and current not in spans:
            spans[current] = (created, None)
    return spans


def to_incident(work_item: Mapping[str, Any]) -> dict[str, Any] | None:
    """An issue of type Incident -> an Incident row (the deployment is linked later)."""
    if work_item["type"] != "incident":
        return None
    return {
        "source": SOURCE,
        "external_id": work_item["external_id"],
        "url": work_item["url"],
        "key": work_item["key"],
        "title": work_item["summary"],
        "project_key": work_item["project_key"],
        "status": "resolved" if work_item["status"] == "done" else "open",
        "original_status": work_item["original_status"],
        "severity": work_item["priority"],
        "started_at": work_item["created_at"],
        "resolved_at": work_item["resolved_at"],
    }


def board_url(base_url: str, project_key: str | None, board_id: Any) -> str:
    if project_key:
        return f"{base_url}/jira/software/c/projects/{project_key}/boards/{board_id}"
    return f"{base_url}/secure/RapidBoard.jspa?rapidView={board_id}"


def to_board(board: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    location = board.get("location") or {}
    project = location.get("projectKey")
    return {
        "source": SOURCE,
        "external_id": str(board["id"]),
        "url": board_url(base_url, project, board["id"]),
        "name": str(board.get("name") or board["id"]),
        "type": board.get("type"),
        "project_key": project,
        "raw": dict(board),
    }


def to_sprint(
    sprint: Mapping[str, Any], board_row_id: int | None, board_link: str
) -> dict[str, Any]:
    state = str(sprint.get("state") or "").lower()
    return {
        "source": SOURCE,
        "external_id": str(sprint["id"]),
        "url": f"{board_link}?sprint={sprint['id']}",
        "board_id": board_row_id,
        "name": str(sprint.get("name") or sprint["id"]),
        # Agile answers lower case; older servers said "ACTIVE". Anything else is not started.
        "state": state if state in SPRINT_STATES else "future",
        "original_state": sprint.get("state"),
        "goal": sprint.get("goal") or None,
        "started_at": parse_time(sprint.get("startDate")),
        "ends_at": parse_time(sprint.get("endDate")),
        "completed_at": parse_time(sprint.get("completeDate")),
        "raw": dict(sprint),
    }
