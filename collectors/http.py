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
(which variables to set). Every attempt counts in `SourceClient.requests`, which the run records.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from collectors.errors import AuthenticationFailed, RequestFailed

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


class _Transient(Exception):
    def __init__(self, reason: str, wait: float | None) -> None:
        self.reason = reason
        self.wait = wait
        super().__init__(reason)


class SourceClient:
    """A thin layer over `httpx.Client` that applies the retry policy and counts requests."""

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
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
        self._client = httpx.Client(
            base_url=base_url,
            headers=dict(headers or {}),
            auth=auth,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )

    @property
    def requests(self) -> int:
        return self._requests

    def close(self) -> None:
        self._client.close()

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
            try:
                response = self._client.request(
                    method, url, params=params, headers=headers, json=json_body
                )
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
