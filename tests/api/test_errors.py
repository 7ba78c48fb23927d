"""Section 5 of the contract: problems, body parsing, routes, path and body ids, body size, request
ids, timestamps, and the order in which the checks answer."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.helpers import assert_problem, new_course, new_student

MIB = 1024 * 1024
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
LEAKS = ("Traceback", 'File "', "sqlite", "asyncpg", "psycopg", "SELECT ", "INSERT ", "UPDATE ", "constraint")


async def count_rows(client: httpx.AsyncClient) -> tuple[int, int]:
    students = (await client.get("/students", params={"limit": 1000})).json()["items"]
    courses = (await client.get("/courses", params={"limit": 1000})).json()["items"]
    return len(students), len(courses)


def json_bytes(body: Any) -> bytes:
    return json.dumps(body).encode()


def padded(body: dict[str, Any], size: int) -> bytes:
    """The body as JSON of exactly `size` bytes (insignificant white space at its end)."""
    raw = json_bytes(body)
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def assert_no_leak(response: httpx.Response) -> None:
    for word in LEAKS:
        assert word.lower() not in response.text.lower(), response.text


# ------------------------------------------------------------------------------- problem bodies


async def test_validation_problem_lists_its_errors_with_loc_and_msg(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/students", json={"name": "", "email": "nope"})

    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"]
    assert all(set(e) >= {"loc", "msg"} for e in problem["errors"])
    assert all(isinstance(e["loc"], list) and isinstance(e["msg"], str) for e in problem["errors"])
    assert {e["loc"][-1] for e in problem["errors"]} == {"name", "email"}


async def test_problem_type_is_a_uri(admin: httpx.AsyncClient) -> None:
    problem = assert_problem(await admin.get("/nowhere"), 404, "not-found")

    assert re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", problem["type"]), problem["type"]


async def test_taken_email_conflict_reveals_no_database_text(admin: httpx.AsyncClient) -> None:
    await new_student(admin, email="ada@example.edu")
    student = await new_student(admin)

    for response in (
        await admin.post("/students", json={"name": "A", "email": "ada@example.edu"}),
        await admin.patch(f"/students/{student['id']}", json={"email": "ada@example.edu"}),
    ):
        assert_problem(response, 409, "already-exists")
        assert_no_leak(response)
        assert "ada@example.edu" not in response.text


async def test_taken_code_conflict_reveals_no_database_text(admin: httpx.AsyncClient) -> None:
    await new_course(admin, code="CS101")
    course = await new_course(admin)

    for response in (
        await admin.post("/courses", json={"code": "CS101", "title": "T"}),
        await admin.patch(f"/courses/{course['id']}", json={"code": "cs101"}),
    ):
        assert_problem(response, 409, "already-exists")
        assert_no_leak(response)


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "slug"),
    [
        ("GET", "/nowhere", None, 404, "not-found"),
        ("GET", "/students/0", None, 404, "not-found"),
        ("GET", "/students/77", None, 404, "not-found"),
        ("DELETE", "/students", None, 405, "method-not-allowed"),
        ("POST", "/students", b"{", 400, "malformed-json"),
        ("POST", "/students", b"[]", 422, "validation-error"),
        ("POST", "/students", b"x" * (MIB + 1), 413, "payload-too-large"),
        ("POST", "/students/77/courses", b'{"course_id": 1}', 404, "not-found"),
    ],
)
async def test_every_error_is_a_problem_without_internals(
    admin: httpx.AsyncClient, method: str, path: str, content: bytes | None, status: int, slug: str
) -> None:
    response = await admin.request(method, path, content=content)

    assert_problem(response, status, slug)
    assert_no_leak(response)


# ------------------------------------------------------------------------------------ body parsing


@pytest.mark.parametrize(
    "content",
    [b"{", b'{"name": "Ada",}', b"not json", b"{'name': 'Ada'}", b"\xff\xfe\x00", b'{"name": "Ada"'],
)
async def test_a_body_that_is_not_json_is_400(admin: httpx.AsyncClient, content: bytes) -> None:
    response = await admin.post("/students", content=content, headers={"content-type": "application/json"})

    assert_problem(response, 400, "malformed-json")
    assert await count_rows(admin) == (0, 0)


async def test_malformed_json_to_patch_is_400(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin)

    response = await admin.patch(f"/students/{student['id']}", content=b'{"name": ')

    assert_problem(response, 400, "malformed-json")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "foo/bar"])
async def test_a_body_is_read_as_json_whatever_its_content_type(
    admin: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    content = json_bytes({"name": "Ada", "email": "ada@example.edu"})

    response = await admin.post("/students", content=content, headers=headers)

    assert response.status_code == 201, response.text
    assert response.json()["email"] == "ada@example.edu"


async def test_a_non_json_body_sent_as_text_plain_is_still_400(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/students", content=b"name=Ada", headers={"content-type": "text/plain"})

    assert_problem(response, 400, "malformed-json")


@pytest.mark.parametrize(
    "content", [b"[]", b'[{"name": "Ada", "email": "ada@example.edu"}]', b"42", b'"Ada"', b"true", b"null"]
)
async def test_json_that_is_not_an_object_is_422(admin: httpx.AsyncClient, content: bytes) -> None:
    response = await admin.post("/students", content=content)

    assert_problem(response, 422, "validation-error")
    assert await count_rows(admin) == (0, 0)


async def test_deeply_nested_json_is_refused_without_a_server_error(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/students", content=b"[" * 100_000 + b"]" * 100_000)

    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/students"), ("POST", "/courses"), ("PATCH", "/students/1"), ("PATCH", "/courses/1")],
)
async def test_empty_body_where_one_is_needed_is_422(
    admin: httpx.AsyncClient, method: str, path: str
) -> None:
    await new_student(admin)
    await new_course(admin)

    response = await admin.request(method, path, content=b"")

    assert_problem(response, 422, "validation-error")


async def test_empty_body_to_enroll_is_422(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin)

    response = await admin.post(f"/students/{student['id']}/courses", content=b"")

    assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/students", {"name": "Ada", "email": "ada@example.edu", "nickname": "Countess"}),
        ("/courses", {"code": "CS101", "title": "Intro", "room": "B12"}),
    ],
)
async def test_unknown_member_in_a_create_body_is_422_and_writes_nothing(
    admin: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    problem = assert_problem(await admin.post(path, json=body), 422, "validation-error")

    assert any(e["loc"][-1] in ("nickname", "room") for e in problem["errors"])
    assert await count_rows(admin) == (0, 0)


async def test_unknown_member_in_a_patch_is_422_and_writes_nothing(admin: httpx.AsyncClient) -> None:
    student, course = await new_student(admin), await new_course(admin)

    for path, body in (
        (f"/students/{student['id']}", {"name": "Changed", "nickname": "X"}),
        (f"/courses/{course['id']}", {"title": "Changed", "room": "B12"}),
    ):
        assert_problem(await admin.patch(path, json=body), 422, "validation-error")

    assert (await admin.get(f"/students/{student['id']}")).json()["name"] == student["name"]
    assert (await admin.get(f"/courses/{course['id']}")).json() == course


async def test_unknown_member_in_an_enroll_body_is_422_and_writes_nothing(admin: httpx.AsyncClient) -> None:
    student, course = await new_student(admin), await new_course(admin)

    response = await admin.post(
        f"/students/{student['id']}/courses", json={"course_ids": [course["id"]], "note": "x"}
    )

    assert_problem(response, 422, "validation-error")
    assert (await admin.get(f"/students/{student['id']}/courses")).json() == []


READ_ONLY = {
    "id": 99,
    "enrolled": 0,
    "created_at": "2026-11-22T10:00:00Z",
    "updated_at": "2026-11-22T10:00:00Z",
}


@pytest.mark.parametrize("member", sorted(READ_ONLY))
async def test_read_only_member_in_a_student_body_is_422_and_writes_nothing(
    admin: httpx.AsyncClient, member: str
) -> None:
    extra = {member: READ_ONLY[member]}
    created = await admin.post("/students", json={"name": "Ada", "email": "ada@example.edu", **extra})
    assert_problem(created, 422, "validation-error")
    student = await new_student(admin)

    patched = await admin.patch(f"/students/{student['id']}", json={"name": "Changed", **extra})

    assert_problem(patched, 422, "validation-error")
    assert (await admin.get(f"/students/{student['id']}")).json()["name"] == student["name"]
    assert await count_rows(admin) == (1, 0)


@pytest.mark.parametrize("member", sorted(READ_ONLY))
async def test_read_only_member_in_a_course_body_is_422_and_writes_nothing(
    admin: httpx.AsyncClient, member: str
) -> None:
    extra = {member: READ_ONLY[member]}
    created = await admin.post("/courses", json={"code": "CS101", "title": "Intro", **extra})
    assert_problem(created, 422, "validation-error")
    course = await new_course(admin)

    patched = await admin.patch(f"/courses/{course['id']}", json={"title": "Changed", **extra})

    assert_problem(patched, 422, "validation-error")
    assert (await admin.get(f"/courses/{course['id']}")).json() == course
    assert await count_rows(admin) == (0, 1)


# ------------------------------------------------------------------------------- routes, methods


@pytest.mark.parametrize("path", ["/", "/nowhere", "/student", "/students/1/grades", "/courses/1/students/2"])
async def test_unknown_route_is_404_even_without_a_token(anon: httpx.AsyncClient, path: str) -> None:
    assert_problem(await anon.get(path), 404, "not-found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/students"),
        ("DELETE", "/students"),
        ("PATCH", "/courses"),
        ("POST", "/students/1"),
        ("PUT", "/courses/1"),
        ("POST", "/courses/1/students"),
        ("PATCH", "/students/1/courses"),
        ("GET", "/students/1/courses/2"),
        ("GET", "/students/1/enroll"),
        ("POST", "/healthz"),
    ],
)
async def test_wrong_method_on_a_known_path_is_405_even_without_a_token(
    anon: httpx.AsyncClient, method: str, path: str
) -> None:
    assert_problem(await anon.request(method, path, json={}), 405, "method-not-allowed")


@pytest.mark.parametrize(
    "path", ["/students/", "/courses/", "/students/1/", "/courses/1/", "/courses/1/students/"]
)
async def test_trailing_slash_is_404_never_a_redirect(admin: httpx.AsyncClient, path: str) -> None:
    await new_student(admin)
    await new_course(admin)

    for method in ("GET", "POST"):
        response = await admin.request(method, path, json={"name": "Ada", "email": "ada@example.edu"})
        assert "location" not in response.headers
        assert_problem(response, 404, "not-found")
    assert await count_rows(admin) == (1, 1)


# ------------------------------------------------------------------------------------------- ids

BAD_PATH_IDS = ["abc", "0", "-1", "1.5", "1e3", "9223372036854775808", "99999999999999999999", "%20"]


@pytest.mark.parametrize("bad", BAD_PATH_IDS)
@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/students/{}"),
        ("PATCH", "/students/{}"),
        ("DELETE", "/courses/{}"),
        ("GET", "/courses/{}/students"),
        ("POST", "/students/{}/courses"),
        ("PUT", "/students/{}/enroll"),
        ("DELETE", "/students/1/courses/{}"),
    ],
)
async def test_path_id_that_is_not_an_id_is_404_before_authentication(
    anon: httpx.AsyncClient, bad: str, method: str, template: str
) -> None:
    response = await anon.request(method, template.format(bad), json={})

    assert_problem(response, 404, "not-found")
    assert "www-authenticate" not in response.headers


async def test_largest_path_id_reaches_authentication(anon: httpx.AsyncClient) -> None:
    assert_problem(await anon.get("/students/9223372036854775807"), 401, "unauthorized")


@pytest.mark.parametrize("path", ["/students/9223372036854775807", "/courses/9223372036854775807"])
async def test_largest_path_id_is_a_404_of_the_resource(admin: httpx.AsyncClient, path: str) -> None:
    response = await admin.get(path)

    assert_problem(response, 404, "not-found")
    assert_no_leak(response)


@pytest.mark.parametrize("bad", ["3", True, False, 1.5, 0, -1, 2**63, None, [1], {"id": 1}])
async def test_body_course_id_that_is_not_an_id_is_422(admin: httpx.AsyncClient, bad: Any) -> None:
    student = await new_student(admin)
    await new_course(admin)

    for body in ({"course_id": bad}, {"course_ids": [bad]}):
        response = await admin.post(f"/students/{student['id']}/courses", json=body)
        assert_problem(response, 422, "validation-error")
    replaced = await admin.put(f"/students/{student['id']}/courses", json={"course_ids": [bad]})
    assert_problem(replaced, 422, "validation-error")
    assert (await admin.get(f"/students/{student['id']}/courses")).json() == []


# ------------------------------------------------------------------------------------- body size


async def test_body_over_one_mib_is_413(admin: httpx.AsyncClient) -> None:
    content = padded({"name": "Ada", "email": "ada@example.edu"}, MIB + 1)

    response = await admin.post("/students", content=content)

    assert_problem(response, 413, "payload-too-large")
    assert await count_rows(admin) == (0, 0)


async def test_body_of_exactly_one_mib_is_accepted(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/students", content=padded({"name": "Ada", "email": "ada@example.edu"}, MIB))

    assert response.status_code == 201, response.text


async def test_body_just_under_one_mib_is_accepted(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/courses", content=padded({"code": "CS101", "title": "Intro"}, MIB - 1))

    assert response.status_code == 201, response.text


async def test_oversized_body_sent_without_length_is_413(admin: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "Ada", "email": "ada@example.edu"}'
        for _ in range(17):
            yield b" " * 65536

    response = await admin.post("/students", content=chunks())

    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large")
    assert await count_rows(admin) == (0, 0)


async def test_oversized_body_sent_without_length_with_an_idempotency_key_is_413(
    admin: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "Ada", "email": "ada@example.edu"}'
        for _ in range(17):
            yield b" " * 65536

    response = await admin.post("/students", content=chunks(), headers={"idempotency-key": "big-1"})

    assert_problem(response, 413, "payload-too-large")
    assert await count_rows(admin) == (0, 0)


async def test_oversized_patch_is_413_and_changes_nothing(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin)

    response = await admin.patch(f"/students/{student['id']}", content=padded({"name": "Changed"}, MIB + 10))

    assert_problem(response, 413, "payload-too-large")
    assert (await admin.get(f"/students/{student['id']}")).json()["name"] == student["name"]


# ------------------------------------------------------------------------------------ request ids


@pytest.mark.parametrize("given", ["abc", "x", "a" * 128, "req-1:/{}~!", "0" * 64])
async def test_request_id_of_1_to_128_visible_characters_is_echoed(
    admin: httpx.AsyncClient, given: str
) -> None:
    response = await admin.get("/students", headers={"x-request-id": given})

    assert response.headers["x-request-id"] == given


@pytest.mark.parametrize("given", ["", "a" * 129, "has space", "tab\there", " lead", "trail "])
async def test_invalid_request_id_is_replaced_by_a_new_one(admin: httpx.AsyncClient, given: str) -> None:
    response = await admin.get("/students", headers={"x-request-id": given})

    new = response.headers["x-request-id"]
    assert new != given
    assert 1 <= len(new) <= 128
    assert all(33 <= ord(ch) <= 126 for ch in new)


async def test_new_request_ids_differ_between_requests(admin: httpx.AsyncClient) -> None:
    first, second = await admin.get("/students"), await admin.get("/students")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_every_response_carries_a_request_id(
    admin: httpx.AsyncClient, anon: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    student = await new_student(admin)
    responses = [
        await admin.post("/students", json={"name": "B", "email": "b@example.edu"}),  # 201
        await admin.get("/students"),  # 200
        await admin.delete(f"/students/{student['id']}"),  # 204
        await admin.post("/students", content=b"{"),  # 400
        await anon.get("/students"),  # 401
        await reader.delete("/students/1"),  # 403
        await anon.get("/nowhere"),  # 404 route
        await admin.get("/students/999"),  # 404 resource
        await anon.delete("/students"),  # 405
        await admin.post("/students", json={"name": "B", "email": "b@example.edu"}),  # 409
        await anon.post("/students", content=b" " * (MIB + 1)),  # 413
        await admin.post("/students", json={}),  # 422
        await anon.get("/healthz"),  # open
    ]

    statuses = [r.status_code for r in responses]
    assert statuses == [201, 200, 204, 400, 401, 403, 404, 404, 405, 409, 413, 422, 200]
    for response in responses:
        assert response.headers.get("x-request-id"), (response.status_code, response.headers)
        assert len(response.headers.get_list("x-request-id")) == 1


async def test_request_id_is_echoed_on_errors_before_authentication(anon: httpx.AsyncClient) -> None:
    for response in (
        await anon.get("/students", headers={"x-request-id": "trace-401"}),
        await anon.get("/nowhere", headers={"x-request-id": "trace-404"}),
        await anon.post("/students", content=b" " * (MIB + 1), headers={"x-request-id": "trace-413"}),
    ):
        assert response.headers["x-request-id"] == f"trace-{response.status_code}"


# ------------------------------------------------------------------------------------- timestamps


async def test_timestamps_are_rfc3339_utc_with_z(admin: httpx.AsyncClient) -> None:
    student, course = await new_student(admin), await new_course(admin)
    enrolled = await admin.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    patched = await admin.patch(f"/students/{student['id']}", json={"name": "Renamed"})

    stamps = [
        student["created_at"],
        course["created_at"],
        course["updated_at"],
        enrolled.json()[0]["enrolled_at"],
        patched.json()["updated_at"],
        (await admin.get(f"/students/{student['id']}")).json()["courses"][0]["enrolled_at"],
        (await admin.get(f"/courses/{course['id']}/students")).json()["items"][0]["enrolled_at"],
    ]

    for stamp in stamps:
        assert RFC3339_UTC.match(stamp), stamp


# -------------------------------------------------------------------------------- order of checks


async def test_unknown_path_beats_everything(anon: httpx.AsyncClient) -> None:
    response = await anon.post("/nowhere", content=b"{" + b" " * MIB)

    assert_problem(response, 404, "not-found")


async def test_wrong_method_beats_body_size_and_authentication(anon: httpx.AsyncClient) -> None:
    response = await anon.put("/students", content=b" " * (MIB + 1))

    assert_problem(response, 405, "method-not-allowed")


async def test_body_size_beats_authentication(anon: httpx.AsyncClient) -> None:
    response = await anon.post("/students", content=b"{" * (MIB + 1))

    assert_problem(response, 413, "payload-too-large")
    assert "www-authenticate" not in response.headers


async def test_body_size_beats_role(reader: httpx.AsyncClient) -> None:
    response = await reader.post("/students", content=b"{" * (MIB + 1))

    assert_problem(response, 413, "payload-too-large")


async def test_authentication_beats_malformed_json(anon: httpx.AsyncClient) -> None:
    response = await anon.post("/students", content=b"{")

    assert_problem(response, 401, "unauthorized")


async def test_authentication_beats_the_missing_resource(anon: httpx.AsyncClient) -> None:
    assert_problem(await anon.get("/students/12345"), 401, "unauthorized")


@pytest.mark.parametrize(
    "content", [b"{", b"not json", b"[]", b'{"name": ""}', b'{"bogus": 1}'], ids=lambda c: c.decode()
)
async def test_role_beats_body_syntax_and_validation(
    admin: httpx.AsyncClient, reader: httpx.AsyncClient, content: bytes
) -> None:
    student = await new_student(admin)

    for method, path in (("POST", "/students"), ("PATCH", f"/students/{student['id']}")):
        assert_problem(await reader.request(method, path, content=content), 403, "forbidden")


async def test_role_beats_the_missing_resource(reader: httpx.AsyncClient) -> None:
    assert_problem(await reader.delete("/students/12345"), 403, "forbidden")


async def test_malformed_json_beats_validation(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/students", content=b'{"bogus": 1, "name": ""')

    assert_problem(response, 400, "malformed-json")


async def test_malformed_json_beats_the_missing_resource(admin: httpx.AsyncClient) -> None:
    response = await admin.patch("/students/12345", content=b"{")

    assert_problem(response, 400, "malformed-json")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/students/12345", {"name": ""}),
        ("PATCH", "/courses/12345", {"capacity": -1}),
        ("POST", "/students/12345/courses", {"course_ids": []}),
        ("POST", "/students/12345/courses", {"course_id": "x"}),
        ("PUT", "/students/12345/courses", {"course_ids": [0]}),
    ],
)
async def test_validation_beats_the_missing_resource(
    admin: httpx.AsyncClient, method: str, path: str, body: dict[str, Any]
) -> None:
    assert_problem(await admin.request(method, path, json=body), 422, "validation-error")


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_missing_student_beats_the_enrollment_rules(admin: httpx.AsyncClient, method: str) -> None:
    full = await new_course(admin, capacity=0)

    response = await admin.request(method, "/students/12345/courses", json={"course_ids": [full["id"], 999]})

    assert_problem(response, 404, "not-found")
