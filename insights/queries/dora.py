"""Load what `insights.dora` needs for a scope and window, in four indexed queries.

Which deployments count, per repo: GitHub Deployments in the product's production environment
with the final status ``success``; a repo that has never had a GitHub deployment falls back to
its deploy workflow runs, and a repo with neither to its published GitHub releases. The choice
looks at the repo's whole history, so it does not flip from one window to the next.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from insights.common import HOUR, Window
from insights.dora import DeploymentRecord, DoraInput, DoraRules, IncidentRecord, PullRecord
from insights.queries.rows import rows_table
from insights.queries.scope import Scope
from storage.models import Deployment, Incident, PullRequest, Release
from storage.product_file import ProductSettings

# PRs merged this long before the earliest window can still ship inside it (a repo that
# deploys less often than this loses nothing worse than a lead-time sample).
_SHIP_LOOKBACK = dt.timedelta(days=45)


def rules_from(settings: ProductSettings) -> DoraRules:
    return DoraRules(
        rework_branch_prefixes=tuple(settings.rework_branch_prefixes),
        rework_labels=tuple(settings.rework_labels),
        incident_window=settings.incident_window_hours * HOUR,
    )


def load_dora_input(session: Session, scope: Scope, window: Window, now: dt.datetime) -> DoraInput:
    """Records for ``window`` and the one before it (for trends), up to ``now``."""
    earliest = window.previous().start
    repos = scope.repos
    rules = {r: rules_from(scope.settings_for("github_repo", r)) for r in repos}
    project_rules = {
        p: rules_from(scope.settings_for("jira_project", p)) for p in scope.jira_projects
    }
    longest_incident_window = max(
        (r.incident_window for r in project_rules.values()), default=72 * HOUR
    )
    since = earliest - max(longest_incident_window, _SHIP_LOOKBACK)
    origins = deployment_origins(session, repos)
    deployments = _deployments(session, scope, origins, since, now)
    # A PR merged at or before the start of its repo's last deployment ahead of the windows
    # shipped before them: load only the PRs merged after it (per repo), else since `since`.
    bounds = {repo: since - dt.timedelta(microseconds=1) for repo in repos}
    for d in deployments:
        if bounds[d.repo] < d.started_at < earliest:
            bounds[d.repo] = d.started_at
    pulls = _pulls(session, bounds, now)
    incidents = _incidents(session, scope.jira_projects, earliest, now)
    return DoraInput(
        deployments=deployments,
        pulls=pulls,
        incidents=incidents,
        incident_repos=_incident_repos(scope),
        rules=rules,
        project_rules=project_rules,
        deploying_repos=tuple(sorted(origins)),
    )


def deployment_origins(session: Session, repos: tuple[str, ...]) -> dict[str, str]:
    """Per repo, the best origin it has ever had: deployment, then workflow run, then release."""
    if not repos:
        return {}
    # The reads here and in `load_dora_input` take plain rows from ``session.connection()``
    # (cheaper than the ORM's), which does not flush pending changes as ``session.execute`` does.
    session.flush()
    found: dict[str, set[str]] = {}
    query = (
        sa.select(Deployment.repo, Deployment.origin)
        .where(Deployment.repo.in_(repos))
        .group_by(Deployment.repo, Deployment.origin)
    )
    for repo, origin in session.connection().execute(query):
        found.setdefault(repo, set()).add(origin)
    released = sa.select(Release.scope).where(
        Release.source == "github", Release.scope.in_(repos), Release.released_at.is_not(None)
    )
    for (repo,) in session.connection().execute(released.distinct()):
        found.setdefault(repo, set()).add("release")
    preference = ("deployment", "workflow_run", "release")
    return {repo: next(o for o in preference if o in kinds) for repo, kinds in found.items()}


def _deployments(
    session: Session,
    scope: Scope,
    origins: Mapping[str, str],
    since: dt.datetime,
    now: dt.datetime,
) -> list[DeploymentRecord]:
    records: list[DeploymentRecord] = []
    by_origin: dict[str, list[str]] = {}
    for repo, origin in origins.items():
        by_origin.setdefault(origin, []).append(repo)
    for origin in ("deployment", "workflow_run"):
        repos = by_origin.get(origin, [])
        if not repos:
            continue
        # Each repo's production environment, so staging deployments (about half) stay in
        # the database. Stored names are compared with the setting in lower case.
        production = rows_table(
            "production",
            [sa.column("repo", sa.String), sa.column("environment", sa.String)],
            [
                (r, scope.settings_for("github_repo", r).production_environment.lower())
                for r in repos
            ],
        )
        query = (
            sa.select(Deployment.id, Deployment.repo, Deployment.started_at, Deployment.finished_at)
            .join(
                production,
                sa.and_(
                    Deployment.repo == production.c.repo,
                    Deployment.environment == production.c.environment,
                ),
            )
            .where(
                Deployment.origin == origin,
                Deployment.status == "success",
                Deployment.finished_at >= since,
                Deployment.finished_at < now,
            )
        )
        for id_, repo, started, finished in session.connection().execute(query).all():
            if finished is not None:  # always, by the filter: for the type checker
                records.append(DeploymentRecord(id_, repo, finished, started or finished, origin))
    repos = by_origin.get("release", [])
    if repos:
        releases = sa.select(
            Release.id, Release.scope, Release.created_at, Release.released_at
        ).where(
            Release.source == "github",
            Release.scope.in_(repos),
            Release.released_at >= since,
            Release.released_at < now,
        )
        # Release ids live in their own id space: negate them so they never meet deployment ids.
        for id_, repo, created, released in session.connection().execute(releases):
            if released is not None:
                start = min(created, released)
                records.append(DeploymentRecord(-id_, repo, released, start, "release"))
    return records


def _pulls(
    session: Session, bounds: Mapping[str, dt.datetime], now: dt.datetime
) -> list[PullRecord]:
    """PRs merged after their repo's bound and before ``now``."""
    if not bounds:
        return []
    per_repo = rows_table(
        "bounds",
        [sa.column("repo", sa.String), sa.column("bound", sa.DateTime(timezone=True))],
        list(bounds.items()),
    )
    query = (
        sa.select(
            PullRequest.id,
            PullRequest.repo,
            PullRequest.number,
            PullRequest.created_at,
            PullRequest.merged_at,
            PullRequest.first_commit_at,
            PullRequest.first_review_at,
            PullRequest.head_branch,
            # psycopg already returns a list; skip SQLAlchemy's per-item array processing.
            sa.type_coerce(PullRequest.labels, sa.types.NullType()),
        )
        .join(per_repo, PullRequest.repo == per_repo.c.repo)
        .where(PullRequest.merged_at > per_repo.c.bound, PullRequest.merged_at < now)
    )
    # The rows are in PullRecord's field order (merged_at is never NULL, by the filter).
    return list(map(PullRecord._make, session.connection().execute(query).all()))


