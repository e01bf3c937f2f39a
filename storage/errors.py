"""Errors raised by the storage room.

StorageError                  anything storage raises on purpose
├── DatabaseUnavailable       no database to talk to (bad URL, embedded server failed to start)
├── ProductCycleError         a parent change would make the product tree loop
├── MappingConflictError      one source thing (repo, project, board) claimed by two products
└── ProductFileError          a products file that cannot be applied; carries every problem found
"""

from __future__ import annotations

from dataclasses import dataclass


class StorageError(Exception):
    """Base class: the message is meant for the person running the command."""


class DatabaseUnavailable(StorageError):
    pass


class ProductCycleError(StorageError):
    pass


class MappingConflictError(StorageError):
    pass


@dataclass(frozen=True)
class FileProblem:
    """One thing wrong with a products file, located as precisely as we can."""

    file: str
    message: str
    product: str | None = None
    key: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.product is not None:
            where += f': product "{self.product}"'
        if self.key is not None:
            where += f", key '{self.key}'"
        text = f"{where}: {self.message}"
        if self.hint:
            text += f" {self.hint}"
        return text


class ProductFileError(StorageError):
    def __init__(self, problems: list[FileProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
