"""The fake Slack's control panel, for a console in another process (``sitrep console``).

Slack itself has no such endpoints: these stand in for what a person sees in the Slack client
(the channel, the Home tab, the modal that just opened) and for what Slack does when a person
types a command (it mints a response URL and a trigger id). All under ``/_sandbox/``, so nothing
the bot calls can reach them by accident.

    POST /_sandbox/command-context   {"channel": "#payments", "user": "U1"} -> channel id, name,
                                     a fresh response URL and trigger id
    GET  /_sandbox/responses/<rid>   bodies posted to that response URL
    GET  /_sandbox/history/<channel> messages of a channel, each with its thread replies
    GET  /_sandbox/views/<user>      the user's Home tab, and the modals opened, newest last
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.slack.fake_state import SlackState


def channel_messages(state: SlackState, ref: str) -> list[dict[str, Any]]:
    """A channel's messages as the API renders them, each with ``channel`` and its ``replies``."""
    channel = state.channel(ref)
    if channel is None:
        return []
    return [
        m.to_api()
        | {"channel": channel.id, "replies": [r.to_api() for r in state.replies(channel.id, m.ts)]}
        for m in state.history(channel.id)
    ]


def user_views(state: SlackState, user: str) -> dict[str, Any]:
    """The user's Home tab, and the modals opened (views.open does not say for whom: the trigger
    does, and the fake does not track it; so every modal, newest last)."""
    modals = [view for view in state.views.values() if view.get("type") == "modal"]
    return {"home": state.home(user), "modals": modals}


def control_routes(state: SlackState) -> list[Route]:
    async def command_context(request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        channel = state.resolve(str(body.get("channel") or "general"), create=True)
        user = str(body.get("user") or "U0CONSOLE")
        ts = body.get("ts")
        url = state.new_response_url(channel=channel.id, ts=ts, user=user)
        return JSONResponse(
            {
                "channel_id": channel.id,
                "channel_name": channel.name,
                "response_url": url,
                "trigger_id": state.new_trigger_id(),
            }
        )

    async def responses(request: Request) -> Response:
        found = state.response_urls.get(request.path_params["rid"])
        return JSONResponse({"posts": found.posts if found else []})

    async def history(request: Request) -> Response:
        return JSONResponse({"messages": channel_messages(state, request.path_params["channel"])})

    async def views(request: Request) -> Response:
        return JSONResponse(user_views(state, request.path_params["user"]))

    return [
        Route("/_sandbox/command-context", command_context, methods=["POST"]),
        Route("/_sandbox/responses/{rid}", responses, methods=["GET"]),
        Route("/_sandbox/history/{channel}", history, methods=["GET"]),
        Route("/_sandbox/views/{user}", views, methods=["GET"]),
    ]
