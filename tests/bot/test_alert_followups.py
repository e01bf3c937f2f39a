"""Alert follow-ups (`bot.alerts.followups`, the worker's job): one nudge in the thread of an
alert left open without a ticket, and none for alerts that were handled, are new or were nudged."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from bot.alerts.followups import follow_up
from bot.config import ConfigError
from bot.slack.fake_state import Message
from bot.worker import WorkerSettings
from storage.models_bot import AlertMessage, JiraLink
from tests.bot.harness import BotHarness
from tests.bot.test_alerts_webhook import CHANNEL, issue_body, new_issue_id


def age(bot: BotHarness, issue_id: str, hours: float) -> None:
    """Make the alert of ``issue_id`` look posted ``hours`` ago (by the database's clock)."""
    with bot.engine.begin() as conn:
        aged = conn.execute(
            sa.update(AlertMessage)
            .where(AlertMessage.subject == f"issue:{issue_id}")
            .values(created_at=sa.func.now() - dt.timedelta(hours=hours))
        ).rowcount
    assert aged == 1


def message_of(bot: BotHarness, issue_id: str) -> Message:
    [found] = [m for m in bot.history(CHANNEL) if issue_id in str(m.blocks)]
    return found


def replies(bot: BotHarness, issue_id: str) -> list[str]:
    message = message_of(bot, issue_id)
    return [r.text for r in bot.slack.state.replies(message.channel, message.ts)]


def test_an_alert_open_too_long_without_a_ticket_is_nudged_once(bot: BotHarness) -> None:
    forgotten, ticketed, resolved, fresh = (new_issue_id() for _ in range(4))
    for issue_id in (forgotten, ticketed, resolved, fresh):
        bot.sentry(issue_body(issue_id, title=f"Error {issue_id}"), "issue")
    bot.sentry(issue_body(resolved, action="resolved", status="resolved"), "issue")
    with bot.engine.begin() as conn:  # someone linked a ticket for this one
        conn.execute(sa.insert(JiraLink).values(sentry_issue_id=ticketed, how="linked"))
    bot.settle()
    for issue_id in (forgotten, ticketed, resolved):
        age(bot, issue_id, hours=5)
    age(bot, fresh, hours=3)

    assert follow_up(bot.deps, dt.timedelta(hours=4)) == 1
    bot.settle()
    [nudge] = replies(bot, forgotten)
    assert nudge.startswith("⏰ Still open after 5 hours (12 events so far")
    assert "no Jira ticket yet" in nudge
    assert replies(bot, ticketed) == []
    assert replies(bot, resolved) == ["✅ Resolved in Sentry"]
    assert replies(bot, fresh) == []

    assert follow_up(bot.deps, dt.timedelta(hours=4)) == 0  # never twice
    age(bot, fresh, hours=4.5)
    assert follow_up(bot.deps, dt.timedelta(hours=4)) == 1  # its turn came
    bot.settle()
    assert len(replies(bot, forgotten)) == 1
    assert replies(bot, fresh)[0].startswith("⏰ Still open after 4 hours")


def test_the_follow_up_delay_is_configurable_and_can_be_turned_off() -> None:
    assert WorkerSettings.from_env({}).follow_up_after == dt.timedelta(hours=4)
    assert WorkerSettings.from_env({"SITREP_ALERT_FOLLOW_UP": "90m"}).follow_up_after == (
        dt.timedelta(minutes=90)
    )
    assert WorkerSettings.from_env({"SITREP_ALERT_FOLLOW_UP": "off"}).follow_up_after is None
    with pytest.raises(ConfigError, match="SITREP_ALERT_FOLLOW_UP must be a duration"):
        WorkerSettings.from_env({"SITREP_ALERT_FOLLOW_UP": "soon"})
