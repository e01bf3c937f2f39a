"""What the Slack bot remembers: subscriptions, alert messages, Jira links, the outbox, dedup keys.

These rows are the bot's own state, not copies of a source, so they carry no ``source`` /
``external_id`` / ``raw``. Every guarantee the bot makes across processes lives here as a
constraint, not in memory:

- one Jira issue per Sentry issue: `JiraLink`'s primary key is the Sentry issue id, and the
  first ``INSERT`` wins (two people clicking Create at once, or a double click);
- one Slack message per Sentry issue and channel: `AlertMessage` is unique on both;
- a webhook redelivered twenty times is handled once: `WebhookDelivery` is keyed by its
  delivery key;
- a message is never lost to a crash or an outage: it is an `OutboxItem` row before anything is
  sent, and stays ``pending`` until the far side said ok.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, CreatedAt, Timestamp, one_of

SUBSCRIPTION_KINDS = ("digest", "alerts")
CADENCES = ("daily", "weekly")
QUIET_MODES = ("skip", "post")
OUTBOX_TARGETS = ("slack", "jira", "sentry")
OUTBOX_STATES = ("pending", "sent", "failed")
ALERT_STATES = ("open", "resolved", "ignored")
LINK_KINDS = ("created", "linked")
HOME_FILTERS = ("all", "team", "product")


class Subscription(Base):
    """A channel's standing order: a digest on a schedule, or alerts of a product.

    ``product_id`` None means the whole organisation. Times are the subscriber's wall clock in
    ``time_zone`` (an IANA name); ``next_run_at`` is the UTC instant that wall clock next reads
    ``at_time`` (on ``weekday`` for weekly ones, Monday = 0), recomputed after each run so a DST
    change moves the UTC instant, not the local time.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        one_of("kind", SUBSCRIPTION_KINDS),
        one_of("cadence", CADENCES),
        one_of("quiet", QUIET_MODES),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        sa.UniqueConstraint("channel_id", "kind", "product_id", postgresql_nulls_not_distinct=True),
    )

    id: Mapped[BigId]
    channel_id: Mapped[str] = mapped_column(sa.String(32))
    # The channel's name when it was subscribed (Slack sends it with the command): a product's
    # slack_channel may name the same channel, which must not get an alert twice.
    channel_name: Mapped[str | None] = mapped_column(sa.String(80))
    kind: Mapped[str] = mapped_column(sa.String(16))
    product_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    cadence: Mapped[str] = mapped_column(sa.String(16), server_default="daily")
    at_time: Mapped[dt.time] = mapped_column(sa.Time, server_default=sa.text("'09:00'"))
    time_zone: Mapped[str] = mapped_column(sa.String(64), server_default="UTC")
    weekday: Mapped[int] = mapped_column(sa.SmallInteger, server_default="0")
    quiet: Mapped[str] = mapped_column(sa.String(8), server_default="post")
    created_by: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[CreatedAt]
    next_run_at: Mapped[Timestamp | None] = mapped_column(index=True)
    last_run_at: Mapped[Timestamp | None]
    # What the last digest said (a hash of its facts): "nothing changed" means the same hash.
    last_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))


