"""Database round trips per request: they never grow with the number of courses or students involved.

Statements are counted on the real connections, without mocking anything: SQLite's trace callback
on the one connection a worker keeps, asyncpg's query logger on every connection the pool hands out.
Both see BEGIN and COMMIT too, which are round trips like any other statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from registrar.services import keys
from registrar.services.seed import SeedPlan, seed
from tests.conftest import client_for
from tests.helpers import ids, new_course, new_student

FEW, MANY = 2, 500


class Statements:
    """Every statement the app sends to its database, in order."""

    def __init__(self, app: FastAPI) -> None:
        self.sent: list[str] = []
        db = app.state.runtime.db
        if db.dialect == "sqlite":
            # Private: the two sqlite3 connections SqliteDatabase runs statements on.
            db._writer.set_trace_callback(self.sent.append)
            db._reader.set_trace_callback(self.sent.append)
        else:
            # Private: asyncpg calls each pool holder's `_setup` on every acquire; there we attach a
            # query logger (once per server connection) to whichever connection is handed out.
            hooked: set[int] = set()

            async def hook(proxy: Any) -> None:
                pid = proxy.get_server_pid()
                if pid not in hooked:
                    hooked.add(pid)
                    proxy.add_query_logger(self._logged)

            for holder in db._pool._holders:
                holder._setup = hook

    def _logged(self, record: asyncpg.connection.LoggedQuery) -> None:
        self.sent.append(record.query)

    async def during(self, request: Awaitable[httpx.Response], status: int = 200) -> list[str]:
        """The statements one request sends."""
        self.sent.clear()
        response = await request
        assert response.status_code == status, response.text
        for _ in range(3):
            await asyncio.sleep(0)  # asyncpg hands records to its loggers with call_soon
        return list(self.sent)


AUTH_TABLES = ("api_keys", "auth_failures")


def is_auth(statement: str) -> bool:
    return any(table in statement for table in AUTH_TABLES)


def serving(statements: list[str]) -> list[str]:
    """The statements of the request itself, without authentication's (the key lookup is cached for
    up to a second, so whether it runs depends on timing, not on the data)."""
    return [s for s in statements if not is_auth(s)]


def key_lookups(statements: list[str]) -> int:
    return sum("api_keys" in s for s in statements)


async def last_id(client: httpx.AsyncClient, collection: str) -> int:
    response = await client.get(f"/{collection}", params={"limit": 1000})
    return max(ids(response.json()["items"]))


async def student_in_courses(app: FastAPI, client: httpx.AsyncClient, count: int) -> int:
    await seed(app.state.runtime.db, SeedPlan(1, count, count))
    return await last_id(client, "students")


async def course_with_students(app: FastAPI, client: httpx.AsyncClient, count: int) -> int:
    await seed(app.state.runtime.db, SeedPlan(count, 1, 1))
    return await last_id(client, "courses")


async def warm_up(client: httpx.AsyncClient) -> None:
    """One request of each kind measured here, so that the connection has prepared its statements
    and asyncpg has introspected its types (once per connection, not per request)."""
    student, a, b = await new_student(client), await new_course(client), await new_course(client)
    base = f"/students/{student['id']}/courses"
    for request in (
        client.post(base, json={"course_ids": [a["id"], b["id"]]}),
        client.put(base, json={"course_ids": [a["id"]]}),
        client.put(base, json={"course_ids": [b["id"]]}),
        client.delete(f"{base}/{b['id']}"),
        client.get(base),
        client.get(f"/students/{student['id']}"),
        client.get(f"/courses/{a['id']}/students", params={"limit": 50}),
    ):
        assert (await request).status_code < 300


@pytest.fixture
async def statements(app: FastAPI, admin: httpx.AsyncClient) -> Statements:
    counter = Statements(app)
    await warm_up(admin)
    return counter


async def test_student_courses_first_request_takes_at_most_two_statements(
    app: FastAPI, admin: httpx.AsyncClient, statements: Statements
) -> None:
    student = await student_in_courses(app, admin, MANY)
    token = await keys.create_key(app.state.runtime.db, "reader", "not yet cached")
    async with client_for(app, token) as fresh:
        sent = await statements.during(fresh.get(f"/students/{student}/courses"))
    assert key_lookups(sent) == 1
    assert len(serving(sent)) == 1
    assert len(sent) <= 2, sent


async def test_student_courses_takes_one_statement_whatever_the_number_of_courses(
    app: FastAPI, admin: httpx.AsyncClient, statements: Statements
) -> None:
    counts = []
    for n in (FEW, MANY):
        student = await student_in_courses(app, admin, n)
        await admin.get(f"/students/{student}/courses")  # the key is now cached
        sent = await statements.during(admin.get(f"/students/{student}/courses"))
        assert len(sent) <= 2, sent
        counts.append(len(serving(sent)))
    assert counts == [1, 1]


async def test_student_with_courses_statements_do_not_grow(
    app: FastAPI, admin: httpx.AsyncClient, statements: Statements
) -> None:
    counts = []
    for n in (FEW, MANY):
        student = await student_in_courses(app, admin, n)
        response = await admin.get(f"/students/{student}")
        assert len(response.json()["courses"]) == n
        sent = await statements.during(admin.get(f"/students/{student}"))
        counts.append(len(serving(sent)))
        assert key_lookups(sent) <= 1
    assert counts[0] == counts[1] <= 1


async def test_roster_page_statements_do_not_grow(
    app: FastAPI, admin: httpx.AsyncClient, statements: Statements
) -> None:
    counts = []
    for n in (FEW, 60):
        course = await course_with_students(app, admin, n)
        sent = await statements.during(admin.get(f"/courses/{course}/students", params={"limit": 50}))
        counts.append(len(serving(sent)))
        assert key_lookups(sent) <= 1
    assert counts[0] == counts[1] <= 1


async def test_enroll_statements_do_not_grow_up_to_1000_courses(
    app: FastAPI, admin: httpx.AsyncClient, statements: Statements
) -> None:
    await seed(app.state.runtime.db, SeedPlan(0, 1000, 0))
    course_ids = ids((await admin.get("/courses", params={"limit": 1000})).json()["items"])
    counts = []
    for chosen in (course_ids[:FEW], course_ids):
        student = await new_student(admin)
        request = admin.post(f"/students/{student['id']}/courses", json={"course_ids": chosen})
        sent = await statements.during(request, 201)
        counts.append(len(serving(sent)))
        assert key_lookups(sent) <= 1
    # BEGIN, lock the student, lock the seats and read the set, the write, COMMIT. The write is one
    # statement on PostgreSQL (rows, seats and history); SQLite, which cannot write in a WITH
    # clause, sends three, none of them a round trip.
    assert counts[0] == counts[1] == {"postgresql": 5, "sqlite": 7}[app.state.runtime.db.dialect]


async def test_replace_statements_do_not_grow_up_to_1000_courses(
    app: FastAPI, admin: httpx.AsyncClient, statements: Statements
) -> None:
    await seed(app.state.runtime.db, SeedPlan(0, 2000, 0))
    course_ids = ids((await admin.get("/courses", params={"limit": 1000, "after": 0})).json()["items"])
    later = ids(
        (await admin.get("/courses", params={"limit": 1000, "after": course_ids[-1]})).json()["items"]
    )
    counts = []
    for size in (FEW, 1000):
        student = await new_student(admin)
        base = f"/students/{student['id']}/courses"
        assert (await admin.put(base, json={"course_ids": course_ids[:size]})).status_code == 200
        sent = await statements.during(admin.put(base, json={"course_ids": later[:size]}))
        counts.append(len(serving(sent)))
    # BEGIN, lock the student, lock the seats and read the set, the drops, the joins, COMMIT (on
    # SQLite each write is three statements, none of them a round trip).
    assert counts[0] == counts[1] == {"postgresql": 6, "sqlite": 10}[app.state.runtime.db.dialect]


async def drop_statements(admin: httpx.AsyncClient, statements: Statements, waiting: int) -> int:
    """The statements of a drop from a full course (one seat) with `waiting` students in line."""
    course = (
        await admin.post(
            "/courses", json={"code": f"Q{waiting}", "title": "Q", "capacity": 1, "waitlist_capacity": 100}
        )
    ).json()
    holder = await new_student(admin)
    await admin.post(f"/students/{holder['id']}/courses", json={"course_id": course["id"]})
    for _ in range(waiting):
        student = await new_student(admin)
        await admin.post(f"/students/{student['id']}/waitlist", json={"course_id": course["id"]})
    sent = await statements.during(admin.delete(f"/students/{holder['id']}/courses/{course['id']}"), 204)
    return len(serving(sent))


async def test_a_drop_that_promotes_costs_one_more_round_trip_whatever_the_waitlist_length(
    app: FastAPI, admin: httpx.AsyncClient, statements: Statements
) -> None:
    alone, one_waits, fifty_wait = [await drop_statements(admin, statements, n) for n in (0, 1, 50)]
    assert one_waits == fifty_wait
    if app.state.runtime.db.dialect == "postgresql":
        assert (alone, one_waits) == (5, 6)  # BEGIN, lock student, lock seats, drop, [promote], COMMIT
