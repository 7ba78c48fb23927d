"""What a change cost the hot paths: W1 and W2 of registrar as it is now against registrar at
earlier commits, alternated in rounds (so that other jobs on the machine weigh on every build
alike), with the workers' CPU time per request.

    .venv/bin/python bench/before_after.py [--before REV ...] [--engine postgresql] [--rounds 3]

Each earlier commit's `src/` is taken with `git archive` and run with this venv's packages
(PYTHONPATH), so what differs is registrar's own code, on the same dependencies. Every build
migrates and seeds a database of its own with its own CLI (the data of bench/run.py: 100,000
students, 2,000 courses, 5 each), and each round serves a fresh copy of it with
`serve --workers 2`. The defaults are the commits before the enrollment history and before the
waitlists: the issues that brought them ask W2 to stay within 10 % of its ratio to the baseline
before them, and with one baseline for all, that is W2 now / W2 before >= 0.9.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run
from pgbouncer_cost import cpu_seconds, postgres_processes
from report import record_section

BEFORE = {"174dfc7^": "before the history", "5d02f6c^": "before the waitlists"}
NOW = "now"
W2_TARGET = (
    "Issues 14 and 15: W2 within 10 % of its ratio to the baseline before each, that is the "
    '"now / this, req/s" of W2 at 0.90 or more.'
)


@dataclass
class Build:
    """registrar's code at one commit (or as checked out: NOW), and the data it seeded."""

    label: str
    src: Path | None  # None: the installed (checked-out) registrar
    data: run.Dataset | None = None

    def env(self, url: str) -> dict[str, str]:
        env = run.clean_env(REGISTRAR_DATABASE_URL=url, REGISTRAR_ACCESS_LOG="true")
        return env | ({"PYTHONPATH": str(self.src)} if self.src else {})

    def command(self) -> list[str]:
        return [sys.executable, "-m", "registrar"]

    def cli(self, url: str, work: Path, *args: str) -> str:
        done = subprocess.run(
            [*self.command(), *args], env=self.env(url), cwd=work, capture_output=True, text=True
        )
        if done.returncode:
            raise run.BenchFailure(f"{self.label}: registrar {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout


def export_source(rev: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(run.ROOT), "archive", rev, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def seed(build: Build, url: str, work: Path, fresh_copy: Callable[[str], str], engine: str) -> None:
    build.cli(url, work, "migrate")
    counts = run.SEED
    build.cli(
        url,
        work,
        *("seed", "--students", str(counts["students"]), "--courses", str(counts["courses"])),
        *("--per-student", str(counts["per_student"])),
    )
    data = run.Dataset(engine, fresh_copy, ids=run.Ids(1, counts["students"], 1, counts["courses"]))
    data.admin = build.cli(url, work, "keys", "create", "--role", "admin", "--name", "bench").strip()
    data.reader = build.cli(url, work, "keys", "create", "--role", "reader", "--name", "bench").strip()
    build.data = data


def seed_postgres(build: Build, n: int, cluster: run.pgcluster.ThrowawayPostgres, work: Path) -> None:
    template = f"seeded_{n}"

    def fresh_copy(name: str) -> str:
        cluster.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cluster.psql(f"CREATE DATABASE {name} TEMPLATE {template}")
        return cluster.url(name)

    seed(build, cluster.create_database(template), work, fresh_copy, "postgresql")
    cluster.psql("VACUUM ANALYZE", template)


def seed_sqlite(build: Build, n: int, work: Path) -> None:
    seeded = work / f"seeded_{n}.db"

    def fresh_copy(name: str) -> str:
        copy = work / f"{name}.db"
        shutil.copyfile(seeded, copy)
        return f"sqlite:///{copy}"

    seed(build, f"sqlite:///{seeded}", work, fresh_copy, "sqlite")
    with closing(sqlite3.connect(seeded)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, so a copy is whole


def measure(
    server: run.Server, data: run.Dataset, workload: str, seconds: int, cluster: Path | None
) -> dict[str, float]:
    run.wrk(server, data, workload, max(2, seconds // 2), seed=1)  # warm-up: every connection opened
    database = postgres_processes(cluster) if cluster else []
    workers_before, database_before = server.cpu_seconds(), cpu_seconds(database)
    figures = run.wrk(server, data, workload, seconds, seed=100)
    requests = max(1, figures["requests"])
    if failure := run.failure_of(figures):
        raise run.BenchFailure(f"{server.name} {workload}: {failure}")
    return {
        "req/s": requests / (figures["duration_us"] / 1e6),
        "p50 ms": figures["p50_us"] / 1000,
        "p99 ms": figures["p99_us"] / 1000,
        "workers us": 1e6 * (server.cpu_seconds() - workers_before) / requests,
        "database us": 1e6 * (cpu_seconds(database) - database_before) / requests,
    }


def table(results: dict[tuple[str, str], list[dict[str, float]]], builds: list[Build]) -> str:
    """Medians over the rounds, and each build's req/s and CPU against NOW's."""
    columns = ["req/s", "p50 ms", "p99 ms", "workers us", "database us"]
    lines = [
        "| workload | registrar | " + " | ".join(columns) + " | now / this, req/s | this / now, CPU |",
        "| --- | --- |" + " ---: |" * (len(columns) + 2),
    ]
    for workload in ("W1", "W2"):
        now = {c: statistics.median(r[c] for r in results[(workload, NOW)]) for c in columns}
        for build in builds:
            medians = {c: statistics.median(r[c] for r in results[(workload, build.label)]) for c in columns}
            cells = [f"{medians[c]:.1f}" if c.endswith("ms") else f"{medians[c]:.0f}" for c in columns]
            speed = now["req/s"] / medians["req/s"]
            cpu = medians["workers us"] / now["workers us"]
            lines.append(
                f"| {workload} | {build.label} | " + " | ".join(cells) + f" | {speed:.2f} | {cpu:.2f} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="W1 and W2 now against earlier commits, alternated")
    parser.add_argument("--before", action="append", help="an earlier commit (repeatable)")
    parser.add_argument("--engine", default="postgresql", choices=("postgresql", "sqlite"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="of each timed wrk run")
    args = parser.parse_args()
    run.ensure_wrk()
    befores = {rev: BEFORE.get(rev, rev) for rev in args.before} if args.before else BEFORE
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="registrar-before-after-") as tmp:
        work = Path(tmp)
        builds = [
            Build(label, export_source(rev, work / f"rev{n}"))
            for n, (rev, label) in enumerate(befores.items())
        ]
        builds.append(Build(NOW, None))
        cluster = run.pgcluster.ThrowawayPostgres(durable=True) if args.engine == "postgresql" else None
        try:
            for n, build in enumerate(builds):
                seed_postgres(build, n, cluster, work) if cluster else seed_sqlite(build, n, work)
                print(f"== seeded for registrar {build.label}", flush=True)
            for r in range(args.rounds):
                for n, build in enumerate(builds):
                    assert build.data is not None
                    url = build.data.fresh_copy(f"round_{r}_{n}")
                    with run.serving(
                        build.label, [*build.command(), "serve", "--workers", "2"], build.env(url), work
                    ) as server:
                        for workload in ("W1", "W2"):
                            result = measure(
                                server, build.data, workload, args.seconds, cluster.data if cluster else None
                            )
                            results.setdefault((workload, build.label), []).append(result)
                            print(
                                f"   round {r + 1} {workload} {build.label}: "
                                + ", ".join(f"{k} {v:.0f}" for k, v in result.items()),
                                flush=True,
                            )
        finally:
            if cluster:
                cluster.destroy()
    summary = f"{args.engine}, {args.rounds} rounds of {args.seconds} s, medians:"
    print(f"\n{summary}\n")
    print(table(results, builds))
    if not args.before and args.rounds >= 3:  # the default comparison, in full: the issues' figure
        title = f"W1 and W2 before the history and the waitlists, {args.engine} (bench/before_after.py)"
        record_section(title, [summary, "", table(results, builds), "", W2_TARGET])
    return 0


if __name__ == "__main__":
    run.exit_with(main)
