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

import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

_factories: weakref.WeakKeyDictionary[Engine, sessionmaker[Session]] = weakref.WeakKeyDictionary()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """`storage.db.session_scope`, with the session factory made once per engine, not once per
    transaction: a sync runs thousands of small transactions, and making a factory cost about
    as much CPU as the statements of a no-change scope's transaction."""
    factory = _factories.get(engine)
    if factory is None:
        factory = _factories.setdefault(engine, sessionmaker(engine, expire_on_commit=False))
    with factory() as session, session.begin():
        yield session


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


class LazyScopeProgress:
    """A scope's progress, opened in the sink on the scope's first report, closed by `close`.

    A scope with nothing to report adds nothing: a no-change sync answers most scopes with one
    304 and no progress at all, and a console that redraws every bar it holds whenever one is
    added (rich does) spent more CPU on hundreds of such bars than the sync itself.
    """

    def __init__(self, sink: ProgressSink, source: str, scope: str) -> None:
        self._sink, self._source, self._scope = sink, source, scope
        self._lock = threading.Lock()
        self._opened = ExitStack()
        self._bar: ScopeProgress | None = None

    def _open(self) -> ScopeProgress:
        with self._lock:
            if self._bar is None:
                self._bar = self._opened.enter_context(self._sink.scope(self._source, self._scope))
            return self._bar

    def total(self, count: int | None) -> None:
        self._open().total(count)

    def advance(self, count: int = 1) -> None:
        self._open().advance(count)

    def close(self) -> None:
        self._opened.close()


@dataclass
class SyncContext:
    engine: Engine
    full: bool = False
    batch_size: int = 2_000
    stats: dict[str, int] = field(default_factory=dict)  # rows written per table, for reports

    def transaction(self) -> AbstractContextManager[Session]:
        """A committed unit of work: rows and the cursor that covers them, together."""
        return transaction(self.engine)

    def count(self, table: str, rows: int) -> None:
        self.stats[table] = self.stats.get(table, 0) + rows


class Collector(Protocol):
    source: str

    @property
    def requests(self) -> int:
        """HTTP requests made so far (every attempt counts)."""

    def scopes(self, session: Session) -> list[str]:
        """The scopes to sync, from the products' mappings (what the products file names)."""

    def stages(self, scopes: list[str]) -> list[list[str]]:
        """``scopes`` in stages that run one after the other; the scopes of one stage do not
        depend on each other and may run side by side (a scope that needs another's rows
        goes in a later stage)."""

    def sync_scope(self, scope: str, ctx: SyncContext, progress: ScopeProgress) -> int:
        """Sync one scope; return the number of domain rows written (inserted or updated)."""

    def close(self) -> None: ...
