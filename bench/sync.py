"""Benchmark: full and no-change sync of the sandbox organisation over real HTTP.

    python bench/sync.py [--size large|small] [--write-readme]

The fakes run in their own process (`sitrep sandbox serve`), the sync in another (`sitrep sync`),
so each is measured on its own:

- full sync: wall time, domain rows written, requests, requests per 1,000 rows;
- the fake servers' CPU time during the sync (reported separately: it is the stand-in for
  Sentry, Jira and GitHub, not our work);
- mapping + upsert rate: rows / (wall time - fake-server CPU time). On this 2-core machine the
  sync mostly waits while a fake renders JSON, so subtracting the fakes' CPU time leaves the time
  our side spends fetching, mapping and upserting;
- peak RSS of the sync process;
- a second, no-change sync: wall time and request count.

Targets (issue #3): >= 10,000 rows/s mapping + upsert, peak RSS <= 400 MB, no-change sync <= 5 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import scratch_database, write_readme  # noqa: E402
from bot.sandbox import FAKES  # noqa: E402
from collectors.sandbox.generator import generate  # noqa: E402
from storage import db, migrate  # noqa: E402
from storage.products import apply_products  # noqa: E402

SITREP = [sys.executable, "-m", "bot.cli"]


def start_fakes(size: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [*SITREP, "sandbox", "serve", "--size", size, "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    env: dict[str, str] = {}
    assert process.stdout is not None
    for line in process.stdout:
        match = re.match(r"export (\w+)=(.*)", line.strip())
        if match:
            env[match.group(1)] = match.group(2)
        if line.startswith("Ctrl-C"):
            break
    if not env:
        raise RuntimeError("the sandbox did not start")
    return process, env


def run_sync(env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run([*SITREP, "sync"], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"sync failed:\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout


def totals(summary: str) -> tuple[int, int]:
    match = re.search(r"([\d,]+) rows written, ([\d,]+) requests", summary)
    assert match, summary
    return int(match.group(1).replace(",", "")), int(match.group(2).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--size", default="large", choices=["small", "large"])
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    assert set(FAKES) == {"sentry", "jira", "github"}

    url = scratch_database("sitrep_bench_sync")
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    migrate.upgrade(engine)
    with db.session_scope(engine) as session:
        apply_products(session, generate(args.size).products)
    engine.dispose()

    print(f"Starting the {args.size} sandbox ...", flush=True)
    fakes, fake_env = start_fakes(args.size)
    try:
        env = {**os.environ, **fake_env, "DATABASE_URL": url.render_as_string(hide_password=False)}
        fake_cpu = psutil.Process(fakes.pid).cpu_times()
        print("Full sync ...", flush=True)
        full_seconds, full_summary = run_sync(env)
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        after = psutil.Process(fakes.pid).cpu_times()
        fake_seconds = (after.user + after.system) - (fake_cpu.user + fake_cpu.system)
        rows, requests = totals(full_summary)
        print("No-change sync ...", flush=True)
        again_seconds, again_summary = run_sync(env)
        again_rows, again_requests = totals(again_summary)
    finally:
        fakes.terminate()
        fakes.wait(timeout=30)

    ours = max(full_seconds - fake_seconds, 1e-9)
    rate = rows / ours
    today = dt.datetime.now(dt.UTC).date().isoformat()
    lines = [
        f"`bench/sync.py --size {args.size}`: fakes and sync in separate processes, embedded "
        f"PostgreSQL, {os.cpu_count()} cores, {today}.",
        "",
        "| measure | value | target |",
        "| --- | ---: | ---: |",
        f"| full sync wall time | {full_seconds:,.1f} s | |",
        f"| domain rows written | {rows:,} | |",
        f"| requests | {requests:,} ({requests / max(rows, 1) * 1000:,.1f} per 1,000 rows) | |",
        f"| fake servers' CPU time (not ours) | {fake_seconds:,.1f} s | |",
        f"| mapping + upsert rate | {rate:,.0f} rows/s | >= 10,000 |",
        f"| peak RSS of the sync process | {peak_mib:,.0f} MiB | <= 400 MB |",
        f"| no-change sync | {again_seconds:,.1f} s, {again_requests:,} requests, "
        f"{again_rows:,} rows | <= 5 s |",
    ]
    table = "\n".join(lines)
    print()
    print(table)
    if args.write_readme:
        write_readme("sync", table)


if __name__ == "__main__":
    main()
