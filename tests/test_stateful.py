"""A stateful property test: random sessions of creations, enrollments, replacements, drops,
capacity changes, deletions and retried writes, run against the real app and an in-memory model of
the contract's rules. After every step the service must agree with the model, no course may be over
capacity, and every replay must equal the first answer."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from registrar.app import create_app
from registrar.config import Settings
from registrar.db import Database, Sql
from registrar.services import keys
from tests.conftest import client_for
from tests.helpers import assert_problem

SESSIONS = settings(
    max_examples=200,
    stateful_step_count=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
MAX_ROWS = 5  # students and courses each: small, so that capacities and collisions are hit often
UNKNOWN = 900_000  # ids from here on are never used by the service within a run
CLEAR = [
    Sql(f"DELETE FROM {table}") for table in ("student_courses", "students", "courses", "idempotency_keys")
]

which = st.integers(min_value=0, max_value=9)
capacities = st.one_of(st.none(), st.integers(min_value=0, max_value=2))


class Harness:
    """The app with its lifespan running on one event loop that this thread drives, and an admin
    client; the rows of a run are cleared between examples through the app's own database."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.stack = AsyncExitStack()
        self.app = create_app(settings)
        self.run(self.stack.enter_async_context(self.app.router.lifespan_context(self.app)))
        self.db: Database = self.app.state.runtime.db
        token = self.run(keys.create_key(self.db, "admin", "stateful"))
        self.client = self.run(self.stack.enter_async_context(client_for(self.app, token)))

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def request(self, method: str, path: str, body: Any = None, key: str | None = None) -> httpx.Response:
        content = None if body is None else orjson.dumps(body)
        return self.send(method, path, content, key)

    def send(self, method: str, path: str, content: bytes | None, key: str | None) -> httpx.Response:
        headers = {"idempotency-key": key} if key else {}
        response: httpx.Response = self.run(
            self.client.request(method, path, content=content, headers=headers)
        )
        assert response.status_code < 500, response.text
        return response

    def reset(self) -> None:
        async def clear() -> None:
            async with self.db.transaction() as tx:
                for statement in CLEAR:
                    await tx.execute(statement)

        self.run(clear())

    def close(self) -> None:
        self.run(self.stack.aclose())
        self.loop.close()


@dataclass(frozen=True)
class Write:
    """A POST or PUT sent with an Idempotency-Key, and the answer it got."""

    method: str
    path: str
    content: bytes
    key: str
    status: int
    body: bytes
    location: str | None


@dataclass
class CourseModel:
    code: str
    capacity: int | None


