"""The bot's surfaces, assembled: each registers its listeners on the Bolt app and its outbox
handlers on the process's outbox. Adding a surface is one line in each function below."""

from __future__ import annotations

from slack_bolt import App

from bot.deps import Deps


def register_all(app: App, deps: Deps) -> None:
    """Commands, the Share button, App Home and the alert buttons and modals."""
    from bot.alerts import listeners as alerts
    from bot.commands import listeners as commands
    from bot.home import listeners as home

    commands.register(app, deps)
    home.register(app, deps)
    alerts.register(app, deps)


def register_outbox(deps: Deps) -> None:
    """Outbox handlers beyond Slack's own (Jira tickets, Sentry status changes)."""
    from bot.alerts import listeners as alerts

    alerts.register_outbox(deps)
