"""A student's courses: the rows of student_courses and the seat counts they move."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from registrar.db.core import Row, Sql, Transaction

# NO KEY UPDATE, not UPDATE: a promotion, which holds a course's lock and takes no student lock,
# still needs a KEY SHARE lock on the promoted student for the foreign key of the row it inserts;
# FOR UPDATE would make it wait for this student's request, which may be waiting for that course.
_LOCK_STUDENT = Sql(
    "SELECT id FROM students WHERE id = $1 FOR NO KEY UPDATE",
    "SELECT id FROM students WHERE id = ?1",
)


async def lock_student(tx: Transaction, student_id: int) -> bool:
    """Lock the student's row, so that every change to one student's courses and waitlists queues
    behind it; False when the student does not exist. Read what the student has with a later
    statement: see `lock_seats_and_enrollments`."""
    return await tx.fetchval(_LOCK_STUDENT, student_id) is not None


# `seats` locks the courses whose seat counts may move, in ascending id order: the requested
# ones; with $3 also every course the student is in now (a PUT or a deletion may free those); and
# every course it waits for (a promotion, which holds only the course's lock, may enrol it).
# The ids are gathered first and the courses found by primary key: an OR of subqueries in the WHERE
# clause made PostgreSQL read every course to lock one.
# What the student has is read in this statement, never in the one that locked the student: under
# READ COMMITTED a statement that waited for a row lock sees the other rows as they were when it
# started, so a set read together with the student's lock can miss the change of the request it
# waited for (an enrollment, or a first waitlist entry).
_SEATS_AND_ENROLLMENTS = Sql(
    "WITH mine AS (SELECT course_id, enrolled_at FROM student_courses WHERE student_id = $1), "
    "waits AS (SELECT course_id FROM waitlist_entries WHERE student_id = $1), "
    "seats AS (SELECT id, code, title, capacity, enrolled, waitlist_capacity, waitlisted FROM courses "
    "WHERE id = ANY(ARRAY(SELECT unnest($2::bigint[]) UNION SELECT course_id FROM mine WHERE $3 "
    "UNION SELECT course_id FROM waits)) ORDER BY id FOR UPDATE) "
    "SELECT s.id, s.code, s.title, s.capacity, s.enrolled, s.waitlist_capacity, s.waitlisted, m.enrolled_at, "
    "true AS locked, s.id IN (SELECT course_id FROM waits) AS waiting "
    "FROM seats s LEFT JOIN mine m ON m.course_id = s.id "
    "UNION ALL SELECT c.id, c.code, c.title, c.capacity, c.enrolled, c.waitlist_capacity, c.waitlisted, "
    "m.enrolled_at, false, false FROM mine m JOIN courses c ON c.id = m.course_id "
    "WHERE m.course_id NOT IN (SELECT id FROM seats)",
    "WITH mine AS (SELECT course_id, enrolled_at FROM student_courses WHERE student_id = ?1), "
    "waits AS (SELECT course_id FROM waitlist_entries WHERE student_id = ?1), "
    "seats AS (SELECT id, code, title, capacity, enrolled, waitlist_capacity, waitlisted FROM courses "
    "WHERE id IN (SELECT value FROM json_each(?2) UNION SELECT course_id FROM mine WHERE ?3 "
    "UNION SELECT course_id FROM waits)) "
    "SELECT s.id, s.code, s.title, s.capacity, s.enrolled, s.waitlist_capacity, s.waitlisted, m.enrolled_at, "
    "1 AS locked, s.id IN (SELECT course_id FROM waits) AS waiting "
    "FROM seats s LEFT JOIN mine m ON m.course_id = s.id "
    "UNION ALL SELECT c.id, c.code, c.title, c.capacity, c.enrolled, c.waitlist_capacity, c.waitlisted, "
    "m.enrolled_at, 0, 0 FROM mine m JOIN courses c ON c.id = m.course_id "
    "WHERE m.course_id NOT IN (SELECT id FROM seats)",
)


async def lock_seats_and_enrollments(
    tx: Transaction, student_id: int, course_ids: Iterable[int], with_current: bool
) -> list[Row]:
    """For a student whose row the caller has locked: lock the seat counts of `course_ids`, of the
    courses the student waits for, and with `with_current` of its current courses, in ascending id
    order, and read the student's enrollments. One row per course that is requested, current or
    waited for: id, code, title, capacity, enrolled, waitlist_capacity, waitlisted, enrolled_at
    (null when not enrolled), locked, waiting.

    Two requests that touch overlapping courses take the locks in the same order, so they queue
    instead of deadlocking, and the second one reads the seat count the first one committed.
    """
    return await tx.fetch(_SEATS_AND_ENROLLMENTS, student_id, sorted(course_ids), with_current)


@dataclass(frozen=True, slots=True)
class Why:
    """What the history records of who made a change: the cause (contract section 7) and, for a
    request, its id and API key."""

    cause: str
    request_id: str | None = None
    key_id: int | None = None


# On PostgreSQL the rows, the seat counts and the history move in one statement (one round trip).
_JOIN_COURSES = Sql(
    "WITH joined AS (INSERT INTO student_courses (student_id, course_id, enrolled_at) "
    "SELECT $1, course_id, $3 FROM unnest($2::bigint[]) AS course_id RETURNING course_id), "
    "seats AS (UPDATE courses SET enrolled = enrolled + 1 FROM joined WHERE courses.id = joined.course_id) "
    "INSERT INTO enrollment_events (at, student_id, course_id, change, cause, request_id, key_id) "
    "SELECT $3, $1, course_id, 'enrolled', $4, $5, $6 FROM joined ORDER BY course_id",
    "INSERT INTO student_courses (student_id, course_id, enrolled_at) SELECT ?1, value, ?3 FROM json_each(?2)",
)
_LEAVE_COURSES = Sql(
    "WITH left_ AS (DELETE FROM student_courses WHERE student_id = $1 AND course_id = ANY($2::bigint[]) "
    "RETURNING course_id), "
    "seats AS (UPDATE courses SET enrolled = enrolled - 1 FROM left_ WHERE courses.id = left_.course_id) "
    "INSERT INTO enrollment_events (at, student_id, course_id, change, cause, request_id, key_id) "
    "SELECT $3, $1, course_id, 'dropped', $4, $5, $6 FROM left_ ORDER BY course_id",
    "DELETE FROM student_courses WHERE student_id = ?1 AND course_id IN (SELECT value FROM json_each(?2))",
)
# SQLite cannot write in a WITH clause: there the seat counts and the history move in statements of
# their own (which cost no round trip on an embedded database).
_MOVE_SEATS = Sql(
    "UPDATE courses SET enrolled = enrolled + $2 WHERE id = ANY($1::bigint[])",
    "UPDATE courses SET enrolled = enrolled + ?2 WHERE id IN (SELECT value FROM json_each(?1))",
)
_RECORD_EVENTS = Sql(
    "INSERT INTO enrollment_events (at, student_id, course_id, change, cause, request_id, key_id) "
    "SELECT $3, $1, course_id, $4, $5, $6, $7 FROM unnest($2::bigint[]) AS course_id ORDER BY course_id",
    "INSERT INTO enrollment_events (at, student_id, course_id, change, cause, request_id, key_id) "
    "SELECT ?3, ?1, value, ?4, ?5, ?6, ?7 FROM json_each(?2) ORDER BY value",
)


async def join_courses(
    tx: Transaction, student_id: int, course_ids: Sequence[int], now: datetime, why: Why
) -> None:
    """Enroll the student in courses whose rows the caller has locked, take their seats, and record
    the `enrolled` events (at `now`, the enrollments' enrolled_at)."""
    if not course_ids:
        return
    ids = list(course_ids)
    if tx.dialect == "postgresql":
        await tx.execute(_JOIN_COURSES, student_id, ids, now, why.cause, why.request_id, why.key_id)
        return
    await tx.execute(_JOIN_COURSES, student_id, ids, now)
    await _seats_and_events(tx, student_id, ids, now, "enrolled", why)


async def leave_courses(
    tx: Transaction, student_id: int, course_ids: Sequence[int], now: datetime, why: Why
) -> None:
    """Drop the student from courses whose rows the caller has locked, free their seats, and record
    the `dropped` events (at `now`)."""
    if not course_ids:
        return
    ids = list(course_ids)
    if tx.dialect == "postgresql":
        await tx.execute(_LEAVE_COURSES, student_id, ids, now, why.cause, why.request_id, why.key_id)
        return
    await tx.execute(_LEAVE_COURSES, student_id, ids)
    await _seats_and_events(tx, student_id, ids, now, "dropped", why)


async def _seats_and_events(
    tx: Transaction, student_id: int, ids: list[int], now: datetime, change: str, why: Why
) -> None:
    """SQLite's second and third statements of a join or a leave."""
    await tx.execute(_MOVE_SEATS, ids, +1 if change == "enrolled" else -1)
    await tx.execute(_RECORD_EVENTS, student_id, ids, now, change, why.cause, why.request_id, why.key_id)


_STUDENT_AND_COURSES = Sql(
    "SELECT s.id, s.name, s.email, s.created_at, s.updated_at, "
    "c.id AS course_id, c.code, c.title, sc.enrolled_at "
    "FROM students s LEFT JOIN student_courses sc ON sc.student_id = s.id "
    "LEFT JOIN courses c ON c.id = sc.course_id WHERE s.id = $1 ORDER BY c.id"
)


async def student_and_courses(tx: Transaction, student_id: int) -> list[Row]:
    """The student and its courses in one statement: one row per course (the course columns
    null when there is none), ordered by course id; no rows when the student does not exist."""
    return await tx.fetch(_STUDENT_AND_COURSES, student_id)
