"""Report documents (made by the real insights code from hand-built records) as Block Kit."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.models.blocks import Block

from bot.slack.blocks import (
    MESSAGE_BLOCKS,
    clip,
    error_blocks,
    escape,
    fallback_text,
    link,
    report_blocks,
)
from bot.slack.fake import FakeSlack
from bot.slack.fake_blocks import blocks_errors
from bot.slack.ids import ActionId, ReportRef
from insights import dora, health
from insights.common import DAY, HOUR, Finding, Metric, Summary, Window
from insights.dora import DeploymentRecord, DoraInput, IncidentRecord, PullRecord
from insights.dora_findings import dora_findings
from insights.flow import ItemHistory, Visit
from insights.health import BugRecord, DeploymentOutcome, ErrorIssueRecord, HealthInput
from insights.health_findings import health_findings
from insights.narrator import narrate
from insights.report import Report
from insights.sprint import (
    BoardInput,
    BoardRecord,
    Membership,
    SprintRecord,
    SprintReport,
    SprintRules,
    board_sprint,
)

NOW = dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC)
WINDOW = Window.last(30, NOW)
PAYMENTS = {"kind": "product", "name": "Payment System", "products": ["Payment System"]}
EVIL = "<!channel> & <@U123> *bold*"
EVIL_ESCAPED = "&lt;!channel&gt; &amp; &lt;@U123&gt; *bold*"


def dicts(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    """The JSON Slack gets; ``to_dict()`` runs slack_sdk's validation and raises on a breach."""
    return [block.to_dict() for block in blocks]


def valid(blocks: Sequence[Block], limit: int = MESSAGE_BLOCKS) -> list[dict[str, Any]]:
    """Checked twice: by slack_sdk, and by the fake Slack's own checks of Slack's limits."""
    data = dicts(blocks)
    assert len(data) <= limit
    assert blocks_errors(data, limit=limit) == []
    return data


def text_of(data: Any) -> str:
    """Every text in the blocks, one per line."""
    if isinstance(data, Mapping):
        return "\n".join(
            v if k == "text" and isinstance(v, str) else text_of(v) for k, v in data.items()
        )
    if isinstance(data, list):
        return "\n".join(text_of(v) for v in data)
    return ""


def share_value(data: list[dict[str, Any]]) -> str:
    [actions] = [b for b in data if b["type"] == "actions"]
    [button] = actions["elements"]
    assert button["action_id"] == ActionId.SHARE_REPORT.value == "share_report"
    return str(button["value"])


# ---------------------------------------------------------------- documents


def health_doc() -> dict[str, Any]:
    """Two Sentry issues (one with a hostile title), an overdue critical bug, 3 deployments."""
    day = NOW.date() - dt.timedelta(days=3)
    issues = [
        ErrorIssueRecord(
            1, "pay-api", "PAYAPI-1", EVIL, "error", "unresolved", "new",
            NOW - 5 * DAY, NOW - HOUR, 40, url="https://sentry.io/organizations/acme/issues/1/",
        ),
        ErrorIssueRecord(
            2, "pay-api", "PAYAPI-2", "KeyError: 'currency'", "fatal", "unresolved", "ongoing",
            NOW - 60 * DAY, NOW - 2 * HOUR, 7, url="javascript:alert(1)",
        ),
    ]  # fmt: skip
    data = HealthInput(
        issues=issues,
        daily_events={1: {day: 120}, 2: {day: 30}},
        bugs=[
            BugRecord(
                "PAY-9",
                "PAY",
                "critical",
                NOW - 10 * DAY,
                None,
                "https://acme.atlassian.net/browse/PAY-9",
            )
        ],
        deployments=[
            DeploymentOutcome("acme/pay", ok, NOW - n * DAY)
            for n, ok in ((1, True), (2, True), (3, False))
        ],
        sla_days={"PAY": {"critical": 2, "high": 7, "medium": 30, "low": 90}},
        has_errors=True,
        has_bugs=True,
        has_deployments=True,
        events_since=NOW.date() - dt.timedelta(days=90),
    )
    result = health.compute(data, WINDOW)
    report = Report(
        kind="health",
        scope=PAYMENTS,
        window=WINDOW,
        metrics=result.metrics,
        findings=health_findings(result),
        tables={
            "score_factors": [
                {"factor": f.id, "points": -f.points, "cap": f.cap, "evidence": f.evidence}
                for f in result.factors
            ],
            "top_issues": [dict(row) for row in result.top_issues],
            "overdue_bugs": [dict(row) for row in result.overdue_bugs],
        },
    )
    return report.with_summary(narrate(report.facts())).as_dict()


