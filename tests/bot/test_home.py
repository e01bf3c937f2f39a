"""The App Home through the real endpoint: the tab opened, filtered, drilled into, republished."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from bot.console import payloads
from bot.digests.facts import ProductNode
from bot.home.service import SUPERSEDED, publish, republish_homes
from bot.home.tiles import HOME_DAYS, HomeFilter, Tile
from bot.home.view import home_view
from bot.reports import ReportRequest
from bot.slack.blocks import ARROWS, BAND_EMOJI, number
from bot.slack.ids import ActionId
from storage.db import session_scope
from storage.models import Product
from storage.models_bot import AlertMessage, HomeView, OutboxItem
from tests.bot.harness import SIGNING_SECRET, BotHarness

ALICE = "U0ALICE"
SANDBOX_PRODUCTS = {
    "E-commerce Platform",
    "Checkout",
    "Payment System",
    "Fraud Detection",
    "Catalog & Search",
    "Mobile App",
    "Internal Tools",
}


def open_home(bot: BotHarness, user: str = ALICE, *, tab: str = "home") -> None:
    reply = bot.event(
        {
            "type": "app_home_opened",
            "user": user,
            "channel": "D0HOME",
            "tab": tab,
            "event_ts": f"{time.time():.6f}",
        }
    )
    assert reply.status == 200


def published(bot: BotHarness, count: int, user: str = ALICE) -> dict[str, Any]:
    """The user's Home tab once ``count`` publishes of it went through."""
    deadline = time.monotonic() + 15
    while True:
        calls = [
            c
            for c in bot.slack.state.calls_to("views.publish")
            if c.ok and c.args.get("user_id") == user
        ]
        if len(calls) >= count:
            home = bot.slack.state.home(user)
            assert home is not None
            return home
        assert time.monotonic() < deadline, f"{len(calls)} of {count} publishes for {user}"
        time.sleep(0.02)


