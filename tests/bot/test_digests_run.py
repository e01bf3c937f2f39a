"""Scheduled digests end to end: due subscriptions -> the outbox -> the fake Slack's channel."""

from __future__ import annotations

import datetime as dt
import threading

import sqlalchemy as sa

from bot.digests.run import DigestRun, run_due
from bot.slack.fake_state import Message
from storage.db import session_scope
from storage.models import Product
from storage.models_bot import OutboxItem, Subscription
from tests.bot.conftest import BOT_NOW
from tests.bot.harness import BotHarness


def subscribe(
    bot: BotHarness,
    channel: str,
    *,
    product: str | None = "Payment System",
    quiet: str = "post",
    next_run_at: dt.datetime = BOT_NOW,
    time_zone: str = "Europe/Berlin",
    cadence: str = "daily",
    weekday: int = 0,
) -> tuple[int, str]:
    """A digest subscription of ``channel`` (created in the fake Slack), due at ``next_run_at``."""
    channel_id = bot.slack.state.add_channel(channel).id
    with session_scope(bot.engine) as session:
        product_id = (
            session.scalar(sa.select(Product.id).where(Product.name == product))
            if product
            else None
        )
        sub = Subscription(
            channel_id=channel_id,
            kind="digest",
            product_id=product_id,
            cadence=cadence,
            weekday=weekday,
            at_time=dt.time(9, 0),
            time_zone=time_zone,
            quiet=quiet,
            next_run_at=next_run_at,
        )
        session.add(sub)
        session.flush()
        return sub.id, channel_id


def subscription(bot: BotHarness, sub_id: int) -> Subscription:
    with session_scope(bot.engine) as session:
        found = session.get(Subscription, sub_id)
        assert found is not None
        session.expunge(found)
        return found


def posted(bot: BotHarness, channel_id: str) -> list[Message]:
    bot.settle()
    return bot.history(channel_id)


def test_a_due_subscription_posts_the_digest_with_its_details_in_a_thread(
    bot: BotHarness,
) -> None:
    sub_id, channel = subscribe(bot, "payments-digest")
    _, later = subscribe(bot, "later", next_run_at=BOT_NOW + dt.timedelta(hours=1))
    runs = run_due(bot.deps, bot.deps.clock())

    assert [(r.subscription_id, r.outcome) for r in runs] == [(sub_id, "posted")]
    assert posted(bot, later) == []  # not due yet
    [main] = posted(bot, channel)
    assert main.blocks[0]["text"]["text"] == "Daily digest · Payment System"
    replies = bot.slack.state.replies(channel, main.ts)
    assert [r.text for r in replies] == [
        "Health details for Payment System",
        "DORA details for Payment System",
        "Sprint details for Payment System",
    ]
    assert main.reply_count == 3
    after = subscription(bot, sub_id)
    # 09:00 in Berlin tomorrow is 08:00 UTC in November.
    assert after.next_run_at == dt.datetime(2026, 11, 17, 8, 0, tzinfo=dt.UTC)
    assert after.last_fingerprint and after.last_run_at is not None
    # Nothing else is due: a second call does nothing.
    assert run_due(bot.deps, bot.deps.clock()) == []


def test_an_unchanged_world_posts_one_line_or_nothing(bot: BotHarness) -> None:
    loud, loud_channel = subscribe(bot, "loud", product=None, quiet="post")
    silent, silent_channel = subscribe(bot, "silent", product=None, quiet="skip")
    first = run_due(bot.deps, bot.deps.clock())
    assert sorted(r.outcome for r in first) == ["posted", "posted"]
    bot.settle()

    # Due again half a minute later (as if subscribed twice a day): nothing has changed since.
    again = BOT_NOW + dt.timedelta(seconds=30)
    with session_scope(bot.engine) as session:
        session.execute(sa.update(Subscription).values(next_run_at=again))
    second = {r.subscription_id: r for r in run_due(bot.deps, again)}
    assert second[loud].outcome == "quiet" and len(second[loud].items) == 1
    assert second[silent].outcome == "skipped" and second[silent].items == ()

    loud_posts = posted(bot, loud_channel)
    assert [m.text for m in loud_posts[1:]] == [
        "All quiet on the organisation: nothing changed since the last digest"
    ]
    assert bot.slack.state.replies(loud_channel, loud_posts[1].ts) == []
    assert len(posted(bot, silent_channel)) == 1
    # Skipping still moves the schedule on.
    assert subscription(bot, silent).next_run_at == dt.datetime(2026, 11, 17, 8, tzinfo=dt.UTC)


def test_two_workers_at_once_send_one_digest(bot: BotHarness) -> None:
    _, channel = subscribe(bot, "race")
    start = threading.Barrier(2)
    results: list[list[DigestRun]] = []

    def worker() -> None:
        start.wait()
        results.append(run_due(bot.deps, bot.deps.clock()))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(len(r) for r in results) == [0, 1]
    assert len(posted(bot, channel)) == 1
    with bot.engine.connect() as conn:
        count = conn.scalar(sa.select(sa.func.count()).select_from(OutboxItem))
    assert count == 4  # one main message and three replies, enqueued once


def test_a_slack_outage_delays_the_digest_and_loses_nothing(bot: BotHarness) -> None:
    _, channel = subscribe(bot, "outage")
    bot.slack.state.outage = True
    [run] = run_due(bot.deps, bot.deps.clock())
    assert run.outcome == "posted"
    assert bot.history(channel) == []
    assert bot.deps.outbox.pending() == 4
    bot.slack.state.outage = False

    bot.settle(timeout=30)  # the outbox's backoff after a failed attempt is a few seconds
    [main] = bot.history(channel)
    assert len(bot.slack.state.replies(channel, main.ts)) == 3


def test_a_worker_down_for_days_sends_one_digest_not_a_backlog(bot: BotHarness) -> None:
    sub_id, channel = subscribe(bot, "late", next_run_at=BOT_NOW - dt.timedelta(days=3))
    runs = run_due(bot.deps, bot.deps.clock())
    assert [r.outcome for r in runs] == ["posted"]
    assert run_due(bot.deps, bot.deps.clock()) == []
    assert len(posted(bot, channel)) == 1
    assert subscription(bot, sub_id).next_run_at == dt.datetime(2026, 11, 17, 8, tzinfo=dt.UTC)


def test_a_weekly_digest_waits_for_its_weekday(bot: BotHarness) -> None:
    # BOT_NOW is a Monday; Fridays at 09:00 in New York are 14:00 UTC in November.
    sub_id, _ = subscribe(bot, "weekly", cadence="weekly", weekday=4, time_zone="America/New_York")
    [run] = run_due(bot.deps, bot.deps.clock())
    assert run.outcome == "posted"
    assert subscription(bot, sub_id).next_run_at == dt.datetime(2026, 11, 20, 14, tzinfo=dt.UTC)
