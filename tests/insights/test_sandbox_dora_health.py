"""On the synced small sandbox, the reports find the facts the generator planted.

Ground truth comes from the generator's own records (`Deployment.shipped`, `JiraIssue.caused_by`,
the Sentry daily counts), never from the database the reports read.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from bot.cli import app
from collectors.sandbox.world import Deployment, World

DAYS = 90


def run_report(engine: Engine, *args: str) -> dict[str, Any]:
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        app,
        ["report", *args, "--format", "json", "--as-of", "2026-11-16"],
        env={"DATABASE_URL": url, "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""},
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def finished(deployment: Deployment) -> dt.datetime | None:
    final = next(s for s in reversed(deployment.statuses) if s.state != "inactive")
    return final.created_at if final.state == "success" else None


def production(world: World, repo: str, since: dt.datetime) -> list[Deployment]:
    return [
        d
        for d in world.repos[repo].deployments
        if d.environment == "production" and (f := finished(d)) and since <= f < world.now
    ]


@pytest.fixture(scope="module")
def checkout(sandbox_engine: Engine) -> dict[str, Any]:
    return run_report(sandbox_engine, "dora", "--product", "Checkout", "--days", str(DAYS))


def test_dora_json_has_every_metric_with_value_unit_and_band(checkout: dict[str, Any]) -> None:
    units = {
        "deployment_frequency": "per day",
        "lead_time_for_changes": "hours",
        "change_failure_rate": "fraction",
        "failed_deployment_recovery_time": "hours",
        "deployment_rework_rate": "fraction",
    }
    for metric_id, unit in units.items():
        metric = checkout["metrics"][metric_id]
        assert metric["unit"] == unit
        assert metric["value"] is not None
        assert metric["band"] in ("elite", "high", "medium", "low")
    assert checkout["summary"]["source"] == "narrator"


def test_frequency_lead_time_and_rework_match_the_generators_ground_truth(
    checkout: dict[str, Any], sandbox_world: World
) -> None:
    since = sandbox_world.now - DAYS * dt.timedelta(days=1)
    repos = ("acme/checkout-web", "acme/checkout-api")
    deployments = [d for repo in repos for d in production(sandbox_world, repo, since)]
    metrics = checkout["metrics"]
    assert metrics["deployment_frequency"]["deployments"] == len(deployments)
    assert metrics["deployment_frequency"]["value"] == pytest.approx(
        len(deployments) / DAYS, abs=1e-4
    )

    lead_times, rework = [], 0
    for d in deployments:
        pulls = {p.number: p for p in sandbox_world.repos[d.repo].pulls}
        shipped = [pulls[n] for n in d.shipped]
        end = finished(d)
        assert end is not None
        for pull in shipped:
            start = min(c.committed_at for c in pull.commits)
            lead_times.append((end - start) / dt.timedelta(hours=1))
        if any(p.head.startswith(("hotfix/", "revert-")) or "hotfix" in p.labels for p in shipped):
            rework += 1
    assert metrics["lead_time_for_changes"]["pull_requests"] == len(lead_times)
    assert metrics["lead_time_for_changes"]["value"] == pytest.approx(
        statistics.median(lead_times), abs=1e-3
    )
    assert metrics["deployment_rework_rate"]["rework_deployments"] == rework


def test_the_planted_incident_rates_come_out(sandbox_engine: Engine, sandbox_world: World) -> None:
    """Payment System's deployments fail most (15% planted), then Checkout (8%), then the rest
    (4%); and the 72-hour rule blames the deployment the generator made cause each incident."""
    since = sandbox_world.now - DAYS * dt.timedelta(days=1)
    rates = {}
    for product, repos in {
        "Payment System": ("acme/payments",),
        "Checkout": ("acme/checkout-web", "acme/checkout-api"),
        "Mobile App": ("acme/mobile",),
    }.items():
        report = run_report(sandbox_engine, "dora", "--product", product, "--days", str(DAYS))
        deployments = [d for repo in repos for d in production(sandbox_world, repo, since)]
        ids = {d.id for d in deployments}
        planted = {i.caused_by for i in sandbox_world.issues if i.caused_by in ids}
        failure = report["metrics"]["change_failure_rate"]
        # The rule may blame a later deployment of the same product for an incident; the
        # number of failed deployments still agrees within one.
        assert abs(failure["failed_deployments"] - len(planted)) <= 1, product
        rates[product] = failure["failed_deployments"] / len(deployments)
    assert rates["Payment System"] > rates["Checkout"] > rates["Mobile App"]
    assert rates["Payment System"] == pytest.approx(0.15, abs=0.06)


def test_health_error_events_equal_sentrys_daily_counts(
    sandbox_engine: Engine, sandbox_world: World
) -> None:
    report = run_report(sandbox_engine, "health", "--product", "Checkout", "--days", "7")
    first = (sandbox_world.now - dt.timedelta(days=7)).date()
    expected = sum(
        count
        for slug in ("checkout-web", "checkout-api")
        for issue in sandbox_world.sentry_issues[slug]
        for day, count in issue.daily.items()
        if first <= day < sandbox_world.now.date()
    )
    events = report["metrics"]["error_events"]
    assert events["value"] == expected
    assert events["coverage"] == "full"
    assert 0 <= report["metrics"]["health_score"]["value"] <= 100
    assert report["tables"]["top_issues"], "the busiest issues are listed"


def test_unknown_product_is_an_error_naming_the_closest(sandbox_engine: Engine) -> None:
    url = sandbox_engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        app, ["report", "dora", "--product", "Paymant System"], env={"DATABASE_URL": url}
    )
    assert result.exit_code == 2
    assert "Did you mean 'Payment System'" in result.output


@pytest.mark.parametrize("kind", ["dora", "health"])
def test_the_narrators_own_numbers_pass_the_grounding_check(
    sandbox_engine: Engine, kind: str
) -> None:
    from insights.grounding import check

    for product in ("Payment System", "Checkout", "Internal Tools"):
        report = run_report(sandbox_engine, kind, "--product", product, "--days", "30")
        summary = report.pop("summary")
        texts = [summary["headline"], *summary["risks"], *summary["actions"]]
        assert summary["risks"], "the sandbox always has something to flag"
        result = check(texts, report)
        assert result.ok, (product, result.reason)


def test_a_configured_llm_writes_the_summary_and_an_inventing_one_is_refused(
    sandbox_engine: Engine,
) -> None:
    from collectors.fakes import FakeServer
    from insights.llm_fake import FAKE_API_KEY, create_app

    app_ = create_app("good")
    with FakeServer(app_) as server:
        url = sandbox_engine.url.render_as_string(hide_password=False)
        env = {
            "DATABASE_URL": url,
            "OPENAI_BASE_URL": f"{server.url}/v1",
            "OPENAI_API_KEY": FAKE_API_KEY,
            "SITREP_LLM_MODEL": "fake-model",
            "SITREP_LLM_TIMEOUT": "5",
        }
        args = ["report", "dora", "-p", "Mobile App", "--as-of", "2026-11-16", "-f", "json"]
        good = CliRunner().invoke(app, args, env=env)
        assert good.exit_code == 0, good.output
        assert json.loads(good.output)["summary"]["source"] == "llm:fake-model"
        app_.state.mode = "invent"
        invented = CliRunner().invoke(app, [*args[:-2], "--days", "31", "-f", "json"], env=env)
        assert invented.exit_code == 0, invented.output
        assert json.loads(invented.output)["summary"]["source"] == "narrator"
