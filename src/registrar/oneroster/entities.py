"""users.csv, classes.csv and enrollments.csv, each read into records keyed by sourcedId.

A row is one of: a record (valid, not tobedeleted), a deletion (tobedeleted), rejected (an error,
kept by sourcedId so that what depends on it can be left out), or skipped (a role other than
student, a reference to something tobedeleted, a repeated user and class).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from registrar.oneroster.diagnostics import Diagnostic, Diagnostics, FileRejected, RowError
from registrar.oneroster.manifest import Mode
from registrar.oneroster.package import Package
from registrar.oneroster.reader import Row, Sheet, read_rows
from registrar.oneroster.records import (
    Course,
    Deletion,
    Enrollment,
    Student,
    course_codes,
    course_title,
    student_email,
    student_name,
)

R = TypeVar("R")
Build = Callable[[Sheet, Row, str, datetime | None], R | None]

# Roles of OneRoster 1.1 and 1.2 (users and enrollments), for telling a wrong case from a typo.
ROLES = {
    role.lower(): role
    for role in (
        "administrator",
        "aide",
        "counselor",
        "districtAdministrator",
        "guardian",
        "parent",
        "principal",
        "proctor",
        "relative",
        "siteAdministrator",
        "student",
        "systemAdministrator",
        "teacher",
    )
}
EXTENSION = "ext:"  # 1.2's prefix for a vocabulary extension: a role, just not student


@dataclass(slots=True)
class Entity(Generic[R]):
    """What one file yields. `usable` is False when the file is declared but could not be read
    (missing, not UTF-8, a column missing): its rows are unknown, so it is no bulk truth either."""

    file: str
    mode: Mode = "absent"
    records: MutableMapping[str, R] = field(default_factory=dict)
    deleted: dict[str, Deletion] = field(default_factory=dict)
    rejected: dict[str, Diagnostic] = field(default_factory=dict)
    usable: bool = True

    def __contains__(self, sourced_id: str) -> bool:
        return sourced_id in self.records or sourced_id in self.deleted or sourced_id in self.rejected


def read_entity(
    package: Package, entity: Entity[R], columns: tuple[str, ...], build: Build[R]
) -> Diagnostics:
    """Fill ENTITY from its file; the diagnostics are the file's, or the errors that void it."""
    sheet = Sheet(entity.file, entity.mode)
    shared = entity.file != "enrollments.csv"
    try:
        for row in read_rows(package, entity.file, sheet.columns(*columns), sheet.optional()):
            _read_row(sheet, entity, row, build, shared)
    except FileRejected as exc:
        entity.records.clear()
        entity.deleted.clear()
        entity.rejected.clear()
        entity.usable = False
        return Diagnostics(errors=exc.diagnostics)
    return sheet.finish()


def _read_row(sheet: Sheet, entity: Entity[R], row: Row, build: Build[R], shared: bool) -> None:
    try:
        sourced_id = sheet.identity(row, shared=shared)
        if sourced_id in entity or sourced_id in sheet.skipped:
            raise RowError(
                "duplicate-id", "sourcedId", sourced_id, "a row earlier in this file has this sourcedId"
            )
    except RowError as problem:
        sheet.error(problem, row)  # no id of its own to key it by: nothing can depend on this row
        return
    try:
        state, modified = sheet.state(row), sheet.modified(row)
        if state == "tobedeleted":
            entity.deleted[sourced_id] = Deletion(sourced_id, modified, row.line)
            return
        record = build(sheet, row, sourced_id, modified)
    except RowError as problem:
        entity.rejected[sourced_id] = sheet.error(problem, row)
        return
    if record is None:
        sheet.skipped.add(sourced_id)
    else:
        entity.records[sourced_id] = record


USER_COLUMNS = ("sourcedId", "givenName", "familyName", "email")
CLASS_COLUMNS = ("sourcedId", "title", "classCode")
ENROLLMENT_COLUMNS = ("sourcedId", "classSourcedId", "userSourcedId", "role")


def build_student(sheet: Sheet, row: Row, sourced_id: str, modified: datetime | None) -> Student:
    email = student_email(row["email"])
    return Student(sourced_id, student_name(row["givenName"], row["familyName"]), email, modified, row.line)


def build_course(sheet: Sheet, row: Row, sourced_id: str, modified: datetime | None) -> Course:
    codes = course_codes(row["classCode"], sourced_id)
    return Course(sourced_id, course_title(row["title"]), codes, modified, row.line)


class EnrollmentRows:
    """Builds enrollments, knowing which users and classes the package marks tobedeleted."""

    def __init__(
        self, users: Entity[Student], classes: Entity[Course], kept: MutableMapping[str, Enrollment]
    ) -> None:
        self.deleted_users = users.deleted
        self.deleted_classes = classes.deleted
        self.kept = kept
        # class -> user -> the sourcedId kept: nested rather than keyed by (class, user) tuples,
        # which would cost a tuple per enrollment.
        self.pairs: dict[str, dict[str, str]] = {}
        self.duplicates: dict[str, str] = {}  # a repeated row's sourcedId -> the one kept
        self.skipped: Counter[str] = Counter()

    def __call__(
        self, sheet: Sheet, row: Row, sourced_id: str, modified: datetime | None
    ) -> Enrollment | None:
        role = self._role(sheet, row)
        if role != "student":
            self.skipped[f"role:{role}"] += 1
            return None
        class_id = sys.intern(sheet.reference(row, "classSourcedId"))
        user_id = sys.intern(sheet.reference(row, "userSourcedId"))
        if self._references_deleted(sheet, row, class_id, user_id):
            return None
        kept = self.pairs.setdefault(class_id, {}).setdefault(user_id, sourced_id)
        if kept != sourced_id:
            self._duplicate(sheet, row, sourced_id, kept)
            return None
        return Enrollment(sourced_id, class_id, user_id, modified, row.line)

    def _role(self, sheet: Sheet, row: Row) -> str:
        if row["role"].startswith(EXTENSION):
            return row["role"]
        return sheet.enum(row, "role", ROLES)

    def _references_deleted(self, sheet: Sheet, row: Row, class_id: str, user_id: str) -> bool:
        if user_id in self.deleted_users:
            column, value = "userSourcedId", user_id
        elif class_id in self.deleted_classes:
            column, value = "classSourcedId", class_id
        else:
            return False
        sheet.warn(
            row, column, value, "reference-tobedeleted", "marked tobedeleted in this package; row skipped"
        )
        self.skipped["reference-tobedeleted"] += 1
        return True

    def _duplicate(self, sheet: Sheet, row: Row, sourced_id: str, kept: str) -> None:
        message = f"the row at line {self.kept[kept].line} enrolls the same user in the same class; one enrollment is made"
        sheet.warn(row, "userSourcedId", row["userSourcedId"], "duplicate-enrollment", message)
        self.duplicates[sourced_id] = kept
        self.skipped["duplicate-enrollment"] += 1
