"""Answer work waits while the web process acknowledges requests (`bot.deps.Acknowledging`)."""

from __future__ import annotations

import threading
import time

from bot.deps import Acknowledging


def test_nothing_to_acknowledge_means_no_wait() -> None:
    started = time.monotonic()
    assert Acknowledging().wait_quiet(timeout=5) is True
    assert time.monotonic() - started < 1


def test_answers_wait_until_the_last_acknowledgement_went_out() -> None:
    acknowledging = Acknowledging()
    waited: list[bool] = []
    with acknowledging, acknowledging:  # two requests being acknowledged
        waiter = threading.Thread(target=lambda: waited.append(acknowledging.wait_quiet(5)))
        waiter.start()
        time.sleep(0.1)
        assert waiter.is_alive()  # still waiting: both are in flight
    waiter.join(5)
    assert waited == [True]


def test_a_steady_stream_delays_an_answer_by_the_timeout_only() -> None:
    acknowledging = Acknowledging()
    with acknowledging:
        started = time.monotonic()
        assert acknowledging.wait_quiet(timeout=0.2) is False
        assert 0.15 < time.monotonic() - started < 2
