"""Courses and their rosters."""

from __future__ import annotations

from datetime import datetime

from registrar.db.core import Row, Sql, Transaction

COURSE_COLUMNS = "id, code, title, capacity, enrolled, waitlist_capacity, waitlisted, created_at, updated_at"

_INSERT_COURSE = Sql(
    "INSERT INTO courses (code, title, capacity, enrolled, waitlist_capacity, waitlisted, created_at, updated_at) "
    f"VALUES ($1, $2, $3, 0, $5, 0, $4, $4) ON CONFLICT DO NOTHING RETURNING {COURSE_COLUMNS}"
)


async def insert_course(
    tx: Transaction, code: str, title: str, capacity: int | None, now: datetime, waitlist_capacity: int = 0
) -> Row | None:
    """The new course, or None when the code is taken."""
    return await tx.fetchrow(_INSERT_COURSE, code, title, capacity, now, waitlist_capacity)


_COURSE_PAGE = Sql(f"SELECT {COURSE_COLUMNS} FROM courses WHERE id > $1 ORDER BY id LIMIT $2")
_COURSE_BY_CODE = Sql(f"SELECT {COURSE_COLUMNS} FROM courses WHERE code = $1 AND id > $2 LIMIT $3")
_COURSE = Sql(f"SELECT {COURSE_COLUMNS} FROM courses WHERE id = $1")


async def course_page(tx: Transaction, after: int, limit: int) -> list[Row]:
    return await tx.fetch(_COURSE_PAGE, after, limit)


async def courses_by_code(tx: Transaction, code: str, after: int, limit: int) -> list[Row]:
    return await tx.fetch(_COURSE_BY_CODE, code, after, limit)


async def course(tx: Transaction, course_id: int) -> Row | None:
    return await tx.fetchrow(_COURSE, course_id)


_LOCK_COURSE = Sql(
    f"SELECT {COURSE_COLUMNS} FROM courses WHERE id = $1 FOR UPDATE",
    f"SELECT {COURSE_COLUMNS} FROM courses WHERE id = ?1",
)


async def lock_course(tx: Transaction, course_id: int) -> Row | None:
    return await tx.fetchrow(_LOCK_COURSE, course_id)


_UPDATE_COURSE = Sql(
    "UPDATE courses SET code = $2, title = $3, capacity = $4, waitlist_capacity = $6, updated_at = $5 "
    f"WHERE id = $1 RETURNING {COURSE_COLUMNS}"
)


async def update_course(
    tx: Transaction,
    course_id: int,
    code: str,
    title: str,
    capacity: int | None,
    now: datetime,
    waitlist_capacity: int,
) -> Row:
    row = await tx.fetchrow(_UPDATE_COURSE, course_id, code, title, capacity, now, waitlist_capacity)
    assert row is not None, "the caller holds the row lock"
    return row


_DELETE_COURSE = Sql("DELETE FROM courses WHERE id = $1")


async def delete_course(tx: Transaction, course_id: int) -> None:
    await tx.execute(_DELETE_COURSE, course_id)


_ROSTER_PAGE = Sql(
    "SELECT s.id, s.name, s.email, sc.enrolled_at FROM student_courses sc "
    "JOIN students s ON s.id = sc.student_id "
    "WHERE sc.course_id = $1 AND sc.student_id > $2 ORDER BY sc.student_id LIMIT $3"
)


async def roster_page(tx: Transaction, course_id: int, after: int, limit: int) -> list[Row]:
    return await tx.fetch(_ROSTER_PAGE, course_id, after, limit)


_COURSE_EXISTS = Sql("SELECT 1 FROM courses WHERE id = $1")


async def course_exists(tx: Transaction, course_id: int) -> bool:
    return await tx.fetchval(_COURSE_EXISTS, course_id) is not None
