"""manifest.csv: the OneRoster version, each file's mode, and the source system's code.

How deviations are read (each a `manifest-property` warning unless said otherwise):
- a property name that matches a known one only ignoring case is read as that property;
- any other unknown or misspelt property (`fiel.demographics`) is ignored, so that file reads as absent;
- an empty mode, or one that is not bulk, delta or absent, reads as `absent`: the file is not read
  (if it is in the package it is also `unexpected-file`); a mode in the wrong case is `enum-case`;
- `source.systemCode` empty is no code; the value `absent` (a placeholder some exporters write) is
  no code either, so the source falls back to `oneroster`;
- a property given twice with the same value is a warning, with different values an error
  (`invalid-value`): which of two modes is meant has no one clear answer;
- `oneroster.version` other than 1.1 or 1.2 is `invalid-value`, and missing is `missing-value`:
  both are errors. `manifest.version` and `source.systemName` are not read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from registrar.oneroster.diagnostics import Code, Diagnostic, Diagnostics, FileRejected, PackageRefused
from registrar.oneroster.package import MANIFEST, Package
from registrar.oneroster.reader import Row, read_rows

Mode = Literal["bulk", "delta", "absent"]
Version = Literal["1.1", "1.2"]
MODES: dict[str, Mode] = {"bulk": "bulk", "delta": "delta", "absent": "absent"}
VERSIONS: dict[str, Version] = {"1.1": "1.1", "1.2": "1.2"}
# The 21 data files of 1.2; 1.1's 13 are among them.
FILES = (
    "academicSessions",
    "categories",
    "classes",
    "classResources",
    "courses",
    "courseResources",
    "demographics",
    "enrollments",
    "lineItemLearningObjectiveIds",
    "lineItems",
    "lineItemScoreScales",
    "orgs",
    "resources",
    "resultLearningObjectiveIds",
    "results",
    "resultScoreScales",
    "roles",
    "scoreScales",
    "userProfiles",
    "userResources",
    "users",
)
PROPERTIES = ("manifest.version", "oneroster.version", "source.systemName", "source.systemCode")
_KNOWN = {name.lower(): name for name in (*PROPERTIES, *(f"file.{f}" for f in FILES))}
_NO_CODE = "absent"


@dataclass(slots=True)
class Manifest:
    version: Version | None = None
    modes: dict[str, Mode] = field(default_factory=dict)  # by file name without `.csv`
    system_code: str | None = None

    def mode(self, name: str) -> Mode:
        return self.modes.get(name, "absent")


def read_manifest(package: Package, diagnostics: Diagnostics) -> Manifest:
    """Read manifest.csv; raises PackageRefused when it cannot be read at all."""
    manifest = Manifest()
    seen: dict[str, str] = {}
    try:
        for row in read_rows(package, MANIFEST, ("propertyName", "value")):
            _read_property(manifest, row, seen, diagnostics)
    except FileRejected as exc:
        raise PackageRefused(exc.diagnostics) from None
    if "oneroster.version" not in seen:
        message = "the manifest must give it"
        diagnostics.error(Diagnostic(MANIFEST, None, "oneroster.version", None, "missing-value", message))
    return manifest


def check_files(package: Package, manifest: Manifest, diagnostics: Diagnostics) -> None:
    """Warn about each data file the package holds but the manifest does not declare bulk or delta."""
    for name in sorted(package.csv_names - {MANIFEST}):
        if manifest.mode(name.removesuffix(".csv")) == "absent":
            message = "the manifest does not declare this file bulk or delta; it is not read"
            diagnostics.warn(Diagnostic(name, None, None, None, "unexpected-file", message))


def _read_property(manifest: Manifest, row: Row, seen: dict[str, str], diagnostics: Diagnostics) -> None:
    written, value = row["propertyName"], row["value"]
    name = _KNOWN.get(written.lower())
    if name is None:
        diagnostics.warn(_at(row, written, value, "manifest-property", "unknown property; ignored"))
        return
    if name != written:
        diagnostics.warn(_at(row, written, value, "manifest-property", f"read as {name}"))
    if name in seen:
        _repeated(row, written, value, seen[name], diagnostics)
        return
    seen[name] = value
    if name == "oneroster.version":
        manifest.version = _version(row, written, value, diagnostics)
    elif name == "source.systemCode":
        manifest.system_code = _system_code(row, written, value, diagnostics)
    elif name.startswith("file."):
        manifest.modes[name.removeprefix("file.")] = _mode(row, written, value, diagnostics)


def _repeated(row: Row, written: str, value: str, first: str, diagnostics: Diagnostics) -> None:
    if value == first:
        diagnostics.warn(_at(row, written, value, "manifest-property", "given twice; the same value"))
    else:
        diagnostics.error(_at(row, written, value, "invalid-value", "given twice with different values"))


def _version(row: Row, written: str, value: str, diagnostics: Diagnostics) -> Version | None:
    version = VERSIONS.get(value)
    if not value:
        diagnostics.error(_at(row, written, value, "missing-value", "the manifest must give it"))
    elif version is None:
        diagnostics.error(_at(row, written, value, "invalid-value", "registrar reads OneRoster 1.1 and 1.2"))
    return version


def _system_code(row: Row, written: str, value: str, diagnostics: Diagnostics) -> str | None:
    if value.lower() == _NO_CODE:
        diagnostics.warn(_at(row, written, value, "manifest-property", "a placeholder, read as no code"))
        return None
    return value or None


def _mode(row: Row, written: str, value: str, diagnostics: Diagnostics) -> Mode:
    mode = MODES.get(value.lower())
    if mode is None:
        what = "empty" if not value else "not bulk, delta or absent"
        diagnostics.warn(_at(row, written, value, "manifest-property", f"{what}; read as absent"))
        return "absent"
    if mode != value:
        diagnostics.warn(_at(row, written, value, "enum-case", f"read as {mode!r}"))
    return mode


def _at(row: Row, field: str, value: str, code: Code, message: str) -> Diagnostic:
    return Diagnostic(MANIFEST, row.line, field, value, code, message)
