"""Sentry integration-platform webhooks -> `SentryAlert` (pure: no HTTP framework, no database).

The endpoint, in this order (all well within Sentry's one-second budget):

1. `verify_signature` with the ``Sentry-Hook-Signature`` header, else 401. An unsigned request
   whose body `is_legacy_plugin_body` may get a 400 with `parse_webhook`'s reason instead: the
   legacy plugin never signs, and "unauthorised" would not tell its sender what to change.
2. `parse_webhook` with the ``Sentry-Hook-Resource`` and ``Request-ID`` headers:
   `MalformedWebhook` -> 400 with its reason; None -> 200 and nothing else.
3. Drop the alert if its `delivery_key` was seen in the last day (a redelivery), else route it.

Facts about Sentry this relies on (its docs, the sample bodies and its `AppPlatformEvent` code):

- The signature is the hex HMAC-SHA256 of the raw body with the client secret; it does not cover
  ``Sentry-Hook-Timestamp``, which therefore proves nothing.
- ``Request-ID`` and ``Sentry-Hook-Timestamp`` are made afresh for every HTTP attempt, so they
  cannot tell a redelivery from a new event: `SentryAlert.delivery_key` is built from the body.
- Event alerts name their project only in the event's API ``url`` (``.../projects/<org>/<slug>/``).
- An issue's ``count`` is a string, ``userCount`` an integer; timestamps are ISO 8601 with ``Z``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from bot.alerts.errors import MalformedWebhook

AlertKind = Literal["issue", "event_alert", "metric_alert"]

ACTIONS: dict[str, tuple[str, ...]] = {
    # "ignored" is the older name of "archived"; Sentry has sent both.
    "issue": ("created", "resolved", "unresolved", "assigned", "ignored", "archived"),
    "event_alert": ("triggered",),
    "metric_alert": ("critical", "warning", "resolved"),
}
"""The resources we act on and their actions. Any other resource is ignored on purpose."""

# The key under `data` that holds each resource's subject: how a body that contradicts its
# Sentry-Hook-Resource header is recognised.
_SUBJECT = {"issue": "issue", "event_alert": "event", "metric_alert": "metric_alert"}

LEVELS = ("fatal", "error", "warning", "info", "debug")
# Levels beyond Sentry's five (same reading as the collector's): "sample" is a sampled message,
# "unknown" an event without a level, "critical" what some SDKs send for fatal.
_LEVEL_ALIASES = {"sample": "info", "unknown": "error", "critical": "fatal"}
# Timestamps must carry a zone (Sentry's end in Z); they are kept in UTC like every stored time.
_Utc = Annotated[AwareDatetime, AfterValidator(lambda when: when.astimezone(UTC))]
_PROJECT_IN_URL = re.compile(r"/projects/[^/]+/([^/]+)/")
_LEGACY_REASON = (
    "this is the legacy Sentry WebHooks plugin format (unsigned, no 'action' and 'data'); "
    "Sitrep accepts only integration-platform webhooks: create an internal integration in "
    "Sentry (Settings > Developer Settings) with this URL and the issue and alert webhooks"
)


@dataclass(frozen=True, kw_only=True)
class SentryAlert:
    """One webhook, reduced to what routing and rendering need. Fields a kind lacks are None.

    `project_slug` is None when the body names no project; a metric alert's `project_slugs` may
    hold several. `assignee` is an email, else a name, or ``team:<name>`` (as in collector rows).
    Event alerts: `last_seen` is when the event happened; `status` is None (not in the payload).
    Metric alerts: `status` is the `action`; `title` is `description_title`; `level` is None.

    `delivery_key` is the same for every delivery of one event and differs between events:
    ``sentry:<kind>:<action>:<subject id>:<hash>``, the hash over what the body says happened
    (never the per-attempt headers): issue created: the issue id (created once); other issue
    actions: id, status, substatus, status details, last seen (a regression moves it), assignee;
    event alert: event id and rule name; metric alert: incident id, rule id, closing time and the
    description (it quotes the metric's value). Keep keys for about a day: long enough for
    Sentry's retries; the same state reached twice within it (resolved, reopened by hand,
    resolved again) collapses into the first message.
    """

    kind: AlertKind
    action: str
    delivery_key: str
    title: str
    project_slug: str | None
    project_slugs: tuple[str, ...] = ()
    web_url: str | None = None
    level: str | None = None
    status: str | None = None
    rule_name: str | None = None
    request_id: str | None = None
    issue_id: str | None = None
    short_id: str | None = None
    culprit: str | None = None
    substatus: str | None = None
    count: int | None = None
    user_count: int | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    assignee: str | None = None
    event_id: str | None = None
    alert_rule: MetricAlertRule | None = None
    incident_id: str | None = None
    description_title: str | None = None
    description_text: str | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None


def sign(secret: str, body: bytes) -> str:
    """The ``Sentry-Hook-Signature`` Sentry sends with ``body``: hex HMAC-SHA256 under the
    integration's client secret (the demo and the tests sign their webhooks with it)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` is the hex HMAC-SHA256 of the raw ``body`` under ``secret``.

    False for a missing or empty signature and for an empty secret (an empty key would let anyone
    sign). Compared in constant time; hex case is ignored.
    """
    if not secret or not signature:
        return False
    signature = signature.strip().lower()
    if not signature.isascii():
        return False  # compare_digest refuses non-ASCII str; a real signature is never that
    return hmac.compare_digest(sign(secret, body), signature)


def is_legacy_plugin_body(body: bytes) -> bool:
    """Whether ``body`` looks like the legacy WebHooks plugin's (top-level project and rules, no
    ``data``), so the endpoint can explain instead of answering a bare 401."""
    try:
        return _is_legacy(_load(body))
    except MalformedWebhook:
        return False


def parse_webhook(
    resource: str | None, body: bytes, *, request_id: str | None = None
) -> SentryAlert | None:
    """Parse a verified body; ``resource`` is the ``Sentry-Hook-Resource`` header.

    Returns None for resources we ignore on purpose (``installation``, ``comment``, ``error``, and
    any resource Sentry adds later), without reading the body: the endpoint answers 200 and Sentry
    stays happy. Raises `MalformedWebhook` for a body that is not a JSON object, the legacy plugin
    format, a missing resource header, a body of another resource than its header says, an unknown
    action, or a missing or invalid field we need. ``request_id`` (the ``Request-ID`` header) is
    kept for the log only; it is not part of the `delivery_key`.
    """
    kind = resource.strip().lower() if resource else None
    if kind is not None and kind not in ACTIONS:
        return None
    payload = _load(body)
    if _is_legacy(payload):
        raise MalformedWebhook(_LEGACY_REASON)
    if kind is None:
        raise MalformedWebhook(
            "the Sentry-Hook-Resource header is missing; Sentry always sends it "
            f"({', '.join(ACTIONS)}, installation, ...)"
        )
    data = payload.get("data")
    if not isinstance(data, dict):
        raise MalformedWebhook(f"the {kind} webhook has no 'data' object")
    _check_subject(kind, data)
    action = payload.get("action")
    if not isinstance(action, str):
        raise MalformedWebhook(f"the {kind} webhook has no 'action' string")
    if action not in ACTIONS[kind]:
        raise MalformedWebhook(
            f"unknown {kind} action {_shorten(action)!r}; expected one of: "
            + ", ".join(ACTIONS[kind])
        )
    if kind == "issue":
        return _issue_alert(action, data, request_id)
    if kind == "event_alert":
        return _event_alert(action, data, request_id)
    return _metric_alert(action, data, request_id)


# ------------------------------------------------------------------ payload models (validation)


class _Payload(BaseModel):
    # Sentry adds fields over time: ignore what we do not read. Ids arrive as strings or numbers.
    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)


class _Project(_Payload):
    slug: str


class _Issue(_Payload):
    id: str
    short_id: str | None = Field(None, alias="shortId")
    title: str
    culprit: str | None = None
    level: str | None = None
    status: str
    substatus: str | None = None
    project: _Project
    count: int | None = None  # a string in the payload; pydantic reads "12" as 12
    user_count: int | None = Field(None, alias="userCount")
    first_seen: _Utc = Field(alias="firstSeen")
    last_seen: _Utc = Field(alias="lastSeen")
    assigned_to: dict[str, Any] | None = Field(None, alias="assignedTo")
    status_details: dict[str, Any] | None = Field(None, alias="statusDetails")
    # Newer payloads add web_url; the documented sample has only permalink (null unless shared).
    web_url: str | None = None
    permalink: str | None = None


class _IssueData(_Payload):
    issue: _Issue


class _Event(_Payload):
    event_id: str
    issue_id: str | None = None
    title: str
    culprit: str | None = None
    level: str | None = None
    url: str | None = None
    web_url: str | None = None
    happened_at: _Utc | None = Field(None, alias="datetime")


class _EventAlertData(_Payload):
    event: _Event
    triggered_rule: str


class MetricAlertRule(_Payload):
    """The metric alert rule behind an incident, as Sentry sends it (``time_window`` in minutes)."""

    id: str
    name: str
    aggregate: str | None = None
    query: str | None = None
    dataset: str | None = None
    time_window: int | None = None
    projects: tuple[str, ...] = ()


class _Incident(_Payload):
    id: str
    alert_rule: MetricAlertRule
    projects: tuple[str, ...] = ()
    date_started: _Utc | None = None
    date_closed: _Utc | None = None


class _MetricAlertData(_Payload):
    metric_alert: _Incident
    description_title: str
    description_text: str | None = None
    web_url: str | None = None


_Model = TypeVar("_Model", bound=_Payload)


def _validate(model: type[_Model], kind: str, data: dict[str, Any]) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        problems = [
            f"data.{'.'.join(str(part) for part in error['loc'])} ({error['msg'].lower()})"
            for error in errors[:3]
        ]
        more = f" and {len(errors) - 3} more" if len(errors) > 3 else ""
        raise MalformedWebhook(
            f"the {kind} webhook has missing or invalid fields: {'; '.join(problems)}{more}"
        ) from None


# ------------------------------------------------------------------ building alerts


def _issue_alert(action: str, data: dict[str, Any], request_id: str | None) -> SentryAlert:
    issue = _validate(_IssueData, "issue", data).issue
    assignee = _assignee(issue.assigned_to)
    # An issue is created once; later actions are told apart by the state they report.
    state = (issue.status, issue.substatus, issue.status_details, issue.last_seen, assignee)
    facts = () if action == "created" else state
    return SentryAlert(
        kind="issue",
        action=action,
        delivery_key=_delivery_key("issue", action, issue.id, *facts),
        title=issue.title,
        project_slug=issue.project.slug,
        project_slugs=(issue.project.slug,),
        web_url=issue.web_url or issue.permalink,
        level=normalise_level(issue.level),
        status=issue.status,
        request_id=request_id,
        issue_id=issue.id,
        short_id=issue.short_id,
        culprit=issue.culprit,
        substatus=issue.substatus,
        count=issue.count,
        user_count=issue.user_count,
        first_seen=issue.first_seen,
        last_seen=issue.last_seen,
        assignee=assignee,
    )


def _event_alert(action: str, data: dict[str, Any], request_id: str | None) -> SentryAlert:
    parsed = _validate(_EventAlertData, "event_alert", data)
    event = parsed.event
    match = _PROJECT_IN_URL.search(event.url or "")
    project = match.group(1) if match else None
    return SentryAlert(
        kind="event_alert",
        action=action,
        delivery_key=_delivery_key("event_alert", action, event.event_id, parsed.triggered_rule),
        title=event.title,
        project_slug=project,
        project_slugs=(project,) if project else (),
        web_url=event.web_url,
        level=normalise_level(event.level),
        rule_name=parsed.triggered_rule,
        request_id=request_id,
        issue_id=event.issue_id,
        culprit=event.culprit,
        last_seen=event.happened_at,
        event_id=event.event_id,
    )


def _metric_alert(action: str, data: dict[str, Any], request_id: str | None) -> SentryAlert:
    parsed = _validate(_MetricAlertData, "metric_alert", data)
    incident, rule = parsed.metric_alert, parsed.metric_alert.alert_rule
    projects = incident.projects or rule.projects
    facts = (rule.id, incident.date_closed, parsed.description_title, parsed.description_text)
    return SentryAlert(
        kind="metric_alert",
        action=action,
        delivery_key=_delivery_key("metric_alert", action, incident.id, *facts),
        title=parsed.description_title,
        project_slug=projects[0] if projects else None,
        project_slugs=projects,
        web_url=parsed.web_url,
        status=action,
        rule_name=rule.name,
        request_id=request_id,
        alert_rule=rule,
        incident_id=incident.id,
        description_title=parsed.description_title,
        description_text=parsed.description_text,
        started_at=incident.date_started,
        closed_at=incident.date_closed,
    )


# ------------------------------------------------------------------ helpers


def normalise_level(level: str | None) -> str:
    """Sentry's level as one of `LEVELS` (missing or unknown: ``error``, so nothing is dropped)."""
    level = (level or "error").lower()
    return level if level in LEVELS else _LEVEL_ALIASES.get(level, "error")


