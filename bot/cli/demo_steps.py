"""The demo's bot steps (5-10), in the order a new user meets the bot.

Every step goes through the web process's real HTTP endpoint with a valid signature, and each
prints what Slack would show, drawn by the console stand-in. A step that does not get the answer
it should says so in red and makes the demo exit 1: the demo is a smoke test too.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import httpx
import sqlalchemy as sa
import typer
from sqlalchemy.engine import Engine

from bot.cli.console import initial_values
from bot.cli.demo_bot import RunningBot, issue_created
from bot.console.render import render_view
from bot.sandbox import Sandbox
from storage.db import session_scope
from storage.models_bot import JiraLink, Subscription

PRODUCT = "Payment System"


def run(engine: Engine, sandbox: Sandbox, *, keep: bool, step: Callable[[int, str], None]) -> bool:
    product = next(p for p in sandbox.world.products if p.name == PRODUCT)
    channel = (product.slack_channel or "#general").removeprefix("#")
    step(5, "Starting the Slack bot: `sitrep serve`'s web app, with a local fake Slack")
    bot = RunningBot(engine, sandbox, clock=lambda: dt.datetime.now(dt.UTC))
    ok = True
    try:
        typer.echo(f"    web process {bot.web.url}   fake Slack {bot.slack.url}")
        typer.echo(
            "    the console below plays the Slack client: every request is signed and "
            "sent over HTTP"
        )

        step(6, "The App Home tab, as Alice opens it")
        bot.home()

        for number, text in enumerate(
            (
                f"/sitrep health {PRODUCT}",
                f"/sitrep dora {PRODUCT} 30d",
                f"/sitrep sprint {PRODUCT}",
            ),
            start=7,
        ):
            step(number, f"`{text}`")
            ok = bot.command(text) and ok

        step(
            10,
            f"A daily digest: `/sitrep subscribe digest {PRODUCT} daily 09:00` in "
            f"#{channel}, then the worker's digest job at 09:00",
        )
        ok = digest(bot, channel) and ok

        step(
            11,
            "A Sentry alert: a signed issue.created webhook -> #"
            f"{channel}, then Alice clicks Create Jira ticket",
        )
        ok = alert(bot, sandbox, product.sentry_projects[0], channel) and ok

        if keep:
            path = bot.write_env()
            typer.secho("\nStill running (Ctrl-C stops everything). Try:", bold=True)
            typer.echo(f'    .venv/bin/sitrep console "/sitrep dora {PRODUCT} 90d"')
            typer.echo('    .venv/bin/sitrep console --click "Share in channel"')
            typer.echo(f"    .venv/bin/sitrep console --channel {channel}")
            typer.echo("    .venv/bin/sitrep console --home")
            typer.echo(f"    (addresses and the signing secret are in {path})")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                typer.echo("Stopping.")
    finally:
        bot.stop()
    return ok


def digest(bot: RunningBot, channel: str) -> bool:
    from bot.digests.run import run_due

    outcome = bot.driver.command(
        f"/sitrep subscribe digest {PRODUCT} daily 09:00 UTC", channel=channel
    )
    answer = outcome.posts[-1].get("text", "") if outcome.posts else ""
    typer.echo(f"    {answer[:160]}")
    with session_scope(bot.deps.engine) as session:
        due = session.scalar(
            sa.select(Subscription.next_run_at).where(Subscription.kind == "digest")
        )
    if due is None:
        typer.secho("    the subscription was not stored", fg=typer.colors.RED)
        return False
    run_due(bot.deps, now=due)
    bot.settle()
    messages = bot.channel(channel)
    if not messages:
        typer.secho("    no digest was posted", fg=typer.colors.RED)
        return False
    return True


def alert(bot: RunningBot, sandbox: Sandbox, project: str, channel: str) -> bool:
    now = dt.datetime.now(dt.UTC)
    issue_id = str(9_000_000 + int(now.timestamp()) % 1_000_000)
    sentry_url = sandbox.env().get("SENTRY_URL", "http://sentry.local").rstrip("/")
    body = issue_created(
        project,
        issue_id=issue_id,
        title="TimeoutError: card authorisation took longer than 30s",
        culprit="payments.gateway.authorise",
        web_url=f"{sentry_url}/organizations/sandbox/issues/{issue_id}/",
        now=now,
    )
    started = time.perf_counter()
    response = bot.sentry_webhook(body)
    took = (time.perf_counter() - started) * 1000
    typer.echo(f"    Sentry got HTTP {response.status_code} in {took:.0f} ms: {response.text}")
    bot.settle()
    messages = bot.channel(channel)
    if not messages:
        typer.secho("    the alert was not posted", fg=typer.colors.RED)
        return False
    message = messages[-1]
    typer.echo("    Alice clicks Create Jira ticket; the bot opens its modal:")
    outcome = bot.driver.click("Create Jira ticket", message=message, channel=channel)
    if outcome.modal is None:
        typer.secho(f"    no modal opened ({outcome.ack})", fg=typer.colors.RED)
        return False
    bot.out.print(render_view(outcome.modal, users=bot.users))
    typer.echo("    Alice submits it as prefilled:")
    submitted = bot.driver.submit(outcome.modal, initial_values(outcome.modal))
    if submitted.status != 200:
        typer.secho(f"    the submission was refused: {submitted.ack}", fg=typer.colors.RED)
        return False
    key = _wait_for_ticket(bot, issue_id)
    if key is None:
        typer.secho("    no Jira issue was created", fg=typer.colors.RED)
        return False
    env = sandbox.env()
    found = httpx.get(
        f"{env['JIRA_URL'].rstrip('/')}/rest/api/3/issue/{key}",
        params={"fields": "summary,priority,labels"},
        auth=(env["JIRA_EMAIL"], env["JIRA_TOKEN"]),
        timeout=10,
    ).json()
    fields = found.get("fields", {})
    typer.echo(
        f"    Jira (the fake) now has {key}: {fields.get('summary')!r}, priority "
        f"{(fields.get('priority') or {}).get('name')}, labels {fields.get('labels')}"
    )
    typer.echo("    and the alert message was updated in place:")
    bot.settle()
    bot.channel(channel)
    return True


def _wait_for_ticket(bot: RunningBot, issue_id: str, timeout: float = 15.0) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(bot.deps.engine) as session:
            key = session.scalar(
                sa.select(JiraLink.jira_key).where(JiraLink.sentry_issue_id == issue_id)
            )
        if key:
            return str(key)
        time.sleep(0.1)
    return None
