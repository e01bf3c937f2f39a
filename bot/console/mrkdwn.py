"""Slack's mrkdwn as rich `Text`: what a message's formatting looks like in a terminal.

Slack's rules, as far as the bot's messages need them: ``*bold*``, ``_italic_`` and ``~strike~``
open only after a space or punctuation and close before one (so ``snake_case`` stays as it is);
nothing formats across a line end; ``<...>`` is the only way to write a link, a mention or a date;
the text arrives with ``&``, ``<`` and ``>`` escaped, and is unescaped only after the ``<...>``
tokens are found (an escaped ``&lt;@U1&gt;`` is text, never a mention). Code (inline and fenced)
is not formatted, but its entities are unescaped, as Slack shows them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from rich.cells import chop_cells
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

# The shortcodes the bot and its users write most; Slack knows thousands, and an unknown one
# is left as ``:name:`` rather than guessed.
EMOJI: dict[str, str] = {
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "x": "❌",
    "warning": "⚠️",
    "rotating_light": "🚨",
    "fire": "🔥",
    "red_circle": "🔴",
    "large_green_circle": "🟢",
    "large_yellow_circle": "🟡",
    "large_orange_circle": "🟠",
    "large_blue_circle": "🔵",
    "white_circle": "⚪",
    "chart_with_upwards_trend": "📈",
    "chart_with_downwards_trend": "📉",
    "bar_chart": "📊",
    "bug": "🐛",
    "rocket": "🚀",
    "tada": "🎉",
    "eyes": "👀",
    "memo": "📝",
    "bulb": "💡",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "clock1": "🕐",
    "calendar": "📆",
    "link": "🔗",
    "lock": "🔒",
    "mag": "🔍",
    "bell": "🔔",
    "no_bell": "🔕",
    "thumbsup": "👍",
    "+1": "👍",
    "thumbsdown": "👎",
    "-1": "👎",
    "wave": "👋",
    "information_source": "\u2139\ufe0f",
    "arrow_up": "⬆️",
    "arrow_down": "⬇️",
    "arrow_right": "➡️",
    "construction": "🚧",
    "sparkles": "✨",
    "robot_face": "🤖",
    "ticket": "🎫",
    "pushpin": "📌",
}

# Tried at each position in this order; a token opens only where Slack would open it.
_TOKEN = re.compile(
    r"<(?P<angle>[^<>\n]+)>"
    r"|`(?P<code>[^`\n]+)`"
    r"|(?<![\w*])\*(?P<bold>[^*\s](?:[^*\n]*[^*\s])?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic>[^_\s](?:[^_\n]*[^_\s])?)_(?![\w_])"
    r"|(?<![\w~])~(?P<strike>[^~\s](?:[^~\n]*[^~\s])?)~(?![\w~])"
    r"|:(?P<emoji>[a-z0-9_+\-]+):"
)
_FENCE = re.compile(r"```(.*?)```", re.DOTALL)
_STYLES = ("bold", "italic", "strike")  # token group names, which are rich styles too

LINK_STYLE = "underline"
URL_STYLE = "dim"
CODE_STYLE = "cyan"
MENTION_STYLE = "bold blue"


def unescape(text: str) -> str:
    """Slack's three escapes undone; ``&amp;`` last, so ``&amp;lt;`` stays ``&lt;``."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def emojize(text: str) -> str:
    """Known ``:shortcodes:`` as their emoji; unknown ones (and ``12:30:45``) untouched."""
    return re.sub(r":([a-z0-9_+\-]+):", lambda m: EMOJI.get(m[1], m[0]), text)


def plain(text: str, *, emoji: bool = True) -> Text:
    """A ``plain_text`` object: literal, but Slack still draws its shortcodes when ``emoji``."""
    return Text(emojize(text) if emoji else text)


def inline(text: str, users: Mapping[str, str] | None = None, style: str = "") -> Text:
    """One or more lines of mrkdwn without fences (a field, a context element, a label)."""
    out = Text()
    _append(out, text, users or {}, style)
    return out


def words(obj: object, users: Mapping[str, str] | None = None) -> Text:
    """A text object on one line (a label, an option, a context element); a bare string too."""
    if obj is None:
        return Text()
    if not isinstance(obj, Mapping):
        return plain(str(obj))
    if obj.get("type") == "mrkdwn":
        return inline(str(obj.get("text", "")), users)
    return plain(str(obj.get("text", "")), emoji=obj.get("emoji", True) is not False)


def text_object(obj: object, users: Mapping[str, str] | None = None) -> RenderableType:
    """A text object in full: mrkdwn may hold fenced blocks, so not always a single `Text`."""
    if isinstance(obj, Mapping) and obj.get("type") == "plain_text":
        return plain(str(obj.get("text", "")), emoji=obj.get("emoji", True) is not False)
    return mrkdwn(str(obj.get("text", "") if isinstance(obj, Mapping) else obj), users)


