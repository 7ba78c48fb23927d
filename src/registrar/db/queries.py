"""Every statement that runs while serving: one function per query, both dialects side by side.

Each function takes the transaction (or connection) its service opened. Statements are plain SQL
text so that asyncpg and sqlite3 prepare and cache them once per connection; id lists travel as
one array parameter (PostgreSQL `bigint[]`, SQLite JSON read with `json_each`), so the number of
round trips of a request never grows with the number of ids in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from registrar.db.core import Row, Sql, Transaction

STUDENT_COLUMNS = "id, name, email, created_at, updated_at"
COURSE_COLUMNS = "id, code, title, capacity, enrolled, created_at, updated_at"

# ---------------------------------------------------------------------------------------- students

_INSERT_STUDENT = Sql(
    "INSERT INTO students (name, email, created_at, updated_at) VALUES ($1, $2, $3, $3) "
    f"ON CONFLICT DO NOTHING RETURNING {STUDENT_COLUMNS}"
)


async def insert_student(tx: Transaction, name: str, email: str, now: datetime) -> Row | None:
    """The new student, or None when the e-mail is taken."""
    return await tx.fetchrow(_INSERT_STUDENT, name, email, now)


_STUDENT_PAGE = Sql(f"SELECT {STUDENT_COLUMNS} FROM students WHERE id > $1 ORDER BY id LIMIT $2")
_STUDENT_BY_EMAIL = Sql(f"SELECT {STUDENT_COLUMNS} FROM students WHERE email = $1 AND id > $2 LIMIT $3")


async def student_page(tx: Transaction, after: int, limit: int) -> list[Row]:
    return await tx.fetch(_STUDENT_PAGE, after, limit)


async def students_by_email(tx: Transaction, email: str, after: int, limit: int) -> list[Row]:
    return await tx.fetch(_STUDENT_BY_EMAIL, email, after, limit)


_STUDENT_WITH_COURSES = Sql(
    "SELECT s.id, s.name, s.email, s.created_at, s.updated_at, "
    "c.id AS course_id, c.code, c.title, sc.enrolled_at "
    "FROM students s LEFT JOIN student_courses sc ON sc.student_id = s.id "
    "LEFT JOIN courses c ON c.id = sc.course_id WHERE s.id = $1 ORDER BY c.id"
)


async def student_with_courses(tx: Transaction, student_id: int) -> list[Row]:
    """One row per course of the student (course columns null when there is none); no rows when
    the student does not exist."""
    return await tx.fetch(_STUDENT_WITH_COURSES, student_id)


_LOCK_STUDENT = Sql(
    f"SELECT {STUDENT_COLUMNS} FROM students WHERE id = $1 FOR UPDATE",
    f"SELECT {STUDENT_COLUMNS} FROM students WHERE id = ?1",
)


async def lock_student(tx: Transaction, student_id: int) -> Row | None:
    return await tx.fetchrow(_LOCK_STUDENT, student_id)


_UPDATE_STUDENT = Sql(
    f"UPDATE students SET name = $2, email = $3, updated_at = $4 WHERE id = $1 RETURNING {STUDENT_COLUMNS}"
)


async def update_student(tx: Transaction, student_id: int, name: str, email: str, now: datetime) -> Row:
    row = await tx.fetchrow(_UPDATE_STUDENT, student_id, name, email, now)
    assert row is not None, "the caller holds the row lock"
    return row


_DELETE_STUDENT = Sql("DELETE FROM students WHERE id = $1")


async def delete_student(tx: Transaction, student_id: int) -> None:
    await tx.execute(_DELETE_STUDENT, student_id)


# ----------------------------------------------------------------------------------------- courses

_INSERT_COURSE = Sql(
    "INSERT INTO courses (code, title, capacity, enrolled, created_at, updated_at) "
    f"VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT DO NOTHING RETURNING {COURSE_COLUMNS}"
)


async def insert_course(
    tx: Transaction, code: str, title: str, capacity: int | None, now: datetime
) -> Row | None:
    """The new course, or None when the code is taken."""
    return await tx.fetchrow(_INSERT_COURSE, code, title, capacity, now)


_COURSE_PAGE = Sql(f"SELECT {COURSE_COLUMNS} FROM courses WHERE id > $1 ORDER BY id LIMIT $2")
_COURSE_BY_CODE = Sql(f"SELECT {COURSE_COLUMNS} FROM courses WHERE code = $1 AND id > $2 LIMIT $3")
_COURSE = Sql(f"SELECT {COURSE_COLUMNS} FROM courses WHERE id = $1")


async def course_page(tx: Transaction, after: int, limit: int) -> list[Row]:
    return await tx.fetch(_COURSE_PAGE, after, limit)


async def courses_by_code(tx: Transaction, code: str, after: int, limit: int) -> list[Row]:
    return await tx.fetch(_COURSE_BY_CODE, code, after, limit)


async def course(tx: Transaction, course_id: int) -> Row | None:
    return await tx.fetchrow(_COURSE, course_id)


_LOCK_COURSE = Sql(
    f"SELECT {COURSE_COLUMNS} FROM courses WHERE id = $1 FOR UPDATE",
    f"SELECT {COURSE_COLUMNS} FROM courses WHERE id = ?1",
)


async def lock_course(tx: Transaction, course_id: int) -> Row | None:
    return await tx.fetchrow(_LOCK_COURSE, course_id)


_UPDATE_COURSE = Sql(
    "UPDATE courses SET code = $2, title = $3, capacity = $4, updated_at = $5 "
    f"WHERE id = $1 RETURNING {COURSE_COLUMNS}"
)


async def update_course(
    tx: Transaction, course_id: int, code: str, title: str, capacity: int | None, now: datetime
) -> Row:
    row = await tx.fetchrow(_UPDATE_COURSE, course_id, code, title, capacity, now)
    assert row is not None, "the caller holds the row lock"
    return row


_DELETE_COURSE = Sql("DELETE FROM courses WHERE id = $1")


async def delete_course(tx: Transaction, course_id: int) -> None:
    await tx.execute(_DELETE_COURSE, course_id)


_ROSTER_PAGE = Sql(
    "SELECT s.id, s.name, s.email, sc.enrolled_at FROM student_courses sc "
    "JOIN students s ON s.id = sc.student_id "
    "WHERE sc.course_id = $1 AND sc.student_id > $2 ORDER BY sc.student_id LIMIT $3"
)


async def roster_page(tx: Transaction, course_id: int, after: int, limit: int) -> list[Row]:
    return await tx.fetch(_ROSTER_PAGE, course_id, after, limit)


_COURSE_EXISTS = Sql("SELECT 1 FROM courses WHERE id = $1")


async def course_exists(tx: Transaction, course_id: int) -> bool:
    return await tx.fetchval(_COURSE_EXISTS, course_id) is not None


# ------------------------------------------------------------------------------------- enrollments

_LOCK_STUDENT_ID = Sql(
    "SELECT id FROM students WHERE id = $1 FOR UPDATE",
    "SELECT id FROM students WHERE id = ?1",
)


async def lock_student_id(tx: Transaction, student_id: int) -> bool:
    """Lock the student's row, so that every change to one student's courses queues behind it;
    False when the student does not exist. Read the courses with a later statement: see
    `lock_seats_and_enrollments`."""
    return await tx.fetchval(_LOCK_STUDENT_ID, student_id) is not None


# `seats` locks the courses whose seat counts may move, in ascending id order: the requested
# ones, and with $3 also every course the student is in now (a PUT or a deletion may free those).
# The student's enrollments are read in this statement, never in the one that locked the student:
# under READ COMMITTED a statement that waited for a row lock sees the other rows as they were
# when it started, so a set read together with the student's lock can miss the enrollment that
# the request it waited for just committed.
_SEATS_AND_ENROLLMENTS = Sql(
    "WITH mine AS (SELECT course_id, enrolled_at FROM student_courses WHERE student_id = $1), "
    "seats AS (SELECT id, code, title, capacity, enrolled FROM courses "
    "WHERE id = ANY($2::bigint[]) OR ($3 AND id IN (SELECT course_id FROM mine)) ORDER BY id FOR UPDATE) "
    "SELECT s.id, s.code, s.title, s.capacity, s.enrolled, m.enrolled_at, true AS locked "
    "FROM seats s LEFT JOIN mine m ON m.course_id = s.id "
    "UNION ALL SELECT c.id, c.code, c.title, c.capacity, c.enrolled, m.enrolled_at, false "
    "FROM mine m JOIN courses c ON c.id = m.course_id WHERE c.id NOT IN (SELECT id FROM seats)",
    "WITH mine AS (SELECT course_id, enrolled_at FROM student_courses WHERE student_id = ?1), "
    "seats AS (SELECT id, code, title, capacity, enrolled FROM courses "
    "WHERE id IN (SELECT value FROM json_each(?2)) OR (?3 AND id IN (SELECT course_id FROM mine))) "
    "SELECT s.id, s.code, s.title, s.capacity, s.enrolled, m.enrolled_at, 1 AS locked "
    "FROM seats s LEFT JOIN mine m ON m.course_id = s.id "
    "UNION ALL SELECT c.id, c.code, c.title, c.capacity, c.enrolled, m.enrolled_at, 0 "
    "FROM mine m JOIN courses c ON c.id = m.course_id WHERE c.id NOT IN (SELECT id FROM seats)",
)


async def lock_seats_and_enrollments(
    tx: Transaction, student_id: int, course_ids: Iterable[int], with_current: bool
) -> list[Row]:
    """For a student whose row the caller has locked: lock the seat counts of `course_ids` (and,
    with `with_current`, of the student's current courses) in ascending id order, and read the
    student's enrollments. One row per course that is either requested or current: id, code,
    title, capacity, enrolled, enrolled_at (null when not enrolled), locked.

    Two requests that touch overlapping courses take the locks in the same order, so they queue
    instead of deadlocking, and the second one reads the seat count the first one committed.
    """
    return await tx.fetch(_SEATS_AND_ENROLLMENTS, student_id, sorted(course_ids), with_current)


_JOIN_COURSES = Sql(
    "WITH joined AS (INSERT INTO student_courses (student_id, course_id, enrolled_at) "
    "SELECT $1, course_id, $3 FROM unnest($2::bigint[]) AS course_id RETURNING course_id) "
    "UPDATE courses SET enrolled = enrolled + 1 FROM joined WHERE courses.id = joined.course_id",
    "INSERT INTO student_courses (student_id, course_id, enrolled_at) SELECT ?1, value, ?3 FROM json_each(?2)",
)
_LEAVE_COURSES = Sql(
    "WITH left_ AS (DELETE FROM student_courses WHERE student_id = $1 AND course_id = ANY($2::bigint[]) "
    "RETURNING course_id) UPDATE courses SET enrolled = enrolled - 1 FROM left_ WHERE courses.id = left_.course_id",
    "DELETE FROM student_courses WHERE student_id = ?1 AND course_id IN (SELECT value FROM json_each(?2))",
)
# SQLite cannot write in a WITH clause: there the seat counts move in a second statement (which
# costs no round trip on an embedded database).
_MOVE_SEATS = Sql(
    "UPDATE courses SET enrolled = enrolled + $2 WHERE id = ANY($1::bigint[])",
    "UPDATE courses SET enrolled = enrolled + ?2 WHERE id IN (SELECT value FROM json_each(?1))",
)


async def join_courses(tx: Transaction, student_id: int, course_ids: Sequence[int], now: datetime) -> None:
    """Enroll the student in courses whose rows the caller has locked, and take their seats."""
    if course_ids:
        await tx.execute(_JOIN_COURSES, student_id, list(course_ids), now)
        if tx.dialect == "sqlite":
            await tx.execute(_MOVE_SEATS, list(course_ids), +1)


async def leave_courses(tx: Transaction, student_id: int, course_ids: Sequence[int]) -> None:
    """Drop the student from courses whose rows the caller has locked, and free their seats."""
    if course_ids:
        await tx.execute(_LEAVE_COURSES, student_id, list(course_ids))
        if tx.dialect == "sqlite":
            await tx.execute(_MOVE_SEATS, list(course_ids), -1)


_STUDENT_COURSES_OR_MISSING = Sql(
    "SELECT c.id, c.code, c.title, sc.enrolled_at FROM students s "
    "LEFT JOIN student_courses sc ON sc.student_id = s.id LEFT JOIN courses c ON c.id = sc.course_id "
    "WHERE s.id = $1 ORDER BY c.id"
)


async def student_courses_or_missing(tx: Transaction, student_id: int) -> list[Row] | None:
    """The student's courses in one round trip; None when the student does not exist."""
    rows = await tx.fetch(_STUDENT_COURSES_OR_MISSING, student_id)
    if not rows:
        return None
    return [r for r in rows if r[0] is not None]


# ---------------------------------------------------------------------------------------- api keys

_INSERT_API_KEY = Sql(
    "INSERT INTO api_keys (token_digest, role, name, created_at) VALUES ($1, $2, $3, $4) RETURNING id"
)


async def insert_api_key(tx: Transaction, digest: str, role: str, name: str | None, now: datetime) -> int:
    key_id: int = await tx.fetchval(_INSERT_API_KEY, digest, role, name, now)
    return key_id


_BLOCK_AND_KEY = Sql(
    "SELECT (SELECT blocked_until FROM auth_failures WHERE address = $1) AS blocked_until, "
    "k.id, k.role, k.token_digest FROM (SELECT 1) AS one "
    "LEFT JOIN api_keys k ON k.token_digest = $2 AND k.revoked_at IS NULL"
)


async def block_and_key(tx: Transaction, address: str, digest: str) -> tuple[float | None, Row | None]:
    """In one statement: when the address's block ends (None: never blocked), and the active key
    with this token digest (None: unknown or revoked)."""
    row = await tx.fetchrow(_BLOCK_AND_KEY, address, digest)
    assert row is not None
    until = None if row["blocked_until"] is None else float(row["blocked_until"])
    return until, (row if row["id"] is not None else None)


_ALL_KEYS = Sql("SELECT id, role, name, created_at, revoked_at FROM api_keys ORDER BY id")


async def all_keys(tx: Transaction) -> list[Row]:
    return await tx.fetch(_ALL_KEYS)


_REVOKE_KEY = Sql("UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING id")


async def revoke_key(tx: Transaction, key_id: int, now: datetime) -> bool:
    """False when no key has that id; a key already revoked keeps its first revocation time."""
    return await tx.fetchval(_REVOKE_KEY, key_id, now) is not None


_ANY_KEY = Sql("SELECT 1 FROM api_keys LIMIT 1")


async def any_key_exists(tx: Transaction) -> bool:
    return await tx.fetchval(_ANY_KEY) is not None


_FIRST_KEY_LOCK = Sql("SELECT pg_advisory_xact_lock(7420002)", "SELECT 1")


async def serialize_first_key(tx: Transaction) -> None:
    """Hosts starting at once on one PostgreSQL take turns deciding whether a first key is needed
    (SQLite's write lock already does that)."""
    await tx.execute(_FIRST_KEY_LOCK)


_PING = Sql("SELECT 1")


async def ping(tx: Transaction) -> None:
    await tx.fetchval(_PING)


# ------------------------------------------------------------------------------------ bulk loading

_RESERVE_IDS = {
    table: Sql(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
        f"nextval(pg_get_serial_sequence('{table}', 'id')) + $1 - 1) - $1 + 1",
        # AUTOINCREMENT tables: past both the largest id and any deleted one (sqlite_sequence).
        f"SELECT max(coalesce(max(id), 0), coalesce((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0))"
        f" + 1 + 0 * ?1 FROM {table}",
    )
    for table in ("students", "courses")
}
_LOCK_FOR_BULK_LOAD = Sql(
    "LOCK TABLE students, courses IN SHARE ROW EXCLUSIVE MODE",
    "SELECT 1",  # BEGIN IMMEDIATE already keeps other writers out
)


async def reserve_ids(tx: Transaction, table: str, count: int) -> int:
    """The first of `count` consecutive new ids of `table`; the caller inserts them explicitly.
    Other writers wait on the table lock of `lock_for_bulk_load` until the transaction ends."""
    await tx.execute(_LOCK_FOR_BULK_LOAD)
    first: int = await tx.fetchval(_RESERVE_IDS[table], count)
    return first


# ------------------------------------------------------------------------------- idempotency keys

_CLAIM_IDEMPOTENCY_KEY = Sql(
    "SELECT pg_try_advisory_xact_lock($1)",
    "SELECT 1 + 0 * ?1",  # BEGIN IMMEDIATE already makes a second request wait, then replay
)


async def claim_idempotency_key(tx: Transaction, lock_id: int) -> bool:
    """False when another transaction holds the key: its first request is still running."""
    return bool(await tx.fetchval(_CLAIM_IDEMPOTENCY_KEY, lock_id))


_IDEMPOTENCY_RECORD = Sql(
    "SELECT request_method, request_path, request_digest, response_status, response_content_type, "
    "response_location, response_body FROM idempotency_keys "
    "WHERE api_key_id = $1 AND idempotency_key = $2 AND created_at > $3"
)


async def idempotency_record(tx: Transaction, api_key_id: int, key: str, newer_than: datetime) -> Row | None:
    return await tx.fetchrow(_IDEMPOTENCY_RECORD, api_key_id, key, newer_than)


_SAVE_IDEMPOTENCY_RECORD = Sql(
    "INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_method, request_path, request_digest, "
    "response_status, response_content_type, response_location, response_body, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
    "ON CONFLICT (api_key_id, idempotency_key) DO UPDATE SET request_method = excluded.request_method, "
    "request_path = excluded.request_path, request_digest = excluded.request_digest, "
    "response_status = excluded.response_status, response_content_type = excluded.response_content_type, "
    "response_location = excluded.response_location, response_body = excluded.response_body, "
    "created_at = excluded.created_at"
)


async def save_idempotency_record(tx: Transaction, values: Sequence[object]) -> None:
    """Insert, or overwrite an expired record of the same key (the caller checked freshness)."""
    await tx.execute(_SAVE_IDEMPOTENCY_RECORD, *values)


_FORGET_OLD_IDEMPOTENCY_KEYS = Sql("DELETE FROM idempotency_keys WHERE created_at <= $1")


async def forget_idempotency_keys(tx: Transaction, older_than: datetime) -> None:
    await tx.execute(_FORGET_OLD_IDEMPOTENCY_KEYS, older_than)


# ------------------------------------------------------------------------ failed authentications

_BLOCKED_UNTIL = Sql("SELECT blocked_until FROM auth_failures WHERE address = $1")


async def blocked_until(tx: Transaction, address: str) -> float | None:
    value = await tx.fetchval(_BLOCKED_UNTIL, address)
    return None if value is None else float(value)


_ENSURE_FAILURE_ROW = Sql(
    "INSERT INTO auth_failures (address, recent_failures, blocked_until, updated_at) "
    "VALUES ($1, '[]', NULL, $2) ON CONFLICT (address) DO NOTHING"
)
_LOCK_FAILURES = Sql(
    "SELECT recent_failures, blocked_until FROM auth_failures WHERE address = $1 FOR UPDATE",
    "SELECT recent_failures, blocked_until FROM auth_failures WHERE address = ?1",
)


async def lock_auth_failures(tx: Transaction, address: str, now: float) -> Row:
    """The address's failure record, created if need be and locked until the transaction ends."""
    await tx.execute(_ENSURE_FAILURE_ROW, address, now)
    row = await tx.fetchrow(_LOCK_FAILURES, address)
    assert row is not None
    return row


_SAVE_FAILURES = Sql(
    "UPDATE auth_failures SET recent_failures = $2, blocked_until = $3, updated_at = $4 WHERE address = $1"
)


async def save_auth_failures(
    tx: Transaction, address: str, recent_failures: str, blocked: float | None, now: float
) -> None:
    await tx.execute(_SAVE_FAILURES, address, recent_failures, blocked, now)


_FORGET_OLD_FAILURES = Sql(
    "DELETE FROM auth_failures WHERE updated_at <= $1 AND (blocked_until IS NULL OR blocked_until <= $1)"
)


async def forget_auth_failures(tx: Transaction, older_than: float) -> None:
    await tx.execute(_FORGET_OLD_FAILURES, older_than)


# The primary key, indexes and foreign keys of student_courses as the database holds them now
# (kind, name, definition), so that a bulk load can set them aside and rebuild exactly those.
# SQLite keeps its primary and foreign keys inside the table's own definition: only the separate
# indexes can go.
_JUNCTION_RULES = Sql(
    "SELECT CASE contype WHEN 'p' THEN 'primary' ELSE 'foreign' END, conname, pg_get_constraintdef(oid) "
    "FROM pg_constraint WHERE conrelid = 'student_courses'::regclass AND contype IN ('p', 'f') "
    "UNION ALL SELECT 'index', i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
    "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = 'student_courses'::regclass "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid "
    "AND c.conrelid = x.indrelid)",
    "SELECT 'index', name, sql FROM sqlite_master "
    "WHERE type = 'index' AND tbl_name = 'student_courses' AND sql IS NOT NULL",
)
_REBUILD_ORDER = {"primary": 0, "index": 1, "foreign": 2}
_BULK_MEMORY = Sql("SET LOCAL maintenance_work_mem = '1GB'", "PRAGMA cache_size = -1048576")


async def set_aside_junction_rules(tx: Transaction) -> list[tuple[str, str, str]]:
    """Drop student_courses' keys and indexes for a bulk load and return what was dropped, in
    the order `rebuild_junction_rules` needs. The caller's transaction keeps the table locked
    until they are back, so no other request ever sees the table without them."""
    rules = sorted(
        ((r[0], r[1], r[2]) for r in await tx.fetch(_JUNCTION_RULES)), key=lambda r: _REBUILD_ORDER[r[0]]
    )
    for kind, name, _ in reversed(rules):
        statement = (
            f'DROP INDEX "{name}"'
            if kind == "index"
            else f'ALTER TABLE student_courses DROP CONSTRAINT "{name}"'
        )
        await tx.execute(Sql(statement, statement))
    await tx.execute(_BULK_MEMORY)
    return rules


async def rebuild_junction_rules(tx: Transaction, rules: Sequence[tuple[str, str, str]]) -> None:
    """Re-create what `set_aside_junction_rules` dropped, each from its own definition: the index
    in one sort, each foreign key checked with one join instead of once per row."""
    for kind, name, definition in rules:
        statement = (
            definition
            if kind == "index"
            else f'ALTER TABLE student_courses ADD CONSTRAINT "{name}" {definition}'
        )
        await tx.execute(Sql(statement, statement))


# Seeded rows are generated by the database itself: no row crosses the wire or passes through
# Python, which on SQLite saves most of the time and on PostgreSQL the parsing of COPY data.
# SQLite has no generate_series in the stdlib build, so a recursive CTE counts instead.
_SEED_STUDENTS = Sql(
    "INSERT INTO students (id, name, email, created_at, updated_at) "
    "SELECT $1::bigint + i, 'Seeded Student ' || (i + 1), 'student' || (i + 1) || '.' || $2::text "
    "|| '@seed.example', $3::timestamptz, $3::timestamptz FROM generate_series($4::bigint, $5::bigint - 1) AS i",
    "WITH RECURSIVE n(i) AS (SELECT ?4 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?5) "
    "INSERT INTO students (id, name, email, created_at, updated_at) "
    "SELECT ?1 + i, 'Seeded Student ' || (i + 1), 'student' || (i + 1) || '.' || ?2 || '@seed.example', ?3, ?3 "
    "FROM n",
)


async def insert_seeded_students(
    tx: Transaction, base: int, tag: str, start: int, stop: int, now: datetime
) -> None:
    """Students base + i for i in [start, stop), named after i + 1, e-mail made unique by `tag`."""
    await tx.execute(_SEED_STUDENTS, base, tag, now, start, stop)


_SEED_ENROLLMENTS = Sql(
    "INSERT INTO student_courses (student_id, course_id, enrolled_at) "
    "SELECT $1::bigint + f.n - 1, $2::bigint + (f.first + k) % $3::bigint, $4::timestamptz "
    "FROM unnest($5::bigint[]) WITH ORDINALITY AS f(first, n), generate_series(0, $6::int - 1) AS k",
    "WITH RECURSIVE k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j + 1 < ?6) "
    "INSERT INTO student_courses (student_id, course_id, enrolled_at) "
    "SELECT ?1 + f.key, ?2 + (f.value + k.j) % ?3, ?4 FROM json_each(?5) AS f, k",
)


async def insert_seeded_enrollments(
    tx: Transaction,
    first_student: int,
    course_base: int,
    courses: int,
    first_courses: Sequence[int],
    per_student: int,
    now: datetime,
) -> None:
    """Student first_student + i takes the courses course_base + (first_courses[i] + j) % courses
    for j < per_student: distinct while per_student <= courses."""
    await tx.execute(
        _SEED_ENROLLMENTS, first_student, course_base, courses, now, list(first_courses), per_student
    )


_CURRENT_BLOCKS = Sql("SELECT address, blocked_until FROM auth_failures WHERE blocked_until > $1")


async def current_blocks(tx: Transaction, now: float) -> list[Row]:
    return await tx.fetch(_CURRENT_BLOCKS, now)


_ANNOUNCE = Sql("SELECT pg_notify($1, $2)", "SELECT ?1, ?2")


async def announce(tx: Transaction, channel: str, payload: str) -> None:
    """Tell every listening worker, when the transaction commits (PostgreSQL NOTIFY)."""
    await tx.execute(_ANNOUNCE, channel, payload)
