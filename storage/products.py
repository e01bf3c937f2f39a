"""Apply a validated products file to the database: plan the changes, then make them.

The file is the whole truth. A product missing from it is deactivated (kept, so the history that
points at it stays readable) and loses its mappings, so another product can claim them. A renamed
product therefore shows up as one added and one deactivated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.errors import MappingConflictError, ProductCycleError
from storage.models import Product, ProductMapping
from storage.product_file import ProductSpec

Action = Literal["add", "update", "deactivate", "remove"]
_VERBS: tuple[tuple[Action, str], ...] = (
    ("add", "added"),
    ("update", "updated"),
    ("deactivate", "deactivated"),
    ("remove", "removed"),
)
_FIELDS = ("owner_team", "priority", "description", "active", "slack_channel")


@dataclass(frozen=True)
class Change:
    action: Action
    what: Literal["product", "mapping"]
    product: str
    detail: str = ""

    def __str__(self) -> str:
        sign = {"add": "+", "update": "~", "deactivate": "-", "remove": "-"}[self.action]
        text = f"{sign} {self.what:<8} {self.product}"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass(frozen=True)
class ProductPlan:
    changes: tuple[Change, ...]

    @property
    def empty(self) -> bool:
        return not self.changes

    def count(self, action: Action, what: str) -> int:
        return sum(1 for c in self.changes if c.action == action and c.what == what)

    def summary(self) -> str:
        if self.empty:
            return "No changes"
        parts = []
        for what in ("product", "mapping"):
            for action, verb in _VERBS:
                n = self.count(action, what)
                if n:
                    parts.append(f"{n} {what}{'s' if n != 1 else ''} {verb}")
        return ", ".join(parts)


def _describe(spec: ProductSpec) -> str:
    bits = [f"parent {spec.parent}" if spec.parent else "top level", f"priority {spec.priority}"]
    if spec.owner_team:
        bits.append(f"owner {spec.owner_team}")
    if not spec.active:
        bits.append("inactive")
    return ", ".join(bits)


def _differences(current: Product, current_parent: str | None, spec: ProductSpec) -> list[str]:
    diffs = []
    if current_parent != spec.parent:
        diffs.append(f"parent {current_parent or '(none)'} -> {spec.parent or '(none)'}")
    for field in _FIELDS:
        old, new = getattr(current, field), getattr(spec, field)
        if old != new:
            diffs.append(f"{field} {old!r} -> {new!r}")
    if (current.settings or {}) != spec.settings_overrides():
        diffs.append(f"settings {current.settings or {}} -> {spec.settings_overrides()}")
    return diffs


def plan_products(session: Session, specs: Sequence[ProductSpec]) -> ProductPlan:
    """What applying ``specs`` would change, without changing anything."""
    existing = {p.name: p for p in session.scalars(sa.select(Product))}
    names_by_id = {p.id: p.name for p in existing.values()}
    wanted = {s.name: s for s in specs}
    changes: list[Change] = []

    for spec in specs:
        current = existing.get(spec.name)
        if current is None:
            changes.append(Change("add", "product", spec.name, _describe(spec)))
            continue
        current_parent = names_by_id.get(current.parent_id) if current.parent_id else None
        diffs = _differences(current, current_parent, spec)
        if diffs:
            changes.append(Change("update", "product", spec.name, "; ".join(diffs)))

    for name, product in existing.items():
        if name not in wanted and product.active:
            changes.append(Change("deactivate", "product", name, "not in the file"))

    current_maps = {
        (m.kind, m.key): names_by_id[m.product_id]
        for m in session.scalars(sa.select(ProductMapping))
    }
    wanted_maps = {(kind, key): s.name for s in specs for kind, key in s.mappings()}
    by_owner = sorted(current_maps.items(), key=lambda item: (item[1], item[0]))
    for (kind, key), owner in by_owner:
        if wanted_maps.get((kind, key)) != owner:
            changes.append(Change("remove", "mapping", owner, f"{kind} {key}"))
    for (kind, key), owner in sorted(wanted_maps.items(), key=lambda item: (item[1], item[0])):
        if current_maps.get((kind, key)) != owner:
            changes.append(Change("add", "mapping", owner, f"{kind} {key}"))
    return ProductPlan(tuple(changes))


def apply_products(session: Session, specs: Sequence[ProductSpec]) -> ProductPlan:
    """Make the database match ``specs`` within the caller's transaction; return what changed."""
    plan = plan_products(session, specs)
    if plan.empty:
        return plan
    try:
        _apply(session, specs)
    except IntegrityError as exc:
        raise _explain_integrity_error(exc) from exc
    return plan


def _apply(session: Session, specs: Sequence[ProductSpec]) -> None:
    existing = {p.name: p for p in session.scalars(sa.select(Product))}
    names_by_id = {p.id: p.name for p in existing.values()}
    wanted = {s.name for s in specs}

    # Detach every product whose parent changes before attaching new parents: each step then
    # uses only links of the final, loop-free tree, so the cycle trigger never sees a loop that
    # exists only halfway through a reshuffle.
    moved = []
    for spec in specs:
        product = existing.get(spec.name)
        if product is None:
            product = Product(name=spec.name)
            session.add(product)
            existing[spec.name] = product
        for field in _FIELDS:
            setattr(product, field, getattr(spec, field))
        product.settings = spec.settings_overrides()
        current_parent = names_by_id.get(product.parent_id) if product.parent_id else None
        if current_parent != spec.parent:
            product.parent_id = None
            moved.append(spec)
    for name, product in existing.items():
        if name not in wanted:
            product.active = False
    session.flush()
    for spec in moved:
        if spec.parent is not None:
            existing[spec.name].parent_id = existing[spec.parent].id
            session.flush()

    wanted_maps = {(kind, key): existing[s.name].id for s in specs for kind, key in s.mappings()}
    for mapping in session.scalars(sa.select(ProductMapping)):
        if wanted_maps.get((mapping.kind, mapping.key)) != mapping.product_id:
            session.delete(mapping)
        else:
            del wanted_maps[(mapping.kind, mapping.key)]
    session.flush()
    session.add_all(
        ProductMapping(product_id=pid, kind=kind, key=key)
        for (kind, key), pid in wanted_maps.items()
    )
    session.flush()


def _explain_integrity_error(exc: IntegrityError) -> Exception:
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    message = getattr(getattr(exc.orig, "diag", None), "message_primary", None) or str(exc.orig)
    if constraint == "products_no_cycle":
        return ProductCycleError(message)
    if constraint == "uq_product_mappings_kind_key":
        return MappingConflictError(f"one thing mapped to two products: {message}")
    return exc


def set_parent(session: Session, *, product: str, parent: str | None) -> None:
    """Move ``product`` under ``parent`` (or to the top); refuse a move that makes a loop."""
    child = session.scalars(sa.select(Product).where(Product.name == product)).one()
    parent_id = None
    if parent is not None:
        parent_id = session.scalars(sa.select(Product.id).where(Product.name == parent)).one()
    child.parent_id = parent_id
    try:
        session.flush()
    except IntegrityError as exc:
        raise _explain_integrity_error(exc) from exc
