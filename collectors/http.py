"""One HTTP client policy for every source: retries, backoff, and respect for rate limits.

What counts as transient and is retried:
- 429, and GitHub's secondary limit (403 with ``retry-after`` or ``x-ratelimit-remaining: 0``);
- 500, 502, 503, 504;
- a dropped connection, a timeout, or a body cut short (invalid JSON where JSON was promised).

How long to wait: ``Retry-After`` (seconds or an HTTP date) when given; else the source's reset
header (GitHub ``x-ratelimit-reset``, Sentry ``X-Sentry-Rate-Limit-Reset``, both epoch seconds);
else exponential backoff with full jitter. A wait longer than `RetryPolicy.max_wait` is not
sat through: the request fails with a message saying when to try again.

401 and a plain 403 are not retried: they raise `AuthenticationFailed` with the source's hint
(which variables to set). Every attempt counts in `SourceClient.requests` and in the current
`tallying` tally, which is how the runner records each scope's requests.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx

from collectors.errors import AuthenticationFailed, RequestFailed
from collectors.transport import transport_for

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_TRANSIENT_ERRORS = (httpx.TransportError,)  # connect/read errors, timeouts, protocol errors


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    backoff: float = 0.5  # seconds before the first retry, doubled each time (with jitter)
    max_backoff: float = 30.0
    max_wait: float = 900.0  # the longest rate-limit wait we sit through

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RetryPolicy:
        """`SITREP_HTTP_ATTEMPTS` and `SITREP_HTTP_BACKOFF` (seconds) tune the defaults."""
        defaults = cls()
        try:
            return cls(
                attempts=int(env.get("SITREP_HTTP_ATTEMPTS", defaults.attempts)),
                backoff=float(env.get("SITREP_HTTP_BACKOFF", defaults.backoff)),
            )
        except ValueError:
            raise ValueError(
                "SITREP_HTTP_ATTEMPTS must be a whole number and SITREP_HTTP_BACKOFF seconds"
            ) from None


class RequestTally:
    """How many requests were made while this tally was current (see `tallying`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    def add(self) -> None:
        with self._lock:
            self._count += 1


_TALLY: ContextVar[RequestTally | None] = ContextVar("sitrep_request_tally", default=None)


@contextmanager
def tallying() -> Iterator[RequestTally]:
    """Count every `SourceClient` request made in this context, whichever client makes it.

    The runner syncs several scopes of one source at once, so the client's total no longer
    says which scope made a request; a tally per scope does. Helper threads count towards it
    when they run in a copy of the scope's context (`contextvars.copy_context().run`).
    """
    tally = RequestTally()
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


class _Transient(Exception):
    def __init__(self, reason: str, wait: float | None) -> None:
        self.reason = reason
        self.wait = wait
        super().__init__(reason)


class SourceClient:
    """Sends requests with the retry policy and counts them.

    Requests go straight to an httpx transport (`collectors.transport.transport_for` unless one
    is given, e.g. `httpx.MockTransport`), not through `httpx.Client`, whose per-request work
    (URL and header merging, a cookie jar, auth and redirect flows) buys a sync nothing: with
    httpx's own transport it was a third of the sync's CPU. What the client did that we need is
    done here: the base URL, default headers, Basic auth, the timeout and the request log line.
    """

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        auth_hint: str = "check the token",
        policy: RetryPolicy | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.source = source
        self.auth_hint = auth_hint
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._requests = 0
        # Like httpx.Client: relative URLs are joined onto the base URL with one slash.
        self._base_url = base_url.rstrip("/") + "/"
        self._headers = httpx.Headers(
            {
                "Accept": "*/*",
                "Accept-Encoding": "gzip, deflate",
                "Connection": "keep-alive",
                "User-Agent": f"python-httpx/{httpx.__version__}",
            }
        )
        self._headers.update(headers or {})
        if auth is not None:
            self._headers["Authorization"] = _basic_auth(*auth)
        self._extensions = {"timeout": httpx.Timeout(timeout).as_dict()}
        self._transport = transport or transport_for(self._base_url, timeout=timeout)

    @property
    def requests(self) -> int:
        return self._requests

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> SourceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ requests

    def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Any, httpx.Response]:
        """GET and parse JSON; a 304 returns ``(None, response)``."""
        response, data = self._send("GET", url, params, headers, None, expect_json=True)
        return data, response

    def post_json(self, url: str, body: Any) -> tuple[Any, httpx.Response]:
        response, data = self._send("POST", url, None, None, body, expect_json=True)
        return data, response

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        expect_json: bool = False,
    ) -> httpx.Response:
        return self._send(method, url, params, headers, json_body, expect_json=expect_json)[0]

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        json_body: Any,
        *,
        expect_json: bool,
    ) -> tuple[httpx.Response, Any]:
        """The retry loop; parses a JSON body once (it is also how a cut body is detected)."""
        last: _Transient | None = None
        for attempt in range(self.policy.attempts):
            if last is not None:
                self._wait(attempt, last)
            with self._lock:
                self._requests += 1
            tally = _TALLY.get()
            if tally is not None:
                tally.add()
            try:
                response = self._fetch(method, url, params, headers, json_body)
                data = self._check(response, expect_json)
            except _Transient as exc:
                last = exc
                log.info("%s %s %s: %s (attempt %d)", self.source, method, url, exc, attempt + 1)
                continue
            except _TRANSIENT_ERRORS as exc:
                last = _Transient(f"{type(exc).__name__}: {exc}", None)
                log.info("%s %s %s: %s (attempt %d)", self.source, method, url, exc, attempt + 1)
                continue
            self._throttle(response)
            return response, data
        assert last is not None
        raise RequestFailed(
            self.source,
            f"{method} {url} still failing after {self.policy.attempts} attempts ({last.reason}).",
        )

    def _fetch(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        json_body: Any,
    ) -> httpx.Response:
        """One attempt: the request built as httpx.Client would, sent, its body read."""
        if not url.startswith(("http://", "https://")):
            url = self._base_url + url.lstrip("/")
        merged = self._headers
        if headers:
            merged = self._headers.copy()
            merged.update(headers)
        request = httpx.Request(
            method, url, params=params, headers=merged, json=json_body, extensions=self._extensions
        )
        response = self._transport.handle_request(request)
        response.request = request
        try:
            response.read()
        finally:
            response.close()
        if log.isEnabledFor(logging.INFO):  # the line httpx.Client logged (`sitrep -v`)
            log.info(
                'HTTP Request: %s %s "%s %d %s"',
                method,
                request.url,
                response.http_version,
                response.status_code,
                response.reason_phrase,
            )
        return response

    def _check(self, response: httpx.Response, expect_json: bool) -> Any:
        """Raise for statuses we do not return; return the parsed body when JSON is expected."""
        status = response.status_code
        if status == 401:
            raise AuthenticationFailed(
                self.source, f"the credentials were refused (401); {self.auth_hint}."
            )
        if status == 403:
            wait = _rate_limit_wait(response)
            if wait is not None:
                raise _Transient("rate limited (403)", wait)
            raise AuthenticationFailed(
                self.source,
                f"access denied (403) to {response.request.url.path}; {self.auth_hint}.",
            )
        if status in RETRY_STATUSES:
            raise _Transient(f"HTTP {status}", _rate_limit_wait(response))
        if status >= 400:
            raise RequestFailed(
                self.source,
                f"{response.request.method} {response.request.url.path} answered {status}: "
                f"{response.text[:300]}",
                status,
            )
        if not expect_json or status == 304 or not response.content:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            # A body cut short on the way: fetch it again.
            raise _Transient(f"unreadable JSON body ({exc})", None) from exc

    def _wait(self, attempt: int, last: _Transient) -> None:
        if last.wait is not None:
            if last.wait > self.policy.max_wait:
                raise RequestFailed(
                    self.source,
                    f"rate limited for another {last.wait:.0f}s (longer than we wait); "
                    "the next sync will carry on from its checkpoint.",
                )
            delay = last.wait
        else:
            ceiling = min(self.policy.max_backoff, self.policy.backoff * 2 ** (attempt - 1))
            delay = random.uniform(0, ceiling)
        if delay > 0:
            self._sleep(delay)

    def _throttle(self, response: httpx.Response) -> None:
        """Out of quota after a success: wait for the reset instead of hitting a 403/429 next."""
        headers = response.headers
        wait = None
        if headers.get("x-ratelimit-remaining") == "0":  # GitHub
            wait = _reset_wait(headers.get("x-ratelimit-reset"))
        elif headers.get("x-sentry-rate-limit-remaining") == "0":
            wait = _reset_wait(headers.get("x-sentry-rate-limit-reset"))
        if wait and wait <= self.policy.max_wait:
            log.info("%s: rate-limit quota used up; waiting %.0fs for the reset", self.source, wait)
            self._sleep(wait)


def _basic_auth(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _rate_limit_wait(response: httpx.Response) -> float | None:
    headers = response.headers
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        return _parse_retry_after(retry_after)
    if headers.get("x-ratelimit-remaining") == "0":
        return _reset_wait(headers.get("x-ratelimit-reset"))
    if response.status_code == 429:
        return _reset_wait(headers.get("x-sentry-rate-limit-reset"))
    return None


def _parse_retry_after(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _reset_wait(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        reset = float(value)
    except ValueError:
        return None
    return max(0.0, reset - time.time())


def parse_link_header(value: str | None) -> dict[str, dict[str, str]]:
    """``Link`` header -> ``{rel: {"url": ..., other params...}}`` (GitHub and Sentry style)."""
    links: dict[str, dict[str, str]] = {}
    if not value:
        return links
    for part in value.split(","):
        if ";" not in part:
            continue
        url, *params = part.split(";")
        entry = {"url": url.strip().strip("<>")}
        for param in params:
            if "=" in param:
                key, _, val = param.strip().partition("=")
                entry[key.strip()] = val.strip().strip('"')
        if "rel" in entry:
            links[entry["rel"]] = entry
    return links
