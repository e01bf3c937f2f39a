"""`sitrep console`: talk to a running bot as Slack would, and read its answers in the terminal.

    sitrep console "/sitrep dora Payment System 90d"
    sitrep console --click "Share in channel"            a button of the last answer
    sitrep console --channel payments                    what the bot posted in #payments
    sitrep console --channel payments --click "Create Jira ticket"
    sitrep console --submit                              submit the modal that just opened
    sitrep console --home                                open the App Home

Requests go through the bot's real HTTP endpoint with a valid signature; the answers are read
back from the fake Slack the bot posts to (its ``/_sandbox/`` routes). `make demo ARGS=--keep`
leaves both running and writes their addresses to ``demo.env`` in the data directory, which this
command reads when SITREP_URL / SLACK_SIGNING_SECRET / SLACK_API_URL are not set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from bot.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, err
from storage.db import data_dir

DEMO_ENV = "demo.env"
LAST = "console-last.json"


def settings() -> dict[str, str]:
    """SITREP_URL, SLACK_SIGNING_SECRET and SLACK_API_URL: the environment, else demo.env."""
    found: dict[str, str] = {}
    path = data_dir() / DEMO_ENV
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            if value:
                found[name.strip()] = value.strip()
    for name in ("SITREP_URL", "SLACK_SIGNING_SECRET", "SLACK_API_URL"):
        if os.environ.get(name):
            found[name] = os.environ[name]
    return found


def console(
    text: Annotated[
        str | None, typer.Argument(help='A slash command, e.g. "/sitrep health".')
    ] = None,
    click: Annotated[
        str | None, typer.Option("--click", help="Press the button with this label.")
    ] = None,
    channel: Annotated[
        str | None,
        typer.Option(
            "--channel", "-c", help="The channel to type in, read, or click a message of."
        ),
    ] = None,
    submit: Annotated[
        bool, typer.Option("--submit", help="Submit the last modal with its prefilled values.")
    ] = False,
    home: Annotated[bool, typer.Option("--home", help="Open the App Home tab.")] = False,
    user: Annotated[
        str, typer.Option("--user", help="The Slack user id you act as.")
    ] = "U0CONSOLE",
) -> None:
    """Send a slash command or a button click to a running bot and print its answer."""
    from bot.console.driver import Driver, RemoteSide

    conf = settings()
    missing = [
        n for n in ("SITREP_URL", "SLACK_SIGNING_SECRET", "SLACK_API_URL") if not conf.get(n)
    ]
    if missing:
        err(
            f"Set {', '.join(missing)}, or start `make demo ARGS=--keep`, which writes them to "
            f"{data_dir() / DEMO_ENV}."
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    side = RemoteSide(conf["SLACK_API_URL"].removesuffix("/").removesuffix("/api"))
    driver = Driver(conf["SITREP_URL"], conf["SLACK_SIGNING_SECRET"], side, user=user)
    out = Console()
    try:
        _run(driver, out, text=text, click=click, channel=channel, submit=submit, home=home)
    except LookupError as exc:
        err(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except OSError as exc:  # connection refused: nothing is running there
        err(f"Cannot reach the bot at {conf['SITREP_URL']} ({exc}); is `sitrep serve` running?")
        raise typer.Exit(EXIT_FAILED) from None
    finally:
        driver.close()


def _run(
    driver: Any,
    out: Console,
    *,
    text: str | None,
    click: str | None,
    channel: str | None,
    submit: bool,
    home: bool,
) -> None:
    from bot.console.render import render_message, render_view

    if home:
        view = driver.open_home()
        out.print(render_view(view) if view else "The bot published no Home tab.")
        return
    if submit:
        modals = driver.side.views(driver.user).get("modals") or []
        if not modals:
            raise LookupError("no modal is open; press a button that opens one first")
        outcome = driver.submit(modals[-1], initial_values(modals[-1]))
        out.print(
            f"Submitted {modals[-1].get('title', {}).get('text', 'the modal')!r}: "
            f"HTTP {outcome.status}"
        )
        _show_channel(driver, out, channel or "general")
        return
    if text:
        outcome = driver.command(text, channel=channel or "general")
        _report_status(outcome)
        answer: dict[str, Any] = outcome.posts[-1] if outcome.posts else {"text": str(outcome.ack)}
        _remember({"blocks": answer.get("blocks") or [], "channel": channel or "general"})
        out.print(
            render_message(
                answer.get("text", ""),
                answer.get("blocks"),
                ephemeral=True,
                title="Sitrep · only visible to you",
            )
        )
        return
    if click:
        message = _latest_with(driver, channel, click) if channel else None
        last = {} if message else _recall()
        outcome = driver.click(
            click,
            message=message,
            blocks=None if message else last.get("blocks"),
            channel=channel or str(last.get("channel") or "general"),
        )
        _report_status(outcome)
        if outcome.modal:
            out.print(render_view(outcome.modal))
        for post in outcome.posts:
            out.print(render_message(post.get("text", ""), post.get("blocks")))
        if channel:
            _show_channel(driver, out, channel)
        return
    _show_channel(driver, out, channel or "general")


def _report_status(outcome: Any) -> None:
    if outcome.status != 200:
        err(f"The bot answered HTTP {outcome.status}: {outcome.ack}")
        raise typer.Exit(EXIT_FAILED)


def _show_channel(driver: Any, out: Console, channel: str) -> None:
    from bot.console.render import render_message

    messages = driver.side.history(channel)
    if not messages:
        out.print(f"#{channel.removeprefix('#')}: no messages from the bot yet.")
    for message in messages[-5:]:
        out.print(
            render_message(
                message.get("text", ""),
                message.get("blocks"),
                title=f"#{channel.removeprefix('#')}",
                thread=message.get("replies") or None,
            )
        )


def _latest_with(driver: Any, channel: str, label: str) -> dict[str, Any] | None:
    from bot.console.driver import find_button

    for message in reversed(driver.side.history(channel)):
        try:
            find_button(message.get("blocks") or [], label)
        except LookupError:
            continue
        return dict(message)
    raise LookupError(f"no message in #{channel.removeprefix('#')} has a {label!r} button")


def initial_values(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The state a person leaves when they submit a modal as it was prefilled."""
    from bot.console.payloads import input_state

    values: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks") or []:
        element = block.get("element") if block.get("type") == "input" else None
        if not isinstance(element, dict) or not element.get("action_id"):
            continue
        state = input_state(
            element,
            value=element.get("initial_value"),
            option=element.get("initial_option") or (element.get("options") or [None])[0],
        )
        values[str(block.get("block_id", ""))] = {str(element["action_id"]): state}
    return values


def _remember(data: dict[str, Any]) -> None:
    path = data_dir() / LAST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _recall() -> dict[str, Any]:
    path: Path = data_dir() / LAST
    if not path.exists():
        raise LookupError("no earlier answer to click in; send a command first")
    found: dict[str, Any] = json.loads(path.read_text())
    return found
