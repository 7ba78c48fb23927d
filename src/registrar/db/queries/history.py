"""Enrollment history: the events (written by `queries.enrollments` and `queries.bulk` with the
changes themselves) and what they say about any instant."""

from __future__ import annotations

from datetime import datetime

from registrar.db.core import Row, Sql, Transaction

EVENT_COLUMNS = "id, at, student_id, course_id, change, cause, request_id, key_id"

_STUDENT_EVENTS = Sql(
    f"SELECT {EVENT_COLUMNS} FROM enrollment_events WHERE student_id = $1 AND id > $2 ORDER BY id LIMIT $3"
)
_COURSE_EVENTS = Sql(
    f"SELECT {EVENT_COLUMNS} FROM enrollment_events WHERE course_id = $1 AND id > $2 ORDER BY id LIMIT $3"
)


async def student_events(tx: Transaction, student_id: int, after: int, limit: int) -> list[Row]:
    return await tx.fetch(_STUDENT_EVENTS, student_id, after, limit)


async def course_events(tx: Transaction, course_id: int, after: int, limit: int) -> list[Row]:
    return await tx.fetch(_COURSE_EVENTS, course_id, after, limit)


# Who was enrolled at an instant: per (student, course), the latest event at or before it, when
# that is an `enrolled` one. On PostgreSQL an index-only scan of ix_enrollment_events_course_id_
# student_id_at hands DISTINCT ON the rows in its own order (course, student, at DESC, id DESC), and
# stops once a page is full; SQLite ranks the course's events (ix_enrollment_events_course_id_id)
# with a window function, which sorts them whatever the index (so it has none of its own, revision
# 0010). The events outlive their course or student: EXISTS keeps them out once it is gone (a
# one-time check).
_ROSTER_AS_OF = Sql(
    "SELECT l.student_id AS id, s.name, s.email, l.at AS enrolled_at FROM ("
    "SELECT DISTINCT ON (student_id) student_id, change, at FROM enrollment_events "
    "WHERE course_id = $1 AND at <= $2 AND student_id > $3 AND EXISTS (SELECT FROM courses WHERE id = $1) "
    "ORDER BY student_id, at DESC, id DESC) l "
    "LEFT JOIN students s ON s.id = l.student_id WHERE l.change = 'enrolled' ORDER BY l.student_id LIMIT $4",
    "SELECT l.student_id AS id, s.name, s.email, l.at AS enrolled_at FROM ("
    "SELECT student_id, change, at, row_number() OVER (PARTITION BY student_id ORDER BY at DESC, id DESC) AS n "
    "FROM enrollment_events WHERE course_id = ?1 AND at <= ?2 AND student_id > ?3 "
    "AND EXISTS (SELECT 1 FROM courses WHERE id = ?1)) l "
    "LEFT JOIN students s ON s.id = l.student_id WHERE l.n = 1 AND l.change = 'enrolled' "
    "ORDER BY l.student_id LIMIT ?4",
)
_STUDENT_COURSES_AS_OF = Sql(
    "SELECT l.course_id AS id, c.code, c.title, l.at AS enrolled_at FROM ("
    "SELECT DISTINCT ON (course_id) course_id, change, at FROM enrollment_events "
    "WHERE student_id = $1 AND at <= $2 AND EXISTS (SELECT FROM students WHERE id = $1) "
    "ORDER BY course_id, at DESC, id DESC) l "
    "LEFT JOIN courses c ON c.id = l.course_id WHERE l.change = 'enrolled' ORDER BY l.course_id",
    "SELECT l.course_id AS id, c.code, c.title, l.at AS enrolled_at FROM ("
    "SELECT course_id, change, at, row_number() OVER (PARTITION BY course_id ORDER BY at DESC, id DESC) AS n "
    "FROM enrollment_events WHERE student_id = ?1 AND at <= ?2 "
    "AND EXISTS (SELECT 1 FROM students WHERE id = ?1)) l "
    "LEFT JOIN courses c ON c.id = l.course_id WHERE l.n = 1 AND l.change = 'enrolled' ORDER BY l.course_id",
)


async def roster_as_of(tx: Transaction, course_id: int, at: datetime, after: int, limit: int) -> list[Row]:
    """RosterEntry rows (id, name, email, enrolled_at) of the course at instant `at`, by student id;
    name and email are null for a student deleted since. No rows for a course that does not
    exist now, whose events are kept."""
    return await tx.fetch(_ROSTER_AS_OF, course_id, at, after, limit)


async def student_courses_as_of(tx: Transaction, student_id: int, at: datetime) -> list[Row]:
    """CourseInfo rows (id, code, title, enrolled_at) of the student at instant `at`, by course id;
    code and title are null for a course deleted since. No rows for a student that does not
    exist now, whose events are kept."""
    return await tx.fetch(_STUDENT_COURSES_AS_OF, student_id, at)
