"""A generated OneRoster 1.2 bulk package of a given size, for the OneRoster benchmarks.

Users `usr-0000000`..., classes `cls-00000`..., enrollments with GUID sourcedIds as real exports
have, each user in turn enrolled in a random class (seeded: the same package every time).
"""

from __future__ import annotations

import csv
import io
import random
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

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
    """Write the zipped package of that size to PATH."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        write_member(archive, "manifest.csv", iter([["propertyName", "value"], *map(list, MANIFEST)]))
        write_member(archive, "users.csv", users(user_count))
        write_member(archive, "classes.csv", classes(class_count))
        write_member(archive, "enrollments.csv", enrollments(enrollment_count, user_count, class_count))
