"""How rows are read: CSV tolerance, line numbers, and each row rule of §9 and §3."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from registrar.oneroster import Diagnostic, Roster, Student, derive_code, read_package
from tests.oneroster.packages import CLASSES, ENROLLMENTS, USERS, Files, found, manifest, small_package, write

DELTA = "2026-01-05T10:00:00.000Z"


def read(tmp_path: Path, files: Files, layout: str = "folder") -> Roster:
    return read_package(write(tmp_path, files, layout))


def delta_package(users: str = "", classes: str = "", enrollments: str = "") -> Files:
    return {
        "manifest.csv": manifest("delta"),
        "users.csv": USERS + users,
        "classes.csv": CLASSES + classes,
        "enrollments.csv": ENROLLMENTS + enrollments,
    }


@pytest.mark.parametrize("layout", ["folder", "zip"])
def test_bom_before_the_header_is_ignored(tmp_path: Path, layout: str) -> None:
    roster = read(
        tmp_path,
        small_package(**{"users.csv": b"\xef\xbb\xbf" + USERS.encode() + b"u1,,,Ada,L,a@x.edu\n"}),
        layout,
    )

    assert roster.errors == [] and list(roster.users.records) == ["u1"]


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
@pytest.mark.parametrize("final", [True, False])
def test_any_line_end_with_or_without_a_final_one(tmp_path: Path, newline: str, final: bool) -> None:
    users = newline.join(
        [USERS.strip(), ",,,,,", "u1,,,Ada,Lovelace,ada@x.edu", "", "u2,,,Bob,Smith,bob@x.edu"]
    )
    roster = read(tmp_path, small_package(**{"users.csv": users + (newline if final else "")}))

    assert roster.errors == []
    assert [(s.sourced_id, s.line) for s in roster.users.records.values()] == [("u1", 3), ("u2", 5)]


def test_quoted_fields_keep_commas_quotes_and_newlines_and_lines_stay_right(tmp_path: Path) -> None:
    users = (
        "sourcedId,givenName,familyName,note,email\r\n"
        'u1,"O""Brien, Jr",Pat,"line one\r\nline two, ""quoted""",pat@x.edu\r\n'
        'u2,Ada,Lovelace,"a\nb\nc",ada@x.edu\r\n'
        "u3,Bob,Smith,,\r\n"
    )
    enrollments = ENROLLMENTS + "e1,,,c1,u3,student\n"
    roster = read(tmp_path, small_package(**{"users.csv": users, "enrollments.csv": enrollments}))

    assert list(roster.users.records.values()) == [
        Student("u1", 'O"Brien, Jr Pat', "pat@x.edu", None, 2),
        Student("u2", "Ada Lovelace", "ada@x.edu", None, 4),
    ]
    assert found(roster.errors) == [("users.csv", 7, "email", "", "missing-email")]


def test_unknown_columns_are_ignored_in_any_order_and_short_rows_read_as_empty(tmp_path: Path) -> None:
    classes = (
        "periods,classCode,x,title,sourcedId\n1,AE-1,,Engines,c1\n2,AE-2,,Looms,c2,extra,cells\n3,AE-3\n"
    )
    roster = read(tmp_path, small_package(**{"classes.csv": classes}))

    assert [(c.sourced_id, c.title, c.codes) for c in roster.classes.records.values()] == [
        ("c1", "Engines", ("AE-1", "C1")),
        ("c2", "Looms", ("AE-2", "C2")),
    ]
    assert found(roster.errors) == [("classes.csv", 4, "sourcedId", "", "missing-value")]


def test_email_is_stored_as_the_api_stores_it(tmp_path: Path) -> None:
    users = USERS + "u1,,,  Ada ,  Lovelace  ,  Ada.Lovelace@Example.EDU  \n"
    roster = read(tmp_path, small_package(**{"users.csv": users}))

    assert roster.users.records["u1"] == Student("u1", "Ada Lovelace", "ada.lovelace@example.edu", None, 2)


@pytest.mark.parametrize(
    ("given", "family", "email", "expected"),
    [
        ("Ada", "Lovelace", "not-an-address", ("email", "not-an-address", "invalid-email")),
        ("", "", "ada@x.edu", ("givenName", "", "missing-value")),
        ("A\x07da", "Lovelace", "ada@x.edu", ("givenName", "A\x07da", "invalid-value")),
        ("Ada", "L" * 200, "ada@x.edu", ("familyName", "L" * 200, "invalid-value")),
    ],
)
def test_student_row_in_error(
    tmp_path: Path, given: str, family: str, email: str, expected: tuple[str, str, str]
) -> None:
    roster = read(tmp_path, small_package(**{"users.csv": USERS + f'u1,,,"{given}","{family}",{email}\n'}))

    assert found(roster.errors) == [("users.csv", 2, *expected)]
    assert roster.users.records == {} and list(roster.users.rejected) == ["u1"]
    assert roster.depends_on_error(roster.enrollments.records["e1"])


