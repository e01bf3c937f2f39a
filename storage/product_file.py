"""Products as code: read and validate a products YAML file, with errors a person can act on.

Nothing here touches the database; `storage.products` plans and applies what this returns.
Every problem found is reported at once (not just the first), each naming the file, the product
and the key, and saying how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rapidfuzz import process

from storage.errors import FileProblem, ProductFileError
from storage.models import PRIORITIES

Priority = Literal["critical", "high", "medium", "low"]
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_JIRA_KEY = re.compile(r"^[A-Z][A-Z0-9_]+$")


class BugSla(BaseModel):
    """Days an open bug of each priority may stay open before it breaches its SLA."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    critical: float = Field(default=2, gt=0)
    high: float = Field(default=7, gt=0)
    medium: float = Field(default=30, gt=0)
    low: float = Field(default=90, gt=0)


class ProductSettings(BaseModel):
    """How the insights read a product's data; every key is optional and has a default.

    A product inherits its parent's settings and overrides what it sets itself. The defaults are
    the DORA definitions documented in the README.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    production_environment: str = Field(default="production", min_length=1)
    rework_branch_prefixes: tuple[str, ...] = ("hotfix/", "revert-")
    rework_labels: tuple[str, ...] = ("hotfix",)
    incident_window_hours: float = Field(default=72, gt=0)
    bug_sla_days: BugSla = BugSla()


class ProductSpec(BaseModel):
    """One product as written in the file."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    parent: str | None = None
    owner_team: str | None = None
    priority: Priority = "medium"
    description: str | None = None
    active: bool = True
    slack_channel: str | None = None
    sentry_projects: tuple[str, ...] = ()
    jira_projects: tuple[str, ...] = ()
    jira_boards: tuple[int, ...] = ()
    github_repos: tuple[str, ...] = ()
    settings: ProductSettings | None = None

    def settings_overrides(self) -> dict[str, Any]:
        """Only the settings the file writes, as stored (so defaults can change later)."""
        if self.settings is None:
            return {}
        return self.settings.model_dump(mode="json", exclude_unset=True)

    @field_validator("slack_channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        # A name ("#payments") or a channel id ("C0123ABCD"); ids survive renames.
        if value is None or value.startswith("#") or re.fullmatch(r"[CG][A-Z0-9]{6,}", value):
            return value
        raise ValueError(
            f'"{value}" is not a channel: write "#{value}" or a channel id like C0123ABCD'
        )

    @field_validator("sentry_projects")
    @classmethod
    def _sentry(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.strip().lower() for v in value))  # slugs are lower case

    @field_validator("jira_projects")
    @classmethod
    def _jira(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        keys = tuple(dict.fromkeys(v.strip().upper() for v in value))
        for key in keys:
            if not _JIRA_KEY.match(key):
                raise ValueError(
                    f'"{key}" is not a Jira project key (letters and digits, like PAY)'
                )
        return keys

    @field_validator("jira_boards")
    @classmethod
    def _boards(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(dict.fromkeys(value))

    @field_validator("github_repos")
    @classmethod
    def _repos(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        repos = tuple(dict.fromkeys(v.strip().lower() for v in value))  # GitHub ignores case
        for repo in repos:
            if not _REPO.match(repo):
                raise ValueError(f'"{repo}" is not a repository: write it as owner/name')
        return repos

    def mappings(self) -> list[tuple[str, str]]:
        """``(kind, key)`` pairs, the shape `storage.models.ProductMapping` stores."""
        return [
            *(("sentry_project", p) for p in self.sentry_projects),
            *(("jira_project", p) for p in self.jira_projects),
            *(("jira_board", str(b)) for b in self.jira_boards),
            *(("github_repo", r) for r in self.github_repos),
        ]


class _ProductsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    products: list[ProductSpec] = Field(min_length=1)


MAPPING_LABELS = {
    "sentry_project": ("Sentry project", "sentry_projects"),
    "jira_project": ("Jira project", "jira_projects"),
    "jira_board": ("Jira board", "jira_boards"),
    "github_repo": ("GitHub repo", "github_repos"),
}


def closest(word: str, choices: Iterable[str], cutoff: float = 60) -> str | None:
    """The most similar choice, if any is similar enough to be worth suggesting."""
    match = process.extractOne(word, list(choices), score_cutoff=cutoff)
    return None if match is None else str(match[0])


def load_products_file(path: Path) -> list[ProductSpec]:
    """Parse and validate ``path``; raise `ProductFileError` listing every problem."""
    name = str(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProductFileError([FileProblem(name, "file not found.")]) from None
    except OSError as exc:
        raise ProductFileError([FileProblem(name, f"cannot be read ({exc.strerror}).")]) from None
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProductFileError(
            [FileProblem(name, f"is not valid YAML{where}: {problem}.")]
        ) from None
    return parse_products(document, name)


def parse_products(document: Any, file: str) -> list[ProductSpec]:
    if not isinstance(document, dict) or "products" not in document:
        raise ProductFileError(
            [FileProblem(file, "has no top-level 'products:' list.", hint=_SHAPE_HINT)]
        )
    try:
        specs = _ProductsFile.model_validate(document).products
    except ValidationError as exc:
        raise ProductFileError(_explain(exc, document, file)) from None
    problems = _check_consistency(specs, file)
    if problems:
        raise ProductFileError(problems)
    return specs


_SHAPE_HINT = "It should look like:\n  products:\n    - name: Checkout\n      owner_team: web"


def _explain(exc: ValidationError, document: dict[str, Any], file: str) -> list[FileProblem]:
    """Turn pydantic's errors into messages that name the product and key and suggest a fix."""
    problems = []
    raw_products = document.get("products")
    for error in exc.errors():
        loc = error["loc"]
        if loc[:1] != ("products",) or len(loc) < 2 or not isinstance(loc[1], int):
            where = ".".join(str(p) for p in loc) or None
            problems.append(FileProblem(file, error["msg"] + ".", key=where, hint=_SHAPE_HINT))
            continue
        index = loc[1]
        raw = raw_products[index] if isinstance(raw_products, list) else None
        product = (
            str(raw["name"])
            if isinstance(raw, dict) and raw.get("name")
            else f"#{index + 1} (unnamed)"
        )
        key = str(loc[2]) if len(loc) > 2 else None
        problems.append(_problem_for(error, file, product, key, raw))
    return problems


def _problem_for(error: Any, file: str, product: str, key: str | None, raw: Any) -> FileProblem:
    kind = error["type"]
    if kind == "extra_forbidden" and key is not None:
        guess = closest(key, ProductSpec.model_fields)
        hint = f"Did you mean '{guess}'?" if guess else None
        valid = ", ".join(ProductSpec.model_fields)
        return FileProblem(file, f"unknown key. Valid keys: {valid}.", product, key, hint)
    if kind == "literal_error" and key == "priority":
        value = raw.get("priority") if isinstance(raw, dict) else None
        guess = closest(str(value), PRIORITIES)
        hint = f"Did you mean '{guess}'?" if guess else None
        return FileProblem(
            file,
            f'"{value}" is not a priority; use one of {", ".join(PRIORITIES)}.',
            product,
            key,
            hint,
        )
    if kind == "missing":
        return FileProblem(file, "is required.", product, key)
    if kind == "model_type" and key is None:
        return FileProblem(file, "each product must be a mapping of keys to values.", product)
    message = str(error["msg"]).removeprefix("Value error, ")
    return FileProblem(file, message + ("" if message.endswith(".") else "."), product, key)


def _check_consistency(specs: list[ProductSpec], file: str) -> list[FileProblem]:
    problems: list[FileProblem] = []
    by_name: dict[str, ProductSpec] = {}
    for spec in specs:
        folded = spec.name.casefold()
        if folded in by_name:
            problems.append(
                FileProblem(
                    file,
                    "appears more than once; product names must be unique.",
                    spec.name,
                    "name",
                    "Rename one of them or merge the two entries.",
                )
            )
        by_name.setdefault(folded, spec)

    for spec in specs:
        if spec.parent is None:
            continue
        if spec.parent.casefold() not in by_name:
            guess = closest(spec.parent, (s.name for s in specs))
            hint = f'Did you mean "{guess}"?' if guess else "Add that product or remove the key."
            problems.append(
                FileProblem(
                    file,
                    f'names "{spec.parent}", which is not a product in this file.',
                    spec.name,
                    "parent",
                    hint,
                )
            )
        elif spec.parent.casefold() == spec.name.casefold():
            problems.append(
                FileProblem(file, "a product cannot be its own parent.", spec.name, "parent")
            )

    problems.extend(_cycles(specs, by_name, file))

    owners: dict[tuple[str, str], str] = {}
    for spec in specs:
        for kind, key in spec.mappings():
            other = owners.setdefault((kind, key), spec.name)
            if other != spec.name:
                label, field = MAPPING_LABELS[kind]
                problems.append(
                    FileProblem(
                        file,
                        f'{label} "{key}" is also mapped to "{other}".',
                        spec.name,
                        field,
                        "Map it to one product only; numbers roll up to parents anyway.",
                    )
                )
    return problems


def _cycles(
    specs: list[ProductSpec], by_name: dict[str, ProductSpec], file: str
) -> list[FileProblem]:
    problems = []
    reported: set[str] = set()
    for spec in specs:
        chain = [spec.name]
        seen = {spec.name.casefold()}
        current = spec
        while current.parent is not None and current.parent.casefold() in by_name:
            current = by_name[current.parent.casefold()]
            chain.append(current.name)
            if current.name.casefold() in seen:
                loop = chain[chain.index(current.name) :]
                members = frozenset(n.casefold() for n in loop)
                if not members & reported and len(loop) > 2:
                    reported |= members
                    problems.append(
                        FileProblem(
                            file,
                            "parent chain loops: " + " -> ".join(loop) + ".",
                            loop[0],
                            "parent",
                            "Remove the 'parent' of one of these products.",
                        )
                    )
                break
            seen.add(current.name.casefold())
    return problems
