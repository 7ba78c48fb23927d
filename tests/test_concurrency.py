"""Capacity under real concurrency: a `registrar serve --workers 2` process per test, and many clients
at once. No simulated races: two worker processes, one database, requests in flight together."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from registrar.config import Settings
from tests.serving import Server, environment, serving

pytestmark = pytest.mark.slow


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[Server]:
    """`serve --workers 2` on the test's clean database; it prints the first admin key."""
    with serving(environment(settings.database_url), tmp_path, workers=2) as running:
        yield running


def admin_client(server: Server) -> httpx.AsyncClient:
    return server.client(timeout=120, connections=200)


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
    async with admin_client(server) as client:
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
    async with admin_client(server) as client:
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
