"""`registrar export oneroster`: every student, course and current enrollment as a OneRoster 1.2
bulk package (§9). Headers are the 1.2.1 binding's, in its order; `status` and `dateLastModified`
are blank; CRLF, no BOM. One school, one term and one catalogue course per class are made up so
that the package is complete."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from registrar.db import Database
from registrar.db.queries import oneroster as q
from registrar.services.oneroster.batch import without_cyclic_gc

SCHOOL, TERM = "registrar-school", "registrar-term"
HEADERS = {
    "orgs": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId",
    "academicSessions": "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear",
    "courses": "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,"
    "subjects,subjectCodes",
    "classes": "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,"
    "schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods",
    "users": "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,"
    "identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,preferredGivenName,"
    "preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns",
    "roles": "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,"
    "userProfileSourcedId",
    "enrollments": "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,"
    "beginDate,endDate",
}
# Every file.* property of a 1.2 manifest, in the order the binding lists them.
MANIFEST_FILES = (
    "academicSessions",
    "categories",
    "classResources",
    "classes",
    "courseResources",
    "courses",
    "demographics",
    "enrollments",
    "lineItemLearningObjectiveIds",
    "lineItemScoreScales",
    "lineItems",
    "orgs",
    "resources",
    "resultLearningObjectiveIds",
    "resultScoreScales",
    "results",
    "roles",
    "scoreScales",
    "userProfiles",
    "userResources",
    "users",
)


def _write(archive: zipfile.ZipFile, name: str, header: str, rows: Iterable[Sequence[str]]) -> None:
    """One CSV member, written as ROWS come: a file is never whole in memory."""
    with archive.open(name, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        text.write(header + "\r\n")
        csv.writer(text, lineterminator="\r\n").writerows(rows)


def _blank(header: str, **values: str) -> list[str]:
    """A row of HEADER with VALUES in their columns and every other cell blank."""
    return [values.get(column, "") for column in header.split(",")]


async def export_package(db: Database, out: Path, source: str) -> None:
    """Write the package to OUT (a zip)."""
    with without_cyclic_gc():
        await _export(db, out, source)


async def _export(db: Database, out: Path, source: str) -> None:
    async with db.transaction() as tx:  # one snapshot of all three
        students = await q.export_students(tx, source)
        courses = await q.export_courses(tx, source)
        enrollments = await q.export_enrollments(tx, source)
    user_id = {r["id"]: r["sourced_id"] or f"registrar-student-{r['id']}" for r in students}
    class_id = {r["id"]: r["sourced_id"] or f"registrar-course-{r['id']}" for r in courses}
    files = {
        "orgs": [_blank(HEADERS["orgs"], sourcedId=SCHOOL, name="registrar", type="school")],
        "academicSessions": [
            _blank(
                HEADERS["academicSessions"],
                sourcedId=TERM,
                title="registrar",
                type="term",
                startDate="2000-01-01",
                endDate="2099-12-31",
                schoolYear="2099",
            )
        ],
        "courses": (
            _blank(
                HEADERS["courses"],
                sourcedId=f"{class_id[r['id']]}-course",
                title=r["title"],
                orgSourcedId=SCHOOL,
            )
            for r in courses
        ),
        "classes": (
            _blank(
                HEADERS["classes"],
                sourcedId=class_id[r["id"]],
                title=r["title"],
                classCode=r["code"],
                courseSourcedId=f"{class_id[r['id']]}-course",
                classType="scheduled",
                schoolSourcedId=SCHOOL,
                termSourcedIds=TERM,
            )
            for r in courses
        ),
        "users": (_user(user_id[r["id"]], r["name"], r["email"]) for r in students),
        "roles": (
            _blank(
                HEADERS["roles"],
                sourcedId=f"{user_id[r['id']]}-role",
                userSourcedId=user_id[r["id"]],
                roleType="primary",
                role="student",
                orgSourcedId=SCHOOL,
            )
            for r in students
        ),
        "enrollments": _enrollments(enrollments, user_id, class_id),
    }
    manifest = [["manifest.version", "1.0"], ["oneroster.version", "1.2"]]
    manifest += [[f"file.{name}", "bulk" if name in files else "absent"] for name in MANIFEST_FILES]
    manifest += [["source.systemName", "registrar"], ["source.systemCode", source]]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _write(archive, "manifest.csv", "propertyName,value", manifest)
        for name, rows in files.items():
            _write(archive, f"{name}.csv", HEADERS[name], rows)


def _user(sourced_id: str, name: str, email: str) -> list[str]:
    """registrar keeps one name: it goes to givenName whole, familyName stays blank, so that an
    import of the export makes the same name back (givenName, a space, familyName, trimmed)."""
    return _blank(
        HEADERS["users"],
        sourcedId=sourced_id,
        enabledUser="true",
        username=email,
        givenName=name,
        email=email,
        primaryOrgSourcedId=SCHOOL,
    )


def _enrollments(
    rows: Iterable[object], user_id: dict[int, str], class_id: dict[int, str]
) -> Iterator[list[str]]:
    previous = None
    for r in rows:
        student, course, sourced_id = r["student_id"], r["course_id"], r["sourced_id"]  # type: ignore[index]
        if (student, course) == previous:  # a pair two sourcedIds map to: rows come by pair
            continue
        previous = (student, course)
        sid = sourced_id or f"registrar-enrollment-{student}-{course}"
        yield _blank(
            HEADERS["enrollments"],
            sourcedId=sid,
            classSourcedId=class_id[course],
            schoolSourcedId=SCHOOL,
            userSourcedId=user_id[student],
            role="student",
        )
