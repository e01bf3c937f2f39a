"""The Jira fake's mutable state: one site's issues, remote links and request budget.

`JiraState` belongs to one app instance. It shares the World's issue records until one is
changed, then copies that one (copy on write), so tests can move an issue along between syncs
without touching the World other fakes or the ground-truth checks read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from collectors.sandbox.generator import STATUS_IDS
from collectors.sandbox.world import Change, JiraIssue, Person, World

# Site-specific custom field ids, as a real site would have them: collectors must discover them.
STORY_POINTS_FIELD = "customfield_10016"  # "Story point estimate" (jsw-story-points)
CLASSIC_POINTS_FIELD = "customfield_10028"  # "Story Points": a plain number field, never filled
RANK_FIELD = "customfield_10019"
SPRINT_FIELD = "customfield_10020"
STORY_POINTS_TYPE = "com.pyxis.greenhopper.jira:jsw-story-points"
SPRINT_TYPE = "com.pyxis.greenhopper.jira:gh-sprint"

# statusCategory key -> (id, name, colour), as Jira Cloud ships them.
STATUS_CATEGORIES = {
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}
STATUS_CATEGORY_OF = {
    "To Do": "new",
    "In Progress": "indeterminate",
    "Code Review": "indeterminate",
    "QA": "indeterminate",
    "Done": "done",
}
ISSUE_TYPE_IDS = {
    "Epic": "10000",
    "Story": "10001",
    "Task": "10002",
    "Subtask": "10003",
    "Bug": "10004",
    "Incident": "10005",
}
PRIORITY_IDS = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
SYSTEM_FIELDS = (
    "summary",
    "issuetype",
    "project",
    "status",
    "priority",
    "created",
    "updated",
    "resolutiondate",
    "resolution",
    "assignee",
    "reporter",
    "creator",
    "labels",
    "description",
)
ALL_FIELDS = (*SYSTEM_FIELDS, STORY_POINTS_FIELD, CLASSIC_POINTS_FIELD, RANK_FIELD, SPRINT_FIELD)
EMBEDDED_HISTORIES = 100  # Jira embeds at most this many changelog histories in an issue
# The API user the sandbox credentials log in as (it reports issues the bot creates).
BOT = Person(
    "sitrep", "Sitrep Bot", "712020:5f1c0a2e-sitrep-bot", "sitrep@acme.example", "platform"
)


@dataclass
class RateLimit:
    """A fixed-window request budget, reported in Jira's X-RateLimit-* headers."""

    limit: int = 10_000
    window: float = 60.0
    _started: float = 0.0
    _used: int = 0

    def take(self, now: float) -> tuple[bool, int, float]:
        """Spend one request: (allowed, remaining, reset epoch seconds)."""
        if now - self._started >= self.window:
            self._started, self._used = now, 0
        reset = self._started + self.window
        if self._used >= self.limit:
            return False, 0, reset
        self._used += 1
        return True, self.limit - self._used, reset


