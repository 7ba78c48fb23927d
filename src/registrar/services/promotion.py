"""Promotion from a waitlist (contract section 8): one place, called by every path that frees a
seat (a drop, a PUT that leaves a course, a student's deletion, a capacity raised or lifted, an
import's drops), inside that path's transaction and under the course locks it already holds.

The promoted students' own rows are not locked here: locks are always taken student first, then
courses in ascending id order, and a promotion already holds the course. Instead, every change to
a student that waits for a course also locks that course (`queries.enrollments.lock_seats_and_
enrollments` with `with_waited`), so it queues behind a promotion, or the promotion behind it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from registrar import metrics
from registrar.db import Row, Transaction
from registrar.db.queries import waitlists as q
from registrar.db.queries.enrollments import Why
from registrar.services.common import Caller, log_enrollment_change, utc_now


async def fill_freed_seats(tx: Transaction, courses: Iterable[Row], caller: Caller) -> list[tuple[int, int]]:
    """Enroll the heads of the waitlists of these courses (rows the caller has locked, read before
    the seats were freed) into their free seats; the (student, course) pairs promoted. Costs
    nothing when nobody waits for any of them."""
    waited = sorted(row["id"] for row in courses if row["waitlisted"] > 0)
    if not waited:
        return []
    promoted = await q.promote(tx, waited, utc_now(), Why("waitlist", caller.request_id, caller.key_id))
    for student_id, course_id in promoted:
        tx.after_commit(partial(log_enrollment_change, "promote", student_id, [course_id], [], caller))
    tx.after_commit(partial(metrics.waitlist_promoted, len(promoted)))
    return promoted
