"""The fake GitHub over real HTTP: auth, errors, pagination, ETags, rate limits, spec shapes."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collectors.fakes import FakeServer, Faults
from collectors.github.fake import SANDBOX_TOKEN, create_app, fake_state, sandbox_env
from collectors.http import parse_link_header
from collectors.sandbox.generator import generate
from collectors.sandbox.world import World

NOW = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "openapi" / "github.json"
AUTH = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}


def serve(app: Any, faults: Faults | None = None) -> FakeServer:
    return FakeServer(app, faults=faults)


@pytest.fixture(scope="module")
def world() -> World:
    return generate("small", seed=7, now=NOW)


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[FakeServer]:
    with serve(create_app(world)) as server:
        yield server


@pytest.fixture
def client(server: FakeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=AUTH) as client:
        yield client


# ---------------------------------------------------------------- a small OpenAPI 3.0 checker


class SpecChecker:
    """Checks a body against a response schema: required, types, nullable, enums, formats and
    the combinators. Enough to catch a missing or mistyped field, which is what Prism flags."""

    DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def response(self, path: str, status: str = "200") -> dict[str, Any]:
        answer = self.resolve(self.spec["paths"][path]["get"]["responses"][status])
        return dict(answer["content"]["application/json"]["schema"])

    def errors(self, schema: dict[str, Any], value: Any, where: str = "$") -> list[str]:  # noqa: PLR0911
        schema = self.resolve(schema)
        if value is None and schema.get("nullable"):
            return []
        if "allOf" in schema:
            return [e for s in schema["allOf"] for e in self.errors(s, value, where)]
        if "anyOf" in schema:
            results = [self.errors(s, value, where) for s in schema["anyOf"]]
            return [] if any(not r for r in results) else [f"{where}: no anyOf matches"]
        if "oneOf" in schema:
            passing = sum(1 for s in schema["oneOf"] if not self.errors(s, value, where))
            return [] if passing == 1 else [f"{where}: {passing} oneOf branches match"]
        kind = schema.get("type")
        checks = {
            "null": lambda v: v is None,
            "object": lambda v: isinstance(v, dict),
            "array": lambda v: isinstance(v, list),
            "string": lambda v: isinstance(v, str),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "boolean": lambda v: isinstance(v, bool),
        }
        if kind in checks and not checks[kind](value):
            return [f"{where}: expected {kind}, got {value!r:.60}"]
        if "enum" in schema and value not in schema["enum"]:
            return [f"{where}: {value!r} not in {schema['enum']}"]
        if kind == "string" and schema.get("format") == "date-time":
            return [] if self.DATE_TIME.match(value) else [f"{where}: bad date-time {value!r}"]
        if kind == "string" and schema.get("format") == "uri" and ":" not in value:
            return [f"{where}: bad uri {value!r}"]
        if kind == "array":
            items = schema.get("items", {})
            return [e for i, v in enumerate(value) for e in self.errors(items, v, f"{where}[{i}]")]
        if kind == "object" or "properties" in schema:
            return self._object_errors(schema, value, where)
        return []

    def _object_errors(self, schema: dict[str, Any], value: Any, where: str) -> list[str]:
        found = [f"{where}.{k}: missing" for k in schema.get("required", []) if k not in value]
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                found += self.errors(properties[key], item, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{where}.{key}: not allowed")
        return found


@pytest.fixture(scope="module")
def checker() -> SpecChecker:
    if not SPEC.exists():
        pytest.skip(f"{SPEC} is not here")
    return SpecChecker(json.loads(SPEC.read_text()))


def test_the_checker_flags_a_broken_payload(checker: SpecChecker, client: httpx.Client) -> None:
    schema = checker.response("/repos/{owner}/{repo}/pulls/{pull_number}")
    body = client.get("/repos/acme/payments/pulls/1").json()
    assert checker.errors(schema, body) == []
    broken = {**body, "additions": "12", "user": {"login": "ada"}}
    del broken["_links"]
    problems = checker.errors(schema, broken)
    assert any(p.startswith("$._links") for p in problems)
    assert any(p.startswith("$.additions") for p in problems)
    assert any(p.startswith("$.user.id") for p in problems)


def test_every_endpoint_answers_in_the_shape_of_the_spec(
    checker: SpecChecker, client: httpx.Client, world: World
) -> None:
    payments = world.repos["acme/payments"]
    merged = next(p for p in payments.pulls if p.merged_at)
    still_open = next(p for p in payments.pulls if not p.closed_at)
    unmerged = next(p for p in payments.pulls if p.closed_at and not p.merged_at)
    deployment = payments.deployments[0]
    cases = {
        "/rate_limit": "/rate_limit",
        "/repos/{owner}/{repo}": "/repos/acme/payments",
        "/repos/{owner}/{repo}/pulls": "/repos/acme/payments/pulls?state=all&per_page=100",
        "/repos/{owner}/{repo}/pulls/{pull_number}": [
            f"/repos/acme/payments/pulls/{p.number}" for p in (merged, still_open, unmerged)
        ],
        "/repos/{owner}/{repo}/pulls/{pull_number}/reviews": (
            f"/repos/acme/payments/pulls/{merged.number}/reviews"
        ),
        "/repos/{owner}/{repo}/pulls/{pull_number}/commits": (
            f"/repos/acme/payments/pulls/{merged.number}/commits"
        ),
        "/repos/{owner}/{repo}/deployments": "/repos/acme/payments/deployments?per_page=100",
        "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses": (
            f"/repos/acme/payments/deployments/{deployment.id}/statuses"
        ),
        "/repos/{owner}/{repo}/actions/runs": "/repos/acme/admin-console/actions/runs",
        "/repos/{owner}/{repo}/releases": "/repos/acme/fraud-scoring/releases",
    }
    for template, urls in cases.items():
        for url in [urls] if isinstance(urls, str) else urls:
            response = client.get(url)
            assert response.status_code == 200, url
            body = response.json()
            assert body, f"{url} rendered nothing to check"
            assert checker.errors(checker.response(template), body) == [], url


# ---------------------------------------------------------------- auth and errors


def test_both_auth_schemes_work_and_anything_else_is_401(server: FakeServer) -> None:
    for header in (f"Bearer {SANDBOX_TOKEN}", f"token {SANDBOX_TOKEN}"):
        assert httpx.get(f"{server.url}/repos/acme/payments", headers={"Authorization": header})
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": SANDBOX_TOKEN}):
        response = httpx.get(f"{server.url}/repos/acme/payments", headers=headers)
        assert response.status_code == 401
        assert response.json()["message"] == "Bad credentials"
        assert "documentation_url" in response.json()
        assert "x-ratelimit-limit" in response.headers


def test_unknown_things_are_404_and_bad_parameters_422(client: httpx.Client) -> None:
    for url in (
        "/repos/acme/nope",
        "/repos/acme/nope/pulls",
        "/repos/acme/payments/pulls/99999",
        "/repos/acme/payments/deployments/1/statuses",
        "/not/an/endpoint",
    ):
        response = client.get(url)
        assert (response.status_code, response.json()["message"]) == (404, "Not Found"), url
    assert client.get("/repos/acme/payments/pulls?state=merged").status_code == 422
    assert client.get("/repos/acme/payments/pulls?sort=size").status_code == 422


def test_sandbox_env_points_a_collector_at_the_fake() -> None:
    assert sandbox_env("http://127.0.0.1:1234") == {
        "GITHUB_API_URL": "http://127.0.0.1:1234",
        "GITHUB_TOKEN": SANDBOX_TOKEN,
    }


# ---------------------------------------------------------------- lists


def test_pagination_follows_link_headers_to_every_item(client: httpx.Client, world: World) -> None:
    pulls = world.repos["acme/payments"].pulls
    url: str | None = "/repos/acme/payments/pulls?state=all&per_page=25"
    seen: list[int] = []
    pages = 0
    while url:
        response = client.get(url)
        links = parse_link_header(response.headers.get("link"))
        if pages:
            assert {"first", "prev"} <= set(links)
        seen += [p["number"] for p in response.json()]
        url = links.get("next", {}).get("url")
        pages += 1
        if url:
            assert links["last"]["url"].endswith(f"page={-(-len(pulls) // 25)}&per_page=25")
    assert pages == -(-len(pulls) // 25)
    assert sorted(seen) == sorted(p.number for p in pulls)  # each exactly once

    single = client.get("/repos/acme/fraud-scoring/releases")  # fits on one page
    assert "link" not in single.headers
    big = client.get("/repos/acme/payments/pulls?state=all&per_page=500").json()
    assert len(big) == min(100, len(pulls)) > 30  # per_page is capped at 100, not ignored


def test_pull_lists_sort_filter_and_leave_out_the_size_fields(
    client: httpx.Client, world: World
) -> None:
    pulls = world.repos["acme/payments"].pulls
    default = client.get("/repos/acme/payments/pulls?per_page=100").json()
    assert {p["state"] for p in default} == {"open"}  # state defaults to open
    assert len(default) == sum(1 for p in pulls if not p.closed_at)
    by_update = client.get(
        "/repos/acme/payments/pulls?state=all&sort=updated&direction=desc&per_page=100"
    ).json()
    stamps = [p["updated_at"] for p in by_update]
    assert stamps == sorted(stamps, reverse=True)
    ascending = client.get("/repos/acme/payments/pulls?state=all&sort=updated&per_page=100")
    assert [p["number"] for p in ascending.json()] == [p["number"] for p in by_update][::-1]
    assert "additions" not in by_update[0] and "merged" not in by_update[0]
    single = client.get(f"/repos/acme/payments/pulls/{by_update[0]['number']}").json()
    pr = next(p for p in pulls if p.number == single["number"])
    assert (single["additions"], single["deletions"], single["commits"]) == (
        pr.additions,
        pr.deletions,
        len(pr.commits),
    )
    assert single["merged"] is (pr.merged_at is not None)


def test_deployments_are_newest_first_with_their_statuses(
    client: httpx.Client, world: World
) -> None:
    repo = world.repos["acme/payments"]
    listed = client.get("/repos/acme/payments/deployments?per_page=100").json()
    assert [d["id"] for d in listed] == [
        d.id for d in sorted(repo.deployments, key=lambda d: (d.created_at, d.id), reverse=True)
    ]
    production = client.get("/repos/acme/payments/deployments?environment=production").json()
    assert production and {d["environment"] for d in production} == {"production"}
    superseded = next(d for d in repo.deployments if d.statuses[-1].state == "inactive")
    statuses = client.get(f"/repos/acme/payments/deployments/{superseded.id}/statuses").json()
    assert statuses[0]["state"] == "inactive"  # newest first
    assert [s["state"] for s in statuses[1:]] == ["success", "in_progress", "queued"]
    rendered = next(d for d in listed if d["id"] == superseded.id)
    assert rendered["updated_at"] == statuses[0]["created_at"]


def test_workflow_runs_come_in_an_envelope(client: httpx.Client, world: World) -> None:
    runs = world.repos["acme/admin-console"].workflow_runs
    body = client.get("/repos/acme/admin-console/actions/runs?per_page=5").json()
    assert body["total_count"] == len(runs)
    assert len(body["workflow_runs"]) == 5
    done = client.get("/repos/acme/admin-console/actions/runs?status=failure&per_page=100")
    assert all(r["conclusion"] == "failure" for r in done.json()["workflow_runs"])


# ---------------------------------------------------------------- ETags and rate limits


def test_a_matching_etag_is_a_free_304(world: World) -> None:
    with (
        serve(create_app(world)) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as client,
    ):
        first = client.get("/repos/acme/payments/pulls?state=all")
        etag = first.headers["etag"]
        assert etag.startswith('W/"')
        again = client.get("/repos/acme/payments/pulls?state=all", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["x-ratelimit-used"] == first.headers["x-ratelimit-used"] == "1"
        other = client.get("/repos/acme/payments/pulls?state=all&page=2")
        assert other.headers["etag"] != etag


def test_the_etag_changes_when_an_item_changes(world: World) -> None:
    app = create_app(world)
    with serve(app) as server, httpx.Client(base_url=server.url, headers=AUTH) as client:
        url = "/repos/acme/payments/pulls?state=all&sort=updated&direction=desc"
        etag = client.get(url).headers["etag"]
        pr = world.repos["acme/payments"].pulls[0]
        fake_state(app).update_pull("acme/payments", pr.number, title="New", updated_at=NOW)
        changed = client.get(url, headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.json()[0]["title"] == "New"
    assert pr.title != "New"  # the world the app was built from is left alone


def test_rate_limit_headers_count_down_and_a_spent_quota_is_403(world: World) -> None:
    with (
        serve(create_app(world, rate_limit=3)) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as client,
    ):
        answers = [client.get("/repos/acme/payments") for _ in range(4)]
        status = client.get("/rate_limit").json()
    assert [a.status_code for a in answers] == [200, 200, 200, 403]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[3].json()["message"].startswith("API rate limit exceeded")
    for answer in answers:
        assert answer.headers["x-ratelimit-limit"] == "3"
        assert answer.headers["x-ratelimit-resource"] == "core"
        assert int(answer.headers["x-ratelimit-reset"]) > NOW.timestamp()
    assert status["resources"]["core"]["used"] == 3  # /rate_limit itself is free
    assert status["rate"]["remaining"] == 0


def test_faults_reach_the_client_as_429_with_retry_after(world: World) -> None:
    faults = Faults(rate_limit_every=2, retry_after=0)
    with (
        serve(create_app(world), faults=faults) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as client,
    ):
        statuses = [client.get("/repos/acme/payments").status_code for _ in range(4)]
        limited = client.get("/repos/acme/payments")
        limited = client.get("/repos/acme/payments") if limited.status_code == 200 else limited
    assert statuses == [200, 429, 200, 429]
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "0"
