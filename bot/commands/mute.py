"""``mute``, ``unmute``: maintenance windows, which hold a product's Sentry alerts for a while.

A window (`MaintenanceWindowRow`) mutes the product and everything under it
(`bot.alerts.routing`); the webhook reads the windows for every alert, so a mute applies to the
very next one. Muting a product that is already muted moves the end of its current window (one
window per mute, not a pile of overlapping ones); unmuting ends it now. The confirmation is
posted in the channel, so whoever watches the alerts sees who muted them and until when.

Who may mute is who may change subscriptions (`BotConfig.may_subscribe`): both decide what a
channel hears.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from slack_sdk.models.blocks import Block
from sqlalchemy.orm import Session

from bot.commands.catalog import load_catalog, product_id
from bot.commands.messages import (
    Body,
    ephemeral,
    header,
    notice,
    packed_sections,
    user_mention,
    within,
)
from bot.commands.model import Mute, Name, Target, Unmute, UsageError
from bot.commands.names import resolve
from bot.commands.spec import DEFAULT_MUTE, spec
from bot.commands.subscriptions import refusal, user_time_zone, when
from bot.deps import Deps
from bot.digests.schedule import zone
from bot.slack.blocks import context_block, escape
from bot.slack.blocks import source_text as src
from insights.text import plural
from storage.db import session_scope
from storage.models import Product
from storage.models_bot import MaintenanceWindowRow
from storage.queries import product_ancestor_ids

HOW = "`/sitrep unmute {name}` ends it early · `/sitrep mute` lists what is muted."


def mute(deps: Deps, command: Mute, *, user: str) -> Body:
    if command.name is None:
        return list_mutes(deps, user=user)
    if not deps.config.may_subscribe(user):
        return refusal(deps, "mute alerts")
    now = deps.clock()
    time_zone = command.time_zone or user_time_zone(deps, user)
    ends = _end(command, now, time_zone)
    with session_scope(deps.engine) as session:
        target, pid = _product(session, command.name, "mute")
        current = [row for row, _ in _active(session, [pid], now, lock=True)]
        if current:  # already muted: move the end of its window, keep its start
            row = max(current, key=lambda r: r.ends_at)
            verb = "extended the mute of" if ends >= row.ends_at else "shortened the mute of"
            row.ends_at = ends
            row.note = command.note or row.note
        else:
            row = MaintenanceWindowRow(
                product_id=pid, starts_at=now, ends_at=ends, note=command.note, created_by=user
            )
            session.add(row)
            verb = "muted"
        note = row.note
    lines = [
        f"🔕 {user_mention(user)} {verb} the Sentry alerts of *{escape(target.name)}* and its "
        f"sub-products until {when(ends, time_zone)} ({_span(ends - now)})."
    ]
    if note:
        lines.append(f"Reason: {src(note, 300)}")
    body = notice("\n".join(lines), more=HOW.format(name=escape(target.name)))
    body["response_type"] = "in_channel"  # the channel sees why its alerts went quiet
    return body


def unmute(deps: Deps, command: Unmute, *, user: str) -> Body:
    if not deps.config.may_subscribe(user):
        return refusal(deps, "unmute alerts")
    now = deps.clock()
    with session_scope(deps.engine) as session:
        target, pid = _product(session, command.name, "unmute")
        ended = 0
        for row, _ in _active(session, [pid], now, lock=True):
            if row.starts_at < now:
                row.ends_at = now
            else:  # started this very instant: nothing to keep
                session.delete(row)
            ended += 1
        parents = [] if ended else _active(session, product_ancestor_ids(session, [pid]), now)
    name = escape(target.name)
    if ended:
        body = notice(
            f"🔔 {user_mention(user)} unmuted *{name}*: its Sentry alerts are posted again."
        )
        body["response_type"] = "in_channel"
        return body
    text = f"*{name}* is not muted."
    for row, parent_name in parents:
        parent = escape(parent_name)
        text += (
            f"\nIts parent *{parent}* is, until {when(row.ends_at, 'UTC')}, which holds "
            f"{name}'s alerts too: `/sitrep unmute {parent}`."
        )
    return notice(text)


def list_mutes(deps: Deps, *, user: str) -> Body:
    now = deps.clock()
    with session_scope(deps.engine) as session:
        rows = session.execute(
            sa.select(MaintenanceWindowRow, Product.name)
            .join(Product, Product.id == MaintenanceWindowRow.product_id)
            .where(MaintenanceWindowRow.ends_at > now)
            .order_by(MaintenanceWindowRow.starts_at, Product.name)
        ).all()
    if not rows:
        return notice(
            "Nothing is muted: Sentry alerts are posted as they happen.",
            more="Hold a product's alerts with `/sitrep mute <product> 2h`.",
        )
    time_zone = user_time_zone(deps, user)
    lines = [mute_line(row, name, now, time_zone) for row, name in rows]
    blocks: list[Block] = [header("Muted products")]
    blocks += within(packed_sections(lines), reserve=2, what="muted products")
    blocks.append(context_block("A mute holds the product's sub-products' alerts too."))
    return ephemeral(f"{len(lines)} muted", blocks)


def mute_line(row: MaintenanceWindowRow, product: str, now: dt.datetime, time_zone: str) -> str:
    """E.g. "• *Checkout* until Tue 24 Nov 16:00 UTC (2 hours left) · by @alice · deploy"."""
    if row.starts_at > now:
        span = f"from {when(row.starts_at, time_zone)} until {when(row.ends_at, time_zone)}"
    else:
        span = f"until {when(row.ends_at, time_zone)} ({_span(row.ends_at - now)} left)"
    line = f"• *{src(product, 100)}* {span}"
    if row.created_by:
        line += f" · by {user_mention(row.created_by)}"
    if row.note:
        line += f" · {src(row.note, 200)}"
    return line


def muted_lines(session: Session, product_ids: list[int], now: dt.datetime) -> list[str]:
    """The mutes that hold alerts of these products now: their own and their ancestors'."""
    ids = {*product_ids, *product_ancestor_ids(session, product_ids)}
    return [mute_line(row, name, now, "UTC") for row, name in _active(session, ids, now)]


