"""Faults (contract section 6): a database that is away, or busy past its timeout, answers 503
`service-unavailable` with Retry-After, never a 500 and never a partial write, and the service
recovers by itself when the database returns. Real server processes and a PostgreSQL cluster of
our own, which these tests kill and restart."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx
import pytest

from registrar.app import create_app
from registrar.config import Settings
from registrar.db.postgres import PostgresDatabase
from registrar.migrations import runner
from registrar.problems import ServiceUnavailable
from registrar.services import keys
from tests import pgcluster
from tests.conftest import client_for, make_settings
from tests.helpers import assert_problem, new_course, new_student
from tests.serving import Server, admin_token, cli, environment, serving

pytestmark = pytest.mark.slow

NO_POSTGRES = f"PostgreSQL half skipped: no server binaries in {pgcluster.PG_BIN}"
CLIENT_TIMEOUT = 10.0
OUTAGE_SECONDS = 3.0
RECOVERY_SECONDS = 15.0
SENDERS = 12


def assert_unavailable(response: httpx.Response) -> None:
    assert_problem(response, 503, "service-unavailable")
    assert int(response.headers["retry-after"]) >= 1


# PostgreSQL killed and brought back under a running `serve --workers 2`


@dataclass
class Deployment:
    cluster: pgcluster.ThrowawayPostgres
    url: str
    server: Server
    token: str
    database_up: bool = True

    async def kill_database(self) -> None:
        await anyio.to_thread.run_sync(self.cluster.stop, "immediate")
        self.database_up = False

    async def restart_database(self) -> None:
        await anyio.to_thread.run_sync(self.cluster.start)
        self.database_up = True

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.server.url,
            headers={"authorization": f"Bearer {self.token}"},
            timeout=CLIENT_TIMEOUT,
            limits=httpx.Limits(max_connections=SENDERS + 4),
        )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A cluster of our own (stopping the shared one would break other tests), durable, since an
    acknowledged commit must survive the kill; migrated and keyed through the CLI."""
    if not pgcluster.available():
        pytest.skip(NO_POSTGRES)
    cluster = pgcluster.ThrowawayPostgres(durable=True)
    try:
        url = cluster.create_database("registrar_faults")
        cwd = tmp_path_factory.mktemp("outage")
        env = environment(url, REGISTRAR_DB_TIMEOUT="2")
        cli(env, cwd, "migrate")
        token = admin_token(env, cwd)
        cli(env, cwd, "seed", "--students", "1500")
        with serving(env, cwd, workers=2) as server:
            yield Deployment(cluster, url, server, token)
    finally:
        cluster.destroy()


@pytest.fixture
async def outage(deployment: Deployment) -> AsyncIterator[Deployment]:
    """The deployment, with its database running again after the test whatever happened."""
    try:
        yield deployment
    finally:
        if not deployment.database_up:
            await deployment.restart_database()


@dataclass
class Outcome:
    student_id: int
    course_id: int
    started: float
    ended: float = 0.0
    response: httpx.Response | None = None
    error: str | None = None


@dataclass
class Burst:
    """Enrollments of distinct students, round-robin over the courses, from concurrent senders."""

    client: httpx.AsyncClient
    students: Iterator[int]
    course_ids: list[int]
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: bool = False

    def succeeded(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.response is not None and o.response.is_success]

    async def sender(self) -> None:
        for student_id in self.students:
            if self.stopped:
                return
            outcome = Outcome(
                student_id, self.course_ids[student_id % len(self.course_ids)], time.monotonic()
            )
            self.outcomes.append(outcome)
            try:
                outcome.response = await self.client.post(
                    f"/students/{student_id}/courses", json={"course_id": outcome.course_id}
                )
            except httpx.HTTPError as exc:
                outcome.error = repr(exc)
            outcome.ended = time.monotonic()
            if outcome.response is not None and outcome.response.status_code == 503:
                await anyio.sleep(0.1)  # the outage is the interesting part, not the request rate

    async def until(self, condition: Any, timeout: float = 60.0) -> None:
        with anyio.fail_after(timeout):
            while not condition():
                await anyio.sleep(0.02)


async def all_student_ids(client: httpx.AsyncClient) -> list[int]:
    found: list[int] = []
    after = 0
    while True:
        page = (await client.get("/students", params={"limit": 1000, "after": after})).json()
        found += [s["id"] for s in page["items"]]
        if page["next_after"] is None:
            return found
        after = page["next_after"]


