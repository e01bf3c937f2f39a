"""The four keys, and the fifth: DORA metrics as defined by the 2024 State of DevOps report.

Pure code over frozen records (`insights.queries.dora` loads them). The definitions, each also in
the README's metric table:

- A **deployment** is a production deployment whose final status is ``success``. Per repo, the
  source is GitHub Deployments; a repo that has never had one falls back to deploy workflow runs,
  then to GitHub releases (the loader picks the origin; see `insights.queries.dora`).
- A **PR ships** with the first deployment of its repo that started at or after its merge.
- An **incident** is caused by the latest deployment of its product's repos that finished at or
  before the incident started, at most ``incident_window`` earlier (72 hours by default).
- A **rework** deployment ships at least one PR whose head branch starts with a rework prefix
  (``hotfix/``, ``revert-``) or that carries a rework label (``hotfix``).

A deployment is "in" a window when it finished inside it; a PR's lead time counts in the window
its deployment finished in; an incident's recovery counts in the window it started in.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, NamedTuple, TypeVar

from insights.common import DAY, HOUR, Metric, Window, hours, median, percentile, ratio

BANDS = ("elite", "high", "medium", "low")


# The records are NamedTuples: a 90-day organisation report builds ~30k of them, and a NamedTuple
# is built by one ``tuple.__new__`` where a frozen dataclass pays one ``object.__setattr__`` per
# field.


class DeploymentRecord(NamedTuple):
    id: int
    repo: str
    finished_at: dt.datetime
    started_at: dt.datetime
    origin: str = "deployment"


class PullRecord(NamedTuple):
    id: int
    repo: str
    number: int
    created_at: dt.datetime
    merged_at: dt.datetime
    first_commit_at: dt.datetime | None = None
    first_review_at: dt.datetime | None = None
    head_branch: str | None = None
    labels: Sequence[str] = ()


class IncidentRecord(NamedTuple):
    id: int
    key: str | None
    project_key: str | None
    started_at: dt.datetime
    resolved_at: dt.datetime | None
    deployment_id: int | None = None  # set when a source links the deployment itself


@dataclass(frozen=True)
class DoraRules:
    """The per-product knobs of the definitions above (see `ProductSettings`)."""

    rework_branch_prefixes: tuple[str, ...] = ("hotfix/", "revert-")
    rework_labels: tuple[str, ...] = ("hotfix",)
    incident_window: dt.timedelta = 72 * HOUR

    def is_rework(self, pull: PullRecord) -> bool:
        branch = pull.head_branch or ""
        if branch.startswith(self.rework_branch_prefixes):
            return True
        if not pull.labels:  # most PRs: no label to compare
            return False
        labels = {label.casefold() for label in pull.labels}
        return any(label.casefold() in labels for label in self.rework_labels)


DEFAULT_RULES = DoraRules()  # the settings of a repo or project that has none


@dataclass(frozen=True)
class DoraInput:
    """Everything the metrics read. ``incident_repos`` maps a Jira project key to the repos of
    the product that owns it (the deployments that can cause its incidents)."""

    deployments: Sequence[DeploymentRecord]
    pulls: Sequence[PullRecord]
    incidents: Sequence[IncidentRecord]
    incident_repos: Mapping[str, tuple[str, ...]]
    rules: Mapping[str, DoraRules]  # by repo; repos not listed use the defaults
    project_rules: Mapping[str, DoraRules]  # by Jira project key
    # Repos with any deployment history: without one, frequency is unknown rather than 0.
    deploying_repos: tuple[str, ...] = ()


class Shipped(NamedTuple):
    """A PR shipped by a deployment: when that deployment finished, and the PR's lead time and
    its phases in hours (the definitions are in `lead_time_for_changes`)."""

    finished_at: dt.datetime
    lead_time: float
    coding: float | None  # None without commit data
    pickup: float | None  # None when nobody reviewed
    review: float
    deploy: float

    @classmethod
    def of(cls, pull: PullRecord, finished: dt.datetime) -> Shipped:
        created, commit, reviewed, merged = (
            pull.created_at,
            pull.first_commit_at,
            pull.first_review_at,
            pull.merged_at,
        )
        return cls(
            finished,
            (finished - (commit or created)) / HOUR,
            None if commit is None else (created - commit) / HOUR,
            None if reviewed is None else (reviewed - created) / HOUR,
            (merged - (reviewed or created)) / HOUR,
            (finished - merged) / HOUR,
        )


@dataclass(frozen=True)
class Links:
    """Who shipped what and what caused what, computed once for every window."""

    deployments: tuple[DeploymentRecord, ...]  # ordered by finish
    shipped: tuple[Shipped, ...]  # ordered by finish
    unshipped: tuple[dt.datetime, ...]  # when each PR that no deployment shipped was merged
    rework: frozenset[int]  # deployments that ship a rework PR (by their repo's rules)
    cause: Mapping[int, int]  # incident id -> deployment id

    def deployments_in(self, window: Window) -> Sequence[DeploymentRecord]:
        return _cut(self.deployments, window)

    def shipped_in(self, window: Window) -> Sequence[Shipped]:
        return _cut(self.shipped, window)


_Finished = TypeVar("_Finished", DeploymentRecord, Shipped)


def _cut(ordered: Sequence[_Finished], window: Window) -> Sequence[_Finished]:
    """The part of ``ordered`` (by finish) that finished inside ``window``."""
    finish = attrgetter("finished_at")
    low = bisect.bisect_left(ordered, window.start, key=finish)
    return ordered[low : bisect.bisect_left(ordered, window.end, lo=low, key=finish)]


def link(data: DoraInput) -> Links:
    """Attach each merged PR to its deployment and each incident to its cause."""
    by_repo: dict[str, list[DeploymentRecord]] = defaultdict(list)
    for deployment in data.deployments:
        by_repo[deployment.repo].append(deployment)
    starts: dict[str, list[dt.datetime]] = {}
    finishes: dict[str, list[DeploymentRecord]] = {}
    for repo, items in by_repo.items():
        items.sort(key=lambda d: (d.started_at, d.id))
        starts[repo] = [d.started_at for d in items]
        finishes[repo] = sorted(items, key=lambda d: (d.finished_at, d.id))

    # One pass over the PRs (~30k in a 90-day organisation report): the link, the lead time
    # and its phases, and whether the PR makes its deployment a rework one.
    shipped: list[Shipped] = []
    unshipped: list[dt.datetime] = []
    rework: set[int] = set()
    for pull in data.pulls:
        repo_starts = starts.get(pull.repo, ())
        index = bisect.bisect_left(repo_starts, pull.merged_at)
        if index == len(repo_starts):
            unshipped.append(pull.merged_at)
            continue
        deployment = by_repo[pull.repo][index]
        shipped.append(Shipped.of(pull, deployment.finished_at))
        if deployment.id not in rework and data.rules.get(pull.repo, DEFAULT_RULES).is_rework(pull):
            rework.add(deployment.id)
    shipped.sort(key=attrgetter("finished_at"))

    known = {d.id for d in data.deployments}
    cause: dict[int, int] = {}
    for incident in data.incidents:
        if incident.deployment_id is not None:
            if incident.deployment_id in known:
                cause[incident.id] = incident.deployment_id
            continue
        project = incident.project_key or ""
        rules = data.project_rules.get(project, DEFAULT_RULES)
        candidates = [
            d
            for repo in data.incident_repos.get(project, ())
            for d in _latest_before(finishes.get(repo, []), incident.started_at)
        ]
        if not candidates:
            continue
        latest = max(candidates, key=lambda d: (d.finished_at, d.id))
        if incident.started_at - latest.finished_at <= rules.incident_window:
            cause[incident.id] = latest.id
    return Links(
        deployments=tuple(sorted(data.deployments, key=lambda d: (d.finished_at, d.id))),
        shipped=tuple(shipped),
        unshipped=tuple(unshipped),
        rework=frozenset(rework),
        cause=cause,
    )


def _latest_before(ordered: list[DeploymentRecord], moment: dt.datetime) -> list[DeploymentRecord]:
    keys = [d.finished_at for d in ordered]
    index = bisect.bisect_right(keys, moment)
    return [ordered[index - 1]] if index else []


# ---------------------------------------------------------------- the metrics


def deployment_frequency(
    inside: Sequence[DeploymentRecord], window: Window, *, known: bool = True
) -> Metric:
    """Production deployments per day in the window, and the median deploy days per ISO week.

    ``inside`` holds the deployments that finished in the window (`Links.deployments_in`).
    Weeks are the ISO weeks that lie wholly inside the window; when none does (a short or
    unaligned window), every ISO week the window touches. ``known`` says whether the scope has
    any deployment history at all: without one the frequency is ``None`` (unknown), with one a
    quiet window is a true 0.
    """
    per_day = len(inside) / window.days
    days = {d.finished_at.date() for d in inside}
    weeks = _weeks(window)
    per_week = [sum(1 for day in week_days if day in days) for week_days in weeks]
    return Metric(
        "deployment_frequency",
        "Deployment frequency",
        per_day if known else None,
        "per day",
        detail={
            "deployments": len(inside),
            "deploy_days_per_week": median(per_week) if known else None,
        },
    )


def _weeks(window: Window) -> list[list[dt.date]]:
    first = window.start.date()
    last = (window.end - dt.timedelta(microseconds=1)).date()
    monday = first - dt.timedelta(days=first.weekday())
    whole, touched = [], []
    while monday <= last:
        week = [monday + dt.timedelta(days=i) for i in range(7)]
        inside = [d for d in week if first <= d <= last]
        start_ok = window.start <= dt.datetime.combine(monday, dt.time(), dt.UTC)
        end_ok = dt.datetime.combine(monday + 7 * DAY, dt.time(), dt.UTC) <= window.end
        if start_ok and end_ok:
            whole.append(week)
        touched.append(inside)
        monday += 7 * DAY
    return whole or touched


def lead_time_for_changes(shipped: Sequence[Shipped]) -> Metric:
    """Median (and p90) hours from a PR's first commit to the end of the deployment that shipped
    it, over PRs whose deployment finished in the window (``shipped``: `Links.shipped_in`);
    each PR counts once.

    A PR without commit data starts at its opening. Phases (medians, hours): coding = first
    commit -> opened; pickup = opened -> first review; review = first review -> merge
    (opened -> merge when nobody reviewed); deploy = merge -> deployment finished.
    """
    # Column by column (zip runs in C); ~12k PRs a window in a 90-day organisation report.
    columns: list[tuple[Any, ...]] = list(zip(*shipped, strict=True)) or [()] * len(Shipped._fields)
    _, lead, coding, pickup, review, deploy = columns
    values = sorted(lead)  # once: the median and p90 below then sort a sorted list
    return Metric(
        "lead_time_for_changes",
        "Lead time for changes",
        median(values),
        "hours",
        detail={
            "p90": percentile(values, 90),
            "pull_requests": len(values),
            "phases": {
                "coding": median(h for h in coding if h is not None),
                "pickup": median(h for h in pickup if h is not None),
                "review": median(review),
                "deploy": median(deploy),
            },
        },
    )


def change_failure_rate(inside: Sequence[DeploymentRecord], links: Links) -> Metric:
    """Share (0-1) of the window's deployments (``inside``) that caused at least one incident."""
    failed = {d.id for d in inside} & set(links.cause.values())
    return Metric(
        "change_failure_rate",
        "Change failure rate",
        ratio(len(failed), len(inside)),
        "fraction",
        detail={"deployments": len(inside), "failed_deployments": len(failed)},
    )


