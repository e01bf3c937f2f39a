"""The shapes of ``/sitrep`` answers: ephemeral messages with blocks, help, usage and failures.

Every answer is a response-URL body (``response_type``, ``text``, ``blocks`` as dicts): the same
dict can go into the acknowledgement (``ack(**body)``) or through `Deps.respond`. ``to_dict()``
on each `slack_sdk` block checks Slack's limits before anything leaves the process.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import Block, HeaderBlock, PlainTextObject

from bot.commands.model import UsageError
from bot.commands.spec import COMMANDS, SLASH, spec
from bot.slack.blocks import (
    HEADER_TEXT,
    MESSAGE_BLOCKS,
    SECTION_TEXT,
    clip,
    context_block,
    error_blocks,
    escape,
    section,
)

Body = dict[str, Any]
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,20}$")


def ephemeral(text: str, blocks: Sequence[Block | Mapping[str, Any]]) -> Body:
    """An answer only the asker sees; ``text`` is what notifications show (mrkdwn, made safe)."""
    shown = [b.to_dict() if isinstance(b, Block) else dict(b) for b in blocks]
    return {
        "response_type": "ephemeral",
        "text": clip(text, SECTION_TEXT),
        "blocks": shown[:MESSAGE_BLOCKS],
    }


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=clip(text, HEADER_TEXT), emoji=True))


def notice(text: str, *, more: str | None = None) -> Body:
    """A one-section answer (``text`` is our own mrkdwn; escape what it quotes)."""
    blocks: list[Block] = [section(text)]
    if more:
        blocks.append(context_block(more))
    return ephemeral(text, blocks)


def usage(error: UsageError) -> Body:
    """What was wrong, "Did you mean ...?" and how to call the command."""
    blocks = error_blocks(error.message, error.suggestions, error.usage)
    blocks.append(context_block(f"`{SLASH} help` lists every command."))
    return ephemeral(escape(error.message), blocks)


def help_message(topic: str | None = None) -> Body:
    """Every command with what it does and examples, or one command's usage (a copy of the
    message built once: it goes out in the acknowledgement, where every millisecond counts)."""
    return copy.deepcopy(_help_message(topic))


@functools.lru_cache(maxsize=32)
def _help_message(topic: str | None) -> Body:
    chosen = [spec(topic)] if topic else list(COMMANDS)
    blocks: list[Block] = [header("Sitrep commands" if topic is None else f"{SLASH} {topic}")]
    for command in chosen:
        examples = " · ".join(f"`{SLASH} {escape(e)}`" for e in command.examples)
        blocks.append(
            section(f"*`{escape(command.line)}`*\n{escape(command.summary)}\n_e.g._ {examples}")
        )
    blocks.append(
        context_block(
            "Names are products, teams or boards, as `/sitrep products` lists them; "
            'any case works, spaces too. Quote a name that ends in a number: "Project 42". '
            "Without a name you get the whole organisation."
        )
    )
    return ephemeral("Sitrep commands" if topic is None else chosen[0].line, blocks)


def failure(reference: str) -> Body:
    return notice(
        f"⚠️ Something went wrong on our side (reference `{escape(reference)}`). "
        "Try again in a minute; if it keeps failing, give the reference to whoever runs Sitrep.",
    )


def user_mention(user_id: object) -> str:
    """``<@U123>`` for a real user id, else the text made inert: ids come from payloads."""
    text = str(user_id or "")
    return f"<@{text}>" if _USER_ID.match(text) else escape(text or "someone")


def channel_mention(channel_id: object) -> str:
    text = str(channel_id or "")
    return f"<#{text}>" if _CHANNEL_ID.match(text) else escape(text or "?")


def packed_sections(lines: Iterable[str], *, title: str | None = None) -> list[Block]:
    """Lines in as few sections as fit Slack's 3,000 characters a section."""
    blocks: list[Block] = []
    current: list[str] = [f"*{title}*"] if title else []
    size = sum(len(line) + 1 for line in current)
    for text in lines:
        line = clip(text, SECTION_TEXT - 10)
        if current and size + len(line) + 1 > SECTION_TEXT - 10:
            blocks.append(section("\n".join(current)))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        blocks.append(section("\n".join(current)))
    return blocks


def within(blocks: list[Block], *, reserve: int = 0, what: str = "lines") -> list[Block]:
    """``blocks`` cut to fit a message (leaving ``reserve`` blocks), saying what was left out."""
    room = MESSAGE_BLOCKS - reserve
    if len(blocks) <= room:
        return blocks
    kept = blocks[: room - 1]
    kept.append(context_block(f"…more {what} than one Slack message holds; not shown."))
    return kept
