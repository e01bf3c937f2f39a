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

from insights.common import DAY, HOUR, Metric, Window, hours, median, percentile, ratio

BANDS = ("elite", "high", "medium", "low")


@dataclass(frozen=True)
class DeploymentRecord:
    id: int
    repo: str
    finished_at: dt.datetime
    started_at: dt.datetime
    origin: str = "deployment"


@dataclass(frozen=True)
class PullRecord:
    id: int
    repo: str
    number: int
    created_at: dt.datetime
    merged_at: dt.datetime
    first_commit_at: dt.datetime | None = None
    first_review_at: dt.datetime | None = None
    head_branch: str | None = None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class IncidentRecord:
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


@dataclass(frozen=True)
class Shipped:
    """A PR and the deployment that shipped it."""

    pull: PullRecord
    deployment: DeploymentRecord

    @property
    def lead_time(self) -> float:
        start = self.pull.first_commit_at or self.pull.created_at
        return hours(self.deployment.finished_at - start)


@dataclass(frozen=True)
class Links:
    """Who shipped what and what caused what, computed once for every window."""

    shipped: tuple[Shipped, ...]
    by_deployment: Mapping[int, tuple[PullRecord, ...]]
    cause: Mapping[int, int]  # incident id -> deployment id


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

    shipped = []
    by_deployment: dict[int, list[PullRecord]] = defaultdict(list)
    for pull in data.pulls:
        if pull.repo not in starts:
            continue
        index = bisect.bisect_left(starts[pull.repo], pull.merged_at)
        if index < len(starts[pull.repo]):
            deployment = by_repo[pull.repo][index]
            shipped.append(Shipped(pull, deployment))
            by_deployment[deployment.id].append(pull)

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
    return Links(tuple(shipped), {k: tuple(v) for k, v in by_deployment.items()}, cause)


def _latest_before(ordered: list[DeploymentRecord], moment: dt.datetime) -> list[DeploymentRecord]:
    keys = [d.finished_at for d in ordered]
    index = bisect.bisect_right(keys, moment)
    return [ordered[index - 1]] if index else []


# ---------------------------------------------------------------- the metrics


def deployment_frequency(
    deployments: Iterable[DeploymentRecord], window: Window, *, known: bool = True
) -> Metric:
    """Production deployments per day in the window, and the median deploy days per ISO week.

    Weeks are the ISO weeks that lie wholly inside the window; when none does (a short or
    unaligned window), every ISO week the window touches. ``known`` says whether the scope has
    any deployment history at all: without one the frequency is ``None`` (unknown), with one a
    quiet window is a true 0.
    """
    inside = [d for d in deployments if d.finished_at in window]
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


def lead_time_for_changes(shipped: Iterable[Shipped], window: Window) -> Metric:
    """Median (and p90) hours from a PR's first commit to the end of the deployment that shipped
    it, over PRs whose deployment finished in the window; each PR counts once.

    A PR without commit data starts at its opening. Phases (medians, hours): coding = first
    commit -> opened; pickup = opened -> first review; review = first review -> merge
    (opened -> merge when nobody reviewed); deploy = merge -> deployment finished.
    """
    # One pass, comparisons and divisions inline (``x / HOUR`` is `hours`): a 90-day report on
    # a large organisation has ~12k PRs a window.
    values: list[float] = []
    pickup: list[float] = []
    review: list[float] = []
    coding: list[float] = []
    deploy: list[float] = []
    start, end = window.start, window.end
    for s in shipped:
        finished, pull = s.deployment.finished_at, s.pull
        if not start <= finished < end:
            continue
        created, commit, reviewed = pull.created_at, pull.first_commit_at, pull.first_review_at
        values.append((finished - (commit or created)) / HOUR)  # Shipped.lead_time
        if reviewed is not None:
            pickup.append((reviewed - created) / HOUR)
        review.append((pull.merged_at - (reviewed or created)) / HOUR)
        if commit is not None:
            coding.append((created - commit) / HOUR)
        deploy.append((finished - pull.merged_at) / HOUR)
    values.sort()  # once: the median and p90 below then sort an already sorted list
    return Metric(
        "lead_time_for_changes",
        "Lead time for changes",
        median(values),
        "hours",
        detail={
            "p90": percentile(values, 90),
            "pull_requests": len(values),
            "phases": {
                "coding": median(coding),
                "pickup": median(pickup),
                "review": median(review),
                "deploy": median(deploy),
            },
        },
    )


def change_failure_rate(
    deployments: Iterable[DeploymentRecord], links: Links, window: Window
) -> Metric:
    """Share (0-1) of the window's deployments that caused at least one incident."""
    inside = [d for d in deployments if d.finished_at in window]
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


def deployment_rework_rate(
    deployments: Iterable[DeploymentRecord],
    links: Links,
    rules: Mapping[str, DoraRules],
    window: Window,
) -> Metric:
    """Share (0-1) of the window's deployments that were unplanned fixes: they ship a PR with a
    rework branch prefix or label (by the settings of the deployment's repo)."""
    inside = [d for d in deployments if d.finished_at in window]

    def is_rework(deployment: DeploymentRecord) -> bool:
        repo_rules = rules.get(deployment.repo, DEFAULT_RULES)
        return any(repo_rules.is_rework(p) for p in links.by_deployment.get(deployment.id, ()))

    rework = [d for d in inside if is_rework(d)]
    return Metric(
        "deployment_rework_rate",
        "Deployment rework rate",
        ratio(len(rework), len(inside)),
        "fraction",
        detail={"deployments": len(inside), "rework_deployments": len(rework)},
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
        # Deployments and incidents are cut to the window once for the metrics that share
        # them; lead time cuts the ~25k links of a 90-day organisation report in its one pass.
        start, end = w.start, w.end
        deployments = [d for d in data.deployments if start <= d.finished_at < end]
        incidents = [i for i in data.incidents if start <= i.started_at < end]
        return [
            deployment_frequency(deployments, w, known=bool(data.deploying_repos)),
            lead_time_for_changes(links.shipped, w),  # it keeps the window's part itself
            change_failure_rate(deployments, links, w),
            failed_deployment_recovery_time(incidents, links, w),
            deployment_rework_rate(deployments, links, data.rules, w),
        ]

    current, previous = metrics_for(window), metrics_for(window.previous())
    banded = tuple(with_band(m, p) for m, p in zip(current, previous, strict=True))
    shipped_ids = {s.pull.id for s in links.shipped}
    start, end = window.start, window.end
    unshipped = sum(1 for p in data.pulls if start <= p.merged_at < end and p.id not in shipped_ids)
    return DoraResult(banded, overall_band(m.band for m in banded), unshipped)
