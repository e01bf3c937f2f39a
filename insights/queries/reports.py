"""Compose queries and metrics into the health and DORA reports (sprint: `queries.sprint`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from insights import dora, health
from insights.common import Window
from insights.dora_findings import dora_findings
from insights.health_findings import health_findings
from insights.narrator import narrate
from insights.queries.dora import load_dora_input
from insights.queries.gc_pause import paused_gc
from insights.queries.health import load_health_input
from insights.queries.scope import Scope
from insights.report import Report


def build_dora_report(session: Session, scope: Scope, *, days: int, now: dt.datetime) -> Report:
    window = Window.last(days, now)
    with paused_gc():
        result = dora.compute(load_dora_input(session, scope, window, now), window)
    phases = result.metrics[1].detail.get("phases", {})
    report = Report(
        kind="dora",
        scope=scope.as_dict(),
        window=window,
        metrics=result.metrics,
        findings=dora_findings(result),
        tables={"lead_time_phases": [{"phase": k, "median_hours": v} for k, v in phases.items()]},
        extra={
            "overall_band": result.overall_band,
            "unshipped_pull_requests": result.unshipped_pull_requests,
        },
    )
    return report.with_summary(narrate(report.facts()))


def build_health_report(session: Session, scope: Scope, *, days: int, now: dt.datetime) -> Report:
    window = Window.last(days, now)
    with paused_gc():
        result = health.compute(load_health_input(session, scope, window, now), window)
    report = Report(
        kind="health",
        scope=scope.as_dict(),
        window=window,
        metrics=result.metrics,
        findings=health_findings(result),
        tables={
            "score_factors": [
                {"factor": f.id, "points": -f.points, "cap": f.cap, "evidence": f.evidence}
                for f in result.factors
            ],
            "top_issues": [dict(row) for row in result.top_issues],
            "overdue_bugs": [dict(row) for row in result.overdue_bugs],
        },
    )
    return report.with_summary(narrate(report.facts()))
