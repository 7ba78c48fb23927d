"""OneRoster CSV import and export (CONTRACT §9): the reading half.

Here: opening a package safely (`package`), its manifest (`manifest`), streaming its CSV files
(`reader`), the typed records rows become (`records`, `entities`; the enrollments as columns,
`table`) and the diagnostics found on the way (`diagnostics`). `read_package(path, source)` returns
a `Roster`: per entity (users, classes, enrollments) the records keyed by sourcedId, the rows
marked tobedeleted, the rows in error, and
the file modes, version, source name, warnings, errors and skipped counts. Nothing here touches
the database, and nothing here logs.

Left for the other half:
- plan: diff the Roster against this source's sourcedId mapping and the database: which users
  become students (`pending` errors become errors for mapped users; other users are skipped),
  `email-taken`, the first untaken code of `Course.codes` or `no-valid-code` for a new course,
  `unknown-reference`, `stale-row` against the dateLastModified last applied, bulk drops (only
  from a file whose Entity is `usable`), `too-many-drops`, `course-full`, `--adopt`, the digest;
- apply: one transaction, history with cause `import`, waitlist promotion, `--skip-invalid`
  (leave out rows in error and `Roster.depends_on_error` enrollments), `--strict`;
- the JSON report and stderr summary (`Diagnostic.as_dict` is its error and warning form);
- export: writing a 1.2 bulk package.
"""

from registrar.oneroster.diagnostics import Diagnostic
from registrar.oneroster.entities import Entity
from registrar.oneroster.records import Course, Deletion, Enrollment, Student, derive_code
from registrar.oneroster.roster import Roster, read_package

__all__ = [
    "Course",
    "Deletion",
    "Diagnostic",
    "Enrollment",
    "Entity",
    "Roster",
    "Student",
    "derive_code",
    "read_package",
]
