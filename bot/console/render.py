"""What the bot would post to Slack, drawn for a terminal: the demo and ``sitrep console``.

Pure: a message (its ``text`` and Block Kit ``blocks``, as dicts or ``slack_sdk`` objects) or a
view in, a rich renderable out; `to_text` turns one into plain text. A message is a box titled
with where it went, its thread indented beneath it; a modal is a box with its title and its
Cancel/Submit buttons. Interactive elements are drawn as they look in Slack, in brackets
(``[ Create Jira ticket ]``, ``[ High ▾ ]``), so a reader can tell what the buttons are.

Slack renders what it does not know as nothing; here an unknown or malformed block becomes a dim
``[<type> block]`` line instead, because the point of the console is to see what was sent.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.padding import Padding
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text
from slack_sdk.models.basic_objects import JsonObject

from bot.console.mrkdwn import (
    EMOJI,
    URL_STYLE,
    fmt_epoch,
    mrkdwn,
    preformatted,
    text_object,
    words,
)

Users = Mapping[str, str]  # user id -> name, for "<@U123>" -> "@maria"
Blocks = Sequence[Mapping[str, Any] | JsonObject]

EPHEMERAL = "only visible to you"
BUTTON_STYLES = {"primary": "bold green", "danger": "bold red"}
SELECTS = ("static_select", "external_select", "multi_static_select", "multi_external_select")
TEXT_INPUTS = ("plain_text_input", "email_text_input", "url_text_input", "number_input")
BULLETS = ("•", "◦", "▪")  # Slack's bullets by list depth


def render_message(
    text: str,
    blocks: Blocks | None,
    *,
    title: str | None = None,
    ephemeral: bool = False,
    thread: Sequence[Mapping[str, Any]] | None = None,
    users: Users | None = None,
) -> RenderableType:
    """A message in a box titled ``title`` (e.g. "#payments · Sitrep"); an ephemeral one says
    it is only visible to you. ``thread`` holds the replies as Slack returns messages
    (``text``, ``blocks``, optional ``user``), drawn indented beneath. Without blocks, the
    ``text`` is the message, as in Slack."""
    label = " · ".join(t for t in (title, EPHEMERAL if ephemeral else None) if t)
    panel = Panel(
        _body(text, blocks, users or {}),
        title=Text(label) if label else None,
        title_align="left",
        border_style="dim" if ephemeral else "blue",
        box=box.ROUNDED,
    )
    if not thread:
        return panel
    replies = [_reply(reply, users or {}) for reply in thread]
    return Group(panel, Padding(Group(*replies), (0, 0, 0, 4)))


def render_view(view: Mapping[str, Any], *, users: Users | None = None) -> RenderableType:
    """An App Home tab (``"type": "home"``) or a modal: its title, its blocks (inputs with their
    labels, initial values and options) and, for a modal, its Cancel and Submit buttons."""
    kind = str(view.get("type", "view"))
    blocks = _body("", view.get("blocks") or [], users or {})
    if kind == "home":
        return Panel(blocks, title=Text("App Home"), title_align="left", border_style="magenta")
    title = words(view.get("title")) or Text(kind)
    parts: list[RenderableType] = [blocks]
    if kind == "modal":
        footer = _button(words(view.get("close")) or Text("Cancel"))
        if view.get("submit"):
            footer += Text("  ") + _button(words(view.get("submit")), style="primary")
        footer.justify = "right"
        parts += [Rule(style="dim"), footer]
    return Panel(Group(*parts), title=title, title_align="left", border_style="magenta")


def to_text(renderable: RenderableType, width: int = 100) -> str:
    """``renderable`` as plain text, ``width`` columns wide: no colours, no escape codes,
    no trailing spaces, whatever the terminal or environment (a StringIO is never a tty)."""
    out = io.StringIO()
    console = Console(
        file=out, width=width, color_system=None, force_terminal=False, highlight=False
    )
    console.print(renderable)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"


# ---------------------------------------------------------------- messages and blocks


def _body(text: str, blocks: Blocks | None, users: Users) -> RenderableType:
    if not blocks:
        return mrkdwn(text, users)
    drawn: list[RenderableType] = []
    for n, block in enumerate(_as_dict(b) for b in blocks):
        # A blank line stands for the gap Slack leaves between blocks; a divider is gap enough.
        if n and block.get("type") != "divider" and not isinstance(drawn[-1], Rule):
            drawn.append(Text())
        drawn.append(_block(block, users))
    return Group(*drawn)


def _reply(reply: Mapping[str, Any], users: Users) -> RenderableType:
    user = reply.get("user")
    title = f"↳ @{users.get(user, user)}" if isinstance(user, str) else "↳ reply"
    body = _body(str(reply.get("text", "")), reply.get("blocks"), users)
    return Panel(body, title=Text(title), title_align="left", border_style="dim", box=box.ROUNDED)


def _as_dict(block: Mapping[str, Any] | JsonObject) -> Mapping[str, Any]:
    """A ``slack_sdk`` block as the JSON Slack gets (``report_blocks`` returns those)."""
    return block.to_dict() if isinstance(block, JsonObject) else block


def _block(block: Mapping[str, Any], users: Users) -> RenderableType:
    kind = str(block.get("type", "?"))
    draw = _BLOCKS.get(kind)
    if draw is None:
        return Text(f"[{kind} block]", style="dim")
    try:
        return draw(block, users)
    except (AttributeError, LookupError, TypeError, ValueError):
        # Slack would refuse such a block; say so rather than hide the rest of the message.
        return Text(f"[{kind} block: malformed]", style="dim")


def _header(block: Mapping[str, Any], users: Users) -> RenderableType:
    return Text.assemble(words(block["text"]), style="bold")


def _section(block: Mapping[str, Any], users: Users) -> RenderableType:
    parts: list[RenderableType] = []
    if block.get("text"):
        parts.append(text_object(block["text"], users))
    if block.get("fields"):
        parts.append(_fields(block["fields"], users))
    if not parts:  # Slack requires text or fields: show that it was sent without
        return Text("[section block: no text]", style="dim")
    body: RenderableType = parts[0] if len(parts) == 1 else Group(*parts)
    if not block.get("accessory"):
        return body
    # Slack puts the accessory to the right of the text.
    grid = Table.grid(expand=True, padding=(0, 2))
    grid.add_column(ratio=1)
    grid.add_column(justify="right")
    grid.add_row(body, _element(block["accessory"], users))
    return grid


def _fields(fields: Sequence[Any], users: Users) -> RenderableType:
    """Two columns, filled left to right, as Slack lays out a section's fields."""
    grid = Table.grid(expand=True, padding=(0, 2))
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    cells = [text_object(field, users) for field in fields]
    for n in range(0, len(cells), 2):
        grid.add_row(*cells[n : n + 2])
    return grid


