"""The roster-as-of index in the order the query reads it, covering the change.

A roster as of an instant takes, per student of the course, the latest event at or before it. With
the index in (course_id, student_id, at DESC, id DESC) order and `change` included, PostgreSQL reads
it in an index-only scan that hands DISTINCT ON its rows already sorted, instead of visiting every
event of the course in the heap and sorting them (0.14x W3's throughput before, see bench/README.md).
SQLite has no INCLUDE; it gets the same key order.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NAME = "ix_enrollment_events_course_id_student_id_at"


def upgrade() -> None:
    op.drop_index(NAME, table_name="enrollment_events")
    op.create_index(
        NAME,
        "enrollment_events",
        ["course_id", "student_id", sa.text("at DESC"), sa.text("id DESC")],
        postgresql_include=["change"],
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="enrollment_events")
    op.create_index(NAME, "enrollment_events", ["course_id", "student_id", "at", "id"])
