"""`bot.slack.signing` signs what Slack signs, and refuses what Slack's verifier refuses."""

from __future__ import annotations

import time

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.slack.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b"token=x&team_id=T1&command=%2Fsitrep&text=dora+checkout+30d&user_id=U0ALICE"

# The worked example of Slack's "Verifying requests from Slack" guide: an independent check
# that `sign` computes Slack's signature, not merely one slack_sdk agrees with.
SLACK_DOC_TIMESTAMP = 1531420618
SLACK_DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    "%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_sign_matches_slacks_documented_example() -> None:
    headers = sign(SECRET, SLACK_DOC_BODY.encode(), SLACK_DOC_TIMESTAMP)
    assert headers == {
        SIGNATURE_HEADER: SLACK_DOC_SIGNATURE,
        TIMESTAMP_HEADER: str(SLACK_DOC_TIMESTAMP),
    }


def test_a_signed_request_passes_slack_sdks_verifier_and_ours() -> None:
    headers = sign(SECRET, BODY)
    assert abs(int(headers[TIMESTAMP_HEADER]) - time.time()) < 5  # signed "now" by default
    assert SignatureVerifier(SECRET).is_valid_request(BODY, headers)
    assert verify(SECRET, BODY, headers)
    assert verify(SECRET, BODY.decode(), headers)  # str and bytes bodies sign the same
    lowered = {k.lower(): v for k, v in headers.items()}  # as servers hand headers over
    assert verify(SECRET, BODY, lowered)


def test_a_tampered_body_is_rejected() -> None:
    headers = sign(SECRET, BODY)
    tampered = BODY.replace(b"30d", b"90d")
    assert not SignatureVerifier(SECRET).is_valid_request(tampered, headers)
    assert not verify(SECRET, tampered, headers)


def test_a_wrong_secret_is_rejected() -> None:
    headers = sign("not-the-secret", BODY)
    assert not SignatureVerifier(SECRET).is_valid_request(BODY, headers)
    assert not verify(SECRET, BODY, headers)


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_a_timestamp_outside_five_minutes_is_rejected(age: int) -> None:
    now = 1_800_000_000
    headers = sign(SECRET, BODY, timestamp=now - age)
    assert not verify(SECRET, BODY, headers, now=now)
    assert verify(SECRET, BODY, headers, now=now - age)  # the same headers, back then
    # slack_sdk agrees: a stale request is refused however well it is signed.
    assert not SignatureVerifier(SECRET).is_valid_request(BODY, sign(SECRET, BODY, now - age))


def test_the_window_edge_and_a_narrower_tolerance() -> None:
    now = 1_800_000_000
    headers = sign(SECRET, BODY, timestamp=now - 300)
    assert verify(SECRET, BODY, headers, now=now)
    assert not verify(SECRET, BODY, headers, now=now, tolerance=60)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {SIGNATURE_HEADER: "v0=abc"},
        {TIMESTAMP_HEADER: "1800000000"},
        {SIGNATURE_HEADER: "v0=abc", TIMESTAMP_HEADER: "yesterday"},
        {SIGNATURE_HEADER: "", TIMESTAMP_HEADER: "1800000000"},
    ],
)
def test_missing_or_malformed_headers_are_false_not_errors(headers: dict[str, str]) -> None:
    assert verify(SECRET, BODY, headers, now=1_800_000_000) is False
