"""What is reported is what landed: a change is logged once its transaction has committed, never
when the commit failed, and a failure after a good commit (giving the connection back) neither
hides the change nor turns it into a 503.

Faults are real: a deferred constraint trigger makes PostgreSQL refuse the COMMIT itself, and an
asyncpg pool whose connection reset fails (or is cancelled) breaks the step after the commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from registrar.config import Settings
from registrar.db import Sql
from registrar.db.postgres import PostgresDatabase
from registrar.services import enrollments
from registrar.services.common import Caller
from tests.helpers import assert_problem, new_course, new_student

AUDIT = "registrar.enrollments"
ON_POSTGRESQL = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=AUDIT)
    return caplog


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == AUDIT]


@pytest.fixture
async def commit_refused_for(settings: Settings) -> AsyncIterator[Callable[[str], Awaitable[None]]]:
    """Make every COMMIT of a transaction that inserted into a table fail (serialization failure,
    which the service answers with 503), through a trigger checked at commit time."""
    conn = await asyncpg.connect(settings.postgres_dsn)
    tables: list[str] = []

    async def refuse(table: str) -> None:
        await conn.execute(
            "CREATE OR REPLACE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = 'serialization_failure'; END $$"
        )
        await conn.execute(
            f"CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()"
        )
        tables.append(table)

    try:
        yield refuse
    finally:
        for table in tables:
            await conn.execute(f"DROP TRIGGER refuse_commit ON {table}")
        await conn.execute("DROP FUNCTION IF EXISTS refuse_commit()")
        await conn.close()


@ON_POSTGRESQL
@pytest.mark.parametrize(
    ("table", "headers"),
    [("student_courses", {}), ("idempotency_keys", {"idempotency-key": "refused-commit-1"})],
    ids=["plain", "idempotent"],
)
async def test_an_enrollment_whose_commit_fails_is_a_503_and_is_not_logged(
    admin: httpx.AsyncClient,
    audit: pytest.LogCaptureFixture,
    commit_refused_for: Callable[[str], Awaitable[None]],
    table: str,
    headers: dict[str, str],
) -> None:
    student, course = await new_student(admin), await new_course(admin)
    await commit_refused_for(table)
    audit.clear()

    response = await admin.post(
        f"/students/{student['id']}/courses", json={"course_id": course["id"]}, headers=headers
    )

    assert_problem(response, 503, "service-unavailable")
    assert audit_lines(audit) == []
    assert (await admin.get(f"/students/{student['id']}/courses")).json() == []
    assert (await admin.get(f"/courses/{course['id']}")).json()["enrolled"] == 0


async def pool_with_reset(settings: Settings, reset: Callable[[Any], Awaitable[None]]) -> asyncpg.Pool:
    return await asyncpg.create_pool(settings.postgres_dsn, min_size=0, max_size=2, reset=reset)


async def student_and_course(app: FastAPI, admin: httpx.AsyncClient) -> tuple[int, int]:
    return (await new_student(admin))["id"], (await new_course(admin))["id"]


async def enrolled(app: FastAPI, student_id: int) -> list[int]:
    async with app.state.runtime.db.connection() as conn:
        rows = await conn.fetch(
            Sql("SELECT course_id FROM student_courses WHERE student_id = $1"), student_id
        )
    return [r[0] for r in rows]


@ON_POSTGRESQL
async def test_a_connection_that_fails_to_reset_after_the_commit_does_not_undo_the_answer(
    app: FastAPI, admin: httpx.AsyncClient, settings: Settings, audit: pytest.LogCaptureFixture
) -> None:
    student_id, course_id = await student_and_course(app, admin)

    async def broken_reset(conn: Any) -> None:
        raise ConnectionResetError("the connection broke as it went back to the pool")

    pool = await pool_with_reset(settings, broken_reset)
    try:
        db = PostgresDatabase(pool, settings)
        added, courses = await enrollments.enroll(db, student_id, [course_id], Caller(request_id="r-1"))
    finally:
        pool.terminate()

    assert added
    assert [c["id"] for c in courses] == [course_id]
    assert await enrolled(app, student_id) == [course_id]
    [line] = audit_lines(audit)
    assert (line.action, line.added, line.request_id) == ("enroll", [course_id], "r-1")  # type: ignore[attr-defined]


@ON_POSTGRESQL
async def test_a_request_cancelled_after_its_commit_still_logs_its_change(
    app: FastAPI, admin: httpx.AsyncClient, settings: Settings, audit: pytest.LogCaptureFixture
) -> None:
    student_id, course_id = await student_and_course(app, admin)
    returning = asyncio.Event()

    async def slow_reset(conn: Any) -> None:
        returning.set()
        await asyncio.sleep(10)

    pool = await pool_with_reset(settings, slow_reset)
    try:
        db = PostgresDatabase(pool, settings)
        task = asyncio.create_task(enrollments.enroll(db, student_id, [course_id], Caller(request_id="r-2")))
        await asyncio.wait_for(returning.wait(), 10)
        task.cancel()  # the client went away while the connection was going back
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        pool.terminate()

    assert await enrolled(app, student_id) == [course_id]
    [line] = audit_lines(audit)
    assert (line.action, line.added, line.request_id) == ("enroll", [course_id], "r-2")  # type: ignore[attr-defined]


async def test_a_rule_that_fails_inside_an_idempotent_request_logs_nothing(
    admin: httpx.AsyncClient, audit: pytest.LogCaptureFixture
) -> None:
    student, full = await new_student(admin), await new_course(admin, capacity=0)
    audit.clear()
    response = await admin.post(
        f"/students/{student['id']}/courses",
        json={"course_id": full["id"]},
        headers={"idempotency-key": "full-1"},
    )
    assert_problem(response, 409, "course-full")
    assert audit_lines(audit) == []
