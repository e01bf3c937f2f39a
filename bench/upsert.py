"""Benchmark: bulk upsert of pull requests against the physical limit, a plain COPY.

    python bench/upsert.py [--rows 200000] [--batch 5000] [--write-readme]

Runs in a throw-away embedded PostgreSQL (or `DATABASE_URL`, into a scratch database there) and
reports rows/s for

- COPY: the same rows COPYed into a scratch table with no indexes (the ceiling on this machine);
- first upsert: `storage.repository.upsert_rows` into the empty, indexed `pull_requests` table;
- re-upsert, unchanged: the same rows again (must write nothing);
- re-upsert, 10% changed: a realistic incremental sync.

Target (issue #2): the first upsert reaches at least 30% of COPY's rate. With `--write-readme`
the table replaces the block between the BENCH:upsert markers in README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy.engine import URL

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import scratch_database, write_readme  # noqa: E402
from storage import db, migrate  # noqa: E402
from storage.models import PullRequest  # noqa: E402
from storage.repository import UpsertResult, upsert_rows  # noqa: E402

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def make_rows(count: int, *, changed_every: int = 0) -> Iterator[dict[str, Any]]:
    """Rows made on the fly, as a collector streams them: memory stays bounded by the batch."""
    for i in range(count):
        repo = f"acme/service-{i % 40}"
        created = T0 + dt.timedelta(minutes=7 * i)
        title = f"Improve handler {i}" + (
            " (v2)" if changed_every and i % changed_every == 0 else ""
        )
        yield (
            {
                "source": "github",
                "external_id": f"{repo}#{i}",
                "url": f"https://github.com/{repo}/pull/{i}",
                "repo": repo,
                "number": i,
                "title": title,
                "author": f"dev{i % 500}",
                "state": "merged",
                "original_state": "closed",
                "head_branch": f"feature/{i}",
                "base_branch": "main",
                "labels": ["backend"] if i % 3 else ["backend", "hotfix"],
                "first_commit_at": created - dt.timedelta(hours=20),
                "created_at": created,
                "updated_at": created + dt.timedelta(hours=9),
                "first_review_at": created + dt.timedelta(hours=3),
                "merged_at": created + dt.timedelta(hours=8),
                "closed_at": created + dt.timedelta(hours=8),
                "merge_commit_sha": f"{i:040x}",
                "additions": i % 700,
                "deletions": i % 90,
                "changed_files": i % 25,
                "commits": i % 9 + 1,
                "raw": {"number": i, "title": title, "user": {"login": f"dev{i % 500}"}},
            }
        )


def timed(label: str, rows: int, action: Callable[[], object]) -> tuple[str, float, object]:
    started = time.perf_counter()
    outcome = action()
    seconds = time.perf_counter() - started
    print(f"  {label:<28} {rows / seconds:>10,.0f} rows/s  ({seconds:.2f}s)", flush=True)
    return label, rows / seconds, outcome


def copy_rows(url: URL, rows: Iterator[dict[str, Any]]) -> None:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    first = next(rows)
    columns = list(first)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS bench_copy")
        conn.exec_driver_sql("CREATE TABLE bench_copy (LIKE pull_requests INCLUDING DEFAULTS)")
        raw = conn.connection.driver_connection
        assert raw is not None
        cols = ", ".join(columns)
        with raw.cursor() as cur, cur.copy(f"COPY bench_copy ({cols}) FROM STDIN") as copy:
            for row in itertools.chain([first], rows):
                copy.write_row([Jsonb(row[c]) if c == "raw" else row[c] for c in columns])
    engine.dispose()


def upsert(url: URL, rows: Iterator[dict[str, Any]], batch: int) -> UpsertResult:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with db.session_scope(engine) as session:
        result = upsert_rows(session, PullRequest, rows, batch_size=batch)
    engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()

    url = scratch_database("sitrep_bench")
    migrate.upgrade(sa.create_engine(url, poolclass=sa.NullPool))
    n = args.rows
    print(f"Into {db.describe(url)}, batches of {args.batch:,}:")
    results = [
        timed("COPY (scratch, no indexes)", n, lambda: copy_rows(url, make_rows(n))),
        timed("first upsert", n, lambda: upsert(url, make_rows(n), args.batch)),
        timed("re-upsert, unchanged", n, lambda: upsert(url, make_rows(n), args.batch)),
        timed(
            "re-upsert, 10% changed",
            n,
            lambda: upsert(url, make_rows(n, changed_every=10), args.batch),
        ),
    ]
    copy_rate = results[0][1]
    assert results[1][2] == UpsertResult(inserted=args.rows), results[1][2]
    assert results[2][2] == UpsertResult(unchanged=args.rows), results[2][2]
    assert results[3][2] == UpsertResult(
        updated=args.rows // 10, unchanged=args.rows - args.rows // 10
    )

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    today = dt.datetime.now(dt.UTC).date().isoformat()
    lines = [
        f"`bench/upsert.py`: {args.rows:,} pull-request rows, batches of {args.batch:,}, "
        f"embedded PostgreSQL, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{today}. Rows are made on the fly in every phase, as a sync "
        f"streams them; peak memory of the benchmark process: {peak_mib:,.0f} MiB.",
        "",
        "| operation | rows/s | share of COPY |",
        "| --- | ---: | ---: |",
    ]
    for label, rate, _ in results:
        lines.append(f"| {label} | {rate:,.0f} | {rate / copy_rate:.0%} |")
    share = results[1][1] / copy_rate
    verdict = "meets" if share >= 0.30 else "MISSES"
    lines.append("")
    lines.append(f"First upsert at {share:.0%} of COPY: {verdict} the 30% target.")
    table = "\n".join(lines)
    print()
    print(table)
    if args.write_readme:
        write_readme("upsert", table)


if __name__ == "__main__":
    main()
