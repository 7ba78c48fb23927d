"""How manifest.csv is read, and what each deviation in it yields."""

from __future__ import annotations

from pathlib import Path

import pytest

from registrar.oneroster import Roster, read_package
from tests.oneroster.packages import found, small_package, write_folder

HEAD = "propertyName,value\n"
DECLARED = "file.classes,bulk\nfile.enrollments,bulk\n"


def with_manifest(tmp_path: Path, text: str) -> Roster:
    return read_package(write_folder(tmp_path / "p", small_package(**{"manifest.csv": text})))


@pytest.mark.parametrize(
    ("version_row", "expected"),
    [
        ("", [("manifest.csv", None, "oneroster.version", None, "missing-value")]),
        ("oneroster.version,\n", [("manifest.csv", 2, "oneroster.version", "", "missing-value")]),
        ("oneroster.version,1.0\n", [("manifest.csv", 2, "oneroster.version", "1.0", "invalid-value")]),
    ],
)
def test_version_other_than_1_1_or_1_2_is_an_error(
    tmp_path: Path, version_row: str, expected: list[tuple[str, int | None, str, str | None, str]]
) -> None:
    roster = with_manifest(tmp_path, HEAD + version_row + "file.users,bulk\n" + DECLARED)

    assert found(roster.errors) == expected
    assert roster.version is None and list(roster.enrollments.records) == ["e1"]


def test_property_name_in_another_case_is_read_as_that_property(tmp_path: Path) -> None:
    roster = with_manifest(tmp_path, HEAD + "OneRoster.Version,1.1\nFile.Users,bulk\n" + DECLARED)

    assert roster.errors == [] and roster.version == "1.1" and roster.files["users"] == "bulk"
    assert found(roster.warnings) == [
        ("manifest.csv", 2, "OneRoster.Version", "1.1", "manifest-property"),
        ("manifest.csv", 3, "File.Users", "bulk", "manifest-property"),
    ]


def test_mode_in_another_case_is_enum_case(tmp_path: Path) -> None:
    roster = with_manifest(tmp_path, HEAD + "oneroster.version,1.2\nfile.users,Bulk\n" + DECLARED)

    assert roster.files["users"] == "bulk" and list(roster.users.records) == ["u1"]
    assert found(roster.warnings) == [("manifest.csv", 3, "file.users", "Bulk", "enum-case")]


@pytest.mark.parametrize("mode", ["bluk", ""])
def test_unknown_or_empty_mode_reads_as_absent_and_the_file_is_unexpected(tmp_path: Path, mode: str) -> None:
    roster = with_manifest(tmp_path, HEAD + f"oneroster.version,1.2\nfile.users,{mode}\n" + DECLARED)

    assert roster.files["users"] == "absent" and roster.users.records == {}
    assert found(roster.warnings) == [
        ("manifest.csv", 3, "file.users", mode, "manifest-property"),
        ("users.csv", None, None, None, "unexpected-file"),
    ]
    assert roster.errors == [] and list(roster.enrollments.records) == ["e1"]


def test_file_declared_absent_or_not_declared_is_unexpected_and_not_read(tmp_path: Path) -> None:
    files = small_package(**{"manifest.csv": HEAD + "oneroster.version,1.2\nfile.users,absent\n" + DECLARED})
    files["orgs.csv"] = "sourcedId\no1\n"
    roster = read_package(write_folder(tmp_path / "p", files))

    assert found(roster.warnings) == [
        ("orgs.csv", None, None, None, "unexpected-file"),
        ("users.csv", None, None, None, "unexpected-file"),
    ]


def test_unknown_property_is_ignored_with_a_warning(tmp_path: Path) -> None:
    roster = with_manifest(
        tmp_path, HEAD + "oneroster.version,1.2\nfile.users,bulk\nfiel.orgs,absent\n" + DECLARED
    )

    assert found(roster.warnings) == [("manifest.csv", 4, "fiel.orgs", "absent", "manifest-property")]


def test_property_repeated_with_another_value_is_an_error(tmp_path: Path) -> None:
    text = HEAD + "oneroster.version,1.2\nfile.users,bulk\nfile.users,bulk\nfile.users,delta\n" + DECLARED
    roster = with_manifest(tmp_path, text)

    assert found(roster.warnings) == [("manifest.csv", 4, "file.users", "bulk", "manifest-property")]
    assert found(roster.errors) == [("manifest.csv", 5, "file.users", "delta", "invalid-value")]
    assert roster.files["users"] == "bulk"


@pytest.mark.parametrize(("code", "source"), [("absent", "oneroster"), ("", "oneroster"), (" SIS ", "SIS")])
def test_system_code_placeholder_or_empty_means_no_code(tmp_path: Path, code: str, source: str) -> None:
    roster = with_manifest(
        tmp_path, HEAD + f"oneroster.version,1.2\nfile.users,bulk\nsource.systemCode,{code}\n" + DECLARED
    )

    assert roster.source == source


def test_manifest_without_its_columns_refuses_the_package(tmp_path: Path) -> None:
    roster = with_manifest(tmp_path, "name,value\noneroster.version,1.2\n")

    assert found(roster.errors) == [("manifest.csv", None, "propertyName", None, "missing-column")]
    assert roster.users.records == {} and roster.warnings == []
