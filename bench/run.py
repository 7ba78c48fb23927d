"""The benchmark of issue 9, in one command: registrar against the baseline, on both engines.

    .venv/bin/python bench/run.py            # the full run (~17 min on 2 cores), writes bench/RESULTS.md
    .venv/bin/python bench/run.py --quick    # short runs for development, writes nothing

For each engine (a throwaway PostgreSQL cluster, then a SQLite WAL file): migrate and seed 100,000
students, 2,000 courses and 5 courses a student (timed), mint an admin and a reader key, then for
each server (`registrar serve --workers 2`, then bench/baseline.py) on a fresh copy of that seeded
database (so what W2 wrote never reaches the next server): check the answers, then for W1-W4 a
10 s warm-up and 3 runs of 10 s with wrk (32 connections, random ids), keeping the median. A wrong
answer, a non-2xx response or a timeout fails the run. On PostgreSQL, W1 and W2 also run through
PgBouncer in transaction mode (tests/pgbouncer.py), when it is installed. Last, what the metrics
cost: registrar with them on and off, W1 and W2, in turns (`bench_alternated`). Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests/pgcluster.py, the cluster helper the tests use
sys.path.insert(0, str(ROOT / "bench"))

from tests import pgbouncer, pgcluster  # noqa: E402

from checks import Checker, Ids, WrongAnswer, get  # noqa: E402
from report import ALTERNATED, METRICS_ON, NO_METRICS, Result, ServerMemory, record_section, write_report  # noqa: E402

BIN = Path(sys.executable).parent
LUA = ROOT / "bench" / "wrk" / "workload.lua"
WORKLOADS = ("W1", "W2", "W3", "W4")
SEED = {"students": 100_000, "courses": 2_000, "per_student": 5}
CONNECTIONS = 32
# Server connections PgBouncer may open per database: as many as the 2 workers' pools directly, so
# that the PgBouncer rows measure the pooler and what it rules out (cached statements), not fewer
# server connections.
POOLER_POOL_SIZE = 20
WORKERS_SETTLED = 6.0  # seconds the same worker processes must have run before measuring


class BenchFailure(Exception):
    """The run cannot be trusted: a server answered wrongly or did not start."""


@dataclass(frozen=True)
class Timing:
    warmup: int
    run: int
    runs: int


FULL, QUICK = Timing(warmup=10, run=10, runs=3), Timing(warmup=2, run=3, runs=1)


@dataclass
class Dataset:
    """A seeded database of one engine, and how to get a fresh copy of it for each server."""

    engine: str
    fresh_copy: Callable[[str], str]  # name -> URL of a new database equal to the seeded one
    ids: Ids = field(default_factory=lambda: Ids(0, 0, 0, 0))
    admin: str = ""
    reader: str = ""
    seed_seconds: float = 0.0


# ------------------------------------------------------------------------------------ set-up


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit("bench: wrk is missing; install the Debian package: apt-get install -y wrk")
    print("== installing wrk (apt)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True).returncode:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=True)


def clean_env(**variables: str) -> dict[str, str]:
    """The caller's environment without its REGISTRAR_* settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRAR_")}
    return {**env, **variables}


