"""The benchmark's table, its machine and versions, and the issue's targets checked against them."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
PACKAGES = ("fastapi", "starlette", "pydantic", "uvicorn", "uvloop", "httptools", "asyncpg", "orjson")
# Issue 18: registrar's req/s as a fraction of the baseline's, per engine and workload, and the
# baseline's worker CPU per request over registrar's on W1 and W2.
RATIO_TARGETS = {
    ("postgresql", "W1"): 0.55,
    ("postgresql", "W2"): 0.65,
    ("postgresql", "W3"): 0.55,
    ("postgresql", "W4"): 0.50,
    ("sqlite", "W1"): 0.40,
    ("sqlite", "W2"): 0.45,
}
CPU_RATIO_TARGET = 0.50
ALTERNATED = 4  # rounds of the metrics on/off pair in a full run (bench/run.py)
CPU_RATIO_WORKLOADS = ("W1", "W2")
RSS_LIMIT_MIB = 150
# Issue 17: with metrics on, W1 and W2 keep their ratio to the baseline within 5 % of the ratio
# the same run measures with REGISTRAR_METRICS=false; the two servers are measured in turns.
METRICS_ON = "registrar, metrics on (in turns)"
NO_METRICS = "registrar, no metrics (in turns)"
METRICS_WORKLOADS = ("W1", "W2")
METRICS_TOLERANCE = 0.05


@dataclass
class Result:
    engine: str
    server: str
    workload: str
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    rss_mib: float
    cpu_us: float  # the workers' CPU time (user + system) per request, in microseconds
    failure: str | None = None
    ratio: float | None = None
    cpu_ratio: float | None = None

    def line(self) -> str:
        state = f"FAILED: {self.failure}" if self.failure else "ok"
        return (
            f"{self.workload} {self.rps:8.0f} req/s  p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms  "
            f"max {self.max_ms:7.1f} ms  RSS {self.rss_mib:5.1f} MiB  CPU {self.cpu_us:5.0f} us/req  {state}"
        )


@dataclass
class ServerMemory:
    engine: str
    server: str
    after_warmup: list[float] = field(default_factory=list)
    at_end: list[float] = field(default_factory=list)

    def line(self) -> str:
        warm = ", ".join(f"{m:.1f}" for m in self.after_warmup)
        end = ", ".join(f"{m:.1f}" for m in self.at_end)
        return f"worker RSS (MiB) after the first warm-up: {warm}; at the end: {end}"


def add_ratios(results: list[Result]) -> None:
    baseline = {(r.engine, r.workload): r for r in results if r.server == "baseline"}
    for r in results:
        base = baseline.get((r.engine, r.workload))
        r.ratio = r.rps / base.rps if base else None
        r.cpu_ratio = base.cpu_us / r.cpu_us if base and r.cpu_us else None


def table(results: list[Result]) -> list[str]:
    lines = [
        "| workload | engine | server | req/s | p50 ms | p99 ms | max ms | RSS MiB | ratio to baseline "
        "| worker CPU us/req | CPU ratio |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    order = {
        "registrar": 0,
        "registrar, no access log": 1,
        METRICS_ON: 2,
        NO_METRICS: 3,
        "registrar, through PgBouncer": 4,
        "baseline": 5,
    }
    for r in sorted(results, key=lambda r: (r.engine != "postgresql", r.workload, order.get(r.server, 5))):
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        cpu_ratio = f"{r.cpu_ratio:.2f}" if r.cpu_ratio is not None else "-"
        rps = f"FAILED ({r.failure})" if r.failure else f"{r.rps:.0f}"
        lines.append(
            f"| {r.workload} | {r.engine} | {r.server} | {rps} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.max_ms:.1f} | {r.rss_mib:.1f} | {ratio} | {r.cpu_us:.0f} | {cpu_ratio} |"
        )
    return lines


def targets(results: list[Result], memory: list[ServerMemory]) -> list[str]:
    """Each of the issue's targets this run can judge, met or not."""
    lines = []
    for r in (r for r in results if r.server == "registrar"):
        goal = RATIO_TARGETS.get((r.engine, r.workload))
        if goal is not None and r.ratio is not None:
            lines.append(
                f"- {_mark(r.ratio >= goal)} {r.engine} {r.workload}: {r.ratio:.2f}x (target {goal}x)"
            )
        if r.workload in CPU_RATIO_WORKLOADS and r.cpu_ratio is not None:
            lines.append(
                f"- {_mark(r.cpu_ratio >= CPU_RATIO_TARGET)} {r.engine} {r.workload} CPU ratio: "
                f"{r.cpu_ratio:.2f} ({r.cpu_us:.0f} us per request; target >= {CPU_RATIO_TARGET})"
            )
    judged = [r for r in results if r.server != "baseline"]
    spread = [r for r in judged if r.p99_ms > 4 * r.p50_ms]
    lines.append(
        f"- {_mark(not spread)} p99 <= 4x p50 on {len(judged) - len(spread)} of {len(judged)} registrar rows"
    )
    lines += [
        f"  - {r.engine} {r.workload} {r.server}: p99 {r.p99_ms:.1f} ms = {r.p99_ms / r.p50_ms:.1f}x p50"
        for r in spread
    ]
    writes = [r for r in results if r.engine == "sqlite" and r.workload == "W2" and r.server == "registrar"]
    for r in writes:
        lines.append(
            f"- {_mark(r.max_ms <= 1000)} SQLite: slowest W2 request {r.max_ms:.0f} ms (target <= 1 s)"
        )
    peak = max((m for s in memory if s.server != "baseline" for m in s.at_end), default=0.0)
    lines.append(f"- {_mark(peak < RSS_LIMIT_MIB)} largest registrar worker {peak:.1f} MiB (target < 150)")
    lines += metrics_targets(results)
    failed = [r for r in results if r.failure]
    lines.append(
        f"- {_mark(not failed)} no non-2xx responses, timeouts or socket errors ({len(failed)} failed)"
    )
    return lines