class EnrollmentSession(RuleBasedStateMachine):
    def __init__(self, harness: Harness, runs: list[int]) -> None:
        super().__init__()
        self.h = harness
        self.h.reset()
        self.runs = runs  # the number of steps of each finished run
        self.steps = 0  # the invariants run after each step (from `populate` on, the first)
        self.students: dict[int, dict[int, str]] = {}  # student id -> {course id: enrolled_at}
        self.emails: dict[int, str] = {}
        self.courses: dict[int, CourseModel] = {}
        self.gone: list[int] = []  # ids of deleted rows: unknown from then on
        self.writes: list[Write] = []
        self.keys = (f"key-{n}" for n in itertools.count())

    # ------------------------------------------------------------------------------ model helpers

    def pick(self, known: Iterable[int], index: int) -> int:
        """Mostly a known id; now and then a deleted one, or one the service never handed out."""
        ordered = sorted(known)
        if ordered and index < 8:
            return ordered[index % len(ordered)]
        if index == 8 and self.gone:
            return self.gone[-1]
        return UNKNOWN + index

    def enrolled(self, course_id: int) -> int:
        return sum(course_id in taken for taken in self.students.values())

    def full(self, joining: set[int]) -> list[int]:
        return sorted(
            c
            for c in joining
            if self.courses[c].capacity is not None and self.enrolled(c) >= self.courses[c].capacity  # type: ignore[operator]
        )

    def write(self, method: str, path: str, body: Any, keyed: bool) -> httpx.Response:
        key = next(self.keys) if keyed else None
        content = orjson.dumps(body)
        response = self.h.send(method, path, content, key)
        if key is not None:
            location = response.headers.get("location")
            self.writes.append(
                Write(method, path, content, key, response.status_code, response.content, location)
            )
        return response

    def check_enrollment(
        self, response: httpx.Response, student_id: int, wanted: set[int], replace: bool
    ) -> int:
        """The answer the rules give to an enrollment (POST) or a replacement (PUT), and the model
        updated to match; returns the status the rules expect for a success."""
        if student_id not in self.students:
            assert_problem(response, 404, "not-found")
            return 0
        unknown = sorted(wanted - set(self.courses))
        if unknown:
            assert assert_problem(response, 422, "unknown-courses")["invalid_course_ids"] == unknown
            return 0
        current = self.students[student_id]
        joining = wanted - set(current)
        full = self.full(joining)
        if full:
            assert assert_problem(response, 409, "course-full")["full_course_ids"] == full
            return 0
        expected = 200 if replace or not joining else 201
        assert response.status_code == expected, response.text
        courses = response.json()
        assert [c["id"] for c in courses] == sorted(wanted if replace else set(current) | wanted)
        if replace:
            for course_id in set(current) - wanted:
                del current[course_id]
        for course in courses:
            current.setdefault(course["id"], course["enrolled_at"])
        assert [c["enrolled_at"] for c in courses] == [current[c] for c in sorted(current)]
        assert [c["code"] for c in courses] == [self.courses[c].code for c in sorted(current)]
        return expected

    # --------------------------------------------------------------------------------------- rules

    @initialize(
        students=st.integers(min_value=1, max_value=3), seats=st.lists(capacities, min_size=1, max_size=3)
    )
    def populate(self, students: int, seats: list[int | None]) -> None:
        """A few rows to start from, so that most steps meet real students and courses."""
        for n in range(students):
            self.create_student(n, keyed=False)
        for n, capacity in enumerate(seats):
            self.create_course(n, capacity, keyed=False)

    @precondition(lambda self: len(self.students) < MAX_ROWS)
    @rule(email=st.integers(min_value=0, max_value=MAX_ROWS), keyed=st.booleans())
    def create_student(self, email: int, keyed: bool) -> None:
        address = f"s{email}@example.edu"
        response = self.write("POST", "/students", {"name": f"Student {email}", "email": address}, keyed)
        if address in self.emails.values():
            assert_problem(response, 409, "already-exists")
            return
        assert response.status_code == 201, response.text
        student = response.json()
        assert response.headers["location"] == f"/students/{student['id']}"
        assert student["email"] == address
        self.students[student["id"]] = {}
        self.emails[student["id"]] = address

    @precondition(lambda self: len(self.courses) < MAX_ROWS)
    @rule(code=st.integers(min_value=0, max_value=MAX_ROWS), capacity=capacities, keyed=st.booleans())
    def create_course(self, code: int, capacity: int | None, keyed: bool) -> None:
        wanted = f"C{code}"
        response = self.write(
            "POST", "/courses", {"code": wanted, "title": f"Course {code}", "capacity": capacity}, keyed
        )
        if any(c.code == wanted for c in self.courses.values()):
            assert_problem(response, 409, "already-exists")
            return
        assert response.status_code == 201, response.text
        course = response.json()
        assert response.headers["location"] == f"/courses/{course['id']}"
        assert (course["code"], course["capacity"], course["enrolled"]) == (wanted, capacity, 0)
        self.courses[course["id"]] = CourseModel(wanted, capacity)

    @precondition(lambda self: self.students and self.courses)
    @rule(
        student=which,
        picks=st.lists(which, min_size=1, max_size=3),
        one=st.booleans(),
        alias=st.booleans(),
        keyed=st.booleans(),
    )
    def enroll(self, student: int, picks: list[int], one: bool, alias: bool, keyed: bool) -> None:
        student_id = self.pick(self.students, student)
        course_ids = [self.pick(self.courses, p) for p in picks]
        body: dict[str, Any] = {"course_id": course_ids[0]} if one else {"course_ids": course_ids}
        wanted = {course_ids[0]} if one else set(course_ids)
        path = f"/students/{student_id}/{'enroll' if alias else 'courses'}"
        response = self.write("POST", path, body, keyed)
        self.check_enrollment(response, student_id, wanted, replace=False)

    @precondition(lambda self: self.students and self.courses)
    @rule(student=which, picks=st.lists(which, max_size=3), alias=st.booleans(), keyed=st.booleans())
    def replace(self, student: int, picks: list[int], alias: bool, keyed: bool) -> None:
        student_id = self.pick(self.students, student)
        course_ids = [self.pick(self.courses, p) for p in picks]
        path = f"/students/{student_id}/{'enroll' if alias else 'courses'}"
        response = self.write("PUT", path, {"course_ids": course_ids}, keyed)
        self.check_enrollment(response, student_id, set(course_ids), replace=True)

    @precondition(lambda self: self.students and self.courses)
    @rule(student=which, course=which)
    def drop(self, student: int, course: int) -> None:
        student_id, course_id = self.pick(self.students, student), self.pick(self.courses, course)
        response = self.h.request("DELETE", f"/students/{student_id}/courses/{course_id}")
        if course_id not in self.students.get(student_id, {}):
            assert_problem(response, 404, "not-found")
            return
        assert response.status_code == 204, response.text
        del self.students[student_id][course_id]

    @precondition(lambda self: self.courses)
    @rule(course=which, capacity=st.one_of(st.none(), st.integers(min_value=0, max_value=4)))
    def change_capacity(self, course: int, capacity: int | None) -> None:
        course_id = self.pick(self.courses, course)
        response = self.h.request("PATCH", f"/courses/{course_id}", {"capacity": capacity})
        if course_id not in self.courses:
            assert_problem(response, 404, "not-found")
        elif capacity is not None and capacity < self.enrolled(course_id):
            assert_problem(response, 409, "capacity-below-enrolled")
        else:
            assert response.status_code == 200, response.text
            assert response.json()["capacity"] == capacity
            self.courses[course_id].capacity = capacity

    @precondition(lambda self: self.courses)
    @rule(course=which)
    def delete_course(self, course: int) -> None:
        course_id = self.pick(self.courses, course)
        response = self.h.request("DELETE", f"/courses/{course_id}")
        if course_id not in self.courses:
            assert_problem(response, 404, "not-found")
        elif self.enrolled(course_id):
            assert_problem(response, 409, "course-has-enrollments")
        else:
            assert response.status_code == 204, response.text
            del self.courses[course_id]
            self.gone.append(course_id)

    @precondition(lambda self: self.students)
    @rule(student=which)
    def delete_student(self, student: int) -> None:
        student_id = self.pick(self.students, student)
        response = self.h.request("DELETE", f"/students/{student_id}")
        if student_id not in self.students:
            assert_problem(response, 404, "not-found")
            return
        assert response.status_code == 204, response.text
        del self.students[student_id]
        del self.emails[student_id]
        self.gone.append(student_id)

    @precondition(lambda self: self.writes)
    @rule(index=st.integers(min_value=0))
    def retry(self, index: int) -> None:
        first = self.writes[index % len(self.writes)]
        again = self.h.send(first.method, first.path, first.content, first.key)
        assert (again.status_code, again.content, again.headers.get("location")) == (
            first.status,
            first.body,
            first.location,
        )

    @precondition(lambda self: self.writes)
    @rule(index=st.integers(min_value=0))
    def reuse_key_for_another_body(self, index: int) -> None:
        first = self.writes[index % len(self.writes)]
        response = self.h.send(first.method, first.path, first.content + b" ", first.key)
        assert_problem(response, 422, "idempotency-key-reused")

    # ---------------------------------------------------------------------------------- invariants

    def teardown(self) -> None:
        self.runs.append(self.steps)

    @invariant()
    def courses_agree_with_the_model_and_stay_within_capacity(self) -> None:
        self.steps += 1
        listed = self.h.request("GET", "/courses?limit=1000").json()["items"]
        assert [c["id"] for c in listed] == sorted(self.courses)
        for course in listed:
            assert course["capacity"] == self.courses[course["id"]].capacity
            assert course["enrolled"] == self.enrolled(course["id"])
            assert course["capacity"] is None or course["enrolled"] <= course["capacity"]
            roster = self.h.request("GET", f"/courses/{course['id']}/students?limit=1000").json()["items"]
            assert len(roster) == course["enrolled"]
            assert [s["id"] for s in roster] == sorted(
                s for s, taken in self.students.items() if course["id"] in taken
            )

    @invariant()
    def each_students_courses_agree_with_the_model(self) -> None:
        for student_id, taken in self.students.items():
            courses = self.h.request("GET", f"/students/{student_id}/courses").json()
            assert {c["id"]: c["enrolled_at"] for c in courses} == taken
            assert [c["id"] for c in courses] == sorted(taken)


def test_enrollment_rules_hold_over_random_sessions(settings: Settings) -> None:
    harness = Harness(settings)
    runs: list[int] = []
    try:
        # _min_steps: every run takes the full stateful_step_count steps rather than stopping early
        # now and then (only a run that shrinks a failure is shorter).
        run_state_machine_as_test(
            lambda: EnrollmentSession(harness, runs),
            settings=SESSIONS,
            _min_steps=SESSIONS.stateful_step_count,
        )
    finally:
        harness.close()
    assert sum(steps >= SESSIONS.stateful_step_count for steps in runs) >= SESSIONS.max_examples
