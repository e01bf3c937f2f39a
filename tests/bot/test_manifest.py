"""manifest.json is a Slack app manifest Slack accepts, with everything the bot relies on."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from bot.slack.fake_methods import METHODS
from bot.slack.fake_state import DEFAULT_SCOPES

ROOT = Path(__file__).parents[2]
MANIFEST = ROOT / "manifest.json"
# CI clones the repository with `shared/` beside it.
SCHEMAS = ROOT.parent / "shared/specs/slack"
EVENTS_URL = "https://YOUR-HOST/slack/events"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(MANIFEST.read_text())
    return loaded


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    """What the schema of the manifest's own major version says is wrong with it.

    As slackapi/manifest-schema picks it: ``_metadata.major_version`` 2 means the 2.0.0 schema,
    anything else (or no ``_metadata``) the 1.0.0 one.
    """
    major = manifest.get("_metadata", {}).get("major_version", 1)
    schema = json.loads(
        (SCHEMAS / f"manifest.schema.{2 if major == 2 else 1}.0.0.json").read_text()
    )
    Draft7Validator.check_schema(schema)
    validator = Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(manifest)
    ]


def test_the_manifest_matches_slacks_schema(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"]["major_version"] == 1  # the version Slack apps (not workflows) use
    assert schema_errors(manifest) == []


@pytest.mark.parametrize(
    "breakage",
    [
        lambda m: m["features"]["slash_commands"][0].update(command="sitrep"),  # no leading /
        lambda m: m["settings"]["interactivity"].pop("is_enabled"),
        lambda m: m["features"].update(home_tab=True),  # not a key Slack knows
        lambda m: m["display_information"].update(name="S" * 36),
    ],
)
def test_the_schema_check_catches_a_broken_manifest(
    manifest: dict[str, Any], breakage: Any
) -> None:
    """So the check above cannot pass by validating nothing."""
    broken = copy.deepcopy(manifest)
    breakage(broken)
    assert schema_errors(broken) != []


def test_the_sitrep_command(manifest: dict[str, Any]) -> None:
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/sitrep"
    assert command["url"] == EVENTS_URL
    assert command["usage_hint"]
    assert command["description"]


def test_interactivity_events_and_home_tab(manifest: dict[str, Any]) -> None:
    settings, features = manifest["settings"], manifest["features"]
    assert settings["interactivity"] == {"is_enabled": True, "request_url": EVENTS_URL}
    assert settings["event_subscriptions"]["request_url"] == EVENTS_URL
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True  # digests arrive as DMs
    assert features["bot_user"]["display_name"] == "Sitrep"
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is False


def test_every_url_is_the_obvious_placeholder(manifest: dict[str, Any]) -> None:
    text = MANIFEST.read_text()
    assert text.count("https://") == text.count("https://YOUR-HOST/slack/events") == 3


def test_the_scopes_cover_what_the_bot_calls(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert {"commands", "chat:write", "chat:write.public", "users:read"} <= set(scopes)
    # The fake refuses a call without its scope, as Slack does; it must grant these very ones.
    assert sorted(scopes) == sorted(DEFAULT_SCOPES)
    needed = {scope for scope, _ in METHODS.values() if scope}
    assert needed <= set(scopes)
