"""Behind PgBouncer in transaction mode (contract section 1, "scale-out"): REGISTRAR_DATABASE_URL names
the pooler and REGISTRAR_DATABASE_DIRECT_URL the server, and every guarantee holds unchanged.

The pooler is Debian's pgbouncer with a server pool of 3 per database, in front of the tests'
throwaway cluster; the tests that start servers or hold connections get a database (so a pool) of
their own. The HTTP contract tests also run through it (the `pgbouncer` engine of conftest.py);
here are the guarantees that need real server processes, a pool run dry or a lock held elsewhere.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from registrar.app import create_app
from registrar.config import Settings
from registrar.migrations import runner
from registrar.services import keys
from tests import pgbouncer as bouncer
from tests import pgcluster
from tests.conftest import client_for, make_settings
from tests.helpers import assert_problem, new_course, new_student, refused_within_a_second
from tests.serving import Server, admin_token, cli, environment, serving
from tests.test_brute_force import assert_rate_limited
from tests.test_query_count import Statements, is_auth, warm_up

pytestmark = pytest.mark.pgbouncer
HEAD = runner.revision_ids(Settings(_env_file=None))[-1]  # type: ignore[call-arg]


@dataclass
class Pooled:
    """A database of its own on the cluster, reached through the pooler or directly."""

    name: str
    cluster: pgcluster.ThrowawayPostgres
    pooler: bouncer.ThrowawayPgBouncer

    @property
    def url(self) -> str:
        return self.pooler.url(self.name)

    @property
    def direct_url(self) -> str:
        return self.cluster.url(self.name)

    def settings(self, **overrides: Any) -> Settings:
        return make_settings(self.url, database_direct_url=self.direct_url, **overrides)

    def env(self, **extra: str) -> dict[str, str]:
        return environment(self.url, REGISTRAR_DATABASE_DIRECT_URL=self.direct_url, **extra)


@pytest.fixture
def pooled(
    postgres: pgcluster.ThrowawayPostgres | None, pgbouncer: bouncer.ThrowawayPgBouncer | None
) -> Iterator[Pooled]:
    """An empty database (no tables yet) and its own pool of server connections in PgBouncer."""
    if postgres is None or pgbouncer is None:
        pytest.skip("needs the PostgreSQL server binaries and pgbouncer")
    name = f"pooled_{uuid.uuid4().hex[:12]}"
    postgres.create_database(name)
    yield Pooled(name, postgres, pgbouncer)
    postgres.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app on a migrated database, and a client with an admin key."""
    await anyio.to_thread.run_sync(runner.upgrade, settings)  # it runs its own event loop
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        token = await keys.create_key(app.state.runtime.db, "admin", "pooled")
        async with client_for(app, token) as client:
            yield app, client


def assert_unavailable(response: httpx.Response) -> None:
    assert_problem(response, 503, "service-unavailable")
    assert int(response.headers["retry-after"]) >= 1


# ---------------------------------------------------------------------------- configuration


def test_a_direct_url_equal_to_the_database_url_means_no_pooler() -> None:
    url = "postgresql://registrar@db.internal:5432/registrar"
    assert not make_settings(url).pooled
    assert not make_settings(url, database_direct_url=url).pooled
    behind = make_settings("postgresql://registrar@pgbouncer:6432/registrar", database_direct_url=url)
    assert behind.pooled
    assert behind.direct().database_url == url
    assert not behind.direct().pooled


def test_a_direct_url_beside_sqlite_is_refused() -> None:
    settings = make_settings("sqlite:///./registrar.db", database_direct_url="postgresql://db/registrar")
    with pytest.raises(ValueError, match="REGISTRAR_DATABASE_DIRECT_URL"):
        _ = settings.pooled


# ------------------------------------------------------------------------ set-up goes direct