def test_user_in_error_without_a_student_enrollment_is_left_to_the_plan(tmp_path: Path) -> None:
    users = USERS + "u1,,,Ada,Lovelace,ada@x.edu\nt1,,,Tea,Cher,\n"
    enrollments = ENROLLMENTS + "e1,,,c1,u1,student\ne2,,,c1,t1,teacher\n"
    roster = read(tmp_path, small_package(**{"users.csv": users, "enrollments.csv": enrollments}))

    assert roster.errors == []
    assert {sid: (d.line, d.code) for sid, d in roster.pending.items()} == {"t1": (3, "missing-email")}
    assert roster.skipped == {"role:teacher": 1}


def test_class_title_missing_is_an_error_and_no_valid_code_is_left_to_the_plan(tmp_path: Path) -> None:
    classes = CLASSES + "c1,,,,AE\n" + f"{'c' * 40},,,Engines,---\n"
    roster = read(tmp_path, small_package(**{"classes.csv": classes}))

    assert found(roster.errors) == [("classes.csv", 2, "title", "", "missing-value")]
    assert roster.classes.records["c" * 40].codes == ()


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("c1,,,Engines\x01,AE", ("title", "Engines\x01", "invalid-value")),
        (f"c1,,,{'T' * 201},AE", ("title", "T" * 201, "invalid-value")),
        ("c\x01,,,Engines,AE", ("sourcedId", "c\x01", "invalid-value")),
        (f"{'c' * 256},,,Engines,AE", ("sourcedId", "c" * 256, "invalid-value")),
    ],
)
def test_class_row_in_error(tmp_path: Path, row: str, expected: tuple[str, str, str]) -> None:
    roster = read(tmp_path, small_package(**{"classes.csv": CLASSES + row + "\n"}))

    assert found(roster.errors) == [("classes.csv", 2, *expected)]
    assert roster.classes.records == {}


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("Phys 100 - 1", "Phys-100-1"),
        ("English I", "English-I"),
        ("  --CS__101.a--  ", "CS__101.a"),
        ("a!!b??c", "a-b-c"),
        ("情報処理入門", None),
        ("---", None),
        ("", None),
        ("x" * 32, "x" * 32),
        ("x" * 33, None),
    ],
)
def test_derive_code(value: str, code: str | None) -> None:
    assert derive_code(value) == code


def test_role_spellings(tmp_path: Path) -> None:
    enrollments = ENROLLMENTS + (
        "e1,,,c1,u1,Student\ne2,,,c2,u1,STUDENT\ne3,,,c3,u1,Student\ne4,,,c1,u2,studnet\ne5,,,c1,u3,ext:mentor\n"
    )
    roster = read(tmp_path, small_package(**{"enrollments.csv": enrollments}))

    assert list(roster.enrollments.records) == ["e1", "e2", "e3"]
    assert found(roster.errors) == [("enrollments.csv", 5, "role", "studnet", "invalid-value")]
    assert found(roster.warnings) == [
        ("enrollments.csv", 2, "role", "Student", "enum-case"),
        ("enrollments.csv", 3, "role", "STUDENT", "enum-case"),
    ]
    assert "2 rows" in roster.warnings[0].message
    assert roster.skipped == {"role:ext:mentor": 1}


def test_repeated_sourced_id_is_an_error_and_the_first_row_stands(tmp_path: Path) -> None:
    users = USERS + "u1,,,Ada,Lovelace,ada@x.edu\nu1,,,Bob,Smith,bob@x.edu\n"
    roster = read(tmp_path, small_package(**{"users.csv": users}))

    assert found(roster.errors) == [("users.csv", 3, "sourcedId", "u1", "duplicate-id")]
    assert roster.users.records["u1"].name == "Ada Lovelace"


def test_bulk_tobedeleted_in_any_case_counts_as_absent(tmp_path: Path) -> None:
    users = USERS + "u1,active,,Ada,Lovelace,ada@x.edu\nu2,TOBEDELETED,,Bob,Smith,\n"
    enrollments = ENROLLMENTS + "e1,,,c1,u1,student\ne2,,,c1,u2,student\n"
    roster = read(tmp_path, small_package(**{"users.csv": users, "enrollments.csv": enrollments}))

    assert roster.errors == [] and list(roster.users.deleted) == ["u2"]
    assert found(roster.warnings) == [
        ("users.csv", 2, "status", "active", "bulk-has-status"),
        ("users.csv", 3, "status", "TOBEDELETED", "enum-case"),
        ("enrollments.csv", 3, "userSourcedId", "u2", "reference-tobedeleted"),
    ]
    assert list(roster.enrollments.records) == ["e1"]


