"""Mass assignment and limits: read-only and unknown members, oversized bodies and strings, NUL
bytes, non-Latin text, huge numbers and odd JSON; always a 4xx problem or an exact round trip,
never a 5xx, and a refused write changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import assert_problem, new_course, new_student

READ_ONLY_OR_UNKNOWN = {
    "id": 424242,
    "enrolled": 7,
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
    "role": "admin",
}
TWO_MB = 2 * 1024 * 1024
TEN_KB = "x" * 10_240
NON_LATIN = ["שלום עולם", "مرحبا", "👩\u200d🎓 Ada", "Zoë Ñúñez", "山田 太郎", "a\u0301\u200fb"]


async def everything(client: httpx.AsyncClient) -> dict[str, Any]:
    """All rows a client can see, to compare before and after a refused write."""
    students = (await client.get("/students", params={"limit": 1000})).json()["items"]
    return {
        "students": [(await client.get(f"/students/{s['id']}")).json() for s in students],
        "courses": (await client.get("/courses", params={"limit": 1000})).json()["items"],
    }


@pytest.fixture
async def rows(admin: httpx.AsyncClient) -> dict[str, Any]:
    student, course = await new_student(admin), await new_course(admin, capacity=5)
    response = await admin.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    assert response.status_code == 201, response.text
    return {"student": student, "course": course}


def writes(rows: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    s, c = rows["student"]["id"], rows["course"]["id"]
    return [
        ("POST", "/students", {"name": "Mallory", "email": "mallory@example.edu"}),
        ("PATCH", f"/students/{s}", {"name": "Mallory"}),
        ("POST", "/courses", {"code": "EVIL1", "title": "Evil"}),
        ("PATCH", f"/courses/{c}", {"title": "Evil"}),
        ("POST", f"/students/{s}/courses", {"course_ids": [c]}),
        ("PUT", f"/students/{s}/courses", {"course_ids": []}),
        ("POST", f"/students/{s}/enroll", {"course_id": c}),
        ("PUT", f"/students/{s}/enroll", {"course_ids": []}),
    ]


# ----------------------------------------------------------------------------- mass assignment


@pytest.mark.parametrize("member", sorted(READ_ONLY_OR_UNKNOWN))
@pytest.mark.parametrize("write", range(8), ids=lambda i: f"write{i}")
async def test_read_only_or_unknown_member_is_422_and_changes_nothing(
    admin: httpx.AsyncClient, rows: dict[str, Any], write: int, member: str
) -> None:
    method, path, body = writes(rows)[write]
    before = await everything(admin)

    response = await admin.request(method, path, json={**body, member: READ_ONLY_OR_UNKNOWN[member]})

    problem = assert_problem(response, 422, "validation-error")
    assert any(member in error["loc"] for error in problem["errors"]), problem
    assert await everything(admin) == before


async def test_setting_enrolled_cannot_make_room_in_a_full_course(admin: httpx.AsyncClient) -> None:
    course = await new_course(admin, capacity=0)

    response = await admin.patch(f"/courses/{course['id']}", json={"enrolled": -100})

    assert_problem(response, 422, "validation-error")
    assert (await admin.get(f"/courses/{course['id']}")).json() == course


# -------------------------------------------------------------------------------------- sizes


async def test_two_megabyte_body_is_413(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/students", json={"name": "x" * TWO_MB, "email": "big@example.edu"})

    assert_problem(response, 413, "payload-too-large")
    assert (await admin.get("/students")).json()["items"] == []


async def test_two_megabyte_body_without_content_length_is_413(admin: httpx.AsyncClient) -> None:
    async def chunks() -> Any:
        yield b'{"name": "'
        for _ in range(32):
            yield b"x" * (64 * 1024)
        yield b'", "email": "big@example.edu"}'

    response = await admin.post("/students", content=chunks())

    assert_problem(response, 413, "payload-too-large")
    assert (await admin.get("/students")).json()["items"] == []


@pytest.mark.parametrize(
    ("path", "member"),
    [("/students", "name"), ("/students", "email"), ("/courses", "code"), ("/courses", "title")],
)
async def test_ten_kilobyte_string_is_422(admin: httpx.AsyncClient, path: str, member: str) -> None:
    body = (
        {"name": "Ada", "email": "ada@example.edu"} if path == "/students" else {"code": "X1", "title": "T"}
    )

    response = await admin.post(path, json={**body, member: TEN_KB})

    assert_problem(response, 422, "validation-error")
    assert (await admin.get(path)).json()["items"] == []


async def test_ten_kilobyte_patch_is_422_and_changes_nothing(
    admin: httpx.AsyncClient, rows: dict[str, Any]
) -> None:
    student = rows["student"]

    response = await admin.patch(f"/students/{student['id']}", json={"name": TEN_KB})

    assert_problem(response, 422, "validation-error")
    assert (await admin.get(f"/students/{student['id']}")).json()["name"] == student["name"]


@pytest.mark.parametrize("member", ["email", "code"])
async def test_ten_kilobyte_filter_is_never_a_server_error(admin: httpx.AsyncClient, member: str) -> None:
    path = "/students" if member == "email" else "/courses"

    response = await admin.get(path, params={member: TEN_KB})

    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert response.json()["items"] == []


# ---------------------------------------------------------------------------------- NUL bytes


@pytest.mark.parametrize(
    ("path", "member"),
    [("/students", "name"), ("/students", "email"), ("/courses", "code"), ("/courses", "title")],
)
async def test_nul_byte_in_a_new_row_is_422(admin: httpx.AsyncClient, path: str, member: str) -> None:
    body = (
        {"name": "Ada", "email": "ada@example.edu"} if path == "/students" else {"code": "X1", "title": "T"}
    )
    bad = {"name": "Ada\x00", "email": "ada\x00@example.edu", "code": "X\x001", "title": "T\x00"}[member]

    response = await admin.post(path, json={**body, member: bad})

    assert_problem(response, 422, "validation-error")
    assert (await admin.get(path)).json()["items"] == []


@pytest.mark.parametrize("member", ["name", "email", "code", "title"])
async def test_nul_byte_in_a_patch_is_422_and_changes_nothing(
    admin: httpx.AsyncClient, rows: dict[str, Any], member: str
) -> None:
    row = rows["student"] if member in ("name", "email") else rows["course"]
    path = f"/students/{row['id']}" if member in ("name", "email") else f"/courses/{row['id']}"
    before = await everything(admin)

    response = await admin.patch(path, json={member: "\x00"})

    assert_problem(response, 422, "validation-error")
    assert await everything(admin) == before


@pytest.mark.parametrize(("path", "member"), [("/students", "email"), ("/courses", "code")])
async def test_nul_byte_in_a_filter_is_422(admin: httpx.AsyncClient, path: str, member: str) -> None:
    response = await admin.get(path, params={member: "a\x00b"})

    assert_problem(response, 422, "validation-error")


# ------------------------------------------------------------------------------ other scripts


@pytest.mark.parametrize("name", NON_LATIN)
async def test_non_latin_student_name_round_trips_exactly(admin: httpx.AsyncClient, name: str) -> None:
    created = await new_student(admin, name=name)
    renamed = await admin.patch(f"/students/{created['id']}", json={"name": name + " II"})

    assert created["name"] == name
    assert renamed.json()["name"] == name + " II"
    assert (await admin.get(f"/students/{created['id']}")).json()["name"] == name + " II"


@pytest.mark.parametrize("title", NON_LATIN)
async def test_non_latin_course_title_round_trips_exactly(admin: httpx.AsyncClient, title: str) -> None:
    course = await new_course(admin, title=title)
    student = await new_student(admin, name=title)
    await admin.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})

    assert (await admin.get(f"/courses/{course['id']}")).json()["title"] == title
    assert (await admin.get(f"/students/{student['id']}")).json()["courses"][0]["title"] == title
    assert (await admin.get(f"/courses/{course['id']}/students")).json()["items"][0]["name"] == title


# ----------------------------------------------------------------------------- numbers and JSON


@pytest.mark.parametrize("path", ["/students", "/courses", "/courses/{course}/students"])
async def test_limit_of_a_million_is_422(admin: httpx.AsyncClient, rows: dict[str, Any], path: str) -> None:
    response = await admin.get(path.format(course=rows["course"]["id"]), params={"limit": 1_000_000})

    problem = assert_problem(response, 422, "validation-error")
    assert ["query", "limit"] in [error["loc"] for error in problem["errors"]]


@pytest.mark.parametrize("huge", [10**30, 2**63, -(2**63) - 1, 1e30])
@pytest.mark.parametrize("form", ["course_id", "course_ids", "replace", "capacity"])
async def test_huge_number_in_a_body_is_422_and_changes_nothing(
    admin: httpx.AsyncClient, rows: dict[str, Any], form: str, huge: int | float
) -> None:
    s, c = rows["student"]["id"], rows["course"]["id"]
    method, path, body = {
        "course_id": ("POST", f"/students/{s}/courses", {"course_id": huge}),
        "course_ids": ("POST", f"/students/{s}/courses", {"course_ids": [c, huge]}),
        "replace": ("PUT", f"/students/{s}/courses", {"course_ids": [huge]}),
        "capacity": ("PATCH", f"/courses/{c}", {"capacity": huge}),
    }[form]
    before = await everything(admin)

    response = await admin.request(method, path, json=body)

    assert_problem(response, 422, "validation-error")
    assert await everything(admin) == before


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"name": ' * 10_000 + b"1" + b"}" * 10_000,
        b"42",
        b"-1e999",
        b"[]",
        b"null",
        b'"Ada"',
        b"",
        b"\xff\xfe",
    ],
    ids=[
        "deep-array",
        "deep-object",
        "number",
        "huge-number",
        "array",
        "null",
        "string",
        "empty",
        "not-utf8",
    ],
)
@pytest.mark.parametrize("path", ["/students", "/courses", "/students/{student}/courses"])
async def test_odd_json_body_is_a_4xx_problem(
    admin: httpx.AsyncClient, rows: dict[str, Any], path: str, body: bytes
) -> None:
    before = await everything(admin)

    response = await admin.post(path.format(student=rows["student"]["id"]), content=body)

    assert 400 <= response.status_code < 500, response.text
    assert response.status_code in (400, 422)
    assert_problem(
        response,
        response.status_code,
        "malformed-json" if response.status_code == 400 else "validation-error",
    )
    assert await everything(admin) == before
