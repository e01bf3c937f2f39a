"""Alert follow-ups (a `sitrep worker` job): an alert left open gets one nudge in its thread.

Why: the complaint about chat alerts is that they scroll away unanswered. A Sentry issue alert
still open (not resolved or ignored, in Sentry or with the buttons) after
``SITREP_ALERT_FOLLOW_UP`` (default 4 hours), without a Jira ticket created or linked for its
issue, gets one thread reply saying how long it has been open and how many events came since.
Once per message (``followed_up_at``), so a nudge never repeats. Left alone: metric alerts (they
resolve themselves), alerts folded into a burst summary (the summary stands for them), and
messages Slack never took (no thread to reply in).

Ages use the database's clock, like ``created_at`` itself; rows are claimed with
``SKIP LOCKED`` and marked in the transaction that enqueues the reply, so two workers (or a
retried job) never nudge twice.
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from bot.alerts.blocks import follow_up_message
from bot.alerts.messages import enqueue_reply
from bot.deps import Deps
from storage.db import session_scope
from storage.models_bot import AlertMessage, JiraLink

log = logging.getLogger("sitrep.alerts")

DEFAULT_AFTER = dt.timedelta(hours=4)
BATCH = 100  # messages nudged per run at most; the next run takes the rest


def follow_up(deps: Deps, after: dt.timedelta = DEFAULT_AFTER) -> int:
    """Nudge the threads of the alerts open longer than ``after``; returns how many."""
    now = sa.func.now()
    ticket = sa.exists().where(JiraLink.sentry_issue_id == AlertMessage.alert["issue_id"].astext)
    due = (
        sa.select(AlertMessage, sa.func.extract("epoch", now - AlertMessage.created_at))
        .where(
            AlertMessage.subject.startswith("issue:"),
            AlertMessage.status == "open",
            AlertMessage.folded.is_(False),
            AlertMessage.followed_up_at.is_(None),
            AlertMessage.created_at <= now - after,
            ~ticket,
        )
        .order_by(AlertMessage.created_at)
        .limit(BATCH)
        .with_for_update(of=AlertMessage, skip_locked=True)
    )
    nudged = 0
    with session_scope(deps.engine) as session:
        for row, age in session.execute(due).all():
            text, blocks = follow_up_message(row.alert or {}, int(age // 3600), row.events)
            reply = enqueue_reply(
                session,
                row,
                text,
                [b.to_dict() for b in blocks],
                key=f"follow-up:{row.id}",
            )
            row.followed_up_at = now
            if reply is not None:
                nudged += 1
    if nudged:
        log.info("nudged %d open alerts without a ticket", nudged)
    return nudged
