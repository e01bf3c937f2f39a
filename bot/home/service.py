"""The App Home's state and publishing: the filter each user chose, and their tab kept current.

Every publish goes through the outbox (a Slack outage delays a Home tab, never loses it). A newer
tab supersedes an older one still waiting for Slack: the waiting one is dropped in the transaction
that enqueues the newer, so the outbox can never deliver a stale tab over a fresh one after an
outage.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from bot.deps import Deps
from bot.digests.facts import ProductNode
from bot.home.tiles import HomeFilter, build_tiles, load_nodes, selected
from bot.home.view import home_view
from bot.outbox import enqueue
from storage.db import session_scope
from storage.models_bot import HomeView, OutboxItem

log = logging.getLogger("sitrep.home")

SUPERSEDED = "superseded by a newer Home tab"


def opened(deps: Deps, user_id: str) -> int:
    """The user opened their Home tab: remember it (for republishing) and publish it."""
    now = deps.clock()
    with session_scope(deps.engine) as session:
        session.execute(
            insert(HomeView)
            .values(user_id=user_id, opened_at=now)
            .on_conflict_do_update(index_elements=[HomeView.user_id], set_={"opened_at": now})
        )
    return publish(deps, [user_id])[0]


def choose(deps: Deps, user_id: str, chosen: HomeFilter) -> int:
    """Remember the user's filter and republish their tab with it."""
    with session_scope(deps.engine) as session:
        values = {"filter_kind": chosen.kind, "filter_value": chosen.value}
        session.execute(
            insert(HomeView)
            .values(user_id=user_id, opened_at=deps.clock(), **values)
            .on_conflict_do_update(index_elements=[HomeView.user_id], set_=values)
        )
    return publish(deps, [user_id])[0]


def republish_homes(deps: Deps) -> int:
    """Republish the tab of every user who has opened it (after a sync); how many were."""
    with session_scope(deps.engine) as session:
        users = list(
            session.scalars(
                sa.select(HomeView.user_id)
                .where(HomeView.opened_at.is_not(None))
                .order_by(HomeView.user_id)
            )
        )
    return len(publish(deps, users)) if users else 0


def filter_of(session: Session, user_id: str) -> HomeFilter:
    row = session.get(HomeView, user_id)
    if row is None or row.filter_kind not in ("team", "product") or not row.filter_value:
        return HomeFilter()
    return HomeFilter(row.filter_kind, row.filter_value)


def publish(deps: Deps, users: Sequence[str]) -> list[int]:
    """Draw and enqueue the tab of each user (one drawing per distinct filter), then send."""
    nodes = load_nodes(deps)
    with session_scope(deps.engine) as session:
        filters = {user: filter_of(session, user) for user in users}
    views: dict[HomeFilter, dict[str, Any]] = {}
    for chosen in dict.fromkeys(filters.values()):
        views[chosen] = draw(deps, chosen, nodes)
    now = deps.clock()
    ids = []
    with session_scope(deps.engine) as session:
        for user in users:
            ids.append(_enqueue(session, user, views[filters[user]]))
        session.execute(
            sa.update(HomeView).where(HomeView.user_id.in_(list(users))).values(published_at=now)
        )
    deps.outbox.send_now(ids)
    return ids


def draw(deps: Deps, chosen: HomeFilter, nodes: Sequence[ProductNode]) -> dict[str, Any]:
    shown = selected(nodes, chosen)
    note = None
    if chosen.kind != "all" and not shown:
        # The team or product went away (renamed, deactivated): show everything, say why.
        note = f"{chosen.label} has no active products any more; showing all products."
        chosen, shown = HomeFilter(), list(nodes)
    tiles = build_tiles(deps, nodes, shown)
    return home_view(chosen=chosen, nodes=nodes, tiles=tiles, now=deps.clock(), note=note)


def _enqueue(session: Session, user: str, view: dict[str, Any]) -> int:
    session.execute(
        sa.update(OutboxItem)
        .where(
            OutboxItem.method == "views.publish",
            OutboxItem.state == "pending",
            OutboxItem.payload["user_id"].astext == user,
            # One being sent right now is left alone; the newer one follows it.
            sa.or_(OutboxItem.locked_until.is_(None), OutboxItem.locked_until < sa.func.now()),
        )
        .values(state="failed", last_error=SUPERSEDED)
    )
    return enqueue(
        session,
        target="slack",
        method="views.publish",
        payload={"user_id": user, "view": view},
    )
