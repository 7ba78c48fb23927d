"""Imports racing the API (contract §9 with §4, §7 and §8): `registrar import oneroster` processes
apply bulk packages to the same students and courses that clients of `serve --workers 2` enroll,
drop and put on waitlists meanwhile. Whatever the interleaving: every import applies (the rows a
full course cannot take are skipped, as `--skip-invalid` says), the API answers nothing worse than
a 503, seats agree with rosters and stay within capacity, nobody waits for a course they are in or
while it has a free seat, and each course's history replays to its roster.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests import pgcluster
from tests.helpers import all_pages
from tests.oneroster.packages import CLASSES, ENROLLMENTS, USERS, manifest, write_folder
from tests.serving import Server, environment, new_database, run, serving

pytestmark = pytest.mark.slow

PEOPLE = 60  # imported students, u0..u59
COURSES = 6  # imported courses, k0..k5
CAPACITY = 24  # the import fills 20 seats of each; the API competes for the rest
API_STUDENTS = 30
CLIENTS = 12
IMPORTS = 4
SETTLED = {200, 201, 204, 404, 409, 503}


def package(folder: Path, classes_of: dict[int, list[int]]) -> Path:
    """A bulk package of every user and class, with user i enrolled in CLASSES_OF[i]."""
    users = "".join(f"u{i},,,Given{i},Family{i},u{i}@race.example.edu\n" for i in range(PEOPLE))
    classes = "".join(f"k{k},,,Race {k},RACE-{k}\n" for k in range(COURSES))
    enrollments = "".join(f"e{i}-{k},,,k{k},u{i},student\n" for i, ks in classes_of.items() for k in ks)
    files = {
        "manifest.csv": manifest(),
        "users.csv": USERS + users,
        "classes.csv": CLASSES + classes,
        "enrollments.csv": ENROLLMENTS + enrollments,
    }
    return write_folder(folder, dict(files))


def two_each(i: int) -> list[int]:
    return [i % COURSES, (i + 1) % COURSES]


def one_each_and_some_third(i: int) -> list[int]:
    """Drops about half of `two_each`'s enrollments and adds a few others."""
    return [i % COURSES] + ([(i + 3) % COURSES] if i < 12 else [])


@dataclass
class Deployment:
    server: Server
    env: dict[str, str]
    cwd: Path

    def import_package(self, path: Path) -> tuple[int, str]:
        args = ("import", "oneroster", str(path), "--source", "sis", "--skip-invalid")
        done = run(self.env, self.cwd, *args, "--max-drop-percent", "100")
        return done.returncode, done.stderr


@dataclass
class Race:
    students: list[int]
    courses: list[int]
    statuses: list[tuple[str, int, str]] = field(default_factory=list)
    imports: list[tuple[int, str]] = field(default_factory=list)
    importing: bool = True


