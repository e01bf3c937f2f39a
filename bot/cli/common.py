"""What every CLI command shares: opening the database and turning known errors into messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from storage import db, migrate
from storage.errors import ProductFileError, StorageError

# Exit codes: 1 = something failed, 2 = the input was wrong (click uses 2 for usage errors too).
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def err(message: str) -> None:
    typer.secho(message, err=True, fg=typer.colors.RED)


@contextmanager
def user_errors() -> Iterator[None]:
    """Catch the errors a person can fix and say how; let anything unexpected surface."""
    try:
        yield
    except ProductFileError as exc:
        for problem in exc.problems:
            err(str(problem))
        err("Nothing was changed.")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except StorageError as exc:
        err(str(exc))
        raise typer.Exit(EXIT_FAILED) from None
    except OperationalError as exc:
        # Unreachable server, wrong password, missing database: say which, not a traceback.
        reason = str(exc.orig or exc).strip().splitlines()[0]
        err(f"Cannot use the database: {reason}")
        err("Check DATABASE_URL (or unset it to use the embedded PostgreSQL).")
        raise typer.Exit(EXIT_FAILED) from None


def open_engine(*, migrate_first: bool = True) -> Engine:
    """The engine for this process's database, migrated to head unless told otherwise."""
    engine = db.get_engine()
    if migrate_first:
        migrate.ensure_current(engine)
    return engine
