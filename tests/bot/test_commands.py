"""`/sitrep` end to end: signed commands over HTTP, answers through the fake Slack's response URLs.

Report answers are compared with what `Reports.get` returns for the same request (the numbers
are the report's, never hard-coded here), and every answer's blocks pass the fake Slack's checks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from slack_sdk.models.blocks import Block

from bot.commands.spec import COMMANDS
from bot.console import payloads
from bot.reports import ReportRequest
from bot.slack.blocks import fallback_text, report_blocks
from bot.slack.fake_blocks import blocks_errors
from collectors.sandbox.world import World
from storage.db import session_scope
from storage.models import Board, ErrorIssue, Product, SyncRun
from storage.models_bot import AlertMessage, OutboxItem
from tests.bot.harness import SIGNING_SECRET, BotHarness, Reply, find_button

EVIL = "<!channel> boom & <@U0BOB>"
EVIL_ESCAPED = "&lt;!channel&gt; boom &amp; &lt;@U0BOB&gt;"


# ---------------------------------------------------------------- helpers (also used elsewhere)


def answer_of(reply: Reply, *, response_type: str = "ephemeral") -> dict[str, Any]:
    """What the user sees: the acknowledgement when it holds the answer (help, usage errors),
    else the first post to the response URL; checked the way Slack checks it. Answers are
    ephemeral unless ``response_type`` says otherwise (a mute is announced in the channel)."""
    assert reply.status == 200, reply.ack
    assert reply.ack_seconds < 3, f"acknowledged after {reply.ack_seconds:.2f}s"
    body: dict[str, Any] = reply.ack if reply.ack.get("blocks") else reply.wait()[0]
    assert body["response_type"] == response_type
    assert blocks_errors(body["blocks"], limit=50) == []
    refused = [c for c in reply.harness.slack.state.calls if c.error]
    assert refused == [], [(c.method, c.error) for c in refused]
    return body


def ask(
    bot: BotHarness, text: str, *, response_type: str = "ephemeral", **kwargs: Any
) -> dict[str, Any]:
    return answer_of(bot.command(text, **kwargs), response_type=response_type)


def text_of(body: dict[str, Any]) -> str:
    """Every text in a message (its ``text`` and all texts in its blocks), one per line."""
    parts = [str(body.get("text", ""))]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    parts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(body.get("blocks") or [])
    return "\n".join(parts)


def dicts(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [block.to_dict() for block in blocks]


def board_id(bot: BotHarness, name: str) -> str:
    with session_scope(bot.engine) as session:
        return str(session.scalar(sa.select(Board.external_id).where(Board.name == name)))


# ---------------------------------------------------------------- help and usage


def test_help_lists_every_command_with_examples_in_the_ack(bot: BotHarness) -> None:
    for text in ("", "help"):
        reply = bot.command(text)
        shown = text_of(answer_of(reply))
        for command in COMMANDS:
            assert command.line in shown
            for example in command.examples:
                assert f"/sitrep {example}" in shown
        time.sleep(0.2)
        assert bot.slack.state.responses(str(reply.response_url)) == []  # nothing more to say


def test_words_that_do_not_parse_get_usage_help_in_the_ack(bot: BotHarness) -> None:
    reply = bot.command("helth Payment System")
    shown = text_of(answer_of(reply))
    assert reply.ack["blocks"]  # answered at once, without a second message
    assert "Unknown command 'helth'." in shown
    assert "Did you mean *health*?" in shown
    assert "/sitrep dora [product|team] [7d|30d|90d]" in shown  # the usage of every command

    shown = text_of(ask(bot, "dora Payment System 31x"))
    assert "'31x' is not a window" in shown
    assert "Did you mean *31d*?" in shown
    assert "/sitrep dora [product|team] [7d|30d|90d]" in shown


def test_an_unknown_product_gets_usage_and_the_closest_names(bot: BotHarness) -> None:
    reply = bot.command("health Paymant System")
    assert reply.ack["text"] == "Computing the health report for Paymant System (last 30 days)…"
    shown = text_of(answer_of(reply))
    assert "No product or team called 'Paymant System'." in shown
    assert "Did you mean *Payment System*" in shown
    assert "/sitrep health [product|team] [7d|30d|90d]" in shown


def test_an_unknown_board_lists_the_boards_when_nothing_is_close(bot: BotHarness) -> None:
    shown = text_of(ask(bot, "sprint zzz"))
    assert "No board or product or team called 'zzz'." in shown
    assert "Known boards:" in shown and "PAY board" in shown
    # What was typed is quoted back inert, in the ack and in the answer.
    reply = bot.command("health &lt;!channel&gt; &amp; &lt;@U0BOB&gt;")
    assert reply.ack["text"] == (
        "Computing the health report for &lt;!channel&gt; &amp; &lt;@U0BOB&gt; (last 30 days)…"
    )
    shown = text_of(answer_of(reply))
    assert "No product or team called '&lt;!channel&gt; &amp; &lt;@U0BOB&gt;'." in shown
    assert "<!channel>" not in shown and "<@U0BOB>" not in shown


# ---------------------------------------------------------------- reports


# (text, the request it means, the header): one harness for all, they only read
REPORT_CASES: list[tuple[str, ReportRequest, str]] = [
    (
        "health Payment System",
        ReportRequest("health", product="Payment System"),
        "Health · Payment System · last 30 days",
    ),
    (
        "dora Payment System",
        ReportRequest("dora", product="Payment System", days=30),
        "DORA · Payment System · last 30 days",
    ),
    (
        "dora payment system 7d",
        ReportRequest("dora", product="Payment System", days=7),
        "DORA · Payment System · last 7 days",
    ),
    (
        "dora Payment System 90d",
        ReportRequest("dora", product="Payment System", days=90),
        "DORA · Payment System · last 90 days",
    ),
    (
        "dora payments 90d",
        ReportRequest("dora", team="payments", days=90),
        "DORA · team payments · last 90 days",
    ),
    (
        "health",
        ReportRequest("health"),
        "Health · the organisation · last 30 days",
    ),
    (
        "sprint Payment System",
        ReportRequest("sprint", product="Payment System"),
        "Sprint · PAY board",
    ),
    ("sprint payments", ReportRequest("sprint", team="payments"), "Sprint · PAY board"),
    # Slack sends "&" as "&amp;" in a command's text
    (
        "health catalog &amp; search 7d",
        ReportRequest("health", product="Catalog & Search", days=7),
        "Health · Catalog & Search · last 7 days",
    ),
]


def test_report_answers_are_the_reports(bot: BotHarness) -> None:
    for text, request_, title in REPORT_CASES:
        body = ask(bot, text)
        doc = bot.deps.reports.get(request_)
        assert body["blocks"] == dicts(report_blocks(doc)), text  # every number is the report's
        assert body["text"] == fallback_text(doc), text
        assert body["blocks"][0]["text"]["text"] == title, text
        assert body["blocks"][-1]["elements"][0]["text"]["text"] == "Share in channel", text


def test_a_sprint_report_of_one_board(bot: BotHarness) -> None:
    board = board_id(bot, "PAY board")
    doc = bot.deps.reports.get(ReportRequest("sprint", board=board))
    assert [b["board"]["name"] for b in doc["boards"]] == ["PAY board"]
    for text in ("sprint PAY board", "sprint pay BOARD", f"sprint board {board}"):
        assert ask(bot, text)["blocks"] == dicts(report_blocks(doc)), text


def test_the_ack_does_not_wait_for_the_report(bot: BotHarness) -> None:
    """The sprint report is held up by a lock on its table: the ack still comes at once, and the
    answer follows when the report can be read."""
    with bot.engine.connect() as conn:
        lock = conn.begin()
        conn.execute(sa.text("LOCK TABLE sprints IN ACCESS EXCLUSIVE MODE"))
        reply = bot.command("sprint")
        assert reply.status == 200
        assert reply.ack_seconds < 3
        assert reply.ack == {
            "text": "Computing the sprint report for the organisation…",
            "response_type": "ephemeral",
        }
        time.sleep(0.3)
        assert bot.slack.state.responses(str(reply.response_url)) == []
        lock.rollback()
    body = answer_of(reply)
    assert body["blocks"] == dicts(report_blocks(bot.deps.reports.get(ReportRequest("sprint"))))


def test_share_in_channel_posts_the_report_for_everyone(bot: BotHarness) -> None:
    body = ask(bot, "dora Payment System 90d", channel="pay-team")
    # Only the actions block: the harness's button finder reads every element's "text" as an
    # object, and a report's context block holds mrkdwn elements whose text is a string.
    actions = [b for b in body["blocks"] if b["type"] == "actions"]
    share = bot.click("Share in channel", blocks=actions, channel="pay-team")
    assert share.status == 200
    assert share.ack_seconds < 3
    assert share.wait() == [{"delete_original": True}]  # the private copy goes away
    again = bot.click("Share in channel", blocks=actions, channel="pay-team")  # a double click
    assert again.wait() == [{"delete_original": True}]
    posted = bot.history("pay-team")
    assert len(posted) == 1
    doc = bot.deps.reports.get(ReportRequest("dora", product="Payment System", days=90))
    shared = report_blocks(doc, share_button=False, context="Shared by <@U0ALICE>")
    assert posted[0].blocks == dicts(shared)
    assert posted[0].text == fallback_text(doc)
    assert "Share in channel" not in text_of({"blocks": posted[0].blocks})


def test_share_where_the_bot_cannot_post_says_what_to_do(bot: BotHarness) -> None:
    body = ask(bot, "health Checkout")
    actions = [b for b in body["blocks"] if b["type"] == "actions"]
    block_id, button = find_button(actions, "Share in channel")
    url = bot.slack.state.new_response_url(user="U0ALICE")
    # A channel Slack does not know (the harness's click would create it): built by hand.
    click = payloads.block_action(
        button,
        block_id=block_id,
        user_id="U0ALICE",
        user_name="alice",
        channel_id="C0GONE",
        response_url=url,
        trigger_id=bot.slack.state.new_trigger_id(),
    )
    raw, headers = payloads.signed(SIGNING_SECRET, click, "application/x-www-form-urlencoded")
    assert bot.http.post("/slack/events", content=raw, headers=headers).status_code == 200
    told = Reply(bot, 200, None, 0.0, url).wait()
    assert len(told) == 1 and "delete_original" not in told[0]
    assert "I could not post in this channel (channel_not_found)" in text_of(told[0])
    assert "/invite @Sitrep" in text_of(told[0])
    with session_scope(bot.engine) as session:
        failed = session.execute(
            sa.select(OutboxItem.state, OutboxItem.key).where(
                OutboxItem.method == "chat.postMessage"
            )
        ).all()
    assert [tuple(r) for r in failed] == [("failed", None)]  # the key is free for a retry


# ---------------------------------------------------------------- alerts, products, sync, digest


def test_alerts_show_posted_alerts_and_unresolved_sentry_issues(bot: BotHarness) -> None:
    with session_scope(bot.engine) as session:
        ids = {name: pid for name, pid in session.execute(sa.select(Product.name, Product.id))}
        session.add_all(
            [
                AlertMessage(
                    subject="issue:1",
                    channel_id="C0PAYMENTS",
                    ts="1700000000.000100",
                    product_id=ids["Payment System"],
                    alert={
                        "title": EVIL,
                        "short_id": "PAYMENTSAPI-ZZ",
                        "web_url": "https://sentry.example/issues/1/",
                        "level": "fatal",
                    },
                    events=3,
                ),
                AlertMessage(
                    subject="issue:2",
                    channel_id="C0CHECKOUT",
                    product_id=ids["Checkout"],
                    alert={"title": "Checkout only", "short_id": "CHECKOUTWEB-ZZ"},
                ),
            ]
        )
        issues = list(
            session.execute(
                sa.select(ErrorIssue.short_id, ErrorIssue.status, ErrorIssue.project)
            ).all()
        )
    shown = text_of(ask(bot, "alerts Payment System"))
    assert EVIL_ESCAPED in shown and "<!channel>" not in shown
    assert "<https://sentry.example/issues/1/|PAYMENTSAPI-ZZ>" in shown
    assert "<#C0PAYMENTS>" in shown
    assert "Checkout only" not in shown
    linked = set(re.findall(r"\|([A-Z]+-[0-9A-Z]+)>", shown)) - {"PAYMENTSAPI-ZZ"}
    unresolved = {
        s
        for s, status, project in issues
        if status == "unresolved" and project in ("payments-api", "fraud-scoring")
    }
    assert linked, "no Sentry issue listed"
    assert linked <= unresolved  # only unresolved issues of the product and its sub-product


def test_alerts_say_so_when_nothing_was_posted(bot: BotHarness) -> None:
    shown = text_of(ask(bot, "alerts Mobile App"))
    assert "Sitrep has posted no Sentry alerts for Mobile App." in shown
    assert "/sitrep subscribe alerts Mobile App" in shown


def test_products_show_the_tree_with_owner_priority_channel_and_mappings(
    bot: BotHarness, bot_world: World
) -> None:
    shown = text_of(ask(bot, "products"))
    for spec in bot_world.products:
        assert f"*{spec.name.replace('&', '&amp;')}*" in shown
        assert spec.priority in shown
        if spec.owner_team:
            assert f"team {spec.owner_team}" in shown
        if spec.slack_channel:
            assert spec.slack_channel in shown
        for project in spec.sentry_projects:
            assert project in shown
    for board in bot_world.boards.values():
        assert f"{board.name} ({board.id})" in shown
    assert "└─ *Fraud Detection*" in shown  # drawn under Payment System


def test_sync_status_shows_the_sandbox_sync_and_highlights_failures(bot: BotHarness) -> None:
    with session_scope(bot.engine) as session:
        runs = list(session.execute(sa.select(SyncRun.source, SyncRun.scope, SyncRun.rows)).all())
    shown = text_of(ask(bot, "sync status"))
    for source in ("Sentry", "Jira", "GitHub"):
        assert f"*{source}* synced" in shown
    for _source, scope, rows in runs:
        assert f"✅ {scope} · succeeded" in shown
        assert f"{scope} · succeeded" in shown and f"{rows} rows" in shown
    assert "failing" not in shown

    with session_scope(bot.engine) as session:
        session.add(
            SyncRun(
                source="sentry",
                scope="payments-api",
                status="failed",
                finished_at=bot.deps.clock(),
                error=f"401 from Sentry: {EVIL}",
            )
        )
    shown = text_of(ask(bot, "sync status"))
    assert "⚠️ *1 failing:* Sentry payments-api" in shown
    assert "❌ payments-api · failed" in shown
    assert EVIL_ESCAPED in shown and "<!channel>" not in shown
    assert "*Sentry* synced" in shown and "❌ *1 failed*" in shown


def test_digest_preview_shows_the_main_post_and_its_thread(bot: BotHarness) -> None:
    build = pytest.importorskip("bot.digests.build")
    body = ask(bot, "digest Payment System")
    digest = build.build_digest(bot.deps, product="Payment System", now=bot.deps.clock())
    blocks = body["blocks"]
    assert "Preview of the digest for Payment System" in text_of({"blocks": blocks[:1]})
    assert blocks[1 : 1 + len(digest.main.blocks)] == digest.main.blocks
    replies = [b for b in blocks if "Thread reply" in text_of({"blocks": [b]})]
    assert len(replies) == len(digest.thread) > 0
    assert len(blocks) <= 50
