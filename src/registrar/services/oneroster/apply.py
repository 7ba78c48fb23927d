"""Applying a plan: set-based writes in the import's one transaction, under the locks `state.load`
took (students, then courses, in id order), with the history (cause `import`), waitlist
promotion for the seats its drops free, and one enrollment log line per student after commit."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Container, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from registrar.db import Transaction
from registrar.db.queries import oneroster as q
from registrar.services.common import Caller, log_enrollment_change, utc_now
from registrar.services.oneroster.plan import Plan
from registrar.services.oneroster.state import Stored
from registrar.services.promotion import fill_freed_seats


def _resolve(ref: int, new_ids: Sequence[int]) -> int:
    return ref if ref > 0 else new_ids[-ref - 1]


async def apply(tx: Transaction, plan: Plan, stored: Stored) -> None:
    """Write PLAN. Drops go before additions, and the seats they free go to the waitlists after
    both: the capacity check counted new enrollments against the seats taken before the import."""
    now = utc_now()
    students, courses = await _insert(tx, plan, now)
    await q.update_students(tx, plan.student_updates, now)
    await q.update_titles(tx, plan.title_updates, now)
    await q.leave_pairs(tx, plan.drops, now)
    adds = sorted(_adds(plan, students, courses))
    await q.join_pairs(tx, adds, now)
    del adds  # 500,000 tuples: made again for the log, rather than held while the mappings are written
    await q.forget(tx, "enrollments", plan.source, plan.forgotten)
    await _remember(tx, "users", plan.source, plan.user_maps, students, stored.users)
    await _remember(tx, "classes", plan.source, plan.class_maps, courses, stored.classes)
    await _remember_enrollments(tx, plan, stored, students, courses)
    freed = sorted({course for _, course in plan.drops})
    await fill_freed_seats(tx, (stored.seats[c] for c in freed), Caller())
    tx.after_commit(lambda: _log(_adds(plan, students, courses), plan.drops))


def _adds(plan: Plan, students: Sequence[int], courses: Sequence[int]) -> Iterator[tuple[int, int]]:
    """The enrollments PLAN adds, with real ids."""
    return ((_resolve(s, students), _resolve(c, courses)) for s, c in plan.enrollments.adds())


async def _insert(tx: Transaction, plan: Plan, now: datetime) -> tuple[list[int], list[int]]:
    """Create the new students and courses; their ids, in the order of the plan's placeholders."""
    rows = await q.insert_students(tx, plan.new_students, now)
    by_email = {r["email"]: r["id"] for r in rows}
    students = [by_email[email] for _, email in plan.new_students]
    rows = await q.insert_courses(tx, plan.new_courses, now)
    by_code = {r["code"]: r["id"] for r in rows}
    return students, [by_code[code] for code, _ in plan.new_courses]


async def _remember(
    tx: Transaction,
    entity: str,
    source: str,
    maps: Sequence[tuple[str, int, datetime | None]],
    new_ids: Sequence[int],
    mappings: Container[str],
) -> None:
    """Write user or class mappings, in sourcedId order, with real ids."""
    rows = sorted((sid, _resolve(ref, new_ids), m) for sid, ref, m in maps)
    await q.remember(tx, entity, source, rows, _mapped(rows, mappings))


async def _remember_enrollments(
    tx: Transaction, plan: Plan, stored: Stored, students: Sequence[int], courses: Sequence[int]
) -> None:
    """The enrollment mappings, in sourcedId order, made one at a time from the plan's rows rather
    than held as a list of 500,000 tuples."""
    enrollments, link = plan.enrollments, stored.enrollments.link
    table = enrollments.table
    rows = sorted(enrollments.mapped, key=table.sids.__getitem__)
    replacing = [table.sids[row] for row in rows if link[row] >= 0] + [r[0] for r in plan.restamps]
    made = (
        (table.sids[row], _resolve(enrollments.students[row], students),
         _resolve(enrollments.courses[row], courses), table.modified.get(row))
        for row in rows
    )  # fmt: skip
    merged = heapq.merge(made, sorted(plan.restamps))
    await q.remember(tx, "enrollments", plan.source, merged, replacing)


def _mapped(rows: Sequence[tuple[Any, ...]], mappings: Container[str]) -> list[str]:
    """The sourcedIds of ROWS this source has mapped already: their old mappings go first."""
    return [r[0] for r in rows if r[0] in mappings]


def _log(adds: Iterable[tuple[int, int]], drops: Sequence[tuple[int, int]]) -> None:
    """One enrollment log line per student whose enrollments changed (action `import`), ids only."""
    added: dict[int, list[int]] = defaultdict(list)
    removed: dict[int, list[int]] = defaultdict(list)
    for student, course in adds:
        added[student].append(course)
    for student, course in drops:
        removed[student].append(course)
    for student in sorted(added.keys() | removed.keys()):
        log_enrollment_change("import", student, sorted(added[student]), removed[student], Caller())
