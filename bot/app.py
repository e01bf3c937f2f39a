"""The Bolt app: Slack's requests verified, acknowledged and routed to the surfaces' listeners.

Bolt checks every request's signature and its 5-minute window (401 otherwise) before any listener
runs. Listeners call ``ack()`` first and hand the rest to `Deps.later` (or `Deps.answers`), then
return; Bolt answers Slack when they return, so the 3-second limit is met however long a report,
Jira or Sentry takes.
"""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.deps import Deps
from bot.surfaces import register_all


def build_app(deps: Deps) -> App:
    app = App(
        name="sitrep",
        token=deps.config.bot_token,
        signing_secret=deps.config.signing_secret,
        client=deps.slack,
        # No auth.test at start-up: the web process must come up (and answer /healthz) while
        # Slack is unreachable; the first request checks the token instead.
        token_verification_enabled=False,
        # Slack gets its answer when the listener returns. Listeners acknowledge and hand the
        # rest to `Deps.later` / `Deps.answers`, so that is at once; the alternative (Bolt runs
        # the listener on a pool and polls every 10 ms for the ack) cost each of fifty
        # concurrent commands up to 10 ms more and a thread spinning meanwhile.
        process_before_response=True,
        logger=logging.getLogger("sitrep.bolt"),
    )
    register_all(app, deps)
    return app
