"""Idempotency keys: the first response to each key, replayed for 24 hours.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from registrar.migrations.types import ID, TIMESTAMP

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("api_key_id", ID, nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("request_method", sa.String(8), nullable=False),
        sa.Column("request_path", sa.String(2048), nullable=False),
        sa.Column("request_digest", sa.String(64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_content_type", sa.String(64), nullable=False),
        sa.Column("response_location", sa.String(2048), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("api_key_id", "idempotency_key", name="pk_idempotency_keys"),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name="fk_idempotency_keys_api_key_id_api_keys",
            ondelete="CASCADE",
        ),
    )
    # Serves the cleanup of expired keys.
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
