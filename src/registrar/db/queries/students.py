"""Students: one row each."""

from __future__ import annotations

from datetime import datetime

from registrar.db.core import Row, Sql, Transaction

STUDENT_COLUMNS = "id, name, email, created_at, updated_at"

_INSERT_STUDENT = Sql(
    "INSERT INTO students (name, email, created_at, updated_at) VALUES ($1, $2, $3, $3) "
    f"ON CONFLICT DO NOTHING RETURNING {STUDENT_COLUMNS}"
)


async def insert_student(tx: Transaction, name: str, email: str, now: datetime) -> Row | None:
    """The new student, or None when the e-mail is taken."""
    return await tx.fetchrow(_INSERT_STUDENT, name, email, now)


_STUDENT_PAGE = Sql(f"SELECT {STUDENT_COLUMNS} FROM students WHERE id > $1 ORDER BY id LIMIT $2")
_STUDENT_BY_EMAIL = Sql(f"SELECT {STUDENT_COLUMNS} FROM students WHERE email = $1 AND id > $2 LIMIT $3")


async def student_page(tx: Transaction, after: int, limit: int) -> list[Row]:
    return await tx.fetch(_STUDENT_PAGE, after, limit)


async def students_by_email(tx: Transaction, email: str, after: int, limit: int) -> list[Row]:
    return await tx.fetch(_STUDENT_BY_EMAIL, email, after, limit)


_LOCK_STUDENT = Sql(
    f"SELECT {STUDENT_COLUMNS} FROM students WHERE id = $1 FOR UPDATE",
    f"SELECT {STUDENT_COLUMNS} FROM students WHERE id = ?1",
)


async def lock_student(tx: Transaction, student_id: int) -> Row | None:
    return await tx.fetchrow(_LOCK_STUDENT, student_id)


_UPDATE_STUDENT = Sql(
    f"UPDATE students SET name = $2, email = $3, updated_at = $4 WHERE id = $1 RETURNING {STUDENT_COLUMNS}"
)


async def update_student(tx: Transaction, student_id: int, name: str, email: str, now: datetime) -> Row:
    row = await tx.fetchrow(_UPDATE_STUDENT, student_id, name, email, now)
    assert row is not None, "the caller holds the row lock"
    return row


_DELETE_STUDENT = Sql("DELETE FROM students WHERE id = $1")


async def delete_student(tx: Transaction, student_id: int) -> None:
    await tx.execute(_DELETE_STUDENT, student_id)


_STUDENT_EXISTS = Sql("SELECT 1 FROM students WHERE id = $1")


async def student_exists(tx: Transaction, student_id: int) -> bool:
    return await tx.fetchval(_STUDENT_EXISTS, student_id) is not None
