"""The figures of the enrollment history, on PostgreSQL, in one command:

    .venv/bin/python bench/history.py            # ~6 min on 2 cores; prints the figures
    .venv/bin/python bench/history.py --quick    # short wrk runs, smaller seed and backfill

1. W5 against W3 in one run: the benchmark data (100,000 students, 2,000 courses, 5 courses a
   student, loaded by `registrar seed`, whose events count) plus a synthesised term of churn, drops
   and re-enrollments spread over four months and loaded in bulk, for 5,000,000 events in all;
   `registrar serve --workers 2`; W3 `GET /courses/{id}/students?limit=50` and W5 the same `as_of` a
   random instant of the term; throughput, p50, p99 and the plan of W5's statement (EXPLAIN).
2. `registrar seed --students 1000000 --courses 20000 --per-student 5` (5,000,000 events) timed.
3. The history migration over 1,000,000 enrollments: seed at head, migrate down to 0005 (the history
   goes), then time `registrar migrate` back to head (the backfill is one INSERT ... SELECT).
Loopback only; every server and cluster is removed at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from registrar.db.queries.history import _ROSTER_AS_OF
from report import Said, record_section
from run import (
    FULL,
    QUICK,
    Dataset,
    Ids,
    Server,
    ServerSpec,
    Timing,
    ensure_wrk,
    failure_of,
    pgcluster,
    registrar,
    seed_dataset,
    serving,
    wrk,
)

TERM_DAYS = 120
EVENTS = 5_000_000

# Churn: pairs of (enrolled, dropped) events for random students and courses, each pair within the
# term and ending before the seed (whose `enrolled` events are at the time it ran), in time order.
CHURN = """
INSERT INTO enrollment_events (at, student_id, course_id, change, cause)
SELECT at, student_id, course_id, change, 'api' FROM (
  SELECT start + offs AS at, s AS student_id, c AS course_id, 'enrolled' AS change
  FROM pairs
  UNION ALL
  SELECT start + offs + stay, s, c, 'dropped' FROM pairs
) e ORDER BY at
"""


def churn(cluster: pgcluster.ThrowawayPostgres, database: str, pairs: int, ids: Ids) -> None:
    term_start = f"now() - interval '{TERM_DAYS} days'"
    cluster.psql(
        "CREATE UNLOGGED TABLE pairs AS SELECT "
        f"({term_start}) AS start, "
        f"{ids.student_lo} + (random() * ({ids.student_hi} - {ids.student_lo}))::bigint AS s, "
        f"{ids.course_lo} + (random() * ({ids.course_hi} - {ids.course_lo}))::bigint AS c, "
        f"random() * interval '{TERM_DAYS - 10} days' AS offs, random() * interval '9 days' AS stay "
        f"FROM generate_series(1, {pairs})",
        database,
    )
    cluster.psql(CHURN, database)
    cluster.psql("DROP TABLE pairs", database)
    cluster.psql("VACUUM ANALYZE", database)


def throughput(
    server: Server, data: Dataset, workload: str, timing: Timing, window: tuple[int, int]
) -> dict[str, float]:
    """A warm-up, then the median of the timed runs; W5's instants are drawn from `window`."""
    extra = (str(window[0]), str(window[1]))
    runs = []
    for i in range(timing.runs + 1):  # the first is the warm-up
        figures = wrk(server, data, workload, timing.warmup if i == 0 else timing.run, 100 + i, extra)
        if failure := failure_of(figures):
            raise SystemExit(f"bench: {workload}: {failure}")
        if i:
            runs.append(figures)
    return {
        "rps": statistics.median(r["requests"] / (r["duration_us"] / 1e6) for r in runs),
        "p50_ms": statistics.median(r["p50_us"] for r in runs) / 1000,
        "p99_ms": statistics.median(r["p99_us"] for r in runs) / 1000,
    }


