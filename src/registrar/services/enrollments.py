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


async def lock_student(tx: Transaction, student_id: int) -> dict[int, dict[str, Any]]:
    """Lock the student and return its courses as CourseInfo by course id; 404 when it is missing."""
    rows = await q.lock_student_courses(tx, student_id)
    if rows is None:
        raise _no_student(student_id)
    return {r["id"]: course_info(r) for r in rows}


async def check_seats(tx: Transaction, joining: set[int], leaving: set[int]) -> dict[int, Row]:
    """Lock the courses whose seat counts will move and check the rules, before anything is
    written: unknown courses first, then full ones (only new enrollments take a seat)."""
    seats = {r["id"]: r for r in await q.lock_seats(tx, joining | leaving)}
    unknown = joining - seats.keys()
    if unknown:
        raise UnknownCourses(sorted(unknown))
    full = [
        i
        for i in sorted(joining)
        if seats[i]["capacity"] is not None and seats[i]["enrolled"] >= seats[i]["capacity"]
    ]
    if full:
        raise CourseFull(full)
    return seats


async def _move(
    tx: Transaction, student_id: int, current: dict[int, dict[str, Any]], joining: set[int], leaving: set[int]
) -> list[dict[str, Any]]:
    """Apply a checked change and return the student's courses after it, ordered by course id."""
    seats = await check_seats(tx, joining, leaving)
    now = utc_now()
    await q.leave_courses(tx, student_id, sorted(leaving))
    await q.join_courses(tx, student_id, sorted(joining), now)
    enrolled_at = tx.as_read_back(now)
    after = {i: info for i, info in current.items() if i not in leaving}
    after.update({i: {**course_info_of(seats[i]), "enrolled_at": enrolled_at} for i in joining})
    return [after[i] for i in sorted(after)]


def course_info_of(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "code": row["code"], "title": row["title"]}


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
    async with db.transaction() as tx:
        current = await lock_student(tx, student_id)
        joining = set(course_ids) - current.keys()
        courses = await _move(tx, student_id, current, joining, set())
    log_enrollment_change("enroll", student_id, sorted(joining), [], caller)
    return bool(joining), courses


async def replace(
    db: Database, student_id: int, course_ids: Iterable[int], caller: Caller
) -> list[dict[str, Any]]:
    """Make the student's set exactly `course_ids`; kept enrollments keep their enrollment time."""
    wanted = set(course_ids)
    async with db.transaction() as tx:
        current = await lock_student(tx, student_id)
        joining, leaving = wanted - current.keys(), current.keys() - wanted
        courses = await _move(tx, student_id, current, joining, leaving)
    log_enrollment_change("replace", student_id, sorted(joining), sorted(leaving), caller)
    return courses


async def drop(db: Database, student_id: int, course_id: int, caller: Caller) -> None:
    """Remove one course from the student's set; 404 when the student is not enrolled in it."""
    async with db.transaction() as tx:
        current = await lock_student(tx, student_id)
        if course_id not in current:
            raise NotFound(f"Student {student_id} is not enrolled in course {course_id}.")
        await _move(tx, student_id, current, set(), {course_id})
    log_enrollment_change("drop", student_id, [], [course_id], caller)


async def leave_all(tx: Transaction, student_id: int) -> list[int]:
    """Drop every course of the student (before it is deleted), freeing the seats."""
    current = await lock_student(tx, student_id)
    await _move(tx, student_id, current, set(), set(current))
    return sorted(current)
