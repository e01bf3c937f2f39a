"""The one place that calls the LLM: a report's facts in, a grounded `Summary` out.

Code computes every number; the model only writes the words around them, and only when it can
be trusted to:

- **Off by default.** Without ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` there is no call at all
  and the deterministic narrator's summary (the ``fallback``) is the answer.
- **Data, not instructions.** The facts (and with them every title and commit message copied from
  a source) reach the model as JSON inside a fence (see `prompts.fenced`); the system prompt says
  they are data. The answer is only ever text: nothing it says is parsed as a command, and an
  answer with Slack mentions or links is refused outright.
- **Grounded or refused.** Every number in the answer must be a number of the facts, rounded or in
  another unit (`insights.grounding`). An answer that is not, that is not the asked-for JSON, that
  comes late (``timeout_s``, the whole call, default 20 s), is cut at the token cap, or fails in
  any way the API can fail, is logged on ``sitrep.llm`` with the reason and replaced by the
  narrator's summary. There are no retries: the narrator *is* the retry.
- **Cached.** A grounded answer is stored in ``llm_summaries`` by (template, facts hash, model); the
  template key carries a digest of the prompt's text, so editing a prompt invalidates its answers.
  The same report rendered again (a digest after an unchanged sync) costs no tokens.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import openai
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine

import prompts
from insights import grounding
from insights.common import FactsOnce, Summary, jsonable
from storage.db import session_scope
from storage.models import LlmSummary

log = logging.getLogger("sitrep.llm")

SYSTEM_TEMPLATE = "summary_system.j2"
USER_TEMPLATE = "summary_user.j2"
_KIND = re.compile(r"^[a-z][a-z_]{0,39}$")
# Things a summary has no reason to contain and a Slack message would act on (a ping, a link).
_UNSAFE = re.compile(r"<[!@#]|@(?:here|channel|everyone)\b|https?://|\bwww\.", re.IGNORECASE)
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*)\n\s*```\s*$", re.DOTALL)
_T = TypeVar("_T")

Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


@dataclass(frozen=True)
class LlmConfig:
    """Where the OpenAI-compatible endpoint is and how much one summary may cost."""

    api_key: str = field(repr=False)
    base_url: str | None = None  # None: api.openai.com
    model: str = "gpt-4o-mini"
    timeout_s: float = 20.0  # the whole call, connection to last byte
    max_tokens: int = 600

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LlmConfig | None:
        """The config in ``env``; None (the narrator only) when neither ``OPENAI_API_KEY`` nor
        ``OPENAI_BASE_URL`` is set. A local server without auth needs only the URL.

        Optional: ``SITREP_LLM_MODEL``, ``SITREP_LLM_TIMEOUT`` (seconds, the whole call) and
        ``SITREP_LLM_MAX_TOKENS`` (the answer's token cap). A bad value raises `ValueError`.
        """
        api_key = env.get("OPENAI_API_KEY", "").strip()
        base_url = env.get("OPENAI_BASE_URL", "").strip()
        if not api_key and not base_url:
            return None
        timeout = _positive(env, "SITREP_LLM_TIMEOUT", cls.timeout_s)
        max_tokens = _positive(env, "SITREP_LLM_MAX_TOKENS", float(cls.max_tokens))
        if not max_tokens.is_integer():
            raise ValueError(f"SITREP_LLM_MAX_TOKENS={max_tokens:g} is not a whole number")
        return cls(
            # The client refuses an empty key; servers that want none ignore this one.
            api_key=api_key or "sitrep-no-key",
            base_url=base_url or None,
            model=env.get("SITREP_LLM_MODEL", "").strip() or cls.model,
            timeout_s=timeout,
            max_tokens=int(max_tokens),
        )


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:  # also refuses nan
        raise ValueError(f"{name}={text!r} is not a positive number; fix it or unset it")
    return value


class Rejected(Exception):
    """Why an answer was not used; the message goes to the log."""


class _Answer(BaseModel):
    """The JSON object the prompt asks for. Extra keys are ignored; the rest is strict."""

    model_config = ConfigDict(extra="ignore", strict=True)

    headline: Line
    risks: Annotated[list[Line], Field(max_length=3)]
    actions: Annotated[list[Line], Field(max_length=3)]


def summarise(
    engine: Engine | None,
    *,
    kind: str,
    facts: Mapping[str, Any],
    fallback: Summary,
    config: LlmConfig | None,
) -> Summary:
    """The LLM's summary of a report when it is grounded in ``facts``, else ``fallback``.

    ``kind`` is the report's kind (health, dora, sprint); ``facts`` its JSON-able facts (what the
    model is shown and checked against). ``engine`` holds the answer cache; None: no cache. Never
    raises for anything the endpoint does: every such failure is logged and gives ``fallback``.
    """
    if config is None:
        return fallback
    if not _KIND.match(kind):
        raise ValueError(f"report kind must be a lowercase identifier, not {kind!r}")
    data = jsonable(facts)
    system = prompts.render(SYSTEM_TEMPLATE, kind=kind)
    user = prompts.render(USER_TEMPLATE, kind=kind, facts=data)
    key = _CacheKey(template_key(kind), facts_hash(data), config.model)
    cached = _read(engine, key)
    if cached is not None:
        return cached
    try:
        content = _call_within(config.timeout_s, lambda: _complete(config, system, user))
        summary = read_answer(content, data, source=f"llm:{config.model}")
    except Rejected as exc:
        log.warning(
            "LLM summary of %s (%s) not used, the narrator's stands: %s", kind, config.model, exc
        )
        return fallback
    _write(engine, key, summary)
    return summary


_R = TypeVar("_R", bound=FactsOnce)  # `insights.report.Report`, `SprintReport`


def with_llm_summary(engine: Engine | None, report: _R, config: LlmConfig | None) -> _R:
    """``report`` with the LLM's summary in place of the narrator's (`summarise`: only when
    ``config`` is set and the answer is grounded); as it was otherwise."""
    if config is None or report.summary is None:
        return report
    summary = summarise(
        engine, kind=report.kind, facts=report.facts(), fallback=report.summary, config=config
    )
    return report.with_summary(summary)


def read_answer(content: str, facts: Any, *, source: str) -> Summary:
    """Parse and check the model's text; raise `Rejected` saying what is wrong with it."""
    fenced = _FENCE.match(content)
    try:
        raw = json.loads(fenced[1] if fenced else content)
    except ValueError:
        raise Rejected(f"the answer is not JSON: {content[:80]!r}") from None
    try:
        answer = _Answer.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise Rejected(f"the answer has the wrong shape ({problems})") from None
    texts = [answer.headline, *answer.risks, *answer.actions]
    unsafe = [m[0] for t in texts for m in _UNSAFE.finditer(t)]
    if unsafe:
        raise Rejected(f"the answer contains mentions or links: {', '.join(map(repr, unsafe))}")
    verdict = grounding.check(texts, facts)
    if not verdict.ok:
        raise Rejected(f"the answer is not grounded: {verdict.reason}")
    return Summary(answer.headline, tuple(answer.risks), tuple(answer.actions), source)


