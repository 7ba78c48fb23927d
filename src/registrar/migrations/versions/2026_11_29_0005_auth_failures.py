"""Failed authentications per client address, for the brute-force limit.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("recent_failures", sa.Text(), nullable=False),
        sa.Column("blocked_until", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("address", name="pk_auth_failures"),
    )
    # Serves the cleanup of addresses that stopped failing.
    op.create_index("ix_auth_failures_updated_at", "auth_failures", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_auth_failures_updated_at", table_name="auth_failures")
    op.drop_table("auth_failures")
