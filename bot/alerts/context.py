"""What routing an alert needs from the database: products, maintenance windows, subscribers.

Read fresh for every alert (the tables are a few dozen rows), so an edit of the products file or a
new maintenance window applies to the very next webhook without a restart.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.alerts.routing import Ancestor, MaintenanceWindow, ProductInfo
from storage.models import Product, ProductMapping
from storage.models_bot import MaintenanceWindowRow, Subscription


@dataclass(frozen=True)
class OwnedProduct:
    """A product as the alert needs it: routing info, its id and its ancestors' ids (nearest
    first), and the Jira projects tickets go to (its own, else the nearest ancestor's)."""

    id: int
    info: ProductInfo
    ancestor_ids: tuple[int, ...]
    jira_projects: tuple[str, ...]


@dataclass(frozen=True)
class RoutingContext:
    products: Mapping[str, OwnedProduct]  # Sentry project slug (lower case) -> owner
    maintenance: Mapping[str, Sequence[MaintenanceWindow]]  # product name -> windows

    @property
    def infos(self) -> dict[str, ProductInfo]:
        return {slug: owned.info for slug, owned in self.products.items()}

    def owner(self, slugs: Sequence[str]) -> OwnedProduct | None:
        """The product of the first slug that has one (as `route_alert` picks it)."""
        return next((self.products[s.lower()] for s in slugs if s.lower() in self.products), None)


def load_context(session: Session, now: dt.datetime) -> RoutingContext:
    products = {p.id: p for p in session.scalars(sa.select(Product).where(Product.active))}
    mappings: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for m in session.scalars(sa.select(ProductMapping).order_by(ProductMapping.key)):
        mappings[m.product_id][m.kind].append(m.key)

    def chain(product: Product) -> list[Product]:
        found, seen = [], {product.id}
        parent = products.get(product.parent_id) if product.parent_id else None
        while parent is not None and parent.id not in seen:  # a loop cannot hang us
            found.append(parent)
            seen.add(parent.id)
            parent = products.get(parent.parent_id) if parent.parent_id else None
        return found

    owned: dict[str, OwnedProduct] = {}
    for product in products.values():
        ancestors = chain(product)
        info = ProductInfo(
            name=product.name,
            priority=product.priority,
            slack_channel=product.slack_channel,
            ancestors=tuple(Ancestor(a.name, a.slack_channel) for a in ancestors),
        )
        jira = next(
            (
                tuple(mappings[p.id]["jira_project"])
                for p in (product, *ancestors)
                if mappings[p.id]["jira_project"]
            ),
            (),
        )
        entry = OwnedProduct(product.id, info, tuple(a.id for a in ancestors), jira)
        for slug in mappings[product.id]["sentry_project"]:
            owned[slug.lower()] = entry
    windows: dict[str, list[MaintenanceWindow]] = defaultdict(list)
    rows = session.execute(
        sa.select(MaintenanceWindowRow, Product.name)
        .join(Product, Product.id == MaintenanceWindowRow.product_id)
        .where(MaintenanceWindowRow.ends_at > now)
    )
    for row, name in rows:
        windows[name].append(MaintenanceWindow(row.starts_at, row.ends_at, row.note))
    return RoutingContext(owned, dict(windows))


def subscribed_channels(
    session: Session, product: OwnedProduct, *, besides: str | None = None
) -> list[str]:
    """Channels that subscribed to alerts of this product, of a parent of it, or of everything,
    except ``besides`` (the product's own ``slack_channel``) however it is written: the products
    file may name the channel (``#payments-alerts``) where a subscription holds its id."""
    ids = [product.id, *product.ancestor_ids]
    rows = session.execute(
        sa.select(Subscription.channel_id, Subscription.channel_name)
        .where(
            Subscription.kind == "alerts",
            sa.or_(Subscription.product_id.in_(ids), Subscription.product_id.is_(None)),
        )
        .order_by(Subscription.id)
    ).tuples()
    own = _channel_key(besides) if besides else None
    return list(
        dict.fromkeys(
            channel
            for channel, name in rows
            if own is None or own not in (_channel_key(channel), _channel_key(name or ""))
        )
    )


def _channel_key(channel: str) -> str:
    """``#Payments-Alerts``, ``payments-alerts`` -> ``payments-alerts``; an id (``C0123...``)
    only ever equals itself."""
    return channel.removeprefix("#").casefold()
