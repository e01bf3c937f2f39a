"""The alert buttons end to end: Create Jira ticket, Link existing ticket, Resolve, Ignore.

Clicks and modal submissions are signed requests to the bot's HTTP endpoint; the bot talks to the
sandbox's Jira and Sentry fakes over HTTP, and the assertions read those fakes' state.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from bot.console import payloads
from bot.sandbox import Sandbox
from bot.slack.fake_state import Message
from collectors.fakes import Faults
from collectors.jira.fake_state import JiraState
from collectors.sandbox.world import JiraIssue, World
from collectors.sentry.fake import state_of as sentry_state_of
from storage.models import WorkItem
from storage.models_bot import JiraLink, OutboxItem
from tests.bot.conftest import BOT_NOW
from tests.bot.harness import BotHarness
from tests.bot.test_alerts_webhook import (
    BUTTONS,
    PROJECT,
    assert_valid_blocks,
    buttons,
    issue_body,
    new_issue_id,
    root,
)


@pytest.fixture
def jira(bot_sandbox: Sandbox) -> JiraState:
    state: JiraState = bot_sandbox.servers["jira"].injector.app.state.jira  # type: ignore[attr-defined]
    return state


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not come true in time")
        time.sleep(0.05)
    return found


def posted(bot: BotHarness, body: dict[str, Any]) -> Message:
    assert bot.sentry(body, "issue").json()["detail"].startswith("posted")
    bot.settle()
    return root(bot)


def click(
    bot: BotHarness, label: str, message: Message | dict[str, Any], user: str = "U0ALICE"
) -> Any:
    """Press a button of ``message`` (a live message, or a copy taken before it changed)."""
    shown = copy.deepcopy(message if isinstance(message, dict) else message.to_api())
    channel = message.channel if isinstance(message, Message) else shown["channel"]
    # harness.find_button trips over context blocks (their elements' "text" is a string), so
    # it is given the message with its buttons only; the bot never reads the rest.
    shown["blocks"] = [b for b in shown["blocks"] if b["type"] == "actions"]
    return bot.click(label, message=shown, channel=channel, user=user)


def snapshot(message: Message) -> dict[str, Any]:
    """The message as it is now (the fake edits `Message` objects in place)."""
    return copy.deepcopy(message.to_api()) | {"channel": message.channel}


def open_modal(bot: BotHarness, label: str, message: Message, user: str = "U0ALICE") -> Any:
    before = len([c for c in bot.slack.state.calls_to("views.open") if c.ok])
    assert click(bot, label, message, user).status == 200
    calls = bot.slack.state.wait_for("views.open", count=before + 1)
    view: dict[str, Any] = calls[-1].response["view"]
    return view


def prefilled(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The state Slack reports when the modal is submitted as it was opened."""
    values: dict[str, dict[str, Any]] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element = block["element"]
        if element["type"] == "static_select":
            state = payloads.input_state(element, option=element.get("initial_option"))
        else:
            state = payloads.input_state(element, value=element.get("initial_value"))
        values[block["block_id"]] = {element["action_id"]: state}
    return values


def labelled(jira: JiraState, issue_id: str) -> list[JiraIssue]:
    return [i for i in jira.issues.values() if f"sentry-{issue_id}" in i.labels]


def updated_with(bot: BotHarness, ts: str, text: str) -> Message:
    def check() -> Message | None:
        message = root(bot)
        return message if message.ts == ts and text in json.dumps(message.blocks) else None

    found: Message = eventually(check)
    return found


# ---------------------------------------------------------------- Create Jira ticket


