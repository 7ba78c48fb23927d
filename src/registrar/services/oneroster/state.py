"""What an import diffs a package against: this source's mappings and the registrar rows they
(and the package's e-mail addresses and codes) name, read under the import's locks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

from registrar.db import Row, Transaction
from registrar.db.queries import oneroster as q
from registrar.oneroster import Roster

K = TypeVar("K")


class MappedUser(NamedTuple):
    student_id: int
    modified: datetime | None
    name: str
    email: str


class MappedClass(NamedTuple):
    course_id: int
    modified: datetime | None
    title: str


Pair = tuple[int, int]  # (student id, course id)


class MappedEnrollment(NamedTuple):
    pair: Pair  # the very tuple `Stored.current` holds for it, when it exists: one per enrollment
    modified: datetime | None

    @property
    def student_id(self) -> int:
        return self.pair[0]

    @property
    def course_id(self) -> int:
        return self.pair[1]


@dataclass(slots=True)
class Stored:
    users: dict[str, MappedUser] = field(default_factory=dict)
    classes: dict[str, MappedClass] = field(default_factory=dict)
    enrollments: dict[str, MappedEnrollment] = field(default_factory=dict)
    # The enrollments of the students involved, each pair mapped to itself: a dict rather than a
    # set, so that the plan can keep the one tuple of a pair rather than make another (500,000).
    current: dict[Pair, Pair] = field(default_factory=dict)
    emails: dict[str, tuple[int, str]] = field(default_factory=dict)  # package address -> (id, name)
    codes: dict[str, Row] = field(default_factory=dict)  # taken candidate code -> locked course row
    seats: dict[int, Row] = field(default_factory=dict)  # locked course rows by id

    @property
    def source_pairs(self) -> set[tuple[int, int]]:
        """The enrollments this source made that exist now."""
        return {m.pair for m in self.enrollments.values() if m.pair in self.current}


def package_emails(roster: Roster) -> list[str]:
    return sorted({s.email for s in roster.users.records.values()})


def package_codes(roster: Roster) -> list[str]:
    return sorted({code for c in roster.classes.records.values() for code in c.codes})


async def load(tx: Transaction, roster: Roster) -> Stored:
    """Lock what the import may change, students first, then courses, each in id order (as the
    API does, so that neither waits for the other in a cycle), and read it."""
    source, emails, codes = roster.source, package_emails(roster), package_codes(roster)
    await q.lock_students(tx, source, emails)
    seats = await q.lock_courses(tx, source, codes)
    stored = Stored(seats={r["id"]: r for r in seats})
    stored.codes = {r["code"]: r for r in seats if r["code"] in set(codes)}
    for r in await q.source_users(tx, source):
        stored.users[r[0]] = MappedUser(r[1], _utc(r[2]), r[3], r[4])
    for r in await q.source_classes(tx, source):
        stored.classes[r[0]] = MappedClass(r[1], _utc(r[2]), r[3])
    # One int object per id and one tuple per pair, however many rows name them.
    ids: dict[int, int] = {}
    async for r in _pages(lambda after: q.current_pairs(tx, source, after), lambda r: (r[0], r[1]), (0, 0)):
        pair = (ids.setdefault(r[0], r[0]), ids.setdefault(r[1], r[1]))
        stored.current[pair] = pair
    async for r in _pages(lambda after: q.source_enrollments(tx, source, after), lambda r: r[0], ""):
        pair = (ids.setdefault(r[1], r[1]), ids.setdefault(r[2], r[2]))
        stored.enrollments[r[0]] = MappedEnrollment(stored.current.get(pair, pair), _utc(r[3]))
    emailed = await q.students_by_email(tx, emails)
    stored.emails = {r["email"]: (r["id"], r["name"]) for r in emailed}
    unmapped = sorted({r["id"] for r in emailed} - {u.student_id for u in stored.users.values()})
    stored.current.update(((r[0], r[1]), (r[0], r[1])) for r in await q.pairs_of_students(tx, unmapped))
    return stored


async def _pages(
    read: Callable[[K], Awaitable[list[Row]]], key: Callable[[Row], K], after: K
) -> AsyncIterator[Row]:
    """Every row of a query read a page at a time, each page after the KEY of the last row read."""
    while rows := await read(after):
        for row in rows:
            yield row
        after = key(rows[-1])


def _utc(value: Any) -> datetime | None:
    """A stored time as an aware datetime, from either engine."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
