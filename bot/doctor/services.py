"""The service checks: Slack (the bot), Sentry alert webhooks, and the LLM endpoint.

Slack is read with `bot.config.BotConfig.from_env`, as `sitrep serve` reads it, and asked
``auth.test`` with the bot token. The LLM is read with `insights.llm.LlmConfig.from_env` and asked
for its model list (``GET /models``: every OpenAI-compatible server has it, and it costs no
tokens).
"""

from __future__ import annotations

from collections.abc import Mapping

import openai
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import BotConfig, ConfigError
from bot.doctor.model import Check, Status, first_line, unreachable_fix
from insights.llm import LlmConfig

SLACK_APPS = "https://api.slack.com/apps"
SLACK_SETUP = (
    f"create a Slack app at {SLACK_APPS} and install it, then set SLACK_BOT_TOKEN (OAuth & "
    "Permissions: Bot User OAuth Token, xoxb-...) and SLACK_SIGNING_SECRET (Basic Information: "
    "Signing Secret)"
)
# auth.test errors that mean the token itself is wrong, not Slack or the network.
_BAD_TOKEN = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}


def check_slack(env: Mapping[str, str], *, timeout: float) -> list[Check]:
    """``slack`` (auth.test with the bot token), and ``slack-app-token`` when one is set."""
    try:
        config = BotConfig.from_env(env)
    except ConfigError as exc:
        if not any(env.get(n, "").strip() for n in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")):
            return [
                Check(
                    "slack",
                    Status.OFF,
                    "not configured: `sitrep serve` cannot run the bot (the CLI works without it)",
                    SLACK_SETUP,
                )
            ]
        return [Check("slack", Status.FAIL, str(exc), SLACK_SETUP)]
    checks = [_auth_test(config, timeout)]
    if config.app_token is not None and not config.app_token.startswith("xapp-"):
        checks.append(
            Check(
                "slack-app-token",
                Status.FAIL,
                "SLACK_APP_TOKEN is not an app-level token (those start with xapp-)",
                f"generate one under Basic Information > App-Level Tokens ({SLACK_APPS}) with "
                "the connections:write scope, or unset SLACK_APP_TOKEN",
            )
        )
    elif config.app_token is not None:
        checks.append(
            Check("slack-app-token", Status.OK, "set: `sitrep serve --socket-mode` can connect")
        )
    return checks


def _auth_test(config: BotConfig, timeout: float) -> Check:
    client = WebClient(
        token=config.bot_token,
        base_url=config.api_url,
        timeout=max(1, round(timeout)),
        retry_handlers=[],  # one attempt: a doctor reports, it does not wait things out
    )
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error") or exc.response.status_code)
        if error in _BAD_TOKEN:
            return Check(
                "slack",
                Status.FAIL,
                f"SLACK_BOT_TOKEN rejected by Slack ({error})",
                f"copy the Bot User OAuth Token (xoxb-...) from OAuth & Permissions of your app "
                f"at {SLACK_APPS}; reinstall the app if it was revoked",
            )
        return Check(
            "slack",
            Status.FAIL,
            f"auth.test at {config.api_url} failed: {error}",
            unreachable_fix("SLACK_API_URL", config.api_url),
        )
    except (SlackClientError, OSError) as exc:  # URLError, timeouts, refused connections
        return Check(
            "slack",
            Status.FAIL,
            f"cannot reach {config.api_url}: {first_line(exc)}",
            unreachable_fix("SLACK_API_URL", config.api_url),
        )
    who = f"bot @{answer.get('user', '?')} in {answer.get('team', '?')}"
    if not config.bot_token.startswith("xoxb-"):
        return Check(
            "slack",
            Status.WARN,
            f"{who}, but SLACK_BOT_TOKEN is not a bot token (those start with xoxb-)",
            f"use the Bot User OAuth Token from OAuth & Permissions ({SLACK_APPS})",
        )
    return Check("slack", Status.OK, f"{who} ({answer.get('url', config.api_url)})")


def check_sentry_alerts(env: Mapping[str, str]) -> Check:
    """Sentry webhooks are verified with the integration's client secret; without it, refused."""
    if env.get("SENTRY_CLIENT_SECRET", "").strip():
        return Check("sentry-alerts", Status.OK, "SENTRY_CLIENT_SECRET set: webhooks are verified")
    return Check(
        "sentry-alerts",
        Status.OFF,
        "not configured: Sentry alert webhooks are refused (they cannot be verified)",
        "set SENTRY_CLIENT_SECRET to the Client Secret of your Sentry internal integration "
        "(Settings > Developer Settings) whose webhook URL is https://<sitrep>/webhooks/sentry",
    )


def check_llm(env: Mapping[str, str], *, timeout: float) -> Check:
    """Optional: off means the rule-based narrator writes every summary."""
    try:
        config = LlmConfig.from_env(env)
    except ValueError as exc:
        return Check("llm", Status.FAIL, str(exc), "fix the value or unset it")
    if config is None:
        return Check(
            "llm",
            Status.OFF,
            "not configured: the rule-based narrator writes the summaries",
            "for LLM summaries set OPENAI_API_KEY and/or OPENAI_BASE_URL (any "
            "OpenAI-compatible endpoint) and SITREP_LLM_MODEL",
        )
    return _ask_models(config, timeout)


def _ask_models(config: LlmConfig, timeout: float) -> Check:
    where = config.base_url or "https://api.openai.com/v1"
    fallback = " (until fixed, the narrator writes the summaries)"
    try:
        with openai.OpenAI(
            api_key=config.api_key, base_url=config.base_url, timeout=timeout, max_retries=0
        ) as client:
            models = [model.id for model in client.models.list()]
    except openai.AuthenticationError:
        key_fix = (
            "set OPENAI_API_KEY to the key the endpoint expects"
            if config.base_url
            else "create a key at https://platform.openai.com/api-keys and set OPENAI_API_KEY"
        )
        detail = f"OPENAI_API_KEY rejected (401) by {where}{fallback}"
        return Check("llm", Status.FAIL, detail, key_fix)
    except openai.NotFoundError:
        return Check(
            "llm",
            Status.WARN,
            f"{where} has no model list (404), so the model was not checked",
            "check OPENAI_BASE_URL: it usually ends in /v1",
        )
    except openai.APIStatusError as exc:
        return Check(
            "llm",
            Status.FAIL,
            f"{where} answered {exc.status_code}: {first_line(exc.message)}{fallback}",
            "check OPENAI_API_KEY and OPENAI_BASE_URL",
        )
    except openai.APIError as exc:  # timeouts, refused connections, unreadable answers
        return Check(
            "llm",
            Status.FAIL,
            f"cannot reach {where}: {first_line(exc)}{fallback}",
            unreachable_fix("OPENAI_BASE_URL", where),
        )
    if config.model not in models:
        listed = ", ".join(sorted(models)[:8]) or "none"
        return Check(
            "llm",
            Status.WARN,
            f"{where} does not list the model {config.model!r}",
            f"set SITREP_LLM_MODEL to one it lists: {listed}",
        )
    return Check("llm", Status.OK, f"{where}, model {config.model}")
