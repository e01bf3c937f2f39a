"""Sending the digests that are due: one subscription at a time, each in one transaction.

`run_due` is the worker's minute job. For each digest subscription whose ``next_run_at`` has
come, it claims the row (``FOR UPDATE SKIP LOCKED``: two workers, or two threads, never take the
same one; the second finds it locked, skips it, and by the time it could look again the first has
moved ``next_run_at`` on), builds the digest, and in the same transaction enqueues the messages
and advances the schedule. So either both happen or neither: a crash between them cannot send a
digest twice or lose one, and a Slack outage only delays the messages, which wait in the outbox.

A worker that was down for a day finds the subscription overdue once: it sends one digest (of
now, not of the missed morning) and schedules the next from now, never a backlog.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.deps import Deps
from bot.digests.build import build_digest
from bot.digests.model import Digest
from bot.digests.schedule import next_run
from bot.outbox import enqueue
from insights.errors import InsightsError
from storage.db import session_scope
from storage.models import Product
from storage.models_bot import Subscription

log = logging.getLogger("sitrep.digests")

MAX_PER_RUN = 200  # subscriptions handled by one call; the rest wait a minute


@dataclass(frozen=True)
class DigestRun:
    """What happened to one due subscription.

    ``outcome``: ``posted`` (a digest was enqueued), ``quiet`` (the one-line "all quiet"),
    ``skipped`` (nothing changed and the subscription asked for silence), ``failed`` (the digest
    could not be built; see ``error``). ``items`` are the outbox ids, the main message first.
    """

    subscription_id: int
    channel_id: str
    scheduled_at: dt.datetime
    outcome: str
    items: tuple[int, ...] = ()
    error: str | None = None


def run_due(deps: Deps, now: dt.datetime, *, limit: int = MAX_PER_RUN) -> list[DigestRun]:
    """Build and enqueue every digest due at ``now`` (the business clock), then try to send them."""
    runs: list[DigestRun] = []
    tried: set[int] = set()
    while len(runs) < limit:
        run = _run_one(deps, now, exclude=tried)
        if run is None:
            break
        tried.add(run.subscription_id)
        runs.append(run)
        if run.items:
            # The main message first: the replies wait for its ts (the outbox loop sends them
            # as soon as it is sent, or after the outage that held it back).
            deps.outbox.send_now(run.items[:1])
            deps.outbox.send_now(run.items[1:])
    return runs


class _Broken(Exception):
    """Leaves the transaction (rolling it back) with the run to report."""

    def __init__(self, run: DigestRun) -> None:
        super().__init__(run.error)
        self.run = run


def _run_one(deps: Deps, now: dt.datetime, *, exclude: Collection[int]) -> DigestRun | None:
    try:
        return _claim_and_run(deps, now, exclude=exclude)
    except _Broken as broken:
        return broken.run


def _claim_and_run(deps: Deps, now: dt.datetime, *, exclude: Collection[int]) -> DigestRun | None:
    with session_scope(deps.engine) as session:
        query = (
            sa.select(Subscription)
            .where(
                Subscription.kind == "digest",
                Subscription.next_run_at <= now,
            )
            .order_by(Subscription.next_run_at, Subscription.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if exclude:
            query = query.where(Subscription.id.not_in(list(exclude)))
        sub = session.scalars(query).first()
        if sub is None:
            return None
        scheduled = sub.next_run_at or now
        product = session.get(Product, sub.product_id) if sub.product_id is not None else None
        try:
            digest = build_digest(
                deps,
                product=product.name if product is not None else None,
                now=now,
                previous_fingerprint=sub.last_fingerprint,
                cadence=sub.cadence,
            )
        except InsightsError as exc:
            # The product was deactivated or renamed: retrying cannot help, so move on to the
            # next run (the subscription itself stays, for `/sitrep subscriptions` to show).
            log.warning("digest of subscription %d not built: %s", sub.id, exc)
            _advance(sub, now)
            return DigestRun(sub.id, sub.channel_id, scheduled, "failed", error=str(exc))
        except Exception as exc:  # one broken digest must not hold back the others
            # Rolled back and left due: the next minute's run tries again.
            log.exception("digest of subscription %d failed; retrying next minute", sub.id)
            run = DigestRun(sub.id, sub.channel_id, scheduled, "failed", error=repr(exc))
            raise _Broken(run) from exc
        items: tuple[int, ...] = ()
        if digest.quiet and sub.quiet == "skip":
            outcome = "skipped"
        else:
            items = _enqueue(session, sub, digest, scheduled)
            outcome = "quiet" if digest.quiet else "posted"
        sub.last_fingerprint = digest.fingerprint
        sub.last_run_at = now
        _advance(sub, now)
        return DigestRun(sub.id, sub.channel_id, scheduled, outcome, items)


def _advance(sub: Subscription, now: dt.datetime) -> None:
    # From now, not from the missed instant: a worker back after a day sends one digest.
    sub.next_run_at = next_run(
        cadence=sub.cadence,
        at=sub.at_time,
        time_zone=sub.time_zone,
        after=now,
        weekday=sub.weekday,
    )


def _enqueue(
    session: Session, sub: Subscription, digest: Digest, scheduled: dt.datetime
) -> tuple[int, ...]:
    """The main message and its thread replies, keyed by subscription and scheduled instant (so
    the same run can never be enqueued twice)."""
    key = f"digest:{sub.id}:{scheduled.astimezone(dt.UTC).isoformat()}"
    main = enqueue(
        session,
        target="slack",
        method="chat.postMessage",
        payload={
            "channel": sub.channel_id,
            "text": digest.main.text,
            "blocks": digest.main.blocks,
            "unfurl_links": False,
            "unfurl_media": False,
        },
        key=key,
    )
    replies = [
        enqueue(
            session,
            target="slack",
            method="chat.postMessage",
            payload={
                "channel": sub.channel_id,
                "text": post.text,
                "blocks": post.blocks,
                "in_thread": True,
                "unfurl_links": False,
                "unfurl_media": False,
            },
            key=f"{key}:thread:{n}",
            after=main,
        )
        for n, post in enumerate(digest.thread, start=1)
    ]
    return (main, *replies)