def dora_doc() -> dict[str, Any]:
    """4 deployments in 30 days, one causing an incident resolved in 3 h; one PR whose first
    commit was 36.5 h before its deployment finished."""
    deployments = [
        DeploymentRecord(n, "acme/pay", NOW - n * DAY, NOW - n * DAY - HOUR) for n in (1, 2, 3, 4)
    ]
    pull = PullRecord(
        1, "acme/pay", 7, created_at=NOW - 3 * DAY - 30 * HOUR, merged_at=NOW - 3 * DAY - 2 * HOUR,
        first_commit_at=NOW - 3 * DAY - 36.5 * HOUR,
    )  # fmt: skip
    incident = IncidentRecord(1, "PAY-1", "PAY", NOW - 2 * DAY + 2 * HOUR, NOW - 2 * DAY + 5 * HOUR)
    data = DoraInput(
        deployments=deployments,
        pulls=[pull],
        incidents=[incident],
        incident_repos={"PAY": ("acme/pay",)},
        rules={},
        project_rules={},
        deploying_repos=("acme/pay",),
    )
    result = dora.compute(data, WINDOW)
    report = Report(
        kind="dora",
        scope=PAYMENTS,
        window=WINDOW,
        metrics=result.metrics,
        findings=dora_findings(result),
        tables={"lead_time_phases": [{"phase": "coding", "median_hours": 6.0}]},
        extra={"overall_band": result.overall_band, "unshipped_pull_requests": 0},
    )
    return report.with_summary(narrate(report.facts())).as_dict()


def hand_made_dora(summary: Summary | None = None) -> dict[str, Any]:
    """Exact values through `Metric`, as a report would carry them; one metric without data."""
    metrics = (
        Metric("deployment_frequency", "", 0.5, "per day", previous=0.4, band="high"),
        Metric("lead_time_for_changes", "", 36.5, "hours", previous=40.0, band="high"),
        Metric("change_failure_rate", "", 0.153, "fraction", previous=0.1, band="medium"),
        Metric("failed_deployment_recovery_time", "", None, "hours"),
        Metric("deployment_rework_rate", "", 0.01, "fraction", band="elite"),
    )
    finding = Finding("cfr", "Find what breaks", f"Incidents after {EVIL}", 1.0)
    return Report(
        "dora",
        {"kind": "team", "name": "payments"},
        Window.last(7, NOW),
        metrics,
        (finding,),
        extra={"overall_band": "high"},
        summary=summary,
    ).as_dict()


T0 = NOW - 5 * DAY
SPRINT = SprintRecord("100", "Sprint 5", "active", T0, T0 + 14 * DAY)


def board_section(n: int, title: str = "Add cart totals") -> Any:
    """A board whose sprint has 3 items, one of them waiting in Code Review far too long."""
    old = {  # usual Code Review stays of 5-8 hours, a month ago
        f"H{n}-{i}": ItemHistory(
            f"H{n}-{i}",
            NOW - 40 * DAY,
            (
                Visit(
                    "Code Review", "in_progress", NOW - 40 * DAY, NOW - 40 * DAY + (4 + i) * HOUR
                ),
                Visit("Done", "done", NOW - 40 * DAY + (4 + i) * HOUR),
            ),
        )
        for i in (1, 2, 3, 4)
    }
    items = {
        f"B{n}-1": ItemHistory(
            f"B{n}-1",
            T0,
            (Visit("In Progress", "in_progress", T0, T0 + DAY), Visit("Done", "done", T0 + DAY)),
            story_points=3,
        ),
        f"B{n}-2": ItemHistory(
            f"B{n}-2", T0, (Visit("Code Review", "in_progress", T0 + HOUR),),
            summary=title, assignee=EVIL, story_points=5,
        ),
        f"B{n}-3": ItemHistory(f"B{n}-3", T0, (Visit("To Do", "todo", T0),), story_points=2),
    }  # fmt: skip
    memberships = tuple(Membership("100", key, T0) for key in items)
    board = BoardRecord(str(n), f"Board {n}", f"B{n}")
    data = BoardInput(board, SPRINT, (SPRINT,), memberships, old | items)
    return board_sprint(data, now=NOW, rules=SprintRules())


