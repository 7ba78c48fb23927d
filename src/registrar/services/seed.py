"""`registrar seed`: demo and benchmark data, loaded in bulk in one transaction."""

from __future__ import annotations

import random
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from registrar.db import Database
from registrar.db import queries as q
from registrar.services.common import utc_now

CHUNK = 20_000


@dataclass(frozen=True)
class SeedPlan:
    students: int
    courses: int
    per_student: int

    def check(self) -> None:
        if min(self.students, self.courses, self.per_student) < 0:
            raise ValueError("counts may not be negative")
        if self.per_student > self.courses:
            raise ValueError(f"--per-student {self.per_student} is more than --courses {self.courses}")


async def seed(db: Database, plan: SeedPlan, progress: Callable[[int], None] = lambda _: None) -> None:
    """Add `plan.students` students and `plan.courses` courses (no capacity limit), each new
    student in `plan.per_student` distinct new courses. `progress` hears of each student chunk."""
    plan.check()
    tag = secrets.token_hex(4).upper()
    rng = random.Random()
    # Student i takes the courses first[i], first[i] + 1, ... (mod M): distinct while K <= M.
    first_course = [rng.randrange(plan.courses) for _ in range(plan.students)] if plan.per_student else []
    seats = Counter((f + j) % plan.courses for f in first_course for j in range(plan.per_student))
    now = utc_now()
    if not plan.students and not plan.courses:
        return
    async with db.transaction() as tx:
        course_base = await q.reserve_ids(tx, "courses", max(plan.courses, 1))
        await tx.copy_rows(
            "courses",
            ("id", "code", "title", "capacity", "enrolled", "created_at", "updated_at"),
            (
                (course_base + c, f"SEED-{tag}-{c + 1}", f"Seeded course {c + 1}", None, seats[c], now, now)
                for c in range(plan.courses)
            ),
        )
        student_base = await q.reserve_ids(tx, "students", max(plan.students, 1))
        for start in range(0, plan.students, CHUNK):
            stop = min(start + CHUNK, plan.students)
            await tx.copy_rows(
                "students",
                ("id", "name", "email", "created_at", "updated_at"),
                _students(student_base, tag, start, stop, now),
            )
            await tx.copy_rows(
                "student_courses",
                ("student_id", "course_id", "enrolled_at"),
                _enrollments(student_base, course_base, first_course, plan, start, stop, now),
            )
            progress(stop - start)


def _students(base: int, tag: str, start: int, stop: int, now: Any) -> Iterator[tuple[Any, ...]]:
    for i in range(start, stop):
        yield base + i, f"Seeded Student {i + 1}", f"student{i + 1}.{tag.lower()}@seed.example", now, now


def _enrollments(
    student_base: int,
    course_base: int,
    first_course: list[int],
    plan: SeedPlan,
    start: int,
    stop: int,
    now: Any,
) -> Iterator[tuple[Any, ...]]:
    for i in range(start, stop):
        f = first_course[i]
        for j in range(plan.per_student):
            yield student_base + i, course_base + (f + j) % plan.courses, now
