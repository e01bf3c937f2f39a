"""The Slack fake, driven by the real `slack_sdk.WebClient` over HTTP, answers as Slack does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from slack_bolt import App, BoltRequest
from slack_bolt.context.ack import Ack
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.slack.fake import FakeSlack, create_app
from bot.slack.signing import sign

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Payments* is healthy"}}
DIVIDER = {"type": "divider"}
NO_TYPE = {"text": "no type"}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token=slack.token, base_url=slack.api_url)


@pytest.fixture(scope="module")
def shared() -> Iterator[FakeSlack]:
    """One fake for the tests that only get refusals (a server stop costs 0.2 s)."""
    with FakeSlack() as fake:
        yield fake


def refusal(method: Callable[..., Any], **args: Any) -> tuple[int, str]:
    """(HTTP status, Slack error) of a call that must fail."""
    with pytest.raises(SlackApiError) as caught:
        method(**args)
    return caught.value.response.status_code, caught.value.response["error"]


def modal(title: str = "Create ticket") -> dict[str, Any]:
    summary = {"type": "plain_text_input", "action_id": "summary"}
    field = {
        "type": "input",
        "label": {"type": "plain_text", "text": "Summary"},
        "element": summary,
    }
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Create"},
        "blocks": [field],
    }


def test_post_then_update_in_place(slack: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="#payments", text="healthy", blocks=[SECTION])
    channel, ts = posted["channel"], posted["ts"]
    assert channel.startswith("C")
    assert posted["message"]["blocks"] == [SECTION]
    assert posted["message"]["bot_id"]

    assert client.chat_update(channel=channel, ts=ts, text="degraded")["ts"] == ts
    [message] = slack.state.history("#payments")
    assert (message.ts, message.text, message.edits) == (ts, "degraded", 1)
    assert message.blocks == [SECTION]  # chat.update without blocks keeps them, as Slack does
    client.chat_update(channel=channel, ts=ts, text="degraded", blocks=[])
    assert message.blocks == []


def test_form_and_json_bodies_are_both_understood(slack: FakeSlack, client: WebClient) -> None:
    form = {"channel": "general", "text": "f", "blocks": '[{"type": "divider"}]'}
    client.api_call("chat.postMessage", params=form)
    client.api_call(
        "chat.postMessage", json={"channel": "general", "text": "j", "blocks": [SECTION]}
    )
    assert [m.blocks for m in slack.state.history("general")] == [[DIVIDER], [SECTION]]
    assert [c.args["text"] for c in slack.state.calls_to("chat.postMessage")] == ["f", "j"]


def test_ts_is_unique_and_increasing_per_channel(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel="general", text=str(i))["ts"] for i in range(20)]
    assert len(set(stamps)) == 20
    assert stamps == sorted(stamps, key=float)
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


def test_thread_replies(slack: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="general", text="incident")
    channel, ts = parent["channel"], parent["ts"]
    reply = client.chat_postMessage(channel=channel, thread_ts=ts, text="update 1")
    assert reply["message"]["thread_ts"] == ts
    # a reply's ts still lands in the parent's thread
    client.chat_postMessage(channel=channel, thread_ts=reply["ts"], text="update 2")

    assert [m.text for m in slack.state.replies(channel, ts)] == ["update 1", "update 2"]
    assert [m.text for m in slack.state.history(channel)] == ["incident"]
    assert [m.reply_count for m in slack.state.history(channel)] == [2]
    post = client.chat_postMessage
    assert refusal(post, channel=channel, thread_ts="1.000002", text="x")[1] == "thread_not_found"


def test_auth_errors_are_http_200_with_slacks_codes(slack: FakeSlack) -> None:
    anonymous = WebClient(base_url=slack.api_url)
    wrong = WebClient(token="xoxb-wrong", base_url=slack.api_url)
    post = anonymous.chat_postMessage
    assert refusal(post, channel="general", text="x") == (200, "not_authed")
    assert refusal(wrong.auth_test) == (200, "invalid_auth")
    assert slack.state.history("general") == []


def test_auth_test_answers_who_the_bot_is(client: WebClient) -> None:
    me = client.auth_test()
    assert me["user_id"] and me["bot_id"] and me["team_id"]
    assert "chat:write" in me.headers["x-oauth-scopes"].split(",")


HEADER_IN_MRKDWN = {"type": "header", "text": {"type": "mrkdwn", "text": "h"}}


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"channel": "general", "blocks": [NO_TYPE]}, "invalid_blocks"),
        ({"channel": "general", "blocks": ["not an object"]}, "invalid_blocks"),
        ({"channel": "general", "blocks": [{"type": "bogus"}]}, "invalid_blocks"),
        ({"channel": "general", "blocks": [DIVIDER] * 51}, "invalid_blocks"),
        ({"channel": "general", "blocks": [HEADER_IN_MRKDWN]}, "invalid_blocks"),
        ({"channel": "general", "blocks": [{**DIVIDER, "block_id": "a"}] * 2}, "invalid_blocks"),
        ({"channel": "general", "blocks": "not json"}, "invalid_blocks_format"),
        ({"channel": "general", "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": "general"}, "no_text"),
        ({"text": "where to?"}, "channel_not_found"),
        ({"channel": "C0NOWHERE", "text": "x"}, "channel_not_found"),
    ],
)
def test_invalid_messages_are_refused(shared: FakeSlack, args: dict[str, Any], error: str) -> None:
    client = WebClient(token=shared.token, base_url=shared.api_url)
    assert refusal(client.api_call, api_method="chat.postMessage", json=args) == (200, error)
    assert shared.state.calls[-1].error == error
    assert shared.state.history("general") == []


def test_invalid_blocks_say_where(client: WebClient) -> None:
    blocks = [SECTION, {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="general", text="t", blocks=blocks)
    [message] = caught.value.response["response_metadata"]["messages"]
    assert message.endswith("[json-pointer:/blocks/1/text/text]")
    assert client.chat_postMessage(channel="general", text="t", blocks=[DIVIDER] * 50)["ok"]


def test_update_errors(slack: FakeSlack, client: WebClient) -> None:
    general = slack.state.channel("general")
    assert general is not None
    theirs = slack.state.post_as_user("general", "U0ALICE", "mine")
    update = client.chat_update
    assert refusal(update, channel=general.id, ts="1.000001", text="x")[1] == "message_not_found"
    assert refusal(update, channel=general.id, ts=theirs.ts, text="x")[1] == "cant_update_message"
    assert theirs.text == "mine"


def test_a_message_to_a_user_opens_the_dm(slack: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="U0ALICE", text="your digest")
    assert posted["channel"].startswith("D")
    client.chat_update(channel=posted["channel"], ts=posted["ts"], text="your digest, v2")
    assert [m.text for m in slack.state.history("U0ALICE")] == ["your digest, v2"]
    # chat.update wants the DM's id, not the user's
    update = client.chat_update
    assert refusal(update, channel="U0ALICE", ts=posted["ts"], text="x")[1] == "channel_not_found"


def test_ephemeral_and_permalink(slack: FakeSlack, client: WebClient) -> None:
    answer = client.chat_postEphemeral(channel="general", user="U0ALICE", text="only you")
    [ephemeral] = slack.state.ephemerals
    assert (ephemeral.user, ephemeral.text) == ("U0ALICE", "only you")
    assert ephemeral.ts == answer["message_ts"]
    assert slack.state.history("general") == []

    posted = client.chat_postMessage(channel="general", text="alert")
    link = client.chat_getPermalink(channel=posted["channel"], message_ts=posted["ts"])
    expected = f"/archives/{posted['channel']}/p{posted['ts'].replace('.', '')}"
    assert link["permalink"].endswith(expected)


def test_a_429_is_retried_by_slack_sdks_handler(slack: FakeSlack, client: WebClient) -> None:
    slack.state.rate_limit_next(1, method="chat.postMessage")
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="general", text="x")
    assert caught.value.response.status_code == 429
    assert caught.value.response["error"] == "ratelimited"
    assert caught.value.response.headers["retry-after"] == "1"

    slack.state.rate_limit_next(1)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    started = time.monotonic()
    posted = client.chat_postMessage(channel="general", text="eventually")
    assert time.monotonic() - started >= 1  # it waited for Retry-After: 1
    assert [c.status for c in slack.state.calls_to("chat.postMessage")] == [429, 429, 200]
    assert [m.ts for m in slack.state.history("general")] == [posted["ts"]]


def test_an_outage_delays_delivery_and_does_not_drop_it(
    slack: FakeSlack, client: WebClient
) -> None:
    slack.state.outage = True
    assert refusal(client.auth_test) == (503, "service_unavailable")
    client.retry_handlers.append(ServerErrorRetryHandler(max_retry_count=6))
    threading.Timer(0.3, lambda: setattr(slack.state, "outage", False)).start()
    client.chat_postMessage(channel="general", text="after the outage")
    statuses = [c.status for c in slack.state.calls_to("chat.postMessage")]
    assert statuses[0] == 503
    assert statuses[-1] == 200
    assert [m.text for m in slack.state.history("general")] == ["after the outage"]


def test_views_publish_stores_the_home_tab_per_user(slack: FakeSlack, client: WebClient) -> None:
    first = client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": [SECTION]})
    assert slack.state.home("U0ALICE") == first["view"]
    assert first["view"]["blocks"] == [SECTION]
    assert slack.state.home("U0BOB") is None

    again = client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": [DIVIDER]})
    assert again["view"]["id"] == first["view"]["id"]  # one Home tab per user, replaced
    assert slack.state.home("U0ALICE") == again["view"]

    publish = client.views_publish
    home = {"type": "home", "blocks": []}
    stale = first["view"]["hash"]
    assert refusal(publish, user_id="U0ALICE", view=home, hash=stale)[1] == "hash_conflict"
    too_many = {"type": "home", "blocks": [DIVIDER] * 101}
    assert refusal(publish, user_id="U0ALICE", view=too_many)[1] == "invalid_arguments"
    assert refusal(publish, user_id="U0ALICE", view=modal())[1] == "invalid_arguments"
    assert slack.state.home("U0ALICE") == again["view"]
    assert publish(user_id="U0ALICE", view={"type": "home", "blocks": [DIVIDER] * 100})["ok"]


def test_views_open_needs_a_fresh_trigger(slack: FakeSlack, client: WebClient) -> None:
    trigger = slack.state.new_trigger_id()
    opened = client.views_open(trigger_id=trigger, view=modal())
    view_id = opened["view"]["id"]
    assert slack.state.views[view_id]["title"]["text"] == "Create ticket"
    assert refusal(client.views_open, trigger_id=trigger, view=modal())[1] == "exchanged_trigger_id"
    no_trigger = refusal(client.api_call, api_method="views.open", json={"view": modal()})
    assert no_trigger == (200, "invalid_arguments")
    fresh, long_title = slack.state.new_trigger_id(), modal("A title far longer than Slack allows")
    assert refusal(client.views_open, trigger_id=fresh, view=long_title)[1] == "invalid_arguments"

    stamp = opened["view"]["hash"]
    updated = client.views_update(view_id=view_id, view=modal("Ticket created"), hash=stamp)
    assert updated["view"]["id"] == view_id
    assert slack.state.views[view_id]["title"]["text"] == "Ticket created"
    assert refusal(client.views_update, view_id="V0NOPE", view=modal())[1] == "not_found"


def test_strict_workspaces_and_expiring_triggers() -> None:
    with FakeSlack(create_app(strict=True, trigger_ttl=0.05)) as slack:
        client = WebClient(token=slack.token, base_url=slack.api_url)
        post, view = client.chat_postMessage, modal()
        assert refusal(post, channel="#nowhere", text="x")[1] == "channel_not_found"
        assert refusal(client.users_info, user="U0NOBODY")[1] == "user_not_found"
        assert refusal(client.views_open, trigger_id="1.2.ab", view=view)[1] == "invalid_arguments"
        trigger = slack.state.new_trigger_id()
        time.sleep(0.1)
        assert refusal(client.views_open, trigger_id=trigger, view=view)[1] == "expired_trigger_id"


def test_users_info_has_the_time_zone_for_digests(client: WebClient) -> None:
    user = client.users_info(user="U0ALICE")["user"]
    assert user["profile"]["display_name"] == "Alice"
    assert user["tz"] == "Europe/Berlin"
    assert user["tz_offset"] in (3600, 7200)  # CET or CEST


def test_a_missing_scope_is_named() -> None:
    with FakeSlack(create_app(scopes=["chat:write"])) as narrow:
        client = WebClient(token=narrow.token, base_url=narrow.api_url)
        with pytest.raises(SlackApiError) as caught:
            client.users_info(user="U0ALICE")
        assert caught.value.response["error"] == "missing_scope"
        assert caught.value.response["needed"] == "users:read"
        assert refusal(client.conversations_list)[1] == "missing_scope"
        assert client.chat_postMessage(channel="general", text="still allowed")["ok"]


def test_conversations_pages_and_info(slack: FakeSlack, client: WebClient) -> None:
    for name in ("alpha", "beta", "gamma", "delta"):
        slack.state.add_channel(name)
    slack.state.add_channel("secret", is_private=True)
    pages = [page["channels"] for page in client.conversations_list(limit=2)]
    assert len(pages) == 3  # five public channels, two a page; slack_sdk follows the cursor
    names = [c["name"] for page in pages for c in page]
    assert names == ["general", "alpha", "beta", "gamma", "delta"]
    private = client.conversations_list(types="private_channel")["channels"]
    assert [c["name"] for c in private] == ["secret"]

    general = client.conversations_info(channel=pages[0][0]["id"])["channel"]
    assert general["name"] == "general"
    assert refusal(client.conversations_info, channel="general")[1] == "channel_not_found"


def test_response_urls(slack: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="general", text="Resolve?", blocks=[SECTION])
    url = slack.state.new_response_url(channel=posted["channel"], ts=posted["ts"], user="U0ALICE")
    assert url.startswith(slack.url)

    def post(body: Any) -> httpx.Response:
        return httpx.post(url, json=body)

    def texts() -> list[str]:
        return [m.text for m in slack.state.history("general")]

    answer = post({"response_type": "ephemeral", "text": "Working on it"})
    assert (answer.status_code, answer.text) == (200, "ok")
    assert slack.state.ephemerals[-1].user == "U0ALICE"
    assert post({"replace_original": True, "text": "Resolved by Alice"}).text == "ok"
    assert texts() == ["Resolved by Alice"]
    assert post({"response_type": "in_channel", "text": "FYI: resolved"}).status_code == 200
    assert texts() == ["Resolved by Alice", "FYI: resolved"]

    bad = post({"blocks": [NO_TYPE]})
    assert (bad.status_code, bad.text) == (400, "invalid_blocks")
    assert post({"delete_original": True}).text == "ok"
    assert texts() == ["FYI: resolved"]
    said = [p.get("text") for p in slack.state.responses(url)]
    assert said == ["Working on it", "Resolved by Alice", "FYI: resolved", None]
    post({"text": "fifth"})
    used = post({"text": "sixth"})
    assert (used.status_code, used.text) == (404, "used_url")


def test_a_bolt_app_accepts_our_signatures_and_talks_to_the_fake(slack: FakeSlack) -> None:
    """The end-to-end shape the bot's tests use: sign, dispatch, read what the fake saw."""
    secret = "test-signing-secret"
    client = WebClient(token=slack.token, base_url=slack.api_url)
    app = App(token=slack.token, signing_secret=secret, client=client)

    @app.command("/sitrep")
    def sitrep(ack: Ack, respond: Respond, command: dict[str, Any]) -> None:
        ack()
        respond(f"Looking up {command['text']}")
        client.chat_postMessage(channel=command["channel_id"], text="DORA: elite")

    general = slack.state.channel("general")
    assert general is not None
    response_url = slack.state.new_response_url(channel=general.id, user="U0ALICE")
    form = {
        "command": "/sitrep",
        "text": "dora checkout 30d",
        "user_id": "U0ALICE",
        "channel_id": general.id,
        "team_id": "T0SANDBOX",
        "response_url": response_url,
        "trigger_id": slack.state.new_trigger_id(),
    }
    body = str(httpx.QueryParams(form))
    headers = {"content-type": "application/x-www-form-urlencoded"}

    forged = app.dispatch(BoltRequest(body=body, headers={**headers, **sign("wrong", body)}))
    assert forged.status == 401
    assert slack.state.calls_to("chat.postMessage") == []

    answer = app.dispatch(BoltRequest(body=body, headers={**headers, **sign(secret, body)}))
    assert answer.status == 200
    slack.state.wait_for("chat.postMessage")
    assert [m.text for m in slack.state.history("general")] == ["DORA: elite"]
    [said] = slack.state.responses(response_url)
    assert said["text"] == "Looking up dora checkout 30d"
    assert [e.text for e in slack.state.ephemerals] == ["Looking up dora checkout 30d"]
