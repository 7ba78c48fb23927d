"""Idempotency keys (contract section 6): replay of the first answer, what is kept and what is not,
scoping to the API key, retention, and requests that arrive while the first is still running. Also
through PgBouncer: the key's advisory lock and the savepoint of the service's own transaction live
in one transaction, which is all a pooler in transaction mode keeps."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from registrar.app import create_app
from registrar.config import Settings
from registrar.db import Database, Sql
from registrar.services import keys
from registrar.services.housekeeping import sweep
from registrar.services.idempotency import IdempotentRequest
from tests.conftest import client_for
from tests.helpers import assert_problem, ids, new_course, new_student

pytestmark = pytest.mark.pgbouncer
AUDIT = "registrar.enrollments"


def keyed(key: str) -> dict[str, str]:
    return {"idempotency-key": key}


async def count(db: Database, table: str) -> int:
    async with db.connection() as conn:
        return int(await conn.fetchval(Sql(f"SELECT count(*) FROM {table}")))


async def enrolled(client: httpx.AsyncClient, course_id: int) -> int:
    response = await client.get(f"/courses/{course_id}")
    assert response.status_code == 200, response.text
    return int(response.json()["enrolled"])


async def admin_key_id(db: Database) -> int:
    return int(next(k["id"] for k in await keys.list_keys(db) if k["name"] == "test admin"))


def assert_same_response(first: httpx.Response, second: httpx.Response) -> None:
    assert second.status_code == first.status_code
    assert second.content == first.content
    assert second.headers.get("location") == first.headers.get("location")
    assert second.headers["content-type"] == first.headers["content-type"]


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=AUDIT)
    return caplog


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == AUDIT]


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


# ------------------------------------------------------------------------------------------ replay


async def test_replayed_student_creation_returns_first_response_and_writes_once(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    body = {"name": "Ada", "email": "ada@example.edu"}
    first = await admin.post("/students", json=body, headers=keyed("create-ada"))
    second = await admin.post("/students", json=body, headers=keyed("create-ada"))
    assert first.status_code == 201, first.text
    assert first.headers["location"] == f"/students/{first.json()['id']}"
    assert_same_response(first, second)
    assert await count(app.state.runtime.db, "students") == 1


async def test_replayed_course_creation_returns_first_response_and_writes_once(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    body = {"code": "IDEM1", "title": "Replays", "capacity": 3}
    first = await admin.post("/courses", json=body, headers=keyed("create-course"))
    second = await admin.post("/courses", json=body, headers=keyed("create-course"))
    assert first.status_code == 201, first.text
    assert "location" in first.headers
    assert_same_response(first, second)
    assert await count(app.state.runtime.db, "courses") == 1


async def test_replayed_enrollment_stays_201_writes_nothing_and_logs_once(
    app: FastAPI, admin: httpx.AsyncClient, audit: pytest.LogCaptureFixture
) -> None:
    student, course = await new_student(admin), await new_course(admin, capacity=5)
    path, body = f"/students/{student['id']}/courses", {"course_ids": [course["id"]]}
    audit.clear()
    first = await admin.post(path, json=body, headers=keyed("enroll-1"))
    second = await admin.post(path, json=body, headers=keyed("enroll-1"))
    assert first.status_code == 201, first.text
    assert_same_response(first, second)
    assert len(audit_lines(audit)) == 1
    assert await count(app.state.runtime.db, "student_courses") == 1
    assert await enrolled(admin, course["id"]) == 1
    fresh = await admin.post(path, json=body)
    assert fresh.status_code == 200  # what a new request answers now; the replay kept the 201


async def test_replayed_replace_writes_nothing_again(app: FastAPI, admin: httpx.AsyncClient) -> None:
    student, a, b = await new_student(admin), await new_course(admin), await new_course(admin)
    path = f"/students/{student['id']}/courses"
    first = await admin.put(path, json={"course_ids": [a["id"]]}, headers=keyed("replace-1"))
    await admin.put(path, json={"course_ids": [b["id"]]})
    second = await admin.put(path, json={"course_ids": [a["id"]]}, headers=keyed("replace-1"))
    assert first.status_code == 200, first.text
    assert_same_response(first, second)
    assert ids((await admin.get(path)).json()) == [b["id"]]
    assert (await enrolled(admin, a["id"]), await enrolled(admin, b["id"])) == (0, 1)


async def test_course_full_is_replayed_even_after_a_seat_frees(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    course = await new_course(admin, capacity=1)
    holder, late = await new_student(admin), await new_student(admin)
    taken = await admin.post(f"/students/{holder['id']}/courses", json={"course_id": course["id"]})
    assert taken.status_code == 201
    path, body = f"/students/{late['id']}/courses", {"course_id": course["id"]}
    first = await admin.post(path, json=body, headers=keyed("late-1"))
    assert_problem(first, 409, "course-full")
    dropped = await admin.delete(f"/students/{holder['id']}/courses/{course['id']}")
    assert dropped.status_code == 204
    second = await admin.post(path, json=body, headers=keyed("late-1"))
    assert_same_response(first, second)
    assert (await admin.get(path)).json() == []
    assert await enrolled(admin, course["id"]) == 0
    fresh = await admin.post(path, json=body, headers=keyed("late-2"))
    assert fresh.status_code == 201


async def test_unknown_student_404_is_replayed_after_the_student_exists(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    existing, course = await new_student(admin), await new_course(admin)
    path, body = f"/students/{existing['id'] + 1}/courses", {"course_id": course["id"]}
    first = await admin.post(path, json=body, headers=keyed("ghost-1"))
    assert_problem(first, 404, "not-found")
    created = await new_student(admin)
    assert created["id"] == existing["id"] + 1
    second = await admin.post(path, json=body, headers=keyed("ghost-1"))
    assert_same_response(first, second)
    assert (await admin.get(path)).json() == []


async def test_unknown_courses_422_is_replayed(app: FastAPI, admin: httpx.AsyncClient) -> None:
    student = await new_student(admin)
    path, body = f"/students/{student['id']}/courses", {"course_ids": [999_999]}
    first = await admin.post(path, json=body, headers=keyed("unknown-1"))
    second = await admin.post(path, json=body, headers=keyed("unknown-1"))
    assert assert_problem(first, 422, "unknown-courses")["invalid_course_ids"] == [999_999]
    assert_same_response(first, second)


async def test_lost_response_retry_enrolls_once_and_gets_identical_answer(
    app: FastAPI, admin_token: str
) -> None:
    """The server commits, the answer is lost on the way back, the client retries with its key."""

    class LosesFirstAnswer(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.ASGITransport(app=app)
            self.lost: list[httpx.Response] = []

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            if not self.lost:
                self.lost.append(response)
                raise httpx.ReadError("connection reset by peer", request=request)
            return response

    transport = LosesFirstAnswer()
    async with (
        client_for(app, admin_token) as admin,
        httpx.AsyncClient(
            transport=transport, base_url="http://registrar.test", headers=admin.headers
        ) as flaky,
    ):
        student, course = await new_student(admin), await new_course(admin, capacity=1)
        path, body = f"/students/{student['id']}/courses", {"course_ids": [course["id"]]}
        with pytest.raises(httpx.ReadError):
            await flaky.post(path, json=body, headers=keyed("lost-1"))
        retried = await flaky.post(path, json=body, headers=keyed("lost-1"))
        [lost] = transport.lost
        assert lost.status_code == 201
        assert_same_response(lost, retried)
        assert ids((await admin.get(path)).json()) == [course["id"]]
        assert await enrolled(admin, course["id"]) == 1
        assert await count(app.state.runtime.db, "student_courses") == 1


# ---------------------------------------------------------------------------------- not kept


async def test_malformed_json_is_not_kept(app: FastAPI, admin: httpx.AsyncClient) -> None:
    broken = await admin.post("/students", content=b'{"name": ', headers=keyed("fix-me"))
    assert_problem(broken, 400, "malformed-json")
    fixed = await admin.post(
        "/students", json={"name": "B", "email": "b@example.edu"}, headers=keyed("fix-me")
    )
    assert fixed.status_code == 201, fixed.text


async def test_validation_error_is_not_kept_and_a_valid_request_with_the_key_runs(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    invalid = await admin.post("/students", json={"name": "", "email": "x"}, headers=keyed("retry-valid"))
    assert_problem(invalid, 422, "validation-error")
    valid = await admin.post(
        "/students", json={"name": "C", "email": "c@example.edu"}, headers=keyed("retry-valid")
    )
    assert valid.status_code == 201, valid.text
    assert await count(app.state.runtime.db, "idempotency_keys") == 1


@asynccontextmanager
async def database_locked(settings: Settings, student_id: int) -> AsyncIterator[None]:
    """Another client holds what the request needs: the student's row (PostgreSQL) or the
    database's write lock (SQLite), so the request waits past its timeout."""
    if settings.engine == "postgresql":
        conn = await asyncpg.connect(settings.direct().postgres_dsn)
        try:
            async with conn.transaction():
                await conn.execute("SELECT 1 FROM students WHERE id = $1 FOR UPDATE", student_id)
                yield
        finally:
            await conn.close()
        return
    other = sqlite3.connect(settings.sqlite_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_server_error_is_not_kept_and_the_retry_runs(settings: Settings) -> None:
    async with running(settings.model_copy(update={"db_timeout": 0.3})) as app:
        token = await keys.create_key(app.state.runtime.db, "admin", "test admin")
        async with client_for(app, token) as admin:
            student, course = await new_student(admin), await new_course(admin)
            path, body = f"/students/{student['id']}/courses", {"course_ids": [course["id"]]}
            async with database_locked(settings, student["id"]):
                busy = await admin.post(path, json=body, headers=keyed("busy-1"))
            assert_problem(busy, 503, "service-unavailable")
            assert await count(app.state.runtime.db, "idempotency_keys") == 0
            retried = await admin.post(path, json=body, headers=keyed("busy-1"))
            assert retried.status_code == 201, retried.text
            assert await enrolled(admin, course["id"]) == 1


# ------------------------------------------------------------------------------- key mismatch


@pytest.mark.parametrize("change", ["body", "path", "method"])
async def test_same_key_with_a_different_request_is_rejected(
    app: FastAPI, admin: httpx.AsyncClient, change: str
) -> None:
    student, other = await new_student(admin), await new_student(admin)
    a, b = await new_course(admin), await new_course(admin)
    first = await admin.post(
        f"/students/{student['id']}/courses", json={"course_ids": [a["id"]]}, headers=keyed("k-1")
    )
    assert first.status_code == 201
    method, path, body = "POST", f"/students/{student['id']}/courses", {"course_ids": [a["id"]]}
    if change == "body":
        body = {"course_ids": [b["id"]]}
    elif change == "path":
        path = f"/students/{other['id']}/courses"
    else:
        method = "PUT"
    reused = await admin.request(method, path, json=body, headers=keyed("k-1"))
    assert_problem(reused, 422, "idempotency-key-reused")
    assert await count(app.state.runtime.db, "student_courses") == 1
    assert (await enrolled(admin, a["id"]), await enrolled(admin, b["id"])) == (1, 0)


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        (b'{"course_ids": "not a list"}', 422, "validation-error"),
        (b'{"course_ids": [1], "extra": true}', 422, "validation-error"),
        (b"{not json", 400, "malformed-json"),
    ],
    ids=["wrong-type", "unknown-member", "not-json"],
)
async def test_same_key_with_an_invalid_new_body_answers_the_body_problem_first(
    app: FastAPI, admin: httpx.AsyncClient, body: bytes, status: int, slug: str
) -> None:
    student, course = await new_student(admin), await new_course(admin)
    path = f"/students/{student['id']}/courses"
    first = await admin.post(path, json={"course_ids": [course["id"]]}, headers=keyed("k-invalid"))
    assert first.status_code == 201
    again = await admin.post(path, content=body, headers=keyed("k-invalid"))
    assert_problem(again, status, slug)
    replayed = await admin.post(path, json={"course_ids": [course["id"]]}, headers=keyed("k-invalid"))
    assert (replayed.status_code, replayed.json()) == (201, first.json())  # the record is intact


