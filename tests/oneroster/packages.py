"""Building small OneRoster packages in a test's tmp_path, as a folder or as a zip."""

from __future__ import annotations

import zipfile
from pathlib import Path

from registrar.oneroster import Diagnostic, Roster

Files = dict[str, str | bytes]

USERS = "sourcedId,status,dateLastModified,givenName,familyName,email\n"
CLASSES = "sourcedId,status,dateLastModified,title,classCode\n"
ENROLLMENTS = "sourcedId,status,dateLastModified,classSourcedId,userSourcedId,role\n"


def manifest(mode: str = "bulk", *, version: str = "1.2", users: str | None = None, extra: str = "") -> str:
    """A manifest declaring users, classes and enrollments MODE (users may differ)."""
    return (
        f"propertyName,value\noneroster.version,{version}\nfile.users,{users or mode}\n"
        f"file.classes,{mode}\nfile.enrollments,{mode}\n{extra}"
    )


def small_package(**overrides: str | bytes) -> Files:
    """One student enrolled in one class, bulk; OVERRIDES replace or add files."""
    files: Files = {
        "manifest.csv": manifest(),
        "users.csv": USERS + "u1,,,Ada,Lovelace,Ada@Example.edu\n",
        "classes.csv": CLASSES + "c1,,,Analytical Engines,AE 101\n",
        "enrollments.csv": ENROLLMENTS + "e1,,,c1,u1,student\n",
    }
    files.update(overrides)
    return files


def as_bytes(content: str | bytes) -> bytes:
    return content if isinstance(content, bytes) else content.encode()


def write_folder(folder: Path, files: Files) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(as_bytes(content))
    return folder


def write_zip(path: Path, files: Files, *, prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(prefix + name, as_bytes(content))
    return path


def write(tmp_path: Path, files: Files, layout: str) -> Path:
    """FILES as a folder or a zip (LAYOUT "folder" or "zip") under tmp_path."""
    if layout == "zip":
        tmp_path.mkdir(parents=True, exist_ok=True)
        return write_zip(tmp_path / "package.zip", files)
    return write_folder(tmp_path / "package", files)


def found(diagnostics: list[Diagnostic]) -> list[tuple[str | None, int | None, str | None, str | None, str]]:
    """What a test compares: (file, line, field, value, code), in order."""
    return [(d.file, d.line, d.field, d.value, d.code) for d in diagnostics]


def codes(roster: Roster) -> tuple[list[str], list[str]]:
    return [d.code for d in roster.errors], [d.code for d in roster.warnings]
