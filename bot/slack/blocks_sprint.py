"""The sprint part of a report message (`bot.slack.blocks.report_blocks` puts it in place).

Up to `DETAILED` boards get a section each: the sprint and its dates, its numbers as fields
(committed, completed, added/removed, remaining, projected completion, time elapsed, bottleneck,
WIP, carry-over, PR flow) and the ageing items by key. More boards get one line each, as fields of
one section (Slack's limit is 10), boards needing attention first (by their top finding's score);
the rest fold into "and N more boards: use /sitrep sprint <board>". Either way the part stays
within the blocks it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import Block, DividerBlock

from bot.slack.blocks import (
    FIELDS,
    NO_DATA,
    context_block,
    escape,
    fields_section,
    fmt_when,
    list_section,
    metric_of,
    number,
    section,
    shown,
    source_text,
)
from insights.text import plural

UNITS = ("issues", "points")
DETAILED = 3  # boards shown in full; more are listed one line each
AGEING_LINES = 5


def sprint_blocks(doc: Mapping[str, Any], budget: int) -> list[Block]:
    """The boards of a sprint report within ``budget`` blocks."""
    boards = list(doc.get("boards") or [])
    if not boards:
        return [section("No Jira board in this scope: map one to a product (`jira_boards`).")]
    if len(boards) <= DETAILED:
        detailed = [block for board in boards for block in _board_blocks(board)]
        if len(detailed) <= budget:
            return detailed
    return _board_list(boards, budget)


# ---------------------------------------------------------------- one board in full


def _title(board: Mapping[str, Any]) -> str:
    """E.g. "*PAY board* · PAY Sprint 7 · active, 16 Nov to 30 Nov" (and the board's note)."""
    name = source_text((board.get("board") or {}).get("name", "?"))
    sprint = board.get("sprint")
    parts = [f"*{name}*"]
    if sprint:
        dates = (
            f"{fmt_when(sprint.get('started_at'), year=False)} to {fmt_when(sprint.get('ends_at'))}"
        )
        if sprint.get("completed_at"):
            dates += f", closed {fmt_when(sprint['completed_at'])}"
        parts += [source_text(sprint.get("name")), f"{escape(sprint.get('state'))}, {dates}"]
    text = " · ".join(parts)
    if board.get("note"):
        text += f"\n_{source_text(board['note'])}_"
    return text


def _issues_points(board: Mapping[str, Any], what: str) -> str | None:
    """E.g. "9 issues · 13 points" for ``committed``; None without a sprint."""
    issues, points = (metric_of(board, f"{what}_{unit}").get("value") for unit in UNITS)
    if issues is None:
        return None
    text = plural(issues, "issue")
    return text + (f" · {plural(points, 'point')}" if points is not None else "")


def _added_removed(board: Mapping[str, Any]) -> str | None:
    """E.g. "+6 / -0 issues", and the same in points."""
    lines = []
    for unit in UNITS:
        added, removed = (
            metric_of(board, f"{w}_{unit}").get("value") for w in ("added", "removed")
        )
        if added is not None and removed is not None:
            lines.append(f"+{number(added)} / -{number(removed)} {unit}")
    return "\n".join(lines) or None


def _projected(board: Mapping[str, Any]) -> str:
    metric = metric_of(board, "projected_completion")
    if metric.get("value") is None:
        return NO_DATA
    verdict = "on track ✅" if metric.get("on_track") else "at risk ⚠️"
    return f"{shown(metric)} of the scope · {verdict}"


def _bottleneck(board: Mapping[str, Any]) -> str:
    metric = metric_of(board, "bottleneck_share")
    status = metric.get("status") or board.get("bottleneck")
    text = NO_DATA
    if status and metric.get("value") is not None:
        kind = f", {escape(metric['kind'])}" if metric.get("kind") else ""
        text = f"{source_text(status, 60)}: {shown(metric)} of in-progress time{kind}"
    efficiency = metric_of(board, "flow_efficiency")
    if efficiency.get("value") is not None:
        text += f"\nflow efficiency {shown(efficiency)}"
    return text


def _fields(board: Mapping[str, Any]) -> list[str]:
    completed = _issues_points(board, "completed")
    say_do = metric_of(board, "say_do_ratio")
    if completed and say_do.get("value") is not None:
        completed += f"\n{shown(say_do)} of committed"
    carried = metric_of(board, "carried_over_issues")
    two_plus = metric_of(board, "carried_over_2plus_issues").get("value")
    wip, ageing = metric_of(board, "wip_issues"), metric_of(board, "aging_wip_issues")
    pulls = [metric_of(board, m) for m in ("pr_pickup_time", "pr_review_time", "pr_size")]
    sprint_fields = {
        "Committed": _issues_points(board, "committed"),
        "Completed": completed,
        "Added / removed": _added_removed(board),
        "Remaining": _issues_points(board, "remaining"),
        "Projected completion": _projected(board) if board.get("sprint") else None,
        "Time elapsed": shown(metric_of(board, "time_elapsed")) if board.get("sprint") else None,
        "Carried over": (
            plural(carried["value"], "issue")
            + (f", {number(two_plus)} from 2+ sprints" if two_plus else "")
            if carried.get("value") is not None
            else None
        ),
    }
    flow_fields = {
        "Bottleneck": _bottleneck(board),
        "Work in progress": f"{number(wip.get('value'))} in progress · "
        f"{number(ageing.get('value'))} ageing",
        "PR pickup / review / size": (
            " / ".join(shown(m) for m in pulls)
            if any(m.get("value") is not None for m in pulls)
            else NO_DATA
        ),
    }
    fields = {k: v for k, v in sprint_fields.items() if v is not None} | flow_fields
    return [f"*{label}*\n{value}" for label, value in fields.items()][:FIELDS]


def _ageing(board: Mapping[str, Any]) -> list[str]:
    return [
        f"{source_text(row.get('key'), 30)} {source_text(row.get('status'), 40)}"
        f" for {number(row.get('days_in_status'))} days (p85 {number(row.get('p85_days'))})"
        f" · {source_text(row.get('assignee'), 40)} · {source_text(row.get('summary'))}"
        for row in (board.get("tables") or {}).get("aging_wip") or []
    ]


def _board_blocks(board: Mapping[str, Any]) -> list[Block]:
    blocks: list[Block] = [fields_section(_fields(board), _title(board))]
    ageing = _ageing(board)
    if ageing:
        blocks.append(list_section("Ageing items", ageing, limit=AGEING_LINES))
    blocks.append(DividerBlock())
    return blocks


# ---------------------------------------------------------------- many boards, a line each


def _attention(board: Mapping[str, Any]) -> float:
    return max((float(f.get("score") or 0) for f in board.get("findings") or []), default=0.0)


def _line(board: Mapping[str, Any]) -> str:
    """One board as a field: sprint and end, done of scope, projection, bottleneck, ageing."""
    name = source_text((board.get("board") or {}).get("name", "?"), 60)
    sprint = board.get("sprint")
    lines = [f"*{name}*"]
    if sprint:
        lines[0] += (
            f" · {source_text(sprint.get('name'), 60)}, ends {fmt_when(sprint.get('ends_at'))}"
        )
    done, left = (metric_of(board, f"{w}_issues").get("value") for w in ("completed", "remaining"))
    if done is not None and left is not None:
        lines.append(f"{number(done)} of {number(done + left)} issues done")
    if sprint and metric_of(board, "projected_completion").get("value") is not None:
        lines.append(f"projected {_projected(board)}")
    neck = metric_of(board, "bottleneck_share")
    if neck.get("status") and neck.get("value") is not None:
        lines.append(f"bottleneck {source_text(neck['status'], 60)} ({shown(neck)})")
    ageing = metric_of(board, "aging_wip_issues").get("value")
    if ageing:
        lines.append(plural(ageing, "ageing item"))
    if board.get("note"):
        lines.append(f"_{source_text(board['note'])}_")
    return "\n".join(lines)


def _board_list(boards: Sequence[Mapping[str, Any]], budget: int) -> list[Block]:
    ordered = sorted(boards, key=_attention, reverse=True)  # stable: ties keep the doc's order
    listed = ordered[:FIELDS] if budget >= 2 else []
    blocks: list[Block] = []
    if listed:
        blocks.append(fields_section([_line(b) for b in listed]))
    rest = len(boards) - len(listed)
    if rest:
        noun = "board" if rest == 1 else "boards"
        more = "and " if listed else ""
        blocks.append(
            context_block(f"{more}{rest} more {noun}: use {escape('/sitrep sprint <board>')}")
        )
    return blocks[:budget]
