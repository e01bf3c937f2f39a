"""subscription channel names

A product's ``slack_channel`` may be a name (``#payments-alerts``) while a subscription made in
that channel holds its id (``C0123...``): without the name beside the id, an alert for both went
to the same channel twice. Slack sends the channel's name with every slash command.

Revision ID: c41d7e2a9f10
Revises: b3c2b4805a84
Create Date: 2026-11-22 14:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c41d7e2a9f10"
down_revision: str | Sequence[str] | None = "b3c2b4805a84"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("channel_name", sa.String(length=80), nullable=True))


def downgrade() -> None:
    op.drop_column("subscriptions", "channel_name")
