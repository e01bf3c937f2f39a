"""Render any report's facts as readable text: summary first, then metrics, tables, findings.

Works from the JSON-able document (`as_dict()`), so every report kind renders the same way and
the text can never show a number the JSON does not have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from tabulate import tabulate

from insights.text import fmt_hours, fmt_percent

_ARROWS = {"up": "↑", "down": "↓", "flat": "→"}


class Renderable(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


def fmt_value(value: Any, unit: str) -> str:  # noqa: PLR0911 - one return per unit
    """A metric value in its unit: hours as h/days, fractions as %, counts as integers."""
    if value is None:
        return "no data"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items() if v) or "none"
    if unit == "hours":
        return fmt_hours(float(value))
    if unit in ("fraction", "ratio"):
        return fmt_percent(float(value))
    if unit == "per day":
        return f"{float(value):.2f} per day"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.1f} {unit}".strip()
    return f"{int(value)} {unit}".strip() if isinstance(value, int | float) else str(value)


def _title(doc: Mapping[str, Any]) -> str:
    if doc.get("kind") == "board":
        return _board_title(doc)
    scope = doc.get("scope", {})
    who = "the whole organisation" if scope.get("kind") == "organisation" else scope.get("name")
    window = doc.get("window") or {}
    days = window.get("days")
    span = f" · last {days:g} days to {str(window.get('end', ''))[:16]}" if days else ""
    return f"{str(doc.get('kind', 'report')).upper()} · {who}{span}"


def _board_title(section: Mapping[str, Any]) -> str:
    board, sprint = section.get("board") or {}, section.get("sprint")
    title = f"BOARD · {board.get('name')} ({board.get('id')})"
    if not sprint:
        return f"{title} · no active sprint; flow over the last days"
    dates = f"{str(sprint.get('started_at'))[:10]} to {str(sprint.get('ends_at'))[:10]}"
    return f"{title} · {sprint.get('name')} ({sprint.get('state')}, {dates})"


def _metrics_table(metrics: Mapping[str, Mapping[str, Any]]) -> str:
    rows = []
    for metric_id, m in metrics.items():
        unit = str(m.get("unit", ""))
        trend = _ARROWS.get(str(m.get("trend")), "")
        previous = fmt_value(m.get("previous"), unit) if m.get("previous") is not None else ""
        rows.append(
            [
                metric_id.replace("_", " "),
                fmt_value(m.get("value"), unit),
                f"{trend} {previous}".strip(),
                m.get("band") or "",
            ]
        )
    return tabulate(rows, headers=["metric", "value", "previous", "band"], tablefmt="simple")


def _table(name: str, rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    shown = [{k: v for k, v in row.items() if k != "url"} for row in rows]
    return f"{name.replace('_', ' ').capitalize()}\n" + tabulate(
        shown, headers="keys", tablefmt="simple", floatfmt=".1f", missingval="-"
    )


def render_document(doc: Mapping[str, Any]) -> str:
    parts = [_title(doc), ""]
    summary = doc.get("summary")
    if summary:
        parts.append(summary["headline"])
        for risk in summary.get("risks", []):
            parts.append(f"  ! {risk}")
        for action in summary.get("actions", []):
            parts.append(f"  → {action}")
        parts.append("")
    if doc.get("metrics"):
        parts += [_metrics_table(doc["metrics"]), ""]
    if doc.get("overall_band"):
        parts += [f"Overall DORA band: {doc['overall_band']}", ""]
    for name, rows in (doc.get("tables") or {}).items():
        text = _table(name, rows)
        if text:
            parts += [text, ""]
    boards = doc.get("boards") or []
    for section in boards:
        parts += [render_document({**section, "kind": "board"}), ""]
    findings = doc.get("findings") or []
    # One board: its section already listed them.
    if findings and len(boards) != 1:
        parts.append("Findings, most important first")
        for n, finding in enumerate(findings, 1):
            parts.append(f"{n}. {finding['action']}: {finding['evidence']}")
    if summary:
        parts += ["", f"(summary written by {summary.get('source', 'narrator')})"]
    return "\n".join(parts).rstrip() + "\n"


def render_report(report: Renderable) -> str:
    return render_document(report.as_dict())
