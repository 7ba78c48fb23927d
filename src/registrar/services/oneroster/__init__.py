"""OneRoster import and export (CONTRACT §9): the half that meets the database.

`import_package` reads a package (`registrar.oneroster.read_package`), then, in ONE transaction:
locks what it may change (`state.load`: this source's students and those with the package's
e-mail addresses, then this source's courses and those with its candidate codes, each in id
order), diffs the package against them in Python (`diff.make_plan`), and, unless there is a
reason not to (errors, --strict warnings, --dry-run, a stale --expect-plan), writes the plan with
set-based statements (`apply`). `export_package` writes a 1.2 bulk package (`export`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registrar.db import Database
from registrar.oneroster import Diagnostic, Roster, read_package
from registrar.services.oneroster import state
from registrar.services.oneroster.apply import apply
from registrar.services.oneroster.batch import without_cyclic_gc
from registrar.services.oneroster.diff import make_plan
from registrar.services.oneroster.plan import Options, Plan


@dataclass(frozen=True, slots=True)
class ImportOptions:
    source: str | None = None
    dry_run: bool = False
    expect_plan: str | None = None
    skip_invalid: bool = False
    adopt: bool = False
    max_drop_percent: float = 10.0
    strict: bool = False


@dataclass(slots=True)
class Outcome:
    """What an import did, for the report and the summary; `failure` says why nothing was written.

    Its repr leaves out the roster, the plan and the diagnostics: on its way out `asyncio.run`
    (Python 3.11, `signal.getsignal` on its SIGINT handler) formats the repr of its main task,
    result included, and that of a large import's plan took some 45 MB at the command's peak."""

    roster: Roster = field(repr=False)
    plan: Plan = field(repr=False)
    digest: str
    dry_run: bool
    applied: bool = False
    failure: str | None = None
    errors: list[Diagnostic] = field(default_factory=list, repr=False)
    warnings: list[Diagnostic] = field(default_factory=list, repr=False)

    def report(self) -> dict[str, Any]:
        """The `--report` JSON of §9."""
        return {
            "source": self.roster.source,
            "oneroster_version": self.roster.version,
            "files": self.roster.files,
            "dry_run": self.dry_run,
            "applied": self.applied,
            "plan": self.digest,
            "counts": self.plan.counts,
            "errors": [d.as_dict() for d in self.errors],
            "warnings": [d.as_dict() for d in self.warnings],
        }

    def summary(self) -> list[str]:
        """The stderr summary: the counts, then each error as `file:line: field: code` (never a
        value), then what happened."""
        counts = self.plan.counts
        lines = [
            f"{entity}: " + ", ".join(f"{n} {what}" for what, n in counts[entity].items())
            for entity in ("students", "courses", "enrollments")
        ]
        if counts["skipped"]:
            lines.append("skipped: " + ", ".join(f"{n} {why}" for why, n in counts["skipped"].items()))
        lines.append(f"{len(self.errors)} errors, {len(self.warnings)} warnings; plan {self.digest}")
        lines += [_where(d) for d in self.errors]
        if self.failure is not None:
            lines.append(self.failure)
        elif self.applied:
            lines.append("applied")
        else:
            lines.append("dry run: nothing written")
        return lines


def _where(d: Diagnostic) -> str:
    place = ":".join(str(p) for p in (d.file, d.line) if p is not None)
    return ": ".join(p for p in (place, d.field, d.code) if p)


# What an import tells `progress` as it starts each step (the last only when it applies).
STEPS = ("reading the package", "reading what this source imported", "planning", "applying")


async def import_package(
    db: Database, path: Path, options: ImportOptions, progress: Callable[[str], None] = lambda _: None
) -> Outcome:
    """Import a OneRoster package: plan, then apply in one transaction unless there is a reason not to."""
    with without_cyclic_gc():
        return await _import(db, path, options, progress)


async def _import(
    db: Database, path: Path, options: ImportOptions, progress: Callable[[str], None]
) -> Outcome:
    reading, loading, planning, applying = STEPS
    progress(reading)
    roster = read_package(path, options.source)
    async with db.transaction() as tx:
        progress(loading)
        stored = await state.load(tx, roster)
        progress(planning)
        plan = make_plan(roster, stored, Options(options.adopt, options.max_drop_percent))
        roster.release_records()  # the plan holds what it needs: the records are not needed now
        outcome = Outcome(roster, plan, plan.digest(), options.dry_run)
        outcome.errors = [*roster.errors, *plan.errors]
        outcome.warnings = [*roster.warnings, *plan.warnings]
        outcome.failure = _refusal(outcome, options)
        if outcome.failure is None and not options.dry_run:
            progress(applying)
            await apply(tx, plan, stored)
            outcome.applied = True
    return outcome


def _refusal(outcome: Outcome, options: ImportOptions) -> str | None:
    """Why the plan must not be applied, or None."""
    errors = outcome.errors
    if options.skip_invalid:  # rows in error are left out; a file, the package or the run is not a row
        errors = [d for d in errors if d.line is None]
    if errors:
        return f"{len(errors)} errors: nothing written"
    if options.strict and outcome.warnings:
        return f"{len(outcome.warnings)} warnings and --strict: nothing written"
    if options.expect_plan is not None and options.expect_plan != outcome.digest:
        return f"the plan is now {outcome.digest}, not the one expected: nothing written"
    return None
