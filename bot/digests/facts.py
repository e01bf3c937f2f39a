"""What a digest reports, gathered from the report cache and the new Sentry issues.

Every number comes from a report document (`bot.reports.Reports`), so a digest says exactly what
``/sitrep health`` or ``/sitrep dora`` would have said at the same instant; only the "new errors"
list is read here, because no report lists issues by when they first appeared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.deps import Deps
from bot.reports import ReportRequest
from insights.queries.scope import resolve_scope
from storage.db import session_scope
from storage.models import ErrorIssue, Product

WINDOW_DAYS = 7
"""Health and DORA windows of every digest, with the trend against the 7 days before."""
NEW_ERRORS_DAYS = {"daily": 1, "weekly": 7}
"""How far back "new errors" look: the time since the previous digest of that cadence."""
NEW_ERRORS_KEPT = 20
BAND_ORDER = ("low", "medium", "high", "elite")
VALUE_MOVE = 0.10  # a DORA value that moved by less than this share is not news


@dataclass(frozen=True)
class ProductNode:
    """An active product and how deep it sits in the product tree (0 for a top-level one)."""

    id: int
    name: str
    team: str | None
    depth: int
    parent_id: int | None = None


@dataclass(frozen=True)
class HealthRow:
    """One product's line of the health table, straight from its own health report."""

    product: str
    depth: int
    score: Mapping[str, Any]
    errors: Mapping[str, Any]
    open_bugs: Mapping[str, Any]


@dataclass(frozen=True)
class DoraChange:
    """A DORA metric whose band changed, or whose value moved by 10% or more."""

    metric_id: str
    metric: Mapping[str, Any]
    band: str | None
    previous_band: str | None


@dataclass(frozen=True)
class NewError:
    external_id: str
    short_id: str | None
    title: str
    level: str
    status: str
    product: str | None
    first_seen: dt.datetime
    events: int
    users: int
    url: str | None


@dataclass(frozen=True)
class DigestFacts:
    scope: Mapping[str, Any]  # the report documents' scope: kind, name, products
    as_of: dt.datetime
    cadence: str
    health: Mapping[str, Any]
    dora: Mapping[str, Any]
    previous_dora: Mapping[str, Any]
    sprint: Mapping[str, Any]
    rows: Sequence[HealthRow]
    dora_changes: Sequence[DoraChange]
    new_errors: Sequence[NewError]  # the busiest `NEW_ERRORS_KEPT`
    new_errors_total: int
    new_errors_since: dt.datetime

    @property
    def overall_band(self) -> str | None:
        band = self.dora.get("overall_band")
        return str(band) if band else None

    @property
    def previous_overall_band(self) -> str | None:
        band = self.previous_dora.get("overall_band")
        return str(band) if band else None


def product_tree(products: Sequence[Product]) -> list[ProductNode]:
    """Active products in tree order (parents first, siblings by name) with their depth."""
    active = {p.id: p for p in products if p.active}
    children: dict[int | None, list[Product]] = {}
    for p in active.values():
        parent = p.parent_id if p.parent_id in active else None
        children.setdefault(parent, []).append(p)
    ordered: list[ProductNode] = []

    def walk(parent: int | None, depth: int) -> None:
        for p in sorted(children.get(parent, []), key=lambda p: p.name.casefold()):
            ordered.append(ProductNode(p.id, p.name, p.owner_team, depth, parent))
            walk(p.id, depth + 1)

    walk(None, 0)
    return ordered


