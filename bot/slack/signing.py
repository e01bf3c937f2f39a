"""Slack request signing: the one helper that signs and checks ``X-Slack-Signature``.

Slack signs every request it sends (slash commands, interactivity, events) with the app's signing
secret: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{raw body}``, the timestamp in
``X-Slack-Request-Timestamp``. A request older (or newer) than five minutes is refused, so a
captured request cannot be replayed later.

The tests, ``sitrep console`` and the demo sign with `sign` and hand the result to the Bolt app,
which checks it with the same `slack_sdk.signature.SignatureVerifier` that `verify` uses: what is
signed here is exactly what Bolt accepts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from slack_sdk.signature import Clock, SignatureVerifier

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
TOLERANCE = 300  # seconds; Slack's own window, hard-coded in SignatureVerifier as well


def sign(secret: str, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
    """The two headers that make ``body`` a request Slack could have sent (now, by default).

    Sign the exact bytes that go on the wire: a re-serialised body no longer matches.
    """
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None  # only None when the timestamp is None
    return {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: ts}


def verify(
    secret: str,
    body: bytes | str,
    headers: Mapping[str, str],
    now: float | None = None,
    tolerance: int = TOLERANCE,
) -> bool:
    """Whether ``headers`` carry a valid signature of ``body`` made within ``tolerance`` of ``now``.

    Header names are matched case-insensitively. ``tolerance`` can only narrow Slack's five
    minutes (the verifier enforces those regardless). A missing or malformed header is ``False``,
    never an exception: this runs on untrusted input.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        ts = int(lowered.get(TIMESTAMP_HEADER.lower(), ""))
    except ValueError:
        return False
    at = time.time() if now is None else now
    if abs(at - ts) > tolerance:
        return False
    return SignatureVerifier(secret, clock=_At(at)).is_valid_request(body, lowered)


class _At(Clock):
    """A clock stopped at one instant, so ``now`` is honoured by the verifier too."""

    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at
