"""Reading products files: every mistake gets a message naming file, product and key, and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.sandbox import PRODUCTS_FILE
from storage.errors import ProductFileError
from storage.product_file import load_products_file


def problems_in(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "products.yaml"
    path.write_text(text)
    with pytest.raises(ProductFileError) as caught:
        load_products_file(path)
    return [str(p) for p in caught.value.problems]


def test_the_sandbox_products_file_is_valid_and_nested() -> None:
    specs = {s.name: s for s in load_products_file(PRODUCTS_FILE)}
    assert specs["Fraud Detection"].parent == "Payment System"
    assert specs["Payment System"].parent == "E-commerce Platform"
    assert ("github_repo", "acme/payments") in specs["Payment System"].mappings()
    assert ("jira_board", "2") in specs["Payment System"].mappings()


def test_defaults_and_normalisation(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "products:\n  - name: Shop\n    github_repos: [Acme/Shop, acme/shop]\n"
        "    jira_projects: [shp]\n    sentry_projects: [Shop-Web]\n"
    )
    (spec,) = load_products_file(path)
    assert (spec.priority, spec.active, spec.parent) == ("medium", True, None)
    assert spec.github_repos == ("acme/shop",)  # GitHub names are case-insensitive
    assert spec.jira_projects == ("SHP",)
    assert spec.sentry_projects == ("shop-web",)


def test_unknown_key_names_the_product_and_suggests_the_closest_key(tmp_path: Path) -> None:
    (problem,) = problems_in(tmp_path, "products:\n  - name: Shop\n    owner_teem: web\n")
    assert "products.yaml: product \"Shop\", key 'owner_teem': unknown key." in problem
    assert "Did you mean 'owner_team'?" in problem


def test_bad_priority_lists_the_valid_ones_and_suggests_one(tmp_path: Path) -> None:
    (problem,) = problems_in(tmp_path, "products:\n  - name: Shop\n    priority: hihg\n")
    assert "product \"Shop\", key 'priority'" in problem
    assert "critical, high, medium, low" in problem
    assert "Did you mean 'high'?" in problem


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    (problem,) = problems_in(tmp_path, "products:\n  - name: Shop\n  - name: shop\n")
    assert "appears more than once" in problem


def test_unknown_parent_suggests_a_product_from_the_file(tmp_path: Path) -> None:
    text = "products:\n  - name: Payments\n  - name: Fraud\n    parent: Paymnets\n"
    (problem,) = problems_in(tmp_path, text)
    assert "product \"Fraud\", key 'parent'" in problem
    assert 'Did you mean "Payments"?' in problem


def test_a_parent_loop_is_reported_once_with_its_members(tmp_path: Path) -> None:
    text = (
        "products:\n"
        "  - {name: A, parent: C}\n  - {name: B, parent: A}\n  - {name: C, parent: B}\n"
        "  - {name: D, parent: A}\n"
    )
    (problem,) = problems_in(tmp_path, text)
    assert "parent chain loops: A -> C -> B -> A." in problem
    assert "Remove the 'parent' of one of these products." in problem


def test_a_product_cannot_be_its_own_parent(tmp_path: Path) -> None:
    (problem,) = problems_in(tmp_path, "products:\n  - {name: A, parent: A}\n")
    assert "cannot be its own parent" in problem


def test_one_repo_in_two_products_is_refused(tmp_path: Path) -> None:
    text = (
        "products:\n"
        "  - {name: Checkout, github_repos: [acme/shop]}\n"
        "  - {name: Payments, github_repos: [ACME/shop]}\n"
    )
    (problem,) = problems_in(tmp_path, text)
    assert "product \"Payments\", key 'github_repos'" in problem
    assert 'GitHub repo "acme/shop" is also mapped to "Checkout"' in problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("products: [{name: A, github_repos: [shop]}]", "write it as owner/name"),
        ("products: [{name: A, jira_projects: [pay-ments]}]", "is not a Jira project key"),
        ("products: [{name: A, slack_channel: payments}]", 'write "#payments"'),
        ("products: [{name: A, jira_boards: [twelve]}]", "valid integer"),
        ("products: [{owner_team: web}]", "key 'name': is required."),
        ("products: []", "at least 1 item"),
        ("- name: A", "has no top-level 'products:' list"),
        ("products:\n  - name: A\n   owner: x\n", "is not valid YAML at line 3"),
    ],
)
def test_malformed_files_get_a_precise_message(tmp_path: Path, text: str, expected: str) -> None:
    problems = problems_in(tmp_path, text)
    assert any(expected in p for p in problems), problems


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = "products:\n  - {name: A, priority: urgent}\n  - {name: B, colour: red}\n"
    assert len(problems_in(tmp_path, text)) == 2


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ProductFileError, match="file not found"):
        load_products_file(tmp_path / "nope.yaml")
