"""DORA metrics on hand-built records; every expected value is worked out in the comments."""

from __future__ import annotations

import datetime as dt

import pytest

from insights import dora
from insights.common import Window
from insights.dora import DeploymentRecord, DoraInput, DoraRules, IncidentRecord, PullRecord

NOW = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)  # a Monday
WINDOW = Window.last(14, NOW)  # 2026-11-02 .. 2026-11-16: two whole ISO weeks
H = dt.timedelta(hours=1)


def at(day: int, hour: float = 12) -> dt.datetime:
    return dt.datetime(2026, 11, day, tzinfo=dt.UTC) + hour * H


def deploy(id_: int, finished: dt.datetime, repo: str = "acme/a") -> DeploymentRecord:
    return DeploymentRecord(id_, repo, finished, finished - 0.5 * H)


def pull(
    id_: int,
    merged: dt.datetime,
    first_commit_hours_before: float,
    repo: str = "acme/a",
    **extra: object,
) -> PullRecord:
    return PullRecord(
        id=id_,
        repo=repo,
        number=id_,
        created_at=merged - 2 * H,
        merged_at=merged,
        first_commit_at=merged - first_commit_hours_before * H,
        **extra,  # type: ignore[arg-type]
    )


def data(
    deployments: list[DeploymentRecord],
    pulls: list[PullRecord] = [],  # noqa: B006 - never mutated
    incidents: list[IncidentRecord] = [],  # noqa: B006
) -> DoraInput:
    return DoraInput(
        deployments=deployments,
        pulls=pulls,
        incidents=incidents,
        incident_repos={"INC": ("acme/a",)},
        rules={},
        project_rules={},
        deploying_repos=("acme/a",),
    )


def metrics(result: dora.DoraResult) -> dict[str, dora.Metric]:
    return {m.id: m for m in result.metrics}


def test_lead_time_is_the_even_count_median_and_each_pr_counts_once() -> None:
    # Deployment 1 (finished 10th 12:00, started 11:30) ships PRs merged at 10:00 and 11:00
    # with first commits 8 h and 38 h before their merges: lead times 10 h and 39 h.
    # Deployment 2 (12th 12:00) ships a PR merged on the 11th at 12:00 (first commit 4 h earlier):
    # 24 + 4 = 28 h; and one merged the 12th at 11:00 (first commit 19 h earlier): 20 h.
    # Sorted 10, 20, 28, 39: the median is (20 + 28) / 2 = 24.
    result = dora.compute(
        data(
            [deploy(1, at(10)), deploy(2, at(12))],
            [
                pull(1, at(10, 10), 8),
                pull(2, at(10, 11), 38),
                pull(3, at(11, 12), 4),
                pull(4, at(12, 11), 19),
            ],
        ),
        WINDOW,
    )
    lead = metrics(result)["lead_time_for_changes"]
    assert lead.value == pytest.approx(24)
    assert lead.detail["pull_requests"] == 4
    # p90 of 10, 20, 28, 39 by linear interpolation: rank 2.7 -> 28 + 0.7 * 11 = 35.7
    assert lead.detail["p90"] == pytest.approx(35.7)
    # Deploy phase: merge -> finished: 2, 1, 24, 1 h -> median 1.5 h
    assert lead.detail["phases"]["deploy"] == pytest.approx(1.5)
    assert lead.band == "elite"  # 24 h is still "less than a day" at the boundary


def test_a_pr_merged_after_the_deployment_started_waits_for_the_next_one() -> None:
    # Deployment started at 11:30: a PR merged at 11:45 is not in it; it ships with the 13th's.
    result = dora.compute(
        data([deploy(1, at(10)), deploy(2, at(13))], [pull(1, at(10, 11.75), 1)]), WINDOW
    )
    lead = metrics(result)["lead_time_for_changes"]
    # first commit 10:45 on the 10th -> 12:00 on the 13th = 72 h + 1.25 h
    assert lead.value == pytest.approx(73.25)


def test_merged_but_never_deployed_is_counted_apart_and_not_in_lead_time() -> None:
    result = dora.compute(data([deploy(1, at(3))], [pull(1, at(12), 5)]), WINDOW)
    assert metrics(result)["lead_time_for_changes"].value is None
    assert result.unshipped_pull_requests == 1


def test_deployments_without_prs_count_for_frequency_only() -> None:
    # 3 deployments in 14 days -> 3 / 14 per day. Deploy days per ISO week: week of the 2nd: 2
    # (3rd and 4th), week of the 9th: 1 (10th) -> median of [2, 1] = 1.5.
    result = dora.compute(data([deploy(1, at(3)), deploy(2, at(4)), deploy(3, at(10))]), WINDOW)
    frequency = metrics(result)["deployment_frequency"]
    assert frequency.value == pytest.approx(3 / 14)
    assert frequency.detail["deploy_days_per_week"] == 1.5
    assert frequency.band == "high"  # at least weekly, less than daily
    assert metrics(result)["lead_time_for_changes"].value is None


def test_window_edges_are_half_open() -> None:
    # Finished exactly at the start: inside. Exactly at the end: outside (and not in the past).
    result = dora.compute(data([deploy(1, WINDOW.start), deploy(2, WINDOW.end)]), WINDOW)
    assert metrics(result)["deployment_frequency"].detail["deployments"] == 1