def failed_deployment_recovery_time(
    incidents: Iterable[IncidentRecord], links: Links, window: Window
) -> Metric:
    """Median hours from start to resolution of the incidents that started in the window and
    were caused by a deployment. Unresolved ones are counted beside it, not in it."""
    caused = [i for i in incidents if i.started_at in window and i.id in links.cause]
    resolved = [hours(i.resolved_at - i.started_at) for i in caused if i.resolved_at]
    return Metric(
        "failed_deployment_recovery_time",
        "Failed deployment recovery time",
        median(resolved),
        "hours",
        detail={"incidents": len(caused), "unresolved": len(caused) - len(resolved)},
    )


def deployment_rework_rate(inside: Sequence[DeploymentRecord], links: Links) -> Metric:
    """Share (0-1) of the window's deployments (``inside``) that were unplanned fixes: they ship
    a PR with a rework branch prefix or label (by the settings of the deployment's repo)."""
    rework = sum(1 for d in inside if d.id in links.rework)
    return Metric(
        "deployment_rework_rate",
        "Deployment rework rate",
        ratio(rework, len(inside)),
        "fraction",
        detail={"deployments": len(inside), "rework_deployments": rework},
    )


# ---------------------------------------------------------------- bands

# Upper bounds of elite, high and medium; anything beyond is low. Lower is better except for
# frequency. See the README's DORA band table for where each number comes from.
THRESHOLDS: Mapping[str, tuple[float, float, float]] = {
    "lead_time_for_changes": (24, 7 * 24, 30 * 24),  # hours: a day, a week, a month
    "change_failure_rate": (0.05, 0.10, 0.20),
    "failed_deployment_recovery_time": (1, 24, 7 * 24),  # hours: an hour, a day, a week
    "deployment_rework_rate": (0.02, 0.05, 0.10),
}
# Deployments per day at least: daily (on demand), weekly, monthly.
FREQUENCY_THRESHOLDS = (1.0, 1 / 7, 1 / 30)


