"""Finding the database: URLs from the environment, and the embedded server's life cycle."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from storage import db
from storage.errors import DatabaseUnavailable


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
    ],
)
def test_urls_from_hosting_platforms_use_psycopg3(given: str, expected: str) -> None:
    url = db.normalise_url(given)
    assert url.set(query={}).render_as_string(hide_password=False) == expected


UTC_OPTION = "-c TimeZone=UTC"


@pytest.mark.parametrize(
    ("given", "options"),
    [
        ("postgresql://u@h/d", UTC_OPTION),
        # The operator's options stay; a zone of their own is overridden (the later -c wins).
        ("postgresql://u@h/d?options=-c%20work_mem%3D8MB", f"-c work_mem=8MB {UTC_OPTION}"),
        ("postgresql://u@h/d?options=-c%20TimeZone%3DJapan", f"-c TimeZone=Japan {UTC_OPTION}"),
    ],
)  # fmt: skip
def test_sessions_are_asked_to_run_in_utc(given: str, options: str) -> None:
    url = db.normalise_url(given)
    assert url.query["options"] == options
    # Normalising twice (a URL handed to a child process) adds nothing.
    assert db.normalise_url(url.render_as_string(hide_password=False)) == url


def test_timestamps_come_back_in_python_utc(database_url: URL) -> None:
    """psycopg attaches ``datetime.UTC`` itself only when the session zone is exactly "UTC"."""
    engine = sa.create_engine(
        db.normalise_url(
            database_url.difference_update_query(["options"]).render_as_string(hide_password=False)
        )
    )
    try:
        with engine.connect() as conn:
            zone = conn.execute(sa.text("SHOW TimeZone")).scalar_one()
            moment = conn.execute(sa.text("SELECT TIMESTAMPTZ '2026-11-22 23:30+02'")).scalar_one()
    finally:
        engine.dispose()
    assert zone == "UTC"
    assert moment.tzinfo is dt.UTC
    assert moment == dt.datetime(2026, 11, 22, 21, 30, tzinfo=dt.UTC)


def test_a_database_that_is_not_postgres_is_refused_with_a_way_out() -> None:
    with pytest.raises(DatabaseUnavailable, match="Unset it to use the embedded PostgreSQL"):
        db.normalise_url("sqlite:///sitrep.db")


def test_password_is_hidden_when_described() -> None:
    assert "secret" not in db.describe(db.normalise_url("postgresql://u:secret@h/d"))


def test_data_dir_defaults_per_user_and_follows_the_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SITREP_DATA_DIR", raising=False)
    assert db.data_dir().name == "sitrep"
    monkeypatch.setenv("SITREP_DATA_DIR", "/tmp/somewhere/else")
    assert db.data_dir() == Path("/tmp/somewhere/else")


def _sitrep(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SITREP_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _postmasters(pgdata: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(pgdata) in " ".join(cmdline):
            found.append(proc)
    return found


def test_embedded_postgres_starts_on_demand_keeps_data_and_stops_cleanly(tmp_path: Path) -> None:
    """With DATABASE_URL unset, each command starts the embedded server, and stops it on exit."""
    products = tmp_path / "products.yaml"
    products.write_text("products:\n  - name: Solo\n    github_repos: [acme/solo]\n")

    first = _sitrep("products", "apply", str(products), data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "+ product  Solo" in first.stdout
    assert (tmp_path / "postgres" / "PG_VERSION").exists()

    second = _sitrep("products", "show", data_dir=tmp_path)  # a new process finds the data
    assert second.returncode == 0, second.stderr
    assert "Solo" in second.stdout
    assert "acme/solo" in second.stdout

    deadline = time.monotonic() + 10
    while _postmasters(tmp_path / "postgres") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _postmasters(tmp_path / "postgres") == [], "the embedded server outlived its last user"

    # The first start kept a larger cache for the next ones, which now run with it.
    wanted = db.embedded_shared_buffers()
    auto = (tmp_path / "postgres" / "postgresql.auto.conf").read_text()
    assert f"shared_buffers = '{wanted}'" in auto
    engine = sa.create_engine(db.embedded_server_url(tmp_path), poolclass=sa.NullPool)
    with engine.connect() as conn:
        shown = conn.execute(sa.text("SHOW shared_buffers")).scalar()
    engine.dispose()
    assert shown == wanted.replace("1024MB", "1GB")  # PostgreSQL shows whole gigabytes so


@pytest.mark.parametrize(
    ("memory", "expected"),
    [(24 * 2**30, "1024MB"), (4 * 2**30, "512MB"), (2**30, "128MB"), (256 * 2**20, "128MB")],
)
def test_the_embedded_cache_is_an_eighth_of_memory_within_bounds(
    memory: int, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SITREP_PG_SHARED_BUFFERS", raising=False)
    assert db.embedded_shared_buffers(memory) == expected
    monkeypatch.setenv("SITREP_PG_SHARED_BUFFERS", "2 GB")
    assert db.embedded_shared_buffers(memory) == "2GB"
    monkeypatch.setenv("SITREP_PG_SHARED_BUFFERS", "lots")
    with pytest.raises(DatabaseUnavailable, match="is not a size: use"):
        db.embedded_shared_buffers(memory)
