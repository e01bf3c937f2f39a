"""What to do about a product's health: findings phrased as actions, with their evidence.

Each score factor becomes a finding (it cost points, so it is worth acting on), ranked by the
points it cost; untrusted titles never appear here, only Sentry short ids and Jira keys.
"""

from __future__ import annotations

from insights.common import Finding, ranked
from insights.health import Health
from insights.text import fmt_percent, plural


def health_findings(health: Health) -> tuple[Finding, ...]:
    metrics = {m.id: m for m in health.metrics}
    findings = []
    for factor in health.factors:
        score = factor.points / 5
        if factor.id == "overdue_bugs":
            bugs = metrics["bugs_over_sla"]
            rows = health.overdue_bugs
            worst = rows[0] if rows else None
            oldest = (
                f"; the oldest, {worst['key']} ({worst['priority']}), is {worst['age_days']} days "
                f"old against a {worst['sla_days']:g}-day SLA"
                if worst
                else ""
            )
            findings.append(
                Finding(
                    "overdue_bugs",
                    "Triage the bugs past their SLA, highest priority first",
                    f"{plural(bugs.value or 0, 'open bug')} past their priority's SLA{oldest}",
                    score,
                    {"bugs_over_sla": bugs.value or 0, "points": factor.points},
                )
            )
        elif factor.id == "fatal":
            n = metrics["unresolved_error_issues"].detail.get("by_level", {}).get("fatal", 0)
            findings.append(
                Finding(
                    "fatal_errors",
                    "Fix or assign the unresolved fatal errors",
                    f"{plural(n, 'unresolved fatal issue')} seen in the window",
                    score,
                    {"fatal_issues": n, "points": factor.points},
                )
            )
        elif factor.id == "new_or_regressed":
            new, regressed = metrics["new_error_issues"], metrics["regressed_error_issues"]
            findings.append(
                Finding(
                    "new_errors",
                    "Review the new and regressed errors and link them to tickets",
                    f"{plural(new.value or 0, 'new issue')} and "
                    f"{plural(regressed.value or 0, 'regressed issue')} in Sentry",
                    score,
                    {
                        "new": new.value or 0,
                        "regressed": regressed.value or 0,
                        "points": factor.points,
                    },
                )
            )
        elif factor.id == "error_trend":
            events = metrics["error_events"]
            current, previous = events.value or 0, events.previous or 0
            rise = current / previous - 1 if previous else 0
            findings.append(
                Finding(
                    "error_spike",
                    "Find what made errors rise (a release, a dependency, traffic)",
                    f"error events rose {fmt_percent(rise)}: {current:g} against {previous:g} "
                    "in the previous window",
                    score,
                    {"events": current, "previous_events": previous, "rise": rise},
                )
            )
        elif factor.id == "failed_deployments":
            failed, ok = metrics["failed_deployments"].value or 0, metrics["deployments"].value
            total = failed + (ok or 0)
            findings.append(
                Finding(
                    "failed_deployments",
                    "Stabilise the deployment pipeline",
                    f"{failed:g} of {plural(total, 'production deployment')} failed "
                    f"({fmt_percent(failed / total if total else 0)})",
                    score,
                    {"failed_deployments": failed, "deployments": total},
                )
            )
    return ranked(findings)
