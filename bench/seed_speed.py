"""How long `registrar seed` takes at the size of issue 9, on both engines.

    .venv/bin/python bench/seed_speed.py [--students 1000000 --courses 20000 --per-student 5]

Runs the real command line (migrate, then seed) into a throwaway PostgreSQL cluster with durable
settings (fsync on, as in production) and into a SQLite file in WAL mode, and prints the seconds
each seed took. Targets (issue 9, 2 cores): PostgreSQL under 60 s, SQLite under 120 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests/pgcluster.py

from tests import pgcluster  # noqa: E402

REGISTRAR = Path(sys.executable).parent / "registrar"
TARGETS = {"postgresql": 60.0, "sqlite": 120.0}


def timed_seed(url: str, counts: list[str], cwd: Path) -> float:
    """Migrate, then seed; the seconds the seed alone took."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRAR_")}
    env["REGISTRAR_DATABASE_URL"] = url
    subprocess.run([str(REGISTRAR), "migrate"], env=env, cwd=cwd, check=True)
    started = time.perf_counter()
    subprocess.run([str(REGISTRAR), "seed", *counts], env=env, cwd=cwd, check=True)
    return time.perf_counter() - started


def on_postgres(counts: list[str], cwd: Path) -> float:
    cluster = pgcluster.ThrowawayPostgres(durable=True)
    try:
        return timed_seed(cluster.create_database("seed_speed"), counts, cwd)
    finally:
        cluster.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", default="1000000")
    parser.add_argument("--courses", default="20000")
    parser.add_argument("--per-student", default="5")
    parser.add_argument("--engines", default="postgresql,sqlite")
    args = parser.parse_args()
    counts = ["--students", args.students, "--courses", args.courses, "--per-student", args.per_student]
    print(f"seed {' '.join(counts)}; load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="registrar-seed-") as tmp:
        for engine in args.engines.split(","):
            if engine == "postgresql":
                seconds = on_postgres(counts, Path(tmp))
            else:
                seconds = timed_seed(f"sqlite:///{tmp}/seed.db", counts, Path(tmp))
            verdict = "met" if seconds < TARGETS[engine] else "NOT met"
            print(f"{engine}: {seconds:.1f} s (target under {TARGETS[engine]:.0f} s: {verdict})", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
