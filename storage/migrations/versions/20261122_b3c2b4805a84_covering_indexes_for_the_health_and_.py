"""covering indexes for the health and DORA reads

The health report's bugs, the DORA report's merged PRs and every report's deployment origins were
read from the tables themselves, whose rows are mostly ``raw`` JSON (~1.6 kB a work item): the
indexes hold just the columns those reads need. (Alembic does not compare an index's INCLUDE
columns, so the PR index's new definition is written here by hand.)

Revision ID: b3c2b4805a84
Revises: 845a08c2b999
Create Date: 2026-11-22 13:05:23.370482
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b3c2b4805a84"
down_revision: str | Sequence[str] | None = "845a08c2b999"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PULL_COLUMNS = [
    "id",
    "number",
    "created_at",
    "first_commit_at",
    "first_review_at",
    "head_branch",
    "labels",
]


def upgrade() -> None:
    op.create_index("ix_deployments_repo_origin", "deployments", ["repo", "origin"], unique=False)
    op.create_index(
        "ix_work_items_bugs",
        "work_items",
        ["project_key", "resolved_at"],
        unique=False,
        postgresql_include=["priority", "created_at", "key", "url"],
        postgresql_where=sa.text("type = 'bug'"),
    )
    op.drop_index("ix_pull_requests_repo_merged_at", table_name="pull_requests")
    op.create_index(
        "ix_pull_requests_repo_merged_at",
        "pull_requests",
        ["repo", "merged_at"],
        unique=False,
        postgresql_include=_PULL_COLUMNS,
    )


def downgrade() -> None:
    op.drop_index("ix_pull_requests_repo_merged_at", table_name="pull_requests")
    op.create_index(
        "ix_pull_requests_repo_merged_at", "pull_requests", ["repo", "merged_at"], unique=False
    )
    op.drop_index("ix_work_items_bugs", table_name="work_items")
    op.drop_index("ix_deployments_repo_origin", table_name="deployments")
