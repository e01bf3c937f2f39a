"""The HTTP/1.1 transport collectors send requests through: `http.client` on kept-alive sockets.

Why not httpx's default transport (httpcore + h11): a sync is mostly small requests (GitHub needs
three per pull request), and per request httpx's client and transport cost about twice the CPU of
`http.client` with the same connection reuse; the sync process is bound by that CPU (see
bench/sync.py). The types stay httpx's (`httpx.Request` in, `httpx.Response` out, failures as
`httpx.TransportError`), so `collectors.http` keeps one retry policy, responses are decoded
(gzip, deflate) by httpx as before, and `httpx.MockTransport` stays the seam for tests.

Connections are kept alive per origin and reused like httpx does: an idle connection is dropped
after `KEEPALIVE_EXPIRY` seconds or when the server has closed it (the socket reads as ready).
A request that fails is not silently re-sent: the error reaches the retry policy, which counts it.

When the environment names a proxy (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``), `transport_for`
returns a plain `httpx.Client` instead, which honours those variables and ``NO_PROXY`` exactly
as before.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
import urllib.request
from typing import Any

import httpx

KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is kept (httpx's default)
MAX_IDLE = 16  # idle connections kept per origin (httpx's default limits keep 20 overall)

_MAX_LINE = 65536  # http.client's limits on one header line and on their number
_MAX_HEADERS = 100

Origin = tuple[str, str, int]


class KeepAliveTransport(httpx.BaseTransport):
    """HTTP/1.1 over `http.client`, with a small pool of idle connections per origin."""

    def __init__(self, *, timeout: float = 30.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}", request=request)
        origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        timeout = _timeout_of(request, self._timeout)
        conn = self._checkout(origin) or self._connect(origin, timeout, request)
        body = request.read()
        target = url.raw_path.decode("ascii")
        try:
            conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.raw:
                conn.putheader(name, value)
            conn.endheaders(body or None)
        except TimeoutError as exc:
            conn.close()
            raise httpx.WriteTimeout(str(exc) or "write timed out", request=request) from exc
        except OSError as exc:
            conn.close()
            raise httpx.WriteError(str(exc), request=request) from exc
        try:
            response = conn.getresponse()
            content = response.read()
        except TimeoutError as exc:
            conn.close()
            raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
        except http.client.RemoteDisconnected as exc:
            conn.close()
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from exc
        except http.client.HTTPException as exc:  # IncompleteRead, BadStatusLine, ...
            conn.close()
            raise httpx.RemoteProtocolError(
                f"{type(exc).__name__}: {exc}", request=request
            ) from exc
        except OSError as exc:
            conn.close()
            raise httpx.ReadError(str(exc), request=request) from exc
        if response.will_close:
            conn.close()
        else:
            self._checkin(origin, conn)
        assert isinstance(response, _Response)
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=httpx.ByteStream(content),
            extensions={
                "http_version": b"HTTP/1.1" if response.version == 11 else b"HTTP/1.0",
                "reason_phrase": response.reason.encode("latin-1", "replace"),
            },
        )

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for conn, _ in connections:
                conn.close()

    # ------------------------------------------------------------ the pool

    def _checkout(self, origin: Origin) -> http.client.HTTPConnection | None:
        now = time.monotonic()
        while True:
            with self._lock:
                connections = self._idle.get(origin)
                if not connections:
                    return None
                conn, since = connections.pop()
            if now - since < KEEPALIVE_EXPIRY and not _closed_by_server(conn):
                return conn
            conn.close()

    def _checkin(self, origin: Origin, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            connections = self._idle.setdefault(origin, [])
            if len(connections) < MAX_IDLE:
                connections.append((conn, time.monotonic()))
                return
        conn.close()

    def _connect(
        self, origin: Origin, timeout: float, request: httpx.Request
    ) -> http.client.HTTPConnection:
        scheme, host, port = origin
        conn: http.client.HTTPConnection
        if scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context()  # what httpx would use
            conn = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self._ssl_context
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.response_class = _Response
        try:
            conn.connect()  # sets TCP_NODELAY
        except TimeoutError as exc:
            conn.close()
            raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
        except OSError as exc:  # refused, unreachable, DNS, TLS
            conn.close()
            raise httpx.ConnectError(str(exc), request=request) from exc
        return conn


class _Response(http.client.HTTPResponse):
    """`http.client.HTTPResponse` with its header block parsed by `_read_headers` instead of the
    `email` package: for GitHub's ~15 headers the email parser alone cost a quarter of the
    sync's CPU on that source. Status line and body framing (length, chunked) stay the stdlib's.
    """

    raw_headers: list[tuple[bytes, bytes]]

    def begin(self) -> None:
        # `http.client.HTTPResponse.begin` (CPython 3.11-3.13), with the header parser swapped.
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            _read_headers(self.fp)  # the header of the interim 100 response
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.raw_headers = _read_headers(self.fp)
        headers = _Headers(self.raw_headers)
        self.headers = self.msg = headers
        encoding = headers.get("transfer-encoding")
        self.chunked = bool(encoding and encoding.lower() == "chunked")
        if self.chunked:
            self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            if self.length is not None and self.length < 0:
                self.length = None
        method = self._method
        if status in (204, 304) or 100 <= status < 200 or method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True  # the body ends when the server closes the connection


class _Headers:
    """What `http.client.HTTPResponse` asks of its headers: the first value of a name."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._first: dict[bytes, bytes] = {}
        for name, value in raw:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._first.get(name.lower().encode("latin-1"))
        return default if value is None else value.decode("latin-1")


def _read_headers(fp: Any) -> list[tuple[bytes, bytes]]:
    """The header lines up to the blank line, as (name, value) bytes; limits as http.client's."""
    headers: list[tuple[bytes, bytes]] = []
    while True:
        line = fp.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return headers
        if len(headers) >= _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        if line[:1] in (b" ", b"\t") and headers:  # obsolete line folding: a continuation
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip())
            continue
        name, colon, value = line.partition(b":")
        if colon:
            headers.append((name.strip(), value.strip()))


class ClientTransport(httpx.BaseTransport):
    """Requests sent through a whole `httpx.Client` (proxies, as httpx reads them from the env)."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._client.send(request)

    def close(self) -> None:
        self._client.close()


def transport_for(base_url: str, *, timeout: float) -> httpx.BaseTransport:
    """`KeepAliveTransport`, unless the environment names a proxy for ``base_url``'s scheme."""
    scheme = httpx.URL(base_url).scheme
    proxies = urllib.request.getproxies()
    if proxies.get(scheme) or proxies.get("all"):
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        return ClientTransport(httpx.Client(timeout=timeout, limits=limits))
    return KeepAliveTransport(timeout=timeout)


def _timeout_of(request: httpx.Request, default: float) -> float:
    """The read timeout httpx-style callers put in the request's extensions, else ``default``."""
    timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
    value = timeouts.get("read")
    return float(value) if value is not None else default


def _closed_by_server(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive socket that reads as ready has been closed (or spoken to) by the
    server: it cannot carry another request."""
    sock: socket.socket | None = conn.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):  # select() cannot watch descriptors above 1023
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
