"""Sentry webhooks end to end: signed HTTP in, Slack messages (through the outbox) out.

Bodies are Sentry's own samples (../shared/specs/webhooks) with the project changed to a sandbox
project, ``payments-api``, owned by Payment System whose channel is #payments-alerts.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import logging
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from slack_sdk.models.blocks import Block

from bot.alerts import sentry_webhook
from bot.alerts.rules import rules_from_env
from bot.config import ConfigError
from bot.console import payloads
from bot.sandbox import Sandbox
from bot.slack.fake_state import Message
from bot.slack.signing import sign
from storage.models import Product
from storage.models_bot import AlertMessage, MaintenanceWindowRow, Subscription, WebhookDelivery
from tests.bot.conftest import BOT_NOW
from tests.bot.harness import SENTRY_SECRET, SIGNING_SECRET, BotHarness

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "webhooks"
PROJECT = "payments-api"
PRODUCT = "Payment System"
CHANNEL = "#payments-alerts"
BUTTONS = ["Create Jira ticket", "Link existing ticket", "Resolve", "Ignore"]
_ids = itertools.count(1)


def new_issue_id() -> str:
    """An id no other test (nor an earlier run against the same fakes) uses."""
    return str(880_000_000 + secrets.randbelow(10_000_000) * 100 + next(_ids) % 100)


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return loaded


def issue_body(
    issue_id: str,
    *,
    action: str = "created",
    title: str = "ZeroDivisionError: division by zero",
    level: str = "error",
    status: str = "unresolved",
    project: str = PROJECT,
    last_seen: str = "2026-11-16T08:58:37.391000Z",
) -> dict[str, Any]:
    body = sample("sentry_issue_created.json")
    issue = body["data"]["issue"]
    body["action"] = action
    issue.update(
        id=issue_id,
        shortId=f"PAYMENTSAPI-{issue_id[-4:]}",
        title=title,
        level=level,
        status=status,
        lastSeen=last_seen,
        count="12",
        userCount=3,
    )
    issue["project"] = {"id": "7", "name": project, "slug": project, "platform": "python"}
    return body


def event_body(issue_id: str, *, event_id: str | None = None) -> dict[str, Any]:
    body = sample("sentry_event_alert_triggered.min.json")
    event = body["data"]["event"]
    event["issue_id"] = issue_id
    event["event_id"] = event_id or secrets.token_hex(16)
    event["url"] = f"https://sentry.io/api/0/projects/acme/{PROJECT}/events/{event['event_id']}/"
    event["datetime"] = "2026-11-16T09:00:01.000000Z"
    return body


def buttons(message: Message) -> list[str]:
    return [
        e["text"]["text"]
        for b in message.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    ]


def assert_valid_blocks(blocks: list[dict[str, Any]]) -> None:
    """Every block parses back into slack_sdk's models and validates against Slack's limits."""
    for raw in blocks:
        block = Block.parse(copy.deepcopy(raw))
        assert block is not None, raw
        block.validate_json()


def root(bot: BotHarness, channel: str = CHANNEL) -> Message:
    messages = bot.history(channel)
    assert len(messages) == 1, [m.text for m in messages]
    return messages[0]


def count(bot: BotHarness, table: type[Any]) -> int:
    with bot.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# ---------------------------------------------------------------- posting


def test_a_webhook_posts_one_message_in_the_products_channel_with_every_button(
    bot: BotHarness,
) -> None:
    issue_id = new_issue_id()
    title = "<!channel> KeyError: 'currency' in <https://evil.example|login> & *more*"
    response = bot.sentry(issue_body(issue_id, title=title), "issue")
    assert response.status_code == 200
    assert response.json()["detail"].startswith("posted: posted in #payments-alerts")
    assert response.elapsed.total_seconds() < 1.0
    bot.settle()
    message = root(bot)
    assert buttons(message) == BUTTONS
    assert_valid_blocks(message.blocks)
    rendered = json.dumps(message.blocks) + message.text
    assert "<!channel>" not in rendered and "evil.example|login>" not in rendered
    assert "&lt;!channel&gt; KeyError" in rendered
    facts = json.dumps(message.blocks)
    for expected in (PRODUCT, PROJECT, "error", "Unresolved", "12", "First seen", "Last seen"):
        assert expected in facts
    # The link goes to the Sentry issue (the sample has no permalink: built from SENTRY_WEB_URL).
    assert f"/organizations/acme/issues/{issue_id}/" in facts
    with bot.engine.connect() as conn:
        row = conn.execute(sa.select(AlertMessage)).one()
    assert row.ts == message.ts and row.subject == f"issue:{issue_id}"


def test_twenty_deliveries_of_one_webhook_make_one_message_sequential_and_concurrent(
    bot: BotHarness,
) -> None:
    with bot.engine.begin() as conn:  # a key from two days ago is forgotten by now
        conn.execute(
            sa.insert(WebhookDelivery).values(
                key="sentry:old", received_at=sa.func.now() - dt.timedelta(days=2)
            )
        )
    one, other = issue_body(new_issue_id()), issue_body(new_issue_id())
    answers = [bot.sentry(one, "issue").json()["detail"] for _ in range(20)]
    assert answers[0].startswith("posted") and answers[1:] == ["duplicate"] * 19
    with ThreadPoolExecutor(20) as pool:
        concurrent = list(pool.map(lambda _: bot.sentry(other, "issue"), range(20)))
    assert all(r.status_code == 200 for r in concurrent)
    details = [r.json()["detail"] for r in concurrent]
    assert sum(d.startswith("posted") for d in details) == 1
    assert details.count("duplicate") == 19
    bot.settle()
    assert len(bot.history(CHANNEL)) == 2
    assert len(bot.slack.state.calls_to("chat.postMessage")) == 2
    with bot.engine.connect() as conn:
        keys = conn.execute(sa.select(WebhookDelivery.key)).scalars().all()
    assert len(keys) == 2 and "sentry:old" not in keys


def test_later_events_and_state_changes_go_into_the_thread_and_the_message_updates(
    bot: BotHarness,
) -> None:
    # A state change of an issue the channel never heard of is not worth a message.
    never_posted = issue_body(new_issue_id(), action="resolved", status="resolved")
    assert bot.sentry(never_posted, "issue").json()["detail"].startswith("skipped")
    issue_id = new_issue_id()
    bot.sentry(issue_body(issue_id), "issue")
    bot.settle()
    first = root(bot)
    assert bot.sentry(event_body(issue_id), "event_alert").json()["detail"].startswith("threaded")
    resolved = issue_body(issue_id, action="resolved", status="resolved")
    assert bot.sentry(resolved, "issue").json()["detail"].startswith("threaded")
    bot.settle()
    message = root(bot)  # still one top-level message
    assert message.ts == first.ts and message.edits >= 2
    replies = bot.slack.state.replies(message.channel, message.ts)
    assert [r.text.split(":")[0] for r in replies] == [
        "🔁 New event at 16 Nov 2026 09",
        "✅ Resolved in Sentry",
    ]
    assert "Resolved" in json.dumps(message.blocks)
    # Resolved: Resolve and Ignore are gone; the ticket buttons stay.
    assert buttons(message) == ["Create Jira ticket", "Link existing ticket"]
    # A regression reopens it, in the thread too.
    regressed = issue_body(issue_id, action="unresolved", last_seen="2026-11-16T09:00:05Z")
    bot.sentry(regressed, "issue")
    bot.settle()
    assert buttons(root(bot)) == BUTTONS
    assert "regression" in bot.slack.state.replies(message.channel, message.ts)[-1].text


def test_a_metric_alert_posts_without_buttons_and_resolves_in_place(bot: BotHarness) -> None:
    body = sample("sentry_metric_alert_resolved.json")
    rule_id = new_issue_id()
    incident = body["data"]["metric_alert"]
    incident["alert_rule"]["id"] = rule_id
    incident["projects"] = incident["alert_rule"]["projects"] = [PROJECT]
    critical = copy.deepcopy(body)
    critical["action"] = "critical"
    critical["data"]["description_title"] = "Critical: Too many errors"
    assert bot.sentry(critical, "metric_alert").json()["detail"].startswith("posted")
    bot.settle()
    message = root(bot)
    assert buttons(message) == [] and "Critical" in message.text
    assert_valid_blocks(message.blocks)
    bot.sentry(body, "metric_alert")
    bot.settle()
    updated = root(bot)
    assert updated.ts == message.ts and "Resolved" in updated.text
    assert len(bot.slack.state.replies(message.channel, message.ts)) == 1


# ---------------------------------------------------------------- refusals


def test_unsigned_and_tampered_webhooks_are_refused_and_nothing_is_stored(
    bot: BotHarness,
) -> None:
    raw = json.dumps(issue_body(new_issue_id())).encode()
    unsigned = bot.http.post(
        "/webhooks/sentry",
        content=raw,
        headers={"Content-Type": "application/json", "Sentry-Hook-Resource": "issue"},
    )
    signature = sentry_webhook.sign(SENTRY_SECRET, raw)
    tampered = bot.http.post(
        "/webhooks/sentry",
        content=raw.replace(b'"error"', b'"fatal"'),
        headers={
            "Content-Type": "application/json",
            "Sentry-Hook-Resource": "issue",
            "Sentry-Hook-Signature": signature,
        },
    )
    wrong_secret = bot.sentry(raw, "issue", secret="not-the-secret")
    assert [r.status_code for r in (unsigned, tampered, wrong_secret)] == [401, 401, 401]
    time.sleep(0.2)
    assert count(bot, AlertMessage) == 0
    assert bot.slack.state.calls == []
    with bot.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM webhook_deliveries")).scalar_one() == 0


def test_a_malformed_body_is_400_and_logged(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    body = issue_body(new_issue_id())
    del body["data"]["issue"]["title"]
    with caplog.at_level(logging.WARNING, logger="sitrep.webhooks"):
        response = bot.sentry(body, "issue")
    assert response.status_code == 400
    assert "data.issue.title" in response.json()["detail"]
    assert any("400" in r.getMessage() and "title" in r.getMessage() for r in caplog.records)
    assert count(bot, AlertMessage) == 0


def test_a_slack_action_signed_six_minutes_ago_is_401_and_not_processed(
    bot: BotHarness,
) -> None:
    bot.sentry(issue_body(new_issue_id()), "issue")
    bot.settle()
    message = root(bot)
    action = next(b for b in message.blocks if b["type"] == "actions")["elements"][2]  # Resolve
    body = payloads.block_action(
        action,
        block_id="alert_actions",
        user_id="U0ALICE",
        user_name="alice",
        channel_id=message.channel,
        response_url=bot.slack.state.new_response_url(channel=message.channel),
        trigger_id=bot.slack.state.new_trigger_id(),
        message=message.to_api(),
    )
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **sign(SIGNING_SECRET, body.encode(), timestamp=int(time.time()) - 360),
    }
    calls = len(bot.slack.state.calls)
    response = bot.http.post("/slack/events", content=body.encode(), headers=headers)
    assert response.status_code == 401
    time.sleep(0.3)
    bot.settle()
    assert len(bot.slack.state.calls) == calls
    with bot.engine.connect() as conn:
        assert conn.execute(sa.select(AlertMessage.status)).scalar_one() == "open"


# ---------------------------------------------------------------- floods and quiet times


def test_a_burst_over_the_cap_folds_into_one_summary_that_grows(bot: BotHarness) -> None:
    limit = bot.deps.config.burst_limit
    for n in range(limit + 3):
        body = issue_body(new_issue_id(), title=f"Error number {n}")
        bot.sentry(body, "issue")
    bot.settle()
    messages = bot.history(CHANNEL)
    assert len(messages) == limit + 1
    summary = messages[-1]
    assert buttons(summary) == []
    assert "3 more alerts" in json.dumps(summary.blocks)
    assert summary.edits == 2  # posted once for the first fold, updated for the next two
    for n in range(limit, limit + 3):
        assert f"Error number {n}" in json.dumps(summary.blocks)
    assert all(f"Error number {n}" not in json.dumps(summary.blocks) for n in range(limit))
    assert_valid_blocks(summary.blocks)


def test_a_maintenance_window_mutes_the_product(bot: BotHarness) -> None:
    now = bot.deps.clock()
    with bot.engine.begin() as conn:
        product_id = conn.execute(sa.select(Product.id).where(Product.name == PRODUCT)).scalar_one()
        conn.execute(
            sa.insert(MaintenanceWindowRow).values(
                product_id=product_id,
                starts_at=now - dt.timedelta(minutes=5),
                ends_at=now + dt.timedelta(hours=1),
                note="database upgrade",
            )
        )
    detail = bot.sentry(issue_body(new_issue_id()), "issue").json()["detail"]
    assert detail.startswith("muted:") and "database upgrade" in detail
    time.sleep(0.2)
    bot.settle()
    assert bot.slack.state.calls_to("chat.postMessage") == []


def test_a_channel_named_by_the_product_and_subscribed_by_id_gets_one_alert(
    bot: BotHarness,
) -> None:
    from tests.bot.test_commands import ask  # the command helpers live with the command tests

    ask(bot, f"subscribe alerts {PRODUCT}", channel=CHANNEL.removeprefix("#"))
    ask(bot, f"subscribe alerts {PRODUCT}", channel="general")
    with bot.engine.connect() as conn:
        held = conn.execute(
            sa.select(Subscription.channel_id, Subscription.channel_name).order_by(Subscription.id)
        ).all()
    payments = bot.slack.state.channel(CHANNEL)
    general = bot.slack.state.channel("general")
    assert payments is not None and general is not None
    # The subscription holds the id; the products file names the channel "#payments-alerts".
    assert [tuple(r) for r in held] == [(payments.id, "payments-alerts"), (general.id, "general")]
    detail = bot.sentry(issue_body(new_issue_id()), "issue").json()["detail"]
    assert detail == f"posted: posted in {CHANNEL}; posted in {general.id}"
    bot.settle()
    assert len(bot.history(CHANNEL)) == 1
    assert len(bot.history("general")) == 1


def test_slack_429_delays_the_message_until_retry_after(bot: BotHarness) -> None:
    bot.slack.state.rate_limit_next(1, method="chat.postMessage", retry_after=1)
    bot.sentry(issue_body(new_issue_id()), "issue")
    bot.settle(timeout=15)
    calls = bot.slack.state.calls_to("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert (calls[1].at - calls[0].at).total_seconds() >= 0.9
    assert len(bot.history(CHANNEL)) == 1


# ---------------------------------------------------------------- routing rules


@pytest.fixture
def picky_bot(synced_db: sa.Engine, bot_sandbox: Sandbox) -> Iterator[BotHarness]:
    """Payment System posts fatal issues only (its priority alone would post warnings)."""
    started = time.monotonic()
    harness = BotHarness(
        synced_db,
        bot_sandbox.env() | {"SITREP_ALERT_LEVELS": "high=warning; Payment System=fatal"},
        clock=lambda: BOT_NOW + dt.timedelta(seconds=time.monotonic() - started),
    ).start()
    yield harness
    harness.stop()


def test_alert_levels_are_configurable_per_product(picky_bot: BotHarness) -> None:
    bot = picky_bot
    detail = bot.sentry(issue_body(new_issue_id(), level="error"), "issue").json()["detail"]
    assert detail == ("muted: error is below the minimum level (fatal) for Payment System")
    assert (
        bot.sentry(issue_body(new_issue_id(), level="fatal"), "issue")
        .json()["detail"]
        .startswith("posted")
    )
    bot.settle()
    assert len(bot.history(CHANNEL)) == 1


def test_a_bad_alert_levels_setting_says_how_to_write_it() -> None:
    with pytest.raises(ConfigError) as refused:
        rules_from_env({"SITREP_ALERT_LEVELS": "Payment System=loud"})
    assert "'Payment System=loud'" in str(refused.value)
    assert "e.g. 'low=fatal; Payment System=info'" in str(refused.value)