def gather(deps: Deps, *, product: str | None, as_of: dt.datetime, cadence: str) -> DigestFacts:
    """The facts of one digest of ``product`` (None: the organisation) read at ``as_of``.

    `insights.errors.UnknownScope` passes through for a product that no longer exists.
    """
    days = WINDOW_DAYS
    health = deps.reports.get(ReportRequest(kind="health", product=product, days=days, as_of=as_of))
    dora = deps.reports.get(ReportRequest(kind="dora", product=product, days=days, as_of=as_of))
    before = as_of - dt.timedelta(days=days)
    previous_dora = deps.reports.get(
        ReportRequest(kind="dora", product=product, days=days, as_of=before)
    )
    sprint = deps.reports.get(ReportRequest(kind="sprint", product=product, as_of=as_of))
    since = as_of - dt.timedelta(days=NEW_ERRORS_DAYS.get(cadence, 1))
    with session_scope(deps.engine) as session:
        scope = resolve_scope(session, product=product)
        nodes = product_tree(list(session.scalars(sa.select(Product))))
        new_errors, total = _new_errors(
            session, scope.sentry_projects, scope.product_of, since, as_of
        )
    covered = set(scope.product_names)
    rows = [_row(deps, node, as_of, days) for node in nodes if node.name in covered]
    if rows:  # a product digest indents its sub-products under it
        top = min(r.depth for r in rows)
        rows = [HealthRow(r.product, r.depth - top, r.score, r.errors, r.open_bugs) for r in rows]
    return DigestFacts(
        scope=health.get("scope") or {},
        as_of=as_of,
        cadence=cadence,
        health=health,
        dora=dora,
        previous_dora=previous_dora,
        sprint=sprint,
        rows=rows,
        dora_changes=dora_changes(dora, previous_dora),
        new_errors=new_errors,
        new_errors_total=total,
        new_errors_since=since,
    )


def _row(deps: Deps, node: ProductNode, as_of: dt.datetime, days: int) -> HealthRow:
    doc = deps.reports.get(ReportRequest(kind="health", product=node.name, days=days, as_of=as_of))
    metrics = doc.get("metrics") or {}
    return HealthRow(
        product=node.name,
        depth=node.depth,
        score=metrics.get("health_score") or {},
        errors=metrics.get("error_events") or {},
        open_bugs=metrics.get("open_bugs") or {},
    )


def dora_changes(dora: Mapping[str, Any], previous: Mapping[str, Any]) -> list[DoraChange]:
    """Metrics whose band differs from the previous window's, or whose value moved >= 10%."""
    changes = []
    before = previous.get("metrics") or {}
    for metric_id, metric in (dora.get("metrics") or {}).items():
        band = metric.get("band")
        previous_band = (before.get(metric_id) or {}).get("band")
        value, old = metric.get("value"), metric.get("previous")
        moved = (
            isinstance(value, int | float)
            and isinstance(old, int | float)
            and abs(value - old) >= VALUE_MOVE * max(abs(old), 1e-9)
        )
        if band != previous_band or moved:
            changes.append(DoraChange(metric_id, metric, band, previous_band))
    return changes


def _new_errors(
    session: Session,
    projects: Sequence[str],
    product_of: Mapping[tuple[str, str], str],
    since: dt.datetime,
    until: dt.datetime,
) -> tuple[list[NewError], int]:
    """Sentry issues first seen in ``[since, until)`` in the scope's projects (the busiest
    `NEW_ERRORS_KEPT`), and how many there are."""
    if not projects:
        return [], 0
    where = (
        ErrorIssue.project.in_(list(projects)),
        ErrorIssue.first_seen >= since,
        ErrorIssue.first_seen < until,
    )
    total = session.scalar(sa.select(sa.func.count()).select_from(ErrorIssue).where(*where)) or 0
    rows = session.scalars(
        sa.select(ErrorIssue)
        .where(*where)
        .order_by(ErrorIssue.event_count.desc(), ErrorIssue.first_seen.desc(), ErrorIssue.id)
        .limit(NEW_ERRORS_KEPT)
    )
    found = [
        NewError(
            external_id=row.external_id,
            short_id=row.short_id,
            title=row.title,
            level=row.level,
            status=row.status,
            product=product_of.get(("sentry_project", row.project)),
            first_seen=row.first_seen,
            events=row.event_count,
            users=row.user_count,
            url=row.url,
        )
        for row in rows
    ]
    return found, int(total)