def metrics_targets(results: list[Result]) -> list[str]:
    """Issue 17: what the metrics cost, registrar's ratio with them on against the ratio with them off."""
    runs = {(r.engine, r.workload, r.server): r for r in results if r.ratio is not None and not r.failure}
    lines = []
    for engine, workload, _ in sorted(k for k in runs if k[2] == NO_METRICS and k[1] in METRICS_WORKLOADS):
        on, off = runs.get((engine, workload, METRICS_ON)), runs[(engine, workload, NO_METRICS)]
        if on is None:
            continue
        assert on.ratio is not None and off.ratio is not None
        change = on.ratio / off.ratio - 1
        lines.append(
            f"- {_mark(change >= -METRICS_TOLERANCE)} {engine} {workload} metrics on/off: ratio "
            f"{on.ratio:.2f} against {off.ratio:.2f} ({change:+.1%}; target within -5%)"
        )
    return lines


def _mark(ok: bool) -> str:
    return "met:" if ok else "**NOT met:**"


def machine() -> list[str]:
    cpu = next(
        (
            x.split(":", 1)[1].strip()
            for x in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in x
        ),
        platform.processor(),
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return [
        f"- machine: {os.cpu_count()} CPUs (`nproc` {_run('nproc')}), {cpu}, {memory_kib / 2**20:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; "
        + ", ".join(f"{p} {importlib.metadata.version(p)}" for p in PACKAGES),
        f"- {_postgres_version()}; SQLite {sqlite3.sqlite_version}; {_run('wrk', '-v').splitlines()[0]}",
        f"- registrar at {_run('git', '-C', str(ROOT), 'describe', '--always', '--dirty')}",
    ]


def _postgres_version() -> str:
    sys.path.insert(0, str(ROOT))
    from tests import pgcluster

    return _run(str(pgcluster.PG_BIN / "postgres"), "--version") or "PostgreSQL: not installed"


def _run(*command: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except OSError:
        return ""
    return (done.stdout or done.stderr).strip()


def write_report(
    results: list[Result],
    memory: list[ServerMemory],
    seeds: dict[str, float],
    timing: Any,
    elapsed: float,
    load_before: tuple[float, float, float],
    output: Path | None,
) -> str:
    add_ratios(results)
    now = datetime.now(UTC)
    lines = [
        "# Benchmark results",
        "",
        f"Written by `.venv/bin/python bench/run.py` on {now:%Y-%m-%d %H:%M} UTC, in {elapsed / 60:.1f} min. "
        f"wrk: 1 thread, 32 connections, {timing.warmup} s warm-up, then the median of {timing.runs} runs "
        f"of {timing.run} s. Ratio: registrar's req/s over the baseline's (bench/baseline.py), same engine "
        "and workload. Worker CPU: user + system time of the 2 workers during the timed runs, per request "
        "(database server not included; through PgBouncer, the pooler's included); CPU ratio: the "
        "baseline's over registrar's, which other jobs on the machine disturb less than req/s. "
        f"The metrics on/off pair: {ALTERNATED} rounds in turns (ABBA), each a fresh server, a warm-up "
        "and one timed run; the medians.",
        "",
        *machine(),
        f"- load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; after: "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
        + " (other jobs on the machine share its 2 cores)",
        "",
        "Seed of 100,000 students, 2,000 courses, 5 courses a student (`registrar seed`): "
        + "; ".join(f"{engine} {seconds:.1f} s" for engine, seconds in seeds.items()),
        "",
        *table(results),
        "",
        "Worker resident memory (VmRSS, MiB, one figure per worker):",
        "",
        *(f"- {m.engine}, {m.server}: {m.line()}" for m in memory),
        "",
        "Targets judged by this run (issue 18's ratios and CPU, issue 9's tails and memory, issue 17's"
        " metrics cost):",
        "",
        *targets(results, memory),
        "",
    ]
    report = "\n".join(lines)
    if output is not None:
        kept = _sections(output.read_text()) if output.exists() else {}
        output.write_text(report + "".join(f"\n{text}" for text in kept.values()))
    return report


# The other benchmarks (history, before and after, OneRoster) each keep a section of their own at
# the end of RESULTS.md: "## <title>", replaced by their next full run; bench/run.py keeps them.


class Said:
    """Lines printed as a benchmark goes, and kept for its section of RESULTS.md."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str) -> None:
        print(text, flush=True)
        self.lines.extend(text.splitlines())

    def as_block(self) -> list[str]:
        return ["```", *self.lines, "```"]


def record_section(title: str, lines: list[str], path: Path = RESULTS) -> None:
    """Put this run's figures into RESULTS.md under `## title`, replacing its last ones."""
    heading = f"## {title}"
    stamp = (
        f"Written by `{Path(sys.argv[0]).name}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, registrar at "
        f"{_run('git', '-C', str(ROOT), 'describe', '--always', '--dirty')}; load average now "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
        + "."
    )
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    sections = _sections(text)
    head = text.split("\n## ", 1)[0].rstrip("\n") + "\n"
    sections[heading] = "\n".join([heading, "", stamp, "", *lines, ""])
    path.write_text(head + "".join(f"\n{section}" for section in sections.values()))


def _sections(text: str) -> dict[str, str]:
    """The `## ` sections of RESULTS.md by heading, in order, each with its text."""
    sections: dict[str, str] = {}
    for chunk in text.split("\n## ")[1:]:
        heading = "## " + chunk.split("\n", 1)[0]
        sections[heading] = ("## " + chunk).rstrip("\n") + "\n"
    return sections
