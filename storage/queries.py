"""The read side: queries that later rooms build on.

Roll-ups need "this product and everything under it"; `product_subtree_ids` answers that with
one recursive query, so the tree can be any depth without N round trips.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.models import Product, ProductMapping


@dataclass(frozen=True)
class ProductNode:
    """A product with its depth in the tree and what is mapped to it."""

    id: int
    name: str
    depth: int
    parent: str | None
    owner_team: str | None
    priority: str
    active: bool
    slack_channel: str | None
    mappings: dict[str, tuple[str, ...]]


def product_subtree_ids(
    session: Session, product_id: int, *, active_only: bool = True
) -> list[int]:
    """``product_id`` and all its descendants, in one recursive query (parents before children).

    UNION (not UNION ALL) makes the walk terminate even on a loop that predates the trigger.
    """
    products = Product.__table__
    tree = (
        sa.select(products.c.id, sa.literal(0).label("depth"))
        .where(products.c.id == product_id)
        .cte("tree", recursive=True)
    )
    tree = tree.union(
        sa.select(products.c.id, (tree.c.depth + 1).label("depth")).join(
            tree, products.c.parent_id == tree.c.id
        )
    )
    query = sa.select(tree.c.id).join(products, products.c.id == tree.c.id)
    if active_only:
        query = query.where(products.c.active)
    return list(session.scalars(query.order_by(tree.c.depth, tree.c.id)))


def product_ancestor_ids(session: Session, product_ids: Iterable[int]) -> set[int]:
    """Every ancestor of these products (not the products themselves, unless one is another's
    ancestor), in one recursive query; UNION ends the walk on a loop, as in
    `product_subtree_ids`."""
    products = Product.__table__
    tree = (
        sa.select(products.c.parent_id.label("id"))
        .where(products.c.id.in_(list(product_ids)), products.c.parent_id.is_not(None))
        .cte("ancestors", recursive=True)
    )
    tree = tree.union(
        sa.select(products.c.parent_id).where(
            products.c.id == tree.c.id, products.c.parent_id.is_not(None)
        )
    )
    return set(session.scalars(sa.select(tree.c.id)))


def product_tree(session: Session, *, include_inactive: bool = False) -> list[ProductNode]:
    """Every product in depth-first order (children under their parent, siblings by name)."""
    products = list(session.scalars(sa.select(Product).order_by(Product.name)))
    if not include_inactive:
        products = [p for p in products if p.active]
    by_id = {p.id: p for p in products}
    children: dict[int | None, list[Product]] = defaultdict(list)
    for product in products:
        parent = product.parent_id if product.parent_id in by_id else None
        children[parent].append(product)

    mappings: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for m in session.scalars(sa.select(ProductMapping).order_by(ProductMapping.key)):
        mappings[m.product_id][m.kind].append(m.key)

    ordered: list[ProductNode] = []
    stack = [(p, 0) for p in reversed(children[None])]
    while stack:
        product, depth = stack.pop()
        ordered.append(
            ProductNode(
                id=product.id,
                name=product.name,
                depth=depth,
                parent=by_id[product.parent_id].name if product.parent_id in by_id else None,
                owner_team=product.owner_team,
                priority=product.priority,
                active=product.active,
                slack_channel=product.slack_channel,
                mappings={k: tuple(v) for k, v in mappings[product.id].items()},
            )
        )
        stack.extend((c, depth + 1) for c in reversed(children[product.id]))
    return ordered


def get_product_id(session: Session, name: str) -> int | None:
    return session.scalars(sa.select(Product.id).where(Product.name == name)).one_or_none()