def band(metric_id: str, value: float | None) -> str | None:
    """The performance band of a value; ``None`` when there is no value to judge."""
    if metric_id == "deployment_frequency":
        if value is None:
            return None
        for name, floor in zip(BANDS, FREQUENCY_THRESHOLDS, strict=False):
            if value >= floor:
                return name
        return "low"
    if value is None or metric_id not in THRESHOLDS:
        return None
    for name, ceiling in zip(BANDS, THRESHOLDS[metric_id], strict=False):
        if value <= ceiling:
            return name
    return "low"


def overall_band(bands: Iterable[str | None]) -> str | None:
    """The median band of the metrics that have one, rounded towards low (cautious)."""
    ranks = sorted(BANDS.index(b) for b in bands if b is not None)
    if not ranks:
        return None
    return BANDS[ranks[len(ranks) // 2]]


def with_band(metric: Metric, previous: Metric) -> Metric:
    return Metric(
        metric.id,
        metric.label,
        metric.value,
        metric.unit,
        previous=previous.value,
        band=band(metric.id, metric.value),
        detail=metric.detail,
    )


@dataclass(frozen=True)
class DoraResult:
    metrics: tuple[Metric, ...]
    overall_band: str | None
    unshipped_pull_requests: int


def compute(data: DoraInput, window: Window) -> DoraResult:
    """All five metrics for the window, each with the previous window's value and its band."""
    links = link(data)

    def metrics_for(w: Window) -> list[Metric]:
        inside = links.deployments_in(w)
        return [
            deployment_frequency(inside, w, known=bool(data.deploying_repos)),
            lead_time_for_changes(links.shipped_in(w)),
            change_failure_rate(inside, links),
            failed_deployment_recovery_time(data.incidents, links, w),
            deployment_rework_rate(inside, links),
        ]

    current, previous = metrics_for(window), metrics_for(window.previous())
    banded = tuple(with_band(m, p) for m, p in zip(current, previous, strict=True))
    unshipped = sum(1 for merged in links.unshipped if merged in window)
    return DoraResult(banded, overall_band(m.band for m in banded), unshipped)
