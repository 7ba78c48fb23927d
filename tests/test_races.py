"""Races on one student's enrollments (contract section 4): many clients in flight at once against a
real `registrar serve --workers 2`, on each engine. Whatever the interleaving, no request answers a
5xx, seat counts agree with the rosters, and every change writes exactly one enrollment log line,
tied to its response by the `X-Request-ID` the client sent.

One server per engine serves the whole module; each test makes its own students and courses.
`RACE_REPEAT=N` runs every race N times (e.g. `RACE_REPEAT=20 pytest tests/test_races.py -k postgresql`).
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests import pgcluster
from tests.serving import Server, two_workers_on_a_new_database

pytestmark = pytest.mark.slow

REPEAT = int(os.environ.get("RACE_REPEAT", "1"))
CLIENTS = 24
WAVES = 4

Change = tuple[str, list[int], list[int]]  # action, added, removed


@dataclass
class Deployment:
    server: Server
    key_id: int

    def client(self) -> httpx.AsyncClient:
        return self.server.client(timeout=60.0, connections=CLIENTS + 8)

    def changes(self, student_ids: Iterable[int]) -> dict[str, list[Change]]:
        """The enrollment log lines about these students, by request id."""
        wanted = set(student_ids)
        found: dict[str, list[Change]] = {}
        for line in self.server.json_lines():
            if line["logger"] != "registrar.enrollments" or line["student_id"] not in wanted:
                continue
            assert line["key_id"] == self.key_id, line
            found.setdefault(line["request_id"], []).append((line["action"], line["added"], line["removed"]))
        return found

    def explain(self, responses: list[httpx.Response]) -> str:
        """For a failed assertion: the outcomes, and the first line of each error the server logged
        for these requests."""
        ids = {request_id(r) for r in responses}
        errors = {
            line["msg"].splitlines()[0]
            for line in self.server.json_lines()
            if line["level"] in ("error", "critical") and any(i in line["msg"] for i in ids)
        }
        outcomes = sorted(Counter(outcome(r) for r in responses).items())
        return f"outcomes {outcomes}; errors logged: {sorted(errors)}"


@pytest.fixture(scope="module")
def deployment(
    engine: str, postgres: pgcluster.ThrowawayPostgres | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """`serve --workers 2` on a new database, which it migrates, printing its first admin key."""
    cwd = tmp_path_factory.mktemp(f"races-{engine}")  # empty: no .env is read
    with two_workers_on_a_new_database(engine, postgres, cwd, "registrar_races") as (server, key_id):
        yield Deployment(server, key_id=key_id)


@pytest.fixture(params=range(REPEAT), ids=lambda n: f"round{n + 1}")
def tag(request: pytest.FixtureRequest) -> str:
    """A word that no other test's (or round's) e-mails and course codes share."""
    return f"{request.param}{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------------------- helpers


async def warm_up(client: httpx.AsyncClient, student_id: int) -> None:
    """Open a connection for each client, and database connections in both workers, so that the
    race's requests start together instead of queueing behind connection set-ups."""
    for _ in range(2):
        await asyncio.gather(*(client.get(f"/students/{student_id}/courses") for _ in range(CLIENTS)))


async def send(client: httpx.AsyncClient, method: str, path: str, body: Any = None) -> httpx.Response:
    """One request with an `X-Request-ID` of its own, to find its log lines by."""
    return await client.request(method, path, json=body, headers={"x-request-id": uuid.uuid4().hex})


def request_id(response: httpx.Response) -> str:
    return response.request.headers["x-request-id"]


def outcome(response: httpx.Response) -> str:
    """`METHOD status`, and the problem's slug when the answer is one."""
    text = f"{response.request.method} {response.status_code}"
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        text += " " + re.split(r"[:/]", response.json()["type"])[-1]
    return text


def course_ids(response: httpx.Response) -> list[int]:
    return [course["id"] for course in response.json()]


async def new_students(client: httpx.AsyncClient, tag: str, count: int) -> list[int]:
    made = []
    for n in range(count):
        body = {"name": f"Racer {n}", "email": f"racer{n}.{tag}@example.edu"}
        response = await client.post("/students", json=body)
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    return made


async def new_courses(client: httpx.AsyncClient, tag: str, count: int, capacity: int | None) -> list[int]:
    made = []
    for n in range(count):
        body = {"code": f"R{n}-{tag}", "title": f"Race {n}", "capacity": capacity}
        response = await client.post("/courses", json=body)
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    return made


async def courses_of(client: httpx.AsyncClient, student_id: int) -> list[int]:
    response = await client.get(f"/students/{student_id}/courses")
    assert response.status_code == 200, response.text
    return course_ids(response)


