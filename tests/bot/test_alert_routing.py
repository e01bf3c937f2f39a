"""Routing Sentry alerts to product channels, and the burst cap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.alerts.routing import (
    Ancestor,
    BurstAction,
    BurstCap,
    MaintenanceWindow,
    ProductInfo,
    Route,
    RoutingRules,
    route_alert,
)
from bot.alerts.sentry_webhook import AlertKind, SentryAlert, parse_webhook

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
PLATFORM = Ancestor("E-commerce Platform", "#ecommerce")
PRODUCTS = {
    "checkout-web": ProductInfo(name="Checkout", priority="critical", slack_channel="#checkout"),
    "payments-api": ProductInfo(
        name="Payment System", priority="high", ancestors=(Ancestor("Payments"), PLATFORM)
    ),
    "search-api": ProductInfo(name="Search", priority="medium", slack_channel="#search"),
    "wiki": ProductInfo(name="Wiki", priority="low", slack_channel="#wiki"),
    "orphan-api": ProductInfo(name="Orphan", priority="high", ancestors=(Ancestor("Lab"),)),
}


def alert(
    project: str | None, level: str | None = "error", kind: AlertKind = "issue"
) -> SentryAlert:
    return SentryAlert(
        kind=kind,
        action="critical" if kind == "metric_alert" else "created",
        delivery_key="test",
        title="Something broke",
        project_slug=project,
        project_slugs=(project,) if project else (),
        level=None if kind == "metric_alert" else level,
    )


def route(
    a: SentryAlert,
    *,
    rules: RoutingRules | None = None,
    maintenance: Mapping[str, Sequence[MaintenanceWindow]] | None = None,
) -> Route:
    return route_alert(a, products=PRODUCTS, now=NOW, rules=rules, maintenance=maintenance)


# ------------------------------------------------------------------ levels


@pytest.mark.parametrize(
    ("project", "level", "posted"),
    [
        ("checkout-web", "fatal", True),
        ("checkout-web", "error", True),
        ("checkout-web", "warning", True),  # critical priority: warnings too
        ("checkout-web", "info", False),
        ("payments-api", "warning", True),  # high priority: warnings too
        ("payments-api", "debug", False),
        ("search-api", "error", True),
        ("search-api", "warning", False),  # medium priority: errors and up
        ("wiki", "fatal", True),
        ("wiki", "warning", False),
        ("wiki", "info", False),
    ],
)
def test_default_minimum_levels(project: str, level: str, posted: bool) -> None:
    assert route(alert(project, level)).should_post is posted


def test_a_muted_level_says_why_and_keeps_the_channel() -> None:
    result = route(alert("search-api", "warning"))
    assert result == Route(
        "#search",
        "Search",
        "warning is below the minimum level (error) for medium-priority products like Search",
    )


def test_a_missing_or_unknown_level_counts_as_error() -> None:
    assert route(alert("search-api", None)).should_post
    assert route(alert("search-api", "weird")).should_post
    assert not route(
        alert("wiki", "weird"), rules=RoutingRules(min_level_by_product={"Wiki": "fatal"})
    ).should_post


def test_per_product_minimum_wins_over_priority() -> None:
    rules = RoutingRules(min_level_by_product={"Search": "info", "Checkout": None})
    assert route(alert("search-api", "info"), rules=rules).should_post
    assert not route(alert("search-api", "debug"), rules=rules).should_post
    muted = route(alert("checkout-web", "fatal"), rules=rules)
    assert muted.muted_reason == "issue and event alerts are switched off for Checkout"


def test_per_priority_rules_can_be_replaced() -> None:
    rules = RoutingRules(min_level_by_priority={"medium": "warning"})
    assert route(alert("search-api", "warning"), rules=rules).should_post
    # A priority missing from the table takes the medium one.
    assert route(alert("wiki", "warning"), rules=rules).should_post


def test_metric_alerts_always_pass_the_level_rule() -> None:
    result = route(alert("wiki", kind="metric_alert"))
    assert result == Route("#wiki", "Wiki")
    rules = RoutingRules(min_level_by_product={"Wiki": None})
    assert route(alert("wiki", kind="metric_alert"), rules=rules).should_post


# ------------------------------------------------------------------ owners and channels


def test_a_product_without_a_channel_inherits_the_nearest_ancestors() -> None:
    # Payment System and its parent Payments have none; the grandparent has one.
    assert route(alert("payments-api")) == Route("#ecommerce", "Payment System")
    nearer = ProductInfo(
        name="Payment System", ancestors=(Ancestor("Payments", "#payments"), PLATFORM)
    )
    result = route_alert(alert("payments-api"), products={"payments-api": nearer}, now=NOW)
    assert result.channel == "#payments"
    own = ProductInfo(name="Payment System", slack_channel="#pay-alerts", ancestors=(PLATFORM,))
    assert route_alert(alert("payments-api"), products={"payments-api": own}, now=NOW).channel == (
        "#pay-alerts"
    )


def test_no_channel_anywhere_gives_no_channel_and_a_reason() -> None:
    result = route(alert("orphan-api"))
    assert result == Route(
        None,
        "Orphan",
        "no Slack channel on Orphan or its parents (Lab); "
        "set slack_channel on it or a parent in the products file",
    )
    assert not result.should_post
    lone = {"x": ProductInfo(name="Lone")}
    assert route_alert(alert("x"), products=lone, now=NOW).muted_reason == (
        "no Slack channel on Lone; set slack_channel on it or a parent in the products file"
    )


def test_a_deliberate_mute_is_reported_before_a_missing_channel() -> None:
    result = route(alert("orphan-api", "debug"))
    assert result.channel is None
    assert result.muted_reason is not None
    assert result.muted_reason.startswith("debug is below the minimum level")


def test_an_unowned_project_names_the_project() -> None:
    assert route(alert("mystery")) == Route(
        None,
        None,
        "Sentry project 'mystery' belongs to no product; "
        "add it to a product's sentry_projects in the products file",
    )
    assert route(alert(None)).muted_reason == (
        "the alert names no Sentry project, so no product owns it"
    )


def test_project_slugs_match_case_insensitively() -> None:
    assert route(alert("Checkout-Web")).channel == "#checkout"


def test_a_metric_alert_over_several_projects_goes_to_the_first_owned_one() -> None:
    base = alert(None, kind="metric_alert")
    multi = replace(base, project_slugs=("mystery", "search-api", "wiki"))
    assert route(multi) == Route("#search", "Search")


def test_a_parsed_sample_routes_end_to_end() -> None:
    body = (
        Path(__file__).resolve().parents[2].parent
        / "shared/specs/webhooks/sentry_issue_created.json"
    ).read_bytes()
    parsed = parse_webhook("issue", body)
    assert parsed is not None
    products = {
        "front-end": ProductInfo(name="Storefront", priority="medium", slack_channel="#web")
    }
    assert route_alert(parsed, products=products, now=NOW) == Route("#web", "Storefront")


# ------------------------------------------------------------------ maintenance windows


def window(start_hours: float, end_hours: float, note: str | None = None) -> MaintenanceWindow:
    return MaintenanceWindow(
        NOW + timedelta(hours=start_hours), NOW + timedelta(hours=end_hours), note
    )


def test_a_maintenance_window_mutes_with_a_reason() -> None:
    maintenance = {"Checkout": [window(-1, 2, "DB migration")]}
    result = route(alert("checkout-web", "fatal"), maintenance=maintenance)
    assert result == Route(
        "#checkout",
        "Checkout",
        "Checkout is in a maintenance window until 2026-11-23 16:00 UTC (DB migration)",
    )


def test_an_ancestors_window_mutes_its_products_too() -> None:
    maintenance = {"E-commerce Platform": [window(0, 1)]}
    result = route(alert("payments-api", kind="metric_alert"), maintenance=maintenance)
    assert result.muted_reason == (
        "Payment System's parent E-commerce Platform is in a maintenance window "
        "until 2026-11-23 15:00 UTC"
    )


def test_windows_that_do_not_cover_now_or_belong_elsewhere_do_nothing() -> None:
    maintenance = {
        "Checkout": [window(-2, 0), window(0.5, 3)],  # ended exactly now; not started yet
        "Search": [window(-1, 1)],
    }
    assert route(alert("checkout-web"), maintenance=maintenance).should_post


# ------------------------------------------------------------------ burst cap


def minutes(n: float) -> datetime:
    return NOW + timedelta(minutes=n)


def test_five_in_ten_minutes_post_and_the_sixth_folds() -> None:
    cap = BurstCap()
    posted: list[datetime] = []
    for i in range(5):
        decision = cap.decide(posted, minutes(i))
        assert (decision.action, decision.recent) == (BurstAction.POST, i)
        posted.append(minutes(i))
    sixth = cap.decide(posted, minutes(5))
    assert sixth.action is BurstAction.FOLD
    assert sixth.recent == 5
    assert sixth.resumes_at == minutes(10)  # when the first post leaves the window


def test_the_window_slides() -> None:
    cap = BurstCap()
    posted = [minutes(i) for i in range(5)]
    assert cap.decide(posted, minutes(9.99)).action is BurstAction.FOLD
    # Exactly ten minutes after the first post it no longer counts.
    assert cap.decide(posted, minutes(10)).action is BurstAction.POST
    assert cap.decide(posted, minutes(60)).recent == 0


def test_resumes_at_waits_for_enough_posts_to_leave_the_window() -> None:
    cap = BurstCap(limit=2, per=timedelta(minutes=1))
    posted = [minutes(0), minutes(0.25), minutes(0.5)]  # e.g. posted before the cap was lowered
    decision = cap.decide(posted, minutes(0.75))
    assert decision.action is BurstAction.FOLD
    assert decision.resumes_at == minutes(1.25)  # two of the three must leave


def test_old_and_unordered_timestamps_are_fine() -> None:
    posted = [minutes(-30), minutes(3), minutes(1), minutes(-11), minutes(2)]
    decision = BurstCap(limit=3).decide(posted, minutes(4))
    assert (decision.action, decision.recent) == (BurstAction.FOLD, 3)


@pytest.mark.parametrize(
    ("limit", "per"), [(0, timedelta(minutes=1)), (3, timedelta(0)), (3, timedelta(seconds=-1))]
)
def test_a_meaningless_cap_is_refused(limit: int, per: timedelta) -> None:
    with pytest.raises(ValueError, match="limit >= 1"):
        BurstCap(limit=limit, per=per)
