"""``sync status``: how fresh each source's data is, and which scopes failed.

Per source: when it last synced successfully ("Sentry synced 5 min ago"). Per scope (a Sentry
project, a Jira project or board, a repo): its latest run with status, finish time, rows and
error, failures first, and for a failed scope when it last succeeded, because that is how stale
its numbers are.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from slack_sdk.models.blocks import Block
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from bot.commands.messages import Body, ephemeral, header, packed_sections, within
from bot.deps import Deps
from bot.slack.blocks import context_block, escape, fmt_when, number, section
from bot.slack.blocks import source_text as src
from storage.db import session_scope
from storage.models import SyncRun

SOURCE_NAMES = {"sentry": "Sentry", "jira": "Jira", "github": "GitHub"}
STATUS_EMOJI = {"succeeded": "✅", "failed": "❌", "running": "⏳"}


@dataclass(frozen=True)
class ScopeRun:
    source: str
    scope: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    rows: int
    error: str | None
    last_success: dt.datetime | None


def latest_runs(session: Session) -> list[ScopeRun]:
    """The latest run of every source and scope, with the scope's last successful finish."""
    latest = (
        sa.select(SyncRun)
        .ext(distinct_on(SyncRun.source, SyncRun.scope))
        .order_by(SyncRun.source, SyncRun.scope, SyncRun.started_at.desc(), SyncRun.id.desc())
        .subquery()
    )
    success = (
        sa.select(
            SyncRun.source,
            SyncRun.scope,
            sa.func.max(SyncRun.finished_at).label("at"),
        )
        .where(SyncRun.status == "succeeded")
        .group_by(SyncRun.source, SyncRun.scope)
        .subquery()
    )
    query = sa.select(
        latest.c.source,
        latest.c.scope,
        latest.c.status,
        latest.c.started_at,
        latest.c.finished_at,
        latest.c.rows,
        latest.c.error,
        success.c.at,
    ).outerjoin(
        success, sa.and_(success.c.source == latest.c.source, success.c.scope == latest.c.scope)
    )
    return [ScopeRun(*row) for row in session.execute(query)]


def ago(moment: dt.datetime | None, now: dt.datetime) -> str:
    """E.g. "5 min ago", "3 h ago", "2 days ago"; "never" without a moment."""
    if moment is None:
        return "never"
    seconds = (now - moment).total_seconds()
    if seconds < 60:  # a run stamped by the database's clock may be ahead of the business one
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600:.0f} h ago"
    return f"{seconds // 86400:.0f} days ago"


def sync_status_answer(deps: Deps) -> Body:
    now = deps.clock()
    with session_scope(deps.engine) as session:
        runs = latest_runs(session)
    if not runs:
        text = (
            "Nothing has synced yet. Run `sitrep sync` once, then `sitrep worker` keeps the "
            "data fresh."
        )
        return ephemeral("Nothing has synced yet", [header("Sync status"), section(text)])
    by_source: dict[str, list[ScopeRun]] = defaultdict(list)
    for run in runs:
        by_source[run.source].append(run)
    failed = [r for r in runs if r.status == "failed"]
    freshness = [_freshness(source, scoped, now) for source, scoped in sorted(by_source.items())]
    blocks: list[Block] = [header("Sync status"), section("\n".join(freshness))]
    if failed:
        names = ", ".join(f"{_name(r.source)} {src(r.scope, 60)}" for r in failed[:10])
        blocks.append(section(f"⚠️ *{len(failed)} failing:* {names}"))
    body: list[Block] = []
    for source, scoped in sorted(by_source.items()):
        ordered = sorted(scoped, key=lambda r: (r.status != "failed", r.status, r.scope))
        lines = [_scope_line(r, now) for r in ordered]
        body += packed_sections(lines, title=_name(source))
    blocks += within(body, reserve=len(blocks) + 1, what="scopes")
    blocks.append(
        context_block(f"As of {fmt_when(now.isoformat(), time=True)} · latest run of each scope")
    )
    text = f"Sync status: {len(failed)} failing" if failed else "Sync status: all scopes synced"
    return ephemeral(text, blocks)


def _name(source: str) -> str:
    return SOURCE_NAMES.get(source, escape(source))


def _freshness(source: str, runs: list[ScopeRun], now: dt.datetime) -> str:
    last = max((r.last_success for r in runs if r.last_success), default=None)
    failing = sum(1 for r in runs if r.status == "failed")
    running = sum(1 for r in runs if r.status == "running")
    line = f"*{_name(source)}* synced {ago(last, now)}"
    if last is not None:
        line += f" ({fmt_when(last.isoformat(), time=True)})"
    line += f" · {len(runs)} {'scope' if len(runs) == 1 else 'scopes'}"
    if failing:
        line += f" · ❌ *{failing} failed*"
    if running:
        line += f" · ⏳ {running} running"
    return line


def _scope_line(run: ScopeRun, now: dt.datetime) -> str:
    emoji = STATUS_EMOJI.get(run.status, "⚪")
    parts = [f"{emoji} {src(run.scope, 80)}"]
    if run.status == "running":
        parts.append(f"running since {fmt_when(run.started_at.isoformat(), time=True)}")
    else:
        when = run.finished_at or run.started_at
        parts.append(f"{escape(run.status)} {fmt_when(when.isoformat(), time=True)}")
        parts.append(f"{number(run.rows)} rows")
    if run.status == "failed":
        parts.append(f"last success {ago(run.last_success, now)}")
        if run.error:
            parts.append(f"_{src(run.error, 200)}_")
    return " · ".join(parts)
