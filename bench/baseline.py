"""The baseline: the leanest Python server we could write for the benchmark's four requests.

registrar is measured as a fraction of this. It is a raw ASGI app (no framework) under uvicorn
with uvloop and httptools, each worker listening on its own SO_REUSEPORT socket; on PostgreSQL 10
asyncpg connections a worker, each with its statements prepared once, handed out from a free
list; on SQLite the stdlib sqlite3 module called inline on a WAL file; orjson; bearer tokens checked by their SHA-256 digest against the
active keys read once at start. It answers, with registrar's status codes and byte-for-byte its
JSON (timestamps RFC 3339 with Z):

    W1  GET  /students/{id}/courses
    W2  POST /students/{id}/courses   {"course_ids": [...]}  all or nothing, capacity, 201/200
    W3  GET  /courses/{id}/students?limit=50[&after=N]
    W4  GET  /students/{id}
        GET  /healthz

and a bare 404 to anything else. It writes no log line and skips what the benchmark never asks
for (rate limits, idempotency keys, key revocation), which is the point: it is the floor the
stack has to stand on, not a second implementation of the contract.

Usage: python bench/baseline.py --database-url URL [--port 8100] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import sqlite3
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl

import asyncpg
import orjson
import uvicorn
from uvicorn.supervisors import Multiprocess

MAX_ID = 2**63 - 1
POOL_SIZE = 10  # registrar's default REGISTRAR_DB_POOL_SIZE, so both servers get the same connections
DB_TIMEOUT = 5.0  # registrar's default REGISTRAR_DB_TIMEOUT (lock and busy waits)
SQLITE_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
URL_VARIABLE = "BASELINE_DATABASE_URL"  # how the spawned workers learn the database

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Answer = tuple[int, Any]  # status and a body orjson can write


class HttpError(Exception):
    """An answer other than the happy path: a problem body with its status."""

    def __init__(self, status: int, slug: str, **members: Any) -> None:
        super().__init__(slug)
        self.status = status
        self.body = {"type": f"urn:registrar:problem:{slug}", "title": slug, "status": status, **members}


# ------------------------------------------------------------------------------------------ the SQL

STUDENT_COURSES = (
    "SELECT c.id, c.code, c.title, sc.enrolled_at FROM students s "
    "LEFT JOIN student_courses sc ON sc.student_id = s.id LEFT JOIN courses c ON c.id = sc.course_id "
    "WHERE s.id = $1 ORDER BY c.id"
)
STUDENT = (
    "SELECT s.id, s.name, s.email, s.created_at, s.updated_at, "
    "c.id AS course_id, c.code, c.title, sc.enrolled_at "
    "FROM students s LEFT JOIN student_courses sc ON sc.student_id = s.id "
    "LEFT JOIN courses c ON c.id = sc.course_id WHERE s.id = $1 ORDER BY c.id"
)
ROSTER = (
    "SELECT s.id, s.name, s.email, sc.enrolled_at FROM student_courses sc "
    "JOIN students s ON s.id = sc.student_id "
    "WHERE sc.course_id = $1 AND sc.student_id > $2 ORDER BY sc.student_id LIMIT $3"
)
COURSE_EXISTS = "SELECT 1 FROM courses WHERE id = $1"
ACTIVE_KEYS = "SELECT token_digest, role FROM api_keys WHERE revoked_at IS NULL"
PG_LOCK_STUDENT = (
    "SELECT sc.course_id FROM students s LEFT JOIN student_courses sc ON sc.student_id = s.id "
    "WHERE s.id = $1 FOR UPDATE OF s"
)
PG_LOCK_SEATS = (
    "SELECT id, capacity, enrolled FROM courses WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"
)
# Insert, count the seats and answer the whole list in one round trip. The final SELECT sees the
# snapshot from before the statement, so the new rows come from the INSERT's RETURNING.
PG_ENROLL = (
    "WITH added AS (INSERT INTO student_courses (student_id, course_id, enrolled_at) "
    "SELECT $1, c, $3 FROM unnest($2::bigint[]) AS c RETURNING course_id, enrolled_at), "
    "seats AS (UPDATE courses SET enrolled = enrolled + 1 WHERE id = ANY($2::bigint[])) "
    "SELECT c.id, c.code, c.title, e.enrolled_at FROM "
    "(SELECT course_id, enrolled_at FROM student_courses WHERE student_id = $1 "
    "UNION ALL SELECT course_id, enrolled_at FROM added) e "
    "JOIN courses c ON c.id = e.course_id ORDER BY c.id"
)
SQLITE_LOCK_STUDENT = (
    "SELECT sc.course_id FROM students s LEFT JOIN student_courses sc ON sc.student_id = s.id WHERE s.id = ?1"
)
SQLITE_COURSE_LIST = (
    "SELECT c.id, c.code, c.title, sc.enrolled_at FROM student_courses sc "
    "JOIN courses c ON c.id = sc.course_id WHERE sc.student_id = ?1 ORDER BY sc.course_id"
)
SQLITE_SEATS = "SELECT id, capacity, enrolled FROM courses WHERE id IN (SELECT value FROM json_each(?1))"
SQLITE_ADD_SEATS = "UPDATE courses SET enrolled = enrolled + 1 WHERE id IN (SELECT value FROM json_each(?1))"
SQLITE_INSERT = (
    "INSERT INTO student_courses (student_id, course_id, enrolled_at) SELECT ?1, value, ?3 FROM json_each(?2)"
)


PREPARED = (STUDENT_COURSES, STUDENT, ROSTER, COURSE_EXISTS, PG_LOCK_STUDENT, PG_LOCK_SEATS, PG_ENROLL)


def sqlite_text(statement: str) -> str:
    """The same statement with SQLite's ?N parameters."""
    for n in range(9, 0, -1):
        statement = statement.replace(f"${n}", f"?{n}")
    return statement


