"""Sentry payloads -> domain rows (pure functions; every quirk of the API in one line here)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterator
from typing import Any
from urllib.parse import quote

from collectors.errors import BadPayload
from storage.models import ERROR_LEVELS, ERROR_STATUSES

SOURCE = "sentry"
_SHA = re.compile(r"^[0-9a-f]{40}$")

# Sentry levels beyond our five: "sample" is a sampled message, "unknown" an event without one.
_LEVELS = {"sample": "info", "unknown": "error"}
# Statuses beyond our three: "muted" is the old name of ignored; pending_* and reprocessing are
# transient states of an issue that is still open (deletion: about to go, count it as resolved).
_STATUSES = {
    "muted": "ignored",
    "pending_merge": "unresolved",
    "reprocessing": "unresolved",
    "pending_deletion": "resolved",
}
# Kept out of `raw`: the stats series slide with the clock, so storing them would rewrite every
# row on every sync; their counts live in error_event_counts instead.
_VOLATILE = ("stats",)


def parse_time(value: str | None) -> dt.datetime | None:
    """Sentry timestamps: ISO 8601 with a ``Z``, sometimes with microseconds."""
    if not value:
        return None
    when = dt.datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _required_time(raw: dict[str, Any], key: str) -> dt.datetime:
    when = parse_time(raw.get(key))
    if when is None:
        raise BadPayload(SOURCE, f"issue {raw.get('id')} has no {key}")
    return when


def normalise_level(level: str | None) -> str:
    level = (level or "error").lower()
    return level if level in ERROR_LEVELS else _LEVELS.get(level, "error")


def normalise_status(status: str | None) -> str:
    status = (status or "unresolved").lower()
    return status if status in ERROR_STATUSES else _STATUSES.get(status, "unresolved")


def _assignee(assigned: dict[str, Any] | None) -> str | None:
    # assignedTo is a user (email joins people across tools) or a team (named "team:<slug>").
    if not assigned:
        return None
    if assigned.get("type") == "team":
        return f"team:{assigned.get('name') or assigned.get('id')}"
    return str(assigned.get("email") or assigned.get("name") or assigned.get("id"))


def to_error_issue(raw: dict[str, Any], project: str) -> dict[str, Any]:
    """One issue of a project's issue list -> an `ErrorIssue` row."""
    # count is a string (it can exceed JavaScript's integers); userCount is a plain integer.
    count = int(raw.get("count") or 0)
    return {
        "source": SOURCE,
        "external_id": str(raw["id"]),
        "url": raw.get("permalink"),
        # project is an object on issues (its id a string); trust the scope's slug if it is absent.
        "project": (raw.get("project") or {}).get("slug") or project,
        "short_id": raw.get("shortId"),
        "title": raw.get("title") or "",
        "culprit": raw.get("culprit"),
        "level": normalise_level(raw.get("level")),
        "original_level": raw.get("level"),
        "status": normalise_status(raw.get("status")),
        "original_status": raw.get("status"),
        # substatus refines status: new/ongoing/regressed/escalating, archived_* when ignored.
        "substatus": raw.get("substatus"),
        "first_seen": _required_time(raw, "firstSeen"),
        "last_seen": _required_time(raw, "lastSeen"),
        "event_count": count,
        "user_count": int(raw.get("userCount") or 0),
        "assignee": _assignee(raw.get("assignedTo")),
        "raw": {k: v for k, v in raw.items() if k not in _VOLATILE},
    }


def daily_counts(raw: dict[str, Any], period: str = "14d") -> Iterator[tuple[dt.date, int]]:
    """(UTC day, events) from an issue's daily stats series, skipping empty days.

    Buckets start at UTC midnight (epoch seconds). Sentry widens the period to whole buckets, so
    "14d" brings 15 of them: the oldest complete, the newest today's count so far (which the
    next sync's upsert brings up to date).
    """
    for stamp, count in (raw.get("stats") or {}).get(period) or []:
        if count:
            yield dt.datetime.fromtimestamp(int(stamp), dt.UTC).date(), int(count)


def to_releases(
    raw: dict[str, Any], projects: Collection[str], web_url: str, org: str
) -> list[dict[str, Any]]:
    """One org release -> a `Release` row per project of ``projects`` it belongs to.

    A Sentry release (a version) can span projects; Sitrep keeps one row per project (``scope``).
    """
    version = str(raw["version"])
    created = (
        parse_time(raw.get("dateCreated"))
        or parse_time(raw.get("dateStarted"))
        or parse_time(raw.get("dateReleased"))
    )
    if created is None:
        raise BadPayload(SOURCE, f"release {version!r} has no dateCreated")
    # ref is whatever the uploader sent (a sha, a tag, a branch): only a full sha is a sha.
    ref = raw.get("ref") or ""
    sha = (raw.get("lastCommit") or {}).get("id") or (ref if _SHA.match(ref) else None)
    rows = []
    for project in raw.get("projects") or []:
        # Release projects carry an integer id (a string everywhere else): match on the slug.
        slug = project.get("slug")
        if slug not in projects:
            continue
        rows.append(
            {
                "source": SOURCE,
                "external_id": f"{slug}/{version}",
                "url": f"{web_url.rstrip('/')}/organizations/{quote(org, safe='')}/releases/"
                f"{quote(version, safe='')}/?project={project.get('id')}",
                "scope": slug,
                "version": version,
                "name": raw.get("shortVersion") or version,
                "sha": sha,
                "created_at": created,
                "released_at": parse_time(raw.get("dateReleased")),
                "raw": raw,
            }
        )
    return rows
