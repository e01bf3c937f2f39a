"""`sitrep doctor` against nothing, against the sandbox's fakes, and against broken settings.

Every service is a local fake over real HTTP (the sandbox's Sentry, Jira and GitHub, FakeSlack,
the fake LLM); the database is a real PostgreSQL.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.doctor import REQUIRABLE, Status, diagnose
from bot.doctor.database import check_database
from bot.doctor.services import check_llm
from bot.sandbox import Sandbox, running_sandbox
from bot.slack.fake import FakeSlack
from collectors.fakes import FakeServer
from collectors.sandbox.generator import generate
from insights.llm_fake import FAKE_API_KEY
from insights.llm_fake import create_app as create_llm
from storage import migrate
from storage.db import session_scope
from storage.products import apply_products
from tests.conftest import _drop, _recreate

PREFIXES = ("SENTRY_", "JIRA_", "GITHUB_", "SLACK_", "OPENAI_", "SITREP_")
SIGNING_SECRET = "sandbox-signing-secret-8f3a"
CLIENT_SECRET = "sandbox-sentry-client-secret-41c2"


def _ours(name: str) -> bool:
    return name.startswith(PREFIXES) or name in ("DATABASE_URL", "HTTPS_PROXY", "HTTP_PROXY")


@dataclass
class Services:
    sandbox: Sandbox
    slack: FakeSlack
    llm: FakeServer

    def env(self, database_url: URL) -> dict[str, str]:
        """What a person who ran the sandbox and the demo's fakes would have exported."""
        return self.sandbox.env() | {
            "DATABASE_URL": database_url.render_as_string(hide_password=False),
            "SLACK_BOT_TOKEN": self.slack.token,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.slack.api_url,
            "SENTRY_CLIENT_SECRET": CLIENT_SECRET,
            "OPENAI_API_KEY": FAKE_API_KEY,
            "OPENAI_BASE_URL": f"{self.llm.url}/v1",
        }


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    world = generate("small", seed=7)
    with running_sandbox(world=world) as sandbox, FakeSlack() as slack:
        llm = FakeServer(create_llm()).start()
        try:
            yield Services(sandbox, slack, llm)
        finally:
            llm.stop()


@pytest.fixture
def sandbox_db(database_url: URL, services: Services) -> URL:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with session_scope(engine) as session:
        apply_products(session, services.sandbox.world.products)
    engine.dispose()
    return database_url


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if _ours(name):
            monkeypatch.delenv(name)


def doctor(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *args: str) -> Result:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(app, ["doctor", *args], catch_exceptions=False)


def lines(result: Result) -> dict[str, str]:
    """The first line of each check, by name (``"✓ database  ..."`` -> {"database": "✓ ..."})."""
    found = {}
    for line in result.stdout.splitlines():
        if line[:2] in ("✓ ", "! ", "✗ ", "- "):
            found[line[2:].split()[0]] = line
    return found


