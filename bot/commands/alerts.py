"""``alerts [product|team]``: the latest alert messages Sitrep posted and the top unresolved
Sentry issues of the scope, each linked to Sentry.

Alert messages are the bot's own rows (`AlertMessage`, filled by the webhook); the issues come
from the synced `ErrorIssue` table through the products' Sentry project mappings, ranked by their
events in the last 14 days, so the list shows what is hurting now rather than all-time totals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from slack_sdk.models.blocks import Block
from sqlalchemy.orm import Session

from bot.commands.catalog import load_catalog
from bot.commands.messages import Body, channel_mention, ephemeral, header
from bot.commands.model import Alerts, Target
from bot.commands.mute import muted_lines
from bot.commands.names import resolve
from bot.deps import Deps
from bot.slack.blocks import context_block, escape, fmt_when, link, list_section, number, section
from bot.slack.blocks import source_text as src
from insights.queries.scope import Scope, resolve_scope
from storage.db import session_scope
from storage.models import ErrorEventCount, ErrorIssue, Product
from storage.models_bot import AlertMessage

RECENT = dt.timedelta(days=14)
SHOWN = 8
STATUS_EMOJI = {"open": "🔴", "resolved": "✅", "ignored": "🔕"}


def alerts_answer(deps: Deps, command: Alerts) -> Body:
    now = deps.clock()
    with session_scope(deps.engine) as session:
        target = resolve(command.name, load_catalog(session), command="alerts")
        scope = resolve_scope(
            session,
            product=target.name if target.kind == "product" else None,
            team=target.name if target.kind == "team" else None,
        )
        posted = _posted(session, scope)
        issues = _issues(session, scope, now)
        muted = muted_lines(session, list(scope.product_ids), now)
    blocks: list[Block] = [header(f"Alerts · {target.label}")]
    if muted:
        blocks.append(list_section("🔕 Muted now: their Sentry alerts are held", muted))
    if posted:
        blocks.append(list_section("Latest alerts posted by Sitrep", posted))
    else:
        blocks.append(section(f"Sitrep has posted no Sentry alerts for {escape(target.label)}."))
    if not scope.sentry_projects:
        blocks.append(
            section(
                f"No Sentry project is mapped to {escape(target.label)}: add `sentry_projects` "
                "to it in the products file."
            )
        )
    elif issues:
        blocks.append(
            list_section("Top unresolved Sentry issues (events in the last 14 days)", issues)
        )
    else:
        blocks.append(section("No unresolved Sentry issue was seen in the last 14 days. 🎉"))
    blocks.append(context_block(_footer(target, scope)))
    return ephemeral(f"Alerts for {escape(target.label)}", blocks)


def _footer(target: Target, scope: Scope) -> str:
    projects = ", ".join(escape(p) for p in scope.sentry_projects[:8]) or "none"
    name = "" if target.kind == "organisation" else f" {escape(target.name)}"
    return f"Sentry projects: {projects} · To get alerts here: `/sitrep subscribe alerts{name}`"


def _posted(session: Session, scope: Scope) -> list[str]:
    query = (
        sa.select(AlertMessage, Product.name)
        .outerjoin(Product, Product.id == AlertMessage.product_id)
        .order_by(AlertMessage.updated_at.desc(), AlertMessage.id.desc())
        .limit(SHOWN)
    )
    if scope.kind != "organisation":
        query = query.where(AlertMessage.product_id.in_(scope.product_ids))
    return [_alert_line(row, product) for row, product in session.execute(query)]


def _alert_line(row: AlertMessage, product: str | None) -> str:
    alert: Mapping[str, Any] = row.alert if isinstance(row.alert, Mapping) else {}
    title = alert.get("title") or alert.get("description_title") or row.subject
    label = alert.get("short_id") or alert.get("rule_name") or "alert"
    url = alert.get("web_url") or alert.get("url")
    parts = [
        f"{STATUS_EMOJI.get(row.status, '⚪')} {link(url, label)} {src(title)}",
        escape(alert.get("level") or row.status),
        f"{number(row.events)} events",
    ]
    if product:
        parts.append(src(product, 60))
    parts.append(f"in {channel_mention(row.channel_id)}")
    parts.append(fmt_when(row.updated_at.isoformat(), time=True))
    if row.folded:
        parts.append("folded into a burst summary")
    return " · ".join(parts)


def _issues(session: Session, scope: Scope, now: dt.datetime) -> list[str]:
    if not scope.sentry_projects:
        return []
    since = now - RECENT
    recent = (
        sa.select(
            ErrorEventCount.error_issue_id.label("issue_id"),
            sa.func.sum(ErrorEventCount.count).label("events"),
        )
        .where(ErrorEventCount.day >= since.date(), ErrorEventCount.day <= now.date())
        .group_by(ErrorEventCount.error_issue_id)
        .subquery()
    )
    events = sa.func.coalesce(recent.c.events, 0)
    query = (
        sa.select(
            ErrorIssue.short_id,
            ErrorIssue.title,
            ErrorIssue.level,
            ErrorIssue.url,
            ErrorIssue.project,
            ErrorIssue.user_count,
            ErrorIssue.last_seen,
            events.label("events"),
        )
        .outerjoin(recent, recent.c.issue_id == ErrorIssue.id)
        .where(
            ErrorIssue.project.in_(scope.sentry_projects),
            ErrorIssue.status == "unresolved",
            ErrorIssue.first_seen <= now,
            ErrorIssue.last_seen >= since,
        )
        .order_by(events.desc(), ErrorIssue.last_seen.desc(), ErrorIssue.id)
        .limit(SHOWN)
    )
    lines = []
    several = len(scope.product_ids) > 1
    for row in session.execute(query):
        owner = scope.product_of.get(("sentry_project", row.project))
        parts = [
            f"{link(row.url, row.short_id or 'issue')} {src(row.title)}",
            escape(row.level),
            f"{number(row.events)} events",
            f"{number(row.user_count)} users",
            f"last seen {fmt_when(row.last_seen.isoformat(), year=False, time=True)}",
        ]
        if several and owner:
            parts.append(src(owner, 60))
        lines.append(" · ".join(parts))
    return lines
