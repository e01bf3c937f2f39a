"""``products``: the product tree as `sitrep products show` draws it, in Block Kit.

One line per product (the tree drawn with the same prefixes as the CLI, owner team, priority,
Slack channel), and beneath it what is mapped to it; boards are shown by name, since the products
file maps them by id.
"""

from __future__ import annotations

import sqlalchemy as sa
from slack_sdk.models.blocks import Block

from bot.cli.products import _tree_prefixes as tree_prefixes
from bot.commands.messages import Body, ephemeral, header, packed_sections, within
from bot.deps import Deps
from bot.slack.blocks import context_block, escape, section
from bot.slack.blocks import source_text as src
from storage.db import session_scope
from storage.models import Board
from storage.queries import ProductNode, product_tree

PRIORITY_EMOJI = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "⚪"}
KINDS = (
    ("sentry_project", "Sentry"),
    ("jira_project", "Jira"),
    ("jira_board", "boards"),
    ("github_repo", "repos"),
)


def products_answer(deps: Deps) -> Body:
    with session_scope(deps.engine) as session:
        nodes = product_tree(session)
        boards = {i: n for i, n in session.execute(sa.select(Board.external_id, Board.name))}
    if not nodes:
        return ephemeral(
            "No products yet",
            [
                section(
                    "No products yet. Describe them in a products file and apply it: "
                    "`sitrep products apply products.yaml`."
                )
            ],
        )
    prefixes = tree_prefixes([n.depth for n in nodes])
    lines = [_line(prefix, node, boards) for prefix, node in zip(prefixes, nodes, strict=True)]
    teams = sorted({n.owner_team for n in nodes if n.owner_team})
    blocks: list[Block] = [header(f"Products ({len(nodes)})"), *packed_sections(lines)]
    blocks = within(blocks, reserve=1, what="products")
    blocks.append(
        context_block(
            f"Teams: {', '.join(escape(t) for t in teams) or 'none'} · "
            "Any of these names works in `/sitrep health`, `dora`, `sprint` and `alerts`."
        )
    )
    return ephemeral(f"{len(nodes)} products", blocks)


def _line(prefix: str, node: ProductNode, boards: dict[str, str]) -> str:
    facts = [f"{PRIORITY_EMOJI.get(node.priority, '⚪')} {escape(node.priority)}"]
    facts.append(f"team {src(node.owner_team, 60)}" if node.owner_team else "no owner team")
    if node.slack_channel:
        facts.append(src(node.slack_channel, 80))
    line = f"{escape(prefix)}*{src(node.name, 100)}* · {' · '.join(facts)}"
    mapped = []
    for kind, label in KINDS:
        keys = node.mappings.get(kind) or ()
        if kind == "jira_board":
            keys = tuple(f"{boards[k]} ({k})" if k in boards else k for k in keys)
        if keys:
            mapped.append(f"{label}: {', '.join(src(k, 60) for k in keys)}")
    indent = escape(_continuation(prefix))
    if mapped:
        line += f"\n{indent}    {' · '.join(mapped)}"
    return line


def _continuation(prefix: str) -> str:
    """The tree's vertical lines under a product (└─ and ├─ give way to blank and │)."""
    return prefix.replace("├─", "│ ").replace("└─", "  ")
