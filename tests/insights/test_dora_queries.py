"""The DORA loader on real Postgres rows: what counts as a deployment, roll-up, settings."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from sqlalchemy.orm import Session

from insights.errors import UnknownScope
from insights.queries.reports import build_dora_report
from insights.queries.scope import resolve_scope
from storage.models import Deployment, Incident, PullRequest, Release
from storage.product_file import ProductSpec
from storage.products import apply_products

NOW = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
_ids = itertools.count(1)


def at(day: int, hour: float = 12) -> dt.datetime:
    return dt.datetime(2026, 11, day, tzinfo=dt.UTC) + hour * H


def products(session: Session, **settings: Any) -> None:
    apply_products(
        session,
        [
            ProductSpec(name="Shop", github_repos=("acme/shop",), jira_projects=("SHOP",)),
            ProductSpec(
                name="Payments",
                parent="Shop",
                owner_team="payments",
                github_repos=("acme/pay",),
                jira_projects=("PAY",),
                settings=settings or None,  # type: ignore[arg-type]
            ),
            ProductSpec(name="Tools", owner_team="platform", github_repos=("acme/tools",)),
        ],
    )


def deployment(
    repo: str,
    finished: dt.datetime,
    *,
    env: str = "production",
    status: str = "success",
    origin: str = "deployment",
) -> Deployment:
    n = next(_ids)
    return Deployment(
        source="github",
        external_id=f"d{n}",
        repo=repo,
        origin=origin,
        environment=env,
        status=status,
        started_at=finished - 0.25 * H,
        finished_at=finished,
    )


def pr(repo: str, merged: dt.datetime, **extra: Any) -> PullRequest:
    n = next(_ids)
    return PullRequest(
        source="github",
        external_id=f"p{n}",
        repo=repo,
        number=n,
        title="Change",
        state="merged",
        created_at=merged - 10 * H,
        first_commit_at=merged - 20 * H,
        merged_at=merged,
        **extra,
    )


def report(session: Session, **scope: str) -> dict[str, Any]:
    facts = build_dora_report(session, resolve_scope(session, **scope), days=14, now=NOW).facts()
    return {k: v for k, v in facts["metrics"].items()}


def test_only_successful_production_deployments_count(session: Session) -> None:
    products(session)
    session.add_all(
        [
            deployment("acme/pay", at(3)),
            deployment("acme/pay", at(4), status="failure"),
            deployment("acme/pay", at(5), status="error"),
            deployment("acme/pay", at(6), env="staging"),
            deployment("acme/pay", at(7), status="in_progress"),
            deployment("acme/pay", at(8)),
        ]
    )
    session.flush()
    metrics = report(session, product="Payments")
    assert metrics["deployment_frequency"]["deployments"] == 2
    assert metrics["deployment_frequency"]["value"] == pytest.approx(2 / 14, abs=1e-4)


def test_a_parent_rolls_up_its_sub_products_repos_without_counting_twice(
    session: Session,
) -> None:
    products(session)
    session.add_all(
        [
            deployment("acme/shop", at(3)),
            deployment("acme/pay", at(4)),
            deployment("acme/pay", at(5)),
            deployment("acme/tools", at(6)),
            pr("acme/pay", at(4, 6)),  # first commit 3rd 10:00 -> deployed 4th 12:00: 26 h
            pr("acme/shop", at(3, 2)),  # first commit 2nd 06:00 -> deployed 3rd 12:00: 30 h
        ]
    )
    session.flush()
    shop = report(session, product="Shop")
    assert shop["deployment_frequency"]["deployments"] == 3  # shop + 2 pay, not tools
    # Median of 25.75 and 29.75
    assert shop["lead_time_for_changes"]["value"] == pytest.approx(28)
    pay = report(session, product="Payments")
    assert pay["deployment_frequency"]["deployments"] == 2
    assert pay["lead_time_for_changes"]["value"] == pytest.approx(26)
    organisation = report(session)
    assert organisation["deployment_frequency"]["deployments"] == 4
    team = report(session, team="payments")
    assert team["deployment_frequency"]["deployments"] == 2


def test_incidents_link_to_their_owning_products_repos_only(session: Session) -> None:
    products(session)
    session.add_all(
        [
            deployment("acme/pay", at(3)),
            deployment("acme/shop", at(3, 14)),  # later, but not Payments' repo
            Incident(
                source="jira",
                external_id="i1",
                key="PAY-1",
                title="Card payments failing",
                project_key="PAY",
                status="resolved",
                started_at=at(3, 16),
                resolved_at=at(3, 18),
            ),
        ]
    )
    session.flush()
    pay = report(session, product="Payments")
    assert pay["change_failure_rate"]["value"] == 1
    assert pay["failed_deployment_recovery_time"]["value"] == 2
    shop = report(session, product="Shop")
    # 1 of 2 deployments in the tree caused it; the shop deployment did not.
    assert shop["change_failure_rate"]["value"] == 0.5


def test_repos_without_deployments_fall_back_to_workflow_runs_then_releases(
    session: Session,
) -> None:
    products(session)
    session.add_all(
        [
            deployment("acme/tools", at(3), origin="workflow_run"),
            deployment("acme/tools", at(4), origin="workflow_run", status="failure"),
            Release(
                source="github",
                external_id="r1",
                scope="acme/shop",
                version="v1",
                created_at=at(5),
                released_at=at(5, 13),
            ),
            Release(  # a draft: not released
                source="github",
                external_id="r2",
                scope="acme/shop",
                version="v2",
                created_at=at(6),
                released_at=None,
            ),
            Release(  # a Sentry release of a project called like the repo: not a deployment
                source="sentry",
                external_id="acme/shop@3",
                scope="acme/shop",
                version="3",
                created_at=at(7),
                released_at=at(7),
            ),
        ]
    )
    session.flush()
    assert report(session, product="Tools")["deployment_frequency"]["deployments"] == 1
    # Shop's own repo deploys by releases (1 published); Payments has none at all.
    shop = report(session, product="Shop")
    assert shop["deployment_frequency"]["deployments"] == 1
    assert report(session, product="Payments")["deployment_frequency"]["value"] is None


def test_settings_change_the_definitions_per_product(session: Session) -> None:
    products(session, production_environment="live", rework_labels=["urgent"])
    session.add_all(
        [
            deployment("acme/pay", at(3), env="live"),
            deployment("acme/pay", at(4), env="production"),
            pr("acme/pay", at(3, 1), labels=["urgent"]),
        ]
    )
    session.flush()
    pay = report(session, product="Payments")
    assert pay["deployment_frequency"]["deployments"] == 1
    assert pay["deployment_rework_rate"]["value"] == 1


def test_unknown_product_or_team_names_the_closest(session: Session) -> None:
    products(session)
    with pytest.raises(UnknownScope) as caught:
        resolve_scope(session, product="Paymnts")
    assert caught.value.suggestions[0] == "Payments"
    assert "Did you mean 'Payments'" in str(caught.value)
    with pytest.raises(UnknownScope) as team:
        resolve_scope(session, team="platfrom")
    assert team.value.suggestions[0] == "platform"
    assert resolve_scope(session, product="payments").name == "Payments"  # any case