def _divider(block: Mapping[str, Any], users: Users) -> RenderableType:
    return Rule(style="dim")


def _context(block: Mapping[str, Any], users: Users) -> RenderableType:
    parts = [
        Text(f"[{e.get('alt_text', 'image')}]") if e.get("type") == "image" else words(e, users)
        for e in block.get("elements") or []
    ]
    return Text("  ", style="dim").join(parts)


def _actions(block: Mapping[str, Any], users: Users) -> RenderableType:
    """Buttons and menus side by side; radio buttons and checkboxes take lines of their own."""
    row: list[Text] = []
    rest: list[RenderableType] = []
    for element in block.get("elements") or []:
        drawn = _element(element, users)
        (rest if "\n" in drawn.plain else row).append(drawn)
    return Group(Text("  ").join(row), *rest) if rest else Text("  ").join(row)


def _input(block: Mapping[str, Any], users: Users) -> RenderableType:
    label = Text.assemble(words(block.get("label")), style="bold")
    if block.get("optional"):
        label.append(" (optional)", style="dim")
    element = block.get("element") or {}
    parts: list[RenderableType] = [label]
    if element.get("type") in TEXT_INPUTS:
        parts.append(_text_input(element))
    else:
        parts.append(_element(element, users))
        if element.get("type") in SELECTS and element.get("options"):
            choices = Text(" · ").join(words(o.get("text"), users) for o in _options(element))
            parts.append(Text.assemble("options: ", choices, style="dim"))
    if block.get("hint"):
        parts.append(Text.assemble(words(block["hint"], users), style="dim"))
    return Group(*parts)


