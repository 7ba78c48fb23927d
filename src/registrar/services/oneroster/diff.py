"""The diff: a Roster against what this source has (`state.Stored`), in Python.

Everything it needs fits in dicts and sets keyed by sourcedId or by (student, course) ids, so it
runs in one pass per file; the database is read once before (`state.load`) and written once after
(`apply`). Rows are visited in file order, so a diagnostic always lands on the first row involved.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from datetime import datetime

from registrar.oneroster import Diagnostic, Roster
from registrar.services.oneroster.plan import CLASSES, ENROLLMENTS, USERS, EnrollmentRows, Options, Plan
from registrar.services.oneroster.state import MappedUser, Stored

Pair = tuple[int, int]


def make_plan(roster: Roster, stored: Stored, options: Options) -> Plan:
    """Diff ROSTER against STORED: the changes, the plan's own errors and warnings, the counts."""
    planner = _Planner(roster, stored, options, Plan(roster.source, skipped=Counter(roster.skipped)))
    planner.students()
    planner.courses()
    planner.enrollments()
    planner.capacity()
    planner.drops()
    return planner.plan


class _Planner:
    def __init__(self, roster: Roster, stored: Stored, options: Options, plan: Plan) -> None:
        self.roster, self.stored, self.options, self.plan = roster, stored, options, plan
        self.student_of: dict[str, int] = {u: m.student_id for u, m in stored.users.items()}
        self.course_of: dict[str, int] = {c: m.course_id for c, m in stored.classes.items()}
        self.failed_users: set[str] = set(roster.users.rejected)
        self.failed_classes: set[str] = set(roster.classes.rejected)
        self.rows = plan.enrollments = EnrollmentRows.of(roster.table)
        self.moved: list[int] = []  # stored rows of the enrollments whose row now names another pair

    def _fresh(
        self, file: str, modified: datetime | None, last: datetime | None, line: int, sid: str
    ) -> bool:
        """False (and the warning `stale-row`) for a delta row older than the one last applied."""
        if modified is None or last is None or modified >= last:
            return True
        message = "older (dateLastModified) than the row last applied for this record; ignored"
        self.plan.warnings.append(Diagnostic(file, line, "dateLastModified", sid, "stale-row", message))
        self.plan.skipped["stale-row"] += 1
        return False

    def students(self) -> None:
        plan, stored = self.plan, self.stored
        for sid, diagnostic in self.roster.pending.items():
            if sid in stored.users:  # a student already: its row's error stands
                plan.errors.append(diagnostic)
                self.failed_users.add(sid)
            else:
                plan.skipped["not-a-student"] += 1
        enrolled = set(self.roster.table.users)
        adopted = set(self.student_of.values())
        claimed: set[str] = set()
        for sid, user in self.roster.users.records.items():
            mapped = stored.users.get(sid)
            if mapped is None and sid not in enrolled:
                plan.skipped["not-a-student"] += 1
                continue
            if mapped is not None and not self._fresh(USERS, user.modified, mapped.modified, user.line, sid):
                continue
            owner = stored.emails.get(user.email)
            adopting = mapped is None and self.options.adopt and owner is not None and owner not in adopted
            if adopting and owner is not None:
                mapped = MappedUser(owner, None, stored.names[owner], user.email)
                adopted.add(owner)
            if user.email in claimed or (
                owner is not None and (mapped is None or owner != mapped.student_id)
            ):
                message = "another student has this e-mail address"
                plan.errors.append(Diagnostic(USERS, user.line, "email", user.email, "email-taken", message))
                self.failed_users.add(sid)
                continue
            claimed.add(user.email)
            if mapped is None:
                plan.new_students.append((user.name, user.email))
                self.student_of[sid] = -len(plan.new_students)
                plan.user_maps.append((sid, self.student_of[sid], user.modified))
                continue
            self.student_of[sid] = mapped.student_id
            if (mapped.name, mapped.email) != (user.name, user.email):
                plan.student_updates.append((mapped.student_id, user.name, user.email))
            else:
                plan.unchanged["students"] += 1
            if adopting or (user.modified is not None and user.modified != mapped.modified):
                plan.user_maps.append((sid, mapped.student_id, user.modified))

    def courses(self) -> None:
        plan, stored = self.plan, self.stored
        mine = set(self.course_of.values())
        claimed: set[str] = set()
        for sid, course in self.roster.classes.records.items():
            mapped = stored.classes.get(sid)
            if mapped is not None:
                if not self._fresh(CLASSES, course.modified, mapped.modified, course.line, sid):
                    continue
                self._title(mapped.course_id, mapped.title, course.title)
                if course.modified is not None and course.modified != mapped.modified:
                    plan.class_maps.append((sid, mapped.course_id, course.modified))
                continue
            ref = self._code(course.codes, course.title, claimed, mine)
            if ref is None:
                message = "neither classCode nor sourcedId gives a valid code that no other course has"
                plan.errors.append(
                    Diagnostic(CLASSES, course.line, "classCode", None, "no-valid-code", message)
                )
                self.failed_classes.add(sid)
                continue
            if ref > 0:
                mine.add(ref)
                self._title(ref, stored.seats[ref]["title"], course.title)
            self.course_of[sid] = ref
            plan.class_maps.append((sid, ref, course.modified))

    def _title(self, course_id: int, stored: str, title: str) -> None:
        if stored != title:
            self.plan.title_updates.append((course_id, title))
        else:
            self.plan.unchanged["courses"] += 1

    def _code(self, codes: tuple[str, ...], title: str, claimed: set[str], mine: set[int]) -> int | None:
        """§9's code: the first candidate no other course has, as a new course's placeholder; with
        --adopt, the id of an unmapped course that has it; None when there is none."""
        for code in codes:
            if code in claimed:
                continue
            row = self.stored.codes.get(code)
            if row is None:
                claimed.add(code)
                self.plan.new_courses.append((code, title))
                return -len(self.plan.new_courses)
            if self.options.adopt and row["id"] not in mine:
                claimed.add(code)
                return int(row["id"])
        return None

    def enrollments(self) -> None:
        """Each row's pair, then whether it is an enrollment now (unchanged) or to be added. Two
        rows never name the same pair: the reader kept one row per user and class, and no two
        users (classes) of a source name the same student (course)."""
        pending = self._pairs()
        # The pairs of this source's mappings, for rows whose own mapping names another pair (or
        # none): only for their students, so that a re-import does not hold every pair.
        students = {self.rows.students[row] for row in pending}
        se = self.stored.enrollments
        mapped: set[Pair] = set()
        if students:
            mapped = {se.pair(i) for i in range(len(se.sids)) if se.current[i] and se.students[i] in students}
        for row in range(len(self.rows.table)):
            if self.rows.students[row]:
                self._enroll(row, mapped)

    def _pairs(self) -> list[int]:
        """Fill in each row's pair; the rows with a pair of existing ids its mapping does not name."""
        plan, se, table, rows = self.plan, self.stored.enrollments, self.roster.table, self.rows
        pending: list[int] = []
        for row, sid in enumerate(table.sids):
            at = se.link[row]
            if at >= 0 and not self._fresh(
                ENROLLMENTS, table.modified.get(row), se.modified.get(at), table.lines[row], sid
            ):
                continue
            user, cls = table.users[row], table.classes[row]
            if user in self.failed_users or cls in self.failed_classes:
                plan.skipped["depends-on-error"] += 1
                continue
            pair = self._pair(user, cls, table.lines[row])
            if pair is None:
                continue
            rows.students[row], rows.courses[row] = pair
            if min(pair) > 0 and (at < 0 or se.pair(at) != pair):
                pending.append(row)
        return pending

    def _enroll(self, row: int, mapped: set[Pair]) -> None:
        plan, se, rows = self.plan, self.stored.enrollments, self.rows
        pair, at = rows.pair(row), se.link[row]
        before = se.pair(at) if at >= 0 else None
        if before == pair:
            now = bool(se.current[at])
        else:
            now = min(pair) > 0 and (pair in self.stored.unmapped or pair in mapped)
        if now:
            plan.unchanged["enrollments"] += 1
        else:
            rows.added.append(row)
        modified = rows.table.modified.get(row)
        restamped = at >= 0 and modified is not None and modified != se.modified.get(at)
        if before != pair or restamped:
            rows.mapped.append(row)
        if before is not None and before != pair:
            self.moved.append(at)

    def _pair(self, user: str, cls: str, line: int) -> Pair | None:
        student, course = self.student_of.get(user), self.course_of.get(cls)
        if student is not None and course is not None:
            return student, course
        column, value = ("userSourcedId", user) if student is None else ("classSourcedId", cls)
        message = "names a record that is neither in this package nor imported earlier from this source"
        self.plan.errors.append(Diagnostic(ENROLLMENTS, line, column, value, "unknown-reference", message))
        return None

    def capacity(self) -> None:
        """`course-full` as the API checks it, once per course: only new enrollments take seats,
        counted against the seats taken before the import (the seats its drops free go to the
        waitlist first). The rows past the free seats are left out of the plan."""
        rows, seats = self.rows, self.stored.seats
        joining: dict[int, list[int]] = defaultdict(list)
        for row in rows.added:
            course = rows.courses[row]
            if course > 0 and seats[course]["capacity"] is not None:
                joining[course].append(row)
        full: set[int] = set()
        for course_id in sorted(joining):
            seat, waiting = seats[course_id], joining[course_id]
            free = max(seat["capacity"] - seat["enrolled"], 0)
            if len(waiting) <= free:
                continue
            first = waiting[free]
            message = f"the course has {free} free seats for {len(waiting)} new enrollments"
            self.plan.errors.append(
                Diagnostic(
                    ENROLLMENTS, rows.table.lines[first], "classSourcedId", rows.table.classes[first],
                    "course-full", message,
                )
            )  # fmt: skip
            full.update(waiting[free:])
        if full:
            for row in full:
                rows.students[row] = rows.courses[row] = 0  # no longer wanted
            rows.added = array("i", (row for row in rows.added if row not in full))
            rows.mapped = array("i", (row for row in rows.mapped if row not in full))

    def drops(self) -> None:
        """Bulk absence, delta deletions of enrollments, users and classes; then the drop guard."""
        plan, se, roster = self.plan, self.stored.enrollments, self.roster
        leaving = set(self.moved)  # stored rows
        entity = roster.enrollments
        if entity.mode == "bulk" and entity.usable:
            linked = bytearray(len(se.sids))
            for at in se.link:
                if at >= 0:
                    linked[at] = 1
            for at, sid in enumerate(se.sids):
                if not linked[at] and sid not in entity.rejected and sid not in roster.duplicates:
                    plan.forgotten.append(sid)
                    leaving.add(at)
        elif entity.mode == "delta":
            for sid, deletion in entity.deleted.items():
                gone = se.deleted.get(sid)
                if gone is not None and self._fresh(
                    ENROLLMENTS, deletion.modified, se.modified.get(gone), deletion.line, sid
                ):
                    leaving.add(gone)
                    if deletion.modified is not None and deletion.modified != se.modified.get(gone):
                        plan.restamps.append((sid, *se.pair(gone), deletion.modified))
        leaving |= self._deleted_records()
        plan.drops = sorted(self._unwanted({se.pair(at) for at in leaving if se.current[at]}))
        if not plan.drops:
            return
        source_pairs = len({se.pair(at) for at in range(len(se.sids)) if se.current[at]})
        if len(plan.drops) > self.options.max_drop_percent / 100 * source_pairs:
            message = (
                f"would drop {len(plan.drops)} of this source's {source_pairs} enrollments, "
                f"more than --max-drop-percent {self.options.max_drop_percent:g}"
            )
            plan.errors.append(Diagnostic(None, None, None, None, "too-many-drops", message))

    def _unwanted(self, pairs: set[Pair]) -> set[Pair]:
        """PAIRS less those the plan keeps or adds."""
        if pairs:
            rows = self.rows
            for row in range(len(rows.table)):
                if rows.students[row]:
                    pairs.discard(rows.pair(row))
        return pairs

    def _deleted_records(self) -> set[int]:
        """The stored rows of this source's enrollments of users and classes a delta file marks
        tobedeleted."""
        students: set[int] = set()
        courses: set[int] = set()
        plan = self.plan
        for entity, mappings, ids, maps in (
            (self.roster.users, self.stored.users, students, plan.user_maps),
            (self.roster.classes, self.stored.classes, courses, plan.class_maps),
        ):
            if entity.mode != "delta":
                continue
            for sid, deletion in entity.deleted.items():
                m = mappings.get(sid)
                if m is not None and self._fresh(
                    entity.file, deletion.modified, m.modified, deletion.line, sid
                ):
                    ids.add(m[0])
                    # The deletion is the row last applied for the record: an older row is stale.
                    if deletion.modified is not None and deletion.modified != m.modified:
                        maps.append((sid, m[0], deletion.modified))
        if not students and not courses:
            return set()
        se = self.stored.enrollments
        return {at for at in range(len(se.sids)) if se.students[at] in students or se.courses[at] in courses}
