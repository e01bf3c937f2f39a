"""The Jira calls behind the alert buttons, checked against Jira's official OpenAPI description.

`prism proxy --errors` stands between the client and the Jira fake: a request or an answer that
drifts from jira-platform.json becomes an error, so the client's new calls (create, remote link,
search by label, get) and the fake's answers to them are both held to the real API.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.alerts.tickets import TicketDraft, issue_fields
from collectors.errors import RequestFailed
from collectors.fakes import FakeServer
from collectors.http import RetryPolicy
from collectors.jira import fake as jira_fake
from collectors.jira.client import JiraClient
from collectors.sandbox.world import World
from tests.collectors.prism import prism_proxy

DOC = {
    "issue_id": "4242",
    "short_id": "PAYMENTSAPI-7",
    "title": "ZeroDivisionError: division by zero",
    "web_url": "https://sentry.io/organizations/acme/issues/4242/",
}


def test_create_link_and_find_again_conform_to_jira_platform_spec(
    bot_world: World, tmp_path: Path
) -> None:
    app = jira_fake.create_app(bot_world)
    with (
        FakeServer(app) as fake,
        prism_proxy("jira-platform.json", fake.url, tmp_path / "prism.log") as url,
    ):
        client = JiraClient(
            url, jira_fake.SANDBOX_EMAIL, jira_fake.SANDBOX_TOKEN, policy=RetryPolicy(attempts=1)
        )
        draft = TicketDraft("PAY", DOC["title"], "High", "Culprit: app/refunds.py\nEvents: 12")
        try:
            created = client.create_issue(issue_fields(draft, DOC))
            key = created["key"]
            assert key.startswith("PAY-") and created["id"]
            assert client.search_keys('labels = "sentry-4242" ORDER BY created ASC') == [key]
            assert client.search_keys('labels = "sentry-4243"') == []
            first = client.add_remote_link(
                key,
                global_id="sentry-issue-4242",
                url=DOC["web_url"],
                title="Sentry: PAYMENTSAPI-7",
                summary=DOC["title"],
                application={"type": "io.sentry", "name": "Sentry"},
            )
            again = client.add_remote_link(
                key, global_id="sentry-issue-4242", url=DOC["web_url"], title="Sentry: again"
            )
            issue = client.get_issue(key, fields=("summary", "labels", "priority"))
        finally:
            client.close()
    log = (tmp_path / "prism.log").read_text()
    assert "violation" not in log.lower(), log[-3000:]
    assert first["id"] == again["id"]  # the same globalId updates, never duplicates
    state = app.state.jira
    assert list(state.remote_links[key]) == ["sentry-issue-4242"]
    assert issue["fields"]["summary"] == DOC["title"]
    assert issue["fields"]["labels"] == ["sentry-4242"]
    assert issue["fields"]["priority"]["name"] == "High"
    description = state.descriptions[key]
    assert description["type"] == "doc"
    assert description["content"][0]["content"][0]["text"] == "Culprit: app/refunds.py"
    link = description["content"][-1]["content"][1]
    assert link["marks"] == [{"type": "link", "attrs": {"href": DOC["web_url"]}}]


def test_jira_refuses_a_plain_text_description_as_the_v3_api_does(bot_world: World) -> None:
    with FakeServer(jira_fake.create_app(bot_world)) as fake:
        client = JiraClient(
            fake.url, jira_fake.SANDBOX_EMAIL, jira_fake.SANDBOX_TOKEN, policy=RetryPolicy(1)
        )
        fields = {
            "project": {"key": "PAY"},
            "issuetype": {"name": "Bug"},
            "summary": "x",
            "description": "plain text",
        }
        with pytest.raises(RequestFailed) as refused:
            client.create_issue(fields)
        client.close()
    assert refused.value.status == 400
    assert "Atlassian Document" in str(refused.value)
