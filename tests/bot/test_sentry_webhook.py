"""Sentry webhooks: signatures, parsing of the official sample bodies and variants, dedup keys."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.errors import MalformedWebhook
from bot.alerts.sentry_webhook import (
    MetricAlertRule,
    SentryAlert,
    is_legacy_plugin_body,
    parse_webhook,
    verify_signature,
)

# CI clones the repository with shared/ beside it.
SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "webhooks"
ISSUE = "sentry_issue_created.json"
EVENT_ALERT = "sentry_event_alert_triggered.min.json"
METRIC_ALERT = "sentry_metric_alert_resolved.json"
LEGACY = "sentry_legacy_webhooks_plugin.json"
SECRET = "f1e2d3c4b5a69788"


def raw(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(raw(name))
    return loaded


def compact(payload: dict[str, Any]) -> bytes:
    """Serialise as Sentry does: compact JSON."""
    return json.dumps(payload, separators=(",", ":")).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse(resource: str, payload: dict[str, Any]) -> SentryAlert:
    alert = parse_webhook(resource, compact(payload))
    assert alert is not None
    return alert


def reason_of(resource: str | None, body: bytes) -> str:
    with pytest.raises(MalformedWebhook) as caught:
        parse_webhook(resource, body)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


# ------------------------------------------------------------------ signatures


@pytest.mark.parametrize("name", [ISSUE, EVENT_ALERT, METRIC_ALERT])
def test_a_valid_signature_over_the_raw_bytes_is_accepted(name: str) -> None:
    body = raw(name)
    assert verify_signature(SECRET, body, sign(body))
    assert verify_signature(SECRET, body, sign(body).upper())  # hex case does not matter


def test_a_tampered_body_or_a_wrong_secret_is_rejected() -> None:
    body = raw(ISSUE)
    signature = sign(body)
    tampered = body.replace(b'"level":"error"', b'"level":"debug"')
    assert tampered != body
    assert not verify_signature(SECRET, tampered, signature)
    assert not verify_signature("another-secret", body, signature)
    assert not verify_signature(SECRET, body, sign(body, "another-secret"))


def test_a_re_serialised_body_no_longer_matches() -> None:
    # Why the endpoint must verify the bytes it received, never json.dumps(json.loads(body)).
    body = raw(ISSUE)
    pretty = json.dumps(json.loads(body)).encode()  # same data, spaces after ':' and ','
    assert not verify_signature(SECRET, pretty, sign(body))


@pytest.mark.parametrize("signature", [None, "", "   ", "not-hex", "é" * 64])
def test_a_missing_or_garbled_signature_is_rejected(signature: str | None) -> None:
    assert not verify_signature(SECRET, raw(ISSUE), signature)


def test_an_empty_secret_never_verifies() -> None:
    body = raw(ISSUE)
    assert not verify_signature("", body, sign(body, ""))


# ------------------------------------------------------------------ the official samples


def test_the_issue_created_sample() -> None:
    alert = parse_webhook("issue", raw(ISSUE), request_id="8f1b6d1c")
    assert alert is not None
    assert (alert.kind, alert.action, alert.status, alert.substatus) == (
        "issue",
        "created",
        "unresolved",
        "escalating",
    )
    assert alert.issue_id == "1170820242"
    assert alert.short_id == "FRONT-END-9"
    assert alert.title == "ReferenceError: blooopy is not defined"
    assert alert.culprit == "?(runner)"
    assert alert.level == "error"
    assert alert.project_slug == "front-end"
    assert alert.project_slugs == ("front-end",)
    assert (alert.count, alert.user_count) == (1, 1)  # count arrives as the string "1"
    seen = datetime(2019, 8, 19, 20, 58, 37, 391000, tzinfo=UTC)
    assert alert.first_seen == seen
    assert alert.last_seen == seen
    assert alert.first_seen is not None
    assert alert.first_seen.utcoffset() is not None
    assert alert.assignee is None
    assert alert.web_url is None  # the sample's permalink is null
    assert alert.request_id == "8f1b6d1c"
    assert alert.event_id is None
    assert alert.alert_rule is None


def test_the_event_alert_sample() -> None:
    alert = parse_webhook("event_alert", raw(EVENT_ALERT))
    assert alert is not None
    assert (alert.kind, alert.action) == ("event_alert", "triggered")
    assert alert.event_id == "e4874d664c3540c1a32eab185f12c5ab"
    assert alert.issue_id == "1117540176"
    assert alert.title == "ReferenceError: heck is not defined"
    assert alert.culprit == "?(<anonymous>)"
    assert alert.level == "error"
    assert alert.rule_name == "Very Important Alert Rule!"
    # The project slug comes from the event's API url (.../projects/test-org/front-end/events/...).
    assert alert.project_slug == "front-end"
    assert alert.web_url == (
        "https://sentry.io/organizations/test-org/issues/1117540176/events/"
        "e4874d664c3540c1a32eab185f12c5ab/"
    )
    assert alert.last_seen == datetime(2019, 8, 19, 21, 6, 17, 677000, tzinfo=UTC)
    assert alert.status is None


def test_the_metric_alert_resolved_sample() -> None:
    alert = parse_webhook("metric_alert", raw(METRIC_ALERT))
    assert alert is not None
    assert (alert.kind, alert.action, alert.status) == ("metric_alert", "resolved", "resolved")
    assert alert.alert_rule == MetricAlertRule(
        id="7",
        name="Too many errors",
        aggregate="count()",
        query="level:error",
        dataset="events",
        time_window=10,
        projects=("bar",),
    )
    assert alert.rule_name == "Too many errors"
    assert alert.incident_id == "4"
    assert alert.title == alert.description_title == "Resolved: Too many errors"
    assert alert.description_text is not None
    assert alert.description_text.startswith("1000 events in the last 10 minutes")
    assert alert.web_url == "https://sentry.io/organizations/baz/alerts/1/"
    assert (alert.project_slug, alert.project_slugs) == ("bar", ("bar",))
    assert alert.started_at == datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC)
    assert alert.closed_at is None
    assert alert.level is None


# ------------------------------------------------------------------ variants of the samples


def issue_variant(action: str, **fields: Any) -> dict[str, Any]:
    payload = sample(ISSUE)
    payload["action"] = action
    payload["data"]["issue"].update(fields)
    return payload


def test_issue_resolved_unresolved_and_archived() -> None:
    resolved = parse(
        "issue", issue_variant("resolved", status="resolved", statusDetails={"inRelease": "1.2"})
    )
    assert (resolved.action, resolved.status) == ("resolved", "resolved")
    unresolved = parse(
        "issue",
        issue_variant(
            "unresolved",
            status="unresolved",
            substatus="regressed",
            lastSeen="2019-08-21T09:00:00.000000Z",
            count="57",
        ),
    )
    assert (unresolved.action, unresolved.substatus, unresolved.count) == (
        "unresolved",
        "regressed",
        57,
    )
    assert unresolved.last_seen == datetime(2019, 8, 21, 9, tzinfo=UTC)
    for action in ("archived", "ignored"):
        assert parse("issue", issue_variant(action, status="ignored")).action == action


def test_issue_assigned_to_a_user_or_a_team() -> None:
    user = {"type": "user", "id": "42", "name": "Ada Lovelace", "email": "ada@acme.test"}
    alert = parse("issue", issue_variant("assigned", assignedTo=user))
    assert (alert.action, alert.assignee) == ("assigned", "ada@acme.test")
    team = {"type": "team", "id": "7", "name": "payments"}
    assert parse("issue", issue_variant("assigned", assignedTo=team)).assignee == "team:payments"


def test_issue_web_url_is_taken_when_sent() -> None:
    url = "https://acme.sentry.io/issues/1170820242/"
    assert parse("issue", issue_variant("created", web_url=url)).web_url == url
    assert parse("issue", issue_variant("created", permalink=url)).web_url == url


def test_issue_level_outside_sentrys_five_is_normalised() -> None:
    assert parse("issue", issue_variant("created", level="sample")).level == "info"
    assert parse("issue", issue_variant("created", level="WARNING")).level == "warning"


def metric_variant(action: str, title: str, status: int) -> dict[str, Any]:
    payload = sample(METRIC_ALERT)
    payload["action"] = action
    payload["data"]["description_title"] = title
    payload["data"]["metric_alert"]["status"] = status
    return payload


@pytest.mark.parametrize(
    ("action", "title", "status"),
    [("critical", "Critical: Too many errors", 20), ("warning", "Warning: Too many errors", 10)],
)
def test_metric_alert_critical_and_warning(action: str, title: str, status: int) -> None:
    alert = parse("metric_alert", metric_variant(action, title, status))
    assert (alert.action, alert.status, alert.title) == (action, action, title)
    assert alert.incident_id == "4"


# ------------------------------------------------------------------ what is refused or ignored


def test_invalid_json_names_the_position() -> None:
    reason = reason_of("issue", raw(ISSUE)[:-5])
    assert reason.startswith("the body is not valid JSON")
    assert "line 1 column" in reason
    assert "UTF-8" in reason_of("issue", b'{"action": "\xff"}')
    assert "not an object" in reason_of("issue", b"[1, 2]")


@pytest.mark.parametrize("resource", ["issue", "event_alert", None])
def test_the_legacy_plugin_body_is_refused_with_what_to_do(resource: str | None) -> None:
    reason = reason_of(resource, raw(LEGACY))
    assert "legacy Sentry WebHooks plugin" in reason
    assert "internal integration" in reason


def test_the_legacy_plugin_body_is_recognised_before_the_signature_check() -> None:
    assert is_legacy_plugin_body(raw(LEGACY))
    for name in (ISSUE, EVENT_ALERT, METRIC_ALERT):
        assert not is_legacy_plugin_body(raw(name))
    assert not is_legacy_plugin_body(b"not json")


def test_missing_data_or_subject_is_refused() -> None:
    no_data = sample(ISSUE)
    del no_data["data"]
    assert reason_of("issue", compact(no_data)) == "the issue webhook has no 'data' object"
    no_issue = sample(ISSUE)
    no_issue["data"] = {}
    assert reason_of("issue", compact(no_issue)) == "the issue webhook has no data.issue"


def test_a_body_that_contradicts_its_resource_header_is_refused() -> None:
    reason = reason_of("issue", raw(METRIC_ALERT))
    assert reason == (
        "Sentry-Hook-Resource says 'issue' but the body is for resource 'metric_alert' "
        "(it has data.metric_alert, not data.issue)"
    )
    assert "is for resource 'issue'" in reason_of("event_alert", raw(ISSUE))


def test_an_unknown_action_lists_the_known_ones() -> None:
    reason = reason_of("issue", compact(issue_variant("exploded")))
    assert reason == (
        "unknown issue action 'exploded'; expected one of: "
        "created, resolved, unresolved, assigned, ignored, archived"
    )
    payload = sample(METRIC_ALERT)
    payload["action"] = "triggered"
    assert "unknown metric_alert action 'triggered'" in reason_of("metric_alert", compact(payload))
    del payload["action"]
    assert reason_of("metric_alert", compact(payload)) == (
        "the metric_alert webhook has no 'action' string"
    )


def test_missing_or_invalid_fields_are_named() -> None:
    payload = sample(ISSUE)
    del payload["data"]["issue"]["title"]
    payload["data"]["issue"]["firstSeen"] = "2019-08-19T20:58:37"  # no time zone
    reason = reason_of("issue", compact(payload))
    assert reason.startswith("the issue webhook has missing or invalid fields: ")
    assert "data.issue.title (field required)" in reason
    assert "data.issue.firstSeen (input should have timezone info)" in reason
    event = sample(EVENT_ALERT)
    del event["data"]["triggered_rule"]
    assert "data.triggered_rule (field required)" in reason_of("event_alert", compact(event))


def test_a_missing_resource_header_is_refused() -> None:
    assert "Sentry-Hook-Resource header is missing" in reason_of(None, raw(ISSUE))


@pytest.mark.parametrize("resource", ["installation", "comment", "error", "seer", "uninstall"])
def test_resources_we_do_not_act_on_are_ignored(resource: str) -> None:
    assert parse_webhook(resource, b'{"action":"created","data":{"installation":{}}}') is None
    assert parse_webhook(resource, b"not even json") is None


def test_the_resource_header_is_read_case_insensitively() -> None:
    alert = parse_webhook(" Issue ", raw(ISSUE))
    assert alert is not None
    assert alert.kind == "issue"


# ------------------------------------------------------------------ delivery keys


def key(resource: str, payload: dict[str, Any], request_id: str | None = None) -> str:
    alert = parse_webhook(resource, compact(payload), request_id=request_id)
    assert alert is not None
    return alert.delivery_key


@pytest.mark.parametrize(
    ("resource", "name"),
    [("issue", ISSUE), ("event_alert", EVENT_ALERT), ("metric_alert", METRIC_ALERT)],
)
def test_a_redelivery_has_the_same_key(resource: str, name: str) -> None:
    # Sentry makes a new Request-ID for every attempt, and the bytes may be re-serialised.
    first = key(resource, sample(name), request_id="aaaa")
    again = key(resource, sample(name), request_id="bbbb")
    reordered = dict(reversed(list(sample(name).items())))
    assert first == again == key(resource, reordered)
    assert first.startswith(f"sentry:{resource}:")


def test_a_new_event_of_the_same_issue_has_a_new_key() -> None:
    created = key("issue", sample(ISSUE))
    other_issue = key("issue", issue_variant("created", id="1170820243"))
    resolved = key("issue", issue_variant("resolved", status="resolved"))
    reopened = key("issue", issue_variant("unresolved", substatus="regressed"))
    resolved_after_regression = key(
        "issue", issue_variant("resolved", status="resolved", lastSeen="2019-08-22T10:00:00Z")
    )
    assigned_ada = key("issue", issue_variant("assigned", assignedTo={"email": "ada@acme.test"}))
    assigned_bob = key("issue", issue_variant("assigned", assignedTo={"email": "bob@acme.test"}))
    keys = [created, other_issue, resolved, reopened, resolved_after_regression]
    assert len({*keys, assigned_ada, assigned_bob}) == 7
    # A created issue is created once: its event count moving on does not make it new.
    assert key("issue", issue_variant("created", count="3")) == created


def test_event_and_metric_alert_keys() -> None:
    event = sample(EVENT_ALERT)
    base = key("event_alert", event)
    event["data"]["event"]["event_id"] = "0" * 32
    assert key("event_alert", event) != base  # another event of the same issue
    other_rule = sample(EVENT_ALERT)
    other_rule["data"]["triggered_rule"] = "Page the on-call"
    assert key("event_alert", other_rule) != base
    resolved = key("metric_alert", sample(METRIC_ALERT))
    critical = key("metric_alert", metric_variant("critical", "Critical: Too many errors", 20))
    later_incident = sample(METRIC_ALERT)
    later_incident["data"]["metric_alert"]["id"] = "5"
    assert len({resolved, critical, key("metric_alert", later_incident)}) == 3