def _incidents(
    session: Session, projects: tuple[str, ...], since: dt.datetime, now: dt.datetime
) -> list[IncidentRecord]:
    if not projects:
        return []
    query = sa.select(
        Incident.id,
        Incident.key,
        Incident.project_key,
        Incident.started_at,
        Incident.resolved_at,
        Incident.deployment_id,
    ).where(
        Incident.project_key.in_(projects),
        Incident.started_at >= since,
        Incident.started_at < now,
    )
    return [
        IncidentRecord(
            row.id,
            row.key,
            row.project_key,
            row.started_at,
            # A resolution after "now" has not happened yet from this report's point of view.
            row.resolved_at if row.resolved_at and row.resolved_at <= now else None,
            row.deployment_id,
        )
        for row in session.connection().execute(query)
    ]


def _incident_repos(scope: Scope) -> dict[str, tuple[str, ...]]:
    """Jira project -> the repos whose deployments can cause its incidents: the repos of the
    product that owns the project. When that product has no repos of its own and the question is
    about one product, the repos of the whole product subtree stand in."""
    owner_repos: dict[str, list[str]] = {}
    for (kind, key), owner in scope.product_of.items():
        if kind == "github_repo":
            owner_repos.setdefault(owner, []).append(key)
    result = {}
    for project in scope.jira_projects:
        owner = scope.product_of.get(("jira_project", project)) or ""
        repos = owner_repos.get(owner, [])
        fallback = scope.repos if scope.kind == "product" else ()
        result[project] = tuple(sorted(repos or fallback))
    return result
