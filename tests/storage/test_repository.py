"""Bulk upserts: idempotent, update in place, never blank what a row does not carry."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.models import DeploymentPullRequest, ErrorEventCount, ErrorIssue, PullRequest
from storage.repository import UpsertResult, ids_by_external_id, upsert_rows

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def pr(n: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "source": "github",
        "external_id": f"acme/shop#{n}",
        "url": f"https://github.com/acme/shop/pull/{n}",
        "repo": "acme/shop",
        "number": n,
        "title": f"Change {n}",
        "author": "ada",
        "state": "merged",
        "original_state": "closed",
        "head_branch": f"feature/{n}",
        "labels": ["backend"],
        "created_at": T0 + dt.timedelta(hours=n),
        "merged_at": T0 + dt.timedelta(hours=n + 5),
        "raw": {"number": n, "nested": {"ok": True}},
    }
    row.update(overrides)
    return row


def physical_rows(session: Session) -> dict[str, tuple[Any, ...]]:
    """external_id -> (id, ctid): ctid changes whenever PostgreSQL rewrites the row."""
    result = session.execute(sa.text("SELECT external_id, id, ctid::text FROM pull_requests"))
    return {external_id: (id_, ctid) for external_id, id_, ctid in result}


def test_the_same_rows_twice_change_nothing(session: Session) -> None:
    rows = [pr(n) for n in range(1, 26)]
    assert upsert_rows(session, PullRequest, rows, batch_size=10) == UpsertResult(inserted=25)
    before = physical_rows(session)

    again = upsert_rows(session, PullRequest, rows, batch_size=10)

    assert again == UpsertResult(unchanged=25)
    assert physical_rows(session) == before  # not even rewritten with equal values


def test_a_changed_row_is_updated_in_place_and_others_are_left_alone(session: Session) -> None:
    upsert_rows(session, PullRequest, [pr(1), pr(2), pr(3)])
    before = physical_rows(session)

    result = upsert_rows(
        session, PullRequest, [pr(1), pr(2, title="Renamed", labels=["hotfix"]), pr(3)]
    )

    assert result == UpsertResult(updated=1, unchanged=2)
    after = physical_rows(session)
    assert after["acme/shop#2"][0] == before["acme/shop#2"][0]  # same id: foreign keys hold
    assert after["acme/shop#2"][1] != before["acme/shop#2"][1]
    assert after["acme/shop#1"] == before["acme/shop#1"]
    stored = session.scalars(sa.select(PullRequest).where(PullRequest.number == 2)).one()
    assert (stored.title, stored.labels) == ("Renamed", ["hotfix"])


def test_a_change_inside_the_raw_payload_counts_as_a_change(session: Session) -> None:
    upsert_rows(session, PullRequest, [pr(1)])
    result = upsert_rows(session, PullRequest, [pr(1, raw={"number": 1, "nested": {"ok": False}})])
    assert result == UpsertResult(updated=1)


def test_partial_rows_do_not_blank_columns_they_do_not_carry(session: Session) -> None:
    upsert_rows(session, PullRequest, [pr(7, additions=120, deletions=30)])
    listing = pr(7, title="New title")  # the list endpoint has no size fields
    result = upsert_rows(session, PullRequest, [listing])
    assert result.updated == 1
    stored = session.scalars(sa.select(PullRequest)).one()
    assert (stored.title, stored.additions, stored.deletions) == ("New title", 120, 30)


def test_within_one_call_the_last_row_for_a_key_wins(session: Session) -> None:
    result = upsert_rows(session, PullRequest, [pr(1, title="first"), pr(1, title="second")])
    assert result == UpsertResult(inserted=1)
    assert session.scalars(sa.select(PullRequest.title)).one() == "second"


def test_raw_is_stored_as_jsonb_and_deferred(session: Session) -> None:
    upsert_rows(session, PullRequest, [pr(5)])
    session.expire_all()
    stored = session.scalars(sa.select(PullRequest)).one()
    assert "raw" not in stored.__dict__  # ordinary queries do not load the payload
    assert stored.raw == {"number": 5, "nested": {"ok": True}}
    kind = session.execute(sa.text("SELECT jsonb_typeof(raw) FROM pull_requests")).scalar()
    assert kind == "object"


def test_timestamps_come_back_timezone_aware_in_utc(session: Session) -> None:
    local = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    upsert_rows(session, PullRequest, [pr(1, created_at=local)])
    session.expire_all()
    stored = session.scalars(sa.select(PullRequest.created_at)).one()
    assert stored == local
    assert stored.utcoffset() is not None


def test_tables_keyed_by_their_primary_key(session: Session) -> None:
    upsert_rows(
        session,
        ErrorIssue,
        [
            {
                "source": "sentry",
                "external_id": "101",
                "project": "payments-api",
                "title": "KeyError: card",
                "level": "error",
                "status": "unresolved",
                "first_seen": T0,
                "last_seen": T0,
            }
        ],
    )
    issue_id = ids_by_external_id(session, ErrorIssue, "sentry", ["101", "missing"])["101"]
    counts = [{"error_issue_id": issue_id, "day": dt.date(2026, 3, d), "count": d} for d in (1, 2)]
    assert upsert_rows(session, ErrorEventCount, counts) == UpsertResult(inserted=2)
    counts[1]["count"] = 40
    assert upsert_rows(session, ErrorEventCount, counts) == UpsertResult(updated=1, unchanged=1)


def test_link_tables_with_no_data_columns_insert_once(session: Session) -> None:
    upsert_rows(session, PullRequest, [pr(1)])
    pr_id = ids_by_external_id(session, PullRequest, "github", ["acme/shop#1"])["acme/shop#1"]
    deployment_id = session.execute(
        sa.text(
            "INSERT INTO deployments (source, external_id, repo, environment, status) "
            "VALUES ('github', 'd1', 'acme/shop', 'production', 'success') RETURNING id"
        )
    ).scalar_one()
    link = [{"deployment_id": deployment_id, "pull_request_id": pr_id}]
    assert upsert_rows(session, DeploymentPullRequest, link) == UpsertResult(inserted=1)
    assert upsert_rows(session, DeploymentPullRequest, link) == UpsertResult(unchanged=1)


def test_rows_of_different_shapes_in_one_transaction(session: Session) -> None:
    upsert_rows(session, PullRequest, [pr(1)])
    slim = {k: v for k, v in pr(2).items() if k not in {"raw", "labels"}}
    assert upsert_rows(session, PullRequest, [slim]) == UpsertResult(inserted=1)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{**pr(1), "colour": "red"}], "no column"),
        ([{k: v for k, v in pr(1).items() if k != "external_id"}], "lack key"),
        ([pr(1), {k: v for k, v in pr(2).items() if k != "title"}], "same columns"),
    ],
)
def test_malformed_rows_are_refused_with_a_clear_error(
    session: Session, rows: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        upsert_rows(session, PullRequest, rows)
    assert session.scalar(sa.select(sa.func.count()).select_from(PullRequest)) == 0


def test_empty_input_is_a_no_op(session: Session) -> None:
    assert upsert_rows(session, PullRequest, []) == UpsertResult()