async def test_same_key_with_a_valid_body_for_an_unknown_course_is_reused_and_writes_nothing(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    student, course, other = await new_student(admin), await new_course(admin), await new_course(admin)
    path = f"/students/{student['id']}/courses"
    assert (await admin.post(path, json={"course_id": course["id"]}, headers=keyed("k-v"))).status_code == 201
    for body in ({"course_id": other["id"]}, {"course_id": 10**12}):
        assert_problem(await admin.post(path, json=body, headers=keyed("k-v")), 422, "idempotency-key-reused")
    assert await enrolled(admin, other["id"]) == 0


async def test_same_key_from_another_api_key_is_unrelated(app: FastAPI, admin: httpx.AsyncClient) -> None:
    other_token = await keys.create_key(app.state.runtime.db, "admin", "other admin")
    body = {"name": "D", "email": "d@example.edu"}
    first = await admin.post("/students", json=body, headers=keyed("shared"))
    assert first.status_code == 201
    async with client_for(app, other_token) as other:
        same = await other.post("/students", json=body, headers=keyed("shared"))
        different = await other.post(
            "/students", json={"name": "E", "email": "e@example.edu"}, headers=keyed("shared-2")
        )
        changed = await other.post(
            "/courses", json={"code": "OTHER", "title": "Other"}, headers=keyed("shared")
        )
    assert_problem(same, 409, "already-exists")  # it ran: no replay of the other key's 201
    assert different.status_code == 201
    assert_problem(changed, 422, "idempotency-key-reused")  # its own record of "shared" is the 409
    assert await count(app.state.runtime.db, "students") == 2


@pytest.mark.parametrize(
    "value",
    [b"", b"k" * 256, b"two words", "caf\u00e9".encode(), b"tab\there"],
    ids=["empty", "256-chars", "space", "non-ascii", "control"],
)
async def test_invalid_key_is_a_validation_error_and_writes_nothing(
    app: FastAPI, admin: httpx.AsyncClient, value: bytes
) -> None:
    response = await admin.post(
        "/students", json={"name": "F", "email": "f@example.edu"}, headers={"idempotency-key": value}
    )
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"]
    assert await count(app.state.runtime.db, "students") == 0


async def test_key_of_255_visible_characters_is_accepted(app: FastAPI, admin: httpx.AsyncClient) -> None:
    key = "".join(chr(33 + i % 94) for i in range(255))
    body = {"name": "G", "email": "g@example.edu"}
    first = await admin.post("/students", json=body, headers=keyed(key))
    second = await admin.post("/students", json=body, headers=keyed(key))
    assert first.status_code == 201, first.text
    assert_same_response(first, second)


async def test_key_on_get_is_ignored(app: FastAPI, admin: httpx.AsyncClient) -> None:
    before = await admin.get("/students", headers=keyed("read-1"))
    await new_student(admin)
    after = await admin.get("/students", headers=keyed("read-1"))
    invalid = await admin.get("/students", headers=keyed("not a key"))
    assert before.json()["items"] == []
    assert len(after.json()["items"]) == 1
    assert invalid.status_code == 200
    assert await count(app.state.runtime.db, "idempotency_keys") == 0


# ---------------------------------------------------------------------------------- retention


async def age_records(db: Database, by: timedelta) -> None:
    async with db.transaction() as tx:
        await tx.execute(Sql("UPDATE idempotency_keys SET created_at = $1"), datetime.now(UTC) - by)


async def test_record_older_than_retention_no_longer_replays(app: FastAPI, admin: httpx.AsyncClient) -> None:
    student, course = await new_student(admin), await new_course(admin)
    path, body = f"/students/{student['id']}/courses", {"course_id": course["id"]}
    first = await admin.post(path, json=body, headers=keyed("old-1"))
    assert first.status_code == 201
    await age_records(app.state.runtime.db, timedelta(hours=24, minutes=1))
    again = await admin.post(path, json=body, headers=keyed("old-1"))
    assert again.status_code == 200  # ran afresh: nothing new to add
    replay = await admin.post(path, json=body, headers=keyed("old-1"))
    assert_same_response(again, replay)  # and its answer is the one kept now


async def test_record_within_retention_still_replays(app: FastAPI, admin: httpx.AsyncClient) -> None:
    student, course = await new_student(admin), await new_course(admin)
    path, body = f"/students/{student['id']}/courses", {"course_id": course["id"]}
    first = await admin.post(path, json=body, headers=keyed("recent-1"))
    await age_records(app.state.runtime.db, timedelta(hours=23, minutes=59))
    assert_same_response(first, await admin.post(path, json=body, headers=keyed("recent-1")))


async def test_short_retention_setting_expires_records(settings: Settings) -> None:
    async with running(settings.model_copy(update={"idempotency_hours": 1 / 3600})) as app:
        token = await keys.create_key(app.state.runtime.db, "admin", "test admin")
        async with client_for(app, token) as admin:
            body = {"name": "H", "email": "h@example.edu"}
            first = await admin.post("/students", json=body, headers=keyed("short-1"))
            assert first.status_code == 201
            await asyncio.sleep(1.1)
            again = await admin.post("/students", json=body, headers=keyed("short-1"))
    assert_problem(again, 409, "already-exists")


async def test_sweep_deletes_expired_records_and_keeps_fresh_ones(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    db: Database = app.state.runtime.db
    await admin.post("/students", json={"name": "I", "email": "i@example.edu"}, headers=keyed("sweep-old"))
    await age_records(db, timedelta(hours=25))
    await admin.post("/students", json={"name": "J", "email": "j@example.edu"}, headers=keyed("sweep-new"))
    await sweep(db, timedelta(hours=24))
    async with db.connection() as conn:
        left = [r[0] for r in await conn.fetch(Sql("SELECT idempotency_key FROM idempotency_keys"))]
    assert left == ["sweep-new"]


# ---------------------------------------------------------------------------------- in flight


async def test_key_in_use_on_postgres_answers_409_at_once(
    engine: str, settings: Settings, app: FastAPI, admin: httpx.AsyncClient
) -> None:
    if engine == "sqlite":
        pytest.skip("PostgreSQL answers 409; SQLite waits and replays")
    student, course = await new_student(admin), await new_course(admin)
    path, body = f"/students/{student['id']}/courses", {"course_ids": [course["id"]]}
    lock_id = IdempotentRequest.of(
        await admin_key_id(app.state.runtime.db), "busy", "POST", path, b""
    ).lock_id
    holder = await asyncpg.connect(settings.direct().postgres_dsn)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", lock_id)
        in_use = await asyncio.wait_for(admin.post(path, json=body, headers=keyed("busy")), timeout=2)
        await holder.execute("SELECT pg_advisory_unlock($1)", lock_id)
    finally:
        await holder.close()
    assert_problem(in_use, 409, "idempotency-key-in-use")
    assert await count(app.state.runtime.db, "student_courses") == 0
    after = await admin.post(path, json=body, headers=keyed("busy"))
    assert after.status_code == 201, after.text


async def wait_until_blocked_on_lock(conn: asyncpg.Connection[Any]) -> None:
    for _ in range(200):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'registrar' "
            "AND wait_event_type = 'Lock'"
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the first request never waited for the row lock")


async def test_second_request_while_first_runs_on_postgres_gets_409(
    engine: str, settings: Settings, app: FastAPI, admin: httpx.AsyncClient
) -> None:
    if engine == "sqlite":
        pytest.skip("PostgreSQL answers 409; SQLite waits and replays")
    student, course = await new_student(admin), await new_course(admin, capacity=1)
    path, body = f"/students/{student['id']}/courses", {"course_ids": [course["id"]]}
    blocker = await asyncpg.connect(settings.direct().postgres_dsn)
    try:
        lock = blocker.transaction()
        await lock.start()
        await blocker.execute("SELECT 1 FROM students WHERE id = $1 FOR UPDATE", student["id"])
        first = asyncio.create_task(admin.post(path, json=body, headers=keyed("slow")))
        await wait_until_blocked_on_lock(blocker)
        second = await asyncio.wait_for(admin.post(path, json=body, headers=keyed("slow")), timeout=2)
        await lock.rollback()
        first_response = await first
    finally:
        await blocker.close()
    assert_problem(second, 409, "idempotency-key-in-use")
    assert first_response.status_code == 201, first_response.text
    assert_same_response(first_response, await admin.post(path, json=body, headers=keyed("slow")))
    assert await enrolled(admin, course["id"]) == 1


async def test_concurrent_requests_with_one_key_on_sqlite_wait_then_replay(
    engine: str, app: FastAPI, admin: httpx.AsyncClient, audit: pytest.LogCaptureFixture
) -> None:
    if engine != "sqlite":
        pytest.skip("SQLite waits for the first request; PostgreSQL answers 409")
    student, course = await new_student(admin), await new_course(admin, capacity=1)
    path, body = f"/students/{student['id']}/courses", {"course_ids": [course["id"]]}
    audit.clear()
    answers = await asyncio.gather(*(admin.post(path, json=body, headers=keyed("same")) for _ in range(5)))
    assert answers[0].status_code == 201, answers[0].text
    for answer in answers[1:]:
        assert_same_response(answers[0], answer)
    assert len(audit_lines(audit)) == 1
    assert await enrolled(admin, course["id"]) == 1
