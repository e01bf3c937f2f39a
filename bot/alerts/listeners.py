"""The alert buttons and modals: Create Jira ticket, Link existing ticket, Resolve, Ignore.

Every listener acknowledges first. What must be in the acknowledgement (a modal's validation
errors, "already created by ...") is decided from Postgres in a few milliseconds; everything that
talks to Jira or Sentry goes through the outbox after it. A modal is opened straight away with
the click's ``trigger_id`` (valid for three seconds, once), never through the outbox.

Refusals (not allowed to act, nothing to link to, Jira not configured) are ephemeral messages to
the person who clicked, saying what they or an admin can do.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.alerts import modals
from bot.alerts.blocks import mention, message_id_of
from bot.alerts.candidates import known_keys, rank, strong_match, suggest_keys
from bot.alerts.messages import ticket_of
from bot.alerts.remote import browse_url, register_remote
from bot.alerts.rules import rules_from_env
from bot.alerts.sending import register_sending
from bot.alerts.tickets import Holder, claim, set_status, start_creation, start_link
from bot.deps import Deps
from bot.slack.ids import ActionId, CallbackId
from collectors.errors import NotConfigured
from storage.db import session_scope
from storage.models_bot import AlertMessage

log = logging.getLogger("sitrep.alerts")
Body = dict[str, Any]


def register(app: App, deps: Deps) -> None:
    """The four message buttons, the modal's "Link it instead", and the two modals."""

    def action(action_id: ActionId, work: Callable[[Deps, Body], None]) -> None:
        def listener(ack: Ack, body: Body) -> None:
            ack()
            deps.later(work, deps, body)

        app.action(action_id.value)(listener)

    action(ActionId.CREATE_JIRA, open_create)
    action(ActionId.LINK_JIRA, open_link)
    action(ActionId.RESOLVE_SENTRY, lambda d, b: change_status(d, b, "resolved"))
    action(ActionId.IGNORE_SENTRY, lambda d, b: change_status(d, b, "ignored"))
    action(ActionId.LINK_SUGGESTED_JIRA, link_suggested)

    @app.view(CallbackId.CREATE_JIRA_MODAL.value)
    def create_submitted(ack: Ack, body: Body) -> None:
        submit_create(deps, ack, body)

    @app.view(CallbackId.LINK_JIRA_MODAL.value)
    def link_submitted(ack: Ack, body: Body) -> None:
        submit_link(deps, ack, body)


def register_outbox(deps: Deps) -> None:
    """Posting and redrawing alert messages; creating, linking and resolving in Jira/Sentry.

    Also reads the routing rules once, so a bad ``SITREP_ALERT_LEVELS`` stops the process at
    start instead of failing every webhook."""
    rules_from_env(deps.env)
    register_sending(deps)
    register_remote(deps)


# ---------------------------------------------------------------- helpers


def tell(deps: Deps, body: Body, text: str) -> None:
    """An ephemeral answer to whoever clicked (through the response URL when there is one)."""
    url = body.get("response_url")
    if url:
        deps.respond(url, {"response_type": "ephemeral", "replace_original": False, "text": text})
        return
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    if channel:
        deps.post("chat.postEphemeral", {"channel": channel, "user": _user(body), "text": text})


def _user(body: Body) -> str:
    return str((body.get("user") or {}).get("id") or "")


def _not_allowed(deps: Deps, what: str) -> str:
    actors = ", ".join(mention(a) for a in sorted(deps.config.actors)[:10])
    return (
        f"Only the people in SITREP_ALERT_ACTORS may {what}: {actors}. "
        "Ask one of them, or an admin to add you."
    )


def _clicked_row(deps: Deps, body: Body, session: Session) -> AlertMessage | None:
    actions = body.get("actions") or [{}]
    try:
        message_id = message_id_of(actions[0].get("value"))
    except ValueError:
        return None
    return session.get(AlertMessage, message_id)