def w5_against_w3(cluster: pgcluster.ThrowawayPostgres, work: Path, quick: bool) -> None:
    data = Dataset("postgresql", lambda name: cluster.url(name))
    url = cluster.create_database("history_bench")
    seed_dataset(data, url, work)
    bounds = cluster.psql("SELECT min(id), max(id) FROM students", "history_bench").strip().split(
        "|"
    ) + cluster.psql("SELECT min(id), max(id) FROM courses", "history_bench").strip().split("|")
    data.ids = Ids(*(int(v) for v in bounds))
    seeded_events = int(cluster.psql("SELECT count(*) FROM enrollment_events", "history_bench"))
    pairs = (EVENTS - seeded_events) // 2 if not quick else 200_000
    started = time.perf_counter()
    churn(cluster, "history_bench", pairs, data.ids)
    events = int(cluster.psql("SELECT count(*) FROM enrollment_events", "history_bench"))
    say(f"== {events:,} events ({pairs * 2:,} of churn loaded in {time.perf_counter() - started:.1f} s)")
    now = int(time.time())
    window = (now - TERM_DAYS * 86400, now)
    # The statement the service sends, with a course and an instant in the middle of the term.
    plan = cluster.psql(
        f"PREPARE w5 AS {_ROSTER_AS_OF.postgresql}; "
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
        f"EXECUTE w5({data.ids.course_lo + 7}, now() - interval '40 days', 0, 51)",
        "history_bench",
    )
    say("== the plan of W5's statement:\n" + plan.strip("\n"))
    spec = ServerSpec("registrar", ("W3", "W5"))
    timing = QUICK if quick else FULL
    with serving("registrar", spec.command(url), spec.env(url), work) as server:
        figures = {w: throughput(server, data, w, timing, window) for w in ("W3", "W5")}
    for w, f in figures.items():
        say(f"   {w}: {f['rps']:,.0f} req/s, p50 {f['p50_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms")
    w5 = figures["W5"]
    say(
        f"== W5/W3 throughput {w5['rps'] / figures['W3']['rps']:.2f} (target >= 0.5); "
        f"W5 p99/p50 {w5['p99_ms'] / w5['p50_ms']:.1f} (target <= 4)"
    )


say = Said()  # the figures, for RESULTS.md


def timed(url: str, work: Path, *args: str) -> float:
    started = time.perf_counter()
    registrar(url, *args, cwd=work)
    return time.perf_counter() - started


def seed_and_backfill(cluster: pgcluster.ThrowawayPostgres, work: Path, quick: bool) -> None:
    students = 100_000 if quick else 1_000_000
    url = cluster.create_database("seed_bench")
    registrar(url, "migrate", cwd=work)
    seconds = timed(
        url, work, "seed", "--students", str(students), "--courses", str(students // 50), "--per-student", "5"
    )
    events = int(cluster.psql("SELECT count(*) FROM enrollment_events", "seed_bench"))
    say(f"== seed {students:,} students x 5 ({events:,} events) in {seconds:.1f} s (target < 60 s at 1M)")
    cluster.psql("DROP DATABASE seed_bench WITH (FORCE)")

    url = cluster.create_database("backfill_bench")
    registrar(url, "migrate", cwd=work)
    registrar(
        url, "seed", "--students", str(students // 5), "--courses", "2000", "--per-student", "5", cwd=work
    )
    registrar(url, "migrate", "--to", "0005", cwd=work)
    enrollments = int(cluster.psql("SELECT count(*) FROM student_courses", "backfill_bench"))
    seconds = timed(url, work, "migrate")
    events = int(cluster.psql("SELECT count(*) FROM enrollment_events", "backfill_bench"))
    assert events == enrollments, (events, enrollments)
    say(f"== history migration over {enrollments:,} enrollments in {seconds:.1f} s (target < 30 s at 1M)")


def main() -> int:
    parser = argparse.ArgumentParser(description="the enrollment history's figures on PostgreSQL")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    ensure_wrk()
    if not pgcluster.available():
        raise SystemExit("bench: no PostgreSQL server binaries")
    cluster = pgcluster.ThrowawayPostgres()
    failed = False
    try:
        with tempfile.TemporaryDirectory(prefix="registrar-history-bench-") as tmp:
            for section in (w5_against_w3, seed_and_backfill):
                try:
                    section(cluster, Path(tmp), args.quick)
                except SystemExit as failure:  # a failed run of one section spoils not the others
                    say(f"== FAILED: {failure}")
                    failed = True
    finally:
        cluster.destroy()
    if not args.quick:
        record_section("The enrollment history, PostgreSQL (bench/history.py)", say.as_block())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
