"""What PgBouncer in transaction mode costs registrar: W1 and W2 served directly and through the
pooler, alternated (so that other jobs on the machine weigh on both alike), with the CPU time per
request of every process on the path: the workers, pgbouncer and PostgreSQL.

    .venv/bin/python bench/pgbouncer_cost.py [--rounds 3] [--seconds 10] [--pool-size 20]

The data, the servers and wrk are those of bench/run.py (100,000 students, `serve --workers 2`,
32 connections); each server gets a fresh copy of the seeded database. Prints one table, medians
over the rounds; errors (non-2xx, timeouts) are counted, not fatal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run

pgbouncer = run.pgbouncer  # tests/pgbouncer.py, importable once run has set the path


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_processes(data_dir: Path) -> list[int]:
    """The postmaster and every process it started (backends, writer, WAL, autovacuum)."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    found = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


def measure(
    server: run.Server, data: run.Dataset, workload: str, seconds: int, cluster: Path, pooler: int | None
) -> dict[str, float]:
    run.wrk(server, data, workload, max(2, seconds // 2), seed=1)  # warm-up: every connection opened
    pids = {"workers": server.workers(), "PostgreSQL": postgres_processes(cluster)}
    if pooler is not None:
        pids["pgbouncer"] = [pooler]
    before = {name: cpu_seconds(p) for name, p in pids.items()}
    figures = run.wrk(server, data, workload, seconds, seed=100)
    requests = max(1, figures["requests"])
    result = {f"{name} us": 1e6 * (cpu_seconds(p) - before[name]) / requests for name, p in pids.items()}
    return result | {
        "req/s": requests / (figures["duration_us"] / 1e6),
        "p50 ms": figures["p50_us"] / 1000,
        "p99 ms": figures["p99_us"] / 1000,
        "errors": sum(figures[k] for k in ("status", "timeout", "connect", "read", "write")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="W1 and W2 directly and through PgBouncer, alternated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="of each timed wrk run")
    parser.add_argument("--pool-size", type=int, default=run.POOLER_POOL_SIZE, help="PgBouncer's")
    args = parser.parse_args()
    run.ensure_wrk()
    if not pgbouncer.available():
        raise SystemExit(f"bench: no {pgbouncer.PGBOUNCER}")
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="registrar-pgbouncer-") as tmp:
        work = Path(tmp)
        data, cluster = run.prepare("postgresql", work)
        assert cluster is not None
        pooler = pgbouncer.ThrowawayPgBouncer(cluster, pool_size=args.pool_size)
        try:
            specs = {
                "direct": run.ServerSpec("registrar", ("W1", "W2")),
                "through PgBouncer": run.ServerSpec(
                    "registrar, through PgBouncer", ("W1", "W2"), pooler=pooler
                ),
            }
            for n in range(args.rounds):
                for path, spec in specs.items():
                    url = data.fresh_copy(f"cost_{n}_{path.split()[0].lower()}")
                    with run.serving(spec.name, spec.command(url), spec.env(url), work) as server:
                        for workload in spec.workloads:
                            through = pooler.pid() if spec.pooler else None
                            result = measure(server, data, workload, args.seconds, cluster.data, through)
                            results.setdefault((workload, path), []).append(result)
                            print(f"   round {n + 1} {workload} {path}: {_line(result)}", flush=True)
        finally:
            pooler.destroy()
            cluster.destroy()
    print(f"\nload average now: {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print(table(results))
    return 0


def _line(result: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in result.items())


def table(results: dict[tuple[str, str], list[dict[str, float]]]) -> str:
    """Medians over the rounds (errors: their sum); CPU in microseconds per request."""
    columns = ["req/s", "p50 ms", "p99 ms", "workers us", "pgbouncer us", "PostgreSQL us"]
    lines = [
        "| workload | path | " + " | ".join(columns) + " | CPU us/req, all three | errors |",
        "| --- | --- |" + " ---: |" * (len(columns) + 2),
    ]
    for (workload, path), runs in sorted(results.items()):
        medians = {c: statistics.median(r.get(c, 0.0) for r in runs) for c in columns}
        total = sum(medians[c] for c in columns if c.endswith(" us"))
        cells = [f"{medians[c]:.0f}" if medians[c] else "-" for c in columns]
        errors = sum(r["errors"] for r in runs)
        lines.append(f"| {workload} | {path} | " + " | ".join(cells) + f" | {total:.0f} | {errors:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    run.exit_with(main)
