"""Jinja2 templates for the LLM: data, with a tiny renderer.

Templates are the ``*.j2`` files beside this module. They render with `StrictUndefined` (a
missing variable is an error, never an empty string) and without autoescaping (the output is a
prompt, not HTML).

Anything that is data rather than instructions (the computed facts, and with them every piece
of text copied from a source: issue titles, PR titles, commit messages) goes through the
``fenced`` filter. It writes the value as JSON inside a ```json fence, so untrusted text is a
JSON string literal: its newlines become ``\\n`` and every backtick becomes ``\\u0060``. The data
therefore contains no backtick and no line break of its own and cannot close the fence or start
a line that looks like an instruction, and ``json.loads`` of the fenced block gives the value
back unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Undefined

FOLDER = Path(__file__).parent
FENCE_OPEN = "```json"
FENCE_CLOSE = "```"


def fenced(value: Any) -> str:
    """``value`` as JSON between ```json fences, with no backtick left inside the data."""
    data = json.dumps(
        value, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False, default=_undefined
    )
    # A backtick can only sit inside a JSON string, where \u0060 means the same character.
    data = data.replace("`", "\\u0060")
    return f"{FENCE_OPEN}\n{data}\n{FENCE_CLOSE}"


def _undefined(value: Any) -> Any:
    """Let a missing variable raise Jinja's own error rather than a JSON TypeError."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError, naming the variable
    raise TypeError(f"{type(value).__name__} is not JSON data")


_env = Environment(
    loader=FileSystemLoader(FOLDER),
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["fenced"] = fenced


def render(template_name: str, **context: Any) -> str:
    """Render ``prompts/<template_name>`` with ``context``; a missing variable raises."""
    return _env.get_template(template_name).render(**context).strip() + "\n"


def source(template_name: str) -> str:
    """The template's own text (to version a cache by the prompt that produced an answer)."""
    return (FOLDER / template_name).read_text(encoding="utf-8")
