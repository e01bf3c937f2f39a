"""Digest content: every number and sentence comes from the same reports `/sitrep` shows."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import pytest
import sqlalchemy as sa

from bot.digests.build import build_digest
from bot.digests.facts import WINDOW_DAYS
from bot.reports import ReportRequest
from bot.slack.blocks import ARROWS, BAND_EMOJI, escape, number
from insights.errors import UnknownScope
from storage.db import session_scope
from storage.models import ErrorIssue
from tests.bot.conftest import BOT_NOW
from tests.bot.harness import BotHarness


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every text of a message's blocks, in order (sections, fields, headers, context)."""
    found = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            found.append(block["text"]["text"])
        found += [f["text"] for f in block.get("fields") or []]
        found += [e.get("text", "") for e in block.get("elements") or [] if "text" in e]
    return found


def table_rows(blocks: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The health table's rows by product name (``·`` marks of sub-products removed)."""
    table = next(t for t in texts(blocks) if t.startswith("*Health*"))
    code = re.search(r"```(.*)```", table, re.S)
    assert code, table
    lines = code.group(1).splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == ["Product", "Score", "Errors", "Open bugs"]
    rows = {}
    for line in lines[2:]:
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0].lstrip("· ")] = cells[1:]
    return rows


def cell(metric: Mapping[str, Any]) -> str:
    if metric.get("value") is None:
        return "-"
    return f"{number(metric['value'])} {ARROWS[metric['trend']]}".strip()


def health(bot: BotHarness, product: str | None) -> dict[str, Any]:
    return bot.deps.reports.get(
        ReportRequest(kind="health", product=product, days=WINDOW_DAYS, as_of=BOT_NOW)
    )


def test_a_product_digest_says_what_its_reports_say(bot: BotHarness) -> None:
    digest = build_digest(bot.deps, product="Payment System", now=BOT_NOW)
    report = health(bot, "Payment System")
    shown = texts(digest.main.blocks)

    assert not digest.quiet
    assert shown[0] == "Daily digest · Payment System"
    # The narrator's headline of the very same health report, word for word.
    assert shown[1] == f"*{escape(report['summary']['headline'])}*"
    rows = table_rows(digest.main.blocks)
    assert list(rows) == report["scope"]["products"] == ["Payment System", "Fraud Detection"]
    for product, row in rows.items():
        metrics = health(bot, product)["metrics"]
        expected = [cell(metrics[m]) for m in ("health_score", "error_events", "open_bugs")]
        assert row == expected, product
    # The details are the scope's three reports in full, in the thread.
    assert [t.text for t in digest.thread] == [
        "Health details for Payment System",
        "DORA details for Payment System",
        "Sprint details for Payment System",
    ]
    assert all(0 < len(p.blocks) <= 50 for p in [digest.main, *digest.thread])


def test_the_organisation_digest_lists_dora_changes_and_sprint_risks(bot: BotHarness) -> None:
    digest = build_digest(bot.deps, product=None, now=BOT_NOW)
    shown = "\n".join(texts(digest.main.blocks))
    report = health(bot, None)
    assert f"*{escape(report['summary']['headline'])}*" in shown
    # Escaped as every source text is ("Catalog &amp; Search"; Slack shows "&").
    products = report["scope"]["products"]
    assert sorted(table_rows(digest.main.blocks)) == sorted(escape(p) for p in products)
    assert len(products) == 7

    dora = bot.deps.reports.get(ReportRequest(kind="dora", days=WINDOW_DAYS, as_of=BOT_NOW))
    before = bot.deps.reports.get(
        ReportRequest(kind="dora", days=WINDOW_DAYS, as_of=BOT_NOW - dt.timedelta(days=7))
    )
    dora_part = next(t for t in texts(digest.main.blocks) if t.startswith("*DORA*"))
    assert dora_part.startswith(f"*DORA* · overall {BAND_EMOJI[dora['overall_band']]}")
    changed = [
        m for m, v in dora["metrics"].items() if v.get("band") != before["metrics"][m].get("band")
    ]
    assert changed, "the sandbox has a band change between the two weeks"
    for metric_id in changed:
        label = metric_id.replace("_", " ").capitalize()
        line = next(x for x in dora_part.splitlines() if f" {label}:" in x)
        assert f"band {dora['metrics'][metric_id]['band']}" in line
        assert f"(was {before['metrics'][metric_id]['band']})" in line

    sprint = bot.deps.reports.get(ReportRequest(kind="sprint", as_of=BOT_NOW))
    risks = next(t for t in texts(digest.main.blocks) if t.startswith("*Sprint risks*"))
    top = sprint["findings"][:3]
    assert len(risks.splitlines()) == 1 + len(top) > 1
    for finding in top:
        assert escape(finding["action"]) in risks


