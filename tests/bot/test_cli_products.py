"""`sitrep products` and `sitrep db` as a person uses them, against a real database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner, Result

from bot.cli import app
from collectors.sandbox import PRODUCTS_FILE

Sitrep = Callable[..., Result]

GOOD = """\
products:
  - name: Shop
    owner_team: web
    priority: high
    slack_channel: "#shop"
    github_repos: [acme/shop]
  - name: Payments
    parent: Shop
    owner_team: payments
    sentry_projects: [payments-api]
    jira_projects: [PAY]
    jira_boards: [12]
    github_repos: [acme/payments]
"""


@pytest.fixture
def sitrep(database_url: URL, monkeypatch: pytest.MonkeyPatch) -> Sitrep:
    monkeypatch.setenv("DATABASE_URL", database_url.render_as_string(hide_password=False))
    monkeypatch.delenv("SITREP_PRODUCTS", raising=False)
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run


def write(tmp_path: Path, text: str, name: str = "products.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_apply_prints_the_changes_and_a_second_apply_prints_no_changes(
    sitrep: Sitrep, tmp_path: Path
) -> None:
    first = sitrep("products", "apply", write(tmp_path, GOOD))
    assert first.exit_code == 0, first.output
    assert "+ product  Shop: top level, priority high, owner web" in first.stdout
    assert "+ product  Payments: parent Shop, priority medium, owner payments" in first.stdout
    assert "+ mapping  Payments: github_repo acme/payments" in first.stdout
    assert "Applied: 2 products added, 5 mappings added." in first.stdout

    second = sitrep("products", "apply", write(tmp_path, GOOD))
    assert second.exit_code == 0
    assert second.stdout.strip() == "No changes"


def test_show_prints_the_tree_with_owner_priority_and_mappings(
    sitrep: Sitrep, tmp_path: Path
) -> None:
    sitrep("products", "apply", write(tmp_path, GOOD))
    shown = sitrep("products", "show")
    assert shown.exit_code == 0
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["product", "owner", "priority", "slack", "mappings"]
    shop = next(line for line in lines if line.startswith("Shop"))
    assert shop.split() == ["Shop", "web", "high", "#shop", "repos:", "acme/shop"]
    payments = next(line for line in lines if "Payments" in line)
    assert payments.startswith("└─ Payments")
    assert "sentry: payments-api" in payments
    assert any("boards: 12" in line for line in lines)


def _bad_file_changes_nothing(sitrep: Sitrep, tmp_path: Path, text: str) -> Result:
    sitrep("products", "apply", write(tmp_path, GOOD))
    before = sitrep("products", "show").stdout
    result = sitrep("products", "apply", write(tmp_path, text, "bad.yaml"))
    assert result.exit_code == 2
    assert "Nothing was changed." in result.stderr
    assert sitrep("products", "show").stdout == before
    return result


def test_a_file_with_a_cycle_exits_non_zero_and_changes_nothing(
    sitrep: Sitrep, tmp_path: Path
) -> None:
    cycle = GOOD.replace("    owner_team: web\n", "    parent: Payments\n    owner_team: web\n")
    result = _bad_file_changes_nothing(sitrep, tmp_path, cycle)
    assert "product \"Shop\", key 'parent': parent chain loops: Shop -> Payments -> Shop." in (
        result.stderr
    )


def test_an_unknown_priority_exits_non_zero_and_changes_nothing(
    sitrep: Sitrep, tmp_path: Path
) -> None:
    result = _bad_file_changes_nothing(sitrep, tmp_path, GOOD.replace("high", "urgent"))
    assert '"urgent" is not a priority; use one of critical, high, medium, low.' in result.stderr


def test_one_repo_in_two_products_exits_non_zero_and_changes_nothing(
    sitrep: Sitrep, tmp_path: Path
) -> None:
    result = _bad_file_changes_nothing(
        sitrep, tmp_path, GOOD.replace("[acme/payments]", "[acme/payments, acme/shop]")
    )
    assert 'GitHub repo "acme/shop" is also mapped to "Shop"' in result.stderr
    # One clear message (plus the "nothing changed" line), not a traceback.
    assert len(result.stderr.strip().splitlines()) == 2


def test_dry_run_shows_the_plan_and_writes_nothing(sitrep: Sitrep, tmp_path: Path) -> None:
    planned = sitrep("products", "apply", "--dry-run", write(tmp_path, GOOD))
    assert "+ product  Shop" in planned.stdout
    assert "Nothing was changed (--dry-run)" in planned.stdout
    assert "No products yet" in sitrep("products", "show").stdout


def test_the_file_can_come_from_sitrep_products(
    sitrep: Sitrep, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITREP_PRODUCTS", str(PRODUCTS_FILE))
    result = sitrep("products", "apply")
    assert result.exit_code == 0
    assert "7 products added" in result.stdout


def test_apply_without_a_file_explains_how_to_name_one(sitrep: Sitrep) -> None:
    result = sitrep("products", "apply")
    assert result.exit_code == 2
    assert "SITREP_PRODUCTS" in result.stderr


def test_db_upgrade_and_status(sitrep: Sitrep) -> None:
    upgraded = sitrep("db", "upgrade")
    assert upgraded.exit_code == 0
    assert "is up to date" in upgraded.stdout
    status = sitrep("db", "status")
    assert "Migrations are pending" not in status.stdout
    assert "revision:" in status.stdout


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["db"],
        ["db", "upgrade"],
        ["db", "status"],
        ["products"],
        ["products", "apply"],
        ["products", "show"],
        ["demo"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.stdout
