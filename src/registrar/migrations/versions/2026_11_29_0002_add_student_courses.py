"""Add student_courses, the enrollment junction table, and the seat count it needs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from registrar.migrations.types import ID, TIMESTAMP

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SEATS = "ck_courses_seats_within_capacity"
SEATS_RULE = "enrolled >= 0 AND (capacity IS NULL OR enrolled <= capacity)"


def upgrade() -> None:
    op.create_table(
        "student_courses",
        sa.Column("student_id", ID, nullable=False),
        sa.Column("course_id", ID, nullable=False),
        sa.Column("enrolled_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("student_id", "course_id", name="pk_student_courses"),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name="fk_student_courses_student_id_students", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name="fk_student_courses_course_id_courses", ondelete="RESTRICT"
        ),
    )
    # The primary key serves "a student's courses"; this index serves "a course's roster".
    op.create_index("ix_student_courses_course_id_student_id", "student_courses", ["course_id", "student_id"])
    if op.get_context().dialect.name == "sqlite":
        # SQLite cannot add a table constraint to an existing table, but a column may carry one.
        op.execute(
            f"ALTER TABLE courses ADD COLUMN enrolled INTEGER NOT NULL DEFAULT 0 CONSTRAINT {SEATS} CHECK ({SEATS_RULE})"
        )
    else:
        op.add_column("courses", sa.Column("enrolled", sa.Integer(), server_default="0", nullable=False))
        op.create_check_constraint(SEATS, "courses", SEATS_RULE)


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("ALTER TABLE courses DROP COLUMN enrolled")  # its constraint goes with it
    else:
        op.drop_constraint(SEATS, "courses", type_="check")
        op.drop_column("courses", "enrolled")
    op.drop_index("ix_student_courses_course_id_student_id", table_name="student_courses")
    op.drop_table("student_courses")
