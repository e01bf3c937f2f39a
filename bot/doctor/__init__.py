"""`sitrep doctor`: is Sitrep configured, and can it reach what it is configured for?

Each check reads the variables the rest of Sitrep reads (through `storage.db`, the collectors'
`from_env`, `bot.config.BotConfig` and `insights.llm.LlmConfig`) and makes at most one cheap
authenticated call with the client Sitrep itself uses. It returns `Check` lines (ok, warn, fail,
or off: not configured), each saying what was found and how to fix it. Secrets never reach the
output: every line is scrubbed of the values of `SECRET_VARIABLES` before `diagnose` returns.

The diagnosis fails (``sitrep doctor`` exits 1) when

- the database does not work (it is always needed; unset means the embedded one), or a
  configured service does not (a refused token, an unreachable URL, half of a source's variables);
- no source at all is configured: Sitrep would have nothing to report on;
- a service named in ``require`` (``--require``) is not configured.

Optional services left unset (Slack, Sentry alert webhooks, the LLM, any one source) and
warnings (pending migrations, no products yet) do not fail it.

The checks run side by side, each group in a daemon thread with a deadline (the source clients'
own timeouts are longer than a doctor should wait), so a hanging service costs ``timeout``
seconds and a line, never a hang or a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace

from sqlalchemy.exc import SQLAlchemyError

from bot.doctor.database import check_database
from bot.doctor.model import Check, Diagnosis, Status, first_line
from bot.doctor.services import check_llm, check_sentry_alerts, check_slack
from bot.doctor.sources import SOURCE_NAMES, sources
from storage import db
from storage.errors import StorageError

__all__ = ["REQUIRABLE", "Check", "Diagnosis", "Status", "diagnose"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
# Starting the embedded PostgreSQL the first time (initdb) may take longer than a service call
# should: the database group gets at least this long.
DATABASE_TIMEOUT = 20.0
SECRET_VARIABLES = (
    "SENTRY_TOKEN",
    "SENTRY_CLIENT_SECRET",
    "JIRA_TOKEN",
    "GITHUB_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "OPENAI_API_KEY",
)
# What `require` accepts: the optional services, by the name of their main check.
REQUIRABLE = (*SOURCE_NAMES, "slack", "sentry-alerts", "llm")

# Where each group's service is, for the line a group that never answered gets.
URL_VARIABLES = {
    "database": "DATABASE_URL",
    "sentry": "SENTRY_URL",
    "jira": "JIRA_URL",
    "github": "GITHUB_API_URL",
    "slack": "SLACK_API_URL",
    "llm": "OPENAI_BASE_URL",
}

Group = Callable[[], list[Check]]


def diagnose(
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    require: Collection[str] = (),
) -> Diagnosis:
    """Every check against ``env`` (default: the process environment), in a fixed order."""
    env = dict(os.environ if env is None else env)
    unknown = sorted(set(require) - set(REQUIRABLE))
    if unknown:
        choices = ", ".join(REQUIRABLE)
        raise ValueError(f"cannot require {', '.join(unknown)}; choose from {choices}")
    groups: list[tuple[str, Group, float]] = [
        ("database", lambda: check_database(env), max(timeout, DATABASE_TIMEOUT))
    ]
    groups += [(name, _one(source.check, env), timeout) for name, source in sources(env).items()]
    groups += [
        ("slack", lambda: check_slack(env, timeout=timeout), timeout),
        ("sentry-alerts", lambda: [check_sentry_alerts(env)], timeout),
        ("llm", lambda: [check_llm(env, timeout=timeout)], timeout),
    ]
    checks = _run_all(groups)
    checks = [_required(c) if c.name in require and c.status is Status.OFF else c for c in checks]
    if all(c.status is Status.OFF for c in checks if c.name in SOURCE_NAMES):
        checks.append(
            Check(
                "sources",
                Status.FAIL,
                "no source is configured (Sentry, Jira or GitHub): Sitrep has nothing to report on",
                "configure at least one source (see its line above); to try Sitrep first, run "
                "`sitrep demo`, or `sitrep sandbox serve` and export the variables it prints",
            )
        )
    secrets = _secrets(env)
    return Diagnosis(tuple(c.redacted(secrets) for c in checks))


def _one(check: Callable[[Mapping[str, str]], Check], env: Mapping[str, str]) -> Group:
    return lambda: [check(env)]


def _required(check: Check) -> Check:
    return replace(check, status=Status.FAIL, detail=f"{check.detail} (required by --require)")


def _run_all(groups: list[tuple[str, Group, float]]) -> list[Check]:
    """Each group in a daemon thread; a group past its deadline is one failed line.

    Daemon threads, not a pool: a call stuck in a socket must not keep the process alive after
    the report is printed (a pool's threads are joined at exit).
    """
    results: dict[str, list[Check]] = {}
    started = time.monotonic()
    threads = []
    for name, group, seconds in groups:
        thread = threading.Thread(
            target=_run_one, args=(name, group, results), name=f"doctor-{name}", daemon=True
        )
        thread.start()
        threads.append((name, thread, seconds))
    checks: list[Check] = []
    for name, thread, seconds in threads:
        thread.join(max(0.0, started + seconds - time.monotonic()))
        if name in results:
            checks.extend(results[name])
            continue
        checks.append(
            Check(
                name,
                Status.FAIL,
                f"no answer within {seconds:g} s",
                f"check {URL_VARIABLES.get(name, 'its URL')} and that this machine can reach it "
                "(proxies: HTTPS_PROXY, NO_PROXY); `sitrep doctor --timeout 30` waits longer",
            )
        )
    return checks


def _run_one(name: str, group: Group, results: dict[str, list[Check]]) -> None:
    try:
        results[name] = group()
    except Exception as exc:  # the doctor reports, it never raises: say what broke
        log.info("doctor check %s raised", name, exc_info=True)  # shown with `sitrep -v`
        results[name] = [
            Check(
                name,
                Status.FAIL,
                f"unexpected error: {type(exc).__name__}: {first_line(exc)}",
                "run `sitrep -v doctor` to see the traceback, and report it",
            )
        ]


def _secrets(env: Mapping[str, str]) -> list[str]:
    """The values to scrub, longest first (so a secret containing another goes whole)."""
    values = [env.get(name, "").strip() for name in SECRET_VARIABLES]
    url = env.get("DATABASE_URL", "").strip()
    if url:
        with contextlib.suppress(StorageError, SQLAlchemyError, ValueError):
            values.append(db.normalise_url(url).password or "")
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)
