"""``/sitrep``: acknowledged at once, answered through the response URL (plumbing only so far)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.deps import Deps


def register(app: App, deps: Deps) -> None:
    @app.command("/sitrep")
    def sitrep(ack: Ack, command: dict[str, Any]) -> None:
        ack(text="Working on it…", response_type="ephemeral")
        deps.respond(
            command["response_url"],
            {"response_type": "ephemeral", "text": f"You asked: {command.get('text', '')}"},
        )
