"""Courses: create, read, change, delete, and their rosters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from registrar.db import Database, Row, UniqueViolation
from registrar.db.queries import courses as q
from registrar.problems import AlreadyExists, CapacityBelowEnrolled, CourseHasEnrollments, NotFound
from registrar.schemas import CourseCreate, CourseUpdate, normalise_code
from registrar.services import history
from registrar.services.common import Caller, page, utc_now
from registrar.services.promotion import fill_freed_seats
from registrar.services.students import roster_entry


def course(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "code": row["code"],
        "title": row["title"],
        "capacity": row["capacity"],
        "enrolled": row["enrolled"],
        "waitlist_capacity": row["waitlist_capacity"],
        "waitlisted": row["waitlisted"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _code_taken() -> AlreadyExists:
    return AlreadyExists("A course with that code already exists.")


def _missing(course_id: int) -> NotFound:
    return NotFound(f"No course with id {course_id}.")


async def create_course(db: Database, data: CourseCreate) -> dict[str, Any]:
    """Add a course; 409 when the code is taken (ignoring case)."""
    async with db.transaction() as tx:
        row = await q.insert_course(
            tx, data.code, data.title, data.capacity, utc_now(), data.waitlist_capacity
        )
    if row is None:
        raise _code_taken()
    return course(row)


async def list_courses(db: Database, after: int, limit: int, code: str | None) -> dict[str, Any]:
    """A page of courses in id order, optionally only the one with a code."""
    async with db.connection() as conn:
        if code is None:
            rows = await q.course_page(conn, after, limit + 1)
        else:
            rows = await q.courses_by_code(conn, normalise_code(code), after, limit + 1)
    return page(rows, limit, course)


async def get_course(db: Database, course_id: int) -> dict[str, Any]:
    """One course with its seat count."""
    async with db.connection() as conn:
        row = await q.course(conn, course_id)
    if row is None:
        raise _missing(course_id)
    return course(row)


async def update_course(
    db: Database, course_id: int, changes: CourseUpdate, caller: Caller | None = None
) -> dict[str, Any]:
    """Change code, title, capacity and/or waitlist capacity; capacity may not drop below the number
    enrolled, and seats it adds go to the waitlist at once. Answers the course after that."""
    async with db.transaction() as tx:
        row = await q.lock_course(tx, course_id)
        if row is None:
            raise _missing(course_id)
        current = {key: row[key] for key in ("code", "title", "capacity", "waitlist_capacity")}
        new = {**current, **changes.model_dump(exclude_unset=True)}
        if new["capacity"] is not None and new["capacity"] < row["enrolled"]:
            raise CapacityBelowEnrolled(
                f"{row['enrolled']} students are enrolled; the capacity cannot go below that.",
                enrolled=row["enrolled"],
            )
        if new == current:
            return course(row)
        try:
            updated = await q.update_course(
                tx, course_id, new["code"], new["title"], new["capacity"], utc_now(), new["waitlist_capacity"]
            )
        except UniqueViolation:
            raise _code_taken() from None
        if await fill_freed_seats(tx, [updated], caller or Caller()):
            updated = await q.lock_course(tx, course_id)
    return course(updated)


async def delete_course(db: Database, course_id: int) -> None:
    """Delete a course nobody is enrolled in."""
    async with db.transaction() as tx:
        row = await q.lock_course(tx, course_id)
        if row is None:
            raise _missing(course_id)
        if row["enrolled"] > 0 or row["waitlisted"] > 0:
            raise CourseHasEnrollments(
                f"{row['enrolled']} students are enrolled and {row['waitlisted']} wait; "
                "drop them and empty the waitlist first.",
                enrolled=row["enrolled"],
                waitlisted=row["waitlisted"],
            )
        await q.delete_course(tx, course_id)


async def roster(
    db: Database, course_id: int, after: int, limit: int, as_of: datetime | None = None
) -> dict[str, Any]:
    """A page of the course's students, by student id: now, or as they were at instant `as_of`."""
    if (past := history.in_the_past(as_of)) is not None:
        return await history.roster_as_of(db, course_id, past, after, limit)
    async with db.connection() as conn:
        rows = await q.roster_page(conn, course_id, after, limit + 1)
        # An empty page is the only one that needs to ask whether the course exists.
        if not rows and not await q.course_exists(conn, course_id):
            raise _missing(course_id)
    return page(rows, limit, roster_entry)