def registrar(url: str, *args: str, cwd: Path) -> str:
    """Run the registrar CLI on `url` (cwd: a directory without a .env file) and return stdout."""
    done = subprocess.run(
        [str(BIN / "registrar"), *args],
        env=clean_env(REGISTRAR_DATABASE_URL=url),
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise BenchFailure(f"registrar {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def seed_dataset(data: Dataset, url: str, work: Path) -> None:
    registrar(url, "migrate", cwd=work)
    started = time.perf_counter()
    registrar(
        url,
        "seed",
        *("--students", str(SEED["students"]), "--courses", str(SEED["courses"])),
        *("--per-student", str(SEED["per_student"])),
        cwd=work,
    )
    data.seed_seconds = time.perf_counter() - started
    print(f"== {data.engine}: seeded {SEED} in {data.seed_seconds:.1f} s", flush=True)
    data.admin = registrar(url, "keys", "create", "--role", "admin", "--name", "bench", cwd=work).strip()
    data.reader = registrar(url, "keys", "create", "--role", "reader", "--name", "bench", cwd=work).strip()


def postgres_dataset(cluster: pgcluster.ThrowawayPostgres, work: Path) -> Dataset:
    def fresh_copy(name: str) -> str:
        cluster.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cluster.psql(f"CREATE DATABASE {name} TEMPLATE bench_seeded")
        return cluster.url(name)

    data = Dataset("postgresql", fresh_copy)
    seed_dataset(data, cluster.create_database("bench_seeded"), work)
    # Every copy starts with fresh statistics and visibility map, whatever autovacuum got to.
    cluster.psql("VACUUM ANALYZE", "bench_seeded")
    bounds = cluster.psql(
        "SELECT (SELECT min(id) FROM students), (SELECT max(id) FROM students), "
        "(SELECT min(id) FROM courses), (SELECT max(id) FROM courses)",
        "bench_seeded",
    )
    data.ids = Ids(*(int(v) for v in bounds.strip().split("|")))
    return data


def sqlite_dataset(work: Path) -> Dataset:
    seeded = work / "seeded.db"

    def fresh_copy(name: str) -> str:
        copy = work / f"{name}.db"
        shutil.copyfile(seeded, copy)
        return f"sqlite:///{copy}"

    data = Dataset("sqlite", fresh_copy)
    seed_dataset(data, f"sqlite:///{seeded}", work)
    with contextlib.closing(sqlite3.connect(seeded)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, so a copy is whole
        row = conn.execute(
            "SELECT (SELECT min(id) FROM students), (SELECT max(id) FROM students), "
            "(SELECT min(id) FROM courses), (SELECT max(id) FROM courses)"
        ).fetchone()
    data.ids = Ids(*row)
    return data


# ----------------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    pooler_pid: int | None = None  # PgBouncer in front: its CPU time counts as the workers' does

    def workers(self) -> list[int]:
        """The worker processes uvicorn spawned (not its resource tracker)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (stat.parent / "cmdline").read_bytes()
                if ppid == self.process.pid and b"spawn_main" in cmdline:
                    found.append(int(stat.parent.name))
        return sorted(found)

    def cpu_seconds(self) -> float:
        """User and system CPU time the workers (and the pooler) have used so far (clock ticks
        from /proc)."""
        ticks = 0
        for pid in [*self.workers(), *([self.pooler_pid] if self.pooler_pid else [])]:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> list[float]:
        sizes = []
        for pid in self.workers():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        return sizes


def wait_ready(server: Server, seconds: float = 90) -> None:
    """Until /healthz answers and the same 2 workers have lasted longer than uvicorn's health check
    (5 s): on a loaded machine uvicorn kills and replaces a worker that is slow to start, and what
    is measured meanwhile is one worker's."""
    deadline = time.monotonic() + seconds
    workers, since = server.workers(), time.monotonic()
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchFailure(f"{server.name} exited with status {server.process.returncode} at start")
        if (now := server.workers()) != workers:
            workers, since = now, time.monotonic()
        with contextlib.suppress(OSError):
            if (
                len(workers) == 2
                and time.monotonic() - since > WORKERS_SETTLED
                and get(server.port, "/healthz")[0] == 200
            ):
                return
        time.sleep(0.3)
    raise BenchFailure(f"{server.name} did not answer /healthz with 2 settled workers within {seconds:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (graceful), then SIGKILL to the process group we created if anything lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def serving(
    name: str, command: list[str], env: dict[str, str], work: Path, pooler_pid: int | None = None
) -> Iterator[Server]:
    port = pgcluster.free_port()
    log = (work / f"{name.replace(' ', '-')}.log").open("wb")
    process = subprocess.Popen(
        [*command, "--port", str(port)], env=env, cwd=work, stdout=log, stderr=log, start_new_session=True
    )
    server = Server(name, process, port, pooler_pid)
    try:
        wait_ready(server)
        yield server
    finally:
        stop(process)
        log.close()


# ---------------------------------------------------------------------------------------- wrk


def wrk(
    server: Server, data: Dataset, workload: str, seconds: int, seed: int, extra: tuple[str, ...] = ()
) -> dict[str, int]:
    token = data.admin if workload == "W2" else data.reader
    ids = data.ids
    command = [
        *("wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "2s", "-s", str(LUA)),
        f"http://127.0.0.1:{server.port}",
        *("--", workload, token, str(ids.student_lo), str(ids.student_hi)),
        *(str(ids.course_lo), str(ids.course_hi), str(seed), *extra),
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next((x for x in out.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise BenchFailure(f"wrk printed no result for {workload}:\n{out}")
    figures: dict[str, int] = json.loads(line.removeprefix("BENCH_RESULT "))
    return figures


def failure_of(figures: dict[str, int]) -> str | None:
    """wrk's 'Non-2xx or 3xx responses' (status), timeouts and socket errors all fail a run."""
    bad = {k: figures[k] for k in ("status", "timeout", "connect", "read", "write") if figures[k]}
    return ", ".join(f"{v} {k} errors" for k, v in bad.items()) or None


def measure(server: Server, data: Dataset, workload: str, timing: Timing, warm: dict[str, int]) -> Result:
    """The median of the timed runs; a failure in the warm-up fails the result too. The workers'
    CPU time per request is steadier than req/s when other jobs share the machine."""
    cpu_before = server.cpu_seconds()
    runs = [wrk(server, data, workload, timing.run, seed=100 + i) for i in range(timing.runs)]
    cpu_us = 1e6 * (server.cpu_seconds() - cpu_before) / max(1, sum(r["requests"] for r in runs))
    failures = [f for f in map(failure_of, [warm, *runs]) if f]
    result = Result(
        engine=data.engine,
        server=server.name,
        workload=workload,
        rps=statistics.median(r["requests"] / (r["duration_us"] / 1e6) for r in runs),
        p50_ms=statistics.median(r["p50_us"] for r in runs) / 1000,
        p99_ms=statistics.median(r["p99_us"] for r in runs) / 1000,
        max_ms=max(r["max_us"] for r in runs) / 1000,
        rss_mib=max(server.rss_mib(), default=0.0),
        cpu_us=cpu_us,
        failure=failures[0] if failures else None,
    )
    print(f"   {result.line()}", flush=True)
    return result


@dataclass(frozen=True)
class ServerSpec:
    """How to start one of the servers under test on a database URL."""

    name: str
    workloads: tuple[str, ...]
    access_log: str = "true"
    pooler: pgbouncer.ThrowawayPgBouncer | None = None  # in front of the database, transaction mode
    metrics: str = "true"

    def command(self, url: str) -> list[str]:
        if self.name == "baseline":
            return [sys.executable, str(ROOT / "bench" / "baseline.py"), "--database-url", url]
        return [str(BIN / "registrar"), "serve", "--workers", "2"]

    def env(self, url: str) -> dict[str, str]:
        if self.name == "baseline":
            return clean_env()
        env = clean_env(
            REGISTRAR_DATABASE_URL=url, REGISTRAR_ACCESS_LOG=self.access_log, REGISTRAR_METRICS=self.metrics
        )
        if self.pooler is not None:  # the pooler for serving, the server itself for the rest
            pooled = self.pooler.url(url.rsplit("/", 1)[1])
            env |= {"REGISTRAR_DATABASE_URL": pooled, "REGISTRAR_DATABASE_DIRECT_URL": url}
        return env


def servers(access_log_variant: bool, pooler: pgbouncer.ThrowawayPgBouncer | None) -> list[ServerSpec]:
    specs = [ServerSpec("registrar", WORKLOADS), ServerSpec("baseline", WORKLOADS)]
    if access_log_variant:
        specs.append(ServerSpec("registrar, no access log", ("W1",), access_log="false"))
    if pooler is not None:
        specs.append(ServerSpec("registrar, through PgBouncer", ("W1", "W2"), pooler=pooler))
    return specs


# What the metrics cost (issue 17): two servers that differ in REGISTRAR_METRICS alone, measured
# in alternation by `bench_alternated`, since a difference of a few per cent is smaller than what
# other jobs on the machine change between one server's turn and the next.
METRICS_PAIR = (ServerSpec(METRICS_ON, ("W1", "W2")), ServerSpec(NO_METRICS, ("W1", "W2"), metrics="false"))


def bench_alternated(
    specs: tuple[ServerSpec, ...],
    data: Dataset,
    work: Path,
    checker: Checker,
    timing: Timing,
    rounds: int | None = None,
) -> list[Result]:
    """Servers taking turns, in rounds of one timed run each, in ABBA order (so neither is always
    first after the other), each round on a fresh server and copy of the data; per server and
    workload the median of its rounds."""
    rounds = rounds or (ALTERNATED if timing is FULL else 2)
    turn = Timing(warmup=max(2, timing.warmup // 2), run=timing.run, runs=1)
    runs: dict[tuple[str, str], list[Result]] = {}
    for n in range(rounds):
        for spec in specs if n % 2 == 0 else reversed(specs):
            for result in bench_server(spec, data, work, checker, turn)[0]:
                runs.setdefault((result.server, result.workload), []).append(result)
    return [median_of(results) for results in runs.values()]


def median_of(results: list[Result]) -> Result:
    first = results[0]
    failures = [r.failure for r in results if r.failure]
    return Result(
        engine=first.engine,
        server=first.server,
        workload=first.workload,
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        max_ms=max(r.max_ms for r in results),
        rss_mib=max(r.rss_mib for r in results),
        cpu_us=statistics.median(r.cpu_us for r in results),
        failure=failures[0] if failures else None,
    )


def bench_server(
    spec: ServerSpec, data: Dataset, work: Path, checker: Checker, timing: Timing
) -> tuple[list[Result], ServerMemory]:
    """One server on a fresh copy of the seeded data: check its answers, then measure."""
    url = data.fresh_copy("bench_" + "".join(ch for ch in spec.name.lower() if ch.isalpha()))
    print(f"== {data.engine}: {spec.name}", flush=True)
    pooler_pid = spec.pooler.pid() if spec.pooler else None
    with serving(spec.name, spec.command(url), spec.env(url), work, pooler_pid) as server:
        checker.verify(server.port, data.ids, data.admin, data.reader, spec.name)
        results, memory = [], ServerMemory(data.engine, spec.name)
        for workload in spec.workloads:
            warm = wrk(server, data, workload, timing.warmup, seed=1)
            memory.after_warmup = memory.after_warmup or server.rss_mib()
            results.append(measure(server, data, workload, timing, warm))
        memory.at_end = server.rss_mib()
    print(f"   {memory.line()}", flush=True)
    return results, memory


# --------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description="registrar against the baseline, on both engines")
    parser.add_argument("--quick", action="store_true", help="2 s warm-up, one run of 3 s; writes nothing")
    parser.add_argument("--engines", default="postgresql,sqlite", help="comma-separated")
    parser.add_argument("--no-access-log-variant", action="store_true", help="skip W1 with the log off")
    parser.add_argument("--no-pgbouncer", action="store_true", help="skip W1 and W2 through PgBouncer")
    parser.add_argument("--no-metrics-variant", action="store_true", help="skip W1 and W2 with metrics off")
    parser.add_argument("--output", type=Path, help="default: bench/RESULTS.md (full run only)")
    parser.add_argument(
        "--metrics-only",
        type=int,
        metavar="ROUNDS",
        help="only the metrics on/off pair, in this many rounds; its table goes into a section of RESULTS.md",
    )
    args = parser.parse_args()
    timing = QUICK if args.quick else FULL
    if args.metrics_only:
        return metrics_only(args.engines.split(","), args.metrics_only, timing)
    output = args.output or (None if args.quick else ROOT / "bench" / "RESULTS.md")
    ensure_wrk()
    started, load_before = time.monotonic(), os.getloadavg()
    results: list[Result] = []
    memory: list[ServerMemory] = []
    seeds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="registrar-bench-") as tmp:
        work = Path(tmp)
        for engine in args.engines.split(","):
            data, cluster = prepare(engine, work)
            pooler = None if cluster is None or args.no_pgbouncer else start_pooler(cluster)
            try:
                checker = Checker()  # one per engine: each server's reads must match the first's
                for spec in servers(not args.no_access_log_variant, pooler):
                    server_results, server_memory = bench_server(spec, data, work, checker, timing)
                    results += server_results
                    memory.append(server_memory)
                if not args.no_metrics_variant:
                    results += bench_alternated(METRICS_PAIR, data, work, checker, timing)
            finally:
                if pooler is not None:
                    pooler.destroy()
                if cluster is not None:
                    cluster.destroy()
            seeds[engine] = data.seed_seconds
    elapsed = time.monotonic() - started
    report = write_report(results, memory, seeds, timing, elapsed, load_before, output)
    print(report)
    return 1 if any(r.failure for r in results) else 0


def metrics_only(engines: list[str], rounds: int, timing: Timing) -> int:
    """The metrics on/off pair alone, in ROUNDS rounds per engine: a second opinion on the full
    run's, whose 4 rounds leave a difference of a few per cent within the noise."""
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="registrar-bench-") as tmp:
        work = Path(tmp)
        for engine in engines:
            data, cluster = prepare(engine, work)
            try:
                results += bench_alternated(METRICS_PAIR, data, work, Checker(), timing, rounds)
            finally:
                if cluster is not None:
                    cluster.destroy()
    lines = [
        f"{rounds} rounds in turns (ABBA) per engine, each a fresh server, a {max(2, timing.warmup // 2)} s "
        f"warm-up and one timed run of {timing.run} s per workload; the medians, and the change in "
        "req/s with the metrics on:",
        "",
        "| engine | workload | req/s on | req/s off | change | CPU us on | CPU us off |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    by_key = {(r.engine, r.workload, r.server): r for r in results}
    for engine in engines:
        for workload in METRICS_PAIR[0].workloads:
            on, off = by_key[(engine, workload, METRICS_ON)], by_key[(engine, workload, NO_METRICS)]
            lines.append(
                f"| {engine} | {workload} | {on.rps:.0f} | {off.rps:.0f} | {on.rps / off.rps - 1:+.1%} | "
                f"{on.cpu_us:.0f} | {off.cpu_us:.0f} |"
            )
    print("\n".join(lines))
    if timing is FULL:
        record_section("Metrics on/off, more rounds (bench/run.py --metrics-only)", lines)
    return 1 if any(r.failure for r in results) else 0


def start_pooler(cluster: pgcluster.ThrowawayPostgres) -> pgbouncer.ThrowawayPgBouncer | None:
    if not pgbouncer.available():
        print(f"== no {pgbouncer.PGBOUNCER}: the rows through PgBouncer are left out", flush=True)
        return None
    return pgbouncer.ThrowawayPgBouncer(cluster, pool_size=POOLER_POOL_SIZE)


def prepare(engine: str, work: Path) -> tuple[Dataset, pgcluster.ThrowawayPostgres | None]:
    if engine == "sqlite":
        return sqlite_dataset(work), None
    if engine != "postgresql":
        raise SystemExit(f"bench: unknown engine {engine!r}")
    if not pgcluster.available():
        raise SystemExit(f"bench: no PostgreSQL server binaries in {pgcluster.PG_BIN}")
    cluster = pgcluster.ThrowawayPostgres(durable=True)
    try:
        return postgres_dataset(cluster, work), cluster
    except BaseException:
        cluster.destroy()
        raise


def exit_with(main: Callable[[], int]) -> None:
    """Run a benchmark's main: its exit status, or 1 with one line for a failed run."""
    try:
        sys.exit(main())
    except (BenchFailure, WrongAnswer) as failure:
        print(f"bench: FAILED: {failure}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    print(f"== started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC", flush=True)
    exit_with(main)