def _holder_text(holder: Holder) -> str:
    if holder.key is None:
        return f"{mention(holder.by)} is already creating a Jira ticket for this error."
    ticket = f"<{holder.url}|{holder.key}>" if holder.url else holder.key
    verb = "created" if holder.how == "created" else "linked"
    return f"{ticket} was already {verb} by {mention(holder.by)}."


def _open(deps: Deps, body: Body, view: Mapping[str, Any]) -> None:
    try:
        deps.slack.views_open(trigger_id=str(body.get("trigger_id")), view=dict(view))
    except SlackApiError as exc:
        log.warning("views.open failed: %s", exc.response.get("error"))
        tell(deps, body, "Slack did not open the form in time; please click again.")


# ---------------------------------------------------------------- buttons


def _ticket_preconditions(deps: Deps, body: Body, verb: str) -> tuple[AlertMessage, Any] | None:
    """The clicked message and its document when the user may add a ticket now; else told why."""
    user = _user(body)
    if not deps.config.may_act(user):
        tell(deps, body, _not_allowed(deps, verb))
        return None
    with session_scope(deps.engine) as session:
        row = _clicked_row(deps, body, session)
        if row is None or not (row.alert or {}).get("issue_id"):
            tell(deps, body, "This alert is no longer tracked by Sitrep.")
            return None
        doc = dict(row.alert or {})
        ticket = ticket_of(session, str(doc["issue_id"]))
        session.expunge(row)
    if ticket is not None:
        tell(deps, body, _holder_text(Holder(ticket.key, ticket.url, ticket.how, ticket.by)))
        return None
    if not doc.get("jira_projects"):
        product = doc.get("product") or "this product"
        tell(
            deps,
            body,
            f"No Jira project is mapped to {product}: add jira_projects to it (or a parent) "
            "in the products file and run `sitrep products apply`.",
        )
        return None
    try:
        deps.jira().close()
    except NotConfigured as exc:
        tell(deps, body, f"Jira is not connected: {exc}")
        return None
    return row, doc


def open_create(deps: Deps, body: Body) -> None:
    found = _ticket_preconditions(deps, body, "create Jira tickets from alerts")
    if found is None:
        return
    row, doc = found
    with session_scope(deps.engine) as session:
        ranked = rank(
            session, projects=doc["jira_projects"], title=str(doc.get("title", "")), limit=1
        )
    view = modals.create_modal(
        message_id=row.id, doc=doc, projects=doc["jira_projects"], suggestion=strong_match(ranked)
    )
    _open(deps, body, view)


def open_link(deps: Deps, body: Body) -> None:
    found = _ticket_preconditions(deps, body, "link Jira tickets to alerts")
    if found is None:
        return
    row, doc = found
    with session_scope(deps.engine) as session:
        ranked = rank(session, projects=doc["jira_projects"], title=str(doc.get("title", "")))
    _open(deps, body, modals.link_modal(message_id=row.id, doc=doc, candidates=ranked))


def change_status(deps: Deps, body: Body, status: str) -> None:
    user = _user(body)
    verb = "resolve" if status == "resolved" else "ignore"
    if not deps.config.may_act(user):
        tell(deps, body, _not_allowed(deps, f"{verb} Sentry issues"))
        return
    with session_scope(deps.engine) as session:
        row = _clicked_row(deps, body, session)
        if row is None:
            tell(deps, body, "This alert is no longer tracked by Sitrep.")
            return
        items, earlier = set_status(
            session, row.subject, status=status, user=user, now=deps.clock()
        )
    if earlier is not None:
        tell(deps, body, f"Already {status} by {mention(earlier.get('user'))}.")
        return
    deps.outbox.send_now(items)


