"""Request and response helpers the Jira fake's endpoints share."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from collectors.jira.fake_jql import JqlError
from collectors.jira.fake_render import error_body


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def bad_request(*messages: str, **errors: str) -> JSONResponse:
    return JSONResponse(error_body(*messages, **errors), 400)


def not_found(message: str) -> JSONResponse:
    return JSONResponse(error_body(message), 404)


async def json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def int_param(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    return int(value)  # ValueError -> the caller answers 400


def page_token(offset: int, jql: str) -> str:
    """An opaque page token, valid only for the query it was issued for (as Jira's are)."""
    raw = json.dumps({"o": offset, "q": zlib.crc32(jql.encode())}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_offset(token: str | None, jql: str) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["q"] != zlib.crc32(jql.encode()):
            raise ValueError("another query")
        return int(data["o"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise JqlError("The provided next page token is invalid or expired.") from exc
