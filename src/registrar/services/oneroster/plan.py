"""The plan of an import: every change it would make, its counts, errors and digest.

New students and courses are referred to by negative placeholders (-1 - their index in
`new_students` / `new_courses`) until the database gives them ids.
"""

from __future__ import annotations

import hashlib
import itertools
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from registrar.oneroster import Diagnostic
from registrar.oneroster.table import EnrollmentTable

USERS, CLASSES, ENROLLMENTS = "users.csv", "classes.csv", "enrollments.csv"


@dataclass(frozen=True, slots=True)
class Options:
    adopt: bool = False
    max_drop_percent: float = 10.0


@dataclass(slots=True)
class EnrollmentRows:
    """The plan's enrollments, by row of the package's enrollment table: each row's pair (student
    ref, course ref; 0 for a row that makes none), the rows that add an enrollment and the rows
    whose mapping is written. Machine integers in arrays rather than a tuple per enrollment:
    a large first import adds 500,000."""

    table: EnrollmentTable = field(default_factory=EnrollmentTable)
    students: array[int] = field(default_factory=lambda: array("q"))
    courses: array[int] = field(default_factory=lambda: array("q"))
    added: array[int] = field(default_factory=lambda: array("i"))
    mapped: array[int] = field(default_factory=lambda: array("i"))

    @classmethod
    def of(cls, table: EnrollmentTable) -> EnrollmentRows:
        zeros = bytes(8 * len(table))
        return cls(table, array("q", zeros), array("q", zeros))

    def pair(self, row: int) -> tuple[int, int]:
        return self.students[row], self.courses[row]

    def adds(self) -> Iterator[tuple[int, int]]:
        return (self.pair(row) for row in self.added)

    def maps(self) -> Iterator[tuple[str, int, int, datetime | None]]:
        table = self.table
        return ((table.sids[row], *self.pair(row), table.modified.get(row)) for row in self.mapped)


@dataclass(slots=True)
class Plan:
    source: str
    new_students: list[tuple[str, str]] = field(default_factory=list)  # (name, email)
    student_updates: list[tuple[int, str, str]] = field(default_factory=list)  # (id, name, email)
    new_courses: list[tuple[str, str]] = field(default_factory=list)  # (code, title)
    title_updates: list[tuple[int, str]] = field(default_factory=list)  # (id, title)
    enrollments: EnrollmentRows = field(default_factory=EnrollmentRows)  # adds and their mappings
    drops: list[tuple[int, int]] = field(default_factory=list)  # (student id, course id)
    # Mappings to write: (sourced_id, ref..., modified); and enrollment mappings to forget.
    user_maps: list[tuple[str, int, datetime | None]] = field(default_factory=list)
    class_maps: list[tuple[str, int, datetime | None]] = field(default_factory=list)
    # Enrollment mappings written besides `enrollments.mapped`: a delta's tobedeleted rows' dates.
    restamps: list[tuple[str, int, int, datetime | None]] = field(default_factory=list)
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
                "added": len(self.enrollments.added),
                "dropped": len(self.drops),
                "unchanged": self.unchanged["enrollments"],
            },
            "skipped": dict(sorted(self.skipped.items())),
        }

    @property
    def changes(self) -> bool:
        rows = self.enrollments
        return any((self.new_students, self.student_updates, self.new_courses, self.title_updates,
                    rows.added, rows.mapped, self.drops, self.user_maps, self.class_maps,
                    self.restamps, self.forgotten))  # fmt: skip

    def digest(self) -> str:
        """SHA-256 over every change: per list, its name, its count and its items' own SHA-256
        digests (each over the item's canonical JSON) in sorted order. Sorting makes the digest
        independent of the order files list rows in; hashing the sorted digests in sequence
        (rather than adding them up, which a generalised-birthday search can collide) keeps it as
        strong as SHA-256."""
        sha = hashlib.sha256()
        for name, items in self._parts():
            count, buckets = _sorted_digests(items)
            sha.update(f"{name}\n{count}\n".encode())
            for bucket in buckets:
                sha.update(bucket)
        return sha.hexdigest()

    def _parts(self) -> Iterator[tuple[str, Iterable[Any]]]:
        yield "source", [self.source]
        yield "new_students", self.new_students
        yield "student_updates", self.student_updates
        yield "new_courses", self.new_courses
        yield "title_updates", self.title_updates
        yield "adds", (self._named(s, c) for s, c in self.enrollments.adds())
        yield "drops", self.drops
        yield "user_maps", ((s, self._student(r), m) for s, r, m in self.user_maps)
        yield "class_maps", ((s, self._course(r), m) for s, r, m in self.class_maps)
        maps = itertools.chain(self.enrollments.maps(), self.restamps)
        yield "enrollment_maps", ((e, *self._named(s, c), m) for e, s, c, m in maps)
        yield "forgotten", self.forgotten

    def _student(self, ref: int) -> Any:
        return ref if ref > 0 else self.new_students[-ref - 1][1]  # a new student by its e-mail

    def _course(self, ref: int) -> Any:
        return ref if ref > 0 else self.new_courses[-ref - 1][0]  # a new course by its code

    def _named(self, student: int, course: int) -> tuple[Any, Any]:
        return self._student(student), self._course(course)


def _sorted_digests(items: Iterable[Any]) -> tuple[int, Iterator[bytes]]:
    """How many ITEMS there are, and their SHA-256 digests in sorted order, a run of bytes at a
    time. The digests are kept 32 bytes apiece in 256 runs by their first byte, and each run is
    sorted alone: a list of 500,000 digests as bytes objects would cost 40 MB at once."""
    runs = [bytearray() for _ in range(256)]
    count = 0
    for item in items:
        one = hashlib.sha256(orjson.dumps(item, option=orjson.OPT_UTC_Z)).digest()
        runs[one[0]] += one
        count += 1
    return count, (b"".join(sorted(run[i : i + 32] for i in range(0, len(run), 32))) for run in runs)
