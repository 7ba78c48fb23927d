"""The rules of enrollment: all or nothing, unknown courses before full ones, capacity never exceeded.

Every change to a student's courses first locks the student's row, then the rows of the courses
whose seat counts move, in ascending id order (`queries.lock_seats`). The first lock queues
concurrent changes to one student, so the set they compute from is current; the second makes the
seat check and the seat update one step that no other request can come between, on PostgreSQL
(row locks) and SQLite (one writer at a time) alike, and the fixed order rules out deadlocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from registrar.db import Database, Row, Transaction
from registrar.db import queries as q
from registrar.problems import CourseFull, NotFound, UnknownCourses
from registrar.services.common import Caller, log_enrollment_change, utc_now


def course_info(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "code": row["code"], "title": row["title"], "enrolled_at": row["enrolled_at"]}


def _no_student(student_id: int) -> NotFound:
    return NotFound(f"No student with id {student_id}.")


async def _lock_student(tx: Transaction, student_id: int) -> set[int]:
    course_ids = await q.lock_student_course_ids(tx, student_id)
    if course_ids is None:
        raise _no_student(student_id)
    return course_ids


async def take_seats(tx: Transaction, joining: set[int], leaving: set[int]) -> None:
    """Check and move the seat counts; raises before anything is written."""
    seats = await q.lock_seats(tx, joining | leaving)
    unknown = joining - {r["id"] for r in seats}
    if unknown:
        raise UnknownCourses(sorted(unknown))
    full = [
        r["id"]
        for r in seats
        if r["id"] in joining and r["capacity"] is not None and r["enrolled"] >= r["capacity"]
    ]
    if full:
        raise CourseFull(full)
    await q.add_seats(tx, sorted(joining), +1)
    await q.add_seats(tx, sorted(leaving), -1)


async def list_courses(db: Database, student_id: int) -> list[dict[str, Any]]:
    """The student's courses, ordered by course id."""
    async with db.connection() as conn:
        rows = await q.student_courses_or_missing(conn, student_id)
    if rows is None:
        raise _no_student(student_id)
    return [course_info(r) for r in rows]


async def enroll(
    db: Database, student_id: int, course_ids: Iterable[int], caller: Caller
) -> tuple[bool, list[dict[str, Any]]]:
    """Add courses to the student's set; answers whether anything was added, and the whole set."""
    wanted = set(course_ids)
    async with db.transaction() as tx:
        joining = wanted - await _lock_student(tx, student_id)
        await take_seats(tx, joining, set())
        await q.insert_enrollments(tx, student_id, sorted(joining), utc_now())
        rows = await q.student_courses(tx, student_id)
    log_enrollment_change("enroll", student_id, sorted(joining), [], caller)
    return bool(joining), [course_info(r) for r in rows]


async def replace(
    db: Database, student_id: int, course_ids: Iterable[int], caller: Caller
) -> list[dict[str, Any]]:
    """Make the student's set exactly `course_ids`; kept enrollments keep their enrollment time."""
    wanted = set(course_ids)
    async with db.transaction() as tx:
        current = await _lock_student(tx, student_id)
        joining, leaving = wanted - current, current - wanted
        await take_seats(tx, joining, leaving)
        await q.delete_enrollments(tx, student_id, sorted(leaving))
        await q.insert_enrollments(tx, student_id, sorted(joining), utc_now())
        rows = await q.student_courses(tx, student_id)
    log_enrollment_change("replace", student_id, sorted(joining), sorted(leaving), caller)
    return [course_info(r) for r in rows]


async def drop(db: Database, student_id: int, course_id: int, caller: Caller) -> None:
    """Remove one course from the student's set; 404 when the student is not enrolled in it."""
    async with db.transaction() as tx:
        if course_id not in await _lock_student(tx, student_id):
            raise NotFound(f"Student {student_id} is not enrolled in course {course_id}.")
        await take_seats(tx, set(), {course_id})
        await q.delete_enrollments(tx, student_id, [course_id])
    log_enrollment_change("drop", student_id, [], [course_id], caller)
