"""The outbox's direct path (`Outbox.add_and_send`): an item written already claimed and sent at
once must stay exactly as durable as one enqueued and claimed in two steps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from bot.outbox import HOLD, Outbox, Result, RetryLater
from storage.db import normalise_url
from storage.models_bot import OutboxItem


class Clock:
    """Starts at the real now, not a fixed day: the database stamps a new item due at its own
    now(), so a clock behind it would never find the item due."""

    def __init__(self) -> None:
        self.start = self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def engine(database_url: URL) -> Iterator[sa.Engine]:
    engine = sa.create_engine(normalise_url(database_url.render_as_string(hide_password=False)))
    yield engine
    engine.dispose()


def row(engine: sa.Engine, item_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(OutboxItem).where(OutboxItem.id == item_id)).one()


def test_an_item_added_and_sent_is_marked_sent_once(engine: sa.Engine) -> None:
    sent: list[dict[str, Any]] = []

    def handler(payload: dict[str, Any], parent: Result | None) -> Result:
        sent.append(payload)
        return {"ok": True}

    outbox = Outbox(engine, {"chat.postMessage": handler}, clock=Clock())
    done = outbox.add_and_send(target="slack", method="chat.postMessage", payload={"text": "hi"})
    assert (done.state, done.result, sent) == ("sent", {"ok": True}, [{"text": "hi"}])
    item = row(engine, done.id)
    assert (item.state, item.attempts, item.result, item.locked_until) == (
        "sent",
        1,
        {"ok": True},
        None,
    )
    assert outbox.deliver() == []  # nothing left for the loop: sent exactly once
    assert len(sent) == 1


def test_a_refused_item_waits_for_its_retry_and_is_then_delivered(engine: sa.Engine) -> None:
    clock, answers = Clock(), ["busy", "ok"]

    def handler(payload: dict[str, Any], parent: Result | None) -> Result:
        if answers.pop(0) == "busy":
            raise RetryLater("rate limited", after=30)
        return {"ok": True}

    outbox = Outbox(engine, {"response_url": handler}, clock=clock)
    first = outbox.add_and_send(target="slack", method="response_url", payload={"url": "u"})
    assert first.state == "pending"
    assert row(engine, first.id).next_attempt_at == clock.start + dt.timedelta(seconds=30)
    assert outbox.deliver() == []  # Retry-After not yet over
    clock.now = clock.start + dt.timedelta(seconds=31)
    [again] = outbox.deliver()
    assert (again.id, again.state) == (first.id, "sent")
    assert row(engine, first.id).attempts == 2


def test_an_item_whose_sender_died_is_delivered_after_its_hold(engine: sa.Engine) -> None:
    """A process that dies between writing the item and sending it loses nothing: the item is
    claimed in its row, so another sender takes it over once the hold runs out."""
    clock, sent = Clock(), []

    def dies(payload: dict[str, Any], parent: Result | None) -> Result:
        raise SystemExit  # the process ends mid-send: no retry bookkeeping happens

    def handler(payload: dict[str, Any], parent: Result | None) -> Result:
        sent.append(payload)
        return {"ok": True}

    with pytest.raises(SystemExit):
        Outbox(engine, {"response_url": dies}, clock=clock).add_and_send(
            target="slack", method="response_url", payload={"url": "u"}
        )
    survivor = Outbox(engine, {"response_url": handler}, clock=clock)
    assert survivor.deliver() == []  # still held by the dead sender
    clock.now = clock.start + HOLD + dt.timedelta(seconds=1)
    [delivery] = survivor.deliver()
    assert delivery.state == "sent"
    assert sent == [{"url": "u"}]
