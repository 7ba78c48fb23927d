"""The memory soak of issue 9: at least 1,000,000 W1 requests against `registrar serve --workers 2`
on PostgreSQL; each worker's resident size after the warm-up and at the end, and the growth.

    .venv/bin/python bench/soak.py [--requests 1000000]

Exits 1 when a worker grows by 10 MiB or more, passes 150 MiB, or any request failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run

GROWTH_LIMIT_MIB = 10.0
SIZE_LIMIT_MIB = 150.0
CHUNK_SECONDS = 30


def soak(requests: int) -> int:
    run.ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="registrar-soak-") as tmp:
        work = Path(tmp)
        data, cluster = run.prepare("postgresql", work)
        try:
            spec = run.ServerSpec("registrar", ("W1",))
            url = data.fresh_copy("soak")
            with run.serving("registrar", spec.command(url), spec.env(url), work) as server:
                warm = run.wrk(server, data, "W1", 10, seed=1)
                before = server.rss_mib()
                print(f"after the warm-up: {_sizes(before)}", flush=True)
                served, failures, chunk = 0, [], 0
                while served < requests:
                    figures = run.wrk(server, data, "W1", CHUNK_SECONDS, seed=10 + chunk)
                    served, chunk = served + figures["requests"], chunk + 1
                    failures += [f for f in [run.failure_of(figures)] if f]
                    print(f"   {served:>9,} requests, workers {_sizes(server.rss_mib())}", flush=True)
                after = server.rss_mib()
        finally:
            assert cluster is not None
            cluster.destroy()
    growth = max(a - b for a, b in zip(after, before, strict=True))
    print(f"after {served:,} W1 requests: {_sizes(after)}; largest growth {growth:.1f} MiB")
    failures += [f for f in [run.failure_of(warm)] if f]
    ok = growth < GROWTH_LIMIT_MIB and max(after) < SIZE_LIMIT_MIB and not failures
    print(
        ("met" if ok else "NOT met") + f": growth < {GROWTH_LIMIT_MIB} MiB, size < {SIZE_LIMIT_MIB} MiB, "
        f"no failed requests ({', '.join(failures) or 'none'})"
    )
    return 0 if ok else 1


def _sizes(mib: list[float]) -> str:
    return ", ".join(f"{m:.1f} MiB" for m in mib)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    sys.exit(soak(parser.parse_args().requests))
