"""read_package: a whole package read into a Roster, the structure the plan diffs against the database."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from registrar.oneroster.diagnostics import Diagnostic, Diagnostics, PackageRefused
from registrar.oneroster.entities import (
    CLASS_COLUMNS,
    ENROLLMENT_COLUMNS,
    USER_COLUMNS,
    Build,
    EnrollmentRows,
    Entity,
    R,
    build_course,
    build_student,
    read_entity,
)
from registrar.oneroster.manifest import Manifest, Mode, Version, check_files, read_manifest
from registrar.oneroster.package import Package, open_package
from registrar.oneroster.records import Course, Enrollment, Student
from registrar.oneroster.table import EnrollmentTable

DEFAULT_SOURCE = "oneroster"


@dataclass(slots=True)
class Roster:
    """Everything registrar reads from one package. Records are keyed by sourcedId; no database
    was consulted, so mapping, taken e-mails and codes, staleness and capacity are the plan's."""

    source: str
    version: Version | None = None
    users: Entity[Student] = field(default_factory=lambda: Entity("users.csv"))
    classes: Entity[Course] = field(default_factory=lambda: Entity("classes.csv"))
    enrollments: Entity[Enrollment] = field(
        default_factory=lambda: Entity("enrollments.csv", records=EnrollmentTable())
    )
    # User rows in error whose user has no student enrollment in this package: an error only if
    # this source already mapped the user (then it is a student); otherwise the user is skipped.
    pending: dict[str, Diagnostic] = field(default_factory=dict)
    duplicates: dict[str, str] = field(default_factory=dict)  # enrollment sourcedId -> the one kept
    skipped: Counter[str] = field(default_factory=Counter)  # "role:teacher", "reference-tobedeleted", ...
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def files(self) -> dict[str, Mode]:
        """The report's `files` member."""
        return {"users": self.users.mode, "classes": self.classes.mode, "enrollments": self.enrollments.mode}

    @property
    def table(self) -> EnrollmentTable:
        """The enrollment records as columns (what `enrollments.records` is)."""
        assert isinstance(self.enrollments.records, EnrollmentTable)
        return self.enrollments.records

    def release_records(self) -> None:
        """Drop the user and class records once a plan is made from them (their diagnostics and
        counts stay). The enrollment table stays, the plan refers to its rows, but not its index."""
        for entity in (self.users, self.classes):
            entity.records.clear()
        self.table.drop_index()

    def depends_on_error(self, enrollment: Enrollment) -> bool:
        """Whether --skip-invalid must leave ENROLLMENT out because its user or class row is in error."""
        return enrollment.user_id in self.users.rejected or enrollment.class_id in self.classes.rejected


def read_package(path: Path, source: str | None = None) -> Roster:
    """Read PACKAGE (a zip or a folder with manifest.csv). Never raises for what is in the package:
    a package that cannot be read yields a Roster holding only the errors that say why."""
    try:
        package = open_package(path)
    except PackageRefused as exc:
        return Roster(source or DEFAULT_SOURCE, errors=exc.diagnostics)
    try:
        return _read(package, source)
    except PackageRefused as exc:
        return Roster(source or DEFAULT_SOURCE, errors=exc.diagnostics)
    finally:
        package.close()


def _read(package: Package, source: str | None) -> Roster:
    head = Diagnostics()
    manifest = read_manifest(package, head)
    check_files(package, manifest, head)
    roster = Roster(source or manifest.system_code or DEFAULT_SOURCE, manifest.version)
    users = _read_file(package, manifest, roster.users, USER_COLUMNS, build_student)
    classes = _read_file(package, manifest, roster.classes, CLASS_COLUMNS, build_course)
    rows = EnrollmentRows(roster.users, roster.classes, roster.enrollments.records)
    enrollments = _read_file(package, manifest, roster.enrollments, ENROLLMENT_COLUMNS, rows)
    if roster.enrollments.usable:
        roster.duplicates, roster.skipped = rows.duplicates, rows.skipped
    users.errors = _defer_non_students(roster, users.errors)
    for diagnostics in (head, users, classes, enrollments):
        roster.errors.extend(diagnostics.errors)
        roster.warnings.extend(diagnostics.warnings)
    return roster


def _read_file(
    package: Package, manifest: Manifest, entity: Entity[R], columns: tuple[str, ...], build: Build[R]
) -> Diagnostics:
    entity.mode = manifest.mode(entity.file.removesuffix(".csv"))
    if entity.mode == "absent":
        return Diagnostics()
    if entity.file not in package.csv_names:
        entity.usable = False
        message = f"the manifest declares this file {entity.mode}, but the package does not hold it"
        return Diagnostics(errors=[Diagnostic(entity.file, None, None, None, "missing-file", message)])
    return read_entity(package, entity, columns, build)


def _defer_non_students(roster: Roster, errors: list[Diagnostic]) -> list[Diagnostic]:
    """Move the errors of user rows nobody enrolls as a student here into `pending`: §9 makes such a
    user a student only if this source mapped them, which only the plan can tell."""
    if not roster.enrollments.usable:  # who is a student here is unknown: every error stands
        return errors
    students = set(roster.table.users)
    roster.pending = {sid: d for sid, d in roster.users.rejected.items() if sid not in students}
    deferred = set(roster.pending.values())
    return [diagnostic for diagnostic in errors if diagnostic not in deferred]
