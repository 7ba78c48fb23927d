"""Where a registrar worker spends its time under W1 or W2 load, sampled with py-spy.

    python3 -m venv /tmp/prof && /tmp/prof/bin/pip install py-spy     # not into the project's venv
    .venv/bin/python bench/profile_worker.py --py-spy /tmp/prof/bin/py-spy [--engine sqlite] W1 W2

Seeds the benchmark's data (into a throwaway cluster by default), starts `registrar serve --workers 2` (access
log on, the default), drives it with wrk as bench/run.py does and records one worker with py-spy
(non-blocking, so the sampling barely slows it down; only samples where the worker holds the GIL,
so threads and the event loop waiting for work are left out: this is where its CPU time goes).
Prints the busiest packages and functions by own time, and functions by total time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run

PACKAGES = ("registrar", "fastapi", "starlette", "pydantic", "uvicorn", "asyncpg", "logging", "asyncio")


def package_of(frame: str) -> str:
    """'name (path/to/file.py:12)' -> the package the file belongs to, or its file name."""
    path = frame.rsplit("(", 1)[-1]
    parts = Path(path.split(":", 1)[0]).parts
    return next((p for p in PACKAGES if p in parts), Path(path.split(":", 1)[0]).name or "?")


def function_of(frame: str) -> str:
    name, _, where = frame.partition(" (")
    file = Path(where.split(":", 1)[0])
    return f"{name} ({file.parent.name}/{file.name})"


def summarise(raw: Path, top: int) -> list[str]:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        samples += n
        own[function_of(frames[-1])] += n
        packages[package_of(frames[-1])] += n
        for name in {function_of(f) for f in frames}:
            total[name] += n
    lines = [f"{samples} samples; own time by package:"]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in packages.most_common(top)]
    lines.append("own time by function:")
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("total time by function (the frame and everything it called):")
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in total.most_common(2 * top)]
    return lines


def profile(
    server: run.Server, data: run.Dataset, workload: str, py_spy: str, seconds: int, out: Path
) -> None:
    worker = server.workers()[0]
    load = threading.Thread(target=run.wrk, args=(server, data, workload, seconds + 4, 5))
    load.start()
    command = [
        py_spy,
        "record",
        "--nonblocking",
        "--gil",  # only samples where the worker holds the GIL: its CPU time, not its waiting
        "-r",
        "250",
        "-d",
        str(seconds),
        "-f",
        "raw",
        "-o",
        str(out),
    ]
    subprocess.run([*command, "-p", str(worker)], check=True, capture_output=True, timeout=seconds + 60)
    load.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=["W1", "W2"])
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "/tmp/prof/bin/py-spy")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--engine", choices=["postgresql", "sqlite"], default="postgresql")
    args = parser.parse_args()
    run.ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="registrar-profile-") as tmp:
        work = Path(tmp)
        data, cluster = run.prepare(args.engine, work)
        try:
            spec = run.ServerSpec("registrar", tuple(args.workloads))
            url = data.fresh_copy("profiled")
            with run.serving(spec.name, spec.command(url), spec.env(url), work) as server:
                for workload in args.workloads:
                    run.wrk(server, data, workload, 5, 1)  # warm-up
                    profile(server, data, workload, args.py_spy, args.seconds, work / f"{workload}.txt")
                    print(f"== {workload} on {args.engine}, one registrar worker", flush=True)
                    print("\n".join(summarise(work / f"{workload}.txt", args.top)), flush=True)
        finally:
            if cluster is not None:
                cluster.destroy()


if __name__ == "__main__":
    main()
