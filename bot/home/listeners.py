"""Listeners of the App Home: the tab opened, the filter changed, a product's Details pressed.

Bolt acknowledges each request before the listener runs (events by itself, actions at
``ack()``), so drawing the tab, which reads a few reports per product, never meets Slack's
3-second limit.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from bot.deps import Deps
from bot.home import service
from bot.home.tiles import HOME_DAYS, filter_of_option, load_nodes
from bot.home.view import drill_modal, loading_modal
from bot.reports import ReportRequest
from bot.slack.ids import ActionId
from insights.errors import InsightsError

log = logging.getLogger("sitrep.home")


def register(app: App, deps: Deps) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any]) -> None:
        if event.get("tab") != "home":  # the Messages tab opens the same event
            return
        deps.later(service.opened, deps, str(event["user"]))

    @app.action(ActionId.HOME_FILTER.value)
    def filter_chosen(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        deps.later(choose_filter, deps, body)

    @app.action(ActionId.HOME_DRILL.value)
    def drill(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        deps.later(open_details, deps, body)


def choose_filter(deps: Deps, body: dict[str, Any]) -> None:
    """Remember the filter the user picked and redraw their tab."""
    user = str(body["user"]["id"])
    value = str(((body.get("actions") or [{}])[0].get("selected_option") or {}).get("value"))
    chosen = filter_of_option(value, load_nodes(deps))
    if chosen is None:  # a stale tab offered a team or product that is gone
        log.info("home filter %r of %s matches nothing now; redrawing", value, user)
        service.publish(deps, [user])
        return
    service.choose(deps, user, chosen)


def open_details(deps: Deps, body: dict[str, Any]) -> None:
    """A modal with the product's reports: opened at once with "Loading…", then filled in.

    Called directly, not through the outbox: a ``trigger_id`` is good for 3 seconds once, so a
    retried ``views.open`` could only fail; opening first and updating after keeps within them
    however long the reports take.
    """
    value = str((body.get("actions") or [{}])[0].get("value", ""))
    node = next((n for n in load_nodes(deps) if str(n.id) == value), None)
    name = node.name if node else "Product"
    try:
        opened = deps.slack.views_open(trigger_id=body["trigger_id"], view=loading_modal(name))
    except SlackApiError as exc:
        log.warning("views.open for the home drill-down failed: %s", exc.response.get("error"))
        return
    view_id = str((opened.get("view") or {}).get("id", ""))
    docs: list[dict[str, Any]] = []
    problem = None
    if node is None:
        problem = "This product no longer exists or was deactivated; reopen the Home tab."
    else:
        try:
            docs = [
                deps.reports.get(ReportRequest(kind=k, product=node.name, days=HOME_DAYS))
                for k in ("health", "dora", "sprint")
            ]
        except InsightsError as exc:
            problem = str(exc)
    try:
        deps.slack.views_update(view_id=view_id, view=drill_modal(name, docs, problem=problem))
    except SlackApiError as exc:  # the user closed the modal meanwhile: nothing to show it in
        log.info("views.update of the home drill-down failed: %s", exc.response.get("error"))
