"""``subscribe``, ``unsubscribe`` and ``subscriptions``: a channel's standing orders.

A subscription is one `Subscription` row per channel, kind and product (None: the organisation;
the unique constraint treats NULLs as equal). Subscribing again updates that row: what the new
command says wins, what it leaves out keeps its previous value (``subscribe digest 10:00``
moves the time of a weekly Friday digest, nothing else). A new digest defaults to daily at
09:00 in the subscriber's Slack time zone (``users.info``), UTC when Slack does not say.

Who may change subscriptions is `BotConfig.may_subscribe` (the admins, when a list is set).
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from bot.commands.catalog import load_catalog, product_id
from bot.commands.messages import (
    Body,
    channel_mention,
    ephemeral,
    header,
    notice,
    packed_sections,
    user_mention,
    within,
)
from bot.commands.model import Name, Subscribe, Target, Unsubscribe, UsageError
from bot.commands.names import resolve
from bot.commands.spec import spec
from bot.deps import Deps
from bot.digests.schedule import WEEKDAYS, BadTimeZone, next_run, zone
from bot.slack.blocks import context_block, escape
from bot.slack.blocks import source_text as src
from storage.db import session_scope
from storage.models import Product
from storage.models_bot import Subscription

log = logging.getLogger("sitrep.commands")

DEFAULT_AT = dt.time(9, 0)
DEFAULT_ZONE = "UTC"
UNIQUE = "uq_subscriptions_channel_id_kind_product_id"


def refusal(deps: Deps, what: str = "change this channel's subscriptions") -> Body:
    admins = ", ".join(user_mention(a) for a in sorted(deps.config.admins))
    return notice(
        f"🔒 Only Sitrep admins can {what}: {admins}. Ask one of them to run the command.",
        more="Admins are set with SITREP_ADMINS.",
    )


def subscribe(
    deps: Deps, command: Subscribe, *, user: str, channel: str, channel_name: str = ""
) -> Body:
    if not deps.config.may_subscribe(user):
        return refusal(deps)
    now = deps.clock()
    time_zone = command.time_zone
    if time_zone is None and command.kind == "digest":
        time_zone = user_time_zone(deps, user)
    with session_scope(deps.engine) as session:
        target, pid = _product(session, command.name, command.command)
        row = _existing(session, channel, command.kind, pid)
        before = describe(row) if row is not None else None
        if row is None:
            row = _insert(session, channel, command.kind, pid, user)
        row.channel_name = channel_name[:80] or row.channel_name  # renamed since: the new name
        if command.kind == "digest":
            row.cadence = command.cadence or row.cadence or "daily"
            if command.weekday is not None:
                row.weekday = command.weekday
            row.at_time = command.at or row.at_time or DEFAULT_AT
            if command.time_zone is not None or before is None:
                row.time_zone = time_zone or DEFAULT_ZONE
            row.next_run_at = _next(row, now)
        session.flush()
        after = describe(row)
        next_at, zone_name = row.next_run_at, row.time_zone
    what = f"the {after} for {escape(target.label)}"
    if before is None:
        lines = [f"✅ Subscribed {channel_mention(channel)} to {what}."]
    elif before == after:
        lines = [f"This channel already gets {what}: nothing changed."]
    else:
        lines = [f"✅ Updated this channel's subscription: {what} (was the {before})."]
    if command.kind == "digest" and next_at is not None:
        lines.append(f"Next digest: {when(next_at, zone_name)}.")
    else:
        lines.append(f"Sentry alerts of {escape(target.label)} are posted here as they happen.")
    name = "" if target.kind == "organisation" else f" {escape(target.name)}"
    return notice(
        "\n".join(lines),
        more=f"Stop it with `/sitrep unsubscribe {command.kind}{name}` · "
        "`/sitrep subscriptions` lists this channel's subscriptions.",
    )


def unsubscribe(deps: Deps, command: Unsubscribe, *, user: str, channel: str) -> Body:
    if not deps.config.may_subscribe(user):
        return refusal(deps)
    with session_scope(deps.engine) as session:
        target, pid = _product(session, command.name, command.command)
        row = _existing(session, channel, command.kind, pid)
        if row is not None:
            what = describe(row)
            session.delete(row)
            label = escape(target.label)
            return notice(f"✅ Unsubscribed: this channel no longer gets the {what} for {label}.")
        others = _lines(session, channel)
    text = f"This channel has no {command.kind} subscription for {escape(target.label)}."
    if others:
        text += "\nIts subscriptions:\n" + "\n".join(others)
    return notice(text)


def list_subscriptions(deps: Deps, *, channel: str) -> Body:
    with session_scope(deps.engine) as session:
        lines = _lines(session, channel)
    if not lines:
        return notice(
            "This channel has no subscriptions.",
            more="Try `/sitrep subscribe digest` (daily at 09:00 your time) or "
            "`/sitrep subscribe alerts <product>`.",
        )
    blocks: list[Block] = [header("Subscriptions of this channel")]
    blocks += within(packed_sections(lines), reserve=2, what="subscriptions")
    blocks.append(
        context_block(
            "Change one with `/sitrep subscribe …`, stop one with `/sitrep unsubscribe …`."
        )
    )
    return ephemeral(f"{len(lines)} subscriptions", blocks)


# ---------------------------------------------------------------- helpers


def user_time_zone(deps: Deps, user: str) -> str:
    """The user's time zone from their Slack profile; UTC when Slack cannot say."""
    try:
        response = deps.slack.users_info(user=user)
        found = (response.get("user") or {}).get("tz")
    except (SlackApiError, OSError):
        log.warning("users.info failed for %s; using UTC", user, exc_info=True)
        return DEFAULT_ZONE
    if not isinstance(found, str):
        return DEFAULT_ZONE
    try:
        zone(found)
    except BadTimeZone:
        return DEFAULT_ZONE
    return found


