"""The harness the local fake servers share: a real HTTP server on 127.0.0.1 and fault injection.

Each source's fake (``collectors/<source>/fake.py``) is a Starlette app that renders the sandbox
`World` the way that service's API does. `FakeServer` serves it with uvicorn on a real socket
(port 0: the OS picks a free one) in a background thread; `Faults` makes it misbehave the way
real services do under load, so the collectors' retry paths are exercised over real HTTP:

    429 every Nth request (with Retry-After), bursts of 5xx, slow answers,
    connections dropped before the body, bodies truncated mid-JSON.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field, fields
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Faults:
    """What to break, and how often. Zero turns a fault off."""

    rate_limit_every: int = 0  # every Nth request answers 429 with Retry-After
    retry_after: int = 1  # seconds, sent in Retry-After
    error_burst_every: int = 0  # every Nth request starts a burst of 503s ...
    error_burst_length: int = 3  # ... this many requests long
    slow_ms: int = 0  # every answer is delayed this long
    drop_every: int = 0  # every Nth request: the connection closes before any body
    truncate_every: int = 0  # every Nth request: the body is cut in half (valid HTTP, bad JSON)
    rate_limit_headers: dict[str, str] = field(default_factory=dict)  # extra headers on a 429

    SPEC = "429:N, 5xx:NxLEN, slow:MS, drop:N, truncate:N, retry-after:S"

    @classmethod
    def parse(cls, text: str) -> Faults:
        """``"429:5,5xx:7x3,slow:50,drop:11,truncate:13"`` -> Faults (the CLI's --faults)."""
        faults = cls()
        for item in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = item.partition(":")
            try:
                if name == "429":
                    faults.rate_limit_every = int(value)
                elif name == "5xx":
                    every, _, length = value.partition("x")
                    faults.error_burst_every = int(every)
                    faults.error_burst_length = int(length or 3)
                elif name == "slow":
                    faults.slow_ms = int(value)
                elif name == "drop":
                    faults.drop_every = int(value)
                elif name == "truncate":
                    faults.truncate_every = int(value)
                elif name == "retry-after":
                    faults.retry_after = int(value)
                else:
                    raise ValueError(name)
            except ValueError:
                raise ValueError(f"cannot read fault {item!r}; write them as {cls.SPEC}") from None
        return faults

    @property
    def active(self) -> bool:
        return any(
            getattr(self, f.name) for f in fields(self) if f.name.endswith(("_every", "_ms"))
        )


class FaultInjector:
    """ASGI middleware that applies `Faults` to the app it wraps, counting every request."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults
        self.requests = 0
        self.injected = 0  # faulty answers given, so a test can see the faults really happened
        self._burst_left = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.requests += 1
        n, f = self.requests, self.faults
        if f.slow_ms:
            await asyncio.sleep(f.slow_ms / 1000)
        if f.error_burst_every and n % f.error_burst_every == 0:
            self._burst_left = f.error_burst_length
        if self._burst_left:
            self._burst_left -= 1
            self.injected += 1
            await _plain(send, 503, b'{"detail": "Service Unavailable"}')
            return
        if f.rate_limit_every and n % f.rate_limit_every == 0:
            self.injected += 1
            headers = {"retry-after": str(f.retry_after), **f.rate_limit_headers}
            await _plain(send, 429, b'{"detail": "Too Many Requests"}', headers)
            return
        if f.drop_every and n % f.drop_every == 0:
            self.injected += 1
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"4096")],
                }
            )
            # Raising after the response started makes uvicorn close the connection at once.
            raise ConnectionAbortedError("fault injection: dropped connection")
        if f.truncate_every and n % f.truncate_every == 0:
            self.injected += 1
            await self.app(scope, receive, _truncating(send))
            return
        await self.app(scope, receive, send)


async def _plain(
    send: Send, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _truncating(send: Send) -> Send:
    """Buffer the response, then send the first half of its body with a matching length."""
    start: Message = {}
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(chunks)
        cut = body[: max(1, len(body) // 2)] if len(body) > 2 else body
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(cut)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": cut})

    return wrapped


class FakeServer:
    """Serve an ASGI app on 127.0.0.1 in a background thread; `url` is where it listens."""

    def __init__(
        self, app: ASGIApp, *, faults: Faults | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.injector = FaultInjector(app, faults or Faults())
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # asyncio sets TCP_NODELAY only on sockets it creates; without it Nagle's algorithm and
        # delayed ACKs add ~40 ms to every small answer.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(
            self.injector,
            log_level="critical",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def faults(self) -> Faults:
        return self.injector.faults

    @property
    def requests(self) -> int:
        """Requests received so far, faulty answers included."""
        return self.injector.requests

    def start(self) -> FakeServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"fake server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
