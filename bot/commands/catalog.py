"""The names a command may use, read from the database in one round trip per table."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.commands.names import Catalog
from storage.models import Board, Product


def load_catalog(session: Session) -> Catalog:
    """Active products (by name), their owner teams and every synced board."""
    products = list(
        session.execute(
            sa.select(Product.name, Product.owner_team).where(Product.active).order_by(Product.name)
        )
    )
    boards = session.execute(
        sa.select(Board.external_id, Board.name).order_by(Board.name, Board.external_id)
    )
    return Catalog(
        products=tuple(name for name, _ in products),
        teams=tuple(sorted({team for _, team in products if team})),
        boards=tuple((str(i), str(n)) for i, n in boards),
    )


def product_id(session: Session, name: str) -> int | None:
    found = session.scalar(sa.select(Product.id).where(Product.name == name, Product.active))
    return int(found) if found is not None else None