def test_an_empty_window_is_none_not_zero_except_a_known_quiet_frequency() -> None:
    result = dora.compute(data([deploy(1, at(1) - 30 * 24 * H)]), WINDOW)
    m = metrics(result)
    assert m["deployment_frequency"].value == 0  # the repo deploys; just not in this window
    assert m["deployment_frequency"].band == "low"
    for metric_id in (
        "lead_time_for_changes",
        "change_failure_rate",
        "failed_deployment_recovery_time",
        "deployment_rework_rate",
    ):
        assert m[metric_id].value is None, metric_id
        assert m[metric_id].band is None
    no_history = DoraInput([], [], [], {}, {}, {}, deploying_repos=())
    assert metrics(dora.compute(no_history, WINDOW))["deployment_frequency"].value is None


def test_incidents_blame_the_latest_deployment_within_the_window_hours() -> None:
    deployments = [deploy(1, at(3)), deploy(2, at(5)), deploy(3, at(9)), deploy(4, at(13))]
    incidents = [
        # 6 h after deployment 2 (deployment 1 is older): blames 2; resolved after 3 h.
        IncidentRecord(10, "INC-1", "INC", at(5, 18), at(5, 21)),
        # 73 h after deployment 3, before deployment 4: too late to blame anything.
        IncidentRecord(11, "INC-2", "INC", at(9) + 73 * H, None),
        # Before any deployment of its repos: no cause.
        IncidentRecord(12, "INC-3", "INC", at(2), at(2, 20)),
        # 1 h after deployment 4, still open: blames 4, not in the recovery median.
        IncidentRecord(13, "INC-4", "INC", at(13, 13), None),
    ]
    result = dora.compute(data(deployments, incidents=incidents), WINDOW)
    links = dora.link(data(deployments, incidents=incidents))
    assert links.cause == {10: 2, 13: 4}
    m = metrics(result)
    # 2 of 4 deployments caused an incident.
    assert m["change_failure_rate"].value == pytest.approx(0.5)
    assert m["change_failure_rate"].band == "low"
    # Only INC-1 is resolved: 3 h.
    recovery = m["failed_deployment_recovery_time"]
    assert recovery.value == pytest.approx(3)
    assert recovery.detail == {"incidents": 2, "unresolved": 1}
    assert recovery.band == "high"


def test_incident_window_is_a_setting() -> None:
    deployments = [deploy(1, at(3))]
    incident = IncidentRecord(10, "INC-1", "INC", at(3) + 5 * H, at(3) + 6 * H)
    strict = DoraInput(
        deployments,
        [],
        [incident],
        {"INC": ("acme/a",)},
        rules={},
        project_rules={"INC": DoraRules(incident_window=4 * H)},
        deploying_repos=("acme/a",),
    )
    assert dora.link(strict).cause == {}
    assert dora.link(data(deployments, incidents=[incident])).cause == {10: 1}


def test_rework_by_branch_prefix_or_label() -> None:
    deployments = [deploy(1, at(3)), deploy(2, at(4)), deploy(3, at(5)), deploy(4, at(6))]
    pulls = [
        pull(1, at(3, 9), 1, head_branch="hotfix/cart-total"),
        pull(2, at(4, 9), 1, head_branch="feature/x", labels=("Hotfix",)),
        pull(3, at(5, 9), 1, head_branch="revert-12-feature-x"),
        pull(4, at(6, 9), 1, head_branch="feature/hotfix-docs"),  # not a prefix: planned work
    ]
    result = dora.compute(data(deployments, pulls), WINDOW)
    rework = metrics(result)["deployment_rework_rate"]
    assert rework.value == pytest.approx(3 / 4)
    assert rework.detail["rework_deployments"] == 3


def test_trend_compares_with_the_previous_window() -> None:
    # 2 deployments in the previous 14 days, 4 in this one.
    before = [deploy(1, at(1) - 5 * 24 * H), deploy(2, at(1) - 6 * 24 * H)]
    now = [deploy(3, at(3)), deploy(4, at(4)), deploy(5, at(5)), deploy(6, at(6))]
    frequency = metrics(dora.compute(data(before + now), WINDOW))["deployment_frequency"]
    assert frequency.previous == pytest.approx(2 / 14)
    assert frequency.trend == "up"


@pytest.mark.parametrize(
    ("metric_id", "value", "expected"),
    [
        ("deployment_frequency", 1.0, "elite"),
        ("deployment_frequency", 0.99, "high"),
        ("deployment_frequency", 1 / 7, "high"),
        ("deployment_frequency", 0.1, "medium"),
        ("deployment_frequency", 0.01, "low"),
        ("lead_time_for_changes", 24.01, "high"),
        ("lead_time_for_changes", 168, "high"),
        ("lead_time_for_changes", 721, "low"),
        ("change_failure_rate", 0.05, "elite"),
        ("change_failure_rate", 0.15, "medium"),
        ("change_failure_rate", 0.21, "low"),
        ("failed_deployment_recovery_time", 0.5, "elite"),
        ("failed_deployment_recovery_time", 30, "medium"),
        ("deployment_rework_rate", 0.12, "low"),
        ("lead_time_for_changes", None, None),
    ],
)
def test_bands(metric_id: str, value: float | None, expected: str | None) -> None:
    assert dora.band(metric_id, value) == expected


def test_overall_band_is_the_cautious_median() -> None:
    assert dora.overall_band(["elite", "elite", "high", "low"]) == "high"
    assert dora.overall_band(["elite", "low"]) == "low"
    assert dora.overall_band([None, "medium"]) == "medium"
    assert dora.overall_band([None]) is None
