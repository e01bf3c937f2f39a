"""A channel digest of one product (or the organisation): what changed, in one message and a thread.

The main message, top to bottom: a header (cadence and scope), the headline of the scope's health
report (the LLM's when one is configured, else the rule-based narrator's: the same sentence
``/sitrep health`` shows), the health table (one row per product of the scope: score, error events,
open bugs, each with its trend arrow), the DORA changes, the top three sprint risks, the busiest
new Sentry issues, and a context line. The thread holds the details: the scope's health, DORA and
sprint reports in full, then every new error when there are more than the main message lists.

Windows, decided once for both cadences:

- Health and DORA read the **last 7 days**, trends against the 7 days before. A daily digest of a
  1-day window would be noise (most teams do not deploy every day, and one quiet Sunday would
  "improve" every metric); a weekly digest of 7 days is exactly "this week against last week".
  So a daily digest is a rolling week, re-read every morning.
- DORA changes compare with the DORA report of the previous 7 days: a metric is listed when its
  band changed, or its value moved by 10% or more.
- "New errors" are Sentry issues first seen since the previous digest of that cadence: the last
  24 hours (daily) or 7 days (weekly).

The fingerprint hashes the facts a reader acts on: each product's health score and open bugs,
the DORA bands (overall and per metric), the sprint risks shown and the new errors' ids. Volumes
that drift as a rolling window slides (error events, hours of lead time) are shown but not
hashed, so a world where nothing happened gives the same fingerprint on the next morning, and
the digest is a one-line "all quiet" (or nothing, as the subscription chose).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import Block, HeaderBlock, PlainTextObject
from tabulate import tabulate

from bot.deps import Deps
from bot.digests.facts import DigestFacts, DoraChange, HealthRow, NewError, gather
from bot.digests.model import Digest, Post
from bot.slack.blocks import (
    ARROWS,
    BAND_EMOJI,
    HEADER_TEXT,
    MESSAGE_BLOCKS,
    NO_BAND,
    clip,
    context_block,
    escape,
    fallback_headline,
    fmt_when,
    link,
    list_section,
    moved,
    number,
    report_blocks,
    scope_label,
    section,
    shown,
    source_text,
)

CADENCES = ("daily", "weekly")
TABLE_ROWS = 30  # products in the table; more are counted ("…and 19 more")
NAME_CHARS = 26
SPRINT_RISKS = 3
ERRORS_SHOWN = 5  # new errors in the main message; the thread lists the rest
QUIET = "All quiet on {scope}: nothing changed since the last digest"


def build_digest(
    deps: Deps,
    *,
    product: str | None,
    now: dt.datetime,
    previous_fingerprint: str | None = None,
    cadence: str = "daily",
) -> Digest:
    """The digest of ``product`` (None: the organisation) at ``now``.

    When ``previous_fingerprint`` equals this digest's, the digest is `quiet`: its main message
    is the one-line "all quiet" and it has no thread. `insights.errors.UnknownScope` passes
    through for an unknown product name.
    """
    if cadence not in CADENCES:
        raise ValueError(f"cadence must be one of {CADENCES}, not {cadence!r}")
    as_of = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
    facts = gather(deps, product=product, as_of=as_of, cadence=cadence)
    fingerprint = fingerprint_of(facts)
    label = scope_label(facts.scope)
    if previous_fingerprint == fingerprint:
        return quiet_digest(label, fingerprint)
    headline = fallback_headline(facts.health)
    main = Post(
        text=source_text(f"{cadence.capitalize()} digest for {label}: {headline}", 3000),
        blocks=_dicts(main_blocks(facts)),
    )
    return Digest(main=main, thread=thread_posts(facts), fingerprint=fingerprint)


def quiet_digest(label: str, fingerprint: str) -> Digest:
    text = QUIET.format(scope=label)
    line = section(f"😴 {source_text(text, 500)}.")
    return Digest(
        main=Post(text=source_text(text, 500), blocks=_dicts([line])),
        thread=[],
        fingerprint=fingerprint,
        quiet=True,
    )


def fingerprint_of(facts: DigestFacts) -> str:
    """A hash of the facts a reader acts on (see the module docstring for what is left out)."""
    dora = facts.dora.get("metrics") or {}
    material = {
        "scope": [facts.scope.get("kind"), facts.scope.get("name")],
        "health": [[r.product, r.score.get("value"), r.open_bugs.get("value")] for r in facts.rows],
        "dora": [facts.overall_band, {k: m.get("band") for k, m in sorted(dora.items())}],
        "sprint": [[f.get("kind"), f.get("action")] for f in _sprint_risks(facts)],
        "new_errors": [e.external_id for e in facts.new_errors] + [facts.new_errors_total],
    }
    raw = json.dumps(material, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


# ---------------------------------------------------------------- the main message


def main_blocks(facts: DigestFacts) -> list[Block]:
    label = scope_label(facts.scope)
    title = clip(f"{facts.cadence.capitalize()} digest · {label}", HEADER_TEXT)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=title, emoji=True)),
        section(f"*{source_text(fallback_headline(facts.health), 2500)}*"),
        section(health_table(facts.rows)),
        section(dora_text(facts)),
        section(sprint_text(facts)),
        section(new_errors_text(facts)),
        context_block(_context(facts)),
    ]
    return blocks[:MESSAGE_BLOCKS]


def health_table(rows: Sequence[HealthRow]) -> str:
    """The table as mrkdwn: a title and a code block (monospace keeps the columns straight)."""
    title = "*Health* (arrows: against the 7 days before)"
    if not rows:
        return f"{title}\nNo active product in this scope."
    body = [
        [
            # tabulate strips leading spaces, so sub-products are marked, not indented
            "· " * r.depth + clip(" ".join(r.product.split()), NAME_CHARS),
            _cell(r.score),
            _cell(r.errors),
            _cell(r.open_bugs),
        ]
        for r in rows[:TABLE_ROWS]
    ]
    table = tabulate(
        body,
        headers=["Product", "Score", "Errors", "Open bugs"],
        tablefmt="simple",
        disable_numparse=True,
        colalign=("left", "right", "right", "right"),
    )
    # Escaped after tabulate: Slack shows "&amp;" as "&", so the columns still line up.
    text = escape(table.replace("```", "'''"))
    more = f"\n…and {len(rows) - TABLE_ROWS} more products" if len(rows) > TABLE_ROWS else ""
    return f"{title}\n```{text}```{more}"


def _cell(metric: Mapping[str, Any]) -> str:
    value = metric.get("value")
    if value is None:
        return "-"
    arrow = ARROWS.get(str(metric.get("trend")), "")
    return f"{number(value)} {arrow}".rstrip()


def _band(band: object) -> str:
    return f"{BAND_EMOJI[band]} {band}" if band in BAND_EMOJI else f"{NO_BAND} no data"


def _metric_label(metric_id: str) -> str:
    return metric_id.replace("_", " ").capitalize()


def dora_text(facts: DigestFacts) -> str:
    overall, before = facts.overall_band, facts.previous_overall_band
    head = f"*DORA* · overall {_band(overall)}"
    if overall != before:
        head += f" (was {_band(before)})"
    if not facts.dora_changes:
        return f"{head}\nNo band changed and no metric moved by 10% or more."
    return "\n".join([head, *(_change_line(c) for c in facts.dora_changes)])


def _change_line(change: DoraChange) -> str:
    emoji = BAND_EMOJI.get(str(change.band), NO_BAND)
    value = " ".join(p for p in (shown(change.metric), moved(change.metric)) if p)
    line = f"• {emoji} {_metric_label(change.metric_id)}: {value}"
    if change.band != change.previous_band:
        line += f" · band {change.band or 'no data'} (was {change.previous_band or 'no data'})"
    return line


def _sprint_risks(facts: DigestFacts) -> list[Mapping[str, Any]]:
    return list(facts.sprint.get("findings") or [])[:SPRINT_RISKS]


def sprint_text(facts: DigestFacts) -> str:
    boards = facts.sprint.get("boards") or []
    if not boards:
        return "*Sprint risks*\nNo Jira board in this scope."
    risks = _sprint_risks(facts)
    if not risks:
        return f"*Sprint risks*\nNone found on {len(boards)} board{'s' * (len(boards) != 1)}."
    lines = [
        f"• *{source_text(f.get('action', ''), 300)}*: {source_text(f.get('evidence', ''), 500)}"
        for f in risks
    ]
    return "\n".join(["*Sprint risks*", *lines])


def _since(facts: DigestFacts) -> str:
    return "24 hours" if facts.cadence == "daily" else "7 days"


def error_line(error: NewError) -> str:
    parts = [
        f"{link(error.url, error.short_id or 'issue')} {source_text(error.title)}",
        source_text(error.product, 60) if error.product else None,
        escape(error.level),
        f"{number(error.events)} events",
        f"{number(error.users)} users",
    ]
    return " · ".join(p for p in parts if p)


def new_errors_text(facts: DigestFacts) -> str:
    if not facts.new_errors_total:
        return f"*New errors*\nNo new Sentry issue in the last {_since(facts)}."
    title = f"*New errors in the last {_since(facts)}* ({facts.new_errors_total})"
    lines = [f"• {error_line(e)}" for e in facts.new_errors[:ERRORS_SHOWN]]
    hidden = facts.new_errors_total - len(lines)
    more = [f"…and {hidden} more in the thread"] if hidden > 0 else []
    return "\n".join([title, *lines, *more])


def _context(facts: DigestFacts) -> str:
    source = str((facts.health.get("summary") or {}).get("source", "narrator"))
    writer = "the rule-based narrator" if source == "narrator" else escape(source)
    return (
        f"7-day windows to {fmt_when(facts.as_of.isoformat(), time=True)} · "
        f"headline by {writer} · details in the thread"
    )


# ---------------------------------------------------------------- the thread


def thread_posts(facts: DigestFacts) -> list[Post]:
    """The scope's three reports in full, then the new errors the main message left out."""
    label = scope_label(facts.scope)
    posts = [
        Post(
            text=source_text(f"{title} for {label}", 300),
            blocks=_dicts(report_blocks(doc, share_button=False)),
        )
        for title, doc in (
            ("Health details", facts.health),
            ("DORA details", facts.dora),
            ("Sprint details", facts.sprint),
        )
    ]
    if facts.new_errors_total > ERRORS_SHOWN:
        lines = [error_line(e) for e in facts.new_errors]
        title = f"All new errors in the last {_since(facts)} ({facts.new_errors_total})"
        blocks: list[Block] = [list_section(title, lines, limit=len(lines))]
        if facts.new_errors_total > len(lines):
            blocks.append(
                context_block(f"The {len(lines)} with the most events; see Sentry for the rest.")
            )
        posts.append(Post(text=source_text(title, 300), blocks=_dicts(blocks)))
    return posts


def _dicts(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    """Validated by slack_sdk (``to_dict`` raises on a block Slack would refuse)."""
    return [block.to_dict() for block in blocks[:MESSAGE_BLOCKS]]
