"""The four published packages in ../shared/data/oneroster, each read as its folder and as a zip.

Expectations come from reading the files (see SOURCES.md there). Only what registrar reads is
reported: classType `Scheduled`, `enabledUser` `TRUE`, roles.csv's typos and the d/m/yyyy dates of
a bulk users.csv are in columns or files registrar never reads, so they raise nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from registrar.oneroster import Course, Enrollment, Roster, Student, read_package
from tests.oneroster.packages import found, write_zip

SAMPLES = Path(__file__).parents[2] / ".." / "shared" / "data" / "oneroster"
UPSTREAM_ZIPS = {
    "catalyst-v1p2-bulk": "v1p2_full_dataset.zip",
    "catalyst-v1p2-delta": "oneroster_test_data.zip",
    "lepo-roster-hub-v1p1-ja": "oneroster.zip",
}

pytestmark = pytest.mark.skipif(
    not SAMPLES.is_dir(),
    reason=f"no sample packages at {SAMPLES.resolve()} (CI puts shared/ beside the repository)",
)


@pytest.fixture(params=["folder", "zip"])
def sample(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Roster]:
    def read(name: str) -> Roster:
        folder = SAMPLES / name
        if request.param == "folder":
            return read_package(folder)
        if name in UPSTREAM_ZIPS:
            return read_package(folder / UPSTREAM_ZIPS[name])
        # Ed-Fi publishes the CSVs only: zip them here, members at the root as exporters do.
        files: dict[str, str | bytes] = {p.name: p.read_bytes() for p in folder.glob("*.csv")}
        return read_package(write_zip(tmp_path / f"{name}.zip", files))

    return read


def test_catalyst_bulk_reads_every_user_and_the_class_not_tobedeleted(
    sample: Callable[[str], Roster],
) -> None:
    roster = sample("catalyst-v1p2-bulk")

    assert (roster.source, roster.version, roster.errors) == ("oneroster", "1.2", [])
    assert roster.files == {"users": "bulk", "classes": "bulk", "enrollments": "bulk"}
    assert list(roster.users.records.values()) == [
        Student("usr-222-123456", "John Doe", "john.doe@myschool.com", None, 2),
        Student("usr-222-66778899", "Mary Jones", "mary.jones@myschool.com", None, 3),
        Student("usr-222-1234561", "Thomas Jones", "thomas.jones@testemail.com", None, 4),
        Student("usr-222-987654", "Jim Smith", "jim.smith@myschool.com", None, 5),
        Student("usr-222-1234561232", "mmichel Jones", "mmichel.jones2@myschool.com", None, 6),
        Student("usr-222-567891", "Anna Brown", "anna.brown@myschool.com", None, 7),
    ]
    assert list(roster.classes.records.values()) == [
        Course("cls-222-123456", "Introduction to Physics", ("PHYS-100-1", "CLS-222-123456"), None, 2)
    ]
    assert [(d.sourced_id, d.line) for d in roster.classes.deleted.values()] == [("cls-222-123478", 3)]


def test_catalyst_bulk_skips_teachers_and_enrollments_in_the_tobedeleted_class(
    sample: Callable[[str], Roster],
) -> None:
    roster = sample("catalyst-v1p2-bulk")

    # usr-222-987654 is a primary teacher in roles.csv, which registrar does not read: a student here.
    assert list(roster.enrollments.records.values()) == [
        Enrollment("enr-s-222-12345-987654", "cls-222-123456", "usr-222-987654", None, 3),
        Enrollment("enr-s-222-12345-987655", "cls-222-123456", "usr-222-1234561232", None, 4),
    ]
    assert roster.skipped == {"role:teacher": 2, "reference-tobedeleted": 2}
    assert roster.pending == {} and roster.duplicates == {}


def test_catalyst_bulk_warns_about_its_manifest_statuses_and_extra_file(
    sample: Callable[[str], Roster],
) -> None:
    roster = sample("catalyst-v1p2-bulk")

    assert found(roster.warnings) == [
        ("manifest.csv", 21, "file.scoreScales", "", "manifest-property"),
        ("manifest.csv", 22, "file.userProfiles", "", "manifest-property"),
        ("manifest.csv", 23, "file.userResources", "", "manifest-property"),
        ("manifest.csv", 25, "source.systemCode", "absent", "manifest-property"),
        ("userprofiles.csv", None, None, None, "unexpected-file"),
        ("users.csv", 2, "status", "active", "bulk-has-status"),
        ("classes.csv", 2, "status", "active", "bulk-has-status"),
        ("enrollments.csv", 2, "status", "active", "bulk-has-status"),
        ("enrollments.csv", 6, "classSourcedId", "cls-222-123478", "reference-tobedeleted"),
        ("enrollments.csv", 7, "classSourcedId", "cls-222-123478", "reference-tobedeleted"),
    ]
    by_file = {d.file: d.message for d in roster.warnings if d.code == "bulk-has-status"}
    assert "5 rows" in by_file["users.csv"]
    assert "2 rows" in by_file["classes.csv"] and "1 of them tobedeleted" in by_file["classes.csv"]


def test_catalyst_delta_user_without_email_is_an_error_on_its_row(sample: Callable[[str], Roster]) -> None:
    roster = sample("catalyst-v1p2-delta")

    assert (roster.source, roster.version) == ("DataGen", "1.2")
    assert roster.files == {"users": "delta", "classes": "delta", "enrollments": "delta"}
    assert found(roster.errors) == [("users.csv", 2, "email", "", "missing-email")]
    assert roster.warnings == []
    assert roster.users.records == {} and list(roster.users.rejected) == ["USER_0"]


def test_catalyst_delta_class_code_comes_from_its_sourced_id(sample: Callable[[str], Roster]) -> None:
    roster = sample("catalyst-v1p2-delta")
    stamp = datetime(2023, 10, 2, tzinfo=UTC)

    assert list(roster.classes.records.values()) == [
        Course("CLASS_001", "Basic Detection", ("CLASS_001",), stamp, 2)
    ]
    enrollment = Enrollment("ENROLLMENT_001", "CLASS_001", "USER_0", stamp, 2)
    assert list(roster.enrollments.records.values()) == [enrollment]
    assert roster.depends_on_error(enrollment)


def test_edfi_merges_each_term_s_repeated_enrollment(sample: Callable[[str], Roster]) -> None:
    roster = sample("edfi-lms-toolkit-v1p1")

    assert (roster.source, roster.version, roster.errors) == ("ClassLink", "1.1", [])
    assert len(roster.enrollments.records) == 10
    assert [e.line for e in roster.enrollments.records.values()] == list(range(2, 12))
    repeated = [
        "604863",
        "604863",
        "604874",
        "604874",
        "604918",
        "604927",
        "604938",
        "604969",
        "604974",
        "605015",
    ]
    assert found(roster.warnings) == [
        ("enrollments.csv", line, "userSourcedId", user, "duplicate-enrollment")
        for line, user in zip(range(12, 22), repeated, strict=True)
    ]
    assert roster.duplicates["12379415-A8B2-435C-BD6A-C39C6DA0B454"] == "6F4283DC-F831-4437-A9A3-E030C7AF0493"
    assert roster.skipped == {"duplicate-enrollment": 10, "role:teacher": 4}


def test_edfi_reads_teacher_rows_with_an_extra_cell_and_codes_from_class_code(
    sample: Callable[[str], Roster],
) -> None:
    roster = sample("edfi-lms-toolkit-v1p1")

    assert len(roster.users.records) == 10
    assert roster.users.records["604863"] == Student(
        "604863", "Mary Archer", "mary.archer@studentgps.org", None, 2
    )
    assert roster.users.records["207268"] == Student(
        "207268", "Sara Preston", "sara.preston@studentgps.org", None, 11
    )
    assert [(c.title, c.codes) for c in roster.classes.records.values()] == [
        ("ENG-1", ("ENGLISH-I", "25590100101TRAD120ENG112011")),
        ("ALG-1", ("ALGEBRA-I", "25590100102TRAD220ALG112011")),
    ]


def test_lepo_keeps_japanese_names_and_titles_intact(sample: Callable[[str], Roster]) -> None:
    roster = sample("lepo-roster-hub-v1p1-ja")

    assert (roster.source, roster.version, roster.errors) == ("oneroster", "1.1", [])
    assert len(roster.users.records) == 20
    assert roster.users.records["us0001"] == Student("us0001", "名01 姓01", "user01@sample-u.ac.jp", None, 2)
    assert roster.users.records["us0020"].name == "名20 姓20"
    assert [(c.sourced_id, c.title, c.codes) for c in roster.classes.records.values()] == [
        ("cl0001", "情報処理入門", ("C401", "CL0001")),
        ("cl0002", "情報処理入門", ("C402", "CL0002")),
        ("cl0003", "情報システム特論", ("C403", "CL0003")),
        ("cl0004", "情報処理入門", ("C404", "CL0004")),
        ("cl0005", "情報処理入門", ("C405", "CL0005")),
    ]


def test_lepo_enrolls_the_25_students_and_flags_the_misspelt_manifest_property(
    sample: Callable[[str], Roster],
) -> None:
    roster = sample("lepo-roster-hub-v1p1-ja")

    assert list(roster.enrollments.records) == [f"en{n:04d}" for n in range(6, 31)]
    assert roster.enrollments.records["en0030"] == Enrollment("en0030", "cl0005", "us0020", None, 31)
    assert roster.skipped == {"role:teacher": 5}
    assert found(roster.warnings) == [
        ("manifest.csv", 10, "fiel.demographics", "absent", "manifest-property")
    ]