def mrkdwn(text: str, users: Mapping[str, str] | None = None) -> RenderableType:
    """A whole mrkdwn text: fenced blocks stay monospace and unwrapped, so a table made of
    spaces keeps its columns; the lines around them are formatted, ``>`` lines as quotes."""
    parts: list[RenderableType] = []
    pos = 0
    for fence in _FENCE.finditer(text):
        if before := text[pos : fence.start()].strip("\n"):
            parts.append(_lines(before, users))
        parts.append(preformatted(unescape(fence[1])))
        pos = fence.end()
    rest = text[pos:].strip("\n") if parts else text
    if rest or not parts:
        parts.append(_lines(rest, users))
    return parts[0] if len(parts) == 1 else Group(*parts)


def preformatted(code: str) -> RenderableType:
    """A code block (its text unescaped), indented."""
    return _Preformatted(code.removeprefix("\n").removesuffix("\n"))


class _Preformatted:
    """Code lines folded at the edge, never wrapped at a space (that would tear a table's
    columns apart) and never cut (that would lose a number): rich's ``Text`` can only crop
    an unwrapped line, so this renderable folds each line itself."""

    INDENT = "  "

    def __init__(self, code: str) -> None:
        self.code = code

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(1, options.max_width - len(self.INDENT))
        for line in self.code.split("\n"):
            for part in chop_cells(line, width) or [""]:
                yield Text(self.INDENT + part, style=CODE_STYLE, no_wrap=True)


def fmt_epoch(seconds: object) -> str:
    """A Slack timestamp (seconds) in UTC, so a message reads the same on every machine."""
    moment = dt.datetime.fromtimestamp(int(str(seconds).partition(".")[0]), dt.UTC)
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _lines(text: str, users: Mapping[str, str] | None) -> Text:
    lines = []
    for line in text.split("\n"):
        # Slack's block quote: a line starting with ">" (escaped as "&gt;" in API text).
        quote = re.match(r"(?:&gt;|>)\s?", line)
        if quote:
            lines.append(Text("│ ", style="dim") + inline(line[quote.end() :], users, "italic"))
        else:
            lines.append(inline(line, users))
    return Text("\n").join(lines)


def _append(out: Text, text: str, users: Mapping[str, str], style: str) -> None:
    """Formats ``text`` onto ``out``; bold, italic and strike nest (``*_both_*``)."""
    pos = 0
    while (m := _TOKEN.search(text, pos)) is not None:
        out.append(unescape(text[pos : m.start()]), style)
        pos = m.end()
        kind = m.lastgroup or ""
        body = m[kind]
        if kind == "angle":
            _append_angle(out, body, users, style)
        elif kind == "code":
            out.append(unescape(body), f"{style} {CODE_STYLE}".strip())
        elif kind in _STYLES:
            _append(out, body, users, f"{style} {kind}".strip())
        elif body in EMOJI:
            out.append(EMOJI[body], style)
        else:
            # An unknown shortcode, or a time like 12:30:45: keep the first colon and the
            # word, and scan again from the closing colon, which may open the next shortcode.
            out.append(f":{body}", style)
            pos = m.end() - 1
    out.append(unescape(text[pos:]), style)


def _append_angle(out: Text, body: str, users: Mapping[str, str], style: str) -> None:
    """``<url|label>``, ``<@U1>``, ``<#C1|name>``, ``<!here>``, ``<!date^...|fallback>``."""
    target, _, label = body.partition("|")
    label = unescape(label)
    mention = f"{style} {MENTION_STYLE}".strip()
    if target.startswith("@"):
        user_id = target[1:]
        out.append("@" + users.get(user_id, label or user_id), mention)
    elif target.startswith("#"):
        out.append("#" + (label or target[1:]), mention)
    elif target.startswith("!date^"):
        out.append(_special(target[1:], label), style)
    elif target.startswith("!"):
        out.append(_special(target[1:], label), mention)
    else:
        url = unescape(target)
        shown = label or url.removeprefix("mailto:")
        out.append(shown, f"{style} {LINK_STYLE}".strip())
        if shown not in (url, url.removeprefix("mailto:")):
            out.append(f" ({url})", URL_STYLE)


def _special(command: str, label: str) -> str:
    """``<!...>``: a broadcast, a user group, or a date shown as its fallback text."""
    name, *args = command.split("^")
    if name == "date":
        if label:
            return label
        try:
            return fmt_epoch(args[0])
        except (IndexError, ValueError, OverflowError, OSError):
            return command
    if name == "subteam":
        return label or f"@{args[0] if args else name}"
    return label or f"@{name}"  # here, channel, everyone
