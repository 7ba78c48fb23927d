"""A property of the history (contract section 7): for random sequences of enrollments, replacements,
drops and student deletions, the `as_of` answer at every instant between them equals a replay of
those operations kept by the test itself: courses by student, rosters by course, enrollment times,
and null members for students deleted since."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from registrar.config import Settings
from registrar.db import Sql
from tests.test_stateful import Harness

STUDENTS, COURSES = 3, 3
CLEAR = [Sql(f"DELETE FROM {t}") for t in ("enrollment_events", "student_courses", "students", "courses")]

operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("enroll"), st.integers(0, STUDENTS - 1), st.sets(st.integers(0, COURSES - 1), min_size=1)
        ),
        st.tuples(st.just("replace"), st.integers(0, STUDENTS - 1), st.sets(st.integers(0, COURSES - 1))),
        st.tuples(st.just("drop"), st.integers(0, STUDENTS - 1), st.integers(0, COURSES - 1)),
        st.tuples(st.just("delete"), st.integers(0, STUDENTS - 1), st.none()),
    ),
    min_size=1,
    max_size=12,
)


@dataclass
class Replay:
    """The enrollments as the test's own model keeps them: student index -> course index -> enrolled_at."""

    sets: dict[int, dict[int, str]] = field(default_factory=lambda: {s: {} for s in range(STUDENTS)})
    deleted: set[int] = field(default_factory=set)

    def snapshot(self) -> dict[int, dict[int, str]]:
        return {s: dict(courses) for s, courses in self.sets.items()}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Session:
    def __init__(self, harness: Harness) -> None:
        self.h = harness
        harness.run(self._clear())
        self.students = [
            self._create("/students", {"name": f"S{i}", "email": f"s{i}@example.edu"})
            for i in range(STUDENTS)
        ]
        self.courses = [
            self._create("/courses", {"code": f"C{i}", "title": f"Course {i}"}) for i in range(COURSES)
        ]
        self.model = Replay()

    async def _clear(self) -> None:
        async with self.h.db.transaction() as tx:
            for statement in CLEAR:
                await tx.execute(statement)

    def _create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.h.request("POST", path, body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def apply(self, op: str, s: int, arg: Any) -> None:
        student = self.students[s]["id"]
        if s in self.model.deleted:
            return
        base = f"/students/{student}/courses"
        if op == "delete":
            assert self.h.request("DELETE", f"/students/{student}").status_code == 204
            self.model.deleted.add(s)
            self.model.sets[s] = {}
        elif op == "drop":
            answer = self.h.request("DELETE", f"{base}/{self.courses[arg]['id']}")
            assert answer.status_code == (204 if arg in self.model.sets[s] else 404)
            self.model.sets[s].pop(arg, None)
        else:
            ids = [self.courses[c]["id"] for c in sorted(arg)]
            answer = self.h.request("POST" if op == "enroll" else "PUT", base, {"course_ids": ids})
            assert answer.status_code in (200, 201), answer.text
            by_id = {c["id"]: c["enrolled_at"] for c in answer.json()}
            self.model.sets[s] = {
                c: by_id[self.courses[c]["id"]] for c in range(COURSES) if self.courses[c]["id"] in by_id
            }

    def courses_as_of(self, s: int, at: str) -> dict[int, str]:
        answer = self.h.request("GET", f"/students/{self.students[s]['id']}/courses?as_of={at}")
        assert answer.status_code == 200, answer.text
        index = {c["id"]: i for i, c in enumerate(self.courses)}
        return {index[c["id"]]: c["enrolled_at"] for c in answer.json()}

    def roster_as_of(self, c: int, at: str) -> dict[int, tuple[str | None, str]]:
        answer = self.h.request("GET", f"/courses/{self.courses[c]['id']}/students?as_of={at}&limit=1000")
        assert answer.status_code == 200, answer.text
        index = {st["id"]: i for i, st in enumerate(self.students)}
        return {index[e["id"]]: (e["name"], e["enrolled_at"]) for e in answer.json()["items"]}


def check(session: Session, at: str, expected: dict[int, dict[int, str]]) -> None:
    for s in range(STUDENTS):
        if s not in session.model.deleted:  # a student deleted now is not found now (404)
            assert session.courses_as_of(s, at) == expected[s], (s, at)
    for c in range(COURSES):
        roster = {
            s: (None if s in session.model.deleted else session.students[s]["name"], courses[c])
            for s, courses in expected.items()
            if c in courses
        }
        assert session.roster_as_of(c, at) == roster, (c, at)


def test_as_of_equals_a_replay_of_random_operations(settings: Settings) -> None:
    harness = Harness(settings)

    @hypothesis_settings(
        max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(ops=operations, picks=st.lists(st.integers(min_value=0), min_size=1, max_size=4))
    def run(ops: list[tuple[str, int, Any]], picks: list[int]) -> None:
        session = Session(harness)
        instants = [(iso(datetime.now(UTC)), session.model.snapshot())]
        for op in ops:
            session.apply(*op)
            instants.append((iso(datetime.now(UTC)), session.model.snapshot()))
        for pick in picks:
            at, expected = instants[pick % len(instants)]
            check(session, at, expected)

    try:
        run()
    finally:
        harness.close()
