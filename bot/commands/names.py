"""Names in commands -> the products, teams and boards they mean, or the closest ones. Pure.

Matching is case-insensitive and exact; a name that matches nothing fails with the closest names
(rapidfuzz WRatio, so typos and partial names are found), or, when nothing is close, with the
names that exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process

from bot.commands.model import ORGANISATION, Name, NameKind, Target, UsageError
from bot.commands.spec import spec

KNOWN_SHOWN = 8  # names listed when none is close to what was typed
_ORGANISATION = frozenset(
    {"all", "everything", "org", "organisation", "organization", "the organisation", "company"}
)


@dataclass(frozen=True)
class Catalog:
    """The names a command may use: active products, their owner teams, boards (id, name)."""

    products: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    boards: tuple[tuple[str, str], ...] = ()

    def entries(self, kind: NameKind) -> list[tuple[frozenset[str], Target]]:
        """(the spellings that match, folded; the target) of every name of ``kind``."""
        if kind == "product":
            return [(frozenset({p.casefold()}), Target("product", p)) for p in self.products]
        if kind == "team":
            return [(frozenset({t.casefold()}), Target("team", t)) for t in self.teams]
        return [
            (
                frozenset({i.casefold(), n.casefold(), f"{n} ({i})".casefold()}),
                Target("board", n, board_id=i),
            )
            for i, n in self.boards
        ]


def resolve(name: Name | None, catalog: Catalog, *, command: str) -> Target:
    """The product, team or board ``name`` means (the organisation when None or "all")."""
    if name is None:
        return ORGANISATION
    wanted = " ".join(name.text.split()).casefold()
    for kind in name.kinds:
        for spellings, target in catalog.entries(kind):
            if wanted in spellings:
                return target
    if wanted in _ORGANISATION:
        return ORGANISATION
    labels = [t.name for kind in name.kinds for _, t in catalog.entries(kind)]
    close = close_matches(name.text, labels)
    message = f"No {' or '.join(name.kinds)} called '{name.text}'."
    if not close:  # nothing alike: say what does exist instead of nothing at all
        known = [t.name for _, t in catalog.entries(name.kinds[0])]
        more = "…" if len(known) > KNOWN_SHOWN else ""
        message += (
            f" Known {name.kinds[0]}s: {', '.join(known[:KNOWN_SHOWN])}{more}."
            if known
            else f" There are no {name.kinds[0]}s yet."
        )
    raise UsageError(message, usage=spec(command).help_text(), suggestions=close)


def close_matches(
    text: str, choices: list[str], *, cutoff: float = 55, limit: int = 3
) -> tuple[str, ...]:
    """The closest ``choices``, best first (rapidfuzz WRatio: typos and partial names match)."""
    unique = list({c.casefold(): c for c in choices}.values())
    found = process.extract(text, unique, scorer=fuzz.WRatio, limit=limit, score_cutoff=cutoff)
    return tuple(str(match[0]) for match in found)
