"""The console stand-in for Slack: real report messages and hand-made blocks of each type."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.console.mrkdwn import inline, mrkdwn
from bot.console.render import render_message, render_view, to_text
from bot.slack.blocks import fallback_text, report_blocks
from tests.bot.test_blocks import health_doc, sprint_doc

ANSI = re.compile(r"\x1b\[|\x1b\]")
USERS = {"U1": "maria", "U2": "sitrep"}


def plain(text: str, **kw: Any) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, **kw}


def md(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def option(text: str) -> dict[str, Any]:
    return {"text": plain(text), "value": text.lower()}


def lines_with(text: str, piece: str) -> list[str]:
    return [line for line in text.splitlines() if piece in line]


ALERT: list[dict[str, Any]] = [
    {"type": "header", "text": plain(":rotating_light: New fatal issue in pay-api", emoji=True)},
    {
        "type": "section",
        "text": md(
            "*<https://sentry.io/issues/7/|PAYAPI-7>* KeyError: &lt;currency&gt; &amp; more\n"
            "Seen by <@U1> in <#C9|payments> <!here> since <!date^1700000000^{date}|14 Nov>"
        ),
        "accessory": {
            "type": "overflow",
            "action_id": "more",
            "options": [option("Snooze 1h"), option("Mute")],
        },
    },
    {
        "type": "section",
        "fields": [md("*Level*\n:red_circle: fatal"), md("*Users affected*\n40")],
    },
    {
        "type": "section",
        "text": md(
            "*Latency*\n```\nservice     p50    p95\npay-api     120ms  480ms\n"
            "checkout     80ms  300ms\n```"
        ),
    },
    {
        "type": "actions",
        "elements": [
            {"type": "button", "text": plain("Create Jira ticket"), "style": "primary"},
            {"type": "button", "text": plain("Ignore"), "style": "danger"},
            {"type": "button", "text": plain("Open in Sentry"), "url": "https://sentry.io/7"},
            {
                "type": "static_select",
                "placeholder": plain("Assign team"),
                "options": [option("Payments")],
            },
            {"type": "users_select", "placeholder": plain("Owner"), "initial_user": "U1"},
        ],
    },
    {"type": "divider"},
    {
        "type": "context",
        "elements": [
            {"type": "image", "image_url": "https://x/s.png", "alt_text": "sentry logo"},
            md("_pay-api_ · :chart_with_upwards_trend: trending · :no_such_emoji:"),
        ],
    },
    {"type": "image", "image_url": "https://x/chart.png", "alt_text": "error chart"},
    {"type": "call", "call_id": "R1"},
]


def test_a_report_message_shows_header_fields_links_and_button() -> None:
    doc = health_doc()
    text = to_text(
        render_message(fallback_text(doc), report_blocks(doc), title="#payments · Sitrep")
    )
    assert text.startswith("╭─ #payments · Sitrep ─")
    assert "Health · Payment System · last 30 days" in text
    assert doc["summary"]["headline"][:60] in text
    assert "Health score:" in text and "*Health score" not in text  # bold, not asterisks
    assert lines_with(text, "Error events") and lines_with(text, "Users affected")
    assert "PAYAPI-1 (https://sentry.io/organizations/acme/issues/1/)" in text
    assert "PAY-9 (https://acme.atlassian.net/browse/PAY-9) critical" in text
    # The hostile title was escaped by the builder, so it reads as text again here.
    assert "<!channel> & <@U123>" in text and "&lt;" not in text and "&amp;" not in text
    assert "[ Share in channel ]" in text
    assert not ANSI.search(text)


def test_fields_sit_in_two_columns() -> None:
    doc = sprint_doc(1)
    text = to_text(render_message(fallback_text(doc), report_blocks(doc)))
    [row] = lines_with(text, "Committed")
    assert "Completed" in row  # the second field of the pair, on the same line
    assert row.index("Completed") > 40


def test_every_block_type_of_an_alert() -> None:
    message = render_message("fallback", ALERT, title="#payments · Sitrep", users=USERS)
    text = to_text(message)
    assert "🚨 New fatal issue in pay-api" in text
    assert "PAYAPI-7 (https://sentry.io/issues/7/) KeyError: <currency> & more" in text
    assert "Seen by @maria in #payments @here since 14 Nov" in text
    [overflow] = lines_with(text, "[ ⋯ ]")
    assert "PAYAPI-7" in overflow and "Snooze 1h · Mute" in overflow  # the accessory, at the right
    assert "Level" in text and "🔴 fatal" in text and "Users affected" in text
    [buttons] = lines_with(text, "[ Create Jira ticket ]")
    for shown in ("[ Ignore ]", "[ Open in Sentry ↗ ]", "[ Assign team ▾ ]", "[ @maria ▾ ]"):
        assert shown in buttons
    assert "─" * 40 in text  # the divider
    assert "[sentry logo]" in text and "📈 trending" in text and ":no_such_emoji:" in text
    assert "[image: error chart] https://x/chart.png" in text
    assert "[call block]" in text
    assert "fallback" not in text  # the blocks are the message; the text is for notifications
    assert not ANSI.search(text)


def test_a_fenced_table_keeps_its_columns() -> None:
    text = to_text(render_message("", ALERT))
    rows = [lines_with(text, name)[0] for name in ("service", "pay-api     120ms", "checkout")]
    assert "service     p50    p95" in rows[0]
    assert "pay-api     120ms  480ms" in rows[1]
    assert "checkout     80ms  300ms" in rows[2]
    assert rows[0].index("p95") == rows[1].index("480ms") == rows[2].index("300ms")


def test_a_long_fenced_line_folds_instead_of_losing_its_end() -> None:
    wide = "x" * 30 + "  " + "y" * 30 + " END"
    text = to_text(render_message(f"```{wide}```", None), width=40)
    assert "END" in text and "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx  yy" in text
    assert all(len(line) <= 40 for line in text.splitlines())


def test_plain_text_fallback_without_blocks_and_ephemeral_title() -> None:
    text = to_text(render_message("Done *fast* &amp; well :tada:", [], ephemeral=True))
    assert "only visible to you" in text.splitlines()[0]
    assert "Done fast & well 🎉" in text


def test_thread_replies_are_indented_beneath() -> None:
    reply = {"user": "U2", "text": "Ticket <https://jira/PAY-10|PAY-10> created by <@U1>"}
    text = to_text(render_message("Alert", None, title="#payments", thread=[reply], users=USERS))
    lines = text.splitlines()
    [reply_line] = lines_with(text, "created by @maria")
    assert reply_line.startswith("    │ Ticket PAY-10 (https://jira/PAY-10)")
    assert lines.index(reply_line) > lines.index(lines_with(text, "Alert")[0])
    assert lines_with(text, "↳ @sitrep")[0].startswith("    ╭")


def test_rich_text_sections_lists_code_and_quotes() -> None:
    block = {
        "type": "rich_text",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [
                    {"type": "text", "text": "Steps ", "style": {"bold": True}},
                    {"type": "link", "url": "https://runbook.io", "text": "runbook"},
                    {"type": "text", "text": " "},
                    {"type": "emoji", "name": "white_check_mark", "unicode": "2705"},
                ],
            },
            {
                "type": "rich_text_list",
                "style": "bullet",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": "roll"}]},
                    {"type": "rich_text_section", "elements": [{"type": "user", "user_id": "U1"}]},
                ],
            },
            {
                "type": "rich_text_list",
                "style": "ordered",
                "indent": 1,
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": "first"}]}
                ],
            },
            {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "a  <b>"}]},
            {"type": "rich_text_quote", "elements": [{"type": "text", "text": "said & done"}]},
        ],
    }
    text = to_text(render_message("", [block], users=USERS))
    assert "Steps runbook (https://runbook.io) ✅" in text
    assert "│ • roll" in text and "│ • @maria" in text
    assert "│   1. first" in text
    assert "a  <b>" in text  # raw text: nothing to unescape
    assert "│ said & done" in text


def modal() -> dict[str, Any]:
    def field(label: str, element: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return {"type": "input", "label": plain(label), "element": element, **kw}

    priorities = [option(p) for p in ("Critical", "High", "Low")]
    return {
        "type": "modal",
        "title": plain("Create Jira ticket"),
        "submit": plain("Create"),
        "blocks": [
            field("Summary", {"type": "plain_text_input", "initial_value": "KeyError in charge"}),
            field(
                "Description",
                {
                    "type": "plain_text_input",
                    "multiline": True,
                    "initial_value": "Seen 12 times.\nSee Sentry.",
                },
            ),
            field(
                "Notes",
                {"type": "plain_text_input", "placeholder": plain("Anything else")},
                optional=True,
                hint=plain("Goes into the ticket"),
            ),
            field(
                "Priority",
                {"type": "static_select", "options": priorities, "initial_option": priorities[1]},
            ),
            field(
                "Kind",
                {
                    "type": "radio_buttons",
                    "options": [option("Bug"), option("Task")],
                    "initial_option": option("Bug"),
                },
            ),
            field(
                "Notify",
                {
                    "type": "checkboxes",
                    "options": [option("Channel"), option("Owner")],
                    "initial_options": [option("Owner")],
                },
            ),
            field("Due", {"type": "datepicker", "initial_date": "2026-04-10"}),
            field("At", {"type": "timepicker", "placeholder": plain("Pick a time")}),
        ],
    }


def test_a_modal_shows_its_inputs_with_their_initial_values() -> None:
    text = to_text(render_view(modal()), width=80)
    assert text.startswith("╭─ Create Jira ticket ─")
    assert "Summary" in text and "│ KeyError in charge" in text
    assert "│ Seen 12 times." in text and "│ See Sentry." in text
    assert "Notes (optional)" in text and "Anything else" in text
    assert "Goes into the ticket" in text
    assert "[ High ▾ ]" in text and "options: Critical · High · Low" in text
    assert "(•) Bug" in text and "( ) Task" in text
    assert "[ ] Channel" in text and "[x] Owner" in text
    assert "[ 2026-04-10 ▾ ]" in text and "[ Pick a time ▾ ]" in text
    [footer] = lines_with(text, "[ Cancel ]")
    assert footer.rstrip(" │").endswith("[ Cancel ]  [ Create ]")
    assert not ANSI.search(text)


def test_a_home_tab() -> None:
    view = {
        "type": "home",
        "blocks": [
            {"type": "header", "text": plain("Sitrep")},
            {"type": "section", "text": md("Your products: *Payment System*")},
        ],
    }
    text = to_text(render_view(view))
    assert text.startswith("╭─ App Home ─")
    assert "Your products: Payment System" in text


@pytest.mark.parametrize(
    "block",
    [
        {"type": "future_block"},
        {"no": "type"},
        {"type": "section"},
        {"type": "header"},
        {"type": "actions", "elements": [{"type": "mystery"}]},
        {"type": "rich_text", "elements": [{"type": "rich_text_list", "indent": "x"}]},
    ],
)
def test_unknown_or_malformed_blocks_become_a_placeholder(block: dict[str, Any]) -> None:
    text = to_text(render_message("", [block, {"type": "section", "text": md("still here")}]))
    assert "still here" in text
    assert re.search(r"\[\S+( block)?(: [a-z ]+)?\]", text)


def test_no_escape_codes_even_when_the_environment_asks_for_colour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    text = to_text(render_message("x", ALERT, title="#payments", users=USERS))
    assert "[ Create Jira ticket ]" in text
    assert not ANSI.search(text)


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("*bold* _it_ ~gone~ `co*de*`", "bold it gone co*de*"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
        ("*_both_*", "both"),
        (
            "<https://x.io> <https://x.io|X> <mailto:a@b.co|a@b.co>",
            "https://x.io X (https://x.io) a@b.co",
        ),
        ("<@U1> <@U7> <@U8|bob> <#C1|ops> <#C2>", "@maria @U7 @bob #ops #C2"),
        ("<!here> <!channel> <!subteam^S1|@devs>", "@here @channel @devs"),
        ("<!date^1700000000^{date_short}|Nov 14> <!date^0^{date}>", "Nov 14 1970-01-01 00:00 UTC"),
        ("&lt;b&gt; &amp;lt; &amp;", "<b> &lt; &"),
        ("&lt;@U1&gt;", "<@U1>"),  # escaped: text, not a mention
        (":white_check_mark: :warning: :large_yellow_circle: :nope:", "✅ ⚠️ 🟡 :nope:"),
        ("at 12:30:45 a:b:warning:", "at 12:30:45 a:b⚠️"),
    ],
)
def test_mrkdwn_to_terminal_text(source: str, shown: str) -> None:
    assert inline(source, USERS).plain == shown


def test_mrkdwn_quotes_and_fences() -> None:
    text = to_text(mrkdwn("&gt; quoted *line*\nplain\n*Usage*\n```/sitrep dora &lt;product&gt;```"))
    assert text.splitlines() == ["│ quoted line", "plain", "Usage", "  /sitrep dora <product>"]
    spans = inline("*b* _i_ ~s~").spans
    assert [s.style for s in spans] == ["bold", "italic", "strike"]
