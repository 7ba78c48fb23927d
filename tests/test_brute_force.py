"""Brute-force protection (contract section 6): 20 failed authentications within 60 s block the
address for 60 s from the 20th, for every authenticated endpoint and every worker.

The clock is moved honestly: the failure record stores epoch seconds, so tests age it in the table
instead of sleeping."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from registrar.auth import Role, required_role
from registrar.config import Settings
from registrar.db import Database, Sql
from tests.helpers import assert_problem
from tests.serving import Server, environment, serving

ATTACKER = "10.0.0.7"
BYSTANDER = "10.0.0.8"


def client_at(app: FastAPI, address: str, token: str | None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://registrar.test", headers=headers)


@pytest.fixture
async def attacker(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_at(app, ATTACKER, "not-a-real-token") as client:
        yield client


@pytest.fixture
async def victim(app: FastAPI, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a valid admin token, sending from the attacker's address."""
    async with client_at(app, ATTACKER, admin_token) as client:
        yield client


async def fail(client: httpx.AsyncClient, times: int) -> None:
    for _ in range(times):
        assert_problem(await client.get("/students"), 401, "unauthorized")


async def failure_row(db: Database, address: str) -> tuple[list[float], float | None] | None:
    async with db.connection() as conn:
        row = await conn.fetchrow(
            Sql("SELECT recent_failures, blocked_until FROM auth_failures WHERE address = $1"), address
        )
    return None if row is None else (orjson.loads(row[0]), row[1])


async def rewrite(db: Database, address: str, recent: list[float], blocked: float | None) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            Sql("UPDATE auth_failures SET recent_failures = $2, blocked_until = $3 WHERE address = $1"),
            address,
            orjson.dumps(recent).decode(),
            blocked,
        )


async def count_failure_rows(db: Database) -> int:
    async with db.connection() as conn:
        return int(await conn.fetchval(Sql("SELECT count(*) FROM auth_failures")))


def assert_rate_limited(response: httpx.Response, at_most: int = 60) -> int:
    assert_problem(response, 429, "rate-limited")
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= at_most
    return retry_after