SQLITE_STUDENT_COURSES, SQLITE_STUDENT, SQLITE_ROSTER, SQLITE_COURSE_EXISTS = map(
    sqlite_text, (STUDENT_COURSES, STUDENT, ROSTER, COURSE_EXISTS)
)


def check_seats(joining: list[int], seats: list[Any]) -> None:
    """The contract's order: unknown courses first, then full ones."""
    unknown = sorted(set(joining) - {r[0] for r in seats})
    if unknown:
        raise HttpError(422, "unknown-courses", invalid_course_ids=unknown)
    full = sorted(r[0] for r in seats if r[1] is not None and r[2] >= r[1])
    if full:
        raise HttpError(409, "course-full", full_course_ids=full)


def student_body(rows: list[Any]) -> dict[str, Any]:
    first = rows[0]
    courses = [
        {"id": r[5], "code": r[6], "title": r[7], "enrolled_at": r[8]} for r in rows if r[5] is not None
    ]
    return {
        "id": first[0],
        "name": first[1],
        "email": first[2],
        "created_at": first[3],
        "updated_at": first[4],
        "courses": courses,
    }


def course_list(rows: list[Any]) -> list[dict[str, Any]]:
    return [{"id": r[0], "code": r[1], "title": r[2], "enrolled_at": r[3]} for r in rows if r[0] is not None]


def roster_page(rows: list[Any], limit: int) -> dict[str, Any]:
    items = [{"id": r[0], "name": r[1], "email": r[2], "enrolled_at": r[3]} for r in rows[:limit]]
    return {"items": items, "next_after": items[-1]["id"] if len(rows) > limit else None}


# ---------------------------------------------------------------------------------------- the stores


class Store(Protocol):
    async def keys(self) -> dict[str, str]: ...
    async def student_courses(self, student_id: int) -> list[dict[str, Any]] | None: ...
    async def enroll(self, student_id: int, course_ids: list[int]) -> Answer: ...
    async def roster(self, course_id: int, after: int, limit: int) -> dict[str, Any] | None: ...
    async def student(self, student_id: int) -> dict[str, Any] | None: ...
    async def close(self) -> None: ...


class Connections:
    """A worker's PostgreSQL connections, each with its statements prepared once: a free list and
    the requests waiting for one, first come first served. asyncpg's pool does more (timeouts,
    resets, health) at a cost on every request that a floor does without."""

    def __init__(self, prepared: list[Prepared]) -> None:
        self.free = prepared
        self.waiting: deque[asyncio.Future[Prepared]] = deque()

    async def take(self) -> Prepared:
        if self.free:
            return self.free.pop()
        waiter = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        return await waiter

    def give(self, prepared: Prepared) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(prepared)
                return
        self.free.append(prepared)


@dataclass
class Prepared:
    """One connection and its statements, prepared once (in the order of PREPARED)."""

    conn: asyncpg.Connection
    student_courses: Any
    student: Any
    roster: Any
    course_exists: Any
    lock_student: Any
    lock_seats: Any
    enroll: Any

    @classmethod
    async def open(cls, url: str) -> Prepared:
        conn = await asyncpg.connect(url)
        return cls(conn, *[await conn.prepare(statement) for statement in PREPARED])