def test_create_opens_a_prefilled_modal_and_makes_one_ticket_linked_back_to_sentry(
    bot: BotHarness, jira: JiraState
) -> None:
    issue_id = new_issue_id()
    message = posted(bot, issue_body(issue_id, title="TypeError: refund amount is None"))
    view = open_modal(bot, "Create Jira ticket", message)
    assert view["callback_id"] == "create_jira_modal"
    values = prefilled(view)
    assert values["project"]["value"]["selected_option"]["value"] == "PAY"
    assert values["summary"]["value"]["value"] == "TypeError: refund amount is None"
    assert values["priority"]["value"]["selected_option"]["value"] == "High"  # level error
    assert "PAYMENTSAPI-" in values["description"]["value"]["value"]

    before = snapshot(message)
    reply = bot.submit(view, values)
    assert reply.status == 200 and reply.ack in ("", None, {})
    bot.settle()
    [ticket] = labelled(jira, issue_id)
    assert (ticket.project, ticket.type, ticket.priority) == ("PAY", "Bug", "High")
    assert ticket.summary == "TypeError: refund amount is None"
    description = json.dumps(jira.descriptions[ticket.key])
    assert f"/organizations/acme/issues/{issue_id}/" in description
    link = jira.remote_links[ticket.key][f"sentry-issue-{issue_id}"]
    assert f"/issues/{issue_id}/" in link["object"]["url"]

    message_now = updated_with(
        bot, message.ts, f"created <{bot.env['JIRA_URL']}/browse/{ticket.key}|"
    )
    assert "<@U0ALICE> created" in json.dumps(message_now.blocks)
    assert buttons(message_now) == ["Resolve", "Ignore"]  # the ticket replaces Create and Link
    assert_valid_blocks(message_now.blocks)
    with bot.engine.connect() as conn:
        row = conn.execute(sa.select(JiraLink).where(JiraLink.sentry_issue_id == issue_id)).one()
    assert (row.jira_key, row.how, row.by_user) == (ticket.key, "created", "U0ALICE")

    # Clicking Create again says who was first instead of opening a modal.
    opened = len(bot.slack.state.calls_to("views.open"))
    again = click(bot, "Create Jira ticket", before, user="U0BOB")
    [answer] = again.wait()
    assert f"{ticket.key}|" in answer["text"] and "already created by <@U0ALICE>" in answer["text"]
    assert len(bot.slack.state.calls_to("views.open")) == opened


def test_ten_concurrent_submissions_make_exactly_one_ticket(
    bot: BotHarness, jira: JiraState
) -> None:
    issue_id = new_issue_id()
    message = posted(bot, issue_body(issue_id))
    view = open_modal(bot, "Create Jira ticket", message)
    values = prefilled(view)
    users = [f"U0USER{n}" for n in range(10)]
    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(lambda user: bot.submit(view, values, user=user), users))
    assert all(r.status == 200 for r in replies)
    told = [r.ack for r in replies if isinstance(r.ack, dict)]
    assert len(told) == 9
    assert all(t["response_action"] == "update" for t in told)
    [winner] = [u for u, r in zip(users, replies, strict=True) if not isinstance(r.ack, dict)]
    # Told who was first: still creating it, or already done, depending on the moment.
    for t in told:
        text = json.dumps(t["view"])
        assert f"<@{winner}>" in text and ("already creating" in text or "already created" in text)
    bot.settle()
    assert len(labelled(jira, issue_id)) == 1
    with bot.engine.connect() as conn:
        creates = conn.execute(
            sa.select(sa.func.count()).where(OutboxItem.method == "jira.create_issue")
        ).scalar_one()
    assert creates == 1


def test_a_jira_outage_delays_the_ticket_and_never_loses_it(
    bot: BotHarness, jira: JiraState, bot_sandbox: Sandbox
) -> None:
    issue_id = new_issue_id()
    message = posted(bot, issue_body(issue_id))
    view = open_modal(bot, "Create Jira ticket", message)
    server = bot_sandbox.servers["jira"]
    healthy = server.injector.faults
    server.injector.faults = Faults(error_burst_every=1, error_burst_length=1)  # all 503
    try:
        assert bot.submit(view, prefilled(view)).status == 200
        with bot.engine.connect() as conn:
            item = eventually(
                lambda: conn.execute(
                    sa.select(OutboxItem).where(
                        OutboxItem.method == "jira.create_issue",
                        OutboxItem.last_error.is_not(None),
                    )
                ).one_or_none()
            )
        assert item.state == "pending" and "503" in item.last_error
        assert labelled(jira, issue_id) == []
        waiting = updated_with(bot, message.ts, "is creating a Jira ticket")
        assert buttons(waiting) == ["Resolve", "Ignore"]
    finally:
        server.injector.faults = healthy
    [ticket] = eventually(lambda: labelled(jira, issue_id), timeout=20)
    updated_with(bot, message.ts, f"|{ticket.key}>")
    bot.settle()
    assert f"sentry-issue-{issue_id}" in jira.remote_links[ticket.key]


