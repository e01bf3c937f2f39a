"""What a check says: a status, what was found, and what to do about it."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but deserves attention
    FAIL = "fail"  # broken, or required and missing: the diagnosis fails
    OFF = "off"  # not configured, and optional: what to set and what it would give


@dataclass(frozen=True)
class Check:
    """One line of the diagnosis: ``detail`` says what was found, ``fix`` what to do about it."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def redacted(self, secrets: Collection[str]) -> Check:
        """This check with every value of ``secrets`` replaced by ``***``."""

        def scrub(text: str) -> str:
            for secret in secrets:
                text = text.replace(secret, "***")
            return text

        return replace(
            self, detail=scrub(self.detail), fix=None if self.fix is None else scrub(self.fix)
        )


@dataclass(frozen=True)
class Diagnosis:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status is Status.FAIL]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status is Status.WARN]

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks]}


def first_line(exc: object) -> str:
    """The first line of an error's message (drivers append pages of context), or its type."""
    text = str(exc).strip()
    return re.split(r"\r?\n", text, maxsplit=1)[0] if text else type(exc).__name__


def unreachable_fix(variable: str, url: str) -> str:
    return (
        f"check {variable} ({url}) and that this machine can reach it "
        "(proxies: HTTPS_PROXY, NO_PROXY)"
    )
