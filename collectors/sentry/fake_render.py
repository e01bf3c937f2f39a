"""Sandbox records rendered as Sentry's JSON: issues (list and detail), projects, releases.

The shapes follow ../shared/specs/openapi/sentry.json: every field the schema requires is present
with its declared type (``count`` is a string, ``userCount`` an integer, ``stats`` an object of
``[[epoch_seconds, count], ...]`` series). Stats are computed from the issue's events per UTC day,
relative to the sandbox ``now``: daily buckets start at UTC midnight, hourly buckets on the hour.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from collectors.sandbox.world import SentryIssue, SentryProject, SentryRelease
from collectors.sentry.fake_state import SentryState

# Where people look at things: fixed (not the fake's own address) so synced URLs do not depend on
# which port a fake happened to listen on.
WEB_URL = "https://sentry.io"
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
STATS_PERIODS = ("24h", "14d", "")
_PROJECT_FLAGS = (
    *("hasFeedbacks", "hasFlags", "hasMinifiedStackTrace", "hasMonitors", "hasNewFeedbacks"),
    *("hasProfiles", "hasReplays", "hasSessions", "hasInsightsHttp", "hasInsightsDb"),
    *("hasInsightsAssets", "hasInsightsAppStart", "hasInsightsScreenLoad", "hasInsightsVitals"),
    *("hasInsightsCaches", "hasInsightsQueues", "hasInsightsAgentMonitoring", "hasInsightsMCP"),
    *("hasLogs", "hasTraceMetrics", "hasUserReports"),
)
_PRIORITY = {"fatal": "high", "error": "high", "warning": "medium", "info": "low", "debug": "low"}


def iso(when: dt.datetime | None) -> str | None:
    """Sentry's timestamp format: UTC with a ``Z``."""
    if when is None:
        return None
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(when: dt.datetime) -> int:
    return int(when.timestamp())


def daily_series(issue: SentryIssue, now: dt.datetime, days: int) -> list[list[int]]:
    """One bucket per UTC day, from the day ``days`` before ``now`` through today."""
    today = dt.datetime(now.year, now.month, now.day, tzinfo=dt.UTC)
    first = today - days * DAY
    return [
        [_epoch(first + n * DAY), issue.daily.get((first + n * DAY).date(), 0)]
        for n in range(days + 1)
    ]


def hourly_series(issue: SentryIssue, now: dt.datetime) -> list[list[int]]:
    """One bucket per hour over the last 24 hours.

    The sandbox only knows events per day, so a day's events are spread evenly over the hours of
    that day in which the issue was active (between first and last seen).
    """
    top = now.replace(minute=0, second=0, microsecond=0)
    series = []
    for n in range(24, -1, -1):
        start = top - n * HOUR
        series.append([_epoch(start), _hour_share(issue, start)])
    return series


def _hour_share(issue: SentryIssue, start: dt.datetime) -> int:
    total = issue.daily.get(start.date(), 0)
    if not total:
        return 0
    midnight = start.replace(hour=0)
    active = [
        midnight + h * HOUR
        for h in range(24)
        if midnight + h * HOUR <= issue.last_seen and midnight + (h + 1) * HOUR > issue.first_seen
    ]
    if start not in active:
        return 0
    index = active.index(start)
    share, extra = divmod(total, len(active))
    return share + (1 if index < extra else 0)


def _metadata(issue: SentryIssue) -> dict[str, str]:
    # The list schema is a oneOf: an error's {type, value, filename} or a message's {title}.
    kind, sep, value = issue.title.partition(": ")
    if sep and kind.replace(".", "").isidentifier():
        return {"type": kind, "value": value, "filename": issue.culprit}
    return {"title": issue.title}