def tiles(view: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The product tiles of a Home tab by product name (as Slack shows it, unescaped)."""
    found = {}
    for block in view["blocks"]:
        accessory = block.get("accessory") or {}
        if accessory.get("action_id") == ActionId.HOME_DRILL:
            name = block["text"]["text"].split("*")[1].replace("&amp;", "&")
            found[name] = block
    return found


def field(tile: Mapping[str, Any], title: str) -> str:
    text = next(f["text"] for f in tile["fields"] if f["text"].startswith(f"*{title}*"))
    return str(text.split("\n", 1)[1])


def press(
    bot: BotHarness,
    view: Mapping[str, Any],
    element: Mapping[str, Any],
    block_id: str,
    *,
    selected: Mapping[str, Any] | None = None,
) -> None:
    """A click on ``element`` of ``view`` (a button, or a choice in a select)."""
    body = payloads.block_action(
        element,
        block_id=block_id,
        user_id=ALICE,
        user_name="alice",
        channel_id=None,
        response_url=None,
        trigger_id=bot.slack.state.new_trigger_id(),
        view=view,
        selected=selected,
    )
    raw, headers = payloads.signed(SIGNING_SECRET, body, "application/x-www-form-urlencoded")
    assert bot.http.post("/slack/events", content=raw, headers=headers).status_code == 200


def choose(bot: BotHarness, view: Mapping[str, Any], label: str) -> None:
    block = next(b for b in view["blocks"] if b.get("block_id") == "home_filter")
    select = block["elements"][0]
    options = [o for g in select["option_groups"] for o in g["options"]]
    option = next(o for o in options if o["text"]["text"] == label)
    press(bot, view, select, block["block_id"], selected=option)


def test_opening_the_home_tab_shows_a_tile_per_product(bot: BotHarness) -> None:
    open_home(bot, tab="messages")  # the Messages tab is not the dashboard
    open_home(bot)
    home = published(bot, 1)

    assert home["type"] == "home" and len(home["blocks"]) <= 100
    shown = tiles(home)
    assert set(shown) == SANDBOX_PRODUCTS
    assert len(bot.slack.state.calls_to("views.publish")) == 1
    for name, tile in shown.items():
        health = bot.deps.reports.get(ReportRequest(kind="health", product=name, days=HOME_DAYS))
        score = health["metrics"]["health_score"]
        assert field(tile, "Health").startswith(
            f"{number(score['value'])}/100 {ARROWS[score['trend']]}"
        )
        dora = bot.deps.reports.get(ReportRequest(kind="dora", product=name, days=HOME_DAYS))
        band = dora["overall_band"]
        assert field(tile, "DORA") == (f"{BAND_EMOJI[band]} {band}" if band else "⚪ no data")
    sprint = field(shown["Payment System"], "Sprint")
    board = bot.deps.reports.get(ReportRequest(kind="sprint", product="Payment System"))["boards"]
    metrics = board[0]["metrics"]
    assert sprint.startswith(
        f"{board[0]['sprint']['name']}: {number(metrics['completed_points']['value'])}"
        f"/{number(metrics['committed_points']['value'])} points"
    )
    assert field(shown["Payment System"], "Alerts") == "none"
    with session_scope(bot.engine) as session:
        row = session.get(HomeView, ALICE)
        assert row is not None and row.opened_at is not None and row.filter_kind == "all"


def test_a_team_filter_is_applied_and_remembered(bot: BotHarness) -> None:
    open_home(bot)
    choose(bot, published(bot, 1), "Team payments")
    home = published(bot, 2)
    assert list(tiles(home)) == ["Payment System", "Fraud Detection"]
    assert home["blocks"][0]["text"]["text"] == "Sitrep · Team payments"
    select = next(b for b in home["blocks"] if b.get("block_id") == "home_filter")["elements"][0]
    assert select["initial_option"]["text"]["text"] == "Team payments"

    open_home(bot)  # reopened later: still the team
    assert list(tiles(published(bot, 3))) == ["Payment System", "Fraud Detection"]

    choose(bot, published(bot, 3), "· Payment System")  # one product: it and its children
    assert list(tiles(published(bot, 4))) == ["Payment System", "Fraud Detection"]
    choose(bot, published(bot, 4), "· · Fraud Detection")
    assert list(tiles(published(bot, 5))) == ["Fraud Detection"]
    choose(bot, published(bot, 5), "All products")
    assert set(tiles(published(bot, 6))) == SANDBOX_PRODUCTS


def test_details_opens_a_modal_with_the_products_reports(bot: BotHarness) -> None:
    open_home(bot)
    home = published(bot, 1)
    tile = tiles(home)["Payment System"]
    press(bot, home, tile["accessory"], tile["block_id"])

    [update] = bot.slack.state.wait_for("views.update")
    modal = bot.slack.state.views[update.response["view"]["id"]]
    assert modal["type"] == "modal" and modal["title"]["text"] == "Payment System"
    headers = [b["text"]["text"] for b in modal["blocks"] if b["type"] == "header"]
    assert headers == [
        f"Health · Payment System · last {HOME_DAYS} days",
        f"DORA · Payment System · last {HOME_DAYS} days",
        "Sprint · PAY board",
    ]
    assert len(modal["blocks"]) <= 100
    assert not any(
        e.get("action_id") == ActionId.SHARE_REPORT
        for b in modal["blocks"]
        for e in b.get("elements") or []
    )


def add_alert(bot: BotHarness, product: str, title: str, *, status: str = "open") -> None:
    with session_scope(bot.engine) as session:
        product_id = session.scalar(sa.select(Product.id).where(Product.name == product))
        n = session.scalar(sa.select(sa.func.count()).select_from(AlertMessage))
        session.add(
            AlertMessage(
                subject=f"issue:{n}",
                channel_id="C0PAYMENTS",
                product_id=product_id,
                alert={"title": title, "level": "error", "web_url": f"https://sentry.io/i/{n}/"},
                status=status,
            )
        )


def test_republishing_after_a_sync_updates_the_homes_that_were_opened(bot: BotHarness) -> None:
    with session_scope(bot.engine) as session:
        session.add(HomeView(user_id="U0BOB", filter_kind="all"))  # never opened
    open_home(bot)
    before = tiles(published(bot, 1))
    assert field(before["Fraud Detection"], "Alerts") == "none"

    add_alert(bot, "Fraud Detection", "<!here> Card declined & <@U0BOB>", status="resolved")
    add_alert(bot, "Fraud Detection", "Timeout in scoring")
    assert republish_homes(bot.deps) == 1
    after = tiles(published(bot, 2))
    alerts = field(after["Fraud Detection"], "Alerts")
    assert alerts.startswith("1 open\nlatest: <https://sentry.io/i/1/|Timeout in scoring>")
    # Alerts roll up to the parents, as the reports do; siblings are untouched.
    assert field(after["Payment System"], "Alerts").startswith("1 open")
    assert field(after["E-commerce Platform"], "Alerts").startswith("1 open")
    assert field(after["Checkout"], "Alerts") == "none"
    assert not [c for c in bot.slack.state.calls_to("views.publish") if c.args["user_id"] != ALICE]

    with session_scope(bot.engine) as session:
        session.execute(
            sa.delete(AlertMessage).where(
                AlertMessage.alert["title"].astext == "Timeout in scoring"
            )
        )
    republish_homes(bot.deps)
    alerts = field(tiles(published(bot, 3))["Fraud Detection"], "Alerts")
    assert alerts.startswith("0 open\nlatest: <https://sentry.io/i/0/|")
    assert "&lt;!here&gt; Card declined &amp; &lt;@U0BOB&gt;" in alerts


def test_after_an_outage_only_the_newest_tab_is_delivered(bot: BotHarness) -> None:
    with session_scope(bot.engine) as session:
        session.add(HomeView(user_id=ALICE, filter_kind="team", filter_value="mobile"))
    bot.slack.state.outage = True
    publish(bot.deps, [ALICE])
    with session_scope(bot.engine) as session:
        session.execute(sa.update(HomeView).values(filter_kind="team", filter_value="checkout"))
    publish(bot.deps, [ALICE])
    bot.slack.state.outage = False
    bot.settle(timeout=30)

    assert list(tiles(published(bot, 1))) == ["Checkout"]
    assert len([c for c in bot.slack.state.calls_to("views.publish") if c.ok]) == 1
    with bot.engine.connect() as conn:
        errors = conn.scalars(
            sa.select(OutboxItem.last_error).where(OutboxItem.method == "views.publish")
        ).all()
    assert sorted(errors, key=str) == sorted([SUPERSEDED, None], key=str)


def test_a_filter_whose_team_is_gone_falls_back_to_everything(bot: BotHarness) -> None:
    with session_scope(bot.engine) as session:
        session.add(HomeView(user_id=ALICE, filter_kind="team", filter_value="gone-team"))
    open_home(bot)
    home = published(bot, 1)
    assert set(tiles(home)) == SANDBOX_PRODUCTS
    context = home["blocks"][2]["elements"][0]["text"]
    assert "Team gone-team has no active products any more" in context


def synthetic_tiles(count: int) -> tuple[list[ProductNode], list[Tile]]:
    nodes = [ProductNode(i, f"Service {i:03d} <!here>", "team-a", 0) for i in range(1, count + 1)]
    score = {"value": 80, "previous": 90, "trend": "down"}
    return nodes, [Tile(node=n, health=score, dora_band="elite", boards=[]) for n in nodes]


def test_a_home_tab_of_many_products_stays_within_slacks_100_blocks() -> None:
    now = dt.datetime(2026, 11, 16, 9, tzinfo=dt.UTC)
    for count, dividers, hidden in ((40, True, 0), (90, False, 0), (140, False, 44)):
        nodes, made = synthetic_tiles(count)
        view = home_view(chosen=HomeFilter(), nodes=nodes, tiles=made, now=now)
        blocks = view["blocks"]
        assert len(blocks) <= 100, count
        assert any(b["type"] == "divider" for b in blocks) is dividers
        assert len(tiles(view)) == count - hidden
        if hidden:
            assert blocks[-1]["elements"][0]["text"].startswith(f"…and {hidden} more products")
        # Names are escaped in mrkdwn (plain_text, as in the select, never pings anyone).
        sections = str([b for b in blocks if b["type"] == "section"])
        assert "<!here>" not in sections and "&lt;!here&gt;" in sections
        # The select offers at most 100 products (Slack's limit per option group).
        select = blocks[1]["elements"][0]
        assert all(len(g["options"]) <= 100 for g in select["option_groups"])
