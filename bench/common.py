"""What the benchmarks share: a scratch database and writing their figures into the README."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from storage import db

ROOT = Path(__file__).resolve().parent.parent


def scratch_database(name: str) -> URL:
    """A fresh database ``name``: on `DATABASE_URL`'s server, else a throw-away embedded one."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        admin = db.normalise_url(configured)
        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        engine.dispose()
        return admin.set(database=name)
    return db.embedded_server_url(Path(tempfile.mkdtemp(prefix="sitrep-bench-")), name)


def write_readme(marker: str, table: str) -> None:
    """Replace the block between ``<!-- BENCH:marker:start/end -->`` in README.md."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = f"<!-- BENCH:{marker}:start -->", f"<!-- BENCH:{marker}:end -->"
    if start not in text:
        print(f"README.md has no BENCH:{marker} markers; not written.")
        return
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{table}\n{end}{tail}")
    print("README.md updated.")
