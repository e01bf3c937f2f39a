"""Benchmark: full and no-change sync of the sandbox organisation over real HTTP.

    python bench/sync.py [--size large|small] [--write-readme]

The fakes run in their own process (`sitrep sandbox serve`), the sync in another (`sitrep sync`),
so each is measured on its own:

- full sync: wall time, domain rows written, requests, requests per 1,000 rows;
- the fake servers' CPU time during the sync (reported separately: it is the stand-in for
  Sentry, Jira and GitHub, not our work);
- mapping + upsert rate: rows / (wall time - fake-server CPU time), the issue's definition: the
  fakes stand in for three remote services but run on the same 2 cores, so their CPU time is
  taken out of the wall time. It is an estimate (the fakes and the sync overlap), so the sync
  process's own CPU time is reported beside it, with rows per CPU second: the direct measure
  of our side's work (HTTP client, JSON, mapping, upserts, progress display);
- peak RSS of the sync process: its high-water mark (``VmHWM``) read from /proc while it runs.
  Not ``getrusage(RUSAGE_CHILDREN).ru_maxrss``: Linux carries a forked child's memory at fork
  time into that figure, so it reported this script's own ~430 MiB (the generated world);
- a second, no-change sync: wall time (process start included) and request count.

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
import threading
import time
from dataclasses import dataclass
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


class PeakRss:
    """Samples a process's peak resident set size while it runs (a thread polling /proc)."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.pid, self.every, self.peak_kib = pid, every, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            self.peak_kib = max(self.peak_kib, _high_water_kib(self.pid))
            time.sleep(self.every)

    def stop(self) -> float:
        """Stop watching; the peak in MiB."""
        self._done.set()
        self._thread.join()
        return self.peak_kib / 1024


def _high_water_kib(pid: int) -> int:
    """``VmHWM`` (the kernel's own peak, so a sample between peaks loses nothing); else RSS."""
    try:
        with Path(f"/proc/{pid}/status").open() as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        return int(psutil.Process(pid).memory_info().rss // 1024)
    except psutil.Error:
        return 0


@dataclass(frozen=True)
class SyncResult:
    seconds: float
    cpu_seconds: float
    peak_mib: float
    summary: str


def run_sync(env: dict[str, str]) -> tuple[float, str]:
    """One `sitrep sync`: its wall time and its summary (bench/insights.py syncs with it)."""
    result = measure_sync(env)
    return result.seconds, result.summary


def measure_sync(env: dict[str, str]) -> SyncResult:
    """One `sitrep sync`, with its CPU time and peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        [*SITREP, "sync"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    watch = PeakRss(process.pid)
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    peak_mib = watch.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise RuntimeError(f"sync failed:\n{stdout}\n{stderr}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return SyncResult(seconds, cpu, peak_mib, stdout)


def totals(summary: str) -> tuple[int, int]:
    match = re.search(r"([\d,]+) rows written, ([\d,]+) requests", summary)
    assert match, summary
    return int(match.group(1).replace(",", "")), int(match.group(2).replace(",", ""))


def verdict(rate: float, peak_mib: float, again_seconds: float) -> str:
    """One line saying which targets the figures meet."""
    peak_mb = peak_mib * 1024 * 1024 / 1e6
    checks = [
        (f"mapping + upsert at {rate:,.0f} rows/s", rate >= 10_000),
        (f"peak RSS {peak_mb:,.0f} MB", peak_mb <= 400),
        (f"no-change sync in {again_seconds:,.1f} s", again_seconds <= 5),
    ]
    met = [text for text, ok in checks if ok]
    missed = [text for text, ok in checks if not ok]
    if not missed:
        return f"All three targets met: {'; '.join(met)}."
    return f"Met: {'; '.join(met) or 'none'}. Missed: {'; '.join(missed)}."


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
        full = measure_sync(env)
        after = psutil.Process(fakes.pid).cpu_times()
        fake_seconds = (after.user + after.system) - (fake_cpu.user + fake_cpu.system)
        rows, requests = totals(full.summary)
        print("No-change sync ...", flush=True)
        again = measure_sync(env)
        again_rows, again_requests = totals(again.summary)
    finally:
        fakes.terminate()
        fakes.wait(timeout=30)

    ours = max(full.seconds - fake_seconds, 1e-9)
    rate = rows / ours
    today = dt.datetime.now(dt.UTC).date().isoformat()
    lines = [
        f"`bench/sync.py --size {args.size}`: fakes and sync in separate processes, embedded "
        f"PostgreSQL, {os.cpu_count()} cores, {today}.",
        "",
        "| measure | value | target |",
        "| --- | ---: | ---: |",
        f"| full sync wall time | {full.seconds:,.1f} s | |",
        f"| domain rows written | {rows:,} | |",
        f"| requests | {requests:,} ({requests / max(rows, 1) * 1000:,.1f} per 1,000 rows) | |",
        f"| fake servers' CPU time (not ours) | {fake_seconds:,.1f} s | |",
        f"| sync process's CPU time | {full.cpu_seconds:,.1f} s "
        f"({rows / max(full.cpu_seconds, 1e-9):,.0f} rows per CPU second) | |",
        f"| mapping + upsert rate | {rate:,.0f} rows/s | >= 10,000 |",
        f"| peak RSS of the sync process | {full.peak_mib:,.0f} MiB | <= 400 MB |",
        f"| no-change sync | {again.seconds:,.1f} s, {again_requests:,} requests, "
        f"{again_rows:,} rows | <= 5 s |",
    ]
    lines += ["", verdict(rate, full.peak_mib, again.seconds)]
    table = "\n".join(lines)
    print()
    print(table)
    if args.write_readme:
        write_readme("sync", table)


if __name__ == "__main__":
    main()
