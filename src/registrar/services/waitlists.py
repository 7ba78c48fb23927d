"""Waitlists (contract section 8): joining and leaving them, and where everyone stands.

Joining and leaving take the same locks as an enrollment (the student, then the course), so the
rules are checked against the seat and waitlist counts that every other request respects.
Promotion is `services.promotion`.
"""

from __future__ import annotations

from typing import Any

from registrar.db import Database, Row
from registrar.db.queries import courses as course_queries
from registrar.db.queries import students as student_queries
from registrar.db.queries import waitlists as q
from registrar.problems import AlreadyEnrolled, CourseNotFull, NotFound, UnknownCourses, WaitlistFull
from registrar.services.common import utc_now
from registrar.services.enrollments import is_full, lock


def entry(row: Row) -> dict[str, Any]:
    keys = ("course_id", "code", "title", "position", "joined_at")
    return {key: row[key] for key in keys}


def waiting_student(row: Row) -> dict[str, Any]:
    return {key: row[key] for key in ("id", "name", "email", "position", "joined_at")}


async def join(db: Database, student_id: int, course_id: int) -> tuple[bool, dict[str, Any]]:
    """Put the student on the course's waitlist; answers whether it joined now (False: it already
    waited), and its entry. The first rule that fails answers, in the contract's order."""
    async with db.transaction() as tx:
        locked = await lock(tx, student_id, {course_id}, with_current=False)
        course = locked.seats.get(course_id)
        if course is None:
            raise UnknownCourses([course_id])
        if course_id not in locked.waiting:
            _check_may_join(course, enrolled=course_id in locked.current)
            await q.join(tx, student_id, course_id, utc_now())
        row = await q.entry(tx, student_id, course_id)
    assert row is not None, "the entry was there or was just made, under the course's lock"
    return course_id not in locked.waiting, entry(row)


def _check_may_join(course: Row, enrolled: bool) -> None:
    if enrolled:
        raise AlreadyEnrolled(f"The student is enrolled in course {course['id']}.")
    if not is_full(course):
        raise CourseNotFull(f"Course {course['id']} has a free seat: enroll instead.")
    if course["waitlisted"] >= course["waitlist_capacity"]:
        raise WaitlistFull(
            f"{course['waitlisted']} students wait for course {course['id']}; its waitlist holds "
            f"{course['waitlist_capacity']}.",
            waitlist_capacity=course["waitlist_capacity"],
        )


async def leave(db: Database, student_id: int, course_id: int) -> None:
    """Take the student off the course's waitlist; 404 when it does not wait for it."""
    async with db.transaction() as tx:
        locked = await lock(tx, student_id, {course_id}, with_current=False)
        if course_id not in locked.waiting:
            raise NotFound(f"Student {student_id} does not wait for course {course_id}.")
        await q.leave(tx, student_id, [course_id])


async def student_waitlist(db: Database, student_id: int) -> list[dict[str, Any]]:
    """The courses the student waits for, by course id, each with its position."""
    async with db.connection() as conn:
        if not await student_queries.student_exists(conn, student_id):
            raise NotFound(f"No student with id {student_id}.")
        rows = await q.student_waitlist(conn, student_id)
    return [entry(r) for r in rows]


async def course_waitlist(db: Database, course_id: int) -> list[dict[str, Any]]:
    """Who waits for the course, in position order."""
    async with db.connection() as conn:
        if not await course_queries.course_exists(conn, course_id):
            raise NotFound(f"No course with id {course_id}.")
        rows = await q.course_waitlist(conn, course_id)
    return [waiting_student(r) for r in rows]
