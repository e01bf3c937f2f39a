"""Block Kit for the reports: a report document (``as_dict()``) in, ``slack_sdk`` blocks out.

Pure functions, no Slack calls. Every block is a ``slack_sdk.models`` object, so Slack's limits
are checked by ``to_dict()`` before anything is sent; on top of that the builders cut text to
fit (with "…") instead of failing, and keep a message within its 50 blocks.

Layout of a report message, top to bottom: a header (kind, scope, window), the summary's headline
with the risks and actions the findings below do not already say, the kind's numbers (health:
score and its factors, counts as fields, top Sentry issues, overdue bugs; DORA: the five metrics
with band and trend, the overall band, lead-time phases; sprint: `bot.slack.blocks_sprint`), up to
three findings as "action: evidence", a context line (who wrote the summary, the window), and the
"Share in channel" button.

Text copied from the sources (issue and PR titles, Jira summaries, names) and the summary are
escaped (``&``, ``<``, ``>``) so they can never form a mention or a link, and every mrkdwn object
is ``verbatim`` so Slack does not turn bare URLs, ``#channels`` or ``@here`` into anything either.
Only this module writes ``<...>``: the links to Sentry and Jira, built by `link`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.cli.report_text import fmt_value
from bot.slack.ids import ActionId, ReportRef
from insights.text import plural

MESSAGE_BLOCKS = 50  # blocks in a message (a Home tab or modal holds 100)
SECTION_TEXT = 3000
FIELD_TEXT = 2000
FIELDS = 10  # fields in one section
HEADER_TEXT = 150
CONTEXT_TEXT = 2000
BUTTON_VALUE = 2000
TITLE_CHARS = 100  # a source title in a list line, before escaping
LIST_LINES = 8  # lines of a list (top issues, overdue bugs, ageing items)
FINDINGS = 3

BAND_EMOJI = {"elite": "🟢", "high": "🔵", "medium": "🟡", "low": "🔴"}
NO_BAND = "⚪"
ARROWS = {"up": "↑", "down": "↓", "flat": "→"}
KIND_TITLES = {"health": "Health", "dora": "DORA", "sprint": "Sprint"}
NO_DATA = "no data"


def escape(text: object) -> str:
    """Text from anywhere but this module, made inert for mrkdwn (Slack's three escapes)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut with "…" at a line end when one is near, and
    never inside an escape (``&amp;``) or a link (``<url|label>``)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    newline = cut.rfind("\n")
    if newline > limit * 3 // 4:
        cut = cut[:newline]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    opened = cut.rfind("<")
    if opened > cut.rfind(">"):
        cut = cut[:opened]
    return cut.rstrip() + "…"


def source_text(text: object, limit: int = TITLE_CHARS) -> str:
    """Source text (a title, a summary, a name) cut to ``limit`` and escaped."""
    return escape(clip(" ".join(str(text).split()), limit))


def link(url: object, label: object) -> str:
    """``<url|label>`` for an http(s) URL, else the label alone; both made safe."""
    shown = source_text(label, 60)
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 500:
        return shown
    safe = escape(url).replace("|", "%7C").replace(" ", "%20")
    return f"<{safe}|{shown}>"


def mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text or " ", verbatim=True)


def section(text: str) -> SectionBlock:
    return SectionBlock(text=mrkdwn(clip(text, SECTION_TEXT)))


def fields_section(fields: Iterable[str], text: str | None = None) -> SectionBlock:
    """A section of up to 10 fields (two columns in Slack), with optional text above them."""
    shown = [mrkdwn(clip(f, FIELD_TEXT)) for f in list(fields)[:FIELDS]]
    return SectionBlock(text=mrkdwn(clip(text, SECTION_TEXT)) if text else None, fields=shown)


def context_block(text: str) -> ContextBlock:
    return ContextBlock(elements=[mrkdwn(clip(text, CONTEXT_TEXT))])


def list_section(title: str, lines: Sequence[str], *, limit: int = LIST_LINES) -> SectionBlock:
    """A titled bullet list; lines past ``limit`` or the section's size become "…and N more"."""
    shown, size = [f"*{title}*"], len(title) + 2
    for n, line in enumerate(lines):
        rest = len(lines) - n
        if n >= limit or size + len(line) + 40 > SECTION_TEXT:
            shown.append(f"…and {rest} more")
            break
        shown.append(f"• {line}")
        size += len(line) + 3
    return section("\n".join(shown))


