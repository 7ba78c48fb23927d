"""Students: create, read, change and delete them."""

from __future__ import annotations

from typing import Any

from registrar.db import Database, Row, UniqueViolation
from registrar.db.queries import enrollments as enrollment_queries
from registrar.db.queries import students as q
from registrar.problems import AlreadyExists, NotFound
from registrar.schemas import StudentCreate, StudentUpdate, normalise_email
from registrar.services.common import Caller, page, utc_now
from registrar.services.enrollments import courses_of, leave_all


def student(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def roster_entry(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "email": row["email"], "enrolled_at": row["enrolled_at"]}


def _email_taken() -> AlreadyExists:
    return AlreadyExists("A student with that e-mail address already exists.")


async def create_student(db: Database, data: StudentCreate) -> dict[str, Any]:
    """Add a student; 409 when the e-mail address is taken."""
    async with db.transaction() as tx:
        row = await q.insert_student(tx, data.name, data.email, utc_now())
    if row is None:
        raise _email_taken()
    return student(row)


async def list_students(db: Database, after: int, limit: int, email: str | None) -> dict[str, Any]:
    """A page of students in id order, optionally only the one with an e-mail address."""
    async with db.connection() as conn:
        if email is None:
            rows = await q.student_page(conn, after, limit + 1)
        else:
            rows = await q.students_by_email(conn, normalise_email(email), after, limit + 1)
    return page(rows, limit, student)


async def get_student(db: Database, student_id: int) -> dict[str, Any]:
    """A student with its courses, in one statement."""
    async with db.connection() as conn:
        rows = await enrollment_queries.student_and_courses(conn, student_id)
    if not rows:
        raise NotFound(f"No student with id {student_id}.")
    return {**student(rows[0]), "courses": courses_of(rows)}


async def update_student(db: Database, student_id: int, changes: StudentUpdate) -> dict[str, Any]:
    """Change name and/or e-mail; `updated_at` moves only when a value really changes."""
    async with db.transaction() as tx:
        row = await q.lock_student(tx, student_id)
        if row is None:
            raise NotFound(f"No student with id {student_id}.")
        new = {"name": row["name"], "email": row["email"], **changes.model_dump(exclude_unset=True)}
        if new["name"] == row["name"] and new["email"] == row["email"]:
            return student(row)
        try:
            row = await q.update_student(tx, student_id, new["name"], new["email"], utc_now())
        except UniqueViolation:
            raise _email_taken() from None
    return student(row)


async def delete_student(db: Database, student_id: int, caller: Caller) -> None:
    """Delete a student and its enrollments, giving their seats back."""
    async with db.transaction() as tx:
        await leave_all(tx, student_id, caller)
        await q.delete_student(tx, student_id)
