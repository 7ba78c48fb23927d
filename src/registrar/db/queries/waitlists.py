"""Waitlists: who waits for which course, in what order, and promotion to the seats that free up.

Every write here runs on courses whose rows the caller has locked (the same locks that guard the
seat counts), so `waitlisted` moves with the entries it counts and the order cannot change under
a promotion. Positions are never stored: a student's is 1 + the entries of the course that joined
before it (joined_at, then id).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from registrar.db.core import Row, Sql, Transaction
from registrar.db.queries.enrollments import Why

_JOIN = Sql(
    "WITH joined AS (INSERT INTO waitlist_entries (student_id, course_id, joined_at) VALUES ($1, $2, $3) "
    "RETURNING course_id) UPDATE courses SET waitlisted = waitlisted + 1 FROM joined "
    "WHERE courses.id = joined.course_id",
    "INSERT INTO waitlist_entries (student_id, course_id, joined_at) VALUES (?1, ?2, ?3)",
)
_LEAVE = Sql(
    "WITH gone AS (DELETE FROM waitlist_entries WHERE student_id = $1 AND course_id = ANY($2::bigint[]) "
    "RETURNING course_id) UPDATE courses SET waitlisted = waitlisted - 1 FROM gone "
    "WHERE courses.id = gone.course_id",
    "DELETE FROM waitlist_entries WHERE student_id = ?1 AND course_id IN (SELECT value FROM json_each(?2))",
)
# SQLite cannot write in a WITH clause: the count moves in a statement of its own.
_COUNT = Sql(
    "UPDATE courses SET waitlisted = waitlisted + $2 WHERE id = ANY($1::bigint[])",
    "UPDATE courses SET waitlisted = waitlisted + ?2 WHERE id IN (SELECT value FROM json_each(?1))",
)


async def join(tx: Transaction, student_id: int, course_id: int, now: datetime) -> None:
    """Put the student at the end of the course's waitlist."""
    await tx.execute(_JOIN, student_id, course_id, now)
    if tx.dialect == "sqlite":
        await tx.execute(_COUNT, [course_id], +1)


async def leave(tx: Transaction, student_id: int, course_ids: Sequence[int]) -> None:
    """Take the student off these courses' waitlists (it waits for each of them)."""
    if not course_ids:
        return
    await tx.execute(_LEAVE, student_id, list(course_ids))
    if tx.dialect == "sqlite":
        await tx.execute(_COUNT, list(course_ids), -1)


_POSITION = "(SELECT count(*) FROM waitlist_entries o WHERE o.course_id = w.course_id AND (o.joined_at < w.joined_at OR (o.joined_at = w.joined_at AND o.id <= w.id)))"
_STUDENT_WAITLIST = Sql(
    f"SELECT w.course_id, c.code, c.title, {_POSITION} AS position, w.joined_at FROM waitlist_entries w "
    "JOIN courses c ON c.id = w.course_id WHERE w.student_id = $1 ORDER BY w.course_id"
)
_ENTRY = Sql(
    f"SELECT w.course_id, c.code, c.title, {_POSITION} AS position, w.joined_at FROM waitlist_entries w "
    "JOIN courses c ON c.id = w.course_id WHERE w.student_id = $1 AND w.course_id = $2"
)
_COURSE_WAITLIST = Sql(
    "SELECT s.id, s.name, s.email, row_number() OVER (ORDER BY w.joined_at, w.id) AS position, w.joined_at "
    "FROM waitlist_entries w JOIN students s ON s.id = w.student_id WHERE w.course_id = $1 "
    "ORDER BY w.joined_at, w.id LIMIT 1000"
)


async def student_waitlist(tx: Transaction, student_id: int) -> list[Row]:
    """WaitlistEntry rows (course_id, code, title, position, joined_at), by course id."""
    return await tx.fetch(_STUDENT_WAITLIST, student_id)


async def entry(tx: Transaction, student_id: int, course_id: int) -> Row | None:
    """The student's WaitlistEntry row for one course, or None when it does not wait for it."""
    return await tx.fetchrow(_ENTRY, student_id, course_id)


async def course_waitlist(tx: Transaction, course_id: int) -> list[Row]:
    """WaitingStudent rows (id, name, email, position, joined_at), in position order."""
    return await tx.fetch(_COURSE_WAITLIST, course_id)


