"""Enrollment history: an append-only event per change, and one `migration` event per enrollment
that exists, so that "as of" answers are right for older data too.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from registrar.migrations.types import ID, TIMESTAMP

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CHANGES = "change IN ('enrolled', 'dropped')"
CAUSES = "cause IN ('api', 'student-deleted', 'waitlist', 'seed', 'import', 'migration')"


def upgrade() -> None:
    # No foreign keys to students or courses: a deleted student's or course's history stays.
    op.create_table(
        "enrollment_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("student_id", ID, nullable=False),
        sa.Column("course_id", ID, nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("cause", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("key_id", ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_enrollment_events"),
        sa.CheckConstraint(CHANGES, name="ck_enrollment_events_change_known"),
        sa.CheckConstraint(CAUSES, name="ck_enrollment_events_cause_known"),
    )
    # The set-based backfill: one statement, in the order the enrollments were made.
    op.execute(
        "INSERT INTO enrollment_events (at, student_id, course_id, change, cause) "
        "SELECT enrolled_at, student_id, course_id, 'enrolled', 'migration' FROM student_courses "
        "ORDER BY enrolled_at, student_id, course_id"
    )
    # Built after the backfill, each in one sort. A student's and a course's history, by event id:
    op.create_index("ix_enrollment_events_student_id_id", "enrollment_events", ["student_id", "id"])
    op.create_index("ix_enrollment_events_course_id_id", "enrollment_events", ["course_id", "id"])
    # A roster as of an instant: per student of the course, the latest event at or before it (the
    # index hands the events over by student, and each student's few are sorted on the way).
    op.create_index(
        "ix_enrollment_events_course_id_student_id_at",
        "enrollment_events",
        ["course_id", "student_id", "at", "id"],
    )


def downgrade() -> None:
    # Enrollments live in student_courses: dropping their history keeps every one of them.
    op.drop_index("ix_enrollment_events_course_id_student_id_at", table_name="enrollment_events")
    op.drop_index("ix_enrollment_events_course_id_id", table_name="enrollment_events")
    op.drop_index("ix_enrollment_events_student_id_id", table_name="enrollment_events")
    op.drop_table("enrollment_events")