def _text_input(element: Mapping[str, Any]) -> RenderableType:
    """A text box holding its initial value, or its placeholder dimmed; a multiline one shows
    at least three lines, as Slack's does."""
    value = element.get("initial_value")
    text = Text(str(value)) if value else Text.assemble(words(element.get("placeholder")))
    if not value:
        text.stylize("dim")
    if element.get("multiline"):
        text.append("\n" * max(0, 2 - text.plain.count("\n")))
    return Panel(text, box=box.SQUARE, border_style="dim", expand=True)


def _rich_text(block: Mapping[str, Any], users: Users) -> RenderableType:
    """Slack's own editor format: sections, lists (nested by ``indent``), code, quotes."""
    parts: list[RenderableType] = []
    for part in block.get("elements") or []:
        kind = part.get("type")
        if kind == "rich_text_list":
            indent = int(part.get("indent", 0))
            start = int(part.get("offset", 0)) + 1
            for n, item in enumerate(part.get("elements") or [], start):
                ordered = part.get("style") == "ordered"
                mark = f"{n}." if ordered else BULLETS[indent % len(BULLETS)]
                parts.append(Text("  " * indent + mark + " ") + _runs(item, users))
        elif kind == "rich_text_preformatted":
            parts.append(preformatted(_runs(part, users).plain))
        elif kind == "rich_text_quote":
            parts.append(Text("│ ", style="dim") + _runs(part, users))
        else:
            parts.append(_runs(part, users))
    return Group(*parts)


def _runs(section: Mapping[str, Any], users: Users) -> Text:
    """The inline elements of a rich-text section; their text is raw, never escaped."""
    out = Text()
    for run in section.get("elements") or []:
        kind = run.get("type")
        flags = run.get("style") or {}
        style = " ".join(s for s in ("bold", "italic", "strike") if flags.get(s))
        style += " cyan" if flags.get("code") else ""
        if kind == "link":
            url = str(run.get("url", ""))
            out.append(str(run.get("text") or url), f"{style} underline")
            if run.get("text") and run["text"] != url:
                out.append(f" ({url})", URL_STYLE)
            continue
        out.append(_run_text(run, users), style.strip())
    return out


_MENTIONS = {  # rich-text run type -> its mark and the key of what it names
    "user": ("@", "user_id"),
    "channel": ("#", "channel_id"),
    "usergroup": ("@", "usergroup_id"),
    "broadcast": ("@", "range"),
}


def _run_text(run: Mapping[str, Any], users: Users) -> str:
    kind = str(run.get("type"))
    if kind == "text":
        return str(run.get("text", ""))
    if kind in _MENTIONS:
        mark, key = _MENTIONS[kind]
        name = str(run.get(key, "?"))
        return mark + (users.get(name, name) if kind == "user" else name)
    if kind == "emoji":
        return _emoji(run)
    if kind == "date":
        return str(run.get("fallback") or fmt_epoch(run.get("timestamp")))
    return f"[{kind}]"


def _image(block: Mapping[str, Any], users: Users) -> RenderableType:
    parts: list[RenderableType] = []
    if block.get("title"):
        parts.append(Text.assemble(words(block["title"]), style="bold"))
    url = block.get("image_url") or (block.get("slack_file") or {}).get("url", "")
    parts.append(Text.assemble(f"[image: {block.get('alt_text', '')}] ", (str(url), URL_STYLE)))
    return Group(*parts)


def _markdown(block: Mapping[str, Any], users: Users) -> RenderableType:
    return Markdown(str(block.get("text", "")))  # the "markdown" block takes standard Markdown


