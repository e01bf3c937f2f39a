"""Run Stoplight Prism in front of a fake server, so every response is checked against the spec.

`prism proxy --errors` forwards each request to the fake and validates the answer against the
official OpenAPI description in ../shared/specs/openapi/; a response that drifts from the schema
becomes a 500 whose body lists the violations. Prism is installed by the test itself (pinned in
tests/conformance/package.json and its lock file) into .tools/conformance.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tests" / "conformance"
TOOLS = ROOT / ".tools" / "conformance"
SPECS = ROOT.parent / "shared" / "specs" / "openapi"


def prism_binary() -> Path:
    """Install the pinned Prism with `npm ci` unless the same lock file is installed already."""
    binary = TOOLS / "node_modules" / ".bin" / "prism"
    lock = PACKAGE / "package-lock.json"
    installed_lock = TOOLS / "package-lock.json"
    if (
        binary.exists()
        and installed_lock.exists()
        and installed_lock.read_bytes() == lock.read_bytes()
    ):
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to install Prism for the conformance tests (Node 20).")
    TOOLS.mkdir(parents=True, exist_ok=True)
    shutil.copy(PACKAGE / "package.json", TOOLS / "package.json")
    shutil.copy(lock, installed_lock)
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=TOOLS,
        check=True,
        timeout=600,
        capture_output=True,
    )
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def prism_proxy(spec: str, upstream: str, log: Path) -> Iterator[str]:
    """Yield the URL of a Prism proxy validating ``upstream`` against ``spec``.

    ``spec`` is a file name in ../shared/specs/openapi, or a path to a spec of our own making.
    """
    port = _free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                str(prism_binary()),
                "proxy",
                "--errors",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                str(SPECS / spec),
                upstream,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"prism exited early:\n{log.read_text()}")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"prism did not start:\n{log.read_text()}") from None
                    time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
