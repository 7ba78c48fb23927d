"""Waitlists: a first-come, first-served list per course for when it is full.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from registrar.migrations.types import ID, TIMESTAMP

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = {
    # name: (constraint, rule); existing courses get no waitlist and nobody waiting
    "waitlist_capacity": ("ck_courses_waitlist_capacity_range", "waitlist_capacity BETWEEN 0 AND 1000"),
    "waitlisted": ("ck_courses_waitlisted_not_negative", "waitlisted >= 0"),
}


def upgrade() -> None:
    for column, (constraint, rule) in COLUMNS.items():
        if op.get_context().dialect.name == "sqlite":
            # SQLite cannot add a table constraint to an existing table, but a column may carry one.
            op.execute(
                f"ALTER TABLE courses ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0 "
                f"CONSTRAINT {constraint} CHECK ({rule})"
            )
        else:
            op.add_column("courses", sa.Column(column, sa.Integer(), server_default="0", nullable=False))
            op.create_check_constraint(constraint, "courses", rule)
    op.create_table(
        "waitlist_entries",
        # The id breaks ties between equal join times: it grows in the order students joined.
        sa.Column("id", ID, nullable=False),
        sa.Column("student_id", ID, nullable=False),
        sa.Column("course_id", ID, nullable=False),
        sa.Column("joined_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_waitlist_entries"),
        sa.UniqueConstraint("student_id", "course_id", name="uq_waitlist_entries_student_id"),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name="fk_waitlist_entries_student_id_students",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name="fk_waitlist_entries_course_id_courses", ondelete="RESTRICT"
        ),
    )
    # A course's list in position order; the unique constraint serves a student's entries.
    op.create_index(
        "ix_waitlist_entries_course_id_joined_at_id", "waitlist_entries", ["course_id", "joined_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_waitlist_entries_course_id_joined_at_id", table_name="waitlist_entries")
    op.drop_table("waitlist_entries")
    for column, (constraint, _) in reversed(COLUMNS.items()):
        if op.get_context().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE courses DROP COLUMN {column}")  # its constraint goes with it
        else:
            op.drop_constraint(constraint, "courses", type_="check")
            op.drop_column("courses", column)
