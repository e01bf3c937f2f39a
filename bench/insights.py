"""Benchmark: how long the health, DORA and sprint reports take on the large sandbox.

    python bench/insights.py [--size large|small] [--runs 7] [--write-readme]

The first run syncs the sandbox over HTTP (as `bench/sync.py` does) into a database kept in
``$SITREP_BENCH_DIR`` (default ``~/.cache/sitrep-bench``) and named after the sandbox's date, so
later runs the same day reuse it. Each report is built once to warm the caches (Postgres's and
Python's), then ``--runs`` times with a fresh session each, as the bot would; the median is
reported. The narrator writes the summary (no LLM: its latency is not ours to measure).

Target (issue #4): each report <= 300 ms warm, for the whole organisation and for one product.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import write_readme  # noqa: E402
from bench.sync import run_sync, start_fakes  # noqa: E402
from collectors.sandbox.generator import default_now, generate  # noqa: E402
from insights.queries.reports import build_dora_report, build_health_report  # noqa: E402
from insights.queries.scope import resolve_scope  # noqa: E402
from insights.queries.sprint import build_sprint_report  # noqa: E402
from storage import db, migrate  # noqa: E402
from storage.models import SyncRun  # noqa: E402
from storage.products import apply_products  # noqa: E402

PRODUCT = "Payment System"
TARGET_MS = 300


def verdict(rows: list[tuple[str, float, float]]) -> str:
    """Which reports meet the target, in one sentence for the README."""
    missed = [
        f"{label} for {who} ({ms:,.0f} ms)"
        for label, org, prod in rows
        for who, ms in (("the whole organisation", org), (PRODUCT, prod))
        if ms > TARGET_MS
    ]
    if not missed:
        return f"Every report meets the target (<= {TARGET_MS} ms), for both scopes."
    return f"Over the target: {'; '.join(missed)}. Every other figure meets it."


def synced_database(size: str, now: dt.datetime) -> sa.Engine:
    """The sandbox of ``size`` as of ``now``, synced once and kept for later runs."""
    folder = Path(os.environ.get("SITREP_BENCH_DIR", "~/.cache/sitrep-bench")).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"bench_insights_{size}_{now:%Y%m%d}"
    url = db.embedded_server_url(folder, name)
    engine = sa.create_engine(url)
    migrate.upgrade(engine)
    with db.session_scope(engine) as session:
        done = session.scalar(
            sa.select(sa.func.count()).select_from(SyncRun).where(SyncRun.status == "succeeded")
        )
    if done:
        print(f"Reusing {name} (synced earlier).", flush=True)
        return engine
    with db.session_scope(engine) as session:
        apply_products(session, generate(size, now=now).products)
    print(f"Syncing the {size} sandbox into {name} (once) ...", flush=True)
    fakes, fake_env = start_fakes(size)
    try:
        env = {**os.environ, **fake_env, "DATABASE_URL": url.render_as_string(hide_password=False)}
        seconds, _ = run_sync(env)
        print(f"Synced in {seconds:.0f} s.", flush=True)
    finally:
        fakes.terminate()
        fakes.wait(timeout=30)
    return engine


def timed(engine: sa.Engine, build: Callable[..., object], runs: int, **scope: str) -> float:
    """Median milliseconds of ``runs`` builds after one warm-up, each in a fresh session."""
    samples = []
    for attempt in range(runs + 1):
        started = time.perf_counter()
        with db.session_scope(engine) as session:
            build(session, resolve_scope(session, **scope))
        if attempt:
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--size", default="large", choices=["small", "large"])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    now = default_now()  # the sandbox ends today at midnight, as `sitrep sandbox serve` does
    engine = synced_database(args.size, now)

    reports: dict[str, Callable[..., object]] = {
        "health (30 days)": lambda s, scope: build_health_report(s, scope, days=30, now=now),
        "dora (30 days)": lambda s, scope: build_dora_report(s, scope, days=30, now=now),
        "dora (90 days)": lambda s, scope: build_dora_report(s, scope, days=90, now=now),
        "sprint (active sprints)": lambda s, scope: build_sprint_report(s, scope, now=now),
    }
    with db.session_scope(engine) as session:
        counts = {
            table: session.scalar(sa.text(f"SELECT count(*) FROM {table}"))
            for table in ("pull_requests", "deployments", "work_items", "work_item_transitions")
        }
    rows = []
    for label, build in reports.items():
        organisation = timed(engine, build, args.runs)
        product = timed(engine, build, args.runs, product=PRODUCT)
        rows.append((label, organisation, product))
        print(f"{label:<26} organisation {organisation:7.1f} ms   {PRODUCT} {product:7.1f} ms")

    today = dt.datetime.now(dt.UTC).date().isoformat()
    data = ", ".join(f"{n:,} {t.replace('_', ' ')}" for t, n in counts.items())
    lines = [
        f"`bench/insights.py --size {args.size}`: median of {args.runs} warm runs, each in a fresh "
        f"session, embedded PostgreSQL, {os.cpu_count()} cores, {today}. Data: {data}.",
        "",
        f"| report | whole organisation | {PRODUCT} (with sub-products) | target |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {label} | {org:,.0f} ms | {prod:,.0f} ms | <= {TARGET_MS} ms |"
            for label, org, prod in rows
        ),
        "",
        verdict(rows),
    ]
    table = "\n".join(lines)
    print()
    print(table)
    if args.write_readme:
        write_readme("insights", table)


if __name__ == "__main__":
    main()