def describe(row: Subscription) -> str:
    """E.g. "weekly digest on Fridays at 16:00 Europe/Berlin", or "alerts"."""
    if row.kind == "alerts":
        return "alerts"
    at = row.at_time.strftime("%H:%M")
    if row.cadence == "weekly":
        return f"weekly digest on {WEEKDAYS[row.weekday].capitalize()}s at {at} {row.time_zone}"
    return f"daily digest at {at} {row.time_zone}"


def when(moment: dt.datetime, time_zone: str) -> str:
    """E.g. "Fri 20 Nov 16:00 Europe/Berlin (15:00 UTC)"."""
    local = moment.astimezone(zone(time_zone))
    utc = moment.astimezone(dt.UTC)
    text = f"{local:%a} {local.day} {local:%b %H:%M} {time_zone}"
    return text if time_zone == "UTC" else f"{text} ({utc:%H:%M} UTC)"


def _product(session: Session, name: Name | None, command: str) -> tuple[Target, int | None]:
    target = resolve(name, load_catalog(session), command=command)
    if target.kind == "organisation":
        return target, None
    pid = product_id(session, target.name)
    if pid is None:  # deactivated between the two reads
        raise UsageError(f"No product called '{target.name}'.", usage=spec(command).help_text())
    return target, pid


def _existing(session: Session, channel: str, kind: str, pid: int | None) -> Subscription | None:
    return session.scalars(
        sa.select(Subscription)
        .where(
            Subscription.channel_id == channel,
            Subscription.kind == kind,
            Subscription.product_id.is_not_distinct_from(pid),
        )
        .with_for_update()
    ).one_or_none()


def _insert(session: Session, channel: str, kind: str, pid: int | None, user: str) -> Subscription:
    """A new row with the defaults, or (someone subscribed at the same moment) theirs, locked."""
    session.execute(
        insert(Subscription)
        .values(channel_id=channel, kind=kind, product_id=pid, created_by=user)
        .on_conflict_do_nothing(constraint=UNIQUE)
    )
    row = _existing(session, channel, kind, pid)
    assert row is not None, "inserted or already there"
    session.refresh(row)  # the server defaults (cadence, at_time, time_zone)
    return row


def _next(row: Subscription, now: dt.datetime) -> dt.datetime:
    try:
        return next_run(
            cadence=row.cadence,
            at=row.at_time,
            time_zone=row.time_zone,
            after=now,
            weekday=row.weekday,
        )
    except BadTimeZone as exc:
        raise UsageError(str(exc), usage=spec("subscribe").help_text()) from None


def _lines(session: Session, channel: str) -> list[str]:
    rows = session.execute(
        sa.select(Subscription, Product.name)
        .outerjoin(Product, Product.id == Subscription.product_id)
        .where(Subscription.channel_id == channel)
        .order_by(Subscription.kind, Product.name.nulls_first())
    )
    lines = []
    for row, product in rows:
        scope = src(product, 100) if product else "the organisation"
        what = escape(describe(row))
        line = f"• *{what[:1].upper()}{what[1:]}* for {scope}"
        if row.kind == "digest" and row.next_run_at is not None:
            line += f" · next {when(row.next_run_at, row.time_zone)}"
        if row.created_by:
            line += f" · by {user_mention(row.created_by)}"
        lines.append(line)
    return lines
