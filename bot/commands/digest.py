"""``digest [product]``: the digest a subscription would post now, shown only to the asker.

The main message and its thread replies go into one ephemeral answer (a preview cannot open a
thread), separated by a line saying where each part would go, within Slack's 50 blocks.
"""

from __future__ import annotations

from typing import Any

from bot.commands.catalog import load_catalog
from bot.commands.messages import Body, ephemeral
from bot.commands.model import Digest
from bot.commands.names import resolve
from bot.deps import Deps
from bot.digests.model import Post
from bot.slack.blocks import MESSAGE_BLOCKS, context_block, escape, section
from storage.db import session_scope

FOOTER = 1  # blocks kept free for the closing context line


def digest_answer(deps: Deps, command: Digest) -> Body:
    from bot.digests.build import build_digest  # the digests surface's; loaded when first used

    with session_scope(deps.engine) as session:
        target = resolve(command.name, load_catalog(session), command="digest")
    product = None if target.kind == "organisation" else target.name
    digest = build_digest(deps, product=product, now=deps.clock())
    label = escape(target.label)
    blocks: list[dict[str, Any]] = [
        _context(
            f"👀 Preview of the digest for {label}: only you see it. A subscription posts it "
            "in the channel, with the details in a thread."
        ),
        *_post_blocks(digest.main),
    ][: MESSAGE_BLOCKS - FOOTER]
    left_out = 0
    for number, post in enumerate(digest.thread, start=1):
        part = [_context(f"🧵 Thread reply {number} of {len(digest.thread)}"), *_post_blocks(post)]
        if len(blocks) + len(part) > MESSAGE_BLOCKS - FOOTER:
            left_out = len(digest.thread) - number + 1
            break
        blocks += part
    if digest.quiet:
        footer = "Nothing changed since the last digest: subscribers would get this one line."
    elif left_out:
        footer = f"…and {left_out} more thread replies than one preview message holds."
    else:
        footer = f"Subscribe this channel: `/sitrep subscribe digest{_name(product)}`"
    blocks.append(_context(footer))
    return ephemeral(digest.main.text or f"Digest preview for {label}", blocks)


def _name(product: str | None) -> str:
    return f" {escape(product)}" if product else ""


def _context(text: str) -> dict[str, Any]:
    result: dict[str, Any] = context_block(text).to_dict()
    return result


def _post_blocks(post: Post) -> list[dict[str, Any]]:
    """A post's blocks, or its text (the builder's mrkdwn, already made safe) when it has none."""
    if post.blocks:
        return [dict(b) for b in post.blocks]
    result: dict[str, Any] = section(post.text or " ").to_dict()
    return [result]
