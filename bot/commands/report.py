"""``health``, ``dora`` and ``sprint``: a cached report as an ephemeral message, and the
"Share in channel" button that posts the same report for everyone.

The share recomputes the report from the button's `ReportRef` (a button cannot carry a report),
read at the instant the asker saw (``as_of``), so the channel gets the same window, not a fresher
one; the cache makes that cheap. The shared copy has no Share button and says who shared it,
and is posted once per report and channel however often Share is pressed (the outbox's key).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

import sqlalchemy as sa

from bot.commands.catalog import load_catalog
from bot.commands.messages import Body, ephemeral, notice, user_mention
from bot.commands.model import Report, Target
from bot.commands.names import Catalog, resolve
from bot.deps import Deps
from bot.reports import ReportRequest
from bot.slack.blocks import escape, fallback_text, report_blocks
from bot.slack.ids import ReportRef
from insights.errors import InsightsError
from storage.db import session_scope
from storage.models_bot import OutboxItem

log = logging.getLogger("sitrep.commands")


def request_for(command: Report, target: Target) -> ReportRequest:
    """The report a resolved command asks for (sprint reports have no window: the default)."""
    days = command.days if command.kind != "sprint" else ReportRequest.days
    return ReportRequest(
        kind=command.kind,
        product=target.name if target.kind == "product" else None,
        team=target.name if target.kind == "team" else None,
        days=days,
        board=target.board_id if target.kind == "board" else None,
    )


def report_answer(deps: Deps, command: Report) -> Body:
    """The report as an ephemeral message with the Share button (`report_blocks`)."""
    version = deps.reports.data_version()
    catalog = deps.reports.per_version("catalog", version, lambda: _catalog(deps))
    target = resolve(command.name, catalog, command=command.kind)
    request = request_for(command, target)
    return deps.reports.rendered(request, "answer", _answer_body, version)


def _catalog(deps: Deps) -> Catalog:
    with session_scope(deps.engine) as session:
        return load_catalog(session)


def _answer_body(doc: dict[str, Any]) -> Body:
    return ephemeral(fallback_text(doc), report_blocks(doc))


def request_of(ref: ReportRef) -> ReportRequest:
    """The request that recomputes the report a Share button refers to."""
    as_of = None
    if ref.as_of:
        try:
            as_of = dt.datetime.fromisoformat(ref.as_of)
        except ValueError:
            as_of = None  # an old or foreign button: share the report as of now
        if as_of is not None and as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=dt.UTC)
    return ReportRequest(
        kind=ref.kind,
        product=ref.scope_name if ref.scope_kind == "product" else None,
        team=ref.scope_name if ref.scope_kind == "team" else None,
        days=ref.days or ReportRequest.days,
        board=ref.board,
        sprint=ref.sprint,
        as_of=as_of,
    )


def share_report(deps: Deps, body: dict[str, Any]) -> None:
    """Post the report of the clicked button in its channel, then remove the ephemeral copy."""
    action = (body.get("actions") or [{}])[0]
    user = (body.get("user") or {}).get("id")
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    response_url = body.get("response_url")
    try:
        ref = ReportRef.from_value(str(action.get("value") or ""))
    except ValueError:
        log.warning("share button with a value that is no report reference: %r", action)
        _tell(deps, response_url, "⚠️ This button is from an older Sitrep; ask again instead.")
        return
    if not channel:
        _tell(deps, response_url, "⚠️ Slack did not say which channel this is; nothing posted.")
        return
    try:
        doc = deps.reports.get(request_of(ref))
    except InsightsError as exc:  # e.g. the product was renamed since the report was made
        _tell(deps, response_url, f"⚠️ {escape(exc)} Ask for the report again.")
        return
    blocks = report_blocks(doc, share_button=False, context=f"Shared by {user_mention(user)}")
    item = deps.post(
        "chat.postMessage",
        {
            "channel": channel,
            "text": fallback_text(doc),
            "blocks": [b.to_dict() for b in blocks],
            "unfurl_links": False,
        },
        # One post per report (window included) and channel, however often Share is pressed:
        # the outbox's unique key makes a double click, or a second sharer, a no-op.
        key=f"share:{channel}:{hashlib.sha256(ref.to_value().encode()).hexdigest()[:40]}",
    )
    refused = _refusal(deps, item)
    if refused is not None:
        _tell(
            deps,
            response_url,
            f"⚠️ I could not post in this channel ({escape(refused)}). Invite me with "
            "`/invite @Sitrep` and press Share again.",
        )
    elif response_url:
        # The report is now in the channel: the private copy would only be a duplicate.
        deps.respond(response_url, {"delete_original": True})


def _refusal(deps: Deps, item: int) -> str | None:
    """Why Slack refused the post for good (``not_in_channel``), or None (sent or retrying).

    A refused post gives its key up, so Share works once the bot was invited."""
    with deps.engine.begin() as conn:
        state, error = conn.execute(
            sa.select(OutboxItem.state, OutboxItem.last_error).where(OutboxItem.id == item)
        ).one()
        if state != "failed":
            return None
        conn.execute(sa.update(OutboxItem).where(OutboxItem.id == item).values(key=None))
    return str(error or "refused").removeprefix("Slack refused it: ")


def _tell(deps: Deps, response_url: object, text: str) -> None:
    if isinstance(response_url, str) and response_url:
        deps.respond(response_url, {**notice(text), "replace_original": False})
