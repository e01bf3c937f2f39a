"""Applying products to the database, the tree's integrity rules, and the roll-up query."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from collectors.sandbox import PRODUCTS_FILE
from storage.errors import ProductCycleError
from storage.models import Product, ProductMapping
from storage.product_file import ProductSpec, load_products_file
from storage.products import apply_products, plan_products, set_parent
from storage.queries import (
    get_product_id,
    product_ancestor_ids,
    product_subtree_ids,
    product_tree,
)


def spec(name: str, **fields: object) -> ProductSpec:
    return ProductSpec.model_validate({"name": name, **fields})


def names(session: Session, ids: list[int]) -> list[str]:
    by_id = {row.id: row.name for row in session.execute(sa.select(Product.id, Product.name))}
    return [by_id[i] for i in ids]


def mappings(session: Session) -> set[tuple[str, str, str]]:
    query = sa.select(Product.name, ProductMapping.kind, ProductMapping.key).join(Product)
    return {(n, k, key) for n, k, key in session.execute(query)}


def test_apply_then_apply_again_changes_nothing(session: Session) -> None:
    specs = load_products_file(PRODUCTS_FILE)
    first = apply_products(session, specs)
    assert first.count("add", "product") == len(specs)
    assert first.count("add", "mapping") == sum(len(s.mappings()) for s in specs)

    second = apply_products(session, specs)
    assert second.empty
    assert second.summary() == "No changes"


def test_updates_are_planned_field_by_field(session: Session) -> None:
    apply_products(session, [spec("Shop", priority="low", owner_team="web")])
    plan = apply_products(session, [spec("Shop", priority="high", owner_team="web")])
    assert [str(c) for c in plan.changes] == ["~ product  Shop: priority 'low' -> 'high'"]
    assert session.scalars(sa.select(Product.priority)).one() == "high"


def test_a_product_missing_from_the_file_is_deactivated_and_frees_its_mappings(
    session: Session,
) -> None:
    apply_products(
        session,
        [spec("Old Shop", github_repos=["acme/shop"]), spec("Payments", github_repos=["acme/pay"])],
    )
    plan = apply_products(
        session,
        [spec("New Shop", github_repos=["acme/shop"]), spec("Payments", github_repos=["acme/pay"])],
    )
    assert plan.summary() == (
        "1 product added, 1 product deactivated, 1 mapping added, 1 mapping removed"
    )
    old = session.scalars(sa.select(Product).where(Product.name == "Old Shop")).one()
    assert old.active is False
    assert mappings(session) == {
        ("New Shop", "github_repo", "acme/shop"),
        ("Payments", "github_repo", "acme/pay"),
    }


def test_a_mapping_moves_between_products_in_one_apply(session: Session) -> None:
    apply_products(session, [spec("A", sentry_projects=["web"]), spec("B")])
    plan = apply_products(session, [spec("A"), spec("B", sentry_projects=["web"])])
    assert [str(c) for c in plan.changes] == [
        "- mapping  A: sentry_project web",
        "+ mapping  B: sentry_project web",
    ]
    assert mappings(session) == {("B", "sentry_project", "web")}


def test_the_tree_can_be_turned_upside_down_in_one_apply(session: Session) -> None:
    """A under B becoming B under A passes through no loop, so the trigger lets it through."""
    apply_products(session, [spec("A", parent="B"), spec("B")])
    apply_products(session, [spec("A"), spec("B", parent="A")])
    tree = {n.name: n.parent for n in product_tree(session)}
    assert tree == {"A": None, "B": "A"}


def test_storage_refuses_a_parent_change_that_makes_a_loop(session: Session) -> None:
    apply_products(session, [spec("A"), spec("B", parent="A"), spec("C", parent="B")])
    with pytest.raises(ProductCycleError, match="the product tree would loop"):
        set_parent(session, product="A", parent="C")


def test_storage_refuses_one_repo_for_two_products(session: Session) -> None:
    apply_products(session, [spec("A", github_repos=["acme/x"]), spec("B")])
    b = get_product_id(session, "B")
    with pytest.raises(sa.exc.IntegrityError, match="uq_product_mappings_kind_key"):
        session.add(ProductMapping(product_id=b, kind="github_repo", key="acme/x"))
        session.flush()


def test_subtree_is_the_product_and_all_its_active_descendants(session: Session) -> None:
    apply_products(session, load_products_file(PRODUCTS_FILE))
    platform = get_product_id(session, "E-commerce Platform")
    assert platform is not None
    subtree = names(session, product_subtree_ids(session, platform))
    assert subtree[0] == "E-commerce Platform"
    assert set(subtree) == {
        "E-commerce Platform",
        "Checkout",
        "Payment System",
        "Fraud Detection",
        "Catalog & Search",
    }
    # Parents come before their children.
    assert subtree.index("Payment System") < subtree.index("Fraud Detection")

    payments = get_product_id(session, "Payment System")
    assert payments is not None
    assert names(session, product_subtree_ids(session, payments)) == [
        "Payment System",
        "Fraud Detection",
    ]
    fraud = get_product_id(session, "Fraud Detection")
    mobile = get_product_id(session, "Mobile App")
    assert fraud is not None and mobile is not None
    ancestors = product_ancestor_ids(session, [fraud])
    assert sorted(names(session, list(ancestors))) == ["E-commerce Platform", "Payment System"]
    assert product_ancestor_ids(session, [platform, mobile]) == set()  # top-level products
    assert product_ancestor_ids(session, [fraud, payments]) == {payments, platform}


def test_subtree_skips_deactivated_products_unless_asked(session: Session) -> None:
    apply_products(session, [spec("A"), spec("B", parent="A"), spec("C", parent="A", active=False)])
    a = get_product_id(session, "A")
    assert a is not None
    assert names(session, product_subtree_ids(session, a)) == ["A", "B"]
    assert set(names(session, product_subtree_ids(session, a, active_only=False))) == {
        "A",
        "B",
        "C",
    }


def test_dry_run_plans_without_writing(session: Session) -> None:
    plan = plan_products(session, [spec("A")])
    assert plan.count("add", "product") == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(Product)) == 0


def test_tree_order_is_depth_first_with_siblings_by_name(session: Session) -> None:
    apply_products(
        session,
        [
            spec("Z"),
            spec("A"),
            spec("A2", parent="A"),
            spec("A1", parent="A"),
            spec("A1x", parent="A1"),
        ],
    )
    assert [(n.name, n.depth) for n in product_tree(session)] == [
        ("A", 0),
        ("A1", 1),
        ("A1x", 2),
        ("A2", 1),
        ("Z", 0),
    ]
