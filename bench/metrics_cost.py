"""What the metrics cost a request, measured in one process without a network (under a minute).

1. Counting one request: straight into prometheus-client (a counter and a histogram, their
   labelled children kept), and through `observe_request` (a tally handed over in bulk), with
   values in memory (one worker) and in files (PROMETHEUS_MULTIPROC_DIR, as under
   `serve --workers N`).
2. W1 (`GET /students/{id}/courses`, reader key) through the whole ASGI app on a seeded SQLite
   file: two apps in one process, REGISTRAR_METRICS on and off, access log off in both, taking
   turns in blocks of requests so that other load on the machine falls on both alike; CPU time
   per request, for values in memory and in files.

Usage: .venv/bin/python bench/metrics_cost.py [--requests 20000]
The comparison under load, through uvicorn, is bench/run.py's "registrar, no metrics" row.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

OBSERVE_CALLS = 200_000
STUDENTS = 1000
BLOCK = 250  # requests per turn

OBSERVE = f"""
import time
from registrar import metrics
routes = ["/students/{{student_id}}", "/students/{{student_id}}/courses", "/courses"]
children = [(metrics.http_requests.labels("GET", r, "200"), metrics.http_duration.labels("GET", r)) for r in routes]
started = time.process_time()
for n in range({OBSERVE_CALLS}):
    counter, histogram = children[n % 3]
    counter.inc()
    histogram.observe(0.0004)
direct = time.process_time() - started
started = time.process_time()
for n in range({OBSERVE_CALLS}):
    metrics.observe_request("GET", routes[n % 3], 200, 0.0004)
metrics.tally.flush()
tallied = time.process_time() - started
print(direct / {OBSERVE_CALLS} * 1e6, tallied / {OBSERVE_CALLS} * 1e6)
"""

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def in_fresh_interpreter(args: list[str], multiprocess: bool) -> str:
    """What a child prints, its metrics in memory or in files (the mode is chosen at import)."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    with tempfile.TemporaryDirectory(prefix="registrar-metrics-cost-") as directory:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = directory
        done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def w1_scope(student: int, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    path = f"/students/{student}/courses"
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 8000),
    }


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: dict[str, Any]) -> None:
    if message["type"] == "http.response.start":
        assert message["status"] == 200, message


async def run_block(app: Asgi, headers: list[tuple[bytes, bytes]], first: int) -> float:
    """CPU seconds for BLOCK requests."""
    started = time.process_time()
    for n in range(first, first + BLOCK):
        await app(w1_scope(n % STUDENTS + 1, headers), receive, send)
    return time.process_time() - started


async def w1_side_by_side(url: str, requests: int) -> str:
    """CPU microseconds per W1 request with metrics on and off, as "on off"."""
    from contextlib import AsyncExitStack

    from registrar.app import create_app
    from registrar.config import Settings
    from registrar.services import keys

    async with AsyncExitStack() as stack:
        apps = {}
        for setting in (True, False):
            settings = Settings(database_url=url, access_log=False, metrics=setting, _env_file=None)  # type: ignore[call-arg]
            app = apps[setting] = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
        token = await keys.create_key(apps[True].state.runtime.db, "reader", "metrics cost")
        headers = [(b"authorization", f"Bearer {token}".encode())]
        for app in apps.values():
            await run_block(app, headers, 0)  # warm the key and statement caches
        spent = {True: 0.0, False: 0.0}
        for turn in range(requests // BLOCK):
            for setting in (True, False) if turn % 2 == 0 else (False, True):
                spent[setting] += await run_block(apps[setting], headers, turn * BLOCK)
    done = requests // BLOCK * BLOCK
    return f"{spent[True] / done * 1e6} {spent[False] / done * 1e6}"


def seeded_sqlite(directory: Path) -> str:
    url = f"sqlite:///{directory / 'registrar.db'}"
    env = {**os.environ, "REGISTRAR_DATABASE_URL": url}
    registrar = Path(sys.executable).with_name("registrar")
    subprocess.run([str(registrar), "migrate"], env=env, check=True, capture_output=True)
    seed = ["seed", "--students", str(STUDENTS), "--courses", "50", "--per-student", "5"]
    subprocess.run([str(registrar), *seed], env=env, check=True, capture_output=True)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="per setting and mode")
    parser.add_argument("--w1", metavar="URL", help=argparse.SUPPRESS)  # the child's part
    args = parser.parse_args()
    if args.w1:
        print(asyncio.run(w1_side_by_side(args.w1, args.requests)))
        return
    for multiprocess, mode in ((False, "in memory"), (True, "in files ")):
        direct, tallied = map(float, in_fresh_interpreter(["-c", OBSERVE], multiprocess).split())
        print(f"one request counted, values {mode}: straight {direct:.2f} us, tallied {tallied:.2f} us")
    with tempfile.TemporaryDirectory(prefix="registrar-metrics-cost-") as directory:
        url = seeded_sqlite(Path(directory))
        for multiprocess, mode in ((False, "in memory"), (True, "in files ")):
            child = [__file__, "--w1", url, "--requests", str(args.requests)]
            on, off = map(float, in_fresh_interpreter(child, multiprocess).split())
            print(
                f"W1 in process (SQLite), values {mode}: metrics on {on:.1f} us/request, "
                f"off {off:.1f} us/request: {(on / off - 1) * 100:+.1f}%"
            )


if __name__ == "__main__":
    main()
