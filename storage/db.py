"""Where the database is, and how a unit of work talks to it.

`DATABASE_URL` wins when it is set (any PostgreSQL >= 14). When it is unset Sitrep runs a real,
embedded PostgreSQL from the `pgserver` wheel in `SITREP_DATA_DIR`: started on first use, shared by
every Sitrep process on the machine (pgserver counts the processes holding it) and stopped cleanly
when the last of them exits. The data directory survives, so the next command finds its data again.

Sessions are opened at the edges (a CLI command, a listener, a job) with `session_scope`; data
functions take a `Session` and never commit on their own.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "sitrep"


def data_dir() -> Path:
    """`SITREP_DATA_DIR`, or the per-user data directory (``~/.local/share/sitrep`` on Linux)."""
    configured = os.environ.get("SITREP_DATA_DIR")
    path = Path(configured) if configured else Path(platformdirs.user_data_dir("sitrep"))
    return path.expanduser().resolve()


def normalise_url(url: str) -> URL:
    """Accept the spellings hosting platforms hand out and pin the psycopg 3 driver.

    Heroku-style ``postgres://`` and bare ``postgresql://`` would otherwise make SQLAlchemy
    look for psycopg2, which we do not ship.
    """
    parsed = make_url(
        url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url
    )
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseUnavailable(
            f"DATABASE_URL must point at PostgreSQL, not {parsed.get_backend_name()!r}. "
            "Unset it to use the embedded PostgreSQL."
        )
    return _in_utc(parsed.set(drivername="postgresql+psycopg"))


def _in_utc(url: URL) -> URL:
    """Ask the server to run every session in the time zone "UTC" (libpq's ``options``).

    The metrics are defined in UTC days and ISO weeks, so SQL that casts to dates must not
    depend on the server's default zone. And psycopg returns timestamps with Python's own
    ``datetime.UTC`` only when the session zone is spelled exactly "UTC": for "Etc/UTC" (a common
    server default) it attaches a ZoneInfo, which makes loading a timestamp about twice as slow
    and every comparison with our own UTC datetimes call ``utcoffset`` on both sides.
    """
    options = url.query.get("options", "")
    if isinstance(options, tuple):  # the parameter given twice: libpq keeps the last one
        options = options[-1]
    if options.endswith("-c TimeZone=UTC"):
        return url  # normalised already (a URL handed to a child process comes back here)
    # Appended, so it wins over a zone set earlier in the options: the metrics need UTC.
    return url.update_query_dict({"options": f"{options} -c TimeZone=UTC".strip()})


def embedded_server_url(directory: Path, database: str = EMBEDDED_DATABASE) -> URL:
    """Start (or join) the embedded PostgreSQL in ``directory`` and return a URL to ``database``.

    The database is created on first use. pgserver listens on a Unix socket only, so nothing
    on the network can reach the embedded server.
    """
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir at import time, which warns when
        # XDG_RUNTIME_DIR is unset (CI, root shells) and then falls back to /tmp: harmless.
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: it touches the filesystem at import time

    pgdata = directory / "postgres"
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    except Exception as exc:  # pgserver raises bare subprocess/OS errors; name the fix
        raise DatabaseUnavailable(
            f"The embedded PostgreSQL in {pgdata} did not start ({exc}). "
            f"See {pgdata / 'log'}, or set DATABASE_URL to an existing PostgreSQL."
        ) from exc
    admin = normalise_url(server.get_uri())
    _prepare(admin, database, embedded_shared_buffers())
    return admin.set(database=database)


_BUFFERS = re.compile(r"^[1-9][0-9]*(kB|MB|GB)$")


def embedded_shared_buffers(memory: int | None = None) -> str:
    """The embedded server's cache (``shared_buffers``): ``SITREP_PG_SHARED_BUFFERS``, else an
    eighth of the machine's ``memory`` (bytes), from initdb's 128 MB up to 1 GB.

    initdb's 128 MB holds a fraction of a large organisation's ~600 MB: reports that follow one
    another evicted each other's pages (measured: the Slack bench's cold round p95 ~1.7-2.4 s
    with 128 MB, ~1.3-1.8 s with 1 GB; refreshed ~470-570 -> ~330-390 ms)."""
    configured = os.environ.get("SITREP_PG_SHARED_BUFFERS", "").replace(" ", "")
    if configured:
        if not _BUFFERS.match(configured):
            raise DatabaseUnavailable(
                f"SITREP_PG_SHARED_BUFFERS={configured!r} is not a size: use e.g. 512MB or 2GB."
            )
        return configured
    if memory is None:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{min(1024, max(128, memory // 8 // 2**20))}MB"


def _prepare(admin: URL, database: str, shared_buffers: str) -> None:
    """Create ``database`` if missing, and set the server's ``shared_buffers``. The server reads
    that at start only: ALTER SYSTEM keeps it for the next start (the server stops when the last
    Sitrep process exits), rather than restarting a server other processes may be using."""
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
            ).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
            kept = conn.execute(
                sa.text(
                    "SELECT setting FROM pg_file_settings WHERE name = 'shared_buffers' "
                    "AND sourcefile LIKE '%postgresql.auto.conf'"
                )
            ).scalar()
            if kept != shared_buffers:  # checked by _BUFFERS: safe to put in the statement
                conn.execute(sa.text(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers}'"))
    finally:
        engine.dispose()


def database_url() -> URL:
    """The database this process should use: `DATABASE_URL`, else the embedded server."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return normalise_url(configured)
    return embedded_server_url(data_dir())


@functools.cache
def _engine_for(url: str) -> Engine:
    return sa.create_engine(url, pool_pre_ping=True)


def get_engine(url: URL | str | None = None) -> Engine:
    """One engine per URL per process (engines own connection pools; make them once)."""
    resolved = database_url() if url is None else normalise_url(str(url))
    return _engine_for(resolved.render_as_string(hide_password=False))


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: commit when the block ends, roll back when it raises."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def describe(url: URL) -> str:
    """The URL as it is safe to print: password hidden."""
    return url.render_as_string(hide_password=True)
