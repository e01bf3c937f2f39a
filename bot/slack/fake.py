"""A local Slack: the Web API and response URLs over real HTTP, answering the way Slack does.

The bot reaches it exactly as it reaches Slack, through ``WebClient(base_url=fake.api_url)``::

    with FakeSlack() as slack:
        client = WebClient(token=slack.token, base_url=slack.api_url)
        client.chat_postMessage(channel="#payments", text="hi")
        assert slack.state.history("#payments")[0].text == "hi"

Endpoints::

    GET|POST /api/<method>          auth.test, chat.postMessage, chat.update, chat.postEphemeral,
                                    chat.getPermalink, views.publish, views.open, views.update,
                                    conversations.list, conversations.info, users.info
    POST     /response_url/<id>     URLs made by ``state.new_response_url(...)``

What it models, because Slack does it too:

- arguments come as a query string, a form body (JSON arguments such as ``blocks`` as JSON text)
  or a JSON body (slack_sdk sends ``chat.*`` and ``views.*`` as JSON, the rest as forms; GET for
  ``users.info``, ``conversations.*`` and ``chat.getPermalink``); multipart bodies (file
  uploads) are not supported;
- ``Authorization: Bearer <token>`` (or a ``token`` form field; never inside a JSON body). Errors
  are HTTP 200 with ``{"ok": false, "error": ...}``: ``not_authed``, ``invalid_auth``,
  ``missing_scope`` (with ``needed`` and ``provided``); every answer carries ``X-OAuth-Scopes``;
- ``ratelimited``: HTTP 429 with ``Retry-After`` when armed (``state.rate_limit_next(n)``);
  ``state.outage = True`` answers every request 503 until switched off;
- messages get a ``ts`` unique and increasing per channel; threads, in-place updates and the
  Block Kit limits (`bot.slack.fake_blocks`) with Slack's error codes;
- a response URL answers ``ok`` as text, at most five times (then 404 ``used_url``), and
  ``replace_original``/``delete_original`` change the message it belongs to.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.slack.fake_control import control_routes
from bot.slack.fake_methods import METHODS, message_content
from bot.slack.fake_state import (
    DEFAULT_SCOPES,
    DEFAULT_USERS,
    RESPONSE_URL_TTL,
    RESPONSE_URL_USES,
    Call,
    Ephemeral,
    SlackError,
    SlackState,
    User,
)
from collectors.fakes import FakeServer, Faults

SLACK_TOKEN = "xoxb-sandbox"


def state_of(app: Starlette) -> SlackState:
    """The workspace and recordings behind an app made by `create_app`."""
    state: SlackState = app.state.slack
    return state


def create_app(
    *,
    token: str = SLACK_TOKEN,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    channels: Iterable[str] = ("general",),
    users: Iterable[User] = DEFAULT_USERS,
    strict: bool = False,
    trigger_ttl: float = 3.0,
) -> Starlette:
    """A Starlette app serving a fake Slack workspace whose bot token is ``token``.

    ``channels`` exist from the start. Unless ``strict``, a message to another ``#name``
    creates that channel, an unknown user id gets a plain profile and an unknown trigger id is
    accepted once, so a test need not set up every name; ``strict`` answers them as a real
    workspace does (``channel_not_found``, ``user_not_found``, ``invalid_arguments``).
    ``scopes`` are the bot token's: a method needing another answers ``missing_scope``.
    """
    state = SlackState(
        token=token,
        scopes=scopes,
        channels=channels,
        users=users,
        strict=strict,
        trigger_ttl=trigger_ttl,
    )

    async def api(request: Request) -> Response:
        return await _api(state, request)

    async def response_url(request: Request) -> Response:
        return await _response_url(state, request)

    app = Starlette(
        routes=[
            Route("/api/{method}", api, methods=["GET", "POST"]),
            Route("/response_url/{rid}", response_url, methods=["POST"]),
            *control_routes(state),
        ]
    )
    app.state.slack = state
    return app


class FakeSlack:
    """An app from `create_app` (a default one if none) served by `FakeServer` on 127.0.0.1.

    Port 0 lets the OS pick a free port; ``faults`` adds the generic transport faults (dropped
    connections, truncated bodies, slow answers) on top of Slack's own 429s and outages.
    """

    def __init__(
        self, app: Starlette | None = None, *, port: int = 0, faults: Faults | None = None
    ) -> None:
        self.app = app or create_app()
        self.server = FakeServer(self.app, port=port, faults=faults)
        self.state.base_url = self.server.url

    @property
    def state(self) -> SlackState:
        return state_of(self.app)

    @property
    def token(self) -> str:
        return self.state.token

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api_url(self) -> str:
        """The ``base_url`` for `slack_sdk.WebClient` (the trailing slash matters to it)."""
        return f"{self.server.url}/api/"

    def start(self) -> FakeSlack:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _api(state: SlackState, request: Request) -> Response:
    method = str(request.path_params["method"])
    call = Call(method, {}, dt.datetime.now(dt.UTC))
    state.calls.append(call)
    headers = {"X-OAuth-Scopes": ",".join(state.scopes)}
    try:
        body, status = {"ok": True, **await _handle(state, request, call, headers)}, 200
    except SlackError as exc:
        body, status = exc.body, exc.status
        headers |= exc.headers
    call.status, call.error, call.response = status, body.get("error"), body
    return JSONResponse(body, status, headers=headers)


async def _handle(
    state: SlackState, request: Request, call: Call, headers: dict[str, str]
) -> dict[str, Any]:
    """Slack's gates in Slack's order, then the method; every refusal is a `SlackError`."""
    if state.outage:
        raise SlackError("service_unavailable", status=503)
    call.args, body_token = await _arguments(request)
    if call.method not in METHODS:
        raise SlackError("unknown_method", status=404, req_method=call.method)
    retry_after = state.take_rate_limit(call.method)
    if retry_after is not None:
        raise SlackError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})
    authorization = request.headers.get("authorization", "")
    token = authorization.removeprefix("Bearer ").strip() if authorization else body_token
    if not token:
        raise SlackError("not_authed")
    if token != state.token:
        raise SlackError("invalid_auth")
    needed, handler = METHODS[call.method]
    if needed:
        headers["X-Accepted-OAuth-Scopes"] = needed
        if needed not in state.scopes:
            raise SlackError("missing_scope", needed=needed, provided=",".join(state.scopes))
    return handler(state, call.args)


async def _arguments(request: Request) -> tuple[dict[str, Any], str]:
    """The call's arguments (query string, then body) and a ``token`` sent as a form field."""
    args: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if raw and kind == "application/json":
        try:
            body = json.loads(raw)
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        body.pop("token", None)  # Slack ignores a token inside JSON: it must be a header
        args |= body
    elif raw and kind in ("application/x-www-form-urlencoded", ""):
        args |= dict(parse_qsl(raw.decode(), keep_blank_values=True))
    elif raw:
        raise SlackError("invalid_post_type")
    token = str(args.pop("token", ""))
    return args, token


