"""The diff: a Roster against what this source has (`state.Stored`), in Python.

Everything it needs fits in dicts and sets keyed by sourcedId or by (student, course) ids, so it
runs in one pass per file; the database is read once before (`state.load`) and written once after
(`apply`). Rows are visited in file order, so a diagnostic always lands on the first row involved.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from registrar.oneroster import Diagnostic, Roster
from registrar.services.oneroster.plan import CLASSES, ENROLLMENTS, USERS, Options, Plan
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
        self.wanted: set[Pair] = set()
        # The enrollment sourcedId of each pair in plan.adds, in step with it: two flat lists rather
        # than a tuple per new enrollment (500,000 of them in a large first import).
        self.add_sids: list[str] = []
        self.full: set[str] = set()  # enrollments left out: their course has no seat for them
        self.moved: set[Pair] = set()  # the pairs of enrollment rows that now name another pair

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
        enrolled = {e.user_id for e in self.roster.enrollments.records.values()}
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
            adopting = mapped is None and self.options.adopt and owner is not None and owner[0] not in adopted
            if adopting and owner is not None:
                mapped = MappedUser(owner[0], None, owner[1], user.email)
                adopted.add(owner[0])
            if user.email in claimed or (
                owner is not None and (mapped is None or owner[0] != mapped.student_id)
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
        plan, stored = self.plan, self.stored
        for sid, enrollment in self.roster.enrollments.records.items():
            mapped = stored.enrollments.get(sid)
            modified, line = enrollment.modified, enrollment.line
            if mapped is not None and not self._fresh(ENROLLMENTS, modified, mapped.modified, line, sid):
                continue
            if enrollment.user_id in self.failed_users or enrollment.class_id in self.failed_classes:
                plan.skipped["depends-on-error"] += 1
                continue
            pair = self._pair(enrollment.user_id, enrollment.class_id, line)
            if pair is None or pair in self.wanted:
                continue
            if min(pair) > 0 and pair in stored.current:
                pair = stored.current[pair]  # the stored tuple: this one is dropped
                plan.unchanged["enrollments"] += 1
            else:
                plan.adds.append(pair)
                self.add_sids.append(sid)
            self.wanted.add(pair)
            before = None if mapped is None else mapped.pair
            restamped = mapped is not None and modified is not None and modified != mapped.modified
            if before != pair or restamped:
                plan.enrollment_maps.append((sid, *pair, modified))
            if before is not None and before != pair:
                self.moved.add(before)

    def _pair(self, user: str, cls: str, line: int) -> Pair | None:
        student, course = self.student_of.get(user), self.course_of.get(cls)
        if student is not None and course is not None:
            return student, course
        column, value = ("userSourcedId", user) if student is None else ("classSourcedId", cls)
        message = "names a record that is neither in this package nor imported earlier from this source"
        self.plan.errors.append(Diagnostic(ENROLLMENTS, line, column, value, "unknown-reference", message))
        return None

    def capacity(self) -> None:
        """`course-full` as the API checks it: only new enrollments take seats, counted against the
        seats taken before the import (the seats its drops free go to the waitlist first)."""
        joining: dict[int, list[str]] = defaultdict(list)
        for (_, course), sid in zip(self.plan.adds, self.add_sids, strict=True):
            if course > 0 and self.stored.seats[course]["capacity"] is not None:
                joining[course].append(sid)
        for course_id in sorted(joining):
            row, sids = self.stored.seats[course_id], joining[course_id]
            free = max(row["capacity"] - row["enrolled"], 0)
            if len(sids) <= free:
                continue
            first = self.roster.enrollments.records[sids[free]]
            message = f"the course has {free} free seats for {len(sids)} new enrollments"
            self.plan.errors.append(
                Diagnostic(ENROLLMENTS, first.line, "classSourcedId", first.class_id, "course-full", message)
            )
            self.full.update(sids[free:])
        if self.full:
            out = [sid in self.full for sid in self.add_sids]
            self.wanted -= {pair for pair, left in zip(self.plan.adds, out, strict=True) if left}
            self.plan.adds = [pair for pair, left in zip(self.plan.adds, out, strict=True) if not left]
            self.plan.enrollment_maps = [m for m in self.plan.enrollment_maps if m[0] not in self.full]
        self.add_sids = []

    def drops(self) -> None:
        """Bulk absence, delta deletions of enrollments, users and classes; then the drop guard."""
        plan, stored, roster = self.plan, self.stored, self.roster
        leaving = set(self.moved)
        entity = roster.enrollments
        if entity.mode == "bulk" and entity.usable:
            for sid, mapped in stored.enrollments.items():
                # Looked up in place rather than in a union of the three (500,000 ids).
                if sid not in entity.records and sid not in entity.rejected and sid not in roster.duplicates:
                    plan.forgotten.append(sid)
                    leaving.add(mapped.pair)
        elif entity.mode == "delta":
            for sid, deletion in entity.deleted.items():
                m = stored.enrollments.get(sid)
                if m is not None and self._fresh(
                    ENROLLMENTS, deletion.modified, m.modified, deletion.line, sid
                ):
                    leaving.add(m.pair)
                    if deletion.modified is not None and deletion.modified != m.modified:
                        plan.enrollment_maps.append((sid, m.student_id, m.course_id, deletion.modified))
        leaving |= self._deleted_records()
        source_pairs = stored.source_pairs
        plan.drops = sorted(p for p in leaving if p in source_pairs and p not in self.wanted)
        limit = self.options.max_drop_percent / 100 * len(source_pairs)
        if len(plan.drops) > limit:
            message = (
                f"would drop {len(plan.drops)} of this source's {len(source_pairs)} enrollments, "
                f"more than --max-drop-percent {self.options.max_drop_percent:g}"
            )
            plan.errors.append(Diagnostic(None, None, None, None, "too-many-drops", message))

    def _deleted_records(self) -> set[Pair]:
        """The enrollments from this source of users and classes a delta file marks tobedeleted."""
        students: set[int] = set()
        courses: set[int] = set()
        for entity, mappings, ids in (
            (self.roster.users, self.stored.users, students),
            (self.roster.classes, self.stored.classes, courses),
        ):
            if entity.mode != "delta":
                continue
            for sid, deletion in entity.deleted.items():
                m = mappings.get(sid)
                if m is not None and self._fresh(
                    entity.file, deletion.modified, m.modified, deletion.line, sid
                ):
                    ids.add(m[0])
        if not students and not courses:
            return set()
        return {
            m.pair
            for m in self.stored.enrollments.values()
            if m.student_id in students or m.course_id in courses
        }
