"""The shared, source-agnostic domain model (DevLake's domain layer, in SQLAlchemy 2.0).

Every row that comes from a source carries:

- ``source`` + ``external_id``: unique together, the key every upsert conflicts on;
- ``url``: where a person can see the thing in its own tool;
- the source's original value beside each normalised one (``status`` and ``original_status``),
  so a mapping fix can be checked against what the source really said;
- ``raw``: the source payload, a deferred JSONB column so a mapping fix can be replayed
  without refetching and ordinary queries never load it.

Timestamps are timezone-aware and stored in UTC. Enumerations are plain text with a CHECK
constraint: cheaper to extend than PostgreSQL enum types and just as strict.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

# Stable constraint names, so Alembic autogenerate never renames what it created.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PRIORITIES = ("critical", "high", "medium", "low")
MAPPING_KINDS = ("sentry_project", "jira_project", "jira_board", "github_repo")
ERROR_LEVELS = ("fatal", "error", "warning", "info", "debug")
ERROR_STATUSES = ("unresolved", "resolved", "ignored")
WORK_STATUSES = ("todo", "in_progress", "done")
WORK_TYPES = ("bug", "incident", "story", "task", "epic", "subtask", "other")
SPRINT_STATES = ("future", "active", "closed")
PR_STATES = ("open", "closed", "merged")
REVIEW_STATES = ("approved", "changes_requested", "commented", "dismissed", "pending")
DEPLOYMENT_STATUSES = ("success", "failure", "error", "in_progress", "queued", "inactive", "other")
DEPLOYMENT_ORIGINS = ("deployment", "workflow_run", "release")
INCIDENT_STATUSES = ("open", "resolved")
RUN_STATUSES = ("running", "succeeded", "failed")

Timestamp = Annotated[dt.datetime, mapped_column(sa.DateTime(timezone=True))]
CreatedAt = Annotated[
    dt.datetime, mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
]
BigId = Annotated[int, mapped_column(sa.BigInteger, primary_key=True, autoincrement=True)]
Text = Annotated[str, mapped_column(sa.Text)]
Labels = Annotated[list[str], mapped_column(ARRAY(sa.Text), server_default=sa.text("'{}'::text[]"))]


def one_of(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    """A CHECK that ``column`` holds one of ``values`` (named after the column)."""
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_allowed")


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dict[str, Any]: JSONB,
        dt.datetime: sa.DateTime(timezone=True),
        dt.date: sa.Date,
    }


class SourceRow:
    """Columns every row copied from a source carries (see the module docstring)."""

    # sort_order puts the identity columns first and the bulky ones last in `\d table`.
    id: Mapped[BigId] = mapped_column(sort_order=-3)
    source: Mapped[str] = mapped_column(sa.String(32), sort_order=-2)
    external_id: Mapped[str] = mapped_column(sa.String(255), sort_order=-2)
    url: Mapped[str | None] = mapped_column(sa.Text, sort_order=-1)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONB, deferred=True, sort_order=10)
    synced_at: Mapped[CreatedAt] = mapped_column(sort_order=10)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (sa.UniqueConstraint("source", "external_id"), *cls.extra_table_args())

    @classmethod
    def extra_table_args(cls) -> tuple[Any, ...]:
        return ()


# ---------------------------------------------------------------- products


class Product(Base):
    """A business product; products nest (``parent_id``) and numbers roll up the tree.

    A database trigger (see the first migration) refuses a parent change that would make the
    tree loop, so the rule holds whoever writes the row.
    """

    __tablename__ = "products"
    __table_args__ = (
        one_of("priority", PRIORITIES),
        sa.CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    )

    id: Mapped[BigId]
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    owner_team: Mapped[str | None] = mapped_column(sa.String(200), index=True)
    priority: Mapped[str] = mapped_column(sa.String(16), server_default="medium")
    description: Mapped[str | None] = mapped_column(sa.Text)
    active: Mapped[bool] = mapped_column(server_default=sa.true())
    slack_channel: Mapped[str | None] = mapped_column(sa.String(200))
    # Only the settings the products file overrides (see `storage.product_file.ProductSettings`).
    settings: Mapped[dict[str, Any]] = mapped_column(server_default=sa.text("'{}'::jsonb"))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[CreatedAt] = mapped_column(onupdate=sa.func.now())


class ProductMapping(Base):
    """A technical thing that belongs to a product: a Sentry project, Jira project or board, a repo.

    ``(kind, key)`` is unique: one thing belongs to one product, so roll-ups never count it twice.
    """

    __tablename__ = "product_mappings"
    __table_args__ = (sa.UniqueConstraint("kind", "key"), one_of("kind", MAPPING_KINDS))

    id: Mapped[BigId]
    product_id: Mapped[int] = mapped_column(
        sa.ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    key: Mapped[str] = mapped_column(sa.String(255))


# ---------------------------------------------------------------- errors (Sentry)


class ErrorIssue(SourceRow, Base):
    """An error group (a Sentry issue). ``event_count`` and ``user_count`` are lifetime totals."""

    __tablename__ = "error_issues"

    @classmethod
    def extra_table_args(cls) -> tuple[Any, ...]:
        return (one_of("level", ERROR_LEVELS), one_of("status", ERROR_STATUSES))

    project: Mapped[str] = mapped_column(sa.String(255), index=True)
    short_id: Mapped[str | None] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.Text)
    culprit: Mapped[str | None] = mapped_column(sa.Text)
    level: Mapped[str] = mapped_column(sa.String(16))
    original_level: Mapped[str | None] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))
    original_status: Mapped[str | None] = mapped_column(sa.String(32))
    substatus: Mapped[str | None] = mapped_column(sa.String(32))
    first_seen: Mapped[Timestamp]
    last_seen: Mapped[Timestamp] = mapped_column(index=True)
    event_count: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")
    user_count: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")
    assignee: Mapped[str | None] = mapped_column(sa.String(255))


class ErrorEventCount(Base):
    """Events of one error issue on one UTC day."""

    __tablename__ = "error_event_counts"

    error_issue_id: Mapped[int] = mapped_column(
        sa.ForeignKey("error_issues.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger)


# ---------------------------------------------------------------- work (Jira)


class Board(SourceRow, Base):
    """A Jira board (scrum or kanban); sprints hang off scrum boards."""

    __tablename__ = "boards"

    name: Mapped[str] = mapped_column(sa.String(255))
    type: Mapped[str | None] = mapped_column(sa.String(32))
    project_key: Mapped[str | None] = mapped_column(sa.String(64), index=True)


class WorkItem(SourceRow, Base):
    """A Jira issue. ``status`` is the normalised status category; ``original_status`` the
    workflow status people see ("Code Review"), which flow metrics group by."""

    __tablename__ = "work_items"

    @classmethod
    def extra_table_args(cls) -> tuple[Any, ...]:
        return (
            one_of("status", WORK_STATUSES),
            one_of("type", WORK_TYPES),
            # The sprint report reads the items in progress (~1%) on every board.
            sa.Index("ix_work_items_status", "status"),
            # The health report reads every bug that may be open in its windows: a quarter of the
            # items, from a table whose rows are ~1.6 kB (mostly ``raw``). From this index alone
            # (~3 MB on the large sandbox) it is ~8 ms instead of a ~45 ms pass over the table.
            sa.Index(
                "ix_work_items_bugs",
                "project_key",
                "resolved_at",
                postgresql_include=["priority", "created_at", "key", "url"],
                postgresql_where=sa.text("type = 'bug'"),
            ),
            sa.CheckConstraint(
                "priority IS NULL OR priority IN ('critical', 'high', 'medium', 'low')",
                name="priority_allowed",
            ),
        )

    key: Mapped[str] = mapped_column(sa.String(64), index=True)
    project_key: Mapped[str] = mapped_column(sa.String(64), index=True)
    summary: Mapped[str] = mapped_column(sa.Text)
    type: Mapped[str] = mapped_column(sa.String(16))
    original_type: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    original_status: Mapped[str | None] = mapped_column(sa.String(64))
    priority: Mapped[str | None] = mapped_column(sa.String(16))
    original_priority: Mapped[str | None] = mapped_column(sa.String(64))
    story_points: Mapped[float | None]
    assignee: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    reporter: Mapped[str | None] = mapped_column(sa.String(255))
    labels: Mapped[Labels]
    parent_key: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp | None]
    resolved_at: Mapped[Timestamp | None]


class WorkItemTransition(SourceRow, Base):
    """One status change of a work item, from its changelog.

    ``external_id`` is the changelog history id and the item's index within it.
    """

    __tablename__ = "work_item_transitions"

    @classmethod
    def extra_table_args(cls) -> tuple[Any, ...]:
        # The sprint report reads the items that moved in the last weeks (index-only).
        return (sa.Index("ix_work_item_transitions_changed_at", "changed_at", "work_item_id"),)

    work_item_id: Mapped[int] = mapped_column(
        sa.ForeignKey("work_items.id", ondelete="CASCADE"), index=True
    )
    changed_at: Mapped[Timestamp]
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str | None] = mapped_column(sa.String(16))
    original_from_status: Mapped[str | None] = mapped_column(sa.String(64))
    original_to_status: Mapped[str | None] = mapped_column(sa.String(64))
    author: Mapped[str | None] = mapped_column(sa.String(255))


class Sprint(SourceRow, Base):
    __tablename__ = "sprints"

    @classmethod
    def extra_table_args(cls) -> tuple[Any, ...]:
        return (one_of("state", SPRINT_STATES),)

    board_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("boards.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    state: Mapped[str] = mapped_column(sa.String(16))
    original_state: Mapped[str | None] = mapped_column(sa.String(32))
    goal: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[Timestamp | None]
    ends_at: Mapped[Timestamp | None]
    completed_at: Mapped[Timestamp | None]


class SprintMembership(Base):
    """A work item's time in a sprint: added (before the start means committed) and removed."""

    __tablename__ = "sprint_memberships"

    sprint_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sprints.id", ondelete="CASCADE"), primary_key=True
    )
    work_item_id: Mapped[int] = mapped_column(
        sa.ForeignKey("work_items.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[Timestamp | None]
    removed_at: Mapped[Timestamp | None]


# ---------------------------------------------------------------- code (GitHub)


class PullRequest(SourceRow, Base):
    """A pull request. Size is ``additions + deletions``; GitHub only reports them per PR."""

    __tablename__ = "pull_requests"

    @classmethod
    def extra_table_args(cls) -> tuple[Any, ...]:
        return (
            one_of("state", PR_STATES),
            # DORA reads every PR merged in its windows (~28k for an organisation over 90 days):
            # covered by the index (~8 MB), not read from the wide rows (~1.8 kB, mostly
            # ``raw``), it is half the time. The columns are `insights.queries.dora._pulls`'s.
            sa.Index(
                "ix_pull_requests_repo_merged_at",
                "repo",
                "merged_at",
                postgresql_include=[
                    "id",
                    "number",
                    "created_at",
                    "first_commit_at",
                    "first_review_at",
                    "head_branch",
                    "labels",
                ],
            ),
            # The sprint report's PR flow reads PRs first reviewed *or* merged in a window: with
            # both indexes that is a BitmapOr of two ranges, not a scan of the (wide) table.
            sa.Index("ix_pull_requests_repo_first_review_at", "repo", "first_review_at"),
        )

    repo: Mapped[str] = mapped_column(sa.String(255))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(sa.Text)
    author: Mapped[str | None] = mapped_column(sa.String(255))
    state: Mapped[str] = mapped_column(sa.String(16))
    original_state: Mapped[str | None] = mapped_column(sa.String(32))
    head_branch: Mapped[str | None] = mapped_column(sa.String(255))
    base_branch: Mapped[str | None] = mapped_column(sa.String(255))
    labels: Mapped[Labels]
    first_commit_at: Mapped[Timestamp | None]
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp | None]
    first_review_at: Mapped[Timestamp | None]
    merged_at: Mapped[Timestamp | None]
    closed_at: Mapped[Timestamp | None]
    merge_commit_sha: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    additions: Mapped[int | None]
    deletions: Mapped[int | None]
    changed_files: Mapped[int | None]
    commits: Mapped[int | None]


class PullRequestReview(SourceRow, Base):
    __tablename__ = "pull_request_reviews"

    @classmethod
    def extra_table_args(cls) -> tuple[Any, ...]:
        return (one_of("state", REVIEW_STATES),)

    pull_request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("pull_requests.id", ondelete="CASCADE"), index=True
    )
    reviewer: Mapped[str | None] = mapped_column(sa.String(255))
    state: Mapped[str] = mapped_column(sa.String(32))
    original_state: Mapped[str | None] = mapped_column(sa.String(32))
    submitted_at: Mapped[Timestamp | None]