def sprint_doc(boards: int) -> dict[str, Any]:
    report = SprintReport(PAYMENTS, NOW, tuple(board_section(n) for n in range(1, boards + 1)))
    return report.with_summary(narrate(report.facts())).as_dict()


def test_health_blocks_are_valid_and_escape_source_text() -> None:
    doc = health_doc()
    data = valid(report_blocks(doc))
    text = text_of(data)
    assert data[0]["type"] == "header"
    assert data[0]["text"]["text"] == "Health · Payment System · last 30 days"
    assert EVIL_ESCAPED in text
    assert "<!channel>" not in text and "<@U123>" not in text
    assert "<https://sentry.io/organizations/acme/issues/1/|PAYAPI-1>" in text
    assert "javascript:" not in text  # not an http(s) URL: the short id alone, no link
    assert "<https://acme.atlassian.net/browse/PAY-9|PAY-9> critical" in text
    score = doc["metrics"]["health_score"]["value"]
    assert f"*Health score: {score}/100*" in text
    assert "*Error events*\n150" in text  # 120 + 30 events, as the document counts them
    assert doc["summary"]["headline"] in text
    assert all(b["text"]["verbatim"] for b in data if b["type"] == "section" and "text" in b)
    assert fallback_text(doc) == escape(doc["summary"]["headline"])


def test_share_button_carries_a_small_reference_that_parses_back() -> None:
    doc = health_doc()
    value = share_value(valid(report_blocks(doc)))
    assert len(value) < 2000
    ref = ReportRef.from_value(value)
    assert (ref.kind, ref.scope_kind, ref.scope_name, ref.days) == (
        "health",
        "product",
        "Payment System",
        30,
    )
    assert ref.as_of == NOW.isoformat()
    assert not [b for b in dicts(report_blocks(doc, share_button=False)) if b["type"] == "actions"]
    with pytest.raises(ValueError, match="not a report reference"):
        ReportRef.from_value('{"k": "dora"}')


def test_dora_numbers_match_the_document() -> None:
    doc = dora_doc()
    text = text_of(valid(report_blocks(doc)))
    metrics = doc["metrics"]
    assert metrics["change_failure_rate"]["value"] == 0.25
    assert "🔴 Change failure rate*\n25.0%" in text  # over 20%: low
    assert metrics["lead_time_for_changes"]["value"] == 36.5
    assert "🔵 Lead time for changes*\n36.5 h" in text  # a day to a week: high
    assert "🔵 Failed deployment recovery time*\n3.0 h" in text  # 3 h: high, not elite
    assert "🟡 Deployment frequency*\n0.13 per day" in text  # weekly, not daily: medium
    assert "1 of 4 deployments" in text
    # elite (rework 0%), high, high, medium, low: the median band is high.
    assert doc["overall_band"] == "high"
    assert "*Overall DORA band:* 🔵 high" in text
    assert "Lead time phases (medians): coding 6.0 h" in text


def test_hand_made_metrics_show_their_exact_values_and_no_data() -> None:
    summary = Summary(
        "CFR is 15.3%", ("Incidents after " + EVIL,), ("Find what breaks.",), "llm:m1"
    )
    doc = hand_made_dora(summary)
    data = valid(report_blocks(doc, context="Shared by <@U1>"))
    text = text_of(data)
    assert data[0]["text"]["text"] == "DORA · team payments · last 7 days"
    assert "*🟡 Change failure rate*\n15.3% ↑ from 10.0%" in text
    assert "*🔵 Lead time for changes*\n36.5 h ↓ from 40.0 h" in text
    assert "*⚪ Failed deployment recovery time*\nno data" in text
    assert "*🟢 Deployment rework rate*\n1.0%" in text
    assert "*Overall DORA band:* 🔵 high" in text
    # The finding repeats the summary's risk and action: said once, as "action: evidence".
    assert text.count(f"Incidents after {EVIL_ESCAPED}") == 1
    assert f"*Find what breaks*: Incidents after {EVIL_ESCAPED}" in text
    assert "<@U123>" not in text
    [context] = [b for b in data if b["type"] == "context" and "m1" in text_of(b)]
    assert "Shared by <@U1>" in text_of(context)  # the caller's mrkdwn, kept as is
    assert "7 days to 31 Mar 2026 12:00 UTC" in text_of(context)


