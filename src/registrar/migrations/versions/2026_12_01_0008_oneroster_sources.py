"""OneRoster sources: which students, courses and enrollments each import source made or adopted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

from registrar.migrations.types import ID, TIMESTAMP

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# table: the registrar rows its sourcedIds stand for (each mapping goes with its student or course)
TABLES = {
    "oneroster_users": ("student_id",),
    "oneroster_classes": ("course_id",),
    "oneroster_enrollments": ("student_id", "course_id"),
}
REFERRED = {"student_id": "students", "course_id": "courses"}


def _columns(table: str, refs: tuple[str, ...]) -> list[SchemaItem]:
    items: list[SchemaItem] = [
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("sourced_id", sa.String(255), nullable=False),
        *(sa.Column(ref, ID, nullable=False) for ref in refs),
        # dateLastModified of the row last applied (delta files only): older rows are stale.
        sa.Column("modified", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("source", "sourced_id", name=f"pk_{table}"),
    ]
    items += [
        sa.ForeignKeyConstraint(
            [ref], [f"{REFERRED[ref]}.id"], name=f"fk_{table}_{ref}_{REFERRED[ref]}", ondelete="CASCADE"
        )
        for ref in refs
    ]
    if len(refs) == 1:  # one sourcedId per student or course and source
        items.append(sa.UniqueConstraint(refs[0], "source", name=f"uq_{table}_{refs[0]}"))
    return items


def upgrade() -> None:
    for table, refs in TABLES.items():
        op.create_table(table, *_columns(table, refs))
    # The cascades from students and courses, and the source's pairs by student.
    op.create_index(
        "ix_oneroster_enrollments_student_id", "oneroster_enrollments", ["student_id", "course_id"]
    )
    op.create_index("ix_oneroster_enrollments_course_id", "oneroster_enrollments", ["course_id"])


def downgrade() -> None:
    op.drop_index("ix_oneroster_enrollments_course_id", table_name="oneroster_enrollments")
    op.drop_index("ix_oneroster_enrollments_student_id", table_name="oneroster_enrollments")
    for table in reversed(TABLES):
        op.drop_table(table)
