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
import csv
import io
import random
import resource
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

from registrar.oneroster import read_package

MANIFEST = [("manifest.version", "1.0"), ("oneroster.version", "1.2"), ("source.systemCode", "bench")]
MANIFEST += [(f"file.{name}", "bulk") for name in ("users", "classes", "enrollments")]


def users(count: int) -> Iterator[list[str]]:
    yield ["sourcedId", "status", "dateLastModified", "givenName", "familyName", "email", "role"]
    for i in range(count):
        yield [f"usr-{i:07d}", "", "", f"Given{i}", f"Family{i}", f"user{i}@school.example", "student"]


def classes(count: int) -> Iterator[list[str]]:
    yield ["sourcedId", "status", "dateLastModified", "title", "classCode", "courseSourcedId"]
    for i in range(count):
        yield [f"cls-{i:05d}", "", "", f"Class number {i}", f"Class {i} - A", f"crs-{i:05d}"]


def enrollments(count: int, user_count: int, class_count: int) -> Iterator[list[str]]:
    yield ["sourcedId", "status", "dateLastModified", "classSourcedId", "userSourcedId", "role", "primary"]
    rng = random.Random(7)
    for i in range(count):
        sourced_id = str(uuid.UUID(int=rng.getrandbits(128)))
        klass, user = f"cls-{rng.randrange(class_count):05d}", f"usr-{i % user_count:07d}"
        yield [sourced_id, "", "", klass, user, "student", ""]


def write_member(archive: zipfile.ZipFile, name: str, rows: Iterator[list[str]]) -> None:
    with archive.open(name, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        csv.writer(text, lineterminator="\r\n").writerows(rows)


def write_package(path: Path, user_count: int, class_count: int, enrollment_count: int) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        write_member(archive, "manifest.csv", iter([["propertyName", "value"], *map(list, MANIFEST)]))
        write_member(archive, "users.csv", users(user_count))
        write_member(archive, "classes.csv", classes(class_count))
        write_member(archive, "enrollments.csv", enrollments(enrollment_count, user_count, class_count))


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
