"""How long reading a large OneRoster package takes, and the peak memory it needs.

    .venv/bin/python bench/oneroster_read.py [--users 100000 --classes 2000 --enrollments 500000]

Writes a 1.2 bulk package (zipped, in a temporary folder) of that size, with GUID sourcedIds as
real exports have, then reads it with `read_package` and prints the seconds and the process's peak
resident memory. The whole import (read, plan, apply) must stay under 300 MiB at the default size.

Measured on 2 shared cores: 22-27 s and 208 MiB peak (31 MiB before reading). What stays is about
145 MiB, some 250 bytes per enrollment (its GUID sourcedId, the record, its line number, the dict
entries) and 350 per user; about half of the time is e-mail validation.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from oneroster_package import write_package
from registrar.oneroster import read_package


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--classes", type=int, default=2_000)
    parser.add_argument("--enrollments", type=int, default=500_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        package = Path(folder) / "package.zip"
        write_package(package, args.users, args.classes, args.enrollments)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        roster = read_package(package)
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"package: {args.users} users, {args.classes} classes, {args.enrollments} enrollments")
    print(f"read: {seconds:.1f} s; peak resident memory {peak:.0f} MiB (before reading: {before:.0f} MiB)")
    print(
        f"records: {len(roster.users.records)} users, {len(roster.classes.records)} classes, "
        f"{len(roster.enrollments.records)} enrollments; {len(roster.errors)} errors, "
        f"{len(roster.warnings)} warnings"
    )


if __name__ == "__main__":
    main()
