"""The OneRoster import and export figures (issue 16), through the real CLI, on both engines:

    .venv/bin/python bench/oneroster_import.py            # 100,000 users, 2,000 classes, 500,000 enrollments
    .venv/bin/python bench/oneroster_import.py --scale 0.2 --engines sqlite

Writes the package (`oneroster_package.py`) into a temporary folder; then for each engine (a
throwaway PostgreSQL cluster from tests/pgcluster.py, and a SQLite file) runs, each in its own
process: `registrar migrate`; `registrar import oneroster --dry-run` (then checks that nothing was
written); the first import; the re-import (must change nothing); `registrar export oneroster`.
Prints the seconds and the child's peak resident memory (`wait4`'s ru_maxrss) of each step against
the issue's targets, and exits 1 if a step failed (not if a target is missed).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests/pgcluster.py
sys.path.insert(0, str(ROOT / "bench"))

from tests import pgcluster  # noqa: E402

from oneroster_package import write_package  # noqa: E402
from report import Said, record_section  # noqa: E402

BIN = Path(sys.executable).parent
MEMORY_TARGET = 300  # MiB, every step
# Seconds, by (engine, step); a step not listed has no target of its own.
TARGETS = {
    ("postgresql", "import"): 60,
    ("sqlite", "import"): 120,
    ("postgresql", "re-import"): 30,
    ("postgresql", "export"): 30,
}
TABLES = ("students", "courses", "student_courses", "enrollment_events", "oneroster_users")


class BenchFailure(Exception):
    pass


@dataclass
class Step:
    name: str
    seconds: float
    peak_mib: float


def run(url: str, work: Path, *args: str) -> Step:
    """Run `registrar ARGS` on URL; its wall time and peak resident memory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRAR_")}
    env["REGISTRAR_DATABASE_URL"] = url
    log = work / "stderr.log"
    started = time.perf_counter()
    with log.open("wb") as stderr:
        child = subprocess.Popen(
            [str(BIN / "registrar"), *args], env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=stderr
        )
        # wait4 rather than Popen.wait: it also gives this child's own peak memory.
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode:
        raise BenchFailure(f"registrar {' '.join(args)}: {log.read_text().strip()[-2000:]}")
    return Step(args[0], seconds, usage.ru_maxrss / 1024)


def counts(engine: str, url: str, cluster: pgcluster.ThrowawayPostgres | None) -> dict[str, int]:
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in TABLES)
    if cluster is not None:
        values = cluster.psql(sql, url.rsplit("/", 1)[1]).strip().split("|")
    else:
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            values = db.execute(sql).fetchone()
    return dict(zip(TABLES, map(int, values), strict=True))


def report(path: Path) -> dict[str, dict[str, int]]:
    data: dict[str, dict[str, int]] = json.loads(path.read_text())["counts"]
    return data


def changed(counts: dict[str, dict[str, int]]) -> int:
    return sum(
        n for entity, row in counts.items() if entity != "skipped" for k, n in row.items() if k != "unchanged"
    )


def engine_steps(
    engine: str, url: str, package: Path, work: Path, cluster: pgcluster.ThrowawayPostgres | None
) -> list[Step]:
    plan = work / f"{engine}-report.json"
    imp = ("import", "oneroster", str(package), "--source", "bench", "--report", str(plan))
    steps = [run(url, work, "migrate")]
    steps.append(run(url, work, *imp, "--dry-run"))
    steps[-1].name = "dry run"
    written = counts(engine, url, cluster)
    if any(written.values()):
        raise BenchFailure(f"the dry run wrote rows: {written}")
    steps.append(run(url, work, *imp))
    first = report(plan)
    steps.append(run(url, work, *imp))
    steps[-1].name = "re-import"
    again = report(plan)
    if changed(again):
        raise BenchFailure(f"the re-import changed something: {again}")
    steps.append(
        run(url, work, "export", "oneroster", str(work / f"{engine}-export.zip"), "--source", "bench")
    )
    print(f"   first import: {json.dumps(first)}", flush=True)
    print(f"   stored: {counts(engine, url, cluster)}", flush=True)
    return steps


def show(engine: str, steps: list[Step]) -> None:
    for step in steps:
        target = TARGETS.get((engine, step.name))
        time_note = (
            ""
            if target is None
            else f" (target < {target} s: {'met' if step.seconds < target else 'MISSED'})"
        )
        memory_note = "met" if step.peak_mib < MEMORY_TARGET else "MISSED"
        say(
            f"   {engine:10} {step.name:9} {step.seconds:7.1f} s{time_note}; "
            f"peak {step.peak_mib:4.0f} MiB (target < {MEMORY_TARGET}: {memory_note})"
        )


say = Said()  # the figures, for RESULTS.md


def main() -> int:
    parser = argparse.ArgumentParser(description="the OneRoster import and export figures")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the issue's package size")
    parser.add_argument("--engines", default="postgresql,sqlite")
    args = parser.parse_args()
    users, classes, enrollments = (int(n * args.scale) for n in (100_000, 2_000, 500_000))
    failed = False
    with tempfile.TemporaryDirectory(prefix="registrar-oneroster-bench-") as tmp:
        work = Path(tmp)
        package = work / "package.zip"
        write_package(package, users, classes, enrollments)
        say(
            f"== package: {users:,} users, {classes:,} classes, {enrollments:,} enrollments; "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        for engine in args.engines.split(","):
            cluster = pgcluster.ThrowawayPostgres() if engine == "postgresql" else None
            try:
                url = (
                    cluster.create_database("oneroster_bench")
                    if cluster
                    else f"sqlite:///{work / 'bench.db'}"
                )
                show(engine, engine_steps(engine, url, package, work, cluster))
            except BenchFailure as failure:
                say(f"== {engine} FAILED: {failure}")
                failed = True
            finally:
                if cluster is not None:
                    cluster.destroy()
        say(f"== load average at the end {os.getloadavg()[0]:.2f}")
    if args.scale == 1.0:
        record_section("OneRoster import and export (bench/oneroster_import.py)", say.as_block())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
