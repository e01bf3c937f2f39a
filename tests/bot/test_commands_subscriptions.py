"""`/sitrep subscribe`, `unsubscribe` and `subscriptions`: rows per channel, schedules on the
subscriber's clock, and who may change them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from bot.digests.schedule import next_run
from bot.sandbox import Sandbox
from storage.db import session_scope
from storage.models import Product
from storage.models_bot import Subscription
from tests.bot.conftest import BOT_NOW
from tests.bot.harness import BotHarness
from tests.bot.test_commands import ask, text_of


def rows(bot: BotHarness) -> list[tuple[Any, ...]]:
    """(channel, kind, product, cadence, weekday, time, zone, next run) of every subscription."""
    with session_scope(bot.engine) as session:
        found = session.execute(
            sa.select(
                Subscription.channel_id,
                Subscription.kind,
                Product.name,
                Subscription.cadence,
                Subscription.weekday,
                Subscription.at_time,
                Subscription.time_zone,
                Subscription.next_run_at,
            )
            .outerjoin(Product, Product.id == Subscription.product_id)
            .order_by(Subscription.id)
        )
        return [tuple(r) for r in found]


def channel_id(bot: BotHarness, name: str) -> str:
    found = bot.slack.state.channel(name)
    assert found is not None
    return found.id


def test_subscribe_update_list_and_unsubscribe(bot: BotHarness) -> None:
    general = channel_id(bot, "general")

    shown = text_of(ask(bot, "subscribe digest Payment System weekly friday 16:00 Europe/Berlin"))
    first = next_run(
        cadence="weekly", at=dt.time(16), time_zone="Europe/Berlin", after=BOT_NOW, weekday=4
    )
    assert rows(bot) == [
        (general, "digest", "Payment System", "weekly", 4, dt.time(16), "Europe/Berlin", first)
    ]
    assert "Subscribed <#" in shown and "weekly digest on Fridays at 16:00 Europe/Berlin" in shown
    local = first.astimezone(dt.timezone(dt.timedelta(hours=1)))  # Berlin in November: UTC+1
    assert f"Next digest: Fri {local.day} Nov 16:00 Europe/Berlin ({first:%H:%M} UTC)" in shown

    # Again, with only a new time: the same row, the rest of the schedule kept, and it says so.
    shown = text_of(ask(bot, "subscribe digest payment system 10:00"))
    moved = next_run(
        cadence="weekly", at=dt.time(10), time_zone="Europe/Berlin", after=BOT_NOW, weekday=4
    )
    assert rows(bot) == [
        (general, "digest", "Payment System", "weekly", 4, dt.time(10), "Europe/Berlin", moved)
    ]
    assert "Updated this channel's subscription" in shown
    assert "(was the weekly digest on Fridays at 16:00 Europe/Berlin)" in shown

    # The whole organisation, defaults: daily at 09:00 in the user's Slack time zone.
    shown = text_of(ask(bot, "subscribe digest"))
    daily = next_run(cadence="daily", at=dt.time(9), time_zone="Europe/Berlin", after=BOT_NOW)
    assert rows(bot)[1] == (general, "digest", None, "daily", 0, dt.time(9), "Europe/Berlin", daily)
    assert "daily digest at 09:00 Europe/Berlin for the organisation" in shown

    ask(bot, "subscribe alerts Checkout")
    assert rows(bot)[2][:3] == (general, "alerts", "Checkout")

    listed = text_of(ask(bot, "subscriptions"))
    assert "*Weekly digest on Fridays at 10:00 Europe/Berlin* for Payment System" in listed
    assert "*Daily digest at 09:00 Europe/Berlin* for the organisation" in listed
    assert "*Alerts* for Checkout" in listed
    assert "by <@U0ALICE>" in listed

    # Another channel has none of these.
    assert "This channel has no subscriptions." in text_of(
        ask(bot, "subscriptions", channel="random")
    )

    shown = text_of(ask(bot, "unsubscribe digest Payment System"))
    assert "no longer gets the weekly digest on Fridays at 10:00 Europe/Berlin" in shown
    assert [(r[1], r[2]) for r in rows(bot)] == [("digest", None), ("alerts", "Checkout")]
    shown = text_of(ask(bot, "unsubscribe digest Payment System"))
    assert "This channel has no digest subscription for Payment System." in shown
    assert "for the organisation" in shown  # and what it has instead
    listed = text_of(ask(bot, "subscriptions"))
    assert "Payment System" not in listed and "for the organisation" in listed


def test_a_new_digest_is_on_the_users_clock_and_bad_names_get_help(bot: BotHarness) -> None:
    bot.slack.state.add_user("U0CAROL", "carol", tz="Asia/Tokyo")
    shown = text_of(ask(bot, "subscribe digest Checkout 08:30", user="U0CAROL"))
    assert rows(bot)[0][5:7] == (dt.time(8, 30), "Asia/Tokyo")
    assert "Next digest: Tue 17 Nov 08:30 Asia/Tokyo (23:30 UTC)" in shown
    ask(bot, "subscribe digest Mobile App", user="U0DAVE")  # Slack's profile says UTC
    assert rows(bot)[1][5:7] == (dt.time(9), "UTC")

    shown = text_of(ask(bot, "subscribe digest Chekout"))
    assert "No product called 'Chekout'." in shown and "Did you mean *Checkout*" in shown
    shown = text_of(ask(bot, "subscribe digest Checkout Europe/Berln"))
    assert "Unknown time zone 'Europe/Berln'" in shown and "*Europe/Berlin*" in shown
    assert len(rows(bot)) == 2  # neither error wrote anything


@pytest.fixture
def guarded(synced_db: sa.Engine, bot_sandbox: Sandbox) -> Iterator[BotHarness]:
    """A bot whose subscriptions only Bob (an admin) may change."""
    harness = BotHarness(
        synced_db,
        bot_sandbox.env(),
        clock=lambda: BOT_NOW,
        config_overrides={"admins": frozenset({"U0BOB"})},
    )
    harness.start()
    yield harness
    harness.stop()


def test_only_admins_may_change_subscriptions_when_admins_are_set(guarded: BotHarness) -> None:
    shown = text_of(ask(guarded, "subscribe digest Payment System"))
    assert "Only Sitrep admins can change this channel's subscriptions: <@U0BOB>" in shown
    assert rows(guarded) == []

    ask(guarded, "subscribe digest Payment System", user="U0BOB")
    assert [r[1:3] for r in rows(guarded)] == [("digest", "Payment System")]
    assert "Only Sitrep admins" in text_of(ask(guarded, "unsubscribe digest Payment System"))
    assert len(rows(guarded)) == 1
    # Anyone may look.
    assert "Payment System" in text_of(ask(guarded, "subscriptions"))