def test_bad_input_is_refused_in_the_modal_and_a_refused_ticket_frees_the_slot(
    bot: BotHarness, jira: JiraState
) -> None:
    issue_id = new_issue_id()
    message = posted(bot, issue_body(issue_id))
    view = open_modal(bot, "Create Jira ticket", message)
    values = prefilled(view)
    values["summary"]["value"]["value"] = "   "
    refused = bot.submit(view, values)
    assert refused.ack == {
        "response_action": "errors",
        "errors": {"summary": "A ticket needs a summary."},
    }
    values = prefilled(view)
    # A project the product maps but Jira does not have (any more): Jira answers 400.
    jira_projects = jira.projects.pop("PAY")
    try:
        bot.submit(view, values)
        message_now = updated_with(bot, message.ts, "Jira ticket not created")
    finally:
        jira.projects["PAY"] = jira_projects
    assert "valid project is required" in json.dumps(message_now.blocks)
    assert buttons(message_now) == BUTTONS  # free to try again
    with bot.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(JiraLink)).scalar_one() == 0


# ---------------------------------------------------------------- Link existing ticket


def plant_ticket(bot: BotHarness, jira: JiraState, summary: str) -> JiraIssue:
    """An open PAY ticket, in Jira and (as if synced) in the database."""
    issue = jira.create_issue(
        project="PAY", type="Bug", summary=summary, priority="High", labels=[]
    )
    with bot.engine.begin() as conn:
        conn.execute(
            sa.insert(WorkItem).values(
                source="jira",
                external_id=str(issue.id),
                url=f"{bot.env['JIRA_URL']}/browse/{issue.key}",
                key=issue.key,
                project_key="PAY",
                summary=summary,
                type="bug",
                status="todo",
                original_status="To Do",
                created_at=BOT_NOW - dt.timedelta(days=1),
            )
        )
    return issue


def test_link_offers_the_most_similar_open_tickets_first_and_links_one(
    bot: BotHarness, jira: JiraState
) -> None:
    issue_id = new_issue_id()
    title = "PaymentGatewayTimeout: capture of card payment timed out"
    planted = plant_ticket(bot, jira, "Card payment capture times out at the payment gateway")
    message = posted(bot, issue_body(issue_id, title=title))

    create_view = open_modal(bot, "Create Jira ticket", message)
    suggestion = json.dumps(create_view["blocks"][0])
    assert planted.key in suggestion and "% similar" in suggestion

    view = open_modal(bot, "Link existing ticket", message)
    assert view["callback_id"] == "link_jira_modal"
    select = next(b for b in view["blocks"] if b.get("block_id") == "candidate")["element"]
    options = select["options"]
    assert options[0]["value"] == planted.key
    assert 1 < len(options) <= 100
    assert all(len(o["text"]["text"]) <= 75 for o in options)

    typo = {
        "candidate": {"value": payloads.input_state(select)},
        "key": {"value": {"type": "plain_text_input", "value": "PYA-1"}},
    }
    refused = bot.submit(view, typo)
    assert refused.ack["response_action"] == "errors"
    assert "PYA-1 is not in this product's Jira projects (PAY)" in refused.ack["errors"]["key"]

    values = {
        "candidate": {"value": payloads.input_state(select, option=options[0])},
        "key": {"value": {"type": "plain_text_input", "value": None}},
    }
    assert bot.submit(view, values).status == 200
    message_now = updated_with(
        bot, message.ts, f"linked <{bot.env['JIRA_URL']}/browse/{planted.key}|"
    )
    assert "<@U0ALICE> linked" in json.dumps(message_now.blocks)
    assert buttons(message_now) == ["Resolve", "Ignore"]
    bot.settle()
    link = jira.remote_links[planted.key][f"sentry-issue-{issue_id}"]
    assert link["object"]["url"].endswith(f"/issues/{issue_id}/")
    with bot.engine.connect() as conn:
        row = conn.execute(sa.select(JiraLink)).one()
    assert (row.jira_key, row.how, row.by_user) == (planted.key, "linked", "U0ALICE")
    assert labelled(jira, issue_id) == []  # linking created nothing


# ---------------------------------------------------------------- Resolve and Ignore


