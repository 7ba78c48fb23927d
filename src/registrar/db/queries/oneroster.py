"""OneRoster imports and exports: the sourcedId mappings of a source, the rows an import diffs
against, and the set-based writes of its plan.

Rows travel as parallel arrays (`unnest`) on PostgreSQL and as one JSON array of arrays on SQLite
(`json_each`, each row's members read with `json_extract`), so that a statement costs one round
trip whatever the number of rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from registrar.db.core import Row, Sql, Transaction

MAPPINGS = {
    "users": "oneroster_users",
    "classes": "oneroster_classes",
    "enrollments": "oneroster_enrollments",
}


def _columns(tx: Transaction, rows: Sequence[Sequence[Any]], width: int) -> list[Any]:
    """The arguments for ROWS: one list per column (PostgreSQL) or the rows themselves (SQLite)."""
    if tx.dialect == "sqlite":
        return [list(rows)]  # orjson writes tuples as arrays: no list per row
    return [[r[i] for r in rows] for i in range(width)]


def _member(i: int) -> str:
    return f"json_extract(value, '$[{i}]')"


# Locks, students first and then courses, each in ascending id order, as the API takes them. The
# students are locked FOR NO KEY UPDATE: it queues the API's changes to them (which lock FOR
# UPDATE) but not a promotion's insert of an enrollment (a key-share lock), which holds a course.
# Counted rather than returned: a large source has 100,000 students, and only the locks matter.
_LOCK_STUDENTS = Sql(
    "SELECT count(*) FROM (SELECT id FROM students WHERE id IN (SELECT student_id FROM oneroster_users "
    "WHERE source = $1) OR email = ANY($2::text[]) ORDER BY id FOR NO KEY UPDATE) AS locked",
    "SELECT count(*) FROM students WHERE id IN (SELECT student_id FROM oneroster_users WHERE source = ?1) "
    "OR email IN (SELECT value FROM json_each(?2))",
)
_LOCK_COURSES = Sql(
    "SELECT id, code, title, capacity, enrolled, waitlist_capacity, waitlisted FROM courses "
    "WHERE id IN (SELECT course_id FROM oneroster_classes WHERE source = $1) OR code = ANY($2::text[]) "
    "ORDER BY id FOR UPDATE",
    "SELECT id, code, title, capacity, enrolled, waitlist_capacity, waitlisted FROM courses "
    "WHERE id IN (SELECT course_id FROM oneroster_classes WHERE source = ?1) "
    "OR code IN (SELECT value FROM json_each(?2)) ORDER BY id",
)


async def lock_students(tx: Transaction, source: str, emails: Sequence[str]) -> None:
    """Lock the students SOURCE mapped and those with these e-mail addresses, in id order."""
    await tx.fetchval(_LOCK_STUDENTS, source, list(emails))


async def lock_courses(tx: Transaction, source: str, codes: Sequence[str]) -> list[Row]:
    """Lock the courses SOURCE mapped and those with these codes, in id order; their seat rows."""
    return await tx.fetch(_LOCK_COURSES, source, list(codes))


_UNMAPPED_BY_EMAIL = Sql(
    "SELECT id, name, email FROM students WHERE email = ANY($2::text[]) "
    "AND id NOT IN (SELECT student_id FROM oneroster_users WHERE source = $1)",
    "SELECT id, name, email FROM students WHERE email IN (SELECT value FROM json_each(?2)) "
    "AND id NOT IN (SELECT student_id FROM oneroster_users WHERE source = ?1)",
)
_SOURCE_USERS = Sql(
    "SELECT m.sourced_id, m.student_id, m.modified, s.name, s.email FROM oneroster_users m "
    "JOIN students s ON s.id = m.student_id WHERE m.source = $1 AND m.sourced_id > $2 "
    "ORDER BY m.sourced_id LIMIT $3"
)
_SOURCE_CLASSES = Sql(
    "SELECT m.sourced_id, m.course_id, m.modified, c.title FROM oneroster_classes m "
    "JOIN courses c ON c.id = m.course_id WHERE m.source = $1"
)
# Read a page at a time (by key, after the last one read): 500,000 rows fetched at once took
# some 120 MB as driver rows before they were turned into the import's own, 50,000 some 15 MB. `current`: whether
# the pair is an enrollment now (a drop or a student's own change may have ended it).
_SOURCE_ENROLLMENTS = Sql(
    "SELECT m.sourced_id, m.student_id, m.course_id, m.modified, EXISTS (SELECT 1 FROM student_courses sc "
    "WHERE sc.student_id = m.student_id AND sc.course_id = m.course_id) AS current "
    "FROM oneroster_enrollments m WHERE m.source = $1 AND m.sourced_id > $2 ORDER BY m.sourced_id LIMIT $3"
)
# The enrollments of this source's students that no enrollment mapping of this source names:
# the ones the API (or another source) made. Few, unlike the mapped ones, which are read above.
_UNMAPPED_PAIRS = Sql(
    "SELECT sc.student_id, sc.course_id FROM student_courses sc "
    "JOIN oneroster_users m ON m.student_id = sc.student_id WHERE m.source = $1 "
    "AND NOT EXISTS (SELECT 1 FROM oneroster_enrollments e WHERE e.source = $1 "
    "AND e.student_id = sc.student_id AND e.course_id = sc.course_id)"
)
PAGE = 10_000
_PAIRS_OF_STUDENTS = Sql(
    "SELECT student_id, course_id FROM student_courses WHERE student_id = ANY($1::bigint[])",
    "SELECT student_id, course_id FROM student_courses WHERE student_id IN (SELECT value FROM json_each(?1))",
)


async def unmapped_by_email(tx: Transaction, source: str, emails: Sequence[str]) -> list[Row]:
    """id, name, email of the students with these addresses that SOURCE has not mapped."""
    return await tx.fetch(_UNMAPPED_BY_EMAIL, source, list(emails))


async def source_users(tx: Transaction, source: str, after: str) -> list[Row]:
    """The next PAGE of the users SOURCE mapped by sourced_id, after AFTER ("" at first):
    sourced_id, student_id, modified, name, email."""
    return await tx.fetch(_SOURCE_USERS, source, after, PAGE)


async def source_classes(tx: Transaction, source: str) -> list[Row]:
    """sourced_id, course_id, modified, title of every class SOURCE mapped."""
    return await tx.fetch(_SOURCE_CLASSES, source)


async def source_enrollments(tx: Transaction, source: str, after: str) -> list[Row]:
    """The next PAGE of SOURCE's enrollment mappings by sourced_id, after AFTER ("" at first):
    sourced_id, student_id, course_id, modified, and whether the pair is an enrollment now."""
    return await tx.fetch(_SOURCE_ENROLLMENTS, source, after, PAGE)


async def unmapped_pairs(tx: Transaction, source: str) -> list[Row]:
    """(student_id, course_id) of the enrollments of the students SOURCE mapped that no enrollment
    mapping of SOURCE names."""
    return await tx.fetch(_UNMAPPED_PAIRS, source)


async def pairs_of_students(tx: Transaction, student_ids: Sequence[int]) -> list[Row]:
    """(student_id, course_id) of every enrollment of these students."""
    return await tx.fetch(_PAIRS_OF_STUDENTS, list(student_ids))


_INSERT_STUDENTS = Sql(
    "INSERT INTO students (name, email, created_at, updated_at) "
    "SELECT n, e, $3, $3 FROM unnest($1::text[], $2::text[]) AS r(n, e) RETURNING id, email",
    f"INSERT INTO students (name, email, created_at, updated_at) SELECT {_member(0)}, {_member(1)}, ?2, ?2 "
    "FROM json_each(?1) ORDER BY key RETURNING id, email",
)
_INSERT_COURSES = Sql(
    "INSERT INTO courses (code, title, created_at, updated_at) "
    "SELECT c, t, $3, $3 FROM unnest($1::text[], $2::text[]) AS r(c, t) RETURNING id, code",
    f"INSERT INTO courses (code, title, created_at, updated_at) SELECT {_member(0)}, {_member(1)}, ?2, ?2 "
    "FROM json_each(?1) ORDER BY key RETURNING id, code",
)


async def insert_students(tx: Transaction, rows: Sequence[tuple[str, str]], now: datetime) -> list[Row]:
    """New students from (name, email) rows; their (id, email)."""
    if not rows:
        return []
    return await tx.fetch(_INSERT_STUDENTS, *_columns(tx, rows, 2), now)


async def insert_courses(tx: Transaction, rows: Sequence[tuple[str, str]], now: datetime) -> list[Row]:
    """New courses, without a capacity limit, from (code, title) rows; their (id, code)."""
    if not rows:
        return []
    return await tx.fetch(_INSERT_COURSES, *_columns(tx, rows, 2), now)


_UPDATE_STUDENTS = Sql(
    "UPDATE students s SET name = r.n, email = r.e, updated_at = $4 "
    "FROM unnest($1::bigint[], $2::text[], $3::text[]) AS r(i, n, e) WHERE s.id = r.i",
    f"UPDATE students SET name = {_member(1)}, email = {_member(2)}, updated_at = ?2 FROM json_each(?1) "
    f"WHERE students.id = {_member(0)}",
)
_UPDATE_TITLES = Sql(
    "UPDATE courses c SET title = r.t, updated_at = $3 "
    "FROM unnest($1::bigint[], $2::text[]) AS r(i, t) WHERE c.id = r.i",
    f"UPDATE courses SET title = {_member(1)}, updated_at = ?2 FROM json_each(?1) "
    f"WHERE courses.id = {_member(0)}",
)


async def update_students(tx: Transaction, rows: Sequence[tuple[int, str, str]], now: datetime) -> None:
    """New names and e-mail addresses from (id, name, email) rows."""
    if rows:
        await tx.execute(_UPDATE_STUDENTS, *_columns(tx, rows, 3), now)


async def update_titles(tx: Transaction, rows: Sequence[tuple[int, str]], now: datetime) -> None:
    """New course titles from (id, title) rows."""
    if rows:
        await tx.execute(_UPDATE_TITLES, *_columns(tx, rows, 2), now)


# Enrollments made and dropped by an import, with their seat counts and history (cause `import`)
# in one statement on PostgreSQL, on courses whose rows the caller has locked.
_JOIN_PAIRS = Sql(
    "WITH joined AS (INSERT INTO student_courses (student_id, course_id, enrolled_at) "
    "SELECT s, c, $3 FROM unnest($1::bigint[], $2::bigint[]) AS p(s, c) RETURNING student_id, course_id), "
    "seats AS (UPDATE courses SET enrolled = enrolled + j.k FROM (SELECT course_id, count(*) AS k "
    "FROM joined GROUP BY course_id) j WHERE courses.id = j.course_id) "
    "INSERT INTO enrollment_events (at, student_id, course_id, change, cause) "
    "SELECT $3, student_id, course_id, 'enrolled', 'import' FROM joined ORDER BY student_id, course_id",
    f"INSERT INTO student_courses (student_id, course_id, enrolled_at) SELECT {_member(0)}, {_member(1)}, ?2 "
    "FROM json_each(?1)",
)
_LEAVE_PAIRS = Sql(
    "WITH gone AS (DELETE FROM student_courses sc USING unnest($1::bigint[], $2::bigint[]) AS p(s, c) "
    "WHERE sc.student_id = p.s AND sc.course_id = p.c RETURNING sc.student_id, sc.course_id), "
    "seats AS (UPDATE courses SET enrolled = enrolled - g.k FROM (SELECT course_id, count(*) AS k "
    "FROM gone GROUP BY course_id) g WHERE courses.id = g.course_id) "
    "INSERT INTO enrollment_events (at, student_id, course_id, change, cause) "
    "SELECT $3, student_id, course_id, 'dropped', 'import' FROM gone ORDER BY student_id, course_id",
    f"DELETE FROM student_courses WHERE (student_id, course_id) IN (SELECT {_member(0)}, {_member(1)} "
    "FROM json_each(?1))",
)
# SQLite cannot write in a WITH clause: the seats and the history move in statements of their own.
_SEATS_ON_SQLITE = Sql(
    "SELECT 'SQLite only'",
    f"UPDATE courses SET enrolled = enrolled + ?2 * p.k FROM (SELECT {_member(1)} AS course_id, count(*) AS k "
    "FROM json_each(?1) GROUP BY 1) p WHERE courses.id = p.course_id",
)
_EVENTS_ON_SQLITE = Sql(
    "SELECT 'SQLite only'",
    "INSERT INTO enrollment_events (at, student_id, course_id, change, cause) "
    f"SELECT ?2, {_member(0)}, {_member(1)}, ?3, 'import' FROM json_each(?1) ORDER BY key",
)


async def join_pairs(tx: Transaction, pairs: Sequence[tuple[int, int]], now: datetime) -> None:
    """Enroll each (student, course) pair, take the seats, record the `enrolled` events."""
    await _move_pairs(tx, _JOIN_PAIRS, pairs, now, "enrolled")


async def leave_pairs(tx: Transaction, pairs: Sequence[tuple[int, int]], now: datetime) -> None:
    """Drop each (student, course) pair, free the seats, record the `dropped` events."""
    await _move_pairs(tx, _LEAVE_PAIRS, pairs, now, "dropped")


async def _move_pairs(
    tx: Transaction, statement: Sql, pairs: Sequence[tuple[int, int]], now: datetime, change: str
) -> None:
    if not pairs:
        return
    if tx.dialect == "postgresql":
        await tx.execute(statement, *_columns(tx, pairs, 2), now)
        return
    for rows in _chunks(pairs):
        await tx.execute(statement, rows, now) if change == "enrolled" else await tx.execute(statement, rows)
        await tx.execute(_SEATS_ON_SQLITE, rows, 1 if change == "enrolled" else -1)
    # Events by course: two of the three history indexes lead with the course, so they grow in
    # order rather than at random pages (500,000 events took 13 s in student order). Grouped by
    # course rather than sorted with a key: a key tuple per pair cost some 30 MB at that size.
    by_course: dict[int, list[int]] = defaultdict(list)
    for student, course in pairs:
        by_course[course].append(student)
    ordered = ((s, c) for c in sorted(by_course) for s in sorted(by_course.pop(c)))
    for rows in _chunks(ordered):
        await tx.execute(_EVENTS_ON_SQLITE, rows, now, change)


SQLITE_CHUNK = 50_000  # rows per statement: SQLite parses each JSON argument whole, in its own memory


def _chunks(pairs: Iterable[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    items = iter(pairs)
    while chunk := list(islice(items, SQLITE_CHUNK)):
        yield chunk


_FORGET = {
    entity: Sql(
        f"DELETE FROM {table} WHERE source = $1 AND sourced_id = ANY($2::text[])",
        f"DELETE FROM {table} WHERE source = ?1 AND sourced_id IN (SELECT value FROM json_each(?2))",
    )
    for entity, table in MAPPINGS.items()
}
_REFERENCES = {
    "users": ("student_id",),
    "classes": ("course_id",),
    "enrollments": ("student_id", "course_id"),
}


async def forget(tx: Transaction, entity: str, source: str, sourced_ids: Sequence[str]) -> None:
    """Remove SOURCE's mappings of these sourcedIds of ENTITY (users, classes or enrollments)."""
    if sourced_ids:
        await tx.execute(_FORGET[entity], source, list(sourced_ids))


