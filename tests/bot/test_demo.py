"""`sitrep demo` on a machine that never ran Sitrep: embedded Postgres, products, sync, reports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def run_demo(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SITREP_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_demo_runs_on_embedded_defaults_and_is_repeatable(tmp_path: Path) -> None:
    first = run_demo(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "[1] Starting the embedded PostgreSQL" in first.stdout
    assert "7 products added" in first.stdout
    assert "└─ Fraud Detection" in first.stdout
    written, requests = totals(first.stdout)
    assert written > 3000
    assert "FAILED" not in first.stdout
    for kind in ("health", "dora", "sprint"):
        assert f'sitrep report {kind} --product "Payment System"' in first.stdout
    assert "Code Review" in first.stdout  # the time-in-status table of the planted bottleneck
    assert "deployment frequency" in first.stdout

    second = run_demo(tmp_path)  # the data directory is reused: nothing to change, little to ask
    assert second.returncode == 0, second.stderr
    assert "products: No changes" in second.stdout
    again_written, again_requests = totals(second.stdout)
    assert again_written == 0
    assert again_requests < requests / 20


def totals(output: str) -> tuple[int, int]:
    match = re.search(r"([\d,]+) rows written, ([\d,]+) requests", output)
    assert match, output
    return int(match.group(1).replace(",", "")), int(match.group(2).replace(",", ""))
