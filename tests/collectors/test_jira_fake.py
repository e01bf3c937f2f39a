"""The Jira fake over real HTTP: auth, paging, JQL, changelogs, agile lists, limits, errors."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from collectors.fakes import FakeServer
from collectors.http import RetryPolicy, SourceClient
from collectors.jira.fake import (
    SANDBOX_EMAIL,
    SANDBOX_TIME_ZONE,
    SANDBOX_TOKEN,
    RateLimit,
    create_app,
    sandbox_env,
)
from collectors.jira.fake_state import (
    SPRINT_FIELD,
    SPRINT_TYPE,
    STORY_POINTS_FIELD,
    STORY_POINTS_TYPE,
    JiraState,
)
from collectors.sandbox.generator import STATUS_IDS, generate
from collectors.sandbox.world import Change, JiraIssue, World

NOW = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
SEARCH = "/rest/api/3/search/jql"


@pytest.fixture(scope="module")
def world() -> World:
    return generate("small", seed=7, now=NOW)


@pytest.fixture
def server(world: World) -> Iterator[FakeServer]:
    with FakeServer(create_app(world)) as fake:
        yield fake


@pytest.fixture
def jira(server: FakeServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, auth=(SANDBOX_EMAIL, SANDBOX_TOKEN), timeout=10
    ) as client:
        yield client


def state_of(server: FakeServer) -> JiraState:
    state: JiraState = server.injector.app.state.jira  # type: ignore[attr-defined]
    return state


def project_issues(world: World, project: str) -> list[JiraIssue]:
    return [i for i in world.issues if i.project == project]


def search_all(jira: httpx.Client, params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    pages, token = [], None
    while True:
        body = jira.get(SEARCH, params=params | ({"nextPageToken": token} if token else {})).json()
        pages.append(body["issues"])
        assert "total" not in body
        if body["isLast"]:
            assert "nextPageToken" not in body
            return pages
        token = body["nextPageToken"]


# ---------------------------------------------------------------- auth and site


def test_sandbox_env_points_a_collector_at_the_fake(server: FakeServer) -> None:
    assert sandbox_env(server.url) == {
        "JIRA_URL": server.url,
        "JIRA_EMAIL": SANDBOX_EMAIL,
        "JIRA_TOKEN": SANDBOX_TOKEN,
    }


@pytest.mark.parametrize(
    "auth",
    [None, (SANDBOX_EMAIL, "wrong-token"), ("someone@else.example", SANDBOX_TOKEN)],
    ids=["none", "wrong-token", "wrong-email"],
)
def test_requests_without_the_right_basic_auth_get_401(
    server: FakeServer, auth: tuple[str, str] | None
) -> None:
    for path in ("/rest/api/3/myself", "/rest/agile/1.0/board"):
        response = httpx.get(server.url + path, auth=auth)
        assert response.status_code == 401
        assert response.json()["errorMessages"]
    bearer = httpx.get(
        server.url + "/rest/api/3/myself", headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"}
    )
    assert bearer.status_code == 401


def test_myself_names_the_api_user_and_time_zone(jira: httpx.Client) -> None:
    me = jira.get("/rest/api/3/myself").json()
    assert me["emailAddress"] == SANDBOX_EMAIL
    assert me["timeZone"] == SANDBOX_TIME_ZONE
    assert me["accountId"]


def test_fields_list_the_site_specific_custom_fields(jira: httpx.Client) -> None:
    fields = {f["id"]: f for f in jira.get("/rest/api/3/field").json()}
    assert fields[STORY_POINTS_FIELD]["schema"]["custom"] == STORY_POINTS_TYPE
    assert fields[SPRINT_FIELD]["schema"]["custom"] == SPRINT_TYPE
    assert fields["status"]["schema"] == {"type": "status", "system": "status"}
    # A decoy: a number field called "Story Points" that is not the one Jira Software fills.
    assert any(
        f["name"] == "Story Points" and f["id"] != STORY_POINTS_FIELD for f in fields.values()
    )


def test_the_retired_search_endpoint_is_gone(jira: httpx.Client) -> None:
    assert jira.get("/rest/api/3/search", params={"jql": "project = PAY"}).status_code == 410
    response = jira.post("/rest/api/3/search", json={"jql": "project = PAY"})
    assert response.status_code == 410
    assert "/rest/api/3/search/jql" in response.json()["errorMessages"][0]


# ---------------------------------------------------------------- search


def test_search_returns_only_ids_unless_fields_are_asked_for(
    jira: httpx.Client, world: World
) -> None:
    bare = jira.get(SEARCH, params={"jql": "project = PAY"}).json()
    assert all(issue.keys() == {"id"} for issue in bare["issues"])
    assert len(bare["issues"]) == 50  # the default page

    full = jira.get(SEARCH, params={"jql": "project = PAY", "fields": "summary,status"}).json()
    issue = full["issues"][0]
    assert set(issue["fields"]) == {"summary", "status"}
    assert "changelog" not in issue


def test_search_pages_with_a_token_until_is_last(jira: httpx.Client, world: World) -> None:
    expected = sorted(project_issues(world, "CAT"), key=lambda i: (i.updated, i.id))
    pages = search_all(
        jira, {"jql": "project = CAT ORDER BY updated ASC", "fields": "updated", "maxResults": 30}
    )
    assert [len(p) for p in pages] == [30, 30, 30, len(expected) - 90]
    assert [i["id"] for p in pages for i in p] == [str(i.id) for i in expected]


def test_search_caps_pages_at_100_with_fields_and_5000_with_ids(jira: httpx.Client) -> None:
    with_fields = jira.get(
        SEARCH, params={"jql": "project in (CAT, PAY)", "fields": "summary", "maxResults": 1000}
    ).json()
    assert len(with_fields["issues"]) == 100 and not with_fields["isLast"]
    ids = jira.get(SEARCH, params={"jql": "project in (CAT, PAY)", "maxResults": 1000}).json()
    assert ids["isLast"] and len(ids["issues"]) > 100


def test_post_search_takes_the_same_query_in_the_body(jira: httpx.Client, world: World) -> None:
    body = jira.post(
        SEARCH,
        json={"jql": "project = PAY ORDER BY key DESC", "fields": ["summary"], "maxResults": 3},
    ).json()
    keys = [i["key"] for i in body["issues"]]
    newest = sorted(project_issues(world, "PAY"), key=lambda i: int(i.key.split("-")[1]))[-3:]
    assert keys == [i.key for i in reversed(newest)]


def test_updated_is_read_in_the_users_zone_at_minute_resolution(
    jira: httpx.Client, world: World
) -> None:
    issue = sorted(project_issues(world, "CHK"), key=lambda i: i.updated)[-10]
    local = issue.updated.astimezone(ZoneInfo(SANDBOX_TIME_ZONE))
    jql = f'project = CHK AND updated >= "{local:%Y/%m/%d %H:%M}" ORDER BY updated ASC'
    found = [i["id"] for p in search_all(jira, {"jql": jql, "fields": "updated"}) for i in p]
    floor = issue.updated.replace(second=0)
    expected = sorted(
        (i for i in project_issues(world, "CHK") if i.updated >= floor),
        key=lambda i: (i.updated, i.id),
    )
    assert found == [str(i.id) for i in expected]
    # A UTC wall-clock time is read as Berlin time: an hour earlier (UTC+1 in winter).
    utc = f'project = CHK AND updated >= "{issue.updated:%Y/%m/%d %H:%M}"'
    early = floor - dt.timedelta(hours=1)
    wider = {i["id"] for p in search_all(jira, {"jql": utc}) for i in p}
    assert wider == {str(i.id) for i in project_issues(world, "CHK") if i.updated >= early}


def test_timestamps_carry_the_users_offset(jira: httpx.Client, world: World) -> None:
    issue = project_issues(world, "PAY")[0]
    body = jira.get(f"/rest/api/3/issue/{issue.key}", params={"fields": "created"}).json()
    created = body["fields"]["created"]
    assert created.endswith("+0100") and ".000" in created
    assert dt.datetime.fromisoformat(created) == issue.created


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("ORDER BY updated", "Unbounded JQL"),
        ("project = PAY OR project = CAT", "OR"),
        ("assignee = currentUser()", "Field 'assignee' does not exist"),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'"),
        ('project = PAY AND updated >= "yesterday"', "Date value 'yesterday'"),
        ("project = PAY ORDER BY rank", "Not able to sort"),
    ],
)
def test_unsupported_jql_gets_400_in_jiras_error_shape(
    jira: httpx.Client, jql: str, message: str
) -> None:
    response = jira.get(SEARCH, params={"jql": jql})
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == {}
    assert message in body["errorMessages"][0]


def test_a_token_from_another_query_is_refused(jira: httpx.Client) -> None:
    first = jira.get(SEARCH, params={"jql": "project = PAY", "maxResults": 5}).json()
    other = jira.get(
        SEARCH, params={"jql": "project = CAT", "nextPageToken": first["nextPageToken"]}
    )
    assert other.status_code == 400


# ---------------------------------------------------------------- changelogs


def grow_changelog(state: JiraState, issue: JiraIssue, count: int) -> None:
    changes, at, current = [], issue.updated, issue.status
    for n in range(count):
        at += dt.timedelta(minutes=1)
        target = ("In Progress", "Code Review")[n % 2]
        changes.append(
            Change(
                state.next_history_id(),
                at,
                issue.reporter,
                "status",
                STATUS_IDS[current],
                current,
                STATUS_IDS[target],
                target,
            )
        )
        current = target
    state.add_changes(issue.key, changes)


def test_embedded_changelogs_stop_at_100_histories(
    jira: httpx.Client, server: FakeServer, world: World
) -> None:
    issue = project_issues(world, "OPS")[0]
    grow_changelog(state_of(server), issue, 150)
    total = len(issue.changes) + 150
    body = jira.get(
        SEARCH, params={"jql": f"key = {issue.key}", "fields": "status", "expand": "changelog"}
    ).json()
    log = body["issues"][0]["changelog"]
    assert (log["startAt"], log["maxResults"], log["total"]) == (0, 100, total)
    assert len(log["histories"]) == 100
    assert len(issue.changes) == total - 150  # the World's own record is untouched

    values, start = [], 0
    while True:
        page = jira.get(
            f"/rest/api/3/issue/{issue.key}/changelog", params={"startAt": start}
        ).json()
        values += page["values"]
        assert page["total"] == total
        if page["isLast"]:
            break
        start = page["startAt"] + page["maxResults"]
    assert len({v["id"] for v in values}) == total


def test_bulk_changelog_pages_across_issues_and_filters_fields(
    jira: httpx.Client, world: World
) -> None:
    issues = project_issues(world, "PAY")[:5]
    expected = sum(len(i.changes) for i in issues)
    histories: dict[str, int] = {}
    token, pages = None, 0
    while True:
        request: dict[str, Any] = {
            "issueIdsOrKeys": [i.key for i in issues] + ["PAY-99999"],
            "maxResults": 7,
        }
        if token:
            request["nextPageToken"] = token
        body = jira.post("/rest/api/3/changelog/bulkfetch", json=request).json()
        pages += 1
        for log in body["issueChangeLogs"]:
            histories[log["issueId"]] = histories.get(log["issueId"], 0) + len(
                log["changeHistories"]
            )
        token = body.get("nextPageToken")
        if not token:
            break
    assert sum(histories.values()) == expected and pages == -(-expected // 7)
    assert histories == {str(i.id): len(i.changes) for i in issues if i.changes}

    sprint_only = jira.post(
        "/rest/api/3/changelog/bulkfetch",
        json={"issueIdsOrKeys": [i.key for i in issues], "fieldIds": [SPRINT_FIELD]},
    ).json()
    items = [
        item
        for log in sprint_only["issueChangeLogs"]
        for history in log["changeHistories"]
        for item in history["items"]
    ]
    assert items and all(item["fieldId"] == SPRINT_FIELD for item in items)
    assert all(item["field"] == "Sprint" and item["fromString"] is not None for item in items)


def test_an_issue_reads_by_key_or_id_and_404s_otherwise(jira: httpx.Client, world: World) -> None:
    issue = next(i for i in world.issues if i.sprint_ids and i.story_points)
    by_key = jira.get(f"/rest/api/3/issue/{issue.key}", params={"expand": "changelog"}).json()
    by_id = jira.get(f"/rest/api/3/issue/{issue.id}").json()
    assert by_key["id"] == by_id["id"] == str(issue.id)
    fields = by_key["fields"]
    assert fields[STORY_POINTS_FIELD] == issue.story_points
    assert [s["id"] for s in fields[SPRINT_FIELD]] == issue.sprint_ids
    assert fields["status"]["statusCategory"]["key"] in ("new", "indeterminate", "done")
    assert by_key["changelog"]["total"] == len(issue.changes)
    missing = jira.get("/rest/api/3/issue/NOPE-1")
    assert missing.status_code == 404 and missing.json()["errorMessages"]


# ---------------------------------------------------------------- writes


def test_creating_an_issue_returns_its_key_and_checks_fields(
    jira: httpx.Client, world: World
) -> None:
    created = jira.post(
        "/rest/api/3/issue",
        json={
            "fields": {
                "project": {"key": "PAY"},
                "issuetype": {"name": "Bug"},
                "summary": "Refunds fail after deploy",
                "labels": ["sitrep"],
            }
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert body.keys() == {"id", "key", "self"} and body["key"].startswith("PAY-")
    found = jira.get(f"/rest/api/3/issue/{body['key']}").json()
    assert found["fields"]["summary"] == "Refunds fail after deploy"
    assert found["fields"]["status"]["name"] == "To Do"
    assert body["key"] not in {i.key for i in world.issues}

    bad = jira.post("/rest/api/3/issue", json={"fields": {"project": {"key": "NOPE"}}})
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"project", "issuetype", "summary"}


def test_remote_links_with_the_same_global_id_are_updated(jira: httpx.Client, world: World) -> None:
    key = world.issues[0].key
    link = {
        "globalId": "sitrep:deployment:42",
        "relationship": "caused by",
        "object": {"url": "https://github.com/acme/payments/deployments/42", "title": "Deploy 42"},
    }
    first = jira.post(f"/rest/api/3/issue/{key}/remotelink", json=link)
    again = jira.post(
        f"/rest/api/3/issue/{key}/remotelink",
        json=link | {"object": link["object"] | {"title": "Deploy 42 (rolled back)"}},
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    links = jira.get(f"/rest/api/3/issue/{key}/remotelink").json()
    assert [x["object"]["title"] for x in links] == ["Deploy 42 (rolled back)"]
    one = jira.get(f"/rest/api/3/issue/{key}/remotelink", params={"globalId": link["globalId"]})
    assert one.json()["id"] == first.json()["id"]
    no_title = jira.post(f"/rest/api/3/issue/{key}/remotelink", json={"object": {"url": "x"}})
    assert no_title.status_code == 400 and "title" in no_title.json()["errors"]


# ---------------------------------------------------------------- agile


def test_boards_filter_by_project_and_page(jira: httpx.Client, world: World) -> None:
    everything = jira.get("/rest/agile/1.0/board", params={"maxResults": 2}).json()
    assert (everything["total"], len(everything["values"]), everything["isLast"]) == (
        len(world.boards),
        2,
        False,
    )
    pay = jira.get("/rest/agile/1.0/board", params={"projectKeyOrId": "PAY"}).json()
    assert [b["id"] for b in pay["values"]] == [2]
    assert pay["values"][0]["location"]["projectKey"] == "PAY" and pay["isLast"]
    assert jira.get("/rest/agile/1.0/board/2").json()["name"] == "PAY board"
    assert jira.get("/rest/agile/1.0/board/999").status_code == 404


def test_board_sprints_come_closed_active_future_and_filter_by_state(
    jira: httpx.Client, world: World
) -> None:
    sprints = jira.get("/rest/agile/1.0/board/2/sprint").json()
    states = [s["state"] for s in sprints["values"]]
    assert states == sorted(states, key=["closed", "active", "future"].index)
    assert {s["id"] for s in sprints["values"]} == {
        s.id for s in world.sprints.values() if s.board_id == 2
    }
    closed = sprints["values"][0]
    assert closed["startDate"].endswith(".000Z") and closed["originBoardId"] == 2
    active = jira.get("/rest/agile/1.0/board/2/sprint", params={"state": "active"}).json()
    assert [s["state"] for s in active["values"]] == ["active"]
    assert jira.get("/rest/agile/1.0/board/2/sprint", params={"state": "open"}).status_code == 400


def test_sprint_issues_are_the_issues_in_that_sprint(jira: httpx.Client, world: World) -> None:
    sprint = next(s for s in world.sprints.values() if s.state == "closed" and s.board_id == 1)
    expected = sorted(i.id for i in world.issues if sprint.id in i.sprint_ids)
    body = jira.get(f"/rest/agile/1.0/sprint/{sprint.id}/issue", params={"maxResults": 50}).json()
    assert body["total"] == len(expected)
    assert [int(i["id"]) for i in body["issues"]] == expected[:50]


# ---------------------------------------------------------------- rate limits


def test_rate_limit_headers_and_429_with_retry_after(world: World) -> None:
    with (
        FakeServer(create_app(world, rate_limit=RateLimit(limit=3, window=1.0))) as server,
        httpx.Client(base_url=server.url, auth=(SANDBOX_EMAIL, SANDBOX_TOKEN)) as jira,
    ):
        answers = [jira.get("/rest/api/3/myself") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert answers[0].headers["x-ratelimit-limit"] == "3"
        assert answers[2].headers["x-ratelimit-nearlimit"] == "true"
        assert answers[3].headers["retry-after"] == "1"

        # Our client waits as told and then gets through.
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            time.sleep(seconds)

        client = SourceClient(
            "jira",
            server.url,
            auth=(SANDBOX_EMAIL, SANDBOX_TOKEN),
            policy=RetryPolicy(backoff=0.01),
            sleep=sleep,
        )
        body, _ = client.get_json("/rest/api/3/myself")
        client.close()
    assert body["emailAddress"] == SANDBOX_EMAIL
    assert slept and slept[0] == 1.0
