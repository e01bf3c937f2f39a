"""`/sitrep mute` and `unmute`: maintenance windows people make from Slack, which the Sentry
webhook honours on the very next alert."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from bot.sandbox import Sandbox
from storage.models import Product
from storage.models_bot import MaintenanceWindowRow
from tests.bot.conftest import BOT_NOW
from tests.bot.harness import BotHarness
from tests.bot.test_alerts_webhook import CHANNEL, PRODUCT, issue_body, new_issue_id
from tests.bot.test_commands import ask, text_of

SAID = "in_channel"  # mutes and unmutes are announced in the channel


def windows(bot: BotHarness) -> list[tuple[str, dt.datetime, dt.datetime, str | None, str | None]]:
    """(product, start, end, note, by) of every maintenance window, oldest first."""
    with bot.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                Product.name,
                MaintenanceWindowRow.starts_at,
                MaintenanceWindowRow.ends_at,
                MaintenanceWindowRow.note,
                MaintenanceWindowRow.created_by,
            )
            .join(Product, Product.id == MaintenanceWindowRow.product_id)
            .order_by(MaintenanceWindowRow.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def alert_detail(bot: BotHarness) -> str:
    detail: str = bot.sentry(issue_body(new_issue_id()), "issue").json()["detail"]
    return detail


def test_a_mute_holds_the_alerts_until_unmuted(bot: BotHarness) -> None:
    before = bot.deps.clock()
    shown = ask(
        bot, 'mute payment system 2h "database upgrade"', user="U0ALICE", response_type=SAID
    )
    after = bot.deps.clock()
    # Said in the channel: whoever watches the alerts sees who muted them, why and until when.
    assert shown["response_type"] == "in_channel"
    text = text_of(shown)
    assert "<@U0ALICE> muted the Sentry alerts of *Payment System*" in text
    assert "(2 hours)" in text and "Reason: database upgrade" in text
    [(product, start, end, note, by)] = windows(bot)
    assert (product, note, by) == ("Payment System", "database upgrade", "U0ALICE")
    assert before <= start <= after and end - start == dt.timedelta(hours=2)

    detail = alert_detail(bot)
    assert detail.startswith("muted: Payment System is in a maintenance window until")
    assert "database upgrade" in detail
    # Its sub-product too (Fraud Detection is under Payment System).
    listed = text_of(ask(bot, "mute"))
    assert (
        "*Payment System* until" in listed and "left) · by <@U0ALICE> · database upgrade" in listed
    )
    assert "Muted now" in text_of(ask(bot, "alerts Fraud Detection"))
    assert "Muted now" not in text_of(ask(bot, "alerts Mobile App"))

    # Muting again moves the end of the same window; it does not stack a second one.
    text = text_of(ask(bot, "mute Payment System for 30 minutes", user="U0BOB", response_type=SAID))
    assert "<@U0BOB> shortened the mute of the Sentry alerts of *Payment System*" in text
    [(_, start_again, end, note, _)] = windows(bot)
    assert start_again == start and note == "database upgrade"
    assert dt.timedelta(minutes=29) < end - bot.deps.clock() <= dt.timedelta(minutes=30)

    shown = ask(bot, "unmute Payment System", user="U0BOB", response_type=SAID)
    assert shown["response_type"] == "in_channel"
    assert "<@U0BOB> unmuted *Payment System*" in text_of(shown)
    [(_, _, ended, _, _)] = windows(bot)
    assert ended <= bot.deps.clock()  # kept, as history, but over
    assert alert_detail(bot).startswith("posted")
    bot.settle()
    assert len(bot.history(CHANNEL)) == 1
    assert "Nothing is muted" in text_of(ask(bot, "mute"))
    assert "*Payment System* is not muted." in text_of(ask(bot, "unmute Payment System"))


def test_until_a_time_of_day_is_the_next_one_on_the_askers_clock(bot: BotHarness) -> None:
    bot.slack.state.add_user("U0CAROL", "carol", tz="Asia/Tokyo")
    now = bot.deps.clock()  # 09:00 UTC on 16 Nov: 18:00 in Tokyo, so 17:30 there is tomorrow
    text = text_of(ask(bot, "mute Checkout until 17:30", user="U0CAROL", response_type=SAID))
    tokyo = ZoneInfo("Asia/Tokyo")
    expected = dt.datetime(2026, 11, 17, 17, 30, tzinfo=tokyo)
    assert now.astimezone(tokyo).hour == 18
    [(_, _, end, _, _)] = windows(bot)
    assert end == expected
    assert "until Tue 17 Nov 17:30 Asia/Tokyo (08:30 UTC)" in text
    # An explicit zone wins over the asker's.
    ask(bot, "mute Checkout until 10:00 UTC", user="U0CAROL", response_type=SAID)
    [(_, _, end, _, _)] = windows(bot)
    assert end == dt.datetime(2026, 11, 16, 10, 0, tzinfo=dt.UTC)


def test_a_parents_mute_is_named_when_its_child_is_not_muted(bot: BotHarness) -> None:
    ask(bot, "mute E-commerce Platform 1d", response_type=SAID)
    text = text_of(ask(bot, "unmute Checkout"))
    assert "*Checkout* is not muted." in text
    assert "Its parent *E-commerce Platform* is, until" in text
    assert "`/sitrep unmute E-commerce Platform`" in text
    assert [w[0] for w in windows(bot)] == ["E-commerce Platform"]  # untouched


def test_mute_needs_a_product_and_a_sane_length(bot: BotHarness) -> None:
    assert "Mutes are per product; 'all' is not one." in text_of(ask(bot, "mute all 2h"))
    text = text_of(ask(bot, "mute Paymnt System 2h"))
    assert "No product called 'Paymnt System'" in text and "Payment System" in text
    text = text_of(ask(bot, "mute Checkout 3w"))
    assert "'3w' is not a length" in text and "30m" in text
    assert "from 1 minute to 14 days" in text_of(ask(bot, "mute Checkout 20d"))
    assert windows(bot) == []


@pytest.fixture
def guarded(synced_db: sa.Engine, bot_sandbox: Sandbox) -> Iterator[BotHarness]:
    """A bot where only Bob (an admin) may mute."""
    started = time.monotonic()
    harness = BotHarness(
        synced_db,
        bot_sandbox.env(),
        clock=lambda: BOT_NOW + dt.timedelta(seconds=time.monotonic() - started),
        config_overrides={"admins": frozenset({"U0BOB"})},
    ).start()
    yield harness
    harness.stop()


def test_only_admins_may_mute_when_admins_are_set(guarded: BotHarness) -> None:
    assert "Only Sitrep admins can mute alerts: <@U0BOB>" in text_of(
        ask(guarded, f"mute {PRODUCT} 2h", user="U0EVE")
    )
    assert windows(guarded) == []
    ask(guarded, f"mute {PRODUCT} 2h", user="U0BOB", response_type=SAID)
    assert "Only Sitrep admins can unmute alerts" in text_of(
        ask(guarded, f"unmute {PRODUCT}", user="U0EVE")
    )
    assert len(windows(guarded)) == 1 and windows(guarded)[0][2] > guarded.deps.clock()
    assert PRODUCT in text_of(ask(guarded, "mute", user="U0EVE"))  # anyone may look
