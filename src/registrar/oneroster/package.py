"""Opening a package: a folder holding `manifest.csv`, or a zip.

Where a zip keeps its files: at its root when it has a root `manifest.csv`; otherwise in the one
top-level folder that holds every member, when that folder has a `manifest.csv` (zips made by
compressing a folder look like that). `__MACOSX/`, which the macOS archiver adds beside the folder,
does not count as a second folder. Any other layout has no manifest (`missing-manifest`). The data
files are the `*.csv` directly in that place; members in deeper folders are never read.

Every zip member is checked before a single row is read: an absolute name or a `..` part, more than
64 members, more than 1 GiB uncompressed in total or a member compressed more than 100 to 1 refuses
the whole package (`unsafe-package`). The sizes checked are the ones the zip declares, and they
bound what is read: `zipfile` stops a member at its declared size and checks its CRC.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import IO, Protocol

from registrar.oneroster.diagnostics import Code, Diagnostic, PackageRefused

MANIFEST = "manifest.csv"
MAX_MEMBERS = 64
MAX_UNCOMPRESSED = 1 << 30
MAX_RATIO = 100
_ENCRYPTED = 0x1
_DRIVE = re.compile(r"^[A-Za-z]:")


class Package(Protocol):
    """An opened package: the names of its data files and a way to read each one."""

    csv_names: frozenset[str]

    def open_binary(self, name: str) -> IO[bytes]: ...

    def close(self) -> None: ...


def open_package(path: Path) -> Package:
    """Open PACKAGE (a folder or a zip); raises PackageRefused with the error that says why not."""
    if path.is_dir():
        return _open_folder(path)
    if path.is_file():
        return _open_zip(path)
    raise _refused("unreadable-package", None, "the package is neither a folder nor a file")


class FolderPackage:
    def __init__(self, folder: Path, csv_names: frozenset[str]) -> None:
        self.folder = folder
        self.csv_names = csv_names

    def open_binary(self, name: str) -> IO[bytes]:
        return (self.folder / name).open("rb")

    def close(self) -> None:
        pass


class ZipPackage:
    def __init__(self, archive: zipfile.ZipFile, root: str, csv_names: frozenset[str]) -> None:
        self.archive = archive
        self.root = root
        self.csv_names = csv_names

    def open_binary(self, name: str) -> IO[bytes]:
        return self.archive.open(self.root + name)

    def close(self) -> None:
        self.archive.close()


def _open_folder(folder: Path) -> FolderPackage:
    names = frozenset(p.name for p in folder.iterdir() if p.suffix == ".csv" and p.is_file())
    if MANIFEST not in names:
        raise _refused("missing-manifest", MANIFEST, "the folder holds no manifest.csv")
    return FolderPackage(folder, names)


def _open_zip(path: Path) -> ZipPackage:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise _refused("unreadable-package", None, "the package is not a readable zip file") from None
    try:
        infos = archive.infolist()
        check_members(infos)
        root = _find_root([info.filename for info in infos])
    except PackageRefused:
        archive.close()
        raise
    names = frozenset(_csv_names([info.filename for info in infos], root))
    return ZipPackage(archive, root, names)


def check_members(infos: list[zipfile.ZipInfo]) -> None:
    """Refuse a zip whose names or declared sizes could write outside, or expand without bound."""
    if len(infos) > MAX_MEMBERS:
        raise _refused("unsafe-package", None, f"the zip has {len(infos)} members, more than {MAX_MEMBERS}")
    seen: set[str] = set()
    for info in infos:
        _check_member(info, seen)
    if sum(info.file_size for info in infos) > MAX_UNCOMPRESSED:
        raise _refused("unsafe-package", None, "the zip's members add up to more than 1 GiB uncompressed")


def _check_member(info: zipfile.ZipInfo, seen: set[str]) -> None:
    name = info.filename
    parts = name.replace("\\", "/")
    if parts.startswith("/") or _DRIVE.match(parts) or ".." in parts.split("/"):
        raise _refused("unsafe-package", name, "a zip member has an absolute path or a '..' part")
    if name in seen:
        # Which of two same-named members a reader picks is up to the reader: refuse instead.
        raise _refused("unsafe-package", name, "two zip members have the same name")
    seen.add(name)
    if info.file_size > MAX_RATIO * info.compress_size:
        raise _refused("unsafe-package", name, f"a zip member is compressed more than {MAX_RATIO} to 1")
    if info.flag_bits & _ENCRYPTED:
        raise _refused("unreadable-package", name, "a zip member is encrypted")


def _find_root(names: list[str]) -> str:
    files = [n for n in names if not n.endswith("/") and not n.startswith("__MACOSX/")]
    if MANIFEST in files:
        return ""
    tops = {n.split("/", 1)[0] for n in files}
    if len(tops) == 1 and all("/" in n for n in files):
        root = f"{tops.pop()}/"
        if root + MANIFEST in files:
            return root
    raise _refused(
        "missing-manifest", MANIFEST, "no manifest.csv at the zip's root or in its single top-level folder"
    )


def _csv_names(names: list[str], root: str) -> list[str]:
    inside = (n[len(root) :] for n in names if n.startswith(root))
    return [n for n in inside if "/" not in n and n.endswith(".csv")]


def _refused(code: Code, file: str | None, message: str) -> PackageRefused:
    return PackageRefused([Diagnostic(file, None, None, None, code, message)])
