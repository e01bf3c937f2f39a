"""`sitrep demo` on a machine that never ran Sitrep, and `sitrep console` against `--keep`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

STEPS = (
    "[1] Starting the embedded PostgreSQL",
    "[3] Syncing over HTTP",
    "[5] Starting the Slack bot",
    "[6] The App Home tab",
    "[7] `/sitrep health Payment System`",
    "[8] `/sitrep dora Payment System 30d`",
    "[9] `/sitrep sprint Payment System`",
    "[10] A daily digest",
    "[11] A Sentry alert",
)


def demo_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SITREP_DATA_DIR"] = str(data_dir)
    env["COLUMNS"] = "110"
    return env


def run_demo(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo"],
        env=demo_env(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_demo_runs_the_whole_pipeline_on_embedded_defaults_and_is_repeatable(
    tmp_path: Path,
) -> None:
    first = run_demo(tmp_path)
    out = first.stdout
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for marker in STEPS:
        assert marker in out, marker
    assert "7 products added" in out
    assert "└─ Fraud Detection" in out
    written, requests = totals(out)
    assert written > 3000
    assert "FAILED" not in out
    # The App Home: a tile per product.
    home = section(out, "[6]", "[7]")
    assert home.count("[ Details ]") == 7
    assert "Payment System · team payments" in home
    # The three reports, answered through the response URL, each with its Share button.
    assert "Health · Payment System · last 30 days" in section(out, "[7]", "[8]")
    assert "DORA · Payment System · last 30 days" in section(out, "[8]", "[9]")
    sprint = section(out, "[9]", "[10]")
    assert "Code Review" in sprint  # the planted bottleneck of the Payment board
    assert out.count("[ Share in channel ]") == 3
    # The digest in its channel, details in the thread.
    digest = section(out, "[10]", "[11]")
    assert "Daily digest · Payment System" in digest
    assert "↳ @sitrep" in digest
    # The alert: posted with its buttons, a modal, one Jira issue, the message updated in place.
    alert = section(out, "[11]", "Demo finished")
    assert "Sentry got HTTP 200" in alert
    assert "[ Create Jira ticket ]  [ Link existing ticket ]  [ Resolve ]  [ Ignore ]" in alert
    assert "[ Cancel ]  [ Create ]" in alert
    key = re.search(r"Jira \(the fake\) now has (PAY-\d+)", alert)
    assert key, alert
    assert f"@alice created {key.group(1)}" in alert

    second = run_demo(tmp_path)  # the data directory is reused: nothing to change, little to ask
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "products: No changes" in second.stdout
    again_written, again_requests = totals(second.stdout)
    assert again_written == 0
    assert again_requests < requests / 20


def test_console_talks_to_the_demo_left_running_with_keep(tmp_path: Path) -> None:
    env = demo_env(tmp_path)
    demo = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "demo", "--keep"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 240
        for line in demo.stdout:
            if "Still running" in line or time.monotonic() > deadline:
                break
        assert (tmp_path / "demo.env").exists()

        def console(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "bot.cli", "console", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        answer = console("/sitrep dora Payment System 90d")
        assert "DORA · Payment System · last 90 days" in answer
        assert "[ Share in channel ]" in answer
        console("--click", "Share in channel")  # a button of the last answer
        shared = console("--channel", "general")
        assert "Shared by" in shared
        assert "DORA · Payment System · last 90 days" in shared
        alerts = console("--channel", "payments-alerts")
        assert "created PAY-" in alerts
        wrong = subprocess.run(
            [sys.executable, "-m", "bot.cli", "console", "/sitrep helth"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert "Did you mean" in wrong.stdout + wrong.stderr
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=60)


def section(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def totals(output: str) -> tuple[int, int]:
    match = re.search(r"([\d,]+) rows written, ([\d,]+) requests", output)
    assert match, output
    return int(match.group(1).replace(",", "")), int(match.group(2).replace(",", ""))