# The heads of the waitlists of courses whose rows the caller holds: per course, as many students
# as it has free seats (all of them when it has no limit), in position order. The caller's own
# changes to `enrolled` earlier in the transaction are visible here.
_HEADS = (
    "SELECT w.id, w.student_id, w.course_id, w.n FROM (SELECT id, student_id, course_id, "
    "row_number() OVER (PARTITION BY course_id ORDER BY joined_at, id) AS n FROM waitlist_entries "
    "WHERE course_id {in_courses}) w JOIN courses c ON c.id = w.course_id "
    "WHERE c.capacity IS NULL OR w.n <= c.capacity - c.enrolled"
)
_PROMOTE = Sql(
    "WITH heads AS ("
    + _HEADS.format(in_courses="= ANY($1::bigint[])")
    + "), gone AS (DELETE FROM waitlist_entries WHERE id IN (SELECT id FROM heads) RETURNING id), "
    "promoted AS (SELECT h.student_id, h.course_id, h.n FROM heads h JOIN gone g ON g.id = h.id), "
    "joined AS (INSERT INTO student_courses (student_id, course_id, enrolled_at) "
    "SELECT student_id, course_id, $2 FROM promoted), "
    "seats AS (UPDATE courses SET enrolled = enrolled + p.k, waitlisted = waitlisted - p.k "
    "FROM (SELECT course_id, count(*) AS k FROM promoted GROUP BY course_id) p WHERE courses.id = p.course_id), "
    "events AS (INSERT INTO enrollment_events (at, student_id, course_id, change, cause, request_id, key_id) "
    "SELECT $2, student_id, course_id, 'enrolled', 'waitlist', $3, $4 FROM promoted ORDER BY course_id, n) "
    "SELECT student_id, course_id FROM promoted ORDER BY course_id, n",
    "SELECT 'PostgreSQL only'",
)


async def promote(
    tx: Transaction, course_ids: Sequence[int], now: datetime, why: Why
) -> list[tuple[int, int]]:
    """Fill the free seats of these courses (locked by the caller) from their waitlists, in
    position order, recording each promotion in the history; the (student, course) pairs promoted,
    in the order they were. One statement on PostgreSQL."""
    if tx.dialect == "sqlite":
        return await _promote_on_sqlite(tx, course_ids, now, why)
    rows = await tx.fetch(_PROMOTE, list(course_ids), now, why.request_id, why.key_id)
    return [(r[0], r[1]) for r in rows]


# SQLite cannot write in a WITH clause: the heads are read, then moved statement by statement
# (none of them a round trip on an embedded database). Pairs travel as JSON [[student, course], ...].
def _sqlite_only(text: str) -> Sql:
    return Sql("SELECT 'SQLite only'", text)


_HEADS_ON_SQLITE = _sqlite_only(
    _HEADS.format(in_courses="IN (SELECT value FROM json_each(?1))") + " ORDER BY w.course_id, w.n"
)
_TAKE_OFF = _sqlite_only("DELETE FROM waitlist_entries WHERE id IN (SELECT value FROM json_each(?1))")
_ENROLL_PROMOTED = _sqlite_only(
    "INSERT INTO student_courses (student_id, course_id, enrolled_at) "
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?2 FROM json_each(?1)"
)
_COUNT_PROMOTED = _sqlite_only(
    "UPDATE courses SET enrolled = enrolled + p.k, waitlisted = waitlisted - p.k FROM "
    "(SELECT json_extract(value, '$[1]') AS course_id, count(*) AS k FROM json_each(?1) GROUP BY 1) p "
    "WHERE courses.id = p.course_id"
)
_RECORD_PROMOTED = _sqlite_only(
    "INSERT INTO enrollment_events (at, student_id, course_id, change, cause, request_id, key_id) "
    "SELECT ?2, json_extract(value, '$[0]'), json_extract(value, '$[1]'), 'enrolled', 'waitlist', ?3, ?4 "
    "FROM json_each(?1) ORDER BY key"
)


async def _promote_on_sqlite(
    tx: Transaction, course_ids: Sequence[int], now: datetime, why: Why
) -> list[tuple[int, int]]:
    heads = await tx.fetch(_HEADS_ON_SQLITE, list(course_ids))
    if not heads:
        return []
    pairs = [[r["student_id"], r["course_id"]] for r in heads]
    await tx.execute(_TAKE_OFF, [r["id"] for r in heads])
    await tx.execute(_ENROLL_PROMOTED, pairs, now)
    await tx.execute(_COUNT_PROMOTED, pairs)
    await tx.execute(_RECORD_PROMOTED, pairs, now, why.request_id, why.key_id)
    return [(s, c) for s, c in pairs]