@pytest.mark.slow
def test_migrations_and_the_first_key_need_only_the_server_itself(pooled: Pooled, tmp_path: Path) -> None:
    """With no pooler where REGISTRAR_DATABASE_URL points, `migrate` and the set-up `serve` does
    before serving still succeed: both went to REGISTRAR_DATABASE_DIRECT_URL."""
    nowhere = f"postgresql://postgres@127.0.0.1:{pgcluster.free_port()}/{pooled.name}"
    env = environment(nowhere, REGISTRAR_DATABASE_DIRECT_URL=pooled.direct_url)
    cli(env, tmp_path, "migrate")
    assert runner.current_revision(pooled.settings()) == HEAD
    server = Server(env, tmp_path, workers=1)
    try:
        wait_for_first_key(server)
        assert health_once_listening(server) == 503  # serving does need the pooler
    finally:
        server.kill()
    listed = cli(pooled.env(), tmp_path, "keys", "list").splitlines()
    assert [line.split("\t")[1:3] for line in listed] == [["admin", "first admin key"]]


def health_once_listening(server: Server, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return httpx.get(f"{server.url}/healthz", timeout=5).status_code
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"serve did not listen within {timeout} s: {server.stderr()}")


def wait_for_first_key(server: Server, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.process.poll() is None, f"serve exited early: {server.stderr()}"
        try:
            return server.first_key()
        except AssertionError:
            time.sleep(0.1)
    raise AssertionError(f"serve printed no first key within {timeout} s: {server.stderr()}")


# ------------------------------------------------------------------------------ across processes


@pytest.mark.slow
async def test_concurrent_enrollments_through_pgbouncer_fill_a_course_exactly_to_capacity(
    pooled: Pooled, tmp_path: Path
) -> None:
    """`serve --workers 2` through the pooler: 100 students race for 10 seats, on 20 client
    connections sharing 3 server connections."""
    with serving(pooled.env(), tmp_path, workers=2) as server:
        headers = {"authorization": f"Bearer {server.first_key()}"}
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(
            base_url=server.url, headers=headers, timeout=120, limits=limits
        ) as client:
            course = await new_course(client, capacity=10)
            students = await asyncio.gather(*(new_student(client) for _ in range(100)))
            path = "/students/{}/courses"
            responses = await asyncio.gather(
                *(client.post(path.format(s["id"]), json={"course_id": course["id"]}) for s in students)
            )
            outcomes = Counter(
                r.status_code if r.status_code < 400 else r.json()["type"].rsplit(":", 1)[-1]
                for r in responses
            )
            assert outcomes == {201: 10, "course-full": 90}, (outcomes, server.stderr()[-3000:])
            assert (await client.get(f"/courses/{course['id']}")).json()["enrolled"] == 10
            roster = await client.get(f"/courses/{course['id']}/students", params={"limit": 1000})
            assert len(roster.json()["items"]) == 10
        assert '"level":"error"' not in server.stderr()


@pytest.mark.slow
def test_two_processes_through_pgbouncer_share_one_failure_count(pooled: Pooled, tmp_path: Path) -> None:
    """Two `serve` processes (two hosts, as far as the database can tell): the failures alternate
    between them by port, 10 each, and the 20th blocks the address on both."""
    env = pooled.env()
    with serving(env, tmp_path, workers=1) as first, serving(env, tmp_path, workers=1) as second:
        token = first.first_key()
        wrong = {"authorization": "Bearer not-a-real-token"}
        for n in range(20):
            server = (first, second)[n % 2]
            assert httpx.get(f"{server.url}/students", headers=wrong).status_code == 401
        for server in (first, second):
            assert_rate_limited(httpx.get(f"{server.url}/students", headers=wrong))
            assert_rate_limited(
                httpx.get(f"{server.url}/students", headers={"authorization": f"Bearer {token}"})
            )
            assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_key_revoked_through_pgbouncer_is_refused_within_a_second(pooled: Pooled, tmp_path: Path) -> None:
    env = pooled.env()
    cli(env, tmp_path, "migrate")
    token = admin_token(env, tmp_path)
    [key_id] = [line.split("\t")[0] for line in cli(env, tmp_path, "keys", "list").splitlines()]
    with TestClient(create_app(pooled.settings())) as client:
        refused_within_a_second(client, token, lambda: cli(env, tmp_path, "keys", "revoke", key_id))


# ------------------------------------------------------------------------------------ waits


async def test_no_server_connection_within_the_timeout_is_a_503_and_the_service_recovers(
    pooled: Pooled,
) -> None:
    """Every server connection of the pool is taken by another client's open transaction: reads,
    writes and /healthz wait for the pooler no longer than REGISTRAR_DB_TIMEOUT."""
    async with running(pooled.settings(db_timeout=1)) as (_, client):
        course = await new_course(client)
        holders = [await asyncpg.connect(pooled.url) for _ in range(bouncer.DEFAULT_POOL_SIZE)]
        try:
            for holder in holders:
                await holder.execute("BEGIN; SELECT 1")  # holds a server connection until it ends
            for request in (
                client.get(f"/courses/{course['id']}"),
                client.post("/students", json={"name": "Waiting", "email": "waiting@example.edu"}),
                client.get("/healthz"),
            ):
                started = time.monotonic()
                assert_unavailable(await request)
                assert time.monotonic() - started < 2.5
        finally:
            for holder in holders:
                await holder.close()
        assert (await client.get("/healthz")).status_code == 200
        found = await client.get("/students", params={"email": "waiting@example.edu"})
        assert found.json()["items"] == []
        await new_student(client, email="waiting@example.edu")


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
async def test_a_lock_not_granted_within_the_timeout_is_a_503(pooled: Pooled, write: bool) -> None:
    """The timeouts that a direct connection sets for its session come with each transaction
    behind the pooler, reads included."""
    async with running(pooled.settings(db_timeout=1, db_statement_timeout=10)) as (_, client):
        course, student = await new_course(client, capacity=5), await new_student(client)
        holder = await asyncpg.connect(pooled.direct_url)
        try:
            async with holder.transaction():
                await holder.execute("LOCK TABLE courses IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                if write:
                    path = f"/students/{student['id']}/courses"
                    response = await client.post(path, json={"course_id": course["id"]})
                else:
                    response = await client.get(f"/courses/{course['id']}")
                assert_unavailable(response)
                assert time.monotonic() - started < 3.0
        finally:
            await holder.close()
        assert (await client.get(f"/students/{student['id']}/courses")).json() == []
        assert (await client.get(f"/courses/{course['id']}")).json()["enrolled"] == 0


# ------------------------------------------------------------------------------ what is sent

THROUGH_PGBOUNCER = pytest.mark.parametrize("engine", ["pgbouncer"], indirect=True)


def transactions(sent: list[str]) -> list[list[str]]:
    """The statements sent, one list per transaction, without authentication's (whether the key
    lookup runs depends on the key cache's second, not on the request)."""
    found: list[list[str]] = []
    for statement in sent:
        if statement.startswith("BEGIN"):
            found.append([])
        found[-1].append(statement)
    return [t for t in found if not any(is_auth(s) for s in t)]


@pytest.fixture
async def statements(app: FastAPI, admin: httpx.AsyncClient) -> Statements:
    counter = Statements(app)
    await warm_up(admin)
    return counter


@THROUGH_PGBOUNCER
async def test_through_pgbouncer_every_statement_runs_in_a_transaction_that_carries_its_timeouts(
    app: FastAPI, admin: httpx.AsyncClient, statements: Statements
) -> None:
    """W1 (a read) is its one statement between BEGIN and COMMIT; W2 (an enrollment) sends what it
    sends directly; BEGIN brings the timeouts, and nothing is set for the session."""
    student, a, b = await new_student(admin), await new_course(admin), await new_course(admin)
    base = f"/students/{student['id']}/courses"
    [w2] = transactions(
        await statements.during(admin.post(base, json={"course_ids": [a["id"], b["id"]]}), 201)
    )
    [w1] = transactions(await statements.during(admin.get(base)))
    begin = "BEGIN; SET LOCAL lock_timeout = 5000; SET LOCAL statement_timeout = 30000; "
    begin += "SET LOCAL idle_in_transaction_session_timeout = 30000"
    assert len(w1) == 3
    assert len(w2) <= 7  # as many as directly (tests/test_query_count.py)
    for sent in (w1, w2):
        assert (sent[0], sent[-1]) == (begin, "COMMIT")
        assert not [s for s in sent[1:-1] if s.upper().startswith(("SET", "BEGIN", "PREPARE", "DEALLOCATE"))]