def number(value: Any) -> str:
    """A count as the document has it: 12, 3.5; ``None`` is "no data"."""
    if value is None:
        return NO_DATA
    if not isinstance(value, int | float):
        return source_text(value, 40)
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def metric_of(doc: Mapping[str, Any], metric_id: str) -> Mapping[str, Any]:
    metric = (doc.get("metrics") or {}).get(metric_id)
    return metric if isinstance(metric, Mapping) else {}


def shown(metric: Mapping[str, Any], key: str = "value") -> str:
    """A metric's value (or previous value) in its unit: "36.5 h", "15.3%", "no data"."""
    unit = str(metric.get("unit", ""))
    value = metric.get(key)
    if unit in ("fraction", "ratio", "hours", "per day", "lines") or value is None:
        return fmt_value(value, unit)
    return number(value)


def moved(metric: Mapping[str, Any]) -> str:
    """E.g. "↑ from 4.2%": the trend against the previous window, or nothing without one."""
    trend = metric.get("trend")
    if trend not in ARROWS or metric.get("previous") is None:
        return ""
    return f"{ARROWS[trend]} from {shown(metric, 'previous')}"


def fmt_when(iso: object, *, year: bool = True, time: bool = False) -> str:
    """E.g. "22 Nov 2026" (and "06:30 UTC") from an ISO timestamp; "?" when there is none."""
    if not isinstance(iso, str):
        return "?"
    try:
        moment = dt.datetime.fromisoformat(iso).astimezone(dt.UTC)
    except ValueError:
        return escape(iso[:25])
    text = f"{moment.day} {moment:%b}" + (f" {moment:%Y}" if year else "")
    return text + (f" {moment:%H:%M} UTC" if time else "")


# ---------------------------------------------------------------- parts of every report


def scope_label(scope: Mapping[str, Any]) -> str:
    kind, name = scope.get("kind"), str(scope.get("name", ""))
    if kind == "organisation":
        return "the organisation"
    return f"team {name}" if kind == "team" else name


def _header(doc: Mapping[str, Any]) -> HeaderBlock:
    kind = str(doc.get("kind", "report"))
    boards = doc.get("boards") or []
    where = (
        str(boards[0].get("board", {}).get("name", ""))  # one board: the scope says nothing more
        if len(boards) == 1
        else scope_label(doc.get("scope") or {})
    )
    parts = [KIND_TITLES.get(kind, kind.capitalize()), where]
    days = (doc.get("window") or {}).get("days")
    if isinstance(days, int | float):
        parts.append(f"last {days:g} days")
    text = clip(" · ".join(p for p in parts if p), HEADER_TEXT)
    return HeaderBlock(text=PlainTextObject(text=text, emoji=True))


def _same(a: str, b: str) -> bool:
    return a.strip().rstrip(".").casefold() == b.strip().rstrip(".").casefold()


def _summary(doc: Mapping[str, Any], findings: Sequence[Mapping[str, Any]]) -> SectionBlock:
    """The headline, then the risks and actions that are not one of the findings shown below
    (the narrator's are exactly those, and the findings pair them up)."""
    summary = doc.get("summary") or {}
    lines = [f"*{source_text(fallback_headline(doc), SECTION_TEXT)}*"]
    evidence = [str(f.get("evidence", "")) for f in findings]
    actions = [str(f.get("action", "")) for f in findings]
    for risk in summary.get("risks") or []:
        if not any(_same(risk, e) for e in evidence):
            lines.append(f"⚠️ {source_text(risk, 400)}")
    for action in summary.get("actions") or []:
        if not any(_same(action, a) for a in actions):
            lines.append(f"→ {source_text(action, 400)}")
    return section("\n".join(lines))


def _findings(findings: Sequence[Mapping[str, Any]]) -> SectionBlock | None:
    if not findings:
        return None
    lines = [
        f"*{source_text(f.get('action', ''), 300)}*: {source_text(f.get('evidence', ''), 600)}"
        for f in findings
    ]
    return list_section("What to do", lines)


