"""Accepting a verified Sentry alert: deduplicate, route, and store it with its Slack messages.

`accept` does everything in one transaction: the delivery key, the alert's rows and the outbox
items that will post or update its messages. Either all of it is stored or none of it (the
webhook then fails and Sentry delivers it again). Slack is reached afterwards by the outbox loop,
woken at once, so the webhook is answered in milliseconds even while Slack is slow or down.

Per channel, in order:

1. A message about the same subject (``issue:<id>``, ``metric:<rule id>:<incident id>``)
   exists: the document is merged into it and the message is redrawn in place; news (a new
   event, a regression, a state change in Sentry, a metric alert changing level) goes into its
   thread.
2. Else the burst cap decides: post a new message, or fold the alert into the channel's summary
   message (posted once per burst, then edited as it grows).

Concurrent webhooks cannot race each other past these rules: a transaction-scoped advisory lock
per channel serialises the decisions about that channel (and the unique constraints stand
behind it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from bot.alerts.blocks import reply_message
from bot.alerts.context import OwnedProduct, RoutingContext, load_context, subscribed_channels
from bot.alerts.document import merge, subject_of, to_document
from bot.alerts.messages import (
    SUMMARY,
    enqueue_post,
    enqueue_redraw,
    enqueue_reply,
)
from bot.alerts.routing import BurstAction, BurstCap, Route, RoutingRules, route_alert
from bot.alerts.rules import rules_from_env
from bot.alerts.sentry_webhook import SentryAlert
from bot.deps import Deps
from storage.db import session_scope
from storage.models_bot import AlertMessage, WebhookDelivery

log = logging.getLogger("sitrep.alerts")

# Issue actions that say what state the issue is in now, as the bot's status.
STATUS_OF_ACTION = {
    "resolved": "resolved",
    "ignored": "ignored",
    "archived": "ignored",
    "unresolved": "open",
}
# Issue actions about an issue the channel never heard of: not worth a message of their own.
QUIET_WITHOUT_MESSAGE = ("resolved", "ignored", "archived", "assigned")
CHANNEL_CHARS = 32  # alert_messages.channel_id
DEDUP_FOR = "1 day"  # how long a delivery key is remembered (Sentry retries within minutes)


def accept(deps: Deps, alert: SentryAlert) -> str:
    """Store and route one alert; the outcome's first word (before ``:``) is a metrics label:
    duplicate, posted, folded, threaded, updated, skipped, muted or unrouted."""
    now = deps.clock()
    with session_scope(deps.engine) as session:
        first = session.execute(
            insert(WebhookDelivery)
            .values(key=alert.delivery_key)
            .on_conflict_do_nothing(index_elements=[WebhookDelivery.key])
            .returning(WebhookDelivery.key)
        ).scalar_one_or_none()
        if first is None:
            return "duplicate"
        _forget_old_deliveries(session)
        outcome, items = _route(deps, session, alert, now)
        session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.key == alert.delivery_key)
            .values(outcome=outcome[:2000])
        )
    log.info("Sentry %s %s: %s", alert.kind, alert.action, outcome)
    if items:
        deps.outbox.wake()  # the outbox loop sends them now; this answer does not wait for Slack
    return outcome


def _forget_old_deliveries(session: Session) -> None:
    """Drop keys older than `DEDUP_FOR`, a few at a time; rows another webhook is already
    dropping are skipped, so a flood of webhooks never queues up behind this."""
    old = (
        sa.select(WebhookDelivery.key)
        .where(WebhookDelivery.received_at < sa.func.now() - sa.text(f"interval '{DEDUP_FOR}'"))
        .limit(100)
        .with_for_update(skip_locked=True)
    )
    session.execute(
        sa.delete(WebhookDelivery).where(WebhookDelivery.key.in_(old.scalar_subquery()))
    )


def _route(
    deps: Deps, session: Session, alert: SentryAlert, now: dt.datetime
) -> tuple[str, list[int]]:
    context = load_context(session, now)
    owner = context.owner(alert.project_slugs)
    rules = rules_from_env(deps.env)
    route = route_alert(
        alert, products=context.infos, now=now, maintenance=context.maintenance, rules=rules
    )
    if owner is None:
        return f"unrouted: {route.muted_reason}", []
    muted = _muted_reason(alert, context, owner, route, rules, now)
    if muted:
        return f"muted: {muted}", []
    subscribed = subscribed_channels(session, owner, besides=route.channel)
    channels = list(dict.fromkeys([*([route.channel] if route.channel else []), *subscribed]))
    subject = subject_of(alert)
    if not channels or subject is None:
        reason = route.muted_reason or "the alert names no Sentry issue or alert rule"
        return f"unrouted: {reason}", []
    doc = to_document(alert) | {
        "product": owner.info.name,
        "jira_projects": list(owner.jira_projects),
    }
    if not doc.get("web_url") and alert.issue_id:
        doc["web_url"] = _issue_url(deps, alert.issue_id)
    too_long = [c for c in channels if len(c) > CHANNEL_CHARS]
    if too_long:
        log.error(
            "Slack channel %s: name too long to track (%d characters at most); use the "
            "channel's ID (C0123...) as slack_channel in the products file",
            ", ".join(too_long),
            CHANNEL_CHARS,
        )
        channels = [c for c in channels if c not in too_long]
        if not channels:
            return f"unrouted: channel name too long ({', '.join(too_long)})", []
    # Decisions about a channel are serialised; taking the locks in one order avoids deadlocks
    # between two alerts that go to the same channels.
    for channel in sorted(channels):
        session.execute(
            sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"alerts:{channel}")))
        )
    outcomes, items = [], []
    for channel in channels:
        outcome, new = _to_channel(deps, session, alert, doc, subject, owner, channel, now)
        outcomes.append(f"{outcome} in {channel}")
        items += new
    first = outcomes[0].split(" ", 1)[0]
    return f"{first}: {'; '.join(outcomes)}", items


def _muted_reason(
    alert: SentryAlert,
    context: RoutingContext,
    owner: OwnedProduct,
    route: Route,
    rules: RoutingRules,
    now: dt.datetime,
) -> str | None:
    """Why the alert stays quiet on purpose (level, maintenance), not for a missing channel:
    a product without a channel may still have channels subscribed to its alerts."""
    if route.muted_reason is None:
        return None
    if route.channel is not None:
        return route.muted_reason
    # No channel in the product's chain: ask again as if it had one.
    probe = {
        slug: dataclasses.replace(info, slack_channel=info.slack_channel or "#probe")
        if info.name == owner.info.name
        else info
        for slug, info in context.infos.items()
    }
    again = route_alert(
        alert, products=probe, now=now, maintenance=context.maintenance, rules=rules
    )
    return again.muted_reason


def _issue_url(deps: Deps, issue_id: str) -> str | None:
    org = deps.env.get("SENTRY_ORG")
    return f"{deps.sentry_web_url}/organizations/{org}/issues/{issue_id}/" if org else None


def _to_channel(
    deps: Deps,
    session: Session,
    alert: SentryAlert,
    doc: Mapping[str, Any],
    subject: str,
    owner: OwnedProduct,
    channel: str,
    now: dt.datetime,
) -> tuple[str, list[int]]:
    row = session.scalars(
        sa.select(AlertMessage)
        .where(AlertMessage.subject == subject, AlertMessage.channel_id == channel)
        .with_for_update()
    ).one_or_none()
    if row is not None:
        return _follow_up(deps, session, alert, doc, row)
    if alert.kind == "issue" and alert.action in QUIET_WITHOUT_MESSAGE:
        return "skipped", []
    if alert.kind == "metric_alert" and alert.action == "resolved":
        return "skipped", []
    status = STATUS_OF_ACTION.get(alert.action, "open") if alert.kind == "issue" else "open"
    cap = BurstCap(deps.config.burst_limit, deps.config.burst_per)
    posted = list(
        session.scalars(
            sa.select(AlertMessage.created_at).where(
                AlertMessage.channel_id == channel,
                sa.not_(AlertMessage.folded),
                sa.not_(AlertMessage.subject.startswith(SUMMARY)),
                AlertMessage.created_at > now - cap.per,
            )
        )
    )
    decision = cap.decide(posted, now)
    row = AlertMessage(
        subject=subject,
        channel_id=channel,
        product_id=owner.id,
        alert=dict(doc),
        status=status,
        folded=decision.action is BurstAction.FOLD,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    if decision.action is BurstAction.POST:
        return "posted", [enqueue_post(session, row)]
    return "folded", _fold(session, channel, max(posted), decision.resumes_at, now)


def _fold(
    session: Session,
    channel: str,
    last_post: dt.datetime,
    resumes_at: dt.datetime | None,
    now: dt.datetime,
) -> list[int]:
    """Add to the channel's summary of this burst: the one started after its last own post."""
    summary = session.scalars(
        sa.select(AlertMessage)
        .where(
            AlertMessage.channel_id == channel,
            AlertMessage.subject.startswith(SUMMARY),
            AlertMessage.created_at >= last_post,
        )
        .order_by(AlertMessage.created_at.desc())
        .limit(1)
    ).one_or_none()
    until = resumes_at.isoformat() if resumes_at else None
    if summary is None:
        summary = AlertMessage(
            subject=f"{SUMMARY}{now.isoformat()}",
            channel_id=channel,
            alert={"kind": "summary", "since": now.isoformat(), "resumes_at": until},
            created_at=now,
            updated_at=now,
        )
        session.add(summary)
        session.flush()
        return [enqueue_post(session, summary)]
    summary.alert = {**(summary.alert or {}), "resumes_at": until}
    return enqueue_redraw(session, [summary])


