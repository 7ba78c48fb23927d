"""Students and courses.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from registrar.migrations.types import ID, TIMESTAMP

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "students",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_students"),
        sa.UniqueConstraint("email", name="uq_students_email"),
        sqlite_autoincrement=True,  # SQLite would otherwise reuse the id of a deleted last row
    )
    op.create_table(
        "courses",
        sa.Column("id", ID, primary_key=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_courses"),
        sa.UniqueConstraint("code", name="uq_courses_code"),
        sa.CheckConstraint(
            "capacity IS NULL OR (capacity >= 0 AND capacity <= 100000)", name="ck_courses_capacity_range"
        ),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("courses")
    op.drop_table("students")
