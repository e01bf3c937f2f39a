"""The sandbox organisation as records: the ground truth the fake servers render as each API would.

Records are compact (slotted dataclasses), not API payloads: the fakes turn them into Sentry,
Jira and GitHub JSON on request, so the large sandbox fits in memory and every API view of one
thing agrees with the others. Timestamps are UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from storage.product_file import ProductSpec

# ---------------------------------------------------------------- people


@dataclass(slots=True)
class Person:
    login: str  # GitHub login, Sentry/Jira display handle
    name: str
    account_id: str  # Jira accountId
    email: str
    team: str


# ---------------------------------------------------------------- GitHub


@dataclass(slots=True)
class Commit:
    sha: str
    author: str
    message: str
    committed_at: dt.datetime


@dataclass(slots=True)
class Review:
    id: int
    reviewer: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED
    submitted_at: dt.datetime


@dataclass(slots=True)
class PullRequest:
    id: int
    repo: str
    number: int
    title: str
    author: str
    head: str
    base: str
    labels: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    merged_at: dt.datetime | None
    merge_commit_sha: str | None
    additions: int
    deletions: int
    changed_files: int
    commits: list[Commit]
    reviews: list[Review]
    draft: bool = False

    @property
    def state(self) -> str:
        return "closed" if self.closed_at else "open"


@dataclass(slots=True)
class DeploymentStatus:
    id: int
    state: str  # queued | in_progress | success | failure | error | inactive
    created_at: dt.datetime


@dataclass(slots=True)
class Deployment:
    id: int
    repo: str
    sha: str
    ref: str
    environment: str
    creator: str
    created_at: dt.datetime
    statuses: list[DeploymentStatus]
    shipped: list[int] = field(default_factory=list)  # PR numbers (ground truth, not in the API)

    @property
    def updated_at(self) -> dt.datetime:
        return self.statuses[-1].created_at if self.statuses else self.created_at


@dataclass(slots=True)
class WorkflowRun:
    id: int
    repo: str
    name: str
    run_number: int
    head_branch: str
    head_sha: str
    event: str
    status: str
    conclusion: str | None
    actor: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(slots=True)
class Release:
    id: int
    repo: str
    tag_name: str
    name: str
    target_commitish: str
    author: str
    created_at: dt.datetime
    published_at: dt.datetime


@dataclass(slots=True)
class Repo:
    id: int
    full_name: str
    product: str
    default_branch: str
    deploys_via: str  # deployments | workflow_runs | releases
    pulls: list[PullRequest] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    workflow_runs: list[WorkflowRun] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)


# ---------------------------------------------------------------- Jira


@dataclass(slots=True)
class Change:
    """One item of a changelog history: a status or Sprint field change."""

    history_id: int
    at: dt.datetime
    author: str  # accountId
    field: str  # "status" | "Sprint"
    from_value: str | None
    from_string: str | None
    to_value: str | None
    to_string: str | None


@dataclass(slots=True)
class JiraIssue:
    id: int
    key: str
    project: str
    type: str  # Story | Bug | Task | Incident
    summary: str
    priority: str  # Highest | High | Medium | Low | Lowest
    status: str  # current workflow status name
    created: dt.datetime
    updated: dt.datetime
    resolved: dt.datetime | None
    assignee: str | None  # accountId
    reporter: str
    story_points: float | None
    labels: list[str]
    sprint_ids: list[int]  # sprints the issue is in now (Jira keeps closed ones too)
    changes: list[Change]
    caused_by: int | None = None  # ground truth: the deployment id behind an incident


@dataclass(slots=True)
class Sprint:
    id: int
    board_id: int
    name: str
    state: str  # future | active | closed
    start: dt.datetime | None
    end: dt.datetime | None
    complete: dt.datetime | None
    goal: str


@dataclass(slots=True)
class Board:
    id: int
    name: str
    type: str  # scrum | kanban
    project: str


# ---------------------------------------------------------------- Sentry


@dataclass(slots=True)
class SentryProject:
    id: int
    slug: str
    name: str
    platform: str
    date_created: dt.datetime


@dataclass(slots=True)
class SentryIssue:
    id: int
    project: str  # slug
    short_id: str
    title: str
    culprit: str
    level: str  # fatal | error | warning | info | debug
    status: str  # unresolved | resolved | ignored
    substatus: str | None  # new | ongoing | regressed | escalating | archived_* | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    user_count: int
    daily: dict[dt.date, int]  # events per UTC day
    assignee: str | None = None

    @property
    def count(self) -> int:
        return sum(self.daily.values())


@dataclass(slots=True)
class SentryRelease:
    version: str
    projects: list[str]
    date_created: dt.datetime
    date_released: dt.datetime | None


# ---------------------------------------------------------------- the whole organisation


@dataclass
class Facts:
    """Things the generator planted on purpose, for later tests to find again."""

    bottleneck_board: int = 0
    bottleneck_status: str = ""
    incident_rate: dict[str, float] = field(default_factory=dict)  # product -> share of deploys
    hotfix_branches: tuple[str, ...] = ("hotfix/", "revert-")


@dataclass
class World:
    seed: int
    size: str
    now: dt.datetime
    start: dt.datetime
    org: str
    products: list[ProductSpec]
    people: list[Person]
    repos: dict[str, Repo]
    boards: dict[int, Board]
    sprints: dict[int, Sprint]
    issues: list[JiraIssue]
    sentry_projects: dict[str, SentryProject]
    sentry_issues: dict[str, list[SentryIssue]]
    sentry_releases: list[SentryRelease]
    facts: Facts

    def person(self, login_or_account: str) -> Person:
        return self._people_index()[login_or_account]

    def _people_index(self) -> dict[str, Person]:
        index: dict[str, Person] | None = getattr(self, "_index", None)
        if index is None:
            index = {p.login: p for p in self.people} | {p.account_id: p for p in self.people}
            self._index = index
        return index

    def counts(self) -> dict[str, int]:
        """Sizes, for the sandbox banner and the benchmark report."""
        pulls = sum(len(r.pulls) for r in self.repos.values())
        return {
            "products": len(self.products),
            "people": len(self.people),
            "repos": len(self.repos),
            "pull_requests": pulls,
            "reviews": sum(len(p.reviews) for r in self.repos.values() for p in r.pulls),
            "deployments": sum(len(r.deployments) for r in self.repos.values()),
            "workflow_runs": sum(len(r.workflow_runs) for r in self.repos.values()),
            "releases": sum(len(r.releases) for r in self.repos.values()),
            "jira_issues": len(self.issues),
            "jira_changes": sum(len(i.changes) for i in self.issues),
            "sprints": len(self.sprints),
            "sentry_issues": sum(len(v) for v in self.sentry_issues.values()),
        }
