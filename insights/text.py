"""How numbers read in sentences, shared by findings and the narrator.

One place, so "36.5 h", "1.5 days" and "15.3%" look the same wherever they appear (and the LLM
grounding check can recognise the unit changes they make).
"""

from __future__ import annotations


def fmt_hours(value: float) -> str:
    """Minutes under an hour, hours under two days, days beyond."""
    if value < 1:
        return f"{round(value * 60)} min"
    if value < 48:
        return f"{value:.1f} h"
    return f"{value / 24:.1f} days"


def fmt_percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


def plural(count: float, noun: str) -> str:
    shown = int(count) if float(count).is_integer() else count
    return f"{shown} {noun}{'' if shown == 1 else 's'}"