_BLOCKS: dict[str, Callable[[Mapping[str, Any], Users], RenderableType]] = {
    "header": _header,
    "section": _section,
    "divider": _divider,
    "context": _context,
    "actions": _actions,
    "input": _input,
    "rich_text": _rich_text,
    "image": _image,
    "markdown": _markdown,
}


# ---------------------------------------------------------------- elements and text objects


def _element(element: Mapping[str, Any], users: Users) -> Text:
    """An interactive element (or an accessory image) as one line, or lines for choices."""
    kind = str(element.get("type", "?"))
    if kind == "button":
        label = words(element.get("text"))
        if element.get("url"):
            label.append(" ↗")
        return _button(label, style=element.get("style"))
    if kind == "image":
        return Text(f"[image: {element.get('alt_text', '')}]", style="dim")
    if kind == "overflow":
        names = Text(" · ").join(words(o.get("text"), users) for o in _options(element))
        return Text.assemble(_button(Text("⋯")), " (", names, ")", style="")
    if kind in ("radio_buttons", "checkboxes"):
        chosen = [o.get("value") for o in element.get("initial_options") or []]
        if element.get("initial_option"):
            chosen.append(element["initial_option"].get("value"))
        marks = ("(•)", "( )") if kind == "radio_buttons" else ("[x]", "[ ]")
        lines = [
            Text(f"{marks[0] if o.get('value') in chosen else marks[1]} ")
            + words(o.get("text"), users)
            for o in _options(element)
        ]
        return Text("\n").join(lines)
    if kind not in SELECTS and kind not in _PICKED:
        return Text(f"[{kind}]", style="dim")
    value = _picked(kind, element, users)
    shown = value if value is not None else Text.assemble(words(element.get("placeholder")))
    if value is None:
        shown.stylize("dim")
    return _button(shown + Text(" ▾"))


def _picked(kind: str, element: Mapping[str, Any], users: Users) -> Text | None:
    """What a menu or picker shows as chosen, or None when it shows its placeholder."""
    if kind in SELECTS:
        options = element.get("initial_options") or [element.get("initial_option") or {}]
        names = [words(o.get("text"), users) for o in options if o.get("text")]
        return Text(", ").join(names) if names else None
    value = _PICKED[kind](element, users)
    return Text(value) if value else None


_PICKED: dict[str, Callable[[Mapping[str, Any], Users], str | None]] = {
    "users_select": lambda e, users: _user(e.get("initial_user"), users),
    "multi_users_select": lambda e, users: ", ".join(
        _user(u, users) or "" for u in e.get("initial_users") or []
    ),
    "conversations_select": lambda e, _: _channel(e.get("initial_conversation")),
    "channels_select": lambda e, _: _channel(e.get("initial_channel")),
    "datepicker": lambda e, _: e.get("initial_date"),
    "timepicker": lambda e, _: e.get("initial_time"),
    "datetimepicker": lambda e, _: (
        fmt_epoch(e["initial_date_time"]) if e.get("initial_date_time") else None
    ),
}


def _options(element: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A menu's options, its option groups flattened."""
    groups = element.get("option_groups") or []
    return list(element.get("options") or []) + [o for g in groups for o in g.get("options", [])]


def _button(label: Text, style: str | None = None) -> Text:
    return Text.assemble("[ ", label, " ]", style=BUTTON_STYLES.get(style or "", "bold"))


def _user(user_id: object, users: Users) -> str | None:
    return f"@{users.get(user_id, user_id)}" if isinstance(user_id, str) else None


def _channel(channel_id: object) -> str | None:
    return f"#{channel_id}" if isinstance(channel_id, str) else None


def _emoji(run: Mapping[str, Any]) -> str:
    """Slack gives the code points ("1f600" or "1f44d-1f3fb") of the emoji it knows."""
    if isinstance(run.get("unicode"), str):
        try:
            return "".join(chr(int(p, 16)) for p in run["unicode"].split("-"))
        except ValueError:
            pass
    name = str(run.get("name", ""))
    return EMOJI.get(name, f":{name}:")