class Deployment(SourceRow, Base):
    """A deployment of a repo to an environment.

    ``origin`` says what it was derived from: a GitHub deployment, or, for repos without any,
    a deploy workflow run or a release.
    """

    __tablename__ = "deployments"

    @classmethod
    def extra_table_args(cls) -> tuple[Any, ...]:
        return (
            one_of("status", DEPLOYMENT_STATUSES),
            one_of("origin", DEPLOYMENT_ORIGINS),
            sa.Index("ix_deployments_repo_env_finished", "repo", "environment", "finished_at"),
            # Each report asks which origins each repo has ever had (`deployment_origins`).
            sa.Index("ix_deployments_repo_origin", "repo", "origin"),
        )

    repo: Mapped[str] = mapped_column(sa.String(255))
    origin: Mapped[str] = mapped_column(sa.String(16), server_default="deployment")
    environment: Mapped[str] = mapped_column(sa.String(64))
    original_environment: Mapped[str | None] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(16))
    original_status: Mapped[str | None] = mapped_column(sa.String(32))
    sha: Mapped[str | None] = mapped_column(sa.String(64))
    ref: Mapped[str | None] = mapped_column(sa.String(255))
    started_at: Mapped[Timestamp | None]
    finished_at: Mapped[Timestamp | None]