def unresolved_sentry_issue(world: World, index: int) -> str:
    issues = [i for i in world.sentry_issues[PROJECT] if i.status == "unresolved"]
    return str(issues[-index].id)


def test_resolve_acts_in_sentry_and_updates_the_message_once(
    bot: BotHarness, bot_world: World, bot_sandbox: Sandbox
) -> None:
    issue_id = unresolved_sentry_issue(bot_world, 1)
    sentry = sentry_state_of(bot_sandbox.servers["sentry"].injector.app)  # type: ignore[arg-type]
    message = posted(bot, issue_body(issue_id))
    before = snapshot(message)
    click(bot, "Resolve", message)
    message_now = updated_with(bot, message.ts, "Resolved by <@U0ALICE>")
    assert buttons(message_now) == ["Create Jira ticket", "Link existing ticket"]
    bot.settle()
    issue = sentry.issue(issue_id)
    assert issue is not None and issue.status == "resolved"
    # A double click (the old message still had the button) changes nothing and says so.
    [answer] = click(bot, "Resolve", before, user="U0BOB").wait()
    assert answer["text"] == "Already resolved by <@U0ALICE>."
    with bot.engine.connect() as conn:
        puts = conn.execute(
            sa.select(sa.func.count()).where(OutboxItem.method == "sentry.update_status")
        ).scalar_one()
    assert puts == 1
    # Sentry's own webhook about it is no news for the thread.
    resolved = issue_body(issue_id, action="resolved", status="resolved")
    assert bot.sentry(resolved, "issue").json()["detail"].startswith("updated")


def test_ignore_of_an_issue_sentry_does_not_know_is_reverted_visibly(bot: BotHarness) -> None:
    message = posted(bot, issue_body(new_issue_id()))
    click(bot, "Ignore", message)
    message_now = updated_with(bot, message.ts, "Sentry did not change the status to ignored")
    assert buttons(message_now) == BUTTONS


# ---------------------------------------------------------------- who may act


@pytest.fixture
def strict_bot(synced_db: sa.Engine, bot_sandbox: Sandbox) -> Iterator[BotHarness]:
    started = time.monotonic()
    harness = BotHarness(
        synced_db,
        bot_sandbox.env(),
        clock=lambda: BOT_NOW + dt.timedelta(seconds=time.monotonic() - started),
        config_overrides={"actors": frozenset({"U0BOB"})},
    ).start()
    yield harness
    harness.stop()


def test_only_configured_actors_may_press_the_buttons(strict_bot: BotHarness) -> None:
    bot = strict_bot
    message = posted(bot, issue_body(new_issue_id()))
    for label in BUTTONS:
        [answer] = click(bot, label, message, user="U0ALICE").wait()
        assert "Only the people in SITREP_ALERT_ACTORS" in answer["text"]
        assert "<@U0BOB>" in answer["text"]
    assert bot.slack.state.calls_to("views.open") == []
    assert root(bot).edits == 0
    assert [e.user for e in bot.slack.state.ephemerals] == ["U0ALICE"] * 4
    view = open_modal(bot, "Create Jira ticket", message, user="U0BOB")
    assert view["callback_id"] == "create_jira_modal"


def test_link_it_instead_links_the_suggested_ticket_from_the_create_modal(
    bot: BotHarness, jira: JiraState
) -> None:
    issue_id = new_issue_id()
    planted = plant_ticket(bot, jira, "ZeroDivisionError: division by zero in refund path")
    message = posted(bot, issue_body(issue_id, title="ZeroDivisionError: division by zero"))
    view = open_modal(bot, "Create Jira ticket", message)
    assert bot.click("Link it instead", view=view).status == 200
    bot.slack.state.wait_for("views.update")
    assert "Linked <" in json.dumps(bot.slack.state.views[view["id"]]["blocks"])
    updated_with(bot, message.ts, f"linked <{bot.env['JIRA_URL']}/browse/{planted.key}|")
    bot.settle()
    assert f"sentry-issue-{issue_id}" in jira.remote_links[planted.key]
    # Submitting the modal afterwards creates nothing: the issue has its ticket.
    reply = bot.submit(view, prefilled(view))
    assert "was already linked by <@U0ALICE>" in json.dumps(reply.ack["view"])
    bot.settle()
    assert labelled(jira, issue_id) == []
