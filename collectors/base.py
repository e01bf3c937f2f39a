"""What every collector offers the runner, and what the runner hands each collector.

A collector syncs one source. Its work is split into *scopes* (a Sentry project, a Jira project or
board, one stream of a GitHub repo) that succeed or fail on their own and each keep a cursor.
The rules every `Collector.sync_scope` follows:

- read the cursor with `storage.sync_state.get_cursor` (ignore it when ``ctx.full``);
- write rows in batches with `storage.repository.upsert_rows`, and save the advanced cursor in the
  *same* transaction as the rows it covers (`ctx.transaction()`), so a crash never loses rows the
  cursor claims;
- when nothing changed since the cursor, make at most one request;
- report progress through ``progress``; raise `collectors.errors.SourceError` subclasses for
  problems a person can act on.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from storage.db import session_scope


class ScopeProgress(Protocol):
    def total(self, count: int | None) -> None:
        """How many units this scope expects (None: unknown)."""

    def advance(self, count: int = 1) -> None:
        """``count`` more units are done."""


class ProgressSink(Protocol):
    def scope(self, source: str, scope: str) -> AbstractContextManager[ScopeProgress]: ...


class NullScopeProgress:
    def total(self, count: int | None) -> None:
        pass

    def advance(self, count: int = 1) -> None:
        pass


class NullProgress:
    """Progress that goes nowhere: for tests, the scheduler and the benchmark."""

    def scope(self, source: str, scope: str) -> AbstractContextManager[ScopeProgress]:
        from contextlib import nullcontext

        return nullcontext(NullScopeProgress())


@dataclass
class SyncContext:
    engine: Engine
    full: bool = False
    batch_size: int = 2_000
    stats: dict[str, int] = field(default_factory=dict)  # rows written per table, for reports

    def transaction(self) -> AbstractContextManager[Session]:
        """A committed unit of work: rows and the cursor that covers them, together."""
        return session_scope(self.engine)

    def count(self, table: str, rows: int) -> None:
        self.stats[table] = self.stats.get(table, 0) + rows


class Collector(Protocol):
    source: str

    @property
    def requests(self) -> int:
        """HTTP requests made so far (every attempt counts)."""

    def scopes(self, session: Session) -> list[str]:
        """The scopes to sync, from the products' mappings (what the products file names)."""

    def sync_scope(self, scope: str, ctx: SyncContext, progress: ScopeProgress) -> int:
        """Sync one scope; return the number of domain rows written (inserted or updated)."""

    def close(self) -> None: ...