# ---------------------------------------------------------------- helpers


def _end(command: Mute, now: dt.datetime, time_zone: str) -> dt.datetime:
    """When the mute ends: ``until`` the next such time of day in ``time_zone``, else after
    ``length`` (default `DEFAULT_MUTE`)."""
    if command.until is None:
        return now + (command.length or DEFAULT_MUTE)
    local = now.astimezone(zone(time_zone))
    day = local.date()
    ends = dt.datetime.combine(day, command.until, tzinfo=local.tzinfo)
    if ends <= local:  # 18:00 asked at 19:00: tomorrow's
        ends = dt.datetime.combine(day + dt.timedelta(days=1), command.until, tzinfo=local.tzinfo)
    return ends.astimezone(dt.UTC)


def _span(length: dt.timedelta) -> str:
    """E.g. "2 hours", "1 hour 30 minutes", "3 days"."""
    minutes = max(1, round(length.total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    shown = [plural(n, unit) for n, unit in parts if n]
    return " ".join(shown[:2])


def _product(session: Session, name: Name, command: str) -> tuple[Target, int]:
    target = resolve(name, load_catalog(session), command=command)
    pid = product_id(session, target.name) if target.kind == "product" else None
    if pid is None:  # "all", or deactivated between the two reads
        raise UsageError(
            f"Mutes are per product; '{name.text}' is not one.", usage=spec(command).help_text()
        )
    return target, pid


def _active(
    session: Session, product_ids: Iterable[int], now: dt.datetime, *, lock: bool = False
) -> list[tuple[MaintenanceWindowRow, str]]:
    """The windows of these products that cover ``now``, with the product's name (``lock``: to
    change them)."""
    ids = sorted(product_ids)
    if not ids:
        return []
    query = (
        sa.select(MaintenanceWindowRow, Product.name)
        .join(Product, Product.id == MaintenanceWindowRow.product_id)
        .where(
            MaintenanceWindowRow.product_id.in_(ids),
            MaintenanceWindowRow.starts_at <= now,
            MaintenanceWindowRow.ends_at > now,
        )
        .order_by(MaintenanceWindowRow.ends_at)
    )
    if lock:
        query = query.with_for_update(of=MaintenanceWindowRow)
    return [(row, name) for row, name in session.execute(query).tuples()]
