"""Capacity under real concurrency: a `registrar serve --workers 2` process per test, and many clients
at once. No simulated races: two worker processes, one database, requests in flight together."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from registrar.cli import with_database
from registrar.config import Settings
from registrar.services import keys
from tests.pgcluster import free_port

pytestmark = pytest.mark.slow

REGISTRAR = Path(sys.executable).with_name("registrar")


@dataclass
class Server:
    url: str
    token: str
    log: Path

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            headers={"authorization": f"Bearer {self.token}"},
            timeout=120,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        )

    def json_lines(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [orjson.loads(line) for line in lines if line.startswith("{")]

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def server_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRAR_")}
    env |= {"REGISTRAR_DATABASE_URL": settings.database_url, "REGISTRAR_ACCESS_LOG": "false"}
    return env


def wait_until_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited:\n{log.read_text(errors='replace')[-3000:]}"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server did not become healthy:\n{log.read_text(errors='replace')[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as an operator would; the whole process group is killed after 15 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[Server]:
    cwd = tmp_path / "cwd"  # empty: no .env is read
    cwd.mkdir()
    env = server_env(settings)
    # Minted through the service (what `registrar keys create` calls) rather than a third process.
    token = with_database(lambda db: keys.create_key(db, "admin", "concurrency"), settings)
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(REGISTRAR), "serve", "--workers", "2", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(process, url, log)
        yield Server(url, token, log)
    finally:
        stop(process)


async def create(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def new_students(client: httpx.AsyncClient, count: int, tag: str) -> list[int]:
    bodies = [{"name": f"Racer {i}", "email": f"racer{i}.{tag}@example.edu"} for i in range(count)]
    return [s["id"] for s in await asyncio.gather(*(create(client, "/students", b) for b in bodies))]


async def seats(client: httpx.AsyncClient, course_id: int) -> tuple[int, int]:
    """The course's `enrolled` and the size of its roster."""
    course = (await client.get(f"/courses/{course_id}")).json()
    roster = (await client.get(f"/courses/{course_id}/students", params={"limit": 1000})).json()
    return course["enrolled"], len(roster["items"])


def slug(response: httpx.Response) -> str:
    if response.status_code < 400:
        return str(response.status_code)
    return f"{response.status_code} {response.json()['type'].rsplit(':', 1)[-1]}"


async def test_concurrent_enrollments_fill_a_course_exactly_to_capacity(
    server: Server, settings: Settings
) -> None:
    students, capacity = (100, 10) if settings.engine == "postgresql" else (24, 5)
    async with server.client() as client:
        course = await create(client, "/courses", {"code": "RACE1", "title": "Race", "capacity": capacity})
        student_ids = await new_students(client, students, "fill")
        responses = await asyncio.gather(
            *(client.post(f"/students/{s}/courses", json={"course_id": course["id"]}) for s in student_ids)
        )
        outcomes = Counter(slug(r) for r in responses)
        assert outcomes == {"201": capacity, "409 course-full": students - capacity}, (
            outcomes,
            server.log_tail(),
        )
        assert await seats(client, course["id"]) == (capacity, capacity)
    audit = [line for line in server.json_lines() if line["logger"] == "registrar.enrollments"]
    assert sorted(line["student_id"] for line in audit) == sorted(
        s for s, r in zip(student_ids, responses, strict=True) if r.status_code == 201
    )
    assert all(line["added"] == [course["id"]] and line["action"] == "enroll" for line in audit)


@pytest.mark.parametrize("spare", [0, 1], ids=["full", "one-spare-seat"])
async def test_concurrent_swaps_between_two_courses_never_exceed_capacity(
    server: Server, settings: Settings, spare: int
) -> None:
    """Every student asks for the other course at once. With both courses full nobody can move (each
    would need a seat another is still holding); with one spare seat each, some moves succeed."""
    per_course = 10 if settings.engine == "postgresql" else 5
    capacity = per_course + spare
    async with server.client() as client:
        a, b = [
            (await create(client, "/courses", {"code": code, "title": code, "capacity": capacity}))["id"]
            for code in ("SWAPA", "SWAPB")
        ]
        for course_id, tag in ((a, "a"), (b, "b")):
            for s in await new_students(client, per_course, tag):
                assert (
                    await client.put(f"/students/{s}/courses", json={"course_ids": [course_id]})
                ).is_success
        outcomes: Counter[str] = Counter()
        for _ in range(5):
            placed = {s: course_id for course_id in (a, b) for s in await roster(client, course_id)}
            responses = await asyncio.gather(
                *(
                    client.put(f"/students/{s}/courses", json={"course_ids": [b if course_id == a else a]})
                    for s, course_id in placed.items()
                )
            )
            outcomes.update(slug(r) for r in responses)
            assert set(outcomes) <= {"200", "409 course-full"}, (outcomes, server.log_tail())
            seats_a, seats_b = await seats(client, a), await seats(client, b)
            assert seats_a[0] == seats_a[1] <= capacity
            assert seats_b[0] == seats_b[1] <= capacity
            assert seats_a[1] + seats_b[1] == 2 * per_course  # every student kept exactly one course
        if spare:
            assert outcomes["200"] > 0
        else:
            assert outcomes == {"409 course-full": 10 * per_course}


async def roster(client: httpx.AsyncClient, course_id: int) -> list[int]:
    response = await client.get(f"/courses/{course_id}/students", params={"limit": 1000})
    return [s["id"] for s in response.json()["items"]]