def link_suggested(deps: Deps, body: Body) -> None:
    """ "Link it instead" in the create modal: link the suggested ticket, say so in the modal."""
    user = _user(body)
    view = body.get("view") or {}
    try:
        value = json.loads(str((body.get("actions") or [{}])[0].get("value")))
        message_id, key = int(value["m"]), str(value["k"])
    except (ValueError, KeyError, TypeError):
        return
    items: list[int] = []
    if not deps.config.may_act(user):
        text = _not_allowed(deps, "link Jira tickets to alerts")
    else:
        text, items = _link(deps, message_id, key, user)
    try:
        deps.slack.views_update(
            view_id=str(view.get("id")), view=modals.notice("Jira ticket", text)
        )
    except SlackApiError as exc:  # the modal was closed meanwhile: the message says it anyway
        log.info("views.update after Link it instead failed: %s", exc.response.get("error"))
    deps.outbox.send_now(items)


def _link(deps: Deps, message_id: int, key: str, user: str) -> tuple[str, list[int]]:
    """Claim and link: the sentence to show (done, or who was first) and the items to send
    (after the acknowledgement: Jira may be slow)."""
    now = deps.clock()
    url = browse_url(deps, key)
    with session_scope(deps.engine) as session:
        row = session.get(AlertMessage, message_id)
        if row is None:
            return "This alert is no longer tracked by Sitrep.", []
        issue_id = str((row.alert or {}).get("issue_id"))
        holder = claim(session, issue_id, how="linked", user=user, now=now, key=key, url=url)
        items = [] if holder else start_link(session, row, key=key, url=url, user=user, now=now)
    if holder is not None:
        return _holder_text(holder), []
    return f"Linked {f'<{url}|{key}>' if url else key} to this error.", items


# ---------------------------------------------------------------- modal submissions


def submit_create(deps: Deps, ack: Ack, body: Body) -> None:
    user = _user(body)
    try:
        submitted = modals.read(body.get("view") or {})
    except ValueError:
        ack()
        return
    now = deps.clock()
    with session_scope(deps.engine) as session:
        row = session.get(AlertMessage, submitted.message_id)
        if row is None:
            ack(response_action="update", view=modals.notice("Jira ticket", "This alert is gone."))
            return
        projects = list((row.alert or {}).get("jira_projects") or [])
        draft, errors = modals.read_create(submitted.values, projects)
        if not deps.config.may_act(user):
            errors = {"summary": _not_allowed(deps, "create Jira tickets from alerts")}
        if draft is None or errors:
            ack(response_action="errors", errors=errors)
            return
        issue_id = str((row.alert or {}).get("issue_id"))
        holder = claim(session, issue_id, how="created", user=user, now=now)
        items = [] if holder else start_creation(session, row, draft, user=user, now=now)
    if holder is not None:
        ack(response_action="update", view=modals.notice("Jira ticket", _holder_text(holder)))
        return
    ack()
    deps.later(deps.outbox.send_now, items)


def submit_link(deps: Deps, ack: Ack, body: Body) -> None:
    user = _user(body)
    try:
        submitted = modals.read(body.get("view") or {})
    except ValueError:
        ack()
        return
    key, errors = modals.read_link(submitted.values)
    if not deps.config.may_act(user):
        errors = {"key": _not_allowed(deps, "link Jira tickets to alerts")}
    if key is not None and not errors:
        errors = _unknown_project(deps, submitted.message_id, key)
    if key is None or errors:
        ack(response_action="errors", errors=errors)
        return
    text, items = _link(deps, submitted.message_id, key, user)
    if items:
        ack()
        deps.later(deps.outbox.send_now, items)
    else:
        ack(response_action="update", view=modals.notice("Jira ticket", text))


def _unknown_project(deps: Deps, message_id: int, key: str) -> dict[str, str]:
    """A key of a project this product does not use is most likely a typo: say which keys are
    close. (A key of a known project is accepted even when it is newer than the last sync.)"""
    with session_scope(deps.engine) as session:
        row = session.get(AlertMessage, message_id)
        projects = list(((row.alert or {}) if row else {}).get("jira_projects") or [])
        if key.rsplit("-", 1)[0] in projects:
            return {}
        close = suggest_keys(key, known_keys(session, projects))
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    return {"key": f"{key} is not in this product's Jira projects ({', '.join(projects)}).{hint}"}
