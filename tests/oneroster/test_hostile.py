"""Packages built to hurt: each gets the contract's answer as a Roster, never a traceback."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from registrar.oneroster import read_package
from registrar.oneroster.diagnostics import PackageRefused
from registrar.oneroster.package import check_members
from tests.oneroster.packages import codes, found, small_package, write, write_folder, write_zip

MiB = 1 << 20


def refused_with(path: Path) -> list[tuple[str | None, int | None, str | None, str | None, str]]:
    roster = read_package(path)
    assert not (roster.users.records or roster.classes.records or roster.enrollments.records)
    assert roster.warnings == []
    return found(roster.errors)


@pytest.mark.parametrize(
    "name", ["../x.csv", "a/../../x.csv", "..\\x.csv", "/etc/x.csv", "C:/x.csv", "\\x.csv"]
)
def test_member_escaping_the_package_refuses_it(tmp_path: Path, name: str) -> None:
    path = write_zip(tmp_path / "p.zip", {**small_package(), name: "sourcedId\n"})

    assert refused_with(path) == [(name, None, None, None, "unsafe-package")]


def test_member_compressed_over_100_to_1_refuses_the_package_before_the_manifest_is_looked_for(
    tmp_path: Path,
) -> None:
    bomb = "sourcedId,givenName,familyName,email\n" + "u,A,B,a@b.example\n" * 200_000
    path = write_zip(tmp_path / "p.zip", {"users.csv": bomb})

    assert refused_with(path) == [("users.csv", None, None, None, "unsafe-package")]


def test_more_than_64_members_refuses_the_package(tmp_path: Path) -> None:
    extra = {f"extra{i}.csv": f"sourcedId\n{i}\n" for i in range(61)}
    path = write_zip(tmp_path / "p.zip", {**small_package(), **extra})  # 4 + 61 = 65

    assert refused_with(path) == [(None, None, None, None, "unsafe-package")]


def test_64_members_are_read(tmp_path: Path) -> None:
    extra = {f"extra{i}.csv": f"sourcedId\n{i}\n" for i in range(60)}
    roster = read_package(write_zip(tmp_path / "p.zip", {**small_package(), **extra}))

    assert roster.errors == [] and list(roster.enrollments.records) == ["e1"]


def test_more_than_1_gib_declared_in_total_refuses_the_package() -> None:
    members = []
    for i in range(18):  # 18 x 60 MiB = 1080 MiB, each only 60:1
        info = zipfile.ZipInfo(f"part{i}.csv")
        info.file_size, info.compress_size = 60 * MiB, MiB
        members.append(info)

    with pytest.raises(PackageRefused, match="more than 1 GiB") as refused:
        check_members(members)
    assert found(refused.value.diagnostics) == [(None, None, None, None, "unsafe-package")]


def test_two_members_of_the_same_name_refuse_the_package(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in small_package().items():
            archive.writestr(name, content)
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("users.csv", "sourcedId,givenName,familyName,email\n")

    assert refused_with(path) == [("users.csv", None, None, None, "unsafe-package")]


def test_encrypted_member_makes_the_package_unreadable(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", small_package())
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")  # first central directory entry; its flags are at +8
    data[central + 8] |= 0x01
    path.write_bytes(bytes(data))

    assert refused_with(path) == [("manifest.csv", None, None, None, "unreadable-package")]


def test_corrupt_member_makes_the_package_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in small_package().items():
            archive.writestr(name, content)
    path.write_bytes(path.read_bytes().replace(b"Ada,Lovelace", b"Ada,Lovelacf"))  # CRC no longer matches

    assert refused_with(path) == [("users.csv", None, None, None, "unreadable-package")]


def test_file_that_is_not_a_zip_makes_the_package_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    path.write_text("propertyName,value\n")

    assert refused_with(path) == [(None, None, None, None, "unreadable-package")]
    assert refused_with(tmp_path / "nowhere") == [(None, None, None, None, "unreadable-package")]


@pytest.mark.parametrize("layout", ["folder", "zip"])
def test_package_without_manifest_is_missing_manifest(tmp_path: Path, layout: str) -> None:
    files = small_package()
    del files["manifest.csv"]

    assert refused_with(write(tmp_path, files, layout)) == [
        ("manifest.csv", None, None, None, "missing-manifest")
    ]


def test_zip_with_one_top_level_folder_reads_the_folder(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", small_package(), prefix="export-2026/")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("__MACOSX/export-2026/._users.csv", b"\x00\x05\x16\x07")

    roster = read_package(path)

    assert roster.errors == [] and list(roster.enrollments.records) == ["e1"]


def test_zip_with_files_in_two_folders_has_no_manifest(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", small_package(), prefix="a/")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("b/manifest.csv", "propertyName,value\n")

    assert refused_with(path) == [("manifest.csv", None, None, None, "missing-manifest")]


def test_members_in_deeper_folders_are_not_data_files(tmp_path: Path) -> None:
    roster = read_package(write_zip(tmp_path / "p.zip", {**small_package(), "old/users.csv": "junk"}))

    assert codes(roster) == ([], [])


@pytest.mark.parametrize("layout", ["folder", "zip"])
def test_latin1_file_is_not_utf8_as_a_whole(tmp_path: Path, layout: str) -> None:
    users = "sourcedId,givenName,familyName,email\nu0,,,\nu1,Jürgen,Müller,j@example.edu\n".encode("latin-1")
    roster = read_package(write(tmp_path, small_package(**{"users.csv": users}), layout))

    # The row before the bad byte had no name or e-mail; that error goes with the file.
    assert found(roster.errors) == [("users.csv", None, None, None, "not-utf8")]
    assert roster.users.records == {} and not roster.users.usable
    assert list(roster.enrollments.records) == ["e1"] and roster.enrollments.usable


def test_latin1_manifest_refuses_the_package(tmp_path: Path) -> None:
    path = write_folder(
        tmp_path / "p",
        small_package(
            **{"manifest.csv": "propertyName,value\nsource.systemCode,Sch\xf6n\n".encode("latin-1")}
        ),
    )

    assert refused_with(path) == [("manifest.csv", None, None, None, "not-utf8")]


def test_missing_column_voids_that_file_only(tmp_path: Path) -> None:
    users = "sourcedId,givenName,familyName,e-mail\nu1,Ada,Lovelace,ada@example.edu\n"
    roster = read_package(write_folder(tmp_path / "p", small_package(**{"users.csv": users})))

    assert found(roster.errors) == [("users.csv", None, "email", None, "missing-column")]
    assert not roster.users.usable
    assert list(roster.classes.records) == ["c1"] and list(roster.enrollments.records) == ["e1"]


def test_header_names_are_case_sensitive(tmp_path: Path) -> None:
    classes = "SourcedId,Title,classCode\nc1,Engines,AE\n"
    roster = read_package(write_folder(tmp_path / "p", small_package(**{"classes.csv": classes})))

    assert found(roster.errors) == [
        ("classes.csv", None, "sourcedId", None, "missing-column"),
        ("classes.csv", None, "title", None, "missing-column"),
    ]


def test_unterminated_quote_is_malformed_csv_where_its_row_starts(tmp_path: Path) -> None:
    users = (
        'sourcedId,givenName,familyName,email\nu1,Ada,Lovelace,ada@example.edu\nu2,"Bob,Smith,b@example.edu\n'
    )
    roster = read_package(write_folder(tmp_path / "p", small_package(**{"users.csv": users})))

    assert found(roster.errors) == [("users.csv", 3, None, None, "malformed-csv")]


def test_declared_file_missing_from_the_package_is_an_error(tmp_path: Path) -> None:
    files = small_package()
    del files["classes.csv"]
    roster = read_package(write_folder(tmp_path / "p", files))

    assert found(roster.errors) == [("classes.csv", None, None, None, "missing-file")]
    assert not roster.classes.usable and roster.users.usable
