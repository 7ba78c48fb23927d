"""The answers a server must give before its figures count: status and body shape per the contract,
and, for reads, the same bytes as the first server checked on the same data."""

from __future__ import annotations

import http.client
import json
import random
import re
from dataclasses import dataclass
from typing import Any

RFC3339_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")
COURSE_INFO = ["id", "code", "title", "enrolled_at"]
ROSTER_ENTRY = ["id", "name", "email", "enrolled_at"]
STUDENT = ["id", "name", "email", "created_at", "updated_at", "courses"]
PER_STUDENT = 5  # what run.py seeds


class WrongAnswer(Exception):
    """A server answered differently from the contract or from the other server."""


@dataclass(frozen=True)
class Ids:
    student_lo: int
    student_hi: int
    course_lo: int
    course_hi: int


def request(
    port: int, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    status, _, body = request(port, "GET", path, token)
    return status, body


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise WrongAnswer(what)


def check_course_infos(items: Any, where: str) -> list[int]:
    expect(isinstance(items, list), f"{where}: not a list")
    for item in items:
        expect(list(item) == COURSE_INFO, f"{where}: members {list(item)}")
        expect(type(item["id"]) is int and isinstance(item["code"], str), f"{where}: types")
        expect(bool(RFC3339_Z.fullmatch(item["enrolled_at"])), f"{where}: enrolled_at {item['enrolled_at']}")
    ids = [item["id"] for item in items]
    expect(ids == sorted(set(ids)), f"{where}: not ordered by course id")
    return ids


def check_roster(page: Any, where: str) -> None:
    expect(isinstance(page, dict) and list(page) == ["items", "next_after"], f"{where}: members")
    items = page["items"]
    expect(len(items) <= 50, f"{where}: more than the limit")
    for item in items:
        expect(list(item) == ROSTER_ENTRY, f"{where}: members {list(item)}")
        expect(bool(RFC3339_Z.fullmatch(item["enrolled_at"])), f"{where}: enrolled_at")
    ids = [item["id"] for item in items]
    expect(ids == sorted(set(ids)), f"{where}: not ordered by student id")
    expect(page["next_after"] in (None, ids[-1] if ids else None), f"{where}: next_after")


def check_student(body: Any, where: str) -> None:
    expect(isinstance(body, dict) and list(body) == STUDENT, f"{where}: members {list(body)}")
    for member in ("created_at", "updated_at"):
        expect(bool(RFC3339_Z.fullmatch(body[member])), f"{where}: {member}")
    expect(len(check_course_infos(body["courses"], where)) == PER_STUDENT, f"{where}: seeded courses")


class Checker:
    """Remembers the first server's read answers, so that the next one must match them byte for byte."""

    def __init__(self) -> None:
        self.reference: dict[str, bytes] = {}

    def verify(self, port: int, ids: Ids, admin: str, reader: str, server: str) -> None:
        rng = random.Random(7)
        students = rng.sample(range(ids.student_lo, ids.student_hi + 1), 10)
        courses = rng.sample(range(ids.course_lo, ids.course_hi + 1), 5)
        try:
            self._reads(port, reader, students, courses)
            self._auth(port, reader, students[0])
            self._enroll(port, admin, students[0], ids)
        except WrongAnswer as wrong:
            raise WrongAnswer(f"{server}: {wrong}") from None
        print(f"   answers checked: {server} agrees with the contract", flush=True)

    def _read(self, port: int, path: str, token: str) -> Any:
        status, body = get(port, path, token)
        expect(status == 200, f"GET {path}: {status} {body[:200]!r}")
        expected = self.reference.setdefault(path, body)
        expect(body == expected, f"GET {path}: body differs from the first server's:\n{body!r}\n{expected!r}")
        return json.loads(body)

    def _reads(self, port: int, token: str, students: list[int], courses: list[int]) -> None:
        for student in students:
            path = f"/students/{student}/courses"
            expect(len(check_course_infos(self._read(port, path, token), path)) == PER_STUDENT, path)
            check_student(self._read(port, f"/students/{student}", token), f"/students/{student}")
        for course in courses:
            path = f"/courses/{course}/students?limit=50"
            check_roster(self._read(port, path, token), path)

    def _auth(self, port: int, reader: str, student: int) -> None:
        status, headers, _ = request(port, "GET", f"/students/{student}/courses")
        expect(status == 401 and headers["content-type"] == "application/problem+json", "no token: not 401")
        status, _, _ = request(port, "POST", f"/students/{student}/courses", reader, {"course_ids": [1]})
        expect(status == 403, f"reader writing: {status}, not 403")

    def _enroll(self, port: int, admin: str, student: int, ids: Ids) -> None:
        """Two new courses: 201 with the whole list; the same again: 200 with the same list."""
        _, before = get(port, f"/students/{student}/courses", admin)
        had = [c["id"] for c in json.loads(before)]
        new = [c for c in range(ids.course_lo, ids.course_hi + 1) if c not in had][:2]
        path = f"/students/{student}/courses"
        status, headers, first = request(port, "POST", path, admin, {"course_ids": [new[1], new[0]]})
        expect(status == 201, f"POST {path}: {status} {first[:200]!r}")
        expect(headers["content-type"] == "application/json" and "x-request-id" in headers, "POST headers")
        expect(check_course_infos(json.loads(first), path) == sorted(had + new), f"POST {path}: the list")
        status, _, again = request(port, "POST", path, admin, {"course_ids": new})
        expect(status == 200 and again == first, f"POST {path} again: {status}, not 200 with the same list")
        expect(get(port, path, admin)[1] == first, f"GET {path} after POST: not the POST's list")