def _context(doc: Mapping[str, Any], extra: str | None) -> ContextBlock:
    source = str((doc.get("summary") or {}).get("source", "narrator"))
    writer = (
        "the rule-based narrator"
        if source == "narrator"
        else f"{escape(source.removeprefix('llm:'))} (every number computed by Sitrep)"
    )
    window = doc.get("window") or {}
    if window.get("end"):
        span = f"{window.get('days', 0):g} days to {fmt_when(window['end'], time=True)}"
    else:
        span = f"as of {fmt_when(doc.get('as_of'), time=True)}"
    parts = [f"Summary written by {writer}", span]
    if extra:  # the caller's own mrkdwn, e.g. "Shared by <@U123>": not escaped
        parts.append(extra)
    return context_block(" · ".join(parts))


def _share(doc: Mapping[str, Any]) -> ActionsBlock | None:
    value = ReportRef.of(doc).to_value()
    if len(value) > BUTTON_VALUE:  # an absurdly long scope name: no button rather than a bad one
        return None
    share = ButtonElement(
        text="Share in channel", action_id=ActionId.SHARE_REPORT.value, value=value
    )
    return ActionsBlock(elements=[share])


def fallback_headline(doc: Mapping[str, Any]) -> str:
    """The summary's headline, or what the report is when it has no summary (raw text)."""
    headline = (doc.get("summary") or {}).get("headline")
    if headline:
        return str(headline)
    kind = str(doc.get("kind", "report"))
    return f"{KIND_TITLES.get(kind, kind)} report for {scope_label(doc.get('scope') or {})}"


def fallback_text(doc: Mapping[str, Any]) -> str:
    """The message's ``text``: what notifications and screen readers show (the headline)."""
    return source_text(fallback_headline(doc), SECTION_TEXT)


def report_blocks(
    doc: Mapping[str, Any],
    *,
    share_button: bool = True,
    context: str | None = None,
    max_blocks: int = MESSAGE_BLOCKS,
) -> list[Block]:
    """A report as a message: see the module docstring for the layout.

    ``context`` is appended to the context line as the caller's own mrkdwn (not escaped);
    ``max_blocks`` is 50 for a message, less when the blocks go into a bigger view.
    """
    from bot.slack.blocks_sprint import sprint_blocks  # it imports this module's helpers

    findings = list(doc.get("findings") or [])[:FINDINGS]
    head: list[Block] = [_header(doc), _summary(doc, findings)]
    tail: list[Block] = [b for b in (_findings(findings), _context(doc, context)) if b]
    if share_button and (button := _share(doc)) is not None:
        tail.append(button)
    budget = max(0, max_blocks - len(head) - len(tail) - 1)
    bodies = {"health": health_blocks, "dora": dora_blocks, "sprint": sprint_blocks}
    make = bodies.get(str(doc.get("kind")))
    body = make(doc, budget) if make else [section(f"No layout for {escape(doc.get('kind'))}.")]
    body = body[:budget]
    return [*head, DividerBlock(), *body, *tail][:max_blocks]


# ---------------------------------------------------------------- health and DORA


def _label(metric_id: str) -> str:
    words = metric_id.replace("_", " ").capitalize()
    return "Bugs past their SLA" if metric_id == "bugs_over_sla" else words


def _field(label: str, metric: Mapping[str, Any], *notes: str) -> str:
    value = " ".join(p for p in (shown(metric), moved(metric)) if p)
    return "\n".join([f"*{label}*", value, *(n for n in notes if n)])


def _health_field(metric_id: str, label: str, metric: Mapping[str, Any]) -> str:
    notes = []
    for key in ("by_level", "by_priority"):
        parts = [f"{escape(k)} {number(v)}" for k, v in (metric.get(key) or {}).items() if v]
        if parts:
            notes.append(", ".join(parts))
    if metric_id == "error_events" and metric.get("coverage") == "partial":
        notes.append("_partial: Sentry counts start 14 days before the first sync_")
    return _field(label, metric, *notes)


def _score(doc: Mapping[str, Any]) -> SectionBlock:
    score = metric_of(doc, "health_score")
    value = NO_DATA if score.get("value") is None else f"{number(score['value'])}/100"
    lines = [f"*Health score: {value}* {moved(score)}".rstrip()]
    for row in (doc.get("tables") or {}).get("score_factors") or []:
        points = abs(float(row.get("points") or 0))
        name = escape(str(row.get("factor", "")).replace("_", " "))
        evidence = source_text(row.get("evidence"))
        lines.append(f"• -{number(round(points, 1))} points, {name}: {evidence}")
    return section("\n".join(lines))