async def _response_url(state: SlackState, request: Request) -> Response:
    """What Slack does with a post to a response URL; it answers in plain text."""
    arrived = time.perf_counter()
    call = Call("response_url", {}, dt.datetime.now(dt.UTC))
    state.calls.append(call)
    try:
        _respond(state, str(request.path_params["rid"]), await request.body(), call, arrived)
    except SlackError as exc:
        call.status, call.error = exc.status, exc.code
        return PlainTextResponse(exc.code, exc.status)
    return PlainTextResponse("ok")


def _respond(state: SlackState, rid: str, raw: bytes, call: Call, arrived: float) -> None:
    if state.outage:
        raise SlackError("service_unavailable", status=503)
    target = state.response_urls.get(rid)
    if target is None:
        raise SlackError("invalid_url", status=404)
    if time.monotonic() - target.created > RESPONSE_URL_TTL:
        raise SlackError("expired_url", status=404)
    if len(target.posts) >= RESPONSE_URL_USES:
        raise SlackError("used_url", status=404)
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise SlackError("invalid_payload", status=400)
    call.args = payload
    original = state.message(target.channel, target.ts) if target.channel and target.ts else None
    if payload.get("delete_original") in (True, "true"):
        if original:
            state.remove(original.channel, original.ts)
        target.posts.append(payload)
        target.arrivals.append(arrived)
        return
    try:
        text, blocks = message_content(payload)
    except SlackError as exc:
        raise SlackError(exc.code, status=400) from None
    target.posts.append(payload)
    target.arrivals.append(arrived)
    if original and payload.get("replace_original") in (True, "true"):
        original.text, original.blocks = text, blocks or []
        original.edits += 1
    elif payload.get("response_type") == "in_channel" and target.channel:
        thread_ts = payload.get("thread_ts")
        state.store(target.channel, text, blocks or [], thread_ts=thread_ts)
    elif target.channel:
        ts = state.next_ts(target.channel)
        user = target.user or ""
        state.ephemerals.append(Ephemeral(target.channel, user, ts, text, blocks or []))
