"""What an import diffs a package against: this source's mappings and the registrar rows they
(and the package's e-mail addresses and codes) name, read under the import's locks."""

from __future__ import annotations

from array import array
from collections.abc import AsyncIterator, Awaitable, Callable, Container
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

from registrar.db import Row, Transaction
from registrar.db.queries import oneroster as q
from registrar.oneroster import Roster
from registrar.oneroster.table import EnrollmentTable

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


@dataclass(slots=True)
class StoredEnrollments:
    """This source's enrollment mappings as columns, by stored row: 500,000 of them as objects in
    a dict keyed by sourcedId took some 230 MB. A mapping is found from the package's side:
    `link` gives, for each row of the package's enrollment table, the stored row of the same
    sourcedId (or -1), and `deleted` the stored rows of the package's tobedeleted rows."""

    sids: list[str] = field(default_factory=list)
    students: array[int] = field(default_factory=lambda: array("q"))
    courses: array[int] = field(default_factory=lambda: array("q"))
    modified: dict[int, datetime] = field(default_factory=dict)  # by stored row, those that have one
    current: bytearray = field(default_factory=bytearray)  # 1 when the pair is an enrollment now
    link: array[int] = field(default_factory=lambda: array("i"))
    deleted: dict[str, int] = field(default_factory=dict)

    def pair(self, row: int) -> Pair:
        return self.students[row], self.courses[row]

    def add(self, table: EnrollmentTable, deleted: Container[str], r: Row) -> None:
        """Append the mapping row R, linked to the package's row of the same sourcedId."""
        row, sid = len(self.sids), r[0]
        package_row = table.row(sid)
        if package_row is not None:
            self.link[package_row] = row
            sid = table.sids[package_row]  # one string for both sides
        elif sid in deleted:
            self.deleted[sid] = row
        self.sids.append(sid)
        self.students.append(r[1])
        self.courses.append(r[2])
        stamp = _utc(r[3])
        if stamp is not None:
            self.modified[row] = stamp
        self.current.append(1 if r[4] else 0)


@dataclass(slots=True)
class Stored:
    users: dict[str, MappedUser] = field(default_factory=dict)
    classes: dict[str, MappedClass] = field(default_factory=dict)
    enrollments: StoredEnrollments = field(default_factory=StoredEnrollments)
    # The enrollments of the students involved that no enrollment mapping of this source names.
    unmapped: set[Pair] = field(default_factory=set)
    emails: dict[str, int] = field(default_factory=dict)  # package address -> its student's id
    names: dict[int, str] = field(default_factory=dict)  # of those students, the ones not mapped here
    codes: dict[str, Row] = field(default_factory=dict)  # taken candidate code -> locked course row
    seats: dict[int, Row] = field(default_factory=dict)  # locked course rows by id


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
    stored.users = await _mapped_users(tx, roster)
    for r in await q.source_classes(tx, source):
        stored.classes[r[0]] = MappedClass(r[1], _utc(r[2]), r[3])
    table = roster.table
    stored.enrollments.link = array("i", [-1]) * len(table)
    deleted = roster.enrollments.deleted
    async for r in _pages(lambda after: q.source_enrollments(tx, source, after), lambda r: r[0], ""):
        stored.enrollments.add(table, deleted, r)
    stored.unmapped = {(r[0], r[1]) for r in await q.unmapped_pairs(tx, source)}
    # The owners of the package's addresses: this source's students (known from their mappings),
    # and the others, read (with their names, for --adopt).
    wanted = set(emails)
    stored.emails = {u.email: u.student_id for u in stored.users.values() if u.email in wanted}
    others = await q.unmapped_by_email(tx, source, emails)
    stored.emails.update((r["email"], r["id"]) for r in others)
    stored.names = {r["id"]: r["name"] for r in others}
    stored.unmapped.update((r[0], r[1]) for r in await q.pairs_of_students(tx, sorted(stored.names)))
    return stored


async def _mapped_users(tx: Transaction, roster: Roster) -> dict[str, MappedUser]:
    """This source's users by sourcedId, holding the package's strings where they are equal (a
    re-import of 100,000 users would otherwise hold each id, name and address twice)."""
    users: dict[str, MappedUser] = {}
    records = roster.users.records
    pages = _pages(lambda after: q.source_users(tx, roster.source, after), lambda r: r[0], "")
    async for sid, student_id, modified, name, email in pages:
        record = records.get(sid)
        if record is not None:
            sid = record.sourced_id
            name = record.name if record.name == name else name
            email = record.email if record.email == email else email
        users[sid] = MappedUser(student_id, _utc(modified), name, email)
    return users


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