class DeploymentPullRequest(Base):
    """Which pull requests a deployment shipped."""

    __tablename__ = "deployment_pull_requests"

    deployment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    pull_request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("pull_requests.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Release(SourceRow, Base):
    """A release: a Sentry release of a project, or a GitHub release of a repo.

    ``scope`` is the Sentry project slug or the ``owner/name`` of the repo. DORA falls back to
    releases as deployments for repos that have neither deployments nor deploy workflows.
    """

    __tablename__ = "releases"

    @classmethod
    def extra_table_args(cls) -> tuple[Any, ...]:
        return (sa.Index("ix_releases_scope_released", "scope", "released_at"),)

    scope: Mapped[str] = mapped_column(sa.String(255))
    version: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str | None] = mapped_column(sa.Text)
    sha: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[Timestamp]
    released_at: Mapped[Timestamp | None]


# ---------------------------------------------------------------- incidents


class Incident(SourceRow, Base):
    """Something that hurt users, from Jira (type Incident) today and paging tools later.

    ``deployment_id`` is the production deployment judged to have caused it, if any.
    """

    __tablename__ = "incidents"

    @classmethod
    def extra_table_args(cls) -> tuple[Any, ...]:
        return (one_of("status", INCIDENT_STATUSES),)

    key: Mapped[str | None] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.Text)
    project_key: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    original_status: Mapped[str | None] = mapped_column(sa.String(64))
    severity: Mapped[str | None] = mapped_column(sa.String(32))
    started_at: Mapped[Timestamp] = mapped_column(index=True)
    resolved_at: Mapped[Timestamp | None]
    deployment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("deployments.id", ondelete="SET NULL"), index=True
    )