def test_with_nothing_configured_it_explains_what_to_set(tmp_path: Path) -> None:
    """As a person first runs it: a real process, no variables, the embedded database."""
    env = {k: v for k, v in os.environ.items() if not _ours(k)}
    env["SITREP_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert f"✓ database         embedded PostgreSQL in {tmp_path / 'postgres'}" in out
    assert "! migrations       the database is empty" in out
    for name in ("sentry", "jira", "github", "slack", "sentry-alerts", "llm"):
        assert f"\n- {name} " in out, name
    for variable in (  # each named in a line that says what to set
        "SENTRY_TOKEN",
        "SENTRY_ORG",
        "JIRA_URL",
        "JIRA_EMAIL",
        "JIRA_TOKEN",
        "GITHUB_TOKEN",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SENTRY_CLIENT_SECRET",
        "OPENAI_API_KEY",
    ):
        assert variable in out, variable
    assert "the rule-based narrator writes the summaries" in out
    assert "✗ sources          no source is configured" in out
    assert "1 problem (sources)" in result.stderr


def test_with_the_sandbox_configured_every_check_is_ok(
    monkeypatch: pytest.MonkeyPatch, clean_env: None, services: Services, sandbox_db: URL
) -> None:
    env = services.env(sandbox_db)
    result = doctor(monkeypatch, env)
    assert result.exit_code == 0, result.output
    found = lines(result)
    assert set(found) == {
        "database",
        "migrations",
        "products",
        "sentry",
        "jira",
        "github",
        "slack",
        "sentry-alerts",
        "llm",
    }
    assert all(line.startswith("✓") for line in found.values()), result.output
    assert found["products"].endswith(
        "7 active products; 9 Sentry projects, 5 Jira projects, 5 Jira boards, 8 repos"
    )
    assert f"{services.sandbox.servers['sentry'].url}, organisation acme:" in found["sentry"]
    assert "requests left" in found["github"]
    assert "bot @" in found["slack"]
    assert "model gpt-4o-mini" in found["llm"]
    assert "Everything configured works." in result.stdout
    _no_secrets(result.output, env)

    as_json = json.loads(doctor(monkeypatch, env, "--format", "json").stdout)
    assert as_json["ok"] is True
    assert {c["status"] for c in as_json["checks"]} == {"ok"}


def test_wrong_tokens_fail_each_with_its_fix(
    monkeypatch: pytest.MonkeyPatch, clean_env: None, services: Services, sandbox_db: URL
) -> None:
    env = services.env(sandbox_db) | {
        "SENTRY_TOKEN": "wrong-sentry-token-1",
        "JIRA_TOKEN": "wrong-jira-token-2",
        "GITHUB_TOKEN": "wrong-github-token-3",
        "SLACK_BOT_TOKEN": "xoxb-wrong-slack-token-4",
        "OPENAI_API_KEY": "sk-wrong-openai-key-5",
    }
    result = doctor(monkeypatch, env)
    assert result.exit_code == 1
    found = lines(result)
    assert found["sentry"].startswith("✗ sentry           SENTRY_TOKEN rejected (401)")
    assert found["jira"].startswith("✗ jira             JIRA_TOKEN rejected (401)")
    assert found["github"].startswith("✗ github           GITHUB_TOKEN rejected (401)")
    assert found["slack"].startswith("✗ slack            SLACK_BOT_TOKEN rejected by Slack")
    assert found["llm"].startswith("✗ llm              OPENAI_API_KEY rejected (401)")
    out = result.stdout
    assert "fix: create an API token at https://id.atlassian.com/manage-profile/security/" in out
    assert "/settings/account/api/auth-tokens/ with org:read" in out
    github = services.sandbox.servers["github"].url
    assert f"fix: create a token at {github}/settings/tokens and set it as GITHUB_TOKEN" in out
    assert found["database"].startswith("✓") and found["products"].startswith("✓")
    assert "5 problems (sentry, jira, github, slack, llm)" in result.stderr
    _no_secrets(result.output, env)


def test_half_configured_unreachable_and_silent_services_fail_without_a_traceback(
    clean_env: None, services: Services, sandbox_db: URL
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        port = silent.getsockname()[1]
        env = services.env(sandbox_db) | {
            "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "SENTRY_ORG": "not-acme",
            "GITHUB_API_URL": "http://127.0.0.1:9",  # the discard port: nothing listens
        }
        del env["JIRA_EMAIL"]
        checks = {c.name: c for c in diagnose(env, timeout=1).checks}
    assert checks["sentry"].status is Status.FAIL
    assert "/organizations/not-acme/projects/ answered 404" in checks["sentry"].detail
    assert (checks["sentry"].fix or "").startswith("check SENTRY_ORG: the organisation slug")
    assert checks["jira"].status is Status.FAIL
    assert "set JIRA_EMAIL" in checks["jira"].detail
    assert checks["github"].status is Status.FAIL
    assert checks["github"].detail.startswith("cannot reach http://127.0.0.1:9: ConnectError")
    assert "check GITHUB_API_URL (http://127.0.0.1:9)" in (checks["github"].fix or "")
    assert checks["llm"].status is Status.FAIL
    assert "no answer" in checks["llm"].detail or "timed out" in checks["llm"].detail
    assert [c.name for c in checks.values() if c.status is Status.OK] == [
        "database",
        "migrations",
        "products",
        "slack",
        "sentry-alerts",
    ]


def test_require_turns_an_unset_service_into_a_failure(
    monkeypatch: pytest.MonkeyPatch, clean_env: None, services: Services, sandbox_db: URL
) -> None:
    env = services.sandbox.env() | {
        "DATABASE_URL": sandbox_db.render_as_string(hide_password=False)
    }
    relaxed = doctor(monkeypatch, env)
    assert relaxed.exit_code == 0, relaxed.output  # Slack and the LLM are optional
    assert lines(relaxed)["slack"].startswith("- slack            not configured")
    required = doctor(monkeypatch, env, "--require", "slack")
    assert required.exit_code == 1
    assert "(required by --require)" in lines(required)["slack"]
    wrong = doctor(monkeypatch, env, "--require", "pagerduty")
    assert wrong.exit_code == 2
    assert ", ".join(REQUIRABLE) in wrong.stderr


def test_an_unlisted_model_is_a_warning(services: Services) -> None:
    env = services.env(URL.create("postgresql")) | {"SITREP_LLM_MODEL": "gpt-9"}
    check = check_llm(env, timeout=2)
    assert check.status is Status.WARN
    assert "does not list the model 'gpt-9'" in check.detail
    assert "gpt-4o-mini" in (check.fix or "")


def test_database_states(admin_url: URL, database_url: URL) -> None:
    env = {"DATABASE_URL": database_url.render_as_string(hide_password=False)}
    fresh = {c.name: c for c in check_database(env)}
    assert fresh["products"].status is Status.WARN
    assert "sitrep products apply FILE" in (fresh["products"].fix or "")

    empty_url = _recreate(admin_url, "sitrep_doctor_empty")
    try:
        empty = check_database({"DATABASE_URL": empty_url.render_as_string(hide_password=False)})
    finally:
        _drop(admin_url, "sitrep_doctor_empty")
    assert [(c.name, c.status) for c in empty] == [
        ("database", Status.OK),
        ("migrations", Status.WARN),
    ]

    script = ScriptDirectory.from_config(migrate.alembic_config())
    revisions = list(script.walk_revisions())
    stamp(database_url, revisions[-1].revision)  # the first migration: the others pending
    older = {c.name: c for c in check_database(env)}
    assert older["migrations"].status is Status.WARN
    assert older["migrations"].detail.startswith(f"{len(revisions) - 1} pending")
    assert "products" not in older  # not read from a schema the models do not match

    stamp(database_url, "f00dfeedcafe")
    newer = {c.name: c for c in check_database(env)}
    assert newer["migrations"].status is Status.FAIL
    assert "f00dfeedcafe, which this Sitrep does not know" in newer["migrations"].detail

    wrong = URL.create(
        "postgresql", username="nobody", password="hunter2-db", host="127.0.0.1", port=9
    )
    gone = diagnose({"DATABASE_URL": wrong.render_as_string(hide_password=False)}, timeout=2)
    assert gone.checks[0].status is Status.FAIL
    assert gone.checks[0].detail.startswith("cannot connect to postgresql+psycopg://nobody:***@")
    assert all("hunter2-db" not in c.detail + (c.fix or "") for c in gone.checks)


def stamp(url: URL, revision: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def _no_secrets(output: str, env: dict[str, str]) -> None:
    for name in (
        "SENTRY_TOKEN",
        "JIRA_TOKEN",
        "GITHUB_TOKEN",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SENTRY_CLIENT_SECRET",
        "OPENAI_API_KEY",
    ):
        assert env[name] not in output, name
