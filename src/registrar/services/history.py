"""Enrollment history (contract section 7): the events of a student or a course, and the
enrollments as they stood at any instant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from registrar.db import Database, Row
from registrar.db.queries import courses as course_queries
from registrar.db.queries import history as q
from registrar.db.queries import students as student_queries
from registrar.problems import NotFound
from registrar.services.common import page, utc_now


def event(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "at": row["at"],
        "student_id": row["student_id"],
        "course_id": row["course_id"],
        "change": row["change"],
        "cause": row["cause"],
        "request_id": row["request_id"],
        "key_id": row["key_id"],
    }


def in_the_past(as_of: datetime | None) -> datetime | None:
    """The instant to look back to, in UTC; None when the answer is the present one (no instant,
    or one that has not come yet)."""
    if as_of is None:
        return None
    try:
        as_of = as_of.astimezone(UTC)
    except OverflowError:  # within hours of the first or the last instant a datetime can hold
        return datetime.min.replace(tzinfo=UTC) if as_of.year == 1 else None
    return as_of if as_of < utc_now() else None


async def student_history(db: Database, student_id: int, after: int, limit: int) -> dict[str, Any]:
    """A page of the student's events, oldest first; 404 for a student that does not exist now."""
    async with db.connection() as conn:
        if not await student_queries.student_exists(conn, student_id):
            raise NotFound(f"No student with id {student_id}.")
        rows = await q.student_events(conn, student_id, after, limit + 1)
    return page(rows, limit, event)


async def course_history(db: Database, course_id: int, after: int, limit: int) -> dict[str, Any]:
    """A page of the course's events, deleted students' included; 404 for a course that does not
    exist now."""
    async with db.connection() as conn:
        if not await course_queries.course_exists(conn, course_id):
            raise NotFound(f"No course with id {course_id}.")
        rows = await q.course_events(conn, course_id, after, limit + 1)
    return page(rows, limit, event)


async def student_courses_as_of(db: Database, student_id: int, at: datetime) -> list[dict[str, Any]]:
    """The student's courses at instant `at` (UTC, in the past), by course id."""
    async with db.connection() as conn:
        rows = await q.student_courses_as_of(conn, student_id, at)
        # The rows are there only if the student is (its past outlives it); an empty answer asks.
        if not rows and not await student_queries.student_exists(conn, student_id):
            raise NotFound(f"No student with id {student_id}.")
    return [dict(zip(("id", "code", "title", "enrolled_at"), r, strict=True)) for r in rows]


async def roster_as_of(db: Database, course_id: int, at: datetime, after: int, limit: int) -> dict[str, Any]:
    """A page of the course's roster at instant `at` (UTC, in the past), by student id."""
    async with db.connection() as conn:
        rows = await q.roster_as_of(conn, course_id, at, after, limit + 1)
        # The rows are there only if the course is (its past outlives it); an empty page asks.
        if not rows and not await course_queries.course_exists(conn, course_id):
            raise NotFound(f"No course with id {course_id}.")
    return page(rows, limit, lambda r: dict(zip(("id", "name", "email", "enrolled_at"), r, strict=True)))
