"""Load what `insights.health` needs for a scope: Sentry issues and their daily events, Jira bugs,
and production deployment outcomes, over three windows (the score's trend needs the window
before the previous one)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.orm import Session

from insights.common import Window
from insights.health import BugRecord, DeploymentOutcome, ErrorIssueRecord, HealthInput
from insights.queries.dora import deployment_origins
from insights.queries.scope import Scope
from storage.models import Deployment, ErrorEventCount, ErrorIssue, Release, WorkItem


def load_health_input(
    session: Session, scope: Scope, window: Window, now: dt.datetime
) -> HealthInput:
    since = window.previous().previous().start
    issues = _issues(session, scope.sentry_projects, since, now)
    events = _events(session, [i.id for i in issues], since, now)
    bugs = _bugs(session, scope.jira_projects, since, now)
    events_since = session.scalar(
        sa.select(sa.func.min(ErrorEventCount.day))
        .join(ErrorIssue, ErrorIssue.id == ErrorEventCount.error_issue_id)
        .where(ErrorIssue.project.in_(scope.sentry_projects))
    )
    origins = deployment_origins(session, scope.repos)
    return HealthInput(
        issues=issues,
        daily_events=events,
        bugs=bugs,
        deployments=_outcomes(session, scope, origins, since, now),
        sla_days={
            p: scope.settings_for("jira_project", p).bug_sla_days.model_dump()
            for p in scope.jira_projects
        },
        has_errors=bool(scope.sentry_projects),
        has_bugs=bool(scope.jira_projects),
        has_deployments=bool(origins),
        events_since=events_since,
    )


def _issues(
    session: Session, projects: tuple[str, ...], since: dt.datetime, now: dt.datetime
) -> list[ErrorIssueRecord]:
    if not projects:
        return []
    query = sa.select(
        ErrorIssue.id,
        ErrorIssue.project,
        ErrorIssue.short_id,
        ErrorIssue.title,
        ErrorIssue.level,
        ErrorIssue.status,
        ErrorIssue.substatus,
        ErrorIssue.first_seen,
        ErrorIssue.last_seen,
        ErrorIssue.user_count,
        ErrorIssue.url,
    ).where(
        ErrorIssue.project.in_(projects),
        ErrorIssue.last_seen >= since,
        ErrorIssue.first_seen < now,
    )
    return [ErrorIssueRecord(*row) for row in session.execute(query)]


def _events(
    session: Session, issue_ids: list[int], since: dt.datetime, now: dt.datetime
) -> dict[int, dict[dt.date, int]]:
    if not issue_ids:
        return {}
    query = sa.select(
        ErrorEventCount.error_issue_id, ErrorEventCount.day, ErrorEventCount.count
    ).where(
        ErrorEventCount.error_issue_id == sa.any_(sa.literal(issue_ids, sa.ARRAY(sa.BigInteger))),
        ErrorEventCount.day >= since.date(),
        ErrorEventCount.day <= now.date(),
    )
    events: dict[int, dict[dt.date, int]] = defaultdict(dict)
    for issue_id, day, count in session.execute(query):
        events[issue_id][day] = count
    return dict(events)


def _bugs(
    session: Session, projects: tuple[str, ...], since: dt.datetime, now: dt.datetime
) -> list[BugRecord]:
    """Every bug that could be open at the end of one of the windows: not resolved before."""
    if not projects:
        return []
    query = sa.select(
        WorkItem.key,
        WorkItem.project_key,
        WorkItem.priority,
        WorkItem.created_at,
        WorkItem.resolved_at,
        WorkItem.url,
    ).where(
        WorkItem.project_key.in_(projects),
        WorkItem.type == "bug",
        WorkItem.created_at < now,
        sa.or_(WorkItem.resolved_at.is_(None), WorkItem.resolved_at > since),
    )
    return [BugRecord(*row) for row in session.execute(query)]


def _outcomes(
    session: Session,
    scope: Scope,
    origins: dict[str, str],
    since: dt.datetime,
    now: dt.datetime,
) -> list[DeploymentOutcome]:
    outcomes = []
    for origin in ("deployment", "workflow_run"):
        repos = [r for r, o in origins.items() if o == origin]
        if not repos:
            continue
        query = sa.select(
            Deployment.repo, Deployment.environment, Deployment.status, Deployment.finished_at
        ).where(
            Deployment.repo.in_(repos),
            Deployment.origin == origin,
            Deployment.status.in_(("success", "failure", "error")),
            Deployment.finished_at >= since,
            Deployment.finished_at < now,
        )
        for repo, env, status, finished in session.execute(query):
            production = scope.settings_for("github_repo", repo).production_environment
            if finished is not None and env == production.lower():
                outcomes.append(DeploymentOutcome(repo, status == "success", finished))
    repos = [r for r, o in origins.items() if o == "release"]
    if repos:
        releases = sa.select(Release.scope, Release.released_at).where(
            Release.source == "github",
            Release.scope.in_(repos),
            Release.released_at >= since,
            Release.released_at < now,
        )
        for repo, released in session.execute(releases):
            if released is not None:
                outcomes.append(DeploymentOutcome(repo, True, released))
    return outcomes
