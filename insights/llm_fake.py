"""A local OpenAI-compatible server: ``POST /v1/chat/completions`` and ``GET /v1/models``.

It answers as api.openai.com does (the ``chat.completion`` object, OpenAI's error shape, 401
without ``Authorization: Bearer <key>``) and behaves the way a model or a provider can let us
down. The behaviour is ``app.state.mode``, switchable while it runs:

=============  ==============================================================================
good           reads the facts from the user message's ```json fence and writes a headline,
               risks and actions that quote only numbers of the facts (some rounded, some in
               other units: 0.153 -> 15.3%, 36.5 hours -> 1.5 days, 1243 events -> 1.2k)
fenced         the good answer wrapped in a ```json fence, as chat models often write it
invent         the good answer plus a risk quoting a number that is nowhere in the facts
               (a count, a percent or a duration, in turn)
malformed      prose instead of JSON
wrong_shape    JSON, but not the asked-for keys
mention        the good answer with an ``<!channel>`` in the headline
truncated      half an answer with ``finish_reason: length`` (cut at the token cap)
slow           waits ``app.state.slow_seconds`` before answering (gives up when the client hangs up)
trickle        sends the headers at once, then one byte every 0.2 s for ``slow_seconds``
error          500 with OpenAI's server_error body
=============  ==============================================================================

Every accepted request body is appended to ``app.state.requests``, so a test can count calls and
read the prompt that was sent. ``GET /v1/models`` lists ``app.state.models`` (what `sitrep doctor`
asks, since it costs no tokens); it is not recorded.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

FAKE_API_KEY = "sk-sitrep-fake"
FAKE_MODELS = ("gpt-4o-mini", "gpt-4o")  # what GET /v1/models lists; any model is answered
MODES = (
    "good",
    "fenced",
    "invent",
    "malformed",
    "wrong_shape",
    "mention",
    "truncated",
    "slow",
    "trickle",
    "error",
)
_FENCED_FACTS = re.compile(r"```json\n(.*?)\n```", re.DOTALL)
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
# Factors between units a summary may legitimately use (percent, time): an invented number must
# be far from every fact under all of them, so no reading of the facts could ground it.
_FACTORS = (1, 100, 0.01, 24, 1 / 24, 60, 1 / 60, 1000, 0.001, 7, 1 / 7, 1440, 1 / 1440, 3600)
_INVENTIONS = (
    ("Incidents rose to {:g} in this window.", (4271, 3187, 5923, 817, 643, 419)),
    ("Errors now hit {:g}% of checkout requests.", (61.7, 93.4, 47.9, 38.2, 71.3)),
    ("Reviews now wait {:g} hours on average.", (417, 263, 731, 189, 97)),
)


def create_app(mode: str = "good", *, api_key: str = FAKE_API_KEY) -> Starlette:
    """The fake server, answering in ``mode`` until ``app.state.mode`` changes."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", _completions, methods=["POST"]),
            Route("/v1/models", _models, methods=["GET"]),
        ]
    )
    app.state.mode = mode
    app.state.models = list(FAKE_MODELS)
    app.state.api_key = api_key
    app.state.slow_seconds = 60.0
    app.state.requests = []
    return app


async def _completions(request: Request) -> Response:
    state = request.app.state
    if request.headers.get("authorization") != f"Bearer {state.api_key}":
        return _error(
            401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
        )
    try:
        body = await request.json()
        messages = body["messages"]
        model = str(body["model"])
    except (ValueError, KeyError, TypeError):
        return _error(
            400, "We could not parse the JSON body of your request.", "invalid_request_error"
        )
    state.requests.append(body)
    mode: str = state.mode
    if mode == "error":
        message = "The server had an error while processing your request. Sorry about that!"
        return _error(500, message, "server_error")
    if mode == "slow":
        deadline = time.monotonic() + state.slow_seconds
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                return Response(status_code=499)
            await asyncio.sleep(0.05)
    facts = facts_from(messages)
    content, finish = _content(mode, facts, len(state.requests))
    completion = _completion(model, content, finish, messages)
    if mode == "trickle":
        return StreamingResponse(
            _trickle(completion, state.slow_seconds), media_type="application/json"
        )
    return JSONResponse(completion)


async def _models(request: Request) -> Response:
    state = request.app.state
    if request.headers.get("authorization") != f"Bearer {state.api_key}":
        return _error(
            401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
        )
    models = [
        {"id": name, "object": "model", "created": 1715367049, "owned_by": "system"}
        for name in state.models
    ]
    return JSONResponse({"object": "list", "data": models})


