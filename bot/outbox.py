"""The durable outbox: every call to Slack, Jira or Sentry is a row before it is a request.

Why: a crash, a deploy, a Slack outage or a 429 must delay a message, never drop it. So a
listener writes what it wants sent (`enqueue`, inside its own transaction), and a sender delivers
it (`Outbox.deliver`), right away when it can (`Outbox.send_now` from the same thread, so an
answer is not slower for being durable) and later otherwise (`Outbox.run_forever` in the web and
worker processes).

Delivery is at least once: a sender that dies after Slack said ok but before the row is marked
sent will send it again. Handlers that create things (Jira issues) guard against that themselves.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` and a short hold (``locked_until``), so any
number of processes can send side by side and a crashed sender's rows come back by themselves.
An item with ``after_id`` waits until that item was sent and gets its result (a thread reply takes
its parent's ``ts``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from storage.models_bot import OutboxItem

log = logging.getLogger("sitrep.outbox")

HOLD = dt.timedelta(seconds=60)
MAX_BACKOFF = dt.timedelta(minutes=15)
# The item an item waits for. Built once: aliasing a mapped class copies its columns (~0.5 ms
# a claim, which py-spy showed as a sixth of the web process's CPU when fifty answers went out).
_PARENT = aliased(OutboxItem, name="parent")

Result = dict[str, Any]
Handler = Callable[[dict[str, Any], Result | None], Result]
"""Sends one item: (payload, the result of the item it waited for) -> its own result."""
Hook = Callable[[Session, dict[str, Any], Result], None]
"""Runs in the transaction that marks an item sent (e.g. remember a message's ``ts``)."""


class RetryLater(Exception):
    """The far side is down, busy or rate limiting: try again after ``after`` seconds (None: the
    outbox's own backoff)."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


class Undeliverable(Exception):
    """No retry can change the answer (``channel_not_found``, ``invalid_blocks``): mark failed."""


@dataclass(frozen=True)
class Delivery:
    id: int
    method: str
    state: str
    result: Result | None = None
    error: str | None = None


def enqueue(
    session: Session,
    *,
    target: str,
    method: str,
    payload: Mapping[str, Any],
    key: str | None = None,
    after: int | None = None,
    held_until: dt.datetime | None = None,
) -> int:
    """Add an item (in the caller's transaction); with ``key``, once: the existing id otherwise.
    ``held_until``: the item is claimed by the caller, who sends it now (`Outbox.add_and_send`)."""
    values: dict[str, Any] = {
        "target": target,
        "method": method,
        "payload": dict(payload),
        "key": key,
        "after_id": after,
    }
    if held_until is not None:
        values.update(locked_until=held_until, attempts=1)
    stmt = insert(OutboxItem).values(**values)
    if key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=[OutboxItem.key])
    new_id = session.execute(stmt.returning(OutboxItem.id)).scalar_one_or_none()
    if new_id is not None:
        return int(new_id)
    return int(session.execute(sa.select(OutboxItem.id).where(OutboxItem.key == key)).scalar_one())


class Outbox:
    """Delivers pending items through ``handlers`` (by method name), honouring ``Retry-After``."""

    def __init__(
        self,
        engine: Engine,
        handlers: Mapping[str, Handler],
        *,
        hooks: Mapping[str, Hook] | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.engine = engine
        self.handlers = dict(handlers)
        self.hooks = dict(hooks or {})
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()

    def register(self, method: str, handler: Handler, hook: Hook | None = None) -> None:
        self.handlers[method] = handler
        if hook is not None:
            self.hooks[method] = hook

    # ------------------------------------------------------------------ sending

    def send_now(self, ids: Sequence[int]) -> list[Delivery]:
        """Try these items at once (and whatever waited on them); the rest is left to the loop."""
        done = self._deliver(ids=list(ids))
        self._wake.set()  # items that waited on these may now be due
        return done

    def add_and_send(self, *, target: str, method: str, payload: Mapping[str, Any]) -> Delivery:
        """Write an item already claimed by this sender, then send it at once: for an item that
        waits on nothing, one transaction fewer than `enqueue` + `send_now` (an answer under
        load pays for each). If this process dies before sending, the hold runs out and any
        sender's loop delivers the item, as with a claimed one."""
        with Session(self.engine) as session, session.begin():
            item_id = enqueue(
                session,
                target=target,
                method=method,
                payload=payload,
                held_until=self.clock() + HOLD,
            )
        done = self._send(item_id, method, dict(payload), None)
        self._wake.set()  # an item enqueued meanwhile to wait on this one may now be due
        return done

    def deliver(self, limit: int = 50) -> list[Delivery]:
        """Send up to ``limit`` due items, oldest first."""
        return self._deliver(limit=limit)

    def run_forever(self, interval: float = 1.0) -> None:
        """Deliver until `stop`; `wake` cuts the wait short when something was enqueued."""
        while not self._stop.is_set():
            try:
                sent = self.deliver()
            except Exception:  # the loop must outlive a database blip
                log.exception("outbox delivery failed; retrying in %.0f s", interval)
                sent = []
            if not sent:
                self._wake.wait(interval)
                self._wake.clear()

    def start(self, interval: float = 1.0) -> threading.Thread:
        thread = threading.Thread(
            target=self.run_forever, args=(interval,), name="outbox", daemon=True
        )
        thread.start()
        return thread

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def pending(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).where(OutboxItem.state == "pending")
                ).scalar_one()
            )

    # ------------------------------------------------------------------ internals

    def _deliver(self, *, ids: list[int] | None = None, limit: int = 50) -> list[Delivery]:
        done: list[Delivery] = []
        for item_id, method, payload, parent in self._claim(ids, limit):
            done.append(self._send(item_id, method, payload, parent))
        return done

    def _claim(
        self, ids: list[int] | None, limit: int
    ) -> list[tuple[int, str, dict[str, Any], Result | None]]:
        now = self.clock()
        parent = _PARENT
        due = (
            sa.select(OutboxItem.id)
            .outerjoin(parent, parent.id == OutboxItem.after_id)
            .where(
                OutboxItem.state == "pending",
                OutboxItem.next_attempt_at <= now,
                sa.or_(OutboxItem.locked_until.is_(None), OutboxItem.locked_until < now),
                sa.or_(OutboxItem.after_id.is_(None), parent.state == "sent"),
            )
            .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
            .limit(limit)
            .with_for_update(of=OutboxItem, skip_locked=True)
        )
        if ids is not None:
            due = due.where(OutboxItem.id.in_(ids))
        with self.engine.begin() as conn:
            claimed = [row[0] for row in conn.execute(due)]
            if not claimed:
                return []
            rows = conn.execute(
                sa.update(OutboxItem)
                .where(OutboxItem.id.in_(claimed))
                .values(locked_until=now + HOLD, attempts=OutboxItem.attempts + 1)
                .returning(
                    OutboxItem.id, OutboxItem.method, OutboxItem.payload, OutboxItem.after_id
                )
            ).all()
            parents: dict[int, Result | None] = dict(
                conn.execute(
                    sa.select(OutboxItem.id, OutboxItem.result).where(
                        OutboxItem.id.in_([r.after_id for r in rows if r.after_id])
                    )
                ).all()
            )
        order = {item_id: i for i, item_id in enumerate(claimed)}
        return sorted(
            ((r.id, r.method, r.payload, parents.get(r.after_id)) for r in rows),
            key=lambda r: order[r[0]],
        )

    def _send(
        self, item_id: int, method: str, payload: dict[str, Any], parent: Result | None
    ) -> Delivery:
        handler = self.handlers.get(method)
        try:
            if handler is None:
                raise Undeliverable(f"no handler for {method!r} in this process")
            result = handler(payload, parent)
        except RetryLater as exc:
            return self._retry(item_id, method, str(exc), exc.after)
        except Undeliverable as exc:
            return self._fail(item_id, method, str(exc))
        except Exception as exc:  # an unexpected error is retried, loudly
            log.exception("outbox %s #%d raised; will retry", method, item_id)
            return self._retry(item_id, method, f"{type(exc).__name__}: {exc}", None)
        with Session(self.engine) as session, session.begin():
            session.execute(
                sa.update(OutboxItem)
                .where(OutboxItem.id == item_id)
                .values(
                    state="sent",
                    result=result,
                    sent_at=self.clock(),
                    locked_until=None,
                    last_error=None,
                )
            )
            hook = self.hooks.get(method)
            if hook is not None:
                hook(session, payload, result)
        return Delivery(item_id, method, "sent", result)

    def _retry(self, item_id: int, method: str, reason: str, after: float | None) -> Delivery:
        with self.engine.begin() as conn:
            attempts = conn.execute(
                sa.select(OutboxItem.attempts).where(OutboxItem.id == item_id)
            ).scalar_one()
            wait = (
                dt.timedelta(seconds=after)
                if after is not None
                else min(MAX_BACKOFF, dt.timedelta(seconds=2 ** min(attempts, 10)))
            )
            conn.execute(
                sa.update(OutboxItem)
                .where(OutboxItem.id == item_id)
                .values(next_attempt_at=self.clock() + wait, locked_until=None, last_error=reason)
            )
        log.warning("outbox %s #%d: %s; retrying in %s", method, item_id, reason, wait)
        return Delivery(item_id, method, "pending", error=reason)

    def _fail(self, item_id: int, method: str, reason: str) -> Delivery:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(OutboxItem)
                .where(OutboxItem.id == item_id)
                .values(state="failed", locked_until=None, last_error=reason)
            )
        log.error("outbox %s #%d failed for good: %s", method, item_id, reason)
        return Delivery(item_id, method, "failed", error=reason)