async def seconds_to_recover(client: httpx.AsyncClient, since: float) -> float:
    """Write until a write succeeds; how long after `since` that took."""
    for attempt in itertools.count():
        with anyio.fail_after(RECOVERY_SECONDS + CLIENT_TIMEOUT):
            response = await client.post("/courses", json={"code": f"RECOVER{attempt}", "title": "Probe"})
        if response.status_code == 201:
            return time.monotonic() - since
        assert_unavailable(response)
        assert time.monotonic() - since < RECOVERY_SECONDS, "no recovery within 15 s"
        await anyio.sleep(0.2)
    raise AssertionError("unreachable")


async def enrollments_in_database(url: str) -> tuple[set[tuple[int, int]], dict[int, tuple[int, int, int]]]:
    """Every (student, course) pair, and per course (capacity, enrolled, roster size)."""
    conn = await asyncpg.connect(url, timeout=CLIENT_TIMEOUT)
    try:
        pairs = {(r[0], r[1]) for r in await conn.fetch("SELECT student_id, course_id FROM student_courses")}
        rows = await conn.fetch(
            "SELECT c.id, c.capacity, c.enrolled, count(sc.student_id) FROM courses c"
            " LEFT JOIN student_courses sc ON sc.course_id = c.id GROUP BY c.id"
        )
    finally:
        await conn.close()
    return pairs, {r[0]: (r[1], r[2], r[3]) for r in rows}


def check_answers(outcomes: list[Outcome], down_at: float, up_from: float) -> int:
    """Every answer is a success, a full course or a proper 503; those wholly inside the outage are
    503. Returns how many were wholly inside it."""
    inside = 0
    for o in outcomes:
        assert o.error is None, f"student {o.student_id}: no answer ({o.error})"
        assert o.response is not None
        status = o.response.status_code
        assert status in (200, 201, 409, 503), o.response.text
        if status == 409:
            assert_problem(o.response, 409, "course-full")
        if status == 503:
            assert_unavailable(o.response)
        if o.started >= down_at and o.ended <= up_from:
            inside += 1
            assert status == 503, f"during the outage: {status} {o.response.text}"
    return inside


async def test_postgres_killed_mid_burst_answers_503_loses_no_enrollment_and_recovers(
    outage: Deployment,
) -> None:
    async with outage.client() as client:
        course_ids = [(await new_course(client, capacity=25))["id"] for _ in range(10)]
        burst = Burst(client, iter(await all_student_ids(client)), course_ids)
        async with anyio.create_task_group() as senders:
            for _ in range(SENDERS):
                senders.start_soon(burst.sender)
            await burst.until(lambda: len(burst.succeeded()) >= 100)
            await outage.kill_database()
            down_at = time.monotonic()
            await anyio.sleep(OUTAGE_SECONDS)
            up_from = time.monotonic()
            await outage.restart_database()
            recovered_in = await seconds_to_recover(client, time.monotonic())
            sent = len(burst.outcomes)
            await burst.until(lambda: len(burst.outcomes) >= sent + 150)  # fill the courses up
            burst.stopped = True

    assert outage.server.process.poll() is None, "the server must recover without a restart"
    assert recovered_in < RECOVERY_SECONDS
    assert len(burst.outcomes) >= 200
    assert len([o for o in burst.succeeded() if o.ended < down_at]) >= 100
    assert check_answers(burst.outcomes, down_at, up_from) >= 20
    pairs, courses = await enrollments_in_database(outage.url)
    missing = {(o.student_id, o.course_id) for o in burst.succeeded()} - pairs
    assert not missing, f"answered 2xx but not enrolled: {sorted(missing)}"
    for course_id in course_ids:
        capacity, enrolled, roster = courses[course_id]
        assert enrolled == roster <= capacity, (course_id, capacity, enrolled, roster)
    assert any(o.response is not None and o.response.status_code == 409 for o in burst.outcomes)