def _load(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedWebhook(
            f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except (UnicodeDecodeError, RecursionError):
        raise MalformedWebhook("the body is not UTF-8 JSON, or is nested too deeply") from None
    if not isinstance(payload, dict):
        raise MalformedWebhook(f"the body is a JSON {type(payload).__name__}, not an object")
    return payload


def _is_legacy(payload: dict[str, Any]) -> bool:
    # The plugin posts the issue itself at the top level; the integration platform wraps it.
    return "data" not in payload and bool({"project_slug", "triggering_rules"} & payload.keys())


def _check_subject(kind: str, data: dict[str, Any]) -> None:
    expected = _SUBJECT[kind]
    if expected in data:
        return
    actual = next((other for other, key in _SUBJECT.items() if key in data), None)
    if actual is not None:
        raise MalformedWebhook(
            f"Sentry-Hook-Resource says {kind!r} but the body is for resource {actual!r} "
            f"(it has data.{_SUBJECT[actual]}, not data.{expected})"
        )
    raise MalformedWebhook(f"the {kind} webhook has no data.{expected}")


def _assignee(assigned: dict[str, Any] | None) -> str | None:
    # A user (email joins people across tools) or a team, named "team:<slug>" as in the collector.
    if not assigned:
        return None
    if assigned.get("type") == "team":
        return f"team:{assigned.get('name') or assigned.get('id')}"
    found = assigned.get("email") or assigned.get("name") or assigned.get("id")
    return str(found) if found else None


def _delivery_key(kind: str, action: str, subject: str, *facts: object) -> str:
    canonical = json.dumps(
        [kind, action, subject, *facts], sort_keys=True, separators=(",", ":"), default=str
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:20]
    return f"sentry:{kind}:{action}:{_shorten(subject, 40)}:{digest}"


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
