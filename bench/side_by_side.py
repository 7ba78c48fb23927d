"""Two checkouts side by side: each one's registrar and baseline, taking turns on the same data.

    git archive REV | tar -x -C /tmp/before && (cd /tmp/before && python3 -m venv .venv &&
        .venv/bin/pip install -q --require-hashes -r requirements-test.lock &&
        .venv/bin/pip install -q --no-deps -e .)
    .venv/bin/python bench/side_by_side.py --before /tmp/before          # ~12 min, both engines

For a change measured on a machine that other jobs share: req/s move with their load, so the
servers of both checkouts run in turns (before, after, then after, before in the next round) and
the worker CPU per request is the figure to compare. Each checkout needs its own venv in `.venv`.
Prints one line per server and workload, and the table at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run

TIMING = run.Timing(warmup=2, run=4, runs=2)


@dataclass(frozen=True)
class Spec(run.ServerSpec):
    """registrar or the baseline, from the checkout at `root`."""

    root: Path = run.ROOT
    kind: str = "registrar"

    def command(self, url: str) -> list[str]:
        if self.kind == "baseline":
            return [
                str(self.root / ".venv/bin/python"),
                str(self.root / "bench/baseline.py"),
                "--database-url",
                url,
            ]
        return [str(self.root / ".venv/bin/registrar"), "serve", "--workers", "2"]

    def env(self, url: str) -> dict[str, str]:
        return run.clean_env() if self.kind == "baseline" else run.clean_env(REGISTRAR_DATABASE_URL=url)


def rounds(checkouts: dict[str, Path], count: int, workloads: tuple[str, ...]) -> list[list[Spec]]:
    """Each round runs every server once, the checkouts' order swapped from one round to the next."""
    names = list(checkouts)
    return [
        [
            Spec(f"{kind} {name}", workloads, root=checkouts[name], kind=kind)
            for kind in ("registrar", "baseline")
            for name in (names if n % 2 == 0 else names[::-1])
        ]
        for n in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout, with its .venv")
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workloads", default="W1,W2")
    args = parser.parse_args()
    run.ensure_wrk()
    checkouts = {"before": args.before.resolve(), "after": run.ROOT}
    rows = []
    with tempfile.TemporaryDirectory(prefix="registrar-side-by-side-") as tmp:
        work = Path(tmp)
        for engine in args.engines.split(","):
            data, cluster = run.prepare(engine, work)
            try:
                checker = run.Checker()
                for n, specs in enumerate(rounds(checkouts, args.rounds, tuple(args.workloads.split(",")))):
                    for spec in specs:
                        results, _ = run.bench_server(spec, data, work, checker, TIMING)
                        rows += [(engine, r.workload, spec.name, n, r.rps, r.cpu_us) for r in results]
            finally:
                if cluster is not None:
                    cluster.destroy()
    print(
        "| engine | workload | server | round | req/s | worker CPU us/req |\n| --- | --- | --- | ---: | ---: | ---: |"
    )
    for engine, workload, name, n, rps, cpu in sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3])):
        print(f"| {engine} | {workload} | {name} | {n + 1} | {rps:.0f} | {cpu:.0f} |")


if __name__ == "__main__":
    main()
