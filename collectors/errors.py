"""Errors raised by collectors.

SourceError                 anything a collector raises on purpose; names the source
├── NotConfigured           credentials or URL missing: the source is skipped, with what to set
├── AuthenticationFailed    401/403 from the source: the token is wrong or lacks a scope
├── RequestFailed           a request still failing after every retry (or a 4xx not worth one)
└── BadPayload              the source answered with something we cannot read
"""

from __future__ import annotations


class SourceError(Exception):
    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"{source}: {message}")


class NotConfigured(SourceError):
    pass


class AuthenticationFailed(SourceError):
    pass


class RequestFailed(SourceError):
    def __init__(self, source: str, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(source, message)


class BadPayload(SourceError):
    pass