class OutboxItem(Base):
    """One call to make to Slack, Jira or Sentry, durable until it succeeded.

    ``method`` names the call (``chat.postMessage``, ``jira.create_issue``, ...); ``payload`` is
    its arguments. ``after_id`` holds an item back until another was sent (a thread reply waits for
    its parent and takes ``thread_ts`` from the parent's ``result``). ``key`` makes enqueueing
    idempotent. ``failed`` is only for answers that retrying cannot change (``channel_not_found``,
    ``invalid_blocks``); outages and 429s stay ``pending`` with a later ``next_attempt_at``.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        one_of("target", OUTBOX_TARGETS),
        one_of("state", OUTBOX_STATES),
        sa.Index("ix_outbox_due", "next_attempt_at", postgresql_where=sa.text("state = 'pending'")),
    )

    id: Mapped[BigId]
    target: Mapped[str] = mapped_column(sa.String(16))
    method: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]]
    key: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    after_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("outbox.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(sa.String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(server_default="0")
    next_attempt_at: Mapped[CreatedAt]
    # A sender holds an item until this instant; a crashed sender's hold simply expires.
    locked_until: Mapped[Timestamp | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    result: Mapped[dict[str, Any] | None]
    created_at: Mapped[CreatedAt]
    sent_at: Mapped[Timestamp | None]


class AlertMessage(Base):
    """The Slack message of one Sentry issue (or metric alert) in one channel.

    ``subject`` is ``issue:<id>`` or ``metric:<alert rule id>:<incident id>``. ``ts`` is empty
    until the outbox posted it; ``alert`` is the latest alert as rendered, so an action can redraw
    the message; ``actions`` lists who did what, newest last.
    """

    __tablename__ = "alert_messages"
    __table_args__ = (
        one_of("status", ALERT_STATES),
        sa.UniqueConstraint("subject", "channel_id"),
        sa.Index("ix_alert_messages_channel_created", "channel_id", "created_at"),
    )

    id: Mapped[BigId]
    subject: Mapped[str] = mapped_column(sa.String(128))
    channel_id: Mapped[str] = mapped_column(sa.String(32))
    ts: Mapped[str | None] = mapped_column(sa.String(32))
    product_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("products.id", ondelete="SET NULL"), index=True
    )
    alert: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(sa.String(16), server_default="open")
    actions: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=sa.text("'[]'::jsonb")
    )
    # Folded into the channel's burst summary instead of posted on its own.
    folded: Mapped[bool] = mapped_column(server_default=sa.false())
    events: Mapped[int] = mapped_column(server_default="1")
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[CreatedAt] = mapped_column(onupdate=sa.func.now())
    # When the worker nudged the thread of an alert left open without a ticket (once only:
    # `bot.alerts.followups`).
    followed_up_at: Mapped[Timestamp | None]


class JiraLink(Base):
    """The one Jira issue of a Sentry issue. The primary key is the guarantee: whoever inserts
    first creates (or links) the ticket; everyone after is told who did.

    ``jira_key`` is None while the creation is in flight (``claimed_at`` says since when: a claim
    older than a few minutes belongs to a crashed process and may be taken over).
    """

    __tablename__ = "jira_links"
    __table_args__ = (one_of("how", LINK_KINDS),)

    sentry_issue_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    jira_key: Mapped[str | None] = mapped_column(sa.String(64))
    jira_url: Mapped[str | None] = mapped_column(sa.Text)
    how: Mapped[str] = mapped_column(sa.String(16))
    by_user: Mapped[str | None] = mapped_column(sa.String(32))
    claimed_at: Mapped[CreatedAt]
    done_at: Mapped[Timestamp | None]


class WebhookDelivery(Base):
    """A webhook (or Slack event) already handled: a redelivery finds its key and stops here."""

    __tablename__ = "webhook_deliveries"

    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    received_at: Mapped[CreatedAt] = mapped_column(index=True)
    outcome: Mapped[str | None] = mapped_column(sa.Text)


class HomeView(Base):
    """A user's App Home: the filter they chose, and whether they ever opened it (only those
    are republished after a sync)."""

    __tablename__ = "home_views"
    __table_args__ = (one_of("filter_kind", HOME_FILTERS),)

    user_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    filter_kind: Mapped[str] = mapped_column(sa.String(16), server_default="all")
    filter_value: Mapped[str | None] = mapped_column(sa.String(200))
    opened_at: Mapped[Timestamp | None]
    published_at: Mapped[Timestamp | None]


class MaintenanceWindowRow(Base):
    """A planned quiet period: alerts of the product (and its sub-products) are not posted."""

    __tablename__ = "maintenance_windows"
    __table_args__ = (sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    id: Mapped[BigId]
    product_id: Mapped[int] = mapped_column(
        sa.ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[Timestamp]
    ends_at: Mapped[Timestamp] = mapped_column(index=True)
    note: Mapped[str | None] = mapped_column(sa.Text)
    created_by: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[CreatedAt]


class ReportDocument(Base):
    """A computed report, shared by every process (`bot.reports`): the worker refreshes the ones
    people asked for after each sync, so a web process answers from here instead of computing.

    ``key`` is the request without its instant (JSON: kind, scope, window); ``version`` the data
    it read (`Reports.data_version`); ``computed_at`` the instant its window ends. ``asked_at``
    says which documents are worth refreshing.
    """

    __tablename__ = "report_documents"

    key: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSONB)
    version: Mapped[str] = mapped_column(sa.Text)
    computed_at: Mapped[Timestamp]
    asked_at: Mapped[Timestamp] = mapped_column(index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)


BOT_STATE_TABLES = tuple(
    model.__tablename__
    for model in (
        OutboxItem,
        AlertMessage,
        JiraLink,
        WebhookDelivery,
        Subscription,
        HomeView,
        MaintenanceWindowRow,
        ReportDocument,
    )
)
"""Every table above: what the bot remembers of one Slack workspace (the demo, whose fake Slack
starts empty each run, and the tests clear them)."""
