"""The roster-as-of index on PostgreSQL only.

Revision 0009's index lets PostgreSQL answer a roster as of an instant from the index alone. SQLite
gained nothing from it: its plan ranks the course's events with a window function and sorts them,
index or not (the same 1.07 ms a roster of 250 events on the benchmark's data, with and without).
But every enrollment written paid for a third index entry per event, with its log pages and their
checkpoint: a W2 transaction on SQLite ran 1.11M instructions with it and 1.06M without (callgrind,
bench/README.md). SQLite drops it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NAME = "ix_enrollment_events_course_id_student_id_at"


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.drop_index(NAME, table_name="enrollment_events")


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.create_index(
            NAME, "enrollment_events", ["course_id", "student_id", sa.text("at DESC"), sa.text("id DESC")]
        )