@pytest.fixture(scope="module")
def deployment(
    engine: str, postgres: pgcluster.ThrowawayPostgres | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    cwd = tmp_path_factory.mktemp(f"import-races-{engine}")  # empty: no .env is read
    env = environment(new_database(engine, postgres, cwd, "registrar_import_races"))
    with serving(env, cwd, workers=2) as server:
        yield Deployment(server, env, cwd)


async def set_up(deployment: Deployment, client: httpx.AsyncClient, tmp_path: Path) -> Race:
    """The first import, then room for the API: capacity and waitlists on the imported courses
    (an import never sets them), and students of the API's own."""
    code, stderr = deployment.import_package(
        package(tmp_path / "first", {i: two_each(i) for i in range(PEOPLE)})
    )
    assert code == 0, stderr
    courses = [c["id"] for c in await all_pages(client, "/courses") if c["code"].startswith("RACE-")]
    assert len(courses) == COURSES
    for course_id in courses:
        patched = await client.patch(
            f"/courses/{course_id}", json={"capacity": CAPACITY, "waitlist_capacity": 40}
        )
        assert patched.status_code == 200, patched.text
    imported = [
        s["id"] for s in await all_pages(client, "/students") if s["email"].endswith("@race.example.edu")
    ]
    own = []
    for n in range(API_STUDENTS):
        made = await client.post(
            "/students", json={"name": f"Racer {n}", "email": f"racer{n}@api.example.edu"}
        )
        assert made.status_code == 201, made.text
        own.append(made.json()["id"])
    return Race(students=imported + own, courses=courses)


async def importer(deployment: Deployment, race: Race, tmp_path: Path) -> None:
    """Bulk packages in turn: each drops what the other adds, so seats free up and fill again."""
    try:
        for n in range(IMPORTS):
            plan = one_each_and_some_third if n % 2 == 0 else two_each
            path = package(tmp_path / f"import{n}", {i: plan(i) for i in range(PEOPLE)})
            race.imports.append(await anyio.to_thread.run_sync(deployment.import_package, path))
    finally:
        race.importing = False


async def api_client(client: httpx.AsyncClient, race: Race, seed: int) -> None:
    """Enroll, join the waitlist when the course is full, drop and leave, until the imports end."""
    rng = random.Random(seed)
    while race.importing:
        student, course = rng.choice(race.students), rng.choice(race.courses)
        action = rng.choice(("enroll", "enroll", "drop", "leave"))
        if action == "enroll":
            response = await client.post(f"/students/{student}/courses", json={"course_id": course})
            if response.status_code == 409 and "course-full" in response.json()["type"]:
                race.statuses.append(("enroll", 409, response.text))
                action = "wait"
                response = await client.post(f"/students/{student}/waitlist", json={"course_id": course})
        elif action == "drop":
            response = await client.delete(f"/students/{student}/courses/{course}")
        else:
            response = await client.delete(f"/students/{student}/waitlist/{course}")
        race.statuses.append((action, response.status_code, response.text))


async def check_course(client: httpx.AsyncClient, course_id: int) -> list[dict[str, Any]]:
    """The seats, roster and waitlist agree; returns the course's history."""
    course = (await client.get(f"/courses/{course_id}")).json()
    roster = {s["id"] for s in await all_pages(client, f"/courses/{course_id}/students")}
    waiting = {s["id"] for s in (await client.get(f"/courses/{course_id}/waitlist")).json()}
    assert course["enrolled"] == len(roster) <= course["capacity"], course
    assert course["waitlisted"] == len(waiting), course
    assert not roster & waiting, f"enrolled and waiting: {roster & waiting}"
    assert not waiting or course["enrolled"] == course["capacity"], f"waiting while a seat is free: {course}"
    events = await all_pages(client, f"/courses/{course_id}/history")
    latest: dict[int, str] = {}
    for event in events:
        previous = latest.get(event["student_id"], "dropped")
        assert event["change"] != previous, f"two {previous} events in a row: {event}"
        latest[event["student_id"]] = event["change"]
    assert {s for s, change in latest.items() if change == "enrolled"} == roster
    return events


async def test_imports_and_api_writes_interleave_without_breaking_a_rule(
    deployment: Deployment, tmp_path: Path
) -> None:
    async with deployment.server.client(timeout=60.0, connections=CLIENTS + 4) as client:
        race = await set_up(deployment, client, tmp_path)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(importer, deployment, race, tmp_path)
            for n in range(CLIENTS):
                tasks.start_soon(api_client, client, race, n)

        for code, stderr in race.imports:
            assert code == 0, stderr
            assert "Traceback" not in stderr
        unexpected = [s for s in race.statuses if s[1] not in SETTLED]
        assert not unexpected, unexpected[:5]
        events = [e for course_id in race.courses for e in await check_course(client, course_id)]

    causes = {(e["change"], e["cause"]) for e in events}
    # The race did what it is for: imports dropped, students waited and were promoted into the seats.
    assert {("dropped", "import"), ("enrolled", "waitlist"), ("enrolled", "api")} <= causes, causes
    assert any(action == "wait" and status == 201 for action, status, _ in race.statuses)
