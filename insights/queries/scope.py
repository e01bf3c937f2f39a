"""Resolve what a question is about: one product (with its descendants), a team, or everything.

A `Scope` lists the technical things (repos, Sentry projects, Jira projects and boards) whose
data the metrics read, so no metric module needs to know about the product tree. Each thing
belongs to exactly one product, so a roll-up never counts anything twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlalchemy.orm import Session

from insights.errors import UnknownScope
from storage.models import Board, Product, ProductMapping
from storage.product_file import ProductSettings
from storage.queries import product_subtree_ids

_T = TypeVar("_T")
ScopeKind = Literal["product", "team", "organisation"]


@dataclass(frozen=True)
class Scope:
    """The products a question covers and every technical thing mapped to them.

    ``settings`` holds each product's effective settings (its ancestors' overrides, then its
    own, over the defaults); ``product_of`` says which product owns each mapped key.
    """

    kind: ScopeKind
    name: str
    product_ids: tuple[int, ...]
    product_names: tuple[str, ...]
    repos: tuple[str, ...] = ()
    sentry_projects: tuple[str, ...] = ()
    jira_projects: tuple[str, ...] = ()
    boards: tuple[str, ...] = ()
    product_of: Mapping[tuple[str, str], str] = field(default_factory=dict)
    settings: Mapping[str, ProductSettings] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return "the whole organisation" if self.kind == "organisation" else self.name

    def settings_for(self, kind: str, key: str) -> ProductSettings:
        """The settings of the product that owns ``(kind, key)`` (defaults if unmapped)."""
        owner = self.product_of.get((kind, key))
        return self.settings.get(owner, ProductSettings()) if owner else ProductSettings()

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "products": list(self.product_names)}


def suggest(name: str, choices: list[str], limit: int = 3) -> tuple[str, ...]:
    """The closest names to ``name``, best first (rapidfuzz WRatio, so typos and parts match)."""
    found = process.extract(name, choices, scorer=fuzz.WRatio, limit=limit, score_cutoff=55)
    return tuple(str(match[0]) for match in found)


def resolve_scope(
    session: Session, *, product: str | None = None, team: str | None = None
) -> Scope:
    """The scope of one product (and its descendants), one team's products, or all products.

    Names match case-insensitively; an unknown one raises `UnknownScope` with suggestions.
    A team covers the active products whose ``owner_team`` it is, each with its own mappings.
    """
    products = list(session.scalars(sa.select(Product).where(Product.active)))
    if product is not None and team is not None:
        raise ValueError("ask about a product or a team, not both")
    if product is not None:
        match = _find(product, {p.name: p for p in products}, "product")
        ids = product_subtree_ids(session, match.id)
        return _build(session, "product", match.name, ids, products)
    if team is not None:
        teams = {p.owner_team: p for p in products if p.owner_team}
        found = _find(team, teams, "team")
        name = found.owner_team or team
        ids = [p.id for p in products if p.owner_team == name]
        return _build(session, "team", name, ids, products)
    return _build(session, "organisation", "organisation", [p.id for p in products], products)


def list_names(session: Session, kind: Literal["product", "team", "board"]) -> list[str]:
    """Every active product name, team name or board (name and id), for help and suggestions."""
    if kind == "board":
        return [f"{b.name} ({b.external_id})" for b in session.scalars(sa.select(Board))]
    products = session.scalars(sa.select(Product).where(Product.active).order_by(Product.name))
    if kind == "product":
        return [p.name for p in products]
    return sorted({p.owner_team for p in products if p.owner_team})


def _find(name: str, candidates: Mapping[Any, _T], kind: str) -> _T:
    folded = {str(k).casefold(): v for k, v in candidates.items() if k}
    if name.casefold() in folded:
        return folded[name.casefold()]
    raise UnknownScope(kind, name, suggest(name, [str(k) for k in candidates if k]))


def _build(
    session: Session, kind: ScopeKind, name: str, ids: list[int], products: list[Product]
) -> Scope:
    by_id = {p.id: p for p in products}
    names = {p.id: p.name for p in products}
    mappings = list(
        session.execute(
            sa.select(ProductMapping.kind, ProductMapping.key, ProductMapping.product_id)
            .where(ProductMapping.product_id.in_(ids))
            .order_by(ProductMapping.kind, ProductMapping.key)
        )
    )
    keys: dict[str, list[str]] = {}
    product_of: dict[tuple[str, str], str] = {}
    for kind_, key, product_id in mappings:
        keys.setdefault(kind_, []).append(key)
        product_of[(kind_, key)] = names[product_id]
    settings = {names[i]: _effective_settings(by_id, i) for i in ids if i in by_id}
    return Scope(
        kind=kind,
        name=name,
        product_ids=tuple(ids),
        product_names=tuple(names[i] for i in ids if i in names),
        repos=tuple(keys.get("github_repo", ())),
        sentry_projects=tuple(keys.get("sentry_project", ())),
        jira_projects=tuple(keys.get("jira_project", ())),
        boards=tuple(keys.get("jira_board", ())),
        product_of=product_of,
        settings=settings,
    )


def _effective_settings(by_id: Mapping[int, Product], product_id: int) -> ProductSettings:
    """Defaults, then each ancestor's overrides from the root down, then the product's own."""
    chain: list[dict[str, Any]] = []
    seen: set[int] = set()
    current: int | None = product_id
    while current is not None and current in by_id and current not in seen:
        seen.add(current)
        chain.append(by_id[current].settings or {})
        current = by_id[current].parent_id
    merged: dict[str, Any] = {}
    for overrides in reversed(chain):
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return ProductSettings.model_validate(merged)
