"""`sitrep products ...`: products as code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session
from tabulate import tabulate

from bot.cli.common import err, open_engine, user_errors
from storage.db import session_scope
from storage.product_file import load_products_file
from storage.products import apply_products, plan_products
from storage.queries import product_tree

app = typer.Typer(help="Manage the product hierarchy (products as code).", no_args_is_help=True)

_SHORT_KIND = {
    "sentry_project": "sentry",
    "jira_project": "jira",
    "jira_board": "boards",
    "github_repo": "repos",
}


@app.command("apply")
def apply(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Products YAML file. Defaults to $SITREP_PRODUCTS.", show_default=False
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the changes, apply nothing.")
    ] = False,
) -> None:
    """Make the products in the database match FILE, in one transaction.

    Prints what changes (+ added, ~ updated, - deactivated or removed). Products missing from
    the file are deactivated, not deleted. Applying the same file twice prints `No changes`.
    """
    if file is None:
        configured = os.environ.get("SITREP_PRODUCTS")
        if not configured:
            err("Name a products file (`sitrep products apply FILE`) or set SITREP_PRODUCTS.")
            raise typer.Exit(2)
        file = Path(configured)
    with user_errors():
        specs = load_products_file(file)
        with session_scope(open_engine()) as session:
            plan = plan_products(session, specs) if dry_run else apply_products(session, specs)
    for change in plan.changes:
        typer.echo(str(change))
    if plan.empty:
        typer.echo("No changes")
    elif dry_run:
        typer.echo(f"Would apply: {plan.summary()}. Nothing was changed (--dry-run).")
    else:
        typer.echo(f"Applied: {plan.summary()}.")


@app.command("show")
def show(
    include_inactive: Annotated[
        bool, typer.Option("--all", help="Include deactivated products.")
    ] = False,
) -> None:
    """Print the product tree with owner, priority, Slack channel and mappings."""
    with user_errors(), session_scope(open_engine()) as session:
        typer.echo(render_tree(session, include_inactive=include_inactive))


def render_tree(session: Session, *, include_inactive: bool) -> str:
    nodes = product_tree(session, include_inactive=include_inactive)
    if not nodes:
        return "No products yet. Apply a products file: `sitrep products apply products.yaml`."
    rows = []
    for prefix, node in zip(_tree_prefixes([n.depth for n in nodes]), nodes, strict=True):
        name = prefix + node.name + ("" if node.active else " (inactive)")
        mapped = "\n".join(
            f"{label}: {', '.join(node.mappings[kind])}"
            for kind, label in _SHORT_KIND.items()
            if kind in node.mappings
        )
        rows.append([name, node.owner_team or "", node.priority, node.slack_channel or "", mapped])
    return tabulate(
        rows,
        headers=["product", "owner", "priority", "slack", "mappings"],
        tablefmt="simple",
        # tabulate strips leading blanks by default, which would flatten the tree drawing.
        preserve_whitespace=True,
    )


def _tree_prefixes(depths: list[int]) -> list[str]:
    """Box-drawing prefixes (├─, └─, │) for nodes listed depth-first with these depths."""

    def is_last(i: int) -> bool:
        for later in depths[i + 1 :]:
            if later < depths[i]:
                return True
            if later == depths[i]:
                return False
        return True

    prefixes: list[str] = []
    open_levels: list[bool] = []  # open_levels[d]: does level d still have siblings to come?
    for i, depth in enumerate(depths):
        last = is_last(i)
        del open_levels[depth:]
        if depth == 0:
            prefixes.append("")
        else:
            trunk = "".join("│  " if more else "   " for more in open_levels[1:depth])
            prefixes.append(trunk + ("└─ " if last else "├─ "))
        open_levels.append(not last)
    return prefixes
