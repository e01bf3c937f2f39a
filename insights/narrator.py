"""The deterministic narrator: a summary written by rules from a report's facts.

It is the default when no LLM is configured and the fallback whenever the LLM's answer is
rejected, so it must say something true and useful on its own: the headline leads with the
figure that matters most for the report's kind and how it moved; the risks are the evidence of
the top-ranked findings; the actions are those findings' actions. Every number it writes comes
from the facts, formatted by `insights.text`, so its own output passes the grounding check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from insights.common import Summary
from insights.text import fmt_hours, fmt_percent, plural

Facts = Mapping[str, Any]

_MOVES = {"up": "up", "down": "down", "flat": "steady"}


def _metric(facts: Facts, metric_id: str) -> Mapping[str, Any]:
    metric = facts.get("metrics", {}).get(metric_id)
    return metric if isinstance(metric, Mapping) else {}


def _scope(facts: Facts) -> str:
    scope = facts.get("scope", {})
    return "The organisation" if scope.get("kind") == "organisation" else str(scope.get("name"))


def _moved(metric: Mapping[str, Any], show: Callable[[float], str]) -> str:
    trend, previous = metric.get("trend"), metric.get("previous")
    if trend is None or previous is None:
        return ""
    if trend == "flat":
        return " (steady)"
    return f" ({_MOVES[trend]} from {show(previous)})"


def _health_headline(facts: Facts) -> str:
    score = _metric(facts, "health_score")
    if score.get("value") is None:
        return f"{_scope(facts)} has no Sentry, Jira or GitHub data mapped to it yet."
    parts = [f"{_scope(facts)} health is {score['value']:g}/100{_moved(score, lambda v: f'{v:g}')}"]
    events = _metric(facts, "error_events")
    if events.get("value") is not None:
        parts.append(f"{events['value']:g} error events{_moved(events, lambda v: f'{v:g}')}")
    overdue = _metric(facts, "bugs_over_sla")
    if overdue.get("value"):
        parts.append(f"{plural(overdue['value'], 'bug')} past their SLA")
    return "; ".join(parts) + "."


def _dora_headline(facts: Facts) -> str:
    overall = facts.get("overall_band")
    frequency = _metric(facts, "deployment_frequency")
    if frequency.get("value") is None:
        return f"{_scope(facts)} has no production deployments on record to measure."
    parts = [
        f"{_scope(facts)} deploys {frequency['value']:.2f} times a day"
        + (f" and performs in the {overall} band overall" if overall else "")
    ]
    lead = _metric(facts, "lead_time_for_changes")
    if lead.get("value") is not None:
        parts.append(f"lead time {fmt_hours(lead['value'])}{_moved(lead, fmt_hours)}")
    failure = _metric(facts, "change_failure_rate")
    if failure.get("value") is not None:
        parts.append(
            f"{fmt_percent(failure['value'])} of deployments caused an incident"
            f"{_moved(failure, fmt_percent)}"
        )
    return "; ".join(parts) + "."


def _sprint_headline(facts: Facts) -> str:
    """Sprint facts come per board; lead with the board whose sprint is most at risk."""
    findings = facts.get("findings") or []
    boards = facts.get("boards") or []
    if not boards and not facts.get("metrics"):
        return f"{_scope(facts)} has no active sprint."
    if findings:
        return f"{_scope(facts)}: {findings[0]['evidence']}."
    return f"{_scope(facts)}: sprints are on track, with no bottleneck or ageing work found."


_HEADLINES: dict[str, Callable[[Facts], str]] = {
    "health": _health_headline,
    "dora": _dora_headline,
    "sprint": _sprint_headline,
}


def narrate(facts: Facts) -> Summary:
    """Headline by the report's kind; risks and actions from its top three findings."""
    headline = _HEADLINES.get(str(facts.get("kind")), _health_headline)(facts)
    findings = list(facts.get("findings") or [])
    risks: list[str] = []
    actions: list[str] = []
    for finding in findings:
        evidence = str(finding["evidence"])
        risk = evidence[0].upper() + evidence[1:]
        if len(risks) < 3 and risk not in risks:
            risks.append(risk)
        action = f"{finding['action']}."
        if len(actions) < 3 and action not in actions:
            actions.append(action)
    return Summary(headline, tuple(risks), tuple(actions), source="narrator")