def add_new_error(bot: BotHarness, title: str, *, project: str = "payments-api") -> None:
    with session_scope(bot.engine) as session:
        n = session.scalar(sa.select(sa.func.count()).select_from(ErrorIssue))
        session.add(
            ErrorIssue(
                source="sentry",
                external_id=f"9{n}",
                url=f"https://sentry.example/issues/9{n}/",
                project=project,
                short_id=f"PAYMENTS-NEW{n}",
                title=title,
                level="error",
                status="unresolved",
                first_seen=BOT_NOW - dt.timedelta(hours=3),
                last_seen=BOT_NOW - dt.timedelta(minutes=5),
                event_count=42,
                user_count=7,
            )
        )


def test_new_errors_are_listed_escaped_and_change_the_fingerprint(bot: BotHarness) -> None:
    before = build_digest(bot.deps, product="Payment System", now=BOT_NOW)
    assert any("No new Sentry issue in the last 24 hours" in t for t in texts(before.main.blocks))

    add_new_error(bot, "<!channel> KeyError & <@U0BOB> in refunds")
    after = build_digest(bot.deps, product="Payment System", now=BOT_NOW)
    errors = next(t for t in texts(after.main.blocks) if t.startswith("*New errors"))
    assert "(1)" in errors.splitlines()[0]
    assert "&lt;!channel&gt; KeyError &amp; &lt;@U0BOB&gt; in refunds" in errors
    assert "<https://sentry.example/issues/" in errors  # our own link, the only <...>
    assert "<!channel>" not in str(after.main.blocks) and "<@U0BOB>" not in str(after.main.blocks)
    assert after.fingerprint != before.fingerprint
    # Checkout's digest does not see an issue of the payments project.
    checkout = build_digest(bot.deps, product="Checkout", now=BOT_NOW)
    assert not any("KeyError" in t for t in texts(checkout.main.blocks))


def test_many_new_errors_go_to_the_thread(bot: BotHarness) -> None:
    for n in range(8):
        add_new_error(bot, f"Error number {n}")
    digest = build_digest(bot.deps, product="Payment System", now=BOT_NOW)
    errors = next(t for t in texts(digest.main.blocks) if t.startswith("*New errors"))
    assert errors.count("• ") == 5 and "…and 3 more in the thread" in errors
    last = digest.thread[-1]
    assert last.text == "All new errors in the last 24 hours (8)"
    assert "\n".join(texts(last.blocks)).count("Error number") == 8


def test_an_unchanged_world_gives_a_quiet_digest(bot: BotHarness) -> None:
    first = build_digest(bot.deps, product=None, now=BOT_NOW)
    again = build_digest(
        bot.deps, product=None, now=BOT_NOW, previous_fingerprint=first.fingerprint
    )
    assert again.quiet and again.fingerprint == first.fingerprint
    assert again.main.text == "All quiet on the organisation: nothing changed since the last digest"
    assert again.thread == [] and len(again.main.blocks) == 1
    # A minute later, nothing synced: the rolling windows moved, the facts did not.
    later = build_digest(
        bot.deps,
        product=None,
        now=BOT_NOW + dt.timedelta(minutes=1),
        previous_fingerprint=first.fingerprint,
    )
    assert later.quiet


def test_weekly_digests_look_back_a_week_and_bad_arguments_are_refused(bot: BotHarness) -> None:
    with session_scope(bot.engine) as session:
        week = session.scalar(
            sa.select(sa.func.count())
            .select_from(ErrorIssue)
            .where(
                ErrorIssue.first_seen >= BOT_NOW - dt.timedelta(days=7),
                ErrorIssue.first_seen < BOT_NOW,
            )
        )
    digest = build_digest(bot.deps, product=None, now=BOT_NOW, cadence="weekly")
    errors = next(t for t in texts(digest.main.blocks) if t.startswith("*New errors"))
    assert texts(digest.main.blocks)[0] == "Weekly digest · the organisation"
    if week:
        assert f"*New errors in the last 7 days* ({week})" in errors
    else:
        assert "No new Sentry issue in the last 7 days" in errors
    with pytest.raises(ValueError, match="cadence"):
        build_digest(bot.deps, product=None, now=BOT_NOW, cadence="hourly")
    with pytest.raises(UnknownScope) as raised:
        build_digest(bot.deps, product="Paymnet System", now=BOT_NOW)
    assert "Payment System" in raised.value.suggestions