# ---------------------------------------------------------------- LLM answers


class LlmSummary(Base):
    """A grounded LLM summary, cached by what produced it: same template, facts and model,
    same answer, so a digest re-rendered after an unchanged sync costs no tokens."""

    __tablename__ = "llm_summaries"
    __table_args__ = (sa.UniqueConstraint("template", "facts_hash", "model"),)

    id: Mapped[BigId]
    template: Mapped[str] = mapped_column(sa.String(100))
    facts_hash: Mapped[str] = mapped_column(sa.String(64))
    model: Mapped[str] = mapped_column(sa.String(200))
    summary: Mapped[dict[str, Any]]
    created_at: Mapped[CreatedAt]


class BoardBaseline(Base):
    """A board's usual time per status over one history window (``since`` .. ``until``, whole
    UTC days), kept because reading ~180 days of status changes costs more than the rest of a
    sprint report. ``version`` names the data it was read from (see
    `insights.queries.baselines`); a row whose version no longer matches is recomputed."""

    __tablename__ = "board_baselines"

    board_id: Mapped[int] = mapped_column(
        sa.ForeignKey("boards.id", ondelete="CASCADE"), primary_key=True
    )
    since: Mapped[dt.datetime] = mapped_column(primary_key=True)
    until: Mapped[dt.datetime] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(sa.String(200))
    # {status: [visits, median hours, p85 hours]}
    usual: Mapped[dict[str, Any]]
    computed_at: Mapped[CreatedAt]


# ---------------------------------------------------------------- sync bookkeeping


class SyncCursor(Base):
    """How far a source's scope (a project, a repo, a board) has been synced."""

    __tablename__ = "sync_cursors"

    source: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    cursor: Mapped[dict[str, Any]]
    updated_at: Mapped[CreatedAt] = mapped_column(onupdate=sa.func.now())


class SyncRun(Base):
    """One sync of one source and scope: what it did and how it ended."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        one_of("status", RUN_STATUSES),
        sa.Index("ix_sync_runs_source_started", "source", "started_at"),
    )

    id: Mapped[BigId]
    source: Mapped[str] = mapped_column(sa.String(32))
    scope: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(16), server_default="running")
    started_at: Mapped[CreatedAt]
    finished_at: Mapped[Timestamp | None]
    rows: Mapped[int] = mapped_column(server_default="0")
    requests: Mapped[int] = mapped_column(server_default="0")
    error: Mapped[str | None] = mapped_column(sa.Text)


# The bot's own tables live in their own module; importing it here puts them on `Base.metadata`
# wherever the domain model is imported (migrations, tests), so the two can never drift apart.
from storage import models_bot as _bot_tables  # noqa: E402, F401
