"""The Sentry fake answers as sentry.io does: auth, pagination, search, stats, limits, errors."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from collectors.fakes import FakeServer, Faults
from collectors.http import RetryPolicy, parse_link_header
from collectors.sandbox.generator import generate
from collectors.sandbox.world import World
from collectors.sentry.client import SentryClient
from collectors.sentry.fake import SENTRY_ORG, SENTRY_TOKEN, create_app, sandbox_env, state_of
from collectors.sentry.sync import SentryCollector

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
AUTH = {"Authorization": f"Bearer {SENTRY_TOKEN}"}
ISSUES = "/api/0/projects/acme/checkout-web/issues/"
CURSOR = re.compile(r"^-?\d+:\d+:[01]$")
RATE_HEADERS = (
    "x-sentry-rate-limit-limit",
    "x-sentry-rate-limit-remaining",
    "x-sentry-rate-limit-reset",
    "x-sentry-rate-limit-concurrentlimit",
    "x-sentry-rate-limit-concurrentremaining",
)


@pytest.fixture(scope="module")
def world() -> World:
    return generate("small", seed=7, now=NOW)


@pytest.fixture
def app(world: World) -> Starlette:
    return create_app(world)


@pytest.fixture
def http(app: Starlette) -> Iterator[httpx.Client]:
    with FakeServer(app) as server, httpx.Client(base_url=server.url, headers=AUTH) as client:
        yield client


def walk(http: httpx.Client, path: str, params: dict[str, Any] | None) -> list[httpx.Response]:
    """Every page, following the ``next`` link while it says there are results."""
    responses = [http.get(path, params=params)]  # params=None keeps a query already in ``path``
    while True:
        links = parse_link_header(responses[-1].headers["link"])
        if links["next"]["results"] != "true":
            return responses
        responses.append(http.get(links["next"]["url"]))


def ids(response: httpx.Response) -> list[str]:
    return [issue["id"] for issue in response.json()]


# ---------------------------------------------------------------- auth and errors


def test_every_request_needs_the_bearer_token(app: Starlette) -> None:
    with FakeServer(app) as server:
        missing = httpx.get(server.url + ISSUES)
        wrong = httpx.get(server.url + ISSUES, headers={"Authorization": "Bearer nope"})
        basic = httpx.get(server.url + ISSUES, auth=("user", SENTRY_TOKEN))

    assert missing.status_code == wrong.status_code == basic.status_code == 401
    assert missing.json() == {"detail": "Authentication credentials were not provided."}
    assert wrong.json() == {"detail": "Invalid token"}
    assert all(h in missing.headers for h in RATE_HEADERS)


def test_unknown_things_are_404_with_a_detail(http: httpx.Client) -> None:
    for path in (
        "/api/0/organizations/umbrella/projects/",
        "/api/0/projects/acme/no-such-project/issues/",
        "/api/0/organizations/acme/issues/12345/",
        "/api/0/organizations/acme/issues/not-a-number/",
        "/api/0/nothing/here/",
    ):
        response = http.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "The requested resource does not exist"}
        assert all(h in response.headers for h in RATE_HEADERS)


def test_bad_parameters_are_400(http: httpx.Client) -> None:
    too_many = http.get(ISSUES, params={"limit": 101})
    assert too_many.status_code == 400
    assert "Cannot exceed 100" in too_many.json()["detail"]
    assert http.get(ISSUES, params={"statsPeriod": "7d"}).status_code == 400
    assert http.get(ISSUES, params={"cursor": "garbage"}).status_code == 400
    assert http.get(ISSUES, params={"query": "lastSeen:>yesterday"}).status_code == 400
    assert http.get(ISSUES, params={"sort": "alphabetical"}).status_code == 400


# ---------------------------------------------------------------- issues


def test_without_a_query_only_unresolved_issues_come_back(http: httpx.Client, world: World) -> None:
    everything = {str(i.id) for i in world.sentry_issues["checkout-web"]}
    unresolved = {
        str(i.id) for i in world.sentry_issues["checkout-web"] if i.status == "unresolved"
    }
    assert unresolved != everything

    assert set(ids(http.get(ISSUES))) == unresolved
    assert set(ids(http.get(ISSUES, params={"query": ""}))) == everything
    resolved = http.get(ISSUES, params={"query": "is:resolved"})
    assert {i["status"] for i in resolved.json()} == {"resolved"}


def test_pages_follow_the_link_header_to_the_end_newest_first(
    http: httpx.Client, world: World
) -> None:
    pages = walk(http, ISSUES, {"query": "", "limit": 7})

    assert [len(p.json()) for p in pages] == [7, 7, 7, 7, 2]
    seen = [issue for page in pages for issue in page.json()]
    truth = sorted(world.sentry_issues["checkout-web"], key=lambda i: (i.last_seen, i.id))
    assert [i["id"] for i in seen] == [str(i.id) for i in reversed(truth)]
    assert all(p.headers["x-hits"] == "30" for p in pages)
    for n, page in enumerate(pages):
        links = parse_link_header(page.headers["link"])
        assert set(links) == {"previous", "next"}  # both, always
        assert all(CURSOR.match(link["cursor"]) for link in links.values())
        assert links["previous"]["results"] == ("false" if n == 0 else "true")
        assert links["next"]["results"] == ("true" if n < len(pages) - 1 else "false")


def test_the_previous_link_goes_back_a_page(http: httpx.Client) -> None:
    first, second = walk(http, ISSUES, {"query": "", "limit": 10})[:2]
    back = http.get(parse_link_header(second.headers["link"])["previous"]["url"])
    assert ids(back) == ids(first)


def test_an_issue_changing_between_pages_does_not_shift_the_page_boundary(
    app: Starlette, http: httpx.Client, world: World
) -> None:
    first = http.get(ISSUES, params={"query": "", "limit": 10})
    oldest = min(world.sentry_issues["checkout-web"], key=lambda i: i.last_seen)
    state_of(app).touch(oldest.id, NOW - dt.timedelta(minutes=1))  # jumps to the very top
    rest = walk(http, parse_link_header(first.headers["link"])["next"]["url"], None)

    seen = ids(first) + [i for page in rest for i in ids(page)]
    assert len(seen) == len(set(seen)) == 30 - 1  # nothing twice; only the touched one moved up
    assert str(oldest.id) not in seen


def test_last_seen_filters_and_sort_orders(http: httpx.Client, world: World) -> None:
    issues = world.sentry_issues["checkout-web"]
    pivot = sorted(issues, key=lambda i: i.last_seen)[20].last_seen
    stamp = pivot.strftime("%Y-%m-%dT%H:%M:%S")

    at_or_after = ids(http.get(ISSUES, params={"query": f"lastSeen:>={stamp}"}))
    after = ids(http.get(ISSUES, params={"query": f"lastSeen:>{stamp}Z"}))
    assert set(at_or_after) == {str(i.id) for i in issues if i.last_seen >= pivot}
    assert set(after) == {str(i.id) for i in issues if i.last_seen > pivot}
    assert len(at_or_after) == len(after) + 1

    by_first_seen = http.get(ISSUES, params={"query": "", "sort": "new"}).json()
    stamps = [i["firstSeen"] for i in by_first_seen]
    assert stamps == sorted(stamps, reverse=True)


def test_issue_fields_have_the_types_the_spec_declares(http: httpx.Client, world: World) -> None:
    issue = max(world.sentry_issues["checkout-web"], key=lambda i: i.last_seen)
    body = http.get(ISSUES, params={"query": "", "limit": 1, "statsPeriod": "14d"}).json()[0]

    assert body["id"] == str(issue.id)
    assert body["count"] == str(issue.count)  # a string
    assert body["userCount"] == issue.user_count  # an integer
    assert body["lastSeen"] == issue.last_seen.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["project"]["slug"] == "checkout-web"
    assert len(body["metadata"]) in (1, 3)  # {title} or {type, value, filename}: one of the two


def test_stats_buckets_are_utc_days_or_hours_ending_now(http: httpx.Client, world: World) -> None:
    issue = max(world.sentry_issues["checkout-web"], key=lambda i: i.last_seen)
    params: dict[str, Any] = {"query": "", "limit": 1}

    daily = http.get(ISSUES, params={**params, "statsPeriod": "14d"}).json()[0]["stats"]["14d"]
    hourly = http.get(ISSUES, params=params).json()[0]["stats"]["24h"]  # the default period
    none = http.get(ISSUES, params={**params, "statsPeriod": ""}).json()[0]["stats"]

    assert len(daily) == 15
    assert all(stamp % 86400 == 0 for stamp, _ in daily)
    assert daily[-1][0] == int(NOW.timestamp())
    for stamp, count in daily:
        day = dt.datetime.fromtimestamp(stamp, dt.UTC).date()
        assert count == issue.daily.get(day, 0)
    assert len(hourly) == 25 and all(stamp % 3600 == 0 for stamp, _ in hourly)
    yesterday = (NOW - dt.timedelta(days=1)).date()
    assert sum(c for s, c in hourly[:-1]) == issue.daily.get(yesterday, 0)
    assert none == {}


def test_resolving_an_issue_changes_status_not_last_seen(http: httpx.Client, world: World) -> None:
    issue = next(i for i in world.sentry_issues["search"] if i.status == "unresolved")
    path = f"/api/0/organizations/acme/issues/{issue.id}/"

    answer = http.put(path, json={"status": "resolved"})
    again = http.get(path).json()

    assert answer.status_code == 200
    assert (again["status"], again["substatus"]) == ("resolved", None)
    assert again["lastSeen"] == issue.last_seen.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert issue.status == "unresolved"  # the World itself is never changed
    assert http.put(path, json={"status": "done"}).status_code == 400
    ignored = http.put(path, json={"status": "ignored"}).json()
    assert (ignored["status"], ignored["substatus"]) == ("ignored", "archived_until_escalating")


# ---------------------------------------------------------------- projects and releases


def test_projects_list_the_organisation(http: httpx.Client, world: World) -> None:
    body = http.get("/api/0/organizations/acme/projects/").json()
    assert [p["slug"] for p in body] == sorted(world.sentry_projects)
    assert all(isinstance(p["id"], str) for p in body)


def test_releases_filter_by_project_and_page_by_offset(http: httpx.Client, world: World) -> None:
    search_id = world.sentry_projects["search"].id
    by_slug = walk(
        http, "/api/0/organizations/acme/releases/", {"project": "search", "per_page": 5}
    )
    by_id = http.get("/api/0/organizations/acme/releases/", params={"project": search_id})

    versions = [r["version"] for page in by_slug for r in page.json()]
    truth = [r for r in world.sentry_releases if "search" in r.projects]
    assert versions == [r.version for r in sorted(truth, key=lambda r: r.date_created)][::-1]
    assert [r["version"] for r in by_id.json()] == versions
    assert parse_link_header(by_slug[0].headers["link"])["next"]["cursor"] == "0:5:0"
    both = http.get(
        "/api/0/organizations/acme/releases/", params={"project": ["search", "mobile-ios"]}
    )
    assert {p["slug"] for r in both.json() for p in r["projects"]} == {"search", "mobile-ios"}


# ---------------------------------------------------------------- rate limits


def test_over_the_rate_limit_the_answer_is_429_with_the_limit_headers(world: World) -> None:
    with (
        FakeServer(create_app(world, rate_limit=3, rate_window=60)) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as http,
    ):
        answers = [http.get("/api/0/organizations/acme/projects/") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-sentry-rate-limit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    reset = int(answers[-1].headers["x-sentry-rate-limit-reset"])
    assert time.time() < reset <= time.time() + 60
    assert answers[-1].headers["x-sentry-rate-limit-limit"] == "3"
    assert "too frequently" in answers[-1].json()["detail"]


def test_the_client_waits_for_the_reset_of_sentrys_own_limit(world: World) -> None:
    with FakeServer(create_app(world, rate_limit=2, rate_window=1)) as server:
        client = SentryClient(
            server.url, SENTRY_TOKEN, SENTRY_ORG, policy=RetryPolicy(backoff=0.01)
        )
        slugs = [client.list_projects()[0]["slug"] for _ in range(4)]
        client.close()
        served = server.requests
    assert slugs == ["admin-console"] * 4
    # Remaining hit 0 after the second answer: the client waited for X-Sentry-Rate-Limit-Reset
    # instead of running into a 429, so no request had to be repeated.
    assert client.requests == served == 4


def test_the_client_rides_out_429_with_retry_after_and_broken_answers(world: World) -> None:
    faults = Faults(rate_limit_every=2, retry_after=0, truncate_every=3, drop_every=5)
    with FakeServer(create_app(world), faults=faults) as server:
        client = SentryClient(
            server.url, SENTRY_TOKEN, SENTRY_ORG, policy=RetryPolicy(backoff=0.01)
        )
        pages = list(client.pages("projects/acme/search/issues/", {"query": "", "limit": 4}))
        client.close()
    assert sum(len(p.items) for p in pages) == 30
    assert client.requests == server.requests > len(pages)


def test_sandbox_env_configures_a_collector_for_the_fake(app: Starlette) -> None:
    with FakeServer(app) as server:
        collector = SentryCollector.from_env(sandbox_env(server.url))
        assert len(collector.client.list_projects()) == 9
        collector.close()


# ---------------------------------------------------------------- the spec


def test_every_answer_conforms_to_the_openapi_spec(
    app: Starlette, world: World, tmp_path: Path
) -> None:
    from tests.collectors.prism import prism_proxy

    paths: list[tuple[str, dict[str, Any]]] = [
        ("/api/0/organizations/acme/projects/", {}),
        (ISSUES, {"query": "", "statsPeriod": "14d"}),
        (ISSUES, {"query": "is:unresolved"}),
        (ISSUES, {"query": "", "statsPeriod": ""}),
        ("/api/0/organizations/acme/releases/", {"project": "search", "per_page": 3}),
        (f"/api/0/organizations/acme/issues/{world.sentry_issues['search'][0].id}/", {}),
    ]
    headers = {**AUTH, "Accept": "application/json"}
    with (
        FakeServer(app) as server,
        prism_proxy("sentry.json", server.url, tmp_path / "prism.log") as url,
        httpx.Client(base_url=url, headers=headers, timeout=30) as http,
    ):
        answers = [http.get(path, params=params) for path, params in paths]
    for (path, _), answer in zip(paths, answers, strict=True):
        assert answer.status_code == 200, (path, answer.text[:2000])
