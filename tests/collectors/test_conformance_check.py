"""The conformance check itself must be able to fail: Prism flags a deliberately broken answer.

Without this, a Prism that validated nothing (a spec it cannot compile, a path it does not know)
would let every fake pass. The per-source conformance tests live beside each source's tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from collectors.fakes import FakeServer
from tests.collectors.prism import SPECS, prism_proxy

BROKEN: list[tuple[str, str, Any]] = [
    # (spec, path, a body that violates the response schema of that path)
    ("sentry.json", "/api/0/organizations/acme/projects/", [{"slug": 5}]),
    ("jira-platform.json", "/rest/api/3/field", [{"id": 5, "name": None}]),
    ("jira-agile.json", "/rest/agile/1.0/board", {"values": "not a list", "isLast": "yes"}),
    ("github.json", "/repos/acme/shop/pulls", [{"id": "not-a-number"}]),
]


def _serving(path: str, body: Any) -> Starlette:
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse(body)

    return Starlette(routes=[Route(path, endpoint)])


@pytest.mark.parametrize(("spec", "path", "body"), BROKEN, ids=[b[0] for b in BROKEN])
def test_prism_flags_a_response_that_breaks_the_schema(
    spec: str, path: str, body: Any, tmp_path: Path
) -> None:
    assert (SPECS / spec).exists(), f"the spec {spec} is missing from ../shared/specs/openapi"
    auth = httpx.BasicAuth("bot@acme.example", "token") if "jira" in spec else None
    headers = (
        {"Accept": "application/json", "Authorization": "Bearer token"}
        if auth is None
        else {"Accept": "application/json"}
    )
    log = tmp_path / "prism.log"
    with FakeServer(_serving(path, body)) as fake, prism_proxy(spec, fake.url, log) as url:
        response = httpx.get(url + path, headers=headers, auth=auth, timeout=30)
    assert response.status_code == 500, (response.status_code, response.text[:500])
    problem = response.json()
    assert problem["type"].endswith("#VIOLATIONS"), problem
    assert any(v["location"][0] == "response" for v in problem["validation"]), problem
