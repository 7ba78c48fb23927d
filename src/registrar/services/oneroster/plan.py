"""The plan of an import: every change it would make, its counts, errors and digest.

New students and courses are referred to by negative placeholders (-1 - their index in
`new_students` / `new_courses`) until the database gives them ids.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from registrar.oneroster import Diagnostic

USERS, CLASSES, ENROLLMENTS = "users.csv", "classes.csv", "enrollments.csv"
_MODULUS = 1 << 256


@dataclass(frozen=True, slots=True)
class Options:
    adopt: bool = False
    max_drop_percent: float = 10.0


@dataclass(slots=True)
class Plan:
    source: str
    new_students: list[tuple[str, str]] = field(default_factory=list)  # (name, email)
    student_updates: list[tuple[int, str, str]] = field(default_factory=list)  # (id, name, email)
    new_courses: list[tuple[str, str]] = field(default_factory=list)  # (code, title)
    title_updates: list[tuple[int, str]] = field(default_factory=list)  # (id, title)
    adds: list[tuple[int, int]] = field(default_factory=list)  # (student ref, course ref)
    drops: list[tuple[int, int]] = field(default_factory=list)  # (student id, course id)
    # Mappings to write: (sourced_id, ref..., modified); and enrollment mappings to forget.
    user_maps: list[tuple[str, int, datetime | None]] = field(default_factory=list)
    class_maps: list[tuple[str, int, datetime | None]] = field(default_factory=list)
    enrollment_maps: list[tuple[str, int, int, datetime | None]] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    unchanged: Counter[str] = field(default_factory=Counter)  # students, courses, enrollments
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """The report's `counts` member."""
        return {
            "students": {
                "created": len(self.new_students),
                "updated": len(self.student_updates),
                "unchanged": self.unchanged["students"],
            },
            "courses": {
                "created": len(self.new_courses),
                "updated": len(self.title_updates),
                "unchanged": self.unchanged["courses"],
            },
            "enrollments": {
                "added": len(self.adds),
                "dropped": len(self.drops),
                "unchanged": self.unchanged["enrollments"],
            },
            "skipped": dict(sorted(self.skipped.items())),
        }

    @property
    def changes(self) -> bool:
        return any((self.new_students, self.student_updates, self.new_courses, self.title_updates,
                    self.adds, self.drops, self.user_maps, self.class_maps, self.enrollment_maps,
                    self.forgotten))  # fmt: skip

    def digest(self) -> str:
        """SHA-256 over every change: per list, the count and the sum (mod 2**256) of each item's
        SHA-256 over its canonical JSON. The sum does not depend on the order of the items, so the
        same package against the same data gives the same digest whatever order the files list
        rows in, and nothing is sorted or kept: a million items cost no memory."""
        sha = hashlib.sha256()
        for name, items in self._parts():
            total, count = 0, 0
            for item in items:
                one = hashlib.sha256(orjson.dumps(item, option=orjson.OPT_UTC_Z)).digest()
                total, count = (total + int.from_bytes(one)) % _MODULUS, count + 1
            sha.update(f"{name}\n{count}\n".encode() + total.to_bytes(32))
        return sha.hexdigest()

    def _parts(self) -> Iterator[tuple[str, Iterable[Any]]]:
        yield "source", [self.source]
        yield "new_students", self.new_students
        yield "student_updates", self.student_updates
        yield "new_courses", self.new_courses
        yield "title_updates", self.title_updates
        yield "adds", (self._named(s, c) for s, c in self.adds)
        yield "drops", self.drops
        yield "user_maps", ((s, self._student(r), m) for s, r, m in self.user_maps)
        yield "class_maps", ((s, self._course(r), m) for s, r, m in self.class_maps)
        yield "enrollment_maps", ((e, *self._named(s, c), m) for e, s, c, m in self.enrollment_maps)
        yield "forgotten", self.forgotten

    def _student(self, ref: int) -> Any:
        return ref if ref > 0 else self.new_students[-ref - 1][1]  # a new student by its e-mail

    def _course(self, ref: int) -> Any:
        return ref if ref > 0 else self.new_courses[-ref - 1][0]  # a new course by its code

    def _named(self, student: int, course: int) -> tuple[Any, Any]:
        return self._student(student), self._course(course)