def health_blocks(doc: Mapping[str, Any], budget: int = MESSAGE_BLOCKS) -> list[Block]:
    """Score and factors, the counts as fields, the busiest Sentry issues, the overdue bugs."""
    tables = doc.get("tables") or {}
    metrics = (doc.get("metrics") or {}).items()
    fields = [_health_field(i, _label(i), m) for i, m in metrics if i != "health_score"]
    blocks: list[Block] = [_score(doc), fields_section(fields)]
    issues = [
        f"{link(row.get('url'), row.get('short_id') or 'issue')} {source_text(row.get('title'))}"
        f" · {escape(row.get('level'))} · {escape(row.get('status'))}"
        f" · {number(row.get('events'))} events · {number(row.get('users'))} users"
        for row in tables.get("top_issues") or []
    ]
    if issues:
        blocks.append(list_section("Top issues", issues))
    bugs = [
        f"{link(row.get('url'), row.get('key'))} {escape(row.get('priority'))}"
        f" · open {number(row.get('age_days'))} days (SLA {number(row.get('sla_days'))} days)"
        for row in tables.get("overdue_bugs") or []
    ]
    if bugs:
        blocks.append(list_section("Bugs past their SLA", bugs))
    return blocks[:budget]


def _dora_notes(metric_id: str, m: Mapping[str, Any]) -> str:
    if metric_id == "deployment_frequency" and m.get("deployments") is not None:
        days = number(m.get("deploy_days_per_week"))
        return f"{number(m['deployments'])} deployments, {days} deploy days a week"
    if metric_id == "lead_time_for_changes" and m.get("p90") is not None:
        pulls = plural(m.get("pull_requests") or 0, "PR")
        return f"p90 {fmt_value(m['p90'], 'hours')} over {pulls}"
    if metric_id == "failed_deployment_recovery_time" and m.get("incidents") is not None:
        return f"{plural(m['incidents'], 'incident')}, {number(m.get('unresolved'))} unresolved"
    part = m.get("failed_deployments", m.get("rework_deployments"))
    if part is not None and m.get("deployments") is not None:
        return f"{number(part)} of {number(m['deployments'])} deployments"
    return ""


def dora_blocks(doc: Mapping[str, Any], budget: int = MESSAGE_BLOCKS) -> list[Block]:
    """The overall band, the five metrics (band, value, trend) as fields, lead-time phases."""
    overall = doc.get("overall_band")
    band = f"{BAND_EMOJI[overall]} {overall}" if overall in BAND_EMOJI else f"{NO_BAND} {NO_DATA}"
    lines = [f"*Overall DORA band:* {band}"]
    if doc.get("unshipped_pull_requests"):
        lines.append(f"{number(doc['unshipped_pull_requests'])} merged PRs not deployed yet")
    fields = []
    for metric_id, m in (doc.get("metrics") or {}).items():  # the five, in DORA's order
        band = BAND_EMOJI.get(str(m.get("band")), NO_BAND)
        fields.append(_field(f"{band} {_label(metric_id)}", m, _dora_notes(metric_id, m)))
    blocks: list[Block] = [section("\n".join(lines)), fields_section(fields)]
    phases = [
        f"{escape(row.get('phase'))} {fmt_value(row.get('median_hours'), 'hours')}"
        for row in (doc.get("tables") or {}).get("lead_time_phases") or []
    ]
    if phases:
        blocks.append(context_block("Lead time phases (medians): " + " → ".join(phases)))
    return blocks[:budget]


def error_blocks(message: str, suggestions: Sequence[str], usage: str) -> list[Block]:
    """A bad argument: what was wrong, "Did you mean ...?", and how to call the command."""
    lines = [f"⚠️ {source_text(message, 1000)}"]
    names = [f"*{source_text(s, 100)}*" for s in list(dict.fromkeys(suggestions))[:5]]
    if names:
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        lines.append(f"Did you mean {listed}?")
    usage_text = escape(clip(usage.replace("```", "'''"), 1500))
    return [section("\n".join(lines)), section(f"*Usage*\n```{usage_text}```")]