async def test_healthz_answers_503_within_2s_while_postgres_is_down_and_200_once_back(
    outage: Deployment,
) -> None:
    async with httpx.AsyncClient(base_url=outage.server.url, timeout=CLIENT_TIMEOUT) as client:
        assert (await client.get("/healthz")).status_code == 200
        await outage.kill_database()
        for _ in range(6):  # both workers; pooled connections gone stale, then refused new ones
            started = time.monotonic()
            response = await client.get("/healthz")
            assert time.monotonic() - started < 2.0
            assert_unavailable(response)
        await outage.restart_database()
        since = time.monotonic()
        while (response := await client.get("/healthz")).status_code != 200:
            assert_unavailable(response)
            assert time.monotonic() - since < RECOVERY_SECONDS, "/healthz still 503 after 15 s"
            await anyio.sleep(0.2)
        assert response.json() == {"status": "ok"}


def cluster_processes(cluster: pgcluster.ThrowawayPostgres) -> list[int]:
    """The postmaster and its children (backends, background workers)."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if (
                entry.name.isdigit()
                and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster
            ):
                children.append(int(entry.name))
    return [postmaster, *children]


async def test_frozen_postgres_gives_503_in_bounded_time_not_a_hang(deployment: Deployment) -> None:
    """A server that stops answering (a frozen host, a silent network) cannot time out its own
    statements: the service must give up on its side."""
    settings = make_settings(deployment.url, db_timeout=1, db_statement_timeout=3)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        token = await keys.create_key(app.state.runtime.db, "admin", "frozen")
        async with client_for(app, token) as client:
            course = await new_course(client)  # the key is cached from here on
            db = app.state.runtime.db
            async with db.connection(), db.connection():
                pass  # two pooled connections, idle: one for each probe below
            frozen = cluster_processes(deployment.cluster)
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            try:
                with anyio.fail_after(CLIENT_TIMEOUT):
                    started = time.monotonic()
                    assert_unavailable(await client.get("/healthz"))
                    assert time.monotonic() - started < 2.0
                    started = time.monotonic()
                    assert_unavailable(await client.get(f"/courses/{course['id']}"))
                    assert time.monotonic() - started < 3 + 1 + 1.5  # statement, then cancel, timeouts
            finally:
                for pid in frozen:
                    os.kill(pid, signal.SIGCONT)
            with anyio.fail_after(RECOVERY_SECONDS):
                while (await client.get("/healthz")).status_code != 200:
                    await anyio.sleep(0.2)


# SQLite: many writers in two worker processes


async def test_sqlite_50_concurrent_writers_get_2xx_or_409_and_never_a_locked_database(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'registrar.db'}"
    with serving(environment(url), tmp_path, workers=2) as server:
        headers = {"authorization": f"Bearer {server.first_key()}"}
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30.0, limits=limits) as c:
            courses = [(await new_course(c, capacity=10))["id"] for _ in range(5)]
            students = [(await new_student(c))["id"] for _ in range(100)]
            answers: list[tuple[str, httpx.Response]] = []

            async def create(writer: int) -> None:
                for n in range(4):  # 5 writers race for each of 20 addresses
                    body = {"name": "Writer", "email": f"w{writer % 5}-{n}@example.edu"}
                    answers.append(("create", await c.post("/students", json=body)))

            async def enroll(writer: int) -> None:
                for student_id in students[writer * 4 : writer * 4 + 4]:  # 20 students per 10 seats
                    body = {"course_id": courses[student_id % 5]}
                    answers.append(("enroll", await c.post(f"/students/{student_id}/courses", json=body)))

            async with anyio.create_task_group() as writers:
                for writer in range(25):
                    writers.start_soon(create, writer)
                    writers.start_soon(enroll, writer)
        stderr = server.stderr()

    for _, response in answers:
        assert "database is locked" not in response.text.lower()
        assert response.status_code in (201, 409), response.text
    assert "database is locked" not in stderr.lower()
    assert '"level":"error"' not in stderr
    outcomes = sorted((kind, r.status_code) for kind, r in answers)
    assert outcomes.count(("create", 201)) == 20
    assert outcomes.count(("enroll", 201)) == 50
    assert len(outcomes) == 200
    for course_id, capacity, enrolled, roster in sqlite_seats(tmp_path / "registrar.db", courses):
        assert enrolled == roster == capacity, course_id


def sqlite_seats(path: Path, course_ids: list[int]) -> list[tuple[int, int, int, int]]:
    conn = sqlite3.connect(path)
    try:
        return [
            conn.execute(
                "SELECT id, capacity, enrolled, (SELECT count(*) FROM student_courses WHERE course_id = id)"
                " FROM courses WHERE id = ?",
                (course_id,),
            ).fetchone()
            for course_id in course_ids
        ]
    finally:
        conn.close()


# A lock not granted within REGISTRAR_DB_TIMEOUT, in process through the ASGI app


@pytest.fixture
async def impatient(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    """The app with a 1 s database timeout, on a fresh database of the requested engine."""
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres")
        if cluster is None:
            pytest.skip(NO_POSTGRES)
        url = await anyio.to_thread.run_sync(cluster.create_database, "registrar_lock_faults")
    else:
        url = f"sqlite:///{tmp_path / 'registrar.db'}"
    await anyio.to_thread.run_sync(runner.upgrade, make_settings(url))  # it runs its own event loop
    settings = make_settings(url, db_timeout=1)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        token = await keys.create_key(app.state.runtime.db, "admin", "impatient")
        async with client_for(app, token) as client:
            yield settings, client


@pytest.mark.parametrize("impatient", ["postgresql"], indirect=True)
async def test_course_row_locked_elsewhere_gives_503_and_writes_nothing(
    impatient: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, client = impatient
    course = await new_course(client, capacity=5)
    student = await new_student(client)
    holder = await asyncpg.connect(settings.postgres_dsn)
    try:
        async with holder.transaction():
            await holder.execute("SELECT id FROM courses WHERE id = $1 FOR UPDATE", course["id"])
            started = time.monotonic()
            with anyio.fail_after(CLIENT_TIMEOUT):
                response = await client.post(
                    f"/students/{student['id']}/courses", json={"course_id": course["id"]}
                )
            assert time.monotonic() - started < 5.0
            assert_unavailable(response)
    finally:
        await holder.close()
    assert (await client.get(f"/students/{student['id']}/courses")).json() == []
    assert (await client.get(f"/courses/{course['id']}")).json()["enrolled"] == 0
    retried = await client.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    assert retried.status_code == 201, retried.text


def terminate_backend(dsn: str, pid: int) -> None:
    """End a server process and wait until it is gone, without letting this event loop run: a pool
    on this loop cannot notice before its next statement that the connection is dead."""

    async def terminate() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
        finally:
            await conn.close()

    worker = threading.Thread(target=asyncio.run, args=(terminate(),))
    worker.start()
    worker.join()


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
async def test_a_pooled_connection_the_server_closed_gives_503_at_begin(settings: Settings) -> None:
    """An idle pooled connection the server ended (a restart, an idle timeout, an administrator)
    fails at BEGIN: the request gets a 503 it can retry, not a 500, and the pool heals."""
    pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=1)
    try:
        db = PostgresDatabase(pool, settings)
        async with pool.acquire() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
        terminate_backend(settings.postgres_dsn, pid)
        with pytest.raises(ServiceUnavailable):
            async with db.transaction():
                pass
        async with db.transaction() as tx:
            assert await tx.conn.fetchval("SELECT pg_backend_pid()") != pid
    finally:
        pool.terminate()


@pytest.mark.parametrize("impatient", ["sqlite"], indirect=True)
async def test_sqlite_write_lock_held_elsewhere_gives_503_while_reads_go_on(
    impatient: tuple[Settings, httpx.AsyncClient],
) -> None:
    """The write waits for the lock held by another process; while it waits, the same worker
    answers reads and /healthz at once (the wait must not hold up the event loop)."""
    settings, client = impatient
    course = await new_course(client, capacity=5)
    holder = sqlite3.connect(settings.sqlite_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with anyio.fail_after(CLIENT_TIMEOUT):
            write = asyncio.create_task(
                client.post("/students", json={"name": "Blocked", "email": "blocked@example.edu"})
            )
            await asyncio.sleep(0.2)  # the write is now waiting for the lock
            for path in (f"/courses/{course['id']}", "/students", "/healthz"):
                asked = time.monotonic()
                assert (await client.get(path)).status_code == 200
                assert time.monotonic() - asked < 0.25, f"{path} waited for the blocked write"
            assert not write.done(), "the write should still be waiting for the lock"
            response = await write
        assert 1.0 <= time.monotonic() - started < 5.0
        assert_unavailable(response)
    finally:
        holder.close()
    listed = await client.get("/students", params={"email": "blocked@example.edu"})
    assert listed.json()["items"] == []
    created = await client.post("/students", json={"name": "Blocked", "email": "blocked@example.edu"})
    assert created.status_code == 201, created.text