async def remember(
    tx: Transaction, entity: str, source: str, rows: Iterable[tuple[Any, ...]], replacing: Sequence[str]
) -> None:
    """Write SOURCE's mappings of ENTITY from (sourced_id, id..., modified) rows, after removing
    those of the sourcedIds REPLACING (the ones mapped already). COPY on PostgreSQL, executemany
    on SQLite. Callers give the rows in sourcedId order, so that the primary key grows at its end
    rather than at random places (SQLite, GUIDs: 27 s for 500,000 rows in file order, 16 s sorted)."""
    await forget(tx, entity, source, replacing)
    columns = ("source", "sourced_id", *_REFERENCES[entity], "modified")
    await tx.copy_rows(MAPPINGS[entity], columns, ((source, *r) for r in rows))


_EXPORT_STUDENTS = Sql(
    "SELECT s.id, s.name, s.email, m.sourced_id FROM students s "
    "LEFT JOIN oneroster_users m ON m.student_id = s.id AND m.source = $1 ORDER BY s.id"
)
_EXPORT_COURSES = Sql(
    "SELECT c.id, c.code, c.title, m.sourced_id FROM courses c "
    "LEFT JOIN oneroster_classes m ON m.course_id = c.id AND m.source = $1 ORDER BY c.id"
)
_EXPORT_ENROLLMENTS = Sql(
    "SELECT sc.student_id, sc.course_id, m.sourced_id FROM student_courses sc "
    "LEFT JOIN oneroster_enrollments m ON m.student_id = sc.student_id AND m.course_id = sc.course_id "
    "AND m.source = $1 ORDER BY sc.course_id, sc.student_id"
)


async def export_students(tx: Transaction, source: str) -> list[Row]:
    """id, name, email and SOURCE's sourcedId (or null) of every student, by id."""
    return await tx.fetch(_EXPORT_STUDENTS, source)


async def export_courses(tx: Transaction, source: str) -> list[Row]:
    """id, code, title and SOURCE's sourcedId (or null) of every course, by id."""
    return await tx.fetch(_EXPORT_COURSES, source)


async def export_enrollments(tx: Transaction, source: str) -> list[Row]:
    """student_id, course_id and SOURCE's sourcedId (or null) of every enrollment."""
    return await tx.fetch(_EXPORT_ENROLLMENTS, source)