def test_a_report_without_summary_still_has_a_headline() -> None:
    doc = hand_made_dora()
    assert fallback_text(doc) == "DORA report for team payments"
    assert "*DORA report for team payments*" in text_of(valid(report_blocks(doc)))


# ---------------------------------------------------------------- sprint


def test_one_board_in_full() -> None:
    doc = sprint_doc(1)
    data = valid(report_blocks(doc))
    text = text_of(data)
    assert data[0]["text"]["text"] == "Sprint · Board 1"
    assert "*Board 1* · Sprint 5 · active, 26 Mar to 9 Apr 2026" in text
    assert "*Committed*\n3 issues · 10 points" in text
    assert "*Completed*\n1 issue · 3 points\n30.0% of committed" in text
    assert "*Added / removed*\n+0 / -0 issues\n+0 / -0 points" in text
    assert "Code Review" in text
    assert "*Ageing items*\n• B1-2 Code Review for" in text
    assert f"{EVIL_ESCAPED} · Add cart totals" in text
    assert "<!channel>" not in text
    ref = ReportRef.from_value(share_value(data))
    assert (ref.kind, ref.board, ref.sprint, ref.days) == ("sprint", "1", "100", None)


def test_thirty_boards_fit_in_one_message() -> None:
    doc = sprint_doc(30)
    data = valid(report_blocks(doc))
    text = text_of(data)
    assert len(data) <= 50
    [listing] = [b for b in data if len(b.get("fields", [])) == 10]  # Slack's 10 per section
    names = [f["text"].split("*")[1] for f in listing["fields"]]
    assert names == [f"Board {n}" for n in range(1, 11)]
    assert "and 20 more boards: use /sitrep sprint &lt;board&gt;" in text
    assert share_value(data)  # the tail survives


def test_a_small_block_budget_still_fits() -> None:
    data = valid(report_blocks(sprint_doc(3), max_blocks=8), limit=8)
    assert data[-1]["type"] == "actions"


def test_long_text_is_cut_not_refused() -> None:
    doc = hand_made_dora(Summary("&" * 5000, (), ()))
    doc["scope"] = {"kind": "product", "name": "P" * 300}
    data = valid(report_blocks(doc))
    assert len(data[0]["text"]["text"]) == 150 and data[0]["text"]["text"].endswith("…")
    summary = data[1]["text"]["text"]
    assert len(summary) <= 3000 and summary.endswith("&amp;…")  # never cut inside an escape
    assert len(share_value(data)) < 2000
    doc["scope"] = {"kind": "product", "name": "P" * 2000}  # too long to carry: no button
    assert not [b for b in valid(report_blocks(doc)) if b["type"] == "actions"]
    assert clip("abc <https://x|y> tail", 10) == "abc…"
    assert link("https://x.test/a|b c", "id") == "<https://x.test/a%7Cb%20c|id>"


def test_error_blocks_suggest_and_show_usage() -> None:
    data = valid(
        error_blocks(
            "No product or team called <!here>",
            ["Payment System", "Payments & Co"],
            "/sitrep sprint [<board>|<team>]",
        )
    )
    text = text_of(data)
    assert "No product or team called &lt;!here&gt;" in text
    assert "Did you mean *Payment System* or *Payments &amp; Co*?" in text
    assert "```/sitrep sprint [&lt;board&gt;|&lt;team&gt;]```" in text


def test_the_fake_slack_accepts_the_health_report() -> None:
    doc = health_doc()
    blocks = report_blocks(doc)
    with FakeSlack() as slack:
        client = WebClient(token=slack.token, base_url=slack.api_url)
        posted = client.chat_postMessage(
            channel="#payments", text=fallback_text(doc), blocks=blocks
        )
        message = slack.state.message(posted["channel"], posted["ts"])
    assert message is not None
    assert message.blocks == json.loads(json.dumps(dicts(blocks)))
    assert message.text == fallback_text(doc)