class PostgresStore:
    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    @classmethod
    async def open(cls, url: str) -> PostgresStore:
        return cls(Connections([await Prepared.open(url) for _ in range(POOL_SIZE)]))

    async def keys(self) -> dict[str, str]:
        db = await self.connections.take()
        try:
            return {r[0]: r[1] for r in await db.conn.fetch(ACTIVE_KEYS)}
        finally:
            self.connections.give(db)

    async def student_courses(self, student_id: int) -> list[dict[str, Any]] | None:
        db = await self.connections.take()
        try:
            rows = await db.student_courses.fetch(student_id)
        finally:
            self.connections.give(db)
        return course_list(rows) if rows else None

    async def enroll(self, student_id: int, course_ids: list[int]) -> Answer:
        db = await self.connections.take()
        try:
            await db.conn.execute("BEGIN")
            try:
                answer = await self._enroll(db, student_id, course_ids)
            except BaseException:
                await db.conn.execute("ROLLBACK")
                raise
            await db.conn.execute("COMMIT")
        finally:
            self.connections.give(db)
        return answer

    async def _enroll(self, db: Prepared, student_id: int, course_ids: list[int]) -> Answer:
        """Lock the student, then the joining courses in id order (so concurrent requests queue
        instead of deadlocking), check, then write and answer in one statement."""
        current = await db.lock_student.fetch(student_id)
        if not current:
            raise HttpError(404, "not-found")
        joining = sorted(set(course_ids) - {r[0] for r in current})
        if not joining:
            return 200, course_list(await db.student_courses.fetch(student_id))
        check_seats(joining, await db.lock_seats.fetch(joining))
        return 201, course_list(await db.enroll.fetch(student_id, joining, datetime.now(UTC)))

    async def roster(self, course_id: int, after: int, limit: int) -> dict[str, Any] | None:
        db = await self.connections.take()
        try:
            rows = await db.roster.fetch(course_id, after, limit + 1)
            if not rows and await db.course_exists.fetchval(course_id) is None:
                return None
        finally:
            self.connections.give(db)
        return roster_page(rows, limit)

    async def student(self, student_id: int) -> dict[str, Any] | None:
        db = await self.connections.take()
        try:
            rows = await db.student.fetch(student_id)
        finally:
            self.connections.give(db)
        return student_body(rows) if rows else None

    async def close(self) -> None:
        for db in self.connections.free:
            await db.conn.close()


