"""Benchmark: 50 concurrent signed slash commands against `sitrep serve` on the large sandbox.

    python bench/slack.py [--size large|small] [--concurrency 50] [--write-readme]

`sitrep serve` runs as its own process on the large sandbox database (synced once and kept, as
`bench/insights.py` does), with a local fake Slack taking the answers at their response URLs.
The bench sends ``--concurrency`` signed ``/sitrep`` commands at once, a mix of health, DORA and
sprint reports over the organisation, its top-level products and teams, and measures for each:

- ack latency: from sending the request to Slack's acknowledgement (the HTTP answer);
- full-answer latency: from sending the request to the answer arriving at the response URL.

Three rounds:

- *cold*: right after the server started, with no report computed anywhere (the shared
  documents are deleted first): every report computed at once. The worst case: a question in
  the seconds between a sync's end and the worker's refresh, or one nobody asked for lately.
- *refreshed*: the worker's refresh has run (`Reports.refresh`, as `sitrep worker` does after
  each sync and every 4 minutes), then a new web process (nothing in its memory) answers: the
  usual case in production.
- *warm*: the same commands again in the first process: its memory answers.

Targets (issue #5): ack p99 <= 100 ms, full answer p95 <= 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import write_readme  # noqa: E402
from bench.insights import synced_database  # noqa: E402
from bot.console import payloads  # noqa: E402
from bot.reports import Reports  # noqa: E402
from bot.slack.fake import FakeSlack  # noqa: E402
from collectors.sandbox.generator import default_now  # noqa: E402
from storage.db import session_scope  # noqa: E402
from storage.models import Product  # noqa: E402
from storage.models_bot import ReportDocument  # noqa: E402

SECRET = "bench-signing-secret"


def commands(engine: object, count: int) -> list[str]:
    """``count`` commands cycling over kinds and scopes (organisation, products, teams)."""
    with session_scope(engine) as session:  # type: ignore[arg-type]
        top = session.scalars(
            sa.select(Product.name).where(Product.parent_id.is_(None)).order_by(Product.name)
        ).all()
        teams = session.scalars(
            sa.select(Product.owner_team).where(Product.owner_team.is_not(None)).distinct()
        ).all()
    scopes = ["", *top[:6], *sorted(t for t in teams if t)[:3]]
    kinds = ["health", "dora", "sprint", "dora 90d"]
    out = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        scope = scopes[(i // len(kinds)) % len(scopes)]
        words = kind.split()
        out.append(" ".join([words[0], scope, *words[1:]]).strip())
    return out


def serve(url: str, slack: FakeSlack) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "PORT": "0",
    }
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise SystemExit("sitrep serve did not come up within 60 s")


def one_round(base: str, slack: FakeSlack, texts: list[str]) -> tuple[list[float], list[float]]:
    """Send every command at once; (ack latencies, full-answer latencies) in ms.

    Like a load generator (wrk, k6) and unlike an HTTP client library per thread, each request
    is built, signed and connected before the start, then written as bytes on its own socket:
    the clock measures the server, not this process's Python. The full answer is timed by its
    arrival at the fake Slack's response URL (recorded there), not by when this process polls.
    """
    state = slack.state
    host, port = base.removeprefix("http://").split(":")
    urls = [state.new_response_url(channel="general", user="U0BENCH") for _ in texts]
    requests = []
    for text, url in zip(texts, urls, strict=True):
        body = payloads.slash_command(
            text,
            user_id="U0BENCH",
            user_name="bench",
            channel_id=state.resolve("general").id,
            channel_name="general",
            response_url=url,
            trigger_id=state.new_trigger_id(),
        )
        raw, headers = payloads.signed(SECRET, body, "application/x-www-form-urlencoded")
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        requests.append(
            (
                f"POST /slack/events HTTP/1.1\r\nHost: {host}:{port}\r\n{head}"
                f"Content-Length: {len(raw)}\r\nConnection: close\r\n\r\n"
            ).encode()
            + raw
        )
    sockets = [socket.create_connection((host, int(port))) for _ in texts]
    acks: list[float] = [0.0] * len(texts)
    starts: list[float] = [0.0] * len(texts)
    gate = threading.Barrier(len(texts))

    def send(i: int) -> None:
        conn = sockets[i]
        gate.wait()
        starts[i] = time.perf_counter()
        conn.sendall(requests[i])
        answer = b""
        while chunk := conn.recv(65536):  # the server closes after its answer
            answer += chunk
        acks[i] = (time.perf_counter() - starts[i]) * 1000
        conn.close()
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 120
    while not all(state.arrivals(u) for u in urls):
        if time.monotonic() > deadline:
            raise SystemExit("some answers never arrived at their response URLs")
        time.sleep(0.05)
    fulls = [(state.arrivals(u)[0] - began) * 1000 for u, began in zip(urls, starts, strict=True)]
    return acks, fulls


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--size", default="large", choices=["small", "large"])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    engine = synced_database(args.size, default_now())
    url = engine.url.render_as_string(hide_password=False)
    texts = commands(engine, args.concurrency)
    with engine.begin() as conn:  # nothing computed by an earlier run
        conn.execute(sa.delete(ReportDocument))
    measured: dict[str, tuple[str, float, float, float, float]] = {}

    def measure(label: str, base: str, slack: FakeSlack) -> None:
        acks, fulls = one_round(base, slack, texts)
        row = (label, statistics.median(acks), pct(acks, 99), statistics.median(fulls))
        measured[label] = (*row, pct(fulls, 95))
        print(
            f"{label}: ack p50 {row[1]:.0f} ms p99 {measured[label][2]:.0f} ms; "
            f"full answer p50 {row[3]:.0f} ms p95 {measured[label][4]:.0f} ms",
            flush=True,
        )

    with FakeSlack() as slack:
        for labels in (("cold", "warm"), ("refreshed",)):
            if labels == ("refreshed",):  # what `sitrep worker` does after a sync
                reports = Reports(engine)
                began = time.perf_counter()
                done = reports.refresh(reports.wanted())
                print(f"worker refresh: {done} reports in {time.perf_counter() - began:.1f} s")
            process, base = serve(url, slack)
            try:
                for label in labels:
                    measure(label, base, slack)
            finally:
                process.terminate()
                process.wait(timeout=30)
    rows = [measured[label] for label in ("cold", "refreshed", "warm")]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    lines = [
        f"`bench/slack.py --size {args.size}`: {args.concurrency} signed `/sitrep` commands sent "
        f"at once to `sitrep serve` (health, DORA 30/90 days and sprint over the organisation, "
        f"products and teams), answers taken by the fake Slack; {os.cpu_count()} cores, {today}.",
        "",
        "| round | ack p50 | ack p99 | full answer p50 | full answer p95 |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(
            f"| {r[0]} | {r[1]:,.0f} ms | {r[2]:,.0f} ms | {r[3]:,.0f} ms | {r[4]:,.0f} ms |"
            for r in rows
        ),
        "| target | | <= 100 ms | | <= 1,000 ms |",
    ]
    table = "\n".join(lines)
    print()
    print(table)
    if args.write_readme:
        write_readme("slack", table)


if __name__ == "__main__":
    main()
