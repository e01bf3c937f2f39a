"""Errors raised by the insights room.

InsightsError          anything insights raises on purpose; the message is for the user
└── UnknownScope       a product, team or board that does not exist; names the closest matches
"""

from __future__ import annotations


class InsightsError(Exception):
    """Base class: the message is meant for the person who asked."""


class UnknownScope(InsightsError):
    """A name that matches nothing; ``suggestions`` are the closest existing names, best first."""

    def __init__(self, kind: str, name: str, suggestions: tuple[str, ...]) -> None:
        self.kind, self.name, self.suggestions = kind, name, suggestions
        hint = f" Did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"No {kind} called {name!r}.{hint}")

    def __reduce__(self) -> tuple[type[UnknownScope], tuple[str, str, tuple[str, ...]]]:
        # Raised in a report process, it crosses back pickled: rebuild it from its fields.
        return (UnknownScope, (self.kind, self.name, self.suggestions))
