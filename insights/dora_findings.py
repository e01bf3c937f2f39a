"""What to do about the DORA numbers: findings phrased as actions, with their evidence.

Rules, each scored so the worst band and the steepest decline come first:
a metric in the medium or low band; a metric that got more than 20% worse than the previous
window; merged pull requests still waiting for a deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from insights.common import Finding, Metric, ranked
from insights.dora import BANDS, DoraResult
from insights.text import fmt_hours, fmt_percent, plural

_LOWER_IS_BETTER = {
    "lead_time_for_changes",
    "change_failure_rate",
    "failed_deployment_recovery_time",
    "deployment_rework_rate",
}
_PHASES = {
    "coding": "coding (first commit to pull request)",
    "pickup": "pickup (waiting for a first review)",
    "review": "review (first review to merge)",
    "deploy": "deploy (merge to production)",
}


def _band_score(metric: Metric) -> float:
    return 0.0 if metric.band is None else float(BANDS.index(metric.band))


def _band_finding(metric: Metric) -> Finding | None:  # noqa: PLR0911 - one rule per metric
    if metric.band not in ("medium", "low") or metric.value is None:
        return None
    detail: Mapping[str, Any] = metric.detail
    score = _band_score(metric)
    where = f"{metric.label} is in the {metric.band} band"
    if metric.id == "lead_time_for_changes":
        phases = {k: v for k, v in detail.get("phases", {}).items() if v is not None}
        if not phases:
            return None
        slowest = max(phases, key=lambda k: phases[k])
        return Finding(
            "lead_time",
            f"Shorten the {_PHASES[slowest]} phase of lead time",
            f"{where}: a median of {fmt_hours(metric.value)}, of which "
            f"{slowest} takes {fmt_hours(phases[slowest])}",
            score,
            {"lead_time_hours": metric.value, f"{slowest}_hours": phases[slowest]},
        )
    if metric.id == "change_failure_rate":
        failed, total = detail.get("failed_deployments", 0), detail.get("deployments", 0)
        return Finding(
            "change_failure",
            "Find out why deployments cause incidents (review the incidents' causes)",
            f"{failed} of {plural(total, 'deployment')} caused an incident "
            f"({fmt_percent(metric.value)}); {where}",
            score,
            {"failed_deployments": failed, "deployments": total, "rate": metric.value},
        )
    if metric.id == "failed_deployment_recovery_time":
        return Finding(
            "recovery",
            "Speed up recovery from bad deployments (rollback or feature flags)",
            f"incidents caused by deployments took a median of {fmt_hours(metric.value)} "
            f"to resolve; {where}",
            score,
            {"recovery_hours": metric.value, "incidents": detail.get("incidents", 0)},
        )
    if metric.id == "deployment_rework_rate":
        rework, total = detail.get("rework_deployments", 0), detail.get("deployments", 0)
        return Finding(
            "rework",
            "Reduce unplanned fixes: look at what the hotfixes and reverts repaired",
            f"{rework} of {plural(total, 'deployment')} were hotfixes or reverts "
            f"({fmt_percent(metric.value)}); {where}",
            score,
            {"rework_deployments": rework, "deployments": total, "rate": metric.value},
        )
    if metric.id == "deployment_frequency":
        count = detail.get("deployments", 0)
        return Finding(
            "frequency",
            "Deploy smaller changes more often",
            f"{plural(count, 'production deployment')} in the window "
            f"({metric.value:.2f} per day); {where}",
            score,
            {"deployments": count, "per_day": metric.value},
        )
    return None


def _trend_finding(metric: Metric) -> Finding | None:
    if metric.value is None or not metric.previous:
        return None
    change = (metric.value - metric.previous) / abs(metric.previous)
    worse = change > 0.2 if metric.id in _LOWER_IS_BETTER else change < -0.2
    if not worse:
        return None
    if metric.unit == "hours":
        now, before = fmt_hours(metric.value), fmt_hours(metric.previous)
    elif metric.unit == "fraction":
        now, before = fmt_percent(metric.value), fmt_percent(metric.previous)
    else:
        now, before = f"{metric.value:.2f} {metric.unit}", f"{metric.previous:.2f} {metric.unit}"
    return Finding(
        f"{metric.id}_trend",
        f"Look into what changed: {metric.label.lower()} got worse",
        f"{metric.label} is {now}, against {before} in the previous window",
        1.0 + min(abs(change), 2.0) / 2,
        {"value": metric.value, "previous": metric.previous},
    )


def dora_findings(result: DoraResult) -> tuple[Finding, ...]:
    findings = []
    for metric in result.metrics:
        for rule in (_band_finding, _trend_finding):
            found = rule(metric)
            if found is not None:
                findings.append(found)
    if result.unshipped_pull_requests:
        n = result.unshipped_pull_requests
        findings.append(
            Finding(
                "unshipped",
                "Ship the merged pull requests that are waiting for a deployment",
                f"{plural(n, 'pull request')} merged in the window "
                f"{'has' if n == 1 else 'have'} not reached production yet",
                0.5 + min(n, 20) / 20,
                {"pull_requests": n},
            )
        )
    return ranked(findings)
