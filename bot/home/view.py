"""Block Kit of the App Home tab and of the drill-down modal (pure: facts in, view dicts out).

The tab, top to bottom: a header with the filter's name, the filter select (all products, a
team, or one product), a context line (windows, when it was drawn), then one tile per product:
a section whose fields are the health score with its trend, the DORA band, the active sprints'
progress and the latest alert, with a "Details" button that opens the modal. Slack allows 100
blocks in a view: tiles get a divider each while that fits, lose them when it does not, and
past that the rest are counted with a hint to narrow the filter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    DividerBlock,
    HeaderBlock,
    Option,
    OptionGroup,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.digests.facts import ProductNode
from bot.home.tiles import HOME_DAYS, HomeFilter, Tile, team_option
from bot.slack.blocks import (
    ARROWS,
    BAND_EMOJI,
    HEADER_TEXT,
    NO_BAND,
    clip,
    context_block,
    fmt_when,
    link,
    mrkdwn,
    number,
    report_blocks,
    section,
    source_text,
)
from bot.slack.ids import ActionId, CallbackId

VIEW_BLOCKS = 100
OPTIONS = 100  # per option group
OPTION_TEXT = 75
MODAL_TITLE = 24
BOARD_LINES = 2


def home_view(
    *,
    chosen: HomeFilter,
    nodes: Sequence[ProductNode],
    tiles: Sequence[Tile],
    now: dt.datetime,
    note: str | None = None,
) -> dict[str, Any]:
    """The Home tab as ``views.publish`` takes it (validated by slack_sdk)."""
    head: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=clip(f"Sitrep · {chosen.label}", HEADER_TEXT))),
        ActionsBlock(block_id="home_filter", elements=[filter_select(chosen, nodes)]),
        context_block(
            f"Health and DORA over the last {HOME_DAYS} days, arrows against the {HOME_DAYS} "
            f"before · drawn {fmt_when(now.isoformat(), time=True)} · your filter is remembered"
            + (f"\n⚠️ {note}" if note else "")
        ),
    ]
    budget = VIEW_BLOCKS - len(head)
    body: list[Block] = []
    if not tiles:
        body.append(section("No active product here. Choose another filter above."))
    with_dividers = 2 * len(tiles) <= budget
    room = len(tiles) if len(tiles) <= budget else budget - 1
    for tile in tiles[:room]:
        if with_dividers:
            body.append(DividerBlock())
        body.append(tile_block(tile))
    if len(tiles) > room:
        body.append(
            context_block(
                f"…and {len(tiles) - room} more products: choose a team or a product above."
            )
        )
    view = View(type="home", blocks=[*head, *body])
    data: dict[str, Any] = view.to_dict()
    return data


def filter_select(chosen: HomeFilter, nodes: Sequence[ProductNode]) -> StaticSelectElement:
    everything = Option(value="all", text="All products")
    teams = sorted({n.team for n in nodes if n.team}, key=str.casefold)
    team_options = [
        Option(value=team_option(t), text=clip(f"Team {' '.join(t.split())}", OPTION_TEXT))
        for t in teams
    ][:OPTIONS]
    product_options = [
        Option(
            value=f"product:{n.id}",
            text=clip("· " * n.depth + " ".join(n.name.split()), OPTION_TEXT),
        )
        for n in nodes
    ][:OPTIONS]
    groups = [OptionGroup(label="Everything", options=[everything])]
    if team_options:
        groups.append(OptionGroup(label="Teams", options=team_options))
    if product_options:
        groups.append(OptionGroup(label="Products", options=product_options))
    current = chosen.option_value(nodes)
    initial = next(
        (o for o in [everything, *team_options, *product_options] if o.value == current),
        everything,
    )
    return StaticSelectElement(
        action_id=ActionId.HOME_FILTER.value,
        placeholder="Show…",
        option_groups=groups,
        initial_option=initial,
    )


def tile_block(tile: Tile) -> SectionBlock:
    node = tile.node
    title = f"*{source_text(node.name, 150)}*"
    if node.team:
        title += f" · team {source_text(node.team, 60)}"
    if tile.errors:
        title += f"\n⚠️ {source_text('; '.join(tile.errors), 300)}"
    fields = [
        f"*Health*\n{_score(tile.health)}",
        f"*DORA*\n{_band(tile.dora_band)}",
        f"*Sprint*\n{_sprints(tile.boards)}",
        f"*Alerts*\n{_alerts(tile)}",
    ]
    details = ButtonElement(
        text="Details",
        action_id=ActionId.HOME_DRILL.value,
        value=str(node.id),
    )
    return SectionBlock(
        block_id=f"tile_{node.id}",
        text=mrkdwn(title),
        fields=[mrkdwn(clip(f, 2000)) for f in fields],
        accessory=details,
    )


def _score(metric: Mapping[str, Any]) -> str:
    if metric.get("value") is None:
        return "no data"
    arrow = ARROWS.get(str(metric.get("trend")), "")
    previous = metric.get("previous")
    was = f" (was {number(previous)})" if previous is not None and metric.get("trend") else ""
    return f"{number(metric['value'])}/100 {arrow}{was}".replace("  ", " ")


def _band(band: object) -> str:
    return f"{BAND_EMOJI[band]} {band}" if band in BAND_EMOJI else f"{NO_BAND} no data"


def _sprints(boards: Sequence[Mapping[str, Any]]) -> str:
    if not boards:
        return "no Jira board"
    lines = [_progress(b) for b in boards[:BOARD_LINES]]
    if len(boards) > BOARD_LINES:
        lines.append(f"+{len(boards) - BOARD_LINES} more boards")
    return "\n".join(lines)


def _progress(board: Mapping[str, Any]) -> str:
    """E.g. "PAY Sprint 7: 9/21 points (+31 added)": completed of committed, as the brief of
    a sprint is what was committed at its start."""
    sprint = board.get("sprint") or {}
    name = source_text(sprint.get("name") or (board.get("board") or {}).get("name") or "?", 40)
    if not sprint or sprint.get("state") != "active":
        return f"{name}: no active sprint"
    metrics = board.get("metrics") or {}
    for unit in ("points", "issues"):
        done = (metrics.get(f"completed_{unit}") or {}).get("value")
        committed = (metrics.get(f"committed_{unit}") or {}).get("value")
        if done is None or not committed:
            continue
        added = (metrics.get(f"added_{unit}") or {}).get("value")
        extra = f" (+{number(added)} added)" if added else ""
        return f"{name}: {number(done)}/{number(committed)} {unit}{extra}"
    return f"{name}: nothing committed"


def _alerts(tile: Tile) -> str:
    if tile.latest is None:
        return "none"
    latest = tile.latest
    label = link(latest.url, latest.title)  # escaped and cut to 60 characters
    level = f"{source_text(latest.level, 20)}, " if latest.level else ""
    when = fmt_when(latest.at.isoformat(), year=False, time=True)
    return f"{tile.open_alerts} open\nlatest: {label} ({level}{latest.status}, {when})"


# ---------------------------------------------------------------- the drill-down modal


def loading_modal(name: str) -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id=CallbackId.HOME_DETAILS_MODAL.value,
        title=clip(name, MODAL_TITLE),
        close="Close",
        blocks=[section(f"Loading *{source_text(name, 150)}*…")],
    )
    data: dict[str, Any] = view.to_dict()
    return data


def drill_modal(
    name: str, docs: Sequence[Mapping[str, Any]], *, problem: str | None = None
) -> dict[str, Any]:
    """The product's health, DORA and sprint reports one under the other, within 100 blocks."""
    blocks: list[Block] = []
    if problem:
        blocks.append(section(f"⚠️ {source_text(problem, 2000)}"))
    shares = (38, 28, 30)  # health, DORA, sprint: the most a report of each kind needs
    for doc, most in zip(docs, shares, strict=False):
        if blocks:
            blocks.append(DividerBlock())
        blocks += report_blocks(doc, share_button=False, max_blocks=most)
    view = View(
        type="modal",
        callback_id=CallbackId.HOME_DETAILS_MODAL.value,
        title=clip(name, MODAL_TITLE),
        close="Close",
        blocks=blocks[:VIEW_BLOCKS],
    )
    data: dict[str, Any] = view.to_dict()
    return data