def facts_hash(facts: Any) -> str:
    """sha256 of the canonical JSON of ``facts`` (sorted keys, no spaces)."""
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def template_key(kind: str) -> str:
    """``summary:<kind>:<digest of both templates>``: a new prompt means new answers."""
    text = prompts.source(SYSTEM_TEMPLATE) + "\0" + prompts.source(USER_TEMPLATE)
    return f"summary:{kind}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


# ---------------------------------------------------------------- the call


def _complete(config: LlmConfig, system: str, user: str) -> str:
    try:
        with openai.OpenAI(
            api_key=config.api_key,
            base_url=config.base_url,
            timeout=config.timeout_s,  # each connect and read; `_call_within` bounds the whole
            max_retries=0,
        ) as client:
            completion = client.chat.completions.create(
                model=config.model,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                response_format={"type": "json_object"},
                max_tokens=config.max_tokens,
                temperature=0,
            )
    except openai.APIStatusError as exc:
        raise Rejected(f"the endpoint answered {exc.status_code}: {exc.message}") from None
    except openai.APIError as exc:  # timeouts, connection errors, unreadable responses
        raise Rejected(f"{type(exc).__name__}: {exc}") from None
    if not completion.choices:
        raise Rejected("the endpoint returned no choices")
    choice = completion.choices[0]
    if choice.finish_reason == "length":
        raise Rejected(f"the answer was cut at the token cap ({config.max_tokens})")
    if not choice.message.content:
        refusal = choice.message.refusal
        raise Rejected(f"the model refused: {refusal}" if refusal else "the answer is empty")
    return choice.message.content


def _call_within(seconds: float, call: Callable[[], _T]) -> _T:
    """``call()``'s result, or `Rejected` once ``seconds`` have passed.

    The client's timeouts bound each connect and each read, not the whole call: a server that sends
    a byte now and then would keep it alive forever. So the call runs in a daemon thread that we
    stop waiting for; its own timeouts end it soon after.
    """
    outcome: list[tuple[bool, Any]] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the caller below, re-raised there
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="sitrep-llm", daemon=True).start()
    if not done.wait(seconds):
        raise Rejected(f"no answer within {seconds:g} s")
    ok, value = outcome[0]
    if not ok:
        raise value
    result: _T = value
    return result


# ---------------------------------------------------------------- the cache


@dataclass(frozen=True)
class _CacheKey:
    template: str
    facts_hash: str
    model: str


def _read(engine: Engine | None, key: _CacheKey) -> Summary | None:
    if engine is None:
        return None
    query = sa.select(LlmSummary.summary).where(
        LlmSummary.template == key.template,
        LlmSummary.facts_hash == key.facts_hash,
        LlmSummary.model == key.model,
    )
    try:
        with session_scope(engine) as session:
            stored = session.execute(query).scalar_one_or_none()
    except sa.exc.SQLAlchemyError as exc:
        log.warning("LLM summary cache unreadable, asking the model: %s", exc)
        return None
    if stored is None:
        return None
    try:
        answer = _Answer.model_validate(stored)
    except ValidationError:
        return None  # written by an older shape: ask again, the new answer replaces it
    source = f"llm:{key.model}"
    return Summary(answer.headline, tuple(answer.risks), tuple(answer.actions), source)


def _write(engine: Engine | None, key: _CacheKey, summary: Summary) -> None:
    if engine is None:
        return
    row = {
        "template": key.template,
        "facts_hash": key.facts_hash,
        "model": key.model,
        "summary": {
            "headline": summary.headline,
            "risks": list(summary.risks),
            "actions": list(summary.actions),
        },
    }
    statement = insert(LlmSummary).values(row)
    statement = statement.on_conflict_do_update(
        index_elements=["template", "facts_hash", "model"],
        set_={"summary": statement.excluded.summary},
    )
    try:
        with session_scope(engine) as session:
            session.execute(statement)
    except sa.exc.SQLAlchemyError as exc:  # the answer is still good; only the cache missed it
        log.warning("LLM summary not cached: %s", exc)
