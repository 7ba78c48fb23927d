"""The rules of enrollment: all or nothing, unknown courses before full ones, capacity never exceeded.

Every change to a student's courses first locks the student's row, then, in a second statement,
the rows of the courses whose seat counts may move, in ascending id order, reading the student's
enrollments in that same second statement (`queries.lock_seats_and_enrollments`). The first lock
queues concurrent changes to one student; reading the set only after it is granted makes the set
the one the previous change committed. The course locks make the seat check and the seat update
one step that no other request can come between, on PostgreSQL (row locks) and SQLite (one writer
at a time) alike, and the fixed order rules out deadlocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from registrar.db import Database, Row, Transaction
from registrar.db.queries import enrollments as q
from registrar.db.queries import waitlists as waitlist_queries
from registrar.problems import CourseFull, NotFound, UnknownCourses
from registrar.services import history
from registrar.services.common import Caller, log_enrollment_change, utc_now
from registrar.services.promotion import fill_freed_seats


def course_info(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "code": row["code"], "title": row["title"], "enrolled_at": row["enrolled_at"]}


def _no_student(student_id: int) -> NotFound:
    return NotFound(f"No student with id {student_id}.")


@dataclass(frozen=True, slots=True)
class Locked:
    """A student's enrollments and the seat counts of the courses a change may touch, read under
    their locks."""

    student_id: int
    current: dict[int, dict[str, Any]]  # CourseInfo by course id
    seats: dict[int, Row]  # locked course rows by id
    waiting: set[int]  # the courses the student waits for


async def lock(tx: Transaction, student_id: int, course_ids: Iterable[int], with_current: bool) -> Locked:
    """Lock the student, then the courses (`course_ids`, the current ones when they may be left,
    and those the student waits for); 404 when the student does not exist."""
    if not await q.lock_student(tx, student_id):
        raise _no_student(student_id)
    wanted = set(course_ids)
    rows = await q.lock_seats_and_enrollments(tx, student_id, wanted, with_current)
    if any(r["waiting"] for r in rows):
        # While that statement waited for a course's lock, a promotion holding it may have enrolled
        # the student: its set, read from before the wait, could be stale. Every course that can
        # change it is locked now (only the student's own requests, which queue behind its lock,
        # add waitlist entries), so a second reading is exact.
        rows = await q.lock_seats_and_enrollments(tx, student_id, wanted, with_current)
    return Locked(
        student_id,
        current={r["id"]: course_info(r) for r in rows if r["enrolled_at"] is not None},
        seats={r["id"]: r for r in rows if r["locked"]},
        waiting={r["id"] for r in rows if r["waiting"]},
    )


def check_seats(locked: Locked, joining: set[int]) -> None:
    """The rules, before anything is written: unknown courses first, then full ones (only new
    enrollments take a seat)."""
    seats = locked.seats
    unknown = joining - seats.keys()
    if unknown:
        raise UnknownCourses(sorted(unknown))
    full = [i for i in sorted(joining) if is_full(seats[i])]
    if full:
        raise CourseFull(full, [i for i in full if seats[i]["waitlisted"] < seats[i]["waitlist_capacity"]])


def is_full(course: Row) -> bool:
    return course["capacity"] is not None and course["enrolled"] >= course["capacity"]


async def _move(
    tx: Transaction, locked: Locked, joining: set[int], leaving: set[int], caller: Caller, cause: str = "api"
) -> list[dict[str, Any]]:
    """Apply a checked change, recording it in the history and filling the seats it frees from the
    waitlists, and return the student's courses after it, ordered by course id."""
    why = q.Why(cause, caller.request_id, caller.key_id)
    check_seats(locked, joining)
    now = utc_now()
    await q.leave_courses(tx, locked.student_id, sorted(leaving), now, why)
    await q.join_courses(tx, locked.student_id, sorted(joining), now, why)
    await fill_freed_seats(tx, (locked.seats[i] for i in leaving), caller)
    enrolled_at = tx.as_read_back(now)
    after = {i: info for i, info in locked.current.items() if i not in leaving}
    after.update({i: {**course_info_of(locked.seats[i]), "enrolled_at": enrolled_at} for i in joining})
    return [after[i] for i in sorted(after)]


def course_info_of(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "code": row["code"], "title": row["title"]}


async def list_courses(db: Database, student_id: int, as_of: datetime | None = None) -> list[dict[str, Any]]:
    """The student's courses, ordered by course id: now, or as they were at instant `as_of`."""
    if (past := history.in_the_past(as_of)) is not None:
        return await history.student_courses_as_of(db, student_id, past)
    async with db.connection() as conn:
        rows = await q.student_and_courses(conn, student_id)
    if not rows:
        raise _no_student(student_id)
    return courses_of(rows)


def courses_of(rows: list[Row]) -> list[dict[str, Any]]:
    """CourseInfo from the rows of `queries.enrollments.student_and_courses`."""
    return [
        {"id": r["course_id"], "code": r["code"], "title": r["title"], "enrolled_at": r["enrolled_at"]}
        for r in rows
        if r["course_id"] is not None
    ]


def _report(
    tx: Transaction, action: str, student_id: int, added: list[int], removed: list[int], caller: Caller
) -> None:
    """The enrollment log line, written once the change has committed (never for one that did not)."""
    tx.after_commit(partial(log_enrollment_change, action, student_id, added, removed, caller))


async def enroll(
    db: Database, student_id: int, course_ids: Iterable[int], caller: Caller
) -> tuple[bool, list[dict[str, Any]]]:
    """Add courses to the student's set; answers whether anything was added, and the whole set."""
    wanted = set(course_ids)
    async with db.transaction() as tx:
        locked = await lock(tx, student_id, wanted, with_current=False)
        joining = wanted - locked.current.keys()
        courses = await _move(tx, locked, joining, set(), caller)
        _report(tx, "enroll", student_id, sorted(joining), [], caller)
    return bool(joining), courses


async def replace(
    db: Database, student_id: int, course_ids: Iterable[int], caller: Caller
) -> list[dict[str, Any]]:
    """Make the student's set exactly `course_ids`; kept enrollments keep their enrollment time."""
    wanted = set(course_ids)
    async with db.transaction() as tx:
        locked = await lock(tx, student_id, wanted, with_current=True)
        joining, leaving = wanted - locked.current.keys(), locked.current.keys() - wanted
        courses = await _move(tx, locked, joining, leaving, caller)
        _report(tx, "replace", student_id, sorted(joining), sorted(leaving), caller)
    return courses


async def drop(db: Database, student_id: int, course_id: int, caller: Caller) -> None:
    """Remove one course from the student's set; 404 when the student is not enrolled in it."""
    async with db.transaction() as tx:
        locked = await lock(tx, student_id, {course_id}, with_current=False)
        if course_id not in locked.current:
            raise NotFound(f"Student {student_id} is not enrolled in course {course_id}.")
        await _move(tx, locked, set(), {course_id}, caller)
        _report(tx, "drop", student_id, [], [course_id], caller)


async def leave_all(tx: Transaction, student_id: int, caller: Caller) -> None:
    """Take the student (about to be deleted) off every course and waitlist, freeing the seats."""
    locked = await lock(tx, student_id, (), with_current=True)
    leaving = set(locked.current)
    await waitlist_queries.leave(tx, student_id, sorted(locked.waiting))
    await _move(tx, locked, set(), leaving, caller, "student-deleted")
    _report(tx, "delete_student", student_id, [], sorted(leaving), caller)