async def checked_rosters(client: httpx.AsyncClient, courses: Iterable[int]) -> dict[int, set[int]]:
    """Each course's roster, after checking that its `enrolled` is the roster's length."""
    found = {}
    for course_id in courses:
        course = (await client.get(f"/courses/{course_id}")).json()
        roster = (await client.get(f"/courses/{course_id}/students", params={"limit": 1000})).json()
        found[course_id] = {entry["id"] for entry in roster["items"]}
        assert course["enrolled"] == len(found[course_id]), (course, roster)
    return found


def assert_one_history(initial: frozenset[int], final: frozenset[int], moves: list[tuple[Any, Any]]) -> None:
    """The moves (before -> after) chain from `initial` to `final`: every set entered is left again,
    but the final one, and every set left was entered first, but the initial one."""
    balance: Counter[frozenset[int]] = Counter()
    for before, after in moves:
        balance[before] -= 1
        balance[after] += 1
    balance[initial] += 1
    balance[final] -= 1
    assert {s: n for s, n in balance.items() if n} == {}, moves


# ------------------------------------------------------------------------------------------ races


@pytest.mark.parametrize("capacity", [None, 1], ids=["no-limit", "one-seat"])
async def test_one_enrollment_raced_by_many_clients_is_made_once(
    deployment: Deployment, tag: str, capacity: int | None
) -> None:
    """A wave of identical enrollments per course, one course after the other."""
    async with deployment.client() as client:
        [student] = await new_students(client, tag, 1)
        courses = await new_courses(client, tag, WAVES, capacity)
        await warm_up(client, student)
        made = []
        for wave, course in enumerate(courses):
            body = {"course_ids": [course]}
            responses = await asyncio.gather(
                *(send(client, "POST", f"/students/{student}/courses", body) for _ in range(CLIENTS))
            )
            outcomes = Counter(outcome(r) for r in responses)
            assert outcomes == {"POST 201": 1, "POST 200": CLIENTS - 1}, deployment.explain(responses)
            assert all(course_ids(r) == courses[: wave + 1] for r in responses)
            made += [request_id(r) for r in responses if r.status_code == 201]
        assert await courses_of(client, student) == courses
        assert await checked_rosters(client, courses) == {c: {student} for c in courses}
    expected: dict[str, list[Change]] = {
        rid: [("enroll", [c], [])] for rid, c in zip(made, courses, strict=True)
    }
    assert deployment.changes([student]) == expected


async def test_enrolls_and_drops_of_one_pair_interleaved_keep_seats_and_log_in_step(
    deployment: Deployment, tag: str
) -> None:
    """Half the clients enroll the student in a one-seat course, half drop it, in waves. Changes
    alternate (each enroll follows a drop), so the 201s outnumber the 204s by the final state."""
    responses: list[httpx.Response] = []
    async with deployment.client() as client:
        [student] = await new_students(client, tag, 1)
        [course] = await new_courses(client, tag, 1, capacity=1)
        enroll = ("POST", f"/students/{student}/courses", {"course_ids": [course]})
        drop = ("DELETE", f"/students/{student}/courses/{course}", None)
        await warm_up(client, student)
        for _ in range(WAVES):
            wave = await asyncio.gather(*(send(client, *(enroll, drop)[n % 2]) for n in range(CLIENTS)))
            responses += wave
            allowed = {"POST 201", "POST 200", "DELETE 204", "DELETE 404 not-found"}
            assert {outcome(r) for r in wave} <= allowed, deployment.explain(wave)
            assert all(course_ids(r) == [course] for r in wave if r.request.method == "POST")
            now = await courses_of(client, student)
            assert now in ([], [course])
            assert await checked_rosters(client, [course]) == {course: {student} if now else set()}
    enrolls = [request_id(r) for r in responses if r.status_code == 201]
    drops = [request_id(r) for r in responses if r.status_code == 204]
    assert len(enrolls) - len(drops) == len(now), deployment.explain(responses)
    expected: dict[str, list[Change]] = {rid: [("enroll", [course], [])] for rid in enrolls}
    expected |= {rid: [("drop", [], [course])] for rid in drops}
    assert deployment.changes([student]) == expected


SETS = [(), (0,), (0, 1), (1, 2), (2, 3), (0, 3), (1,)]  # indexes into the test's four courses


