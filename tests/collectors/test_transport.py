"""`collectors.transport` against a raw socket server: framing, decoding, reuse and failures.

The fakes answer every request alike (uvicorn, Content-Length, no compression); real APIs send
chunked and gzipped bodies, close idle connections and drop them mid-body. A scripted server
makes each of those happen on purpose.
"""

from __future__ import annotations

import contextvars
import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from collectors.http import SourceClient, tallying
from collectors.transport import ClientTransport, KeepAliveTransport, transport_for

Answer = Callable[[bytes], bytes | None]  # request head -> raw response (None: close at once)


class ScriptedServer:
    """Serves each connection in a thread; ``answer`` turns a request head into raw bytes."""

    def __init__(self, answer: Answer, *, close_after: int = 0) -> None:
        self.answer = answer
        self.close_after = close_after  # close a connection after this many answers (0: never)
        self.connections = 0
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        answered = 0
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                self.requests.append(head)
                response = self.answer(head)
                if response is None:
                    return
                conn.sendall(response)
                answered += 1
                if self.close_after and answered >= self.close_after:
                    return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(answer: Answer, **kw: int) -> ScriptedServer:
        servers.append(ScriptedServer(answer, **kw))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def ok(body: bytes, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def get(transport: httpx.BaseTransport, url: str) -> httpx.Response:
    request = httpx.Request("GET", url, headers={"Accept": "application/json"})
    response = transport.handle_request(request)
    response.read()
    return response


def test_a_chunked_gzipped_body_is_joined_and_decoded(serve: Callable[..., ScriptedServer]) -> None:
    body = gzip.compress(json.dumps({"items": list(range(50))}).encode())
    chunks = [body[:10], body[10:]]
    framed = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks) + b"0\r\n\r\n"
    head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
    server = serve(lambda _: head.encode() + framed)
    transport = KeepAliveTransport()
    try:
        response = get(transport, server.url + "/x")
    finally:
        transport.close()
    assert response.json() == {"items": list(range(50))}
    assert response.headers["content-encoding"] == "gzip"


def test_headers_come_back_raw_and_repeated_ones_are_kept(
    serve: Callable[..., ScriptedServer],
) -> None:
    server = serve(
        lambda _: ok(b"{}", "Link: <a>; rel=next", "X-Name: Ren\xe9e", "Vary: A", "Vary: B")
    )
    transport = KeepAliveTransport()
    try:
        response = get(transport, server.url)
    finally:
        transport.close()
    assert response.headers["link"] == "<a>; rel=next"
    assert response.headers.get_list("vary") == ["A", "B"]
    assert (b"X-Name", "Ren\xe9e".encode()) in response.headers.raw  # the bytes as sent


def test_requests_reuse_one_kept_alive_connection(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(lambda _: ok(b"[]"))
    transport = KeepAliveTransport()
    try:
        for _ in range(5):
            assert get(transport, server.url + "/list").json() == []
    finally:
        transport.close()
    assert server.connections == 1
    assert all(
        head.startswith(b"GET /list HTTP/1.1\r\nHost: 127.0.0.1:") for head in server.requests
    )


def test_a_connection_the_server_closed_while_idle_is_not_reused(
    serve: Callable[..., ScriptedServer],
) -> None:
    server = serve(lambda _: ok(b"[]"), close_after=1)
    transport = KeepAliveTransport()
    try:
        assert get(transport, server.url).json() == []
        time.sleep(0.05)  # the server's FIN arrives
        assert get(transport, server.url).json() == []
    finally:
        transport.close()
    assert server.connections == 2


def test_connection_close_is_honoured(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(lambda _: ok(b"[]", "Connection: close"))
    transport = KeepAliveTransport()
    try:
        get(transport, server.url)
        get(transport, server.url)
    finally:
        transport.close()
    assert server.connections == 2


def test_a_body_cut_short_is_a_protocol_error(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(
        lambda _: b'HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n{"a": ', close_after=1
    )
    transport = KeepAliveTransport()
    with pytest.raises(httpx.RemoteProtocolError):
        get(transport, server.url)
    transport.close()


def test_no_answer_at_all_is_a_protocol_error(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(lambda _: None)
    transport = KeepAliveTransport()
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        get(transport, server.url)
    transport.close()


def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        get(KeepAliveTransport(), f"http://127.0.0.1:{port}/")


def test_a_silent_server_times_out(serve: Callable[..., ScriptedServer]) -> None:
    def stall(_: bytes) -> bytes:
        time.sleep(1)
        return ok(b"{}")

    server = serve(stall)
    with pytest.raises(httpx.ReadTimeout):
        get(KeepAliveTransport(timeout=0.2), server.url)


def test_an_environment_proxy_hands_requests_to_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    transport = transport_for("https://api.github.com", timeout=5)
    assert isinstance(transport, ClientTransport)
    transport.close()
    assert isinstance(transport_for("http://127.0.0.1:9", timeout=5), KeepAliveTransport)


# ---------------------------------------------------------------- SourceClient over a transport


def test_the_client_builds_requests_as_httpx_client_did() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    client = SourceClient(
        "jira",
        "https://acme.example/jira/",
        headers={"Accept": "application/json"},
        auth=("bot@acme.example", "s3cret"),
        transport=httpx.MockTransport(answer),
    )
    body, response = client.get_json("/rest/api/3/search", params={"jql": "a = b", "n": [1, 2]})
    client.post_json("rest/api/3/bulk", {"ids": [1]})
    client.get_json("https://other.example/next?page=2", headers={"If-None-Match": '"e"'})
    client.close()

    assert body == {"ok": True}
    assert response.request is seen[0]
    first, second, third = seen
    assert str(first.url) == "https://acme.example/jira/rest/api/3/search?jql=a+%3D+b&n=1&n=2"
    assert first.headers["accept"] == "application/json"
    assert first.headers["authorization"] == "Basic Ym90QGFjbWUuZXhhbXBsZTpzM2NyZXQ="
    assert first.headers["accept-encoding"] == "gzip, deflate"
    assert (second.method, str(second.url)) == ("POST", "https://acme.example/jira/rest/api/3/bulk")
    assert json.loads(second.content) == {"ids": [1]}
    assert str(third.url) == "https://other.example/next?page=2"
    assert third.headers["if-none-match"] == '"e"'
    assert first.extensions["timeout"]["read"] == 30.0


def test_requests_count_towards_the_tally_of_their_context() -> None:
    client = SourceClient(
        "x", "http://x", transport=httpx.MockTransport(lambda r: httpx.Response(200))
    )
    client.request("GET", "/outside")
    with tallying() as tally:
        client.request("GET", "/a")
        helper = threading.Thread(target=client.request, args=("GET", "/b"))
        helper.start()  # a thread without the scope's context does not count
        helper.join()
        carried = threading.Thread(
            target=contextvars.copy_context().run, args=(client.request, "GET", "/c")
        )
        carried.start()
        carried.join()
    assert tally.count == 2
    assert client.requests == 4