def facts_from(messages: list[dict[str, Any]]) -> Any:
    """The JSON between the ```json fences of the last user message (None when there is none)."""
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            found = _FENCED_FACTS.search(message["content"])
            return json.loads(found[1]) if found else None
    return None


def _content(mode: str, facts: Any, n: int) -> tuple[str, str]:
    answer = good_answer(facts if isinstance(facts, Mapping) else {})
    if mode == "invent":
        template, candidates = _INVENTIONS[(n - 1) % len(_INVENTIONS)]
        invented = template.format(_far_from(facts, candidates))
        answer["risks"] = [invented, *answer["risks"][:2]]
    elif mode == "mention":
        answer["headline"] = "<!channel> " + answer["headline"]
    elif mode == "malformed":
        return "Here is the brief you asked for: things look mostly fine this month.", "stop"
    elif mode == "wrong_shape":
        answer = {"summary": answer["headline"], "bullets": answer["risks"]}
    text = json.dumps(answer)
    if mode == "fenced":
        return f"```json\n{text}\n```", "stop"
    if mode == "truncated":
        return text[: len(text) // 2], "length"
    return text, "stop"


def good_answer(facts: Mapping[str, Any]) -> dict[str, Any]:
    """What a careful model writes: only the facts' numbers, rounded or converted."""
    scope = facts.get("scope") or {}
    name = scope.get("name", "The organisation") if isinstance(scope, Mapping) else "The scope"
    kind = str(facts.get("kind", "report"))
    metrics = facts.get("metrics") or {}
    quoted = [
        (str(metric_id).replace("_", " "), _phrase(m["value"], m.get("unit")), m)
        for metric_id, m in metrics.items()
        if isinstance(m, Mapping) and isinstance(m.get("value"), int | float)
    ]
    if quoted:
        headline = f"{name} {kind}: " + ", ".join(
            f"{label} {text}" for label, text, _ in quoted[:2]
        )
    else:
        headline = f"{name} {kind}: no data in this window."
    findings = [f for f in facts.get("findings") or [] if isinstance(f, Mapping)]
    risks = [str(f["evidence"]) for f in findings if f.get("evidence")][:3]
    for label, text, metric in quoted[: 3 - len(risks)]:
        previous = metric.get("previous")
        was = f", it was {_phrase(previous, metric.get('unit'))}" if previous is not None else ""
        risks.append(f"The {label} is {text}{was}.")
    actions = [str(f["action"]) for f in findings if f.get("action")][:3]
    if not actions and quoted:
        actions = [f"Review the {quoted[0][0]} with the team."]
    return {"headline": headline, "risks": risks, "actions": actions}


def _phrase(value: float, unit: Any) -> str:
    if unit == "fraction":
        return f"{value * 100:.1f}%"
    if unit == "hours":
        return f"{value / 24:.1f} days" if value >= 24 else f"{value:.1f} hours"
    if unit == "minutes":
        return f"{value / 60:.1f} hours" if value >= 60 else f"{value:g} minutes"
    if isinstance(unit, str) and value >= 1000:
        return f"{value / 1000:.1f}k {unit}"
    return f"{value:g} {unit}" if isinstance(unit, str) else f"{value:g}"


def _far_from(facts: Any, candidates: tuple[float, ...]) -> float:
    """The first candidate that no fact, in any unit, comes near."""
    known = _numbers(facts)
    for candidate in candidates:
        margin = max(1.0, 0.05 * candidate)
        if all(abs(v * f - candidate) > margin for v in known for f in _FACTORS):
            return candidate
    raise ValueError("every candidate invention is close to a fact; add candidates")


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        return [abs(float(value))]
    if isinstance(value, str):
        return [float(d) for d in _DIGITS.findall(value)]
    if isinstance(value, Mapping):
        return [n for item in value.values() for n in _numbers(item)]
    if isinstance(value, list):
        return [float(len(value)), *(n for item in value for n in _numbers(item))]
    return []


def _completion(model: str, content: str, finish: str, messages: list[Any]) -> dict[str, Any]:
    prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4
    completion_tokens = len(content) // 4
    return {
        "id": f"chatcmpl-fake{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


async def _trickle(completion: dict[str, Any], seconds: float) -> AsyncIterator[bytes]:
    """Leading whitespace is valid JSON, so each byte keeps a per-read timeout from firing."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        yield b" "
        await asyncio.sleep(0.2)
    yield json.dumps(completion).encode()


def _error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)