def render_issue(
    issue: SentryIssue, state: SentryState, stats_period: str, *, detail: bool = False
) -> dict[str, Any]:
    """An issue as the issue list shows it, or (``detail``) as the single-issue GET does."""
    project = state.projects[issue.project]
    assigned: dict[str, str] | None = None
    if issue.assignee:
        person = state.person(issue.assignee)
        if person is not None:
            user_id, name, email = person
            assigned = {"type": "user", "id": user_id, "name": name, "email": email}
    body: dict[str, Any] = {
        "id": str(issue.id),
        "shareId": None,
        "shortId": issue.short_id,
        "title": issue.title,
        "culprit": issue.culprit,
        "permalink": f"{WEB_URL}/organizations/{state.org}/issues/{issue.id}/",
        "logger": None,
        "level": issue.level,
        "status": issue.status,
        "statusDetails": {},
        "substatus": issue.substatus,
        "isPublic": False,
        "platform": project.platform,
        "priority": _PRIORITY.get(issue.level, "medium"),
        "priorityLockedAt": None,
        "project": {
            "id": str(project.id),
            "name": project.name,
            "slug": project.slug,
            "platform": project.platform,
        },
        "type": "error",
        "issueType": "error",
        "issueCategory": "error",
        "metadata": _metadata(issue),
        "numComments": 0,
        "assignedTo": assigned,
        "isBookmarked": False,
        "isSubscribed": False,
        "subscriptionDetails": None,
        "hasSeen": False,
        "annotations": [],
        "isUnhandled": issue.level == "fatal",
        "count": str(issue.count),
        "userCount": issue.user_count,
        "firstSeen": iso(issue.first_seen),
        "lastSeen": iso(issue.last_seen),
    }
    if detail:
        body |= {
            "stats": {
                "24h": hourly_series(issue, state.now),
                "30d": daily_series(issue, state.now, 30),
            },
            "seerFixabilityScore": None,
            "seerAutofixLastTriggered": None,
            "seerExplorerAutofixLastTriggered": None,
            "activity": [],
            "participants": [],
            "seenBy": [],
            "userReportCount": 0,
            "tags": [],
            "firstRelease": None,
            "lastRelease": None,
        }
    elif stats_period == "24h":
        body["stats"] = {"24h": hourly_series(issue, state.now)}
    elif stats_period == "14d":
        body["stats"] = {"14d": daily_series(issue, state.now, 14)}
    else:
        body["stats"] = {}  # required by the schema even when no period was asked for
    return body


def render_project(
    project: SentryProject, state: SentryState, team: tuple[str, str] | None
) -> dict[str, Any]:
    """A project as the organisation's project list shows it; ``team`` is (id, slug)."""
    issues = state.issues.get(project.slug, [])
    latest = max(
        (r for _, r in state.releases if project.slug in r.projects),
        key=lambda r: r.date_created,
        default=None,
    )
    team_body = {"id": team[0], "name": team[1], "slug": team[1]} if team else None
    return {
        "id": str(project.id),
        "slug": project.slug,
        "name": project.name,
        "platform": project.platform,
        "platforms": [project.platform],
        "dateCreated": iso(project.date_created),
        "isBookmarked": False,
        "isMember": True,
        "features": [],
        "firstEvent": iso(min((i.first_seen for i in issues), default=None)),
        "firstTransactionEvent": False,
        "access": ["event:read", "project:read", "org:read"],
        "hasAccess": True,
        **dict.fromkeys(_PROJECT_FLAGS, False),
        "team": team_body,
        "teams": [team_body] if team_body else [],
        "environments": ["production", "staging"],
        "latestRelease": {"version": latest.version} if latest else None,
        "latestDeploys": None,
    }


def render_release(number: int, release: SentryRelease, state: SentryState) -> dict[str, Any]:
    """A release as the organisation's release list shows it; ``number`` is its id."""
    package, at, version = release.version.rpartition("@")
    projects = [state.projects[slug] for slug in release.projects if slug in state.projects]
    return {
        "id": number,
        "version": release.version,
        "shortVersion": version,
        "status": "open",
        "ref": None,
        "url": None,
        "dateCreated": iso(release.date_created),
        "dateReleased": iso(release.date_released),
        "dateStarted": None,
        "owner": None,
        "lastCommit": None,
        "lastDeploy": None,
        "firstEvent": None,
        "lastEvent": None,
        "currentProjectMeta": {},
        "userAgent": None,
        "adoptionStages": None,
        "newGroups": 0,
        "versionInfo": {
            "package": package if at else None,
            "version": {"raw": version},
            "buildHash": None,
        },
        "data": {},
        "commitCount": 0,
        "deployCount": 0,
        "authors": [],
        "projects": [
            {
                "id": p.id,  # an integer here, a string everywhere else in Sentry's API
                "slug": p.slug,
                "name": p.name,
                "platform": p.platform,
                "platforms": [p.platform],
                "hasHealthData": False,
                "newGroups": 0,
            }
            for p in projects
        ],
    }
