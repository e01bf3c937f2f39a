"""``/sitrep`` and the "Share in channel" button, registered on the Bolt app.

The 3-second rule, visibly: each listener calls ``ack`` before it touches the database. A command
whose words do not parse (or ``help``) is answered in the acknowledgement itself, which needs no
database and no second message; every other command is acknowledged with one short line and
answered through its ``response_url`` (`Deps.respond`: durable, retried) once the work is done.
Bolt runs the rest of the listener on its thread pool after the acknowledgement went out.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.commands.answer import Asker, acknowledgement, answer
from bot.commands.messages import help_message, usage
from bot.commands.model import Command, Help, UsageError
from bot.commands.parse import parse, warm_up
from bot.commands.report import share_report
from bot.deps import Deps
from bot.slack.ids import ActionId

log = logging.getLogger("sitrep.commands")


def unescape(text: str) -> str:
    """The command's text as typed: Slack sends ``&``, ``<`` and ``>`` as HTML entities, so
    "Catalog & Search" arrives as "Catalog &amp; Search"."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _answer(deps: Deps, parsed: Command, asker: Asker, response_url: str) -> None:
    deps.acknowledging.wait_quiet()  # acknowledgements first: they have a deadline
    try:
        deps.respond(response_url, answer(deps, parsed, asker))
    except Exception:  # a pool swallows exceptions: say what broke, and tell the asker
        log.exception("answering /sitrep failed")
        deps.respond(
            response_url,
            {
                "response_type": "ephemeral",
                "text": "Sorry, that failed on our side; the error is in the Sitrep logs.",
            },
        )


def register(app: App, deps: Deps) -> None:
    warm_up()

    @app.command("/sitrep")
    def sitrep(ack: Ack, command: dict[str, Any]) -> None:
        try:
            parsed = parse(unescape(str(command.get("text") or "")))
        except UsageError as error:
            deps.metrics.commands.labels("usage_error").inc()
            ack(**usage(error))
            return
        deps.metrics.commands.labels(type(parsed).__name__.lower()).inc()
        if isinstance(parsed, Help):
            ack(**help_message(parsed.topic))
            return
        ack(response_type="ephemeral", text=acknowledgement(parsed))
        asker = Asker(
            user=str(command.get("user_id", "")),
            channel=str(command.get("channel_id", "")),
            channel_name=str(command.get("channel_name", "")),
        )
        deps.answers.submit(_answer, deps, parsed, asker, str(command["response_url"]))

    @app.action(ActionId.SHARE_REPORT.value)
    def share(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        deps.later(share_report, deps, body)