def authenticated_requests(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of an endpoint that needs a token, with 1 for each path id."""
    found = []
    for route in app.routes:
        if isinstance(route, APIRoute) and required_role(route) is not Role.PUBLIC:
            path = re.sub(r"\{[^}]*\}", "1", route.path)
            found += [(method, path) for method in sorted(route.methods)]
    return found


async def test_nineteen_failures_do_not_block(
    app: FastAPI, attacker: httpx.AsyncClient, victim: httpx.AsyncClient
) -> None:
    await fail(attacker, 19)
    assert (await victim.get("/students")).status_code == 200


async def test_twenty_failures_within_a_minute_block_every_authenticated_endpoint(
    app: FastAPI, attacker: httpx.AsyncClient, victim: httpx.AsyncClient
) -> None:
    await fail(attacker, 20)
    requests = authenticated_requests(app)
    assert len(requests) >= 15
    for method, path in requests:
        body = {} if method in ("POST", "PUT", "PATCH") else None
        assert_rate_limited(await victim.request(method, path, json=body))
    assert_rate_limited(await attacker.get("/students"))


async def test_block_lasts_sixty_seconds_from_the_twentieth_failure(
    app: FastAPI, attacker: httpx.AsyncClient, victim: httpx.AsyncClient
) -> None:
    await fail(attacker, 19)
    twentieth = time.time()
    await fail(attacker, 1)
    row = await failure_row(app.state.runtime.db, ATTACKER)
    assert row is not None
    assert row[1] is not None
    assert twentieth + 59 <= row[1] <= time.time() + 60
    assert assert_rate_limited(await victim.get("/students")) >= 59


async def test_retry_after_counts_the_seconds_left(
    app: FastAPI, attacker: httpx.AsyncClient, victim: httpx.AsyncClient
) -> None:
    db = app.state.runtime.db
    await fail(attacker, 20)
    await rewrite(db, ATTACKER, [], time.time() + 4.2)  # the block began 55.8 s ago
    assert assert_rate_limited(await victim.get("/students"), at_most=5) == 5


async def test_block_ends_after_sixty_seconds(
    app: FastAPI, attacker: httpx.AsyncClient, victim: httpx.AsyncClient
) -> None:
    db = app.state.runtime.db
    await fail(attacker, 20)
    assert_rate_limited(await victim.get("/students"))
    row = await failure_row(db, ATTACKER)
    assert row is not None
    assert row[1] is not None
    await rewrite(db, ATTACKER, row[0], row[1] - 60)  # as if 60 s had passed
    assert (await victim.get("/students")).status_code == 200
    assert_problem(await attacker.get("/students"), 401, "unauthorized")  # counting starts anew


async def test_failures_spread_over_more_than_a_minute_do_not_block(
    app: FastAPI, attacker: httpx.AsyncClient, victim: httpx.AsyncClient
) -> None:
    db = app.state.runtime.db
    await fail(attacker, 19)
    row = await failure_row(db, ATTACKER)
    assert row is not None
    assert len(row[0]) == 19
    await rewrite(db, ATTACKER, [t - 61 for t in row[0]], row[1])  # as if 61 s had passed
    await fail(attacker, 19)
    assert (await victim.get("/students")).status_code == 200
    await fail(attacker, 1)  # the 20th within the last minute
    assert_rate_limited(await victim.get("/students"))


async def test_other_addresses_and_open_endpoints_are_unaffected(
    app: FastAPI, admin_token: str, attacker: httpx.AsyncClient, victim: httpx.AsyncClient
) -> None:
    await fail(attacker, 20)
    async with client_at(app, BYSTANDER, admin_token) as bystander:
        assert (await bystander.get("/students")).status_code == 200
    for path in ("/healthz", "/openapi.json", "/docs", "/redoc"):
        assert (await victim.get(path)).status_code == 200, path
    assert_rate_limited(await victim.get("/students"))


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(
    app: FastAPI, attacker: httpx.AsyncClient, victim: httpx.AsyncClient
) -> None:
    for n in range(20):
        response = await attacker.get("/students", headers={"x-forwarded-for": f"192.0.2.{n}"})
        assert_problem(response, 401, "unauthorized")
    assert_rate_limited(await victim.get("/students"))


async def test_successful_requests_write_no_failure_record(
    app: FastAPI, victim: httpx.AsyncClient, reader_token: str
) -> None:
    for n in range(30):
        assert (await victim.get("/students")).status_code == 200
        created = await victim.post("/students", json={"name": f"S{n}", "email": f"s{n}@example.edu"})
        assert created.status_code == 201
    async with client_at(app, ATTACKER, reader_token) as reader:
        for _ in range(20):
            assert (await reader.get("/courses")).status_code == 200
    assert await count_failure_rows(app.state.runtime.db) == 0


async def test_successful_requests_leave_an_unblocked_address_record_untouched(
    app: FastAPI, attacker: httpx.AsyncClient, victim: httpx.AsyncClient
) -> None:
    db = app.state.runtime.db
    await fail(attacker, 5)
    before = await failure_row(db, ATTACKER)
    for _ in range(30):
        assert (await victim.get("/students")).status_code == 200
    assert await failure_row(db, ATTACKER) == before
    await fail(attacker, 15)  # good requests did not reset the count either
    assert_rate_limited(await victim.get("/students"))


# ------------------------------------------------------------------------------ two workers


@pytest.fixture
def two_workers(settings: Settings, tmp_path: Path) -> Iterator[Server]:
    """`registrar serve --workers 2` on the test database."""
    with serving(environment(settings.database_url), tmp_path, workers=2) as server:
        yield server
    print(server.stderr())  # shown when the test fails


def _workers(pid: int) -> list[int]:
    """The worker processes uvicorn spawned under `pid` (not its resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # not (or no longer) a process of ours
        return inodes
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _worker_of_connection(
    workers: list[int], server_port: int, client_port: int, within: float
) -> int | None:
    """The worker process holding the server side of the connection from `client_port`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            parts = line.split()
            local, remote, inode = parts[1], parts[2], parts[9]
            if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
                for pid in workers:
                    if inode in _socket_inodes(pid):
                        return pid
        time.sleep(0.02)
    return None


def _connection_avoiding(paused: int, workers: list[int], port: int) -> socket.socket | None:
    """A new connection accepted while worker `paused` is stopped (SIGSTOP), so that the kernel
    hands it to the other worker; None if no worker took it in time. The pause is brief: uvicorn
    replaces a worker that misses its 5 s health check."""
    os.kill(paused, signal.SIGSTOP)
    try:
        conn = socket.create_connection(("127.0.0.1", port), timeout=10)
        holder = _worker_of_connection(workers, port, conn.getsockname()[1], within=1.5)
    finally:
        os.kill(paused, signal.SIGCONT)
    if holder is None or holder == paused:
        conn.close()
        return None
    return conn


def _connections_on_each_worker(
    process: subprocess.Popen[bytes], port: int, each: int
) -> list[socket.socket]:
    """2 * `each` new connections, alternately accepted by one worker and the other."""
    connections: list[socket.socket] = []
    deadline = time.monotonic() + 90
    while len(connections) < 2 * each:
        assert time.monotonic() < deadline, "a worker never accepted connections"
        workers = _workers(process.pid)
        conn = (
            _connection_avoiding(workers[len(connections) % 2], workers, port) if len(workers) == 2 else None
        )
        if conn is None:  # a worker is still starting up (or being replaced)
            time.sleep(0.5)
            continue
        connections.append(conn)
    return connections


def _status_over(conn: socket.socket, path: str, token: str) -> int:
    """Send one request on an open connection and read its whole answer; its status."""
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        assert chunk, "connection closed before the headers"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += conn.recv(4096)
    return int(head.split(b" ", 2)[1])


@pytest.mark.slow
def test_two_workers_share_one_failure_count(two_workers: Server) -> None:
    port, process = two_workers.port, two_workers.process
    connections = _connections_on_each_worker(process, port, 10)
    try:
        # 20 failures, each on a new connection, alternating between the workers: 10 each.
        for conn in connections:
            assert _status_over(conn, "/students", "wrong-token") == 401
        for conn in connections[:2]:
            assert _status_over(conn, "/students", "wrong-token") == 429
    finally:
        for conn in connections:
            conn.close()
    blocked = httpx.get(f"http://127.0.0.1:{port}/students", headers={"authorization": "Bearer x"})
    assert_rate_limited(blocked)
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
