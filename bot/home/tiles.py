"""What the App Home shows: the products a filter selects, and one tile of facts per product.

A tile reads the same cached reports as ``/sitrep health|dora|sprint <product>`` (30-day windows,
the commands' default, so the drill-down modal shows exactly the numbers of the tile), plus the
product's alert messages. A product's tile covers its sub-products, as its reports do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from bot.deps import Deps
from bot.digests.facts import ProductNode, product_tree
from bot.reports import ReportRequest
from insights.errors import InsightsError
from storage.db import session_scope
from storage.models import Product
from storage.models_bot import AlertMessage

HOME_DAYS = 30
REPORT_THREADS = 4  # reports are ~10-60 ms of database work each; a few at once, not all


@dataclass(frozen=True)
class HomeFilter:
    """What a user chose to see: every product, one team's, or one product (and its children)."""

    kind: str = "all"  # all | team | product
    value: str | None = None  # the team's or the product's name

    @property
    def label(self) -> str:
        if self.kind == "team":
            return f"Team {self.value}"
        return str(self.value) if self.kind == "product" else "All products"

    def option_value(self, nodes: Sequence[ProductNode]) -> str:
        """The select option standing for this filter (see `filter_of_option`)."""
        if self.kind == "team" and self.value:
            return team_option(self.value)
        if self.kind == "product":
            node = next((n for n in nodes if n.name == self.value), None)
            return f"product:{node.id}" if node else "all"
        return "all"


def team_option(team: str) -> str:
    # A hash, not the name: an option value holds 150 characters and a team name 200.
    return "team:" + hashlib.sha256(team.encode()).hexdigest()[:16]


def filter_of_option(value: str, nodes: Sequence[ProductNode]) -> HomeFilter | None:
    """The filter an option value stands for, None when its team or product is gone."""
    if value == "all":
        return HomeFilter()
    if value.startswith("team:"):
        team = next((n.team for n in nodes if n.team and team_option(n.team) == value), None)
        return HomeFilter("team", team) if team else None
    if value.startswith("product:"):
        node = next((n for n in nodes if f"product:{n.id}" == value), None)
        return HomeFilter("product", node.name) if node else None
    return None


def selected(nodes: Sequence[ProductNode], chosen: HomeFilter) -> list[ProductNode]:
    """The products ``chosen`` covers, in tree order; [] when its team or product is gone."""
    if chosen.kind == "team":
        return [n for n in nodes if n.team == chosen.value]
    if chosen.kind == "product":
        root = next((n for n in nodes if n.name == chosen.value), None)
        return [n for n in nodes if root and root.id in _lineage(n, nodes)]
    return list(nodes)


def _lineage(node: ProductNode, nodes: Sequence[ProductNode]) -> set[int]:
    by_id = {n.id: n for n in nodes}
    found: set[int] = set()
    current: ProductNode | None = node
    while current is not None and current.id not in found:
        found.add(current.id)
        current = by_id.get(current.parent_id) if current.parent_id is not None else None
    return found


@dataclass(frozen=True)
class AlertLine:
    title: str
    level: str | None
    status: str
    at: dt.datetime
    url: str | None


@dataclass(frozen=True)
class Tile:
    node: ProductNode
    health: Mapping[str, Any]  # the health_score metric
    dora_band: str | None
    boards: Sequence[Mapping[str, Any]]  # the sprint report's boards
    open_alerts: int = 0
    latest: AlertLine | None = None
    errors: Sequence[str] = field(default_factory=tuple)  # reports that could not be built


def load_nodes(deps: Deps) -> list[ProductNode]:
    with session_scope(deps.engine) as session:
        return product_tree(list(session.scalars(sa.select(Product))))


def build_tiles(
    deps: Deps, nodes: Sequence[ProductNode], shown: Sequence[ProductNode]
) -> list[Tile]:
    """One tile per product of ``shown`` (``nodes`` is the whole tree, for the roll-ups)."""
    alerts = _alerts(deps, nodes, shown)
    with ThreadPoolExecutor(REPORT_THREADS, thread_name_prefix="home-tiles") as pool:
        return list(pool.map(lambda n: _tile(deps, n, alerts.get(n.id, ([], 0))), shown))


def _tile(deps: Deps, node: ProductNode, alerts: tuple[list[AlertLine], int]) -> Tile:
    docs: dict[str, dict[str, Any]] = {}
    errors = []
    for kind in ("health", "dora", "sprint"):
        try:
            request = ReportRequest(kind=kind, product=node.name, days=HOME_DAYS)
            docs[kind] = deps.reports.get(request)
        except InsightsError as exc:  # e.g. renamed meanwhile: one tile says so, not the tab
            errors.append(f"{kind}: {exc}")
            docs[kind] = {}
    lines, open_count = alerts
    return Tile(
        node=node,
        health=(docs["health"].get("metrics") or {}).get("health_score") or {},
        dora_band=docs["dora"].get("overall_band"),
        boards=list(docs["sprint"].get("boards") or []),
        open_alerts=open_count,
        latest=lines[0] if lines else None,
        errors=tuple(errors),
    )


def _alerts(
    deps: Deps, nodes: Sequence[ProductNode], shown: Sequence[ProductNode]
) -> dict[int, tuple[list[AlertLine], int]]:
    """Per shown product: its subtree's alert messages, newest first, and how many are open."""
    with session_scope(deps.engine) as session:
        rows = session.execute(
            sa.select(
                AlertMessage.product_id,
                AlertMessage.alert,
                AlertMessage.status,
                AlertMessage.updated_at,
            )
            .where(AlertMessage.product_id.is_not(None))
            .order_by(AlertMessage.updated_at.desc(), AlertMessage.id.desc())
            .limit(2000)
        ).all()
    lineage = {n.id: _lineage(n, nodes) for n in nodes}
    found: dict[int, tuple[list[AlertLine], int]] = {n.id: ([], 0) for n in shown}
    for product_id, alert, status, at in rows:
        for owner in lineage.get(product_id, set()):
            if owner not in found:
                continue
            lines, count = found[owner]
            if len(lines) < 1:
                lines.append(_line(alert, status, at))
            found[owner] = (lines, count + (status == "open"))
    return found


def _line(alert: Mapping[str, Any], status: str, at: dt.datetime) -> AlertLine:
    # The alert as the alerts surface stored it (a `SentryAlert`'s fields); read defensively.
    title = alert.get("title") or alert.get("description_title") or "Sentry alert"
    url = alert.get("web_url") or alert.get("url")
    return AlertLine(
        title=str(title),
        level=str(alert["level"]) if alert.get("level") else None,
        status=status,
        at=at,
        url=str(url) if url else None,
    )