def _wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class JiraState:
    """Issues, remote links and budgets of one fake Jira site."""

    def __init__(
        self,
        world: World,
        *,
        time_zone: str,
        rate_limit: RateLimit | None = None,
        clock: Callable[[], dt.datetime] = _wall_clock,
    ) -> None:
        self.world = world
        self.time_zone = time_zone
        self.tz = ZoneInfo(time_zone)
        self.rate_limit = rate_limit or RateLimit()
        self.clock = clock
        self.bulk_changelog = True  # False: answer 404 there, like a site without the endpoint
        self.people: dict[str, Person] = {p.account_id: p for p in [BOT, *world.people]}
        self.issues: dict[str, JiraIssue] = {i.key: i for i in world.issues}
        self.key_of_id: dict[str, str] = {str(i.id): i.key for i in world.issues}
        self.projects: dict[str, list[str]] = {}
        for product in world.products:
            for key in product.jira_projects:
                self.projects.setdefault(key, [])
        for issue in world.issues:
            self.projects.setdefault(issue.project, []).append(issue.key)
        self.project_names = {
            key: product.name for product in world.products for key in product.jira_projects
        }
        self.remote_links: dict[str, dict[str, dict[str, Any]]] = {}
        self.descriptions: dict[str, dict[str, Any]] = {}  # issue key -> ADF, for created ones
        # Rendered users, statuses, types...: shared dicts, so pages are quick to build.
        self.cache: dict[tuple[str, ...], Any] = {}
        self._owned: set[str] = set()
        self._next_history = 900_000_000
        self._next_issue = 900_000
        self._next_link = 10_000

    # ------------------------------------------------------------ lookups

    def issue(self, key_or_id: str) -> JiraIssue | None:
        key = self.key_of_id.get(key_or_id, key_or_id)
        return self.issues.get(key)

    def project_issues(self, project: str) -> list[JiraIssue]:
        return [self.issues[k] for k in self.projects.get(project, ())]

    def project_id(self, key: str) -> str:
        return str(10_000 + sorted(self.projects).index(key))

    def now_epoch(self) -> float:
        return time.time()

    # ------------------------------------------------------------ changes (tests and the bot)

    def mutable(self, key: str) -> JiraIssue:
        """The issue, copied on first change so the shared World stays as generated."""
        issue = self.issues[key]
        if key not in self._owned:
            issue = dataclasses.replace(
                issue,
                labels=list(issue.labels),
                sprint_ids=list(issue.sprint_ids),
                changes=list(issue.changes),
            )
            self.issues[key] = issue
            self._owned.add(key)
        return issue

    def touch(self, key: str, *, at: dt.datetime | None = None, summary: str | None = None) -> None:
        """Edit an issue (a new summary, or nothing): its ``updated`` moves to ``at``."""
        issue = self.mutable(key)
        if summary is not None:
            issue.summary = summary
        issue.updated = at or self.clock()

    def transition(self, key: str, status: str, *, at: dt.datetime | None = None) -> None:
        """Move an issue to another workflow status, recording it in the changelog."""
        issue = self.mutable(key)
        at = at or self.clock()
        self._next_history += 1
        issue.changes.append(
            Change(
                self._next_history,
                at,
                issue.assignee or issue.reporter,
                "status",
                status_id(issue.status),
                issue.status,
                status_id(status),
                status,
            )
        )
        issue.status = status
        issue.resolved = at if STATUS_CATEGORY_OF.get(status) == "done" else None
        issue.updated = at

    def add_changes(self, key: str, changes: Iterable[Change]) -> None:
        """Append changelog entries as they are (tests use it to grow long changelogs)."""
        issue = self.mutable(key)
        issue.changes.extend(changes)
        issue.changes.sort(key=lambda c: (c.at, c.history_id))
        issue.updated = max(issue.updated, *(c.at for c in issue.changes))

    def next_history_id(self) -> int:
        self._next_history += 1
        return self._next_history

    def create_issue(
        self, *, project: str, type: str, summary: str, priority: str, labels: list[str]
    ) -> JiraIssue:
        now = self.clock()
        self._next_issue += 1
        number = len(self.projects.setdefault(project, [])) + 1
        while f"{project}-{number}" in self.issues:
            number += 1
        reporter = BOT.account_id
        issue = JiraIssue(
            id=self._next_issue,
            key=f"{project}-{number}",
            project=project,
            type=type,
            summary=summary,
            priority=priority,
            status="To Do",
            created=now,
            updated=now,
            resolved=None,
            assignee=None,
            reporter=reporter,
            story_points=None,
            labels=labels,
            sprint_ids=[],
            changes=[],
        )
        self.issues[issue.key] = issue
        self.key_of_id[str(issue.id)] = issue.key
        self.projects[project].append(issue.key)
        self._owned.add(issue.key)
        return issue

    def next_link_id(self) -> int:
        self._next_link += 1
        return self._next_link


def status_id(name: str) -> str:
    """The generator's ids for the sandbox workflow; a stable made-up id for anything else."""
    return STATUS_IDS.get(name) or str(20_000 + zlib.crc32(name.encode()) % 10_000)