def test_delta_reads_status_and_date_in_utc(tmp_path: Path) -> None:
    roster = read(
        tmp_path,
        delta_package(
            users=f"u1,active,{DELTA},Ada,Lovelace,ada@x.edu\nu2,tobedeleted,2026-01-05,,,\n",
            classes="c1,Active,2026-01-05T12:00:00+02:00,Engines,AE\n",
            enrollments=f"e1,active,{DELTA},c1,u1,student\ne2,tobedeleted,{DELTA},,,\ne3,active,{DELTA},c1,u2,student\n",
        ),
    )

    assert roster.errors == []
    assert roster.users.records["u1"].modified == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert roster.users.deleted["u2"].modified == datetime(2026, 1, 5, tzinfo=UTC)
    assert roster.classes.records["c1"].modified == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert list(roster.enrollments.records) == ["e1"] and list(roster.enrollments.deleted) == ["e2"]
    assert found(roster.warnings) == [
        ("classes.csv", 2, "status", "Active", "enum-case"),
        ("enrollments.csv", 4, "userSourcedId", "u2", "reference-tobedeleted"),
    ]


@pytest.mark.parametrize(
    ("status", "stamp", "expected"),
    [
        ("active", "1/05/2023", ("dateLastModified", "1/05/2023", "invalid-value")),
        ("active", "", ("dateLastModified", "", "missing-value")),
        ("inactive", DELTA, ("status", "inactive", "invalid-value")),
        ("", DELTA, ("status", "", "missing-value")),
    ],
)
def test_delta_row_without_a_readable_status_or_date_is_an_error(
    tmp_path: Path, status: str, stamp: str, expected: tuple[str, str, str]
) -> None:
    roster = read(tmp_path, delta_package(classes=f"c1,{status},{stamp},Engines,AE\n"))

    assert found(roster.errors) == [("classes.csv", 2, *expected)]
    assert list(roster.classes.rejected) == ["c1"]


def test_delta_file_needs_status_and_date_columns(tmp_path: Path) -> None:
    files = delta_package()
    files["users.csv"] = "sourcedId,givenName,familyName,email\n"
    roster = read(tmp_path, files)

    assert found(roster.errors) == [
        ("users.csv", None, "status", None, "missing-column"),
        ("users.csv", None, "dateLastModified", None, "missing-column"),
    ]


def test_source_is_the_option_else_the_manifest_code_else_oneroster(tmp_path: Path) -> None:
    coded = write(
        tmp_path / "a", small_package(**{"manifest.csv": manifest(extra="source.systemCode,SIS-7\n")}), "zip"
    )
    plain = write(tmp_path / "b", small_package(), "zip")

    assert read_package(coded, source="district").source == "district"
    assert read_package(coded).source == "SIS-7"
    assert read_package(plain).source == "oneroster"


def test_diagnostic_serialises_to_exactly_the_report_members() -> None:
    diagnostic = Diagnostic("users.csv", 2, "email", "", "missing-email", "a student needs an e-mail address")

    assert diagnostic.as_dict() == {
        "file": "users.csv",
        "line": 2,
        "field": "email",
        "value": "",
        "code": "missing-email",
        "message": "a student needs an e-mail address",
    }


def test_no_message_or_repr_carries_a_name_or_address(tmp_path: Path) -> None:
    users = (
        USERS
        + "u1,,,Ada,Lovelace,ada.secret@\nu2,,,Grace\x07,Hopper,grace@x.edu\nu3,,,Bob,Smith,bob.private@x.edu\n"
    )
    enrollments = ENROLLMENTS + "e1,,,c1,u1,student\ne2,,,c1,u2,student\ne3,,,c1,u3,student\n"
    roster = read(tmp_path, small_package(**{"users.csv": users, "enrollments.csv": enrollments}))

    assert [d.code for d in roster.errors] == ["invalid-email", "invalid-value"]
    shown = " ".join([d.message for d in roster.errors] + [repr(roster)])
    for secret in ("ada.secret", "Grace", "bob.private", "Bob Smith"):
        assert secret not in shown


def test_user_errors_stand_when_the_enrollments_file_is_unusable(tmp_path: Path) -> None:
    files = small_package(
        **{"users.csv": USERS + "t1,,,Tea,Cher,\n", "enrollments.csv": b"sourcedId\n\xff\n"}
    )
    roster = read(tmp_path, files)

    assert found(roster.errors) == [
        ("users.csv", 2, "email", "", "missing-email"),
        ("enrollments.csv", None, None, None, "not-utf8"),
    ]
    assert roster.pending == {}