async def test_concurrent_replaces_of_one_student_leave_one_of_their_sets(
    deployment: Deployment, tag: str
) -> None:
    """Every PUT answers its own set, and the log lines chain from the first set to the final one.
    Each course has a seat for the student beside a bystander's, so none of them may be full."""
    async with deployment.client() as client:
        bystander, student = await new_students(client, tag, 2)
        courses = await new_courses(client, tag, 4, capacity=2)
        assert (await client.put(f"/students/{bystander}/courses", json={"course_ids": courses})).is_success
        initial = frozenset(courses[:2])
        first_put = await send(client, "PUT", f"/students/{student}/courses", {"course_ids": sorted(initial)})
        assert first_put.status_code == 200, first_put.text
        await warm_up(client, student)
        wanted = [frozenset(courses[i] for i in SETS[n % len(SETS)]) for n in range(CLIENTS)]
        responses = await asyncio.gather(
            *(send(client, "PUT", f"/students/{student}/courses", {"course_ids": sorted(w)}) for w in wanted)
        )
        assert {outcome(r) for r in responses} == {"PUT 200"}, deployment.explain(responses)
        assert all(course_ids(r) == sorted(w) for r, w in zip(responses, wanted, strict=True))
        final = frozenset(await courses_of(client, student))
        assert final in wanted
        assert await checked_rosters(client, courses) == {
            c: {bystander} | ({student} if c in final else set()) for c in courses
        }
    changes = deployment.changes([student])
    assert changes.pop(request_id(first_put)) == [("replace", sorted(initial), [])]
    moves = []
    unchanged = []
    for response, after in zip(responses, wanted, strict=True):
        lines = changes.pop(request_id(response), [])
        if not lines:
            unchanged.append(after)
            continue
        [(action, added, removed)] = lines
        assert action == "replace"
        assert added or removed
        assert set(added) <= after and not set(removed) & after, (after, added, removed)
        moves.append(((after - set(added)) | set(removed), after))
    assert changes == {}
    assert_one_history(initial, final, moves)
    # A PUT that changed nothing found its set already there.
    assert set(unchanged) <= {initial} | {after for _, after in moves}


async def test_concurrent_drops_of_one_enrollment_get_one_204_and_404s(
    deployment: Deployment, tag: str
) -> None:
    """A wave of identical drops per enrollment, the student enrolled again between waves; another
    course of the student's stays untouched."""
    expected: dict[str, list[Change]] = {}
    async with deployment.client() as client:
        [student] = await new_students(client, tag, 1)
        course, other = await new_courses(client, tag, 2, capacity=None)
        await warm_up(client, student)
        for wave in range(WAVES):
            body = {"course_ids": [course, other]}
            enrolled = await send(client, "POST", f"/students/{student}/courses", body)
            assert enrolled.status_code == 201, enrolled.text
            expected[request_id(enrolled)] = [("enroll", [course, other] if wave == 0 else [course], [])]
            responses = await asyncio.gather(
                *(send(client, "DELETE", f"/students/{student}/courses/{course}") for _ in range(CLIENTS))
            )
            outcomes = Counter(outcome(r) for r in responses)
            wanted = {"DELETE 204": 1, "DELETE 404 not-found": CLIENTS - 1}
            assert outcomes == wanted, deployment.explain(responses)
            [dropped] = [r for r in responses if r.status_code == 204]
            expected[request_id(dropped)] = [("drop", [], [course])]
            assert await courses_of(client, student) == [other]
            assert await checked_rosters(client, [course, other]) == {course: set(), other: {student}}
    assert deployment.changes([student]) == expected


async def test_deleting_a_student_while_it_enrolls_never_answers_a_500(
    deployment: Deployment, tag: str
) -> None:
    """Two deletions among enrollments in a course each: every enrollment that got in is removed
    with the student, seat included, and logged as removed by the deletion; those that came after
    it find no student."""
    async with deployment.client() as client:
        [student] = await new_students(client, tag, 1)
        courses = await new_courses(client, tag, CLIENTS + 1, capacity=None)
        first = await send(client, "POST", f"/students/{student}/courses", {"course_ids": [courses[0]]})
        assert first.status_code == 201, first.text
        await warm_up(client, student)
        requests: list[tuple[str, str, Any]] = [
            ("POST", f"/students/{student}/courses", {"course_ids": [c]}) for c in courses[1:]
        ]
        requests[CLIENTS // 2] = requests[3 * CLIENTS // 4] = ("DELETE", f"/students/{student}", None)
        responses = await asyncio.gather(*(send(client, *request) for request in requests))
        outcomes = Counter(outcome(r) for r in responses)
        allowed = {"POST 201", "POST 404 not-found", "DELETE 204", "DELETE 404 not-found"}
        assert set(outcomes) <= allowed, deployment.explain(responses)
        deletions = (outcomes["DELETE 204"], outcomes["DELETE 404 not-found"])
        assert deletions == (1, 1), deployment.explain(responses)
        assert (await client.get(f"/students/{student}")).status_code == 404
        assert await checked_rosters(client, courses) == {c: set() for c in courses}
    changes = deployment.changes([student])
    assert changes.pop(request_id(first)) == [("enroll", [courses[0]], [])]
    added = [courses[0]]
    for (_, _, body), response in zip(requests, responses, strict=True):
        if response.status_code == 201:
            assert changes.pop(request_id(response)) == [("enroll", body["course_ids"], [])]
            added += body["course_ids"]
    [deleted] = [r for r in responses if r.status_code == 204]
    # Every enrollment that got in did so before the deletion, which removed each of them.
    assert changes == {request_id(deleted): [("delete_student", [], sorted(added))]}