class SqliteStore:
    """One connection per worker, called inline: each request runs to its end without yielding,
    so no lock is needed inside a worker; SQLite serialises the writers of both workers."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, timeout=DB_TIMEOUT, isolation_level=None, cached_statements=64)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")

    async def keys(self) -> dict[str, str]:
        return dict(self.conn.execute(ACTIVE_KEYS).fetchall())

    async def student_courses(self, student_id: int) -> list[dict[str, Any]] | None:
        rows = self.conn.execute(SQLITE_STUDENT_COURSES, (student_id,)).fetchall()
        return course_list(rows) if rows else None

    async def enroll(self, student_id: int, course_ids: list[int]) -> Answer:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute(SQLITE_LOCK_STUDENT, (student_id,))
            current_ids = [r[0] for r in current.fetchall()]
            if not current_ids:
                raise HttpError(404, "not-found")
            joining = sorted(set(course_ids) - set(current_ids))
            if joining:
                ids = orjson.dumps(joining).decode()
                check_seats(joining, conn.execute(SQLITE_SEATS, (ids,)).fetchall())
                conn.execute(SQLITE_ADD_SEATS, (ids,))
                conn.execute(SQLITE_INSERT, (student_id, ids, datetime.now(UTC).strftime(SQLITE_TIME)))
            rows = conn.execute(SQLITE_COURSE_LIST, (student_id,)).fetchall()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return (201 if joining else 200), course_list(rows)

    async def roster(self, course_id: int, after: int, limit: int) -> dict[str, Any] | None:
        rows = self.conn.execute(SQLITE_ROSTER, (course_id, after, limit + 1)).fetchall()
        if not rows and self.conn.execute(SQLITE_COURSE_EXISTS, (course_id,)).fetchone() is None:
            return None
        return roster_page(rows, limit)

    async def student(self, student_id: int) -> dict[str, Any] | None:
        rows = self.conn.execute(SQLITE_STUDENT, (student_id,)).fetchall()
        return student_body(rows) if rows else None

    async def close(self) -> None:
        self.conn.close()


async def open_store(url: str) -> Store:
    if url.startswith("sqlite:///"):
        return SqliteStore(url.removeprefix("sqlite:///"))
    return await PostgresStore.open(url)


# ----------------------------------------------------------------------------------------- the app


class Worker:
    """What one worker holds: its store and the digests of the active keys with their roles."""

    store: Store
    roles: dict[str, str]


worker = Worker()


def path_id(text: str) -> int:
    if not text.isdigit() or text[0] == "0" or len(text) > 19 or int(text) > MAX_ID:
        raise HttpError(404, "not-found")
    return int(text)


def authorise(scope: Scope, needed: str) -> None:
    token = b""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            token = token.strip() if scheme.lower() == b"bearer" else b""
    role = worker.roles.get(hashlib.sha256(token).hexdigest()) if token else None
    if role is None:
        raise HttpError(401, "unauthorized")
    if needed == "admin" and role != "admin":
        raise HttpError(403, "forbidden")


def course_ids_of(body: bytes) -> list[int]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise HttpError(400, "malformed-json") from None
    ids = data.get("course_ids") if isinstance(data, dict) and data.keys() == {"course_ids"} else None
    if (
        not isinstance(ids, list)
        or not 1 <= len(ids) <= 1000
        or not all(type(i) is int and 1 <= i <= MAX_ID for i in ids)
    ):
        raise HttpError(422, "validation-error", errors=[{"loc": ["body", "course_ids"], "msg": "invalid"}])
    return ids


def found(body: Any) -> Any:
    if body is None:
        raise HttpError(404, "not-found")
    return body


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def route(scope: Scope, receive: Receive) -> Answer:
    """Route and method, then the token and role, then the body: the contract's order."""
    method, parts = scope["method"], scope["path"].split("/")
    if parts == ["", "healthz"] and method == "GET":
        return 200, {"status": "ok"}
    if len(parts) == 4 and parts[1] == "students" and parts[3] == "courses" and method in ("GET", "POST"):
        student_id = path_id(parts[2])
        if method == "GET":
            authorise(scope, "reader")
            return 200, found(await worker.store.student_courses(student_id))
        authorise(scope, "admin")
        return await worker.store.enroll(student_id, course_ids_of(await read_body(receive)))
    if len(parts) == 4 and parts[1] == "courses" and parts[3] == "students" and method == "GET":
        course_id = path_id(parts[2])
        authorise(scope, "reader")
        query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        limit, after = int(query.get("limit", 50)), int(query.get("after", 0))
        return 200, found(await worker.store.roster(course_id, after, limit))
    if len(parts) == 3 and parts[1] == "students" and method == "GET":
        student_id = path_id(parts[2])
        authorise(scope, "reader")
        return 200, found(await worker.store.student(student_id))
    raise HttpError(404, "not-found")


def request_id(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and 1 <= len(value) <= 128 and all(33 <= c <= 126 for c in value):
            return bytes(value)
    return os.urandom(16).hex().encode()


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            worker.store = await open_store(os.environ[URL_VARIABLE])
            worker.roles = await worker.store.keys()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await worker.store.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    try:
        status, body = await route(scope, receive)
        media_type = b"application/json"
    except HttpError as error:
        status, body, media_type = error.status, error.body, b"application/problem+json"
    payload = orjson.dumps(body, option=orjson.OPT_UTC_Z)
    headers = [
        (b"content-type", media_type),
        (b"content-length", str(len(payload)).encode()),
        (b"x-request-id", request_id(scope)),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="postgresql://... or sqlite:///path")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ[URL_VARIABLE] = args.database_url
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the workers import "baseline:app"
    config = uvicorn.Config(
        "baseline:app",
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
    )
    Multiprocess(config, sockets=[ReusePortSocket.bound(args.host, args.port)]).run()


class ReusePortSocket(socket.socket):
    """Each worker listens on a socket of its own (SO_REUSEPORT), so the kernel spreads connections
    over them, as `registrar serve` does (src/registrar/supervisor.py): the parent's socket is
    bound but never listens, and pickles (uvicorn hands it to each worker it starts) as a new one
    bound to the same address."""

    @classmethod
    def bound(cls, host: str, port: int) -> ReusePortSocket:
        sock = cls(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        return sock

    def __reduce__(self) -> tuple[Any, ...]:
        return ReusePortSocket.bound, self.getsockname()[:2]


if __name__ == "__main__":
    main()
