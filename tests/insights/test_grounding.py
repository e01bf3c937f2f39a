"""The grounding check: every number the model writes must be one of the facts."""

from __future__ import annotations

from typing import Any

import pytest

from insights.grounding import Facts, Quantity, check, extract

FACTS: dict[str, Any] = {
    "kind": "dora",
    "scope": {"kind": "product", "name": "Payment System"},
    "window": {
        "start": "2026-10-23T00:00:00+00:00",
        "end": "2026-11-22T00:00:00+00:00",
        "days": 30,
    },
    "metrics": {
        "change_failure_rate": {
            "value": 0.153,
            "unit": "fraction",
            "previous": 0.1,
            "band": "low",
            "deployments": 24,
        },
        "lead_time_for_changes": {"value": 36.5, "unit": "hours", "band": "high"},
        "deployment_frequency": {"value": 0.8, "unit": "per day"},
        "failed_deployment_recovery_time": {"value": None, "unit": "hours", "band": None},
    },
    "findings": [
        {
            "kind": "bottleneck",
            "action": "Unblock Code Review",
            "evidence": (
                "5 items waiting in Code Review for more than 3 days; the usual p85 is 1.2 days"
            ),
            "numbers": {"items": 5},
        }
    ],
    "tables": {
        "top_issues": [
            {"title": "TimeoutError after 30s in PAY-812", "events": 1243, "users": 87},
            {"title": "KeyError: 'currency'", "events": 409, "users": 12},
        ]
    },
}


def grounded(text: str) -> bool:
    return check(text, FACTS).ok


@pytest.mark.parametrize(
    "text",
    [
        "Change failure rate is 15.3%, up from 10%.",
        "About 15% of deployments failed.",
        "Change failure rate 15.30 percent.",
        "0.153 of deployments failed",
        "16 percent",
    ],
)
def test_fractions_may_be_written_as_percents_rounded_to_what_is_shown(text: str) -> None:
    assert grounded(text) is (text != "16 percent")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("Lead time is 36.5 hours.", True),
        ("Lead time is 36.5 h.", True),
        ("Lead time is 1.5 days.", True),
        ("Lead time is about 2 days.", True),
        ("Lead time is 2190 minutes.", True),
        ("Lead time is 37h.", True),  # 36.5 rounds either way
        ("Lead time is 38 hours.", False),
        ("Lead time is 1.6 days.", False),
        ("Lead time is 36.5%.", False),  # a duration is not a percent
        ("It waits 29 hours at p85.", True),  # 1.2 days, from the evidence sentence
        ("A 30-day window.", True),
        ("Over 4.3 weeks.", True),
        ("Over 30 hours.", False),  # the window is 30 days, not hours
    ],
)
def test_times_convert_between_units(text: str, ok: bool) -> None:
    assert grounded(text) is ok, check(text, FACTS).reason


def test_numbers_inside_the_facts_text_count() -> None:
    assert grounded("5 items have waited more than 3 days in Code Review.")
    assert grounded("The top issue (PAY-812) times out after 30s.")


def test_counts_are_not_converted() -> None:
    # 5 in the evidence (and 2 top issues) are counts; they are not 500% or 2 hours.
    assert not grounded("500% more items")
    assert not grounded("2 hours")
    assert grounded("The 2 top issues")


@pytest.mark.parametrize(
    "text",
    [
        "42 incidents this month.",
        "Change failure rate is 27.9%.",
        "Reviews wait 417 hours.",
        "1,999 events",
        "Deployment frequency is 8 per day.",
        "Lead time fell by 0.4 days.",  # a derived difference is not in the facts
        "Incidents tripled to seven.",
        "Deployed 4th in the org.",
    ],
)
def test_invented_numbers_are_rejected(text: str) -> None:
    result = check(text, FACTS)
    assert not result.ok
    assert "not in the facts" in result.reason


def test_the_reason_names_each_offending_number() -> None:
    result = check(["CFR 15.3% (was 10%)", "42 incidents and 27.9% errors"], FACTS)
    assert result.ungrounded == ("42", "27.9%")
    assert result.checked == 4
    assert result.reason == "numbers not in the facts: '42', '27.9%' (4 checked)"


def test_thousands_separators_and_k() -> None:
    assert grounded("1,243 events")
    assert grounded("1.2k events")
    assert not grounded("1.3k events")
    assert not grounded("1,200 events")  # rounding by inventing zeros is not rounding


def test_dates_must_be_dates_of_the_facts() -> None:
    assert grounded("Since 2026-10-23.")
    assert grounded("Until Nov 22, 2026.")
    assert grounded("Until 22 November.")
    assert not grounded("Since Oct 1.")
    assert not grounded("Until Nov 22, 2025.")
    assert grounded("In 2026.")


def test_identifiers_are_not_numbers() -> None:
    assert grounded("p85 in Q3 on v2, release 1.2.3")
    assert extract("p85 v2 Q3 1.2.3") == ([], [])


def test_signs_and_trends() -> None:
    assert grounded("down -10%")


def test_an_answer_without_numbers_is_grounded() -> None:
    result = check("Everything is calm.", FACTS)
    assert result.ok and result.checked == 0


def test_none_and_booleans_are_not_facts() -> None:
    facts = Facts.of({"value": None, "flag": True, "n": 7})
    assert [q.value for q in facts.numbers] == [7.0]


def test_a_metric_unit_applies_to_value_and_previous_only() -> None:
    facts = Facts.of(FACTS["metrics"])
    units = {q.text: q.unit for q in facts.numbers}
    assert units["0.153"] == "fraction" and units["0.1"] == "fraction"
    assert units["24"] is None  # "deployments" is a detail of the metric, not a fraction
    assert units["36.5"] == "h"
    assert units["0.8"] == "count"  # "per day" is not converted


def test_extract_reads_units_and_precision() -> None:
    quantities, _ = extract("15.3% after 36 h, 1.2k events, five days")
    assert quantities == [
        Quantity("15.3%", 15.3, "percent", 0.05),
        Quantity("36 h", 36.0, "h", 0.5),
        Quantity("1.2k", 1200.0, None, 50.0),
        Quantity("five days", 5.0, "d", 0.5),
    ]