def _follow_up(
    deps: Deps, session: Session, alert: SentryAlert, doc: Mapping[str, Any], row: AlertMessage
) -> tuple[str, list[int]]:
    """A later alert about a subject this channel has a message for."""
    old = row.alert or {}
    row.alert = merge(old, doc)
    row.events += 1
    row.updated_at = deps.clock()
    change: str | None = None
    if alert.kind == "event_alert":
        change = "event"
    elif alert.kind == "metric_alert":
        change = "metric" if old.get("status") != alert.status else None
    elif alert.action in STATUS_OF_ACTION:
        new_status = STATUS_OF_ACTION[alert.action]
        # A click on Resolve already set the status; Sentry's echo of it is no news.
        change = alert.action if new_status != row.status else None
        row.status = new_status
    elif alert.action == "assigned" and old.get("assignee") != alert.assignee:
        change = "assigned"
    if row.folded:
        return "folded", []
    items = enqueue_redraw(session, [row])
    if change is None:
        return "updated", items
    text, blocks = reply_message(row.alert, "unresolved" if change == "unresolved" else change)
    reply = enqueue_reply(
        session,
        row,
        text,
        [b.to_dict() for b in blocks],
        key=f"reply:{alert.delivery_key}:{row.channel_id}"[:255],
    )
    return "threaded", [*items, *([reply] if reply else [])]
