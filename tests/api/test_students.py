"""/students through HTTP: creation and its normalisation, filters, partial updates, deletion."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.helpers import assert_problem, ids, new_course, new_student


async def enroll(client: httpx.AsyncClient, student_id: int, *course_ids: int) -> None:
    response = await client.post(f"/students/{student_id}/courses", json={"course_ids": list(course_ids)})
    assert response.status_code == 201, response.text


async def all_students(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/students", params={"limit": 1000})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def moment(timestamp: str) -> datetime:
    assert timestamp.endswith("Z"), timestamp
    return datetime.fromisoformat(timestamp.removesuffix("Z") + "+00:00")


# ---------------------------------------------------------------------------------------- create


async def test_create_student_answers_201_with_the_student_and_its_location(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/students", json={"name": "Ada Lovelace", "email": "ada@example.edu"})

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "name", "email", "created_at", "updated_at"}
    assert (body["name"], body["email"]) == ("Ada Lovelace", "ada@example.edu")
    assert isinstance(body["id"], int)
    assert body["id"] >= 1
    assert body["created_at"] == body["updated_at"]
    assert response.headers["location"].endswith(f"/students/{body['id']}")
    fetched = await admin.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json()["email"] == "ada@example.edu"


async def test_create_student_trims_the_name_and_lower_cases_the_email(admin: httpx.AsyncClient) -> None:
    body = await new_student(admin, name="  Ada Lovelace \t", email="  Ada.Lovelace@Example.EDU ")

    assert body["name"] == "Ada Lovelace"
    assert body["email"] == "ada.lovelace@example.edu"
    stored = (await admin.get(f"/students/{body['id']}")).json()
    assert (stored["name"], stored["email"]) == ("Ada Lovelace", "ada.lovelace@example.edu")


@pytest.mark.parametrize("email", ["josé@example.edu", "用户@例子.广告", "müller@bücher.de"])
async def test_create_student_accepts_international_addresses(admin: httpx.AsyncClient, email: str) -> None:
    body = await new_student(admin, email=email)

    assert body["email"] == email.lower()
    found = await admin.get("/students", params={"email": email})
    assert ids(found.json()["items"]) == [body["id"]]


@pytest.mark.parametrize(
    "email",
    ["", "   ", "no-at-sign", "two@@example.edu", "@example.edu", "ada@", "ada@example..edu", 42, None],
)
async def test_create_student_rejects_an_invalid_email(admin: httpx.AsyncClient, email: Any) -> None:
    response = await admin.post("/students", json={"name": "Ada", "email": email})

    problem = assert_problem(response, 422, "validation-error")
    assert any("email" in e["loc"] for e in problem["errors"])
    assert await all_students(admin) == []


async def test_create_student_with_a_taken_email_is_409_already_exists(admin: httpx.AsyncClient) -> None:
    first = await new_student(admin, email="ada@example.edu")

    response = await admin.post("/students", json={"name": "Other Ada", "email": "ada@example.edu"})

    assert_problem(response, 409, "already-exists")
    assert ids(await all_students(admin)) == [first["id"]]


async def test_create_student_with_a_taken_email_in_other_case_is_409(admin: httpx.AsyncClient) -> None:
    await new_student(admin, email="ada@example.edu")

    response = await admin.post("/students", json={"name": "Other Ada", "email": " ADA@Example.Edu "})

    assert_problem(response, 409, "already-exists")


@pytest.mark.parametrize("missing", ["name", "email"])
async def test_create_student_without_a_required_member_is_422(
    admin: httpx.AsyncClient, missing: str
) -> None:
    body = {"name": "Ada", "email": "ada@example.edu"}
    del body[missing]

    problem = assert_problem(await admin.post("/students", json=body), 422, "validation-error")

    assert any(missing in e["loc"] for e in problem["errors"])


# ----------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["A", "x" * 200, "  " + "y" * 200 + "  ", "Zoë Ünal-Ørsted", "李小龍", "🙂"])
async def test_create_student_accepts_names_of_1_to_200_characters(
    admin: httpx.AsyncClient, name: str
) -> None:
    body = await new_student(admin, name=name)

    assert body["name"] == name.strip()


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "\t\n",
        "x" * 201,
        "Ada\x00Lovelace",
        "Ada\nLovelace",
        "Ada\tLovelace",
        "Ada\x1bLovelace",
        "Ada\x7fLovelace",
        "Ada\x85Lovelace",
        42,
        None,
        ["Ada"],
    ],
)
async def test_create_student_rejects_a_bad_name(admin: httpx.AsyncClient, name: Any) -> None:
    response = await admin.post("/students", json={"name": name, "email": "ada@example.edu"})

    problem = assert_problem(response, 422, "validation-error")
    assert any("name" in e["loc"] for e in problem["errors"])
    assert await all_students(admin) == []


# --------------------------------------------------------------------------------------- filters


async def test_email_filter_finds_the_student_ignoring_case_and_spaces(admin: httpx.AsyncClient) -> None:
    await new_student(admin)
    ada = await new_student(admin, email="ada@example.edu")
    await new_student(admin)

    for query in ("ada@example.edu", "ADA@Example.EDU", "  Ada@example.edu  "):
        response = await admin.get("/students", params={"email": query})
        assert response.status_code == 200, response.text
        assert response.json() == {"items": [ada], "next_after": None}


async def test_email_filter_without_a_match_is_an_empty_page(admin: httpx.AsyncClient) -> None:
    await new_student(admin, email="ada@example.edu")

    response = await admin.get("/students", params={"email": "grace@example.edu"})

    assert response.status_code == 200
    assert response.json() == {"items": [], "next_after": None}


@pytest.mark.parametrize("query", ["not an address", "ada\x00@example.edu", "", "%"])
async def test_email_filter_with_an_odd_value_is_never_a_server_error(
    admin: httpx.AsyncClient, query: str
) -> None:
    await new_student(admin, email="ada@example.edu")

    response = await admin.get("/students", params={"email": query})

    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert response.json() == {"items": [], "next_after": None}
    else:
        assert_problem(response, 422, "validation-error")


# ------------------------------------------------------------------------------------------- get


async def test_get_student_carries_its_courses_ordered_by_course_id(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin)
    a, b, c = await new_course(admin), await new_course(admin), await new_course(admin)
    await enroll(admin, student["id"], c["id"])
    await enroll(admin, student["id"], a["id"])

    response = await admin.get(f"/students/{student['id']}")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in student} == student
    assert ids(body["courses"]) == [a["id"], c["id"]]
    assert b["id"] not in ids(body["courses"])
    for info, course in zip(body["courses"], (a, c), strict=True):
        assert set(info) == {"id", "code", "title", "enrolled_at"}
        assert (info["code"], info["title"]) == (course["code"], course["title"])


async def test_get_student_without_courses_has_an_empty_course_list(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin)

    body = (await admin.get(f"/students/{student['id']}")).json()

    assert body == {**student, "courses": []}


async def test_get_unknown_student_is_404(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin)

    assert_problem(await admin.get(f"/students/{student['id'] + 1}"), 404, "not-found")


# ----------------------------------------------------------------------------------------- patch


async def test_patch_name_only_keeps_the_email(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin, name="Ada", email="ada@example.edu")

    response = await admin.patch(f"/students/{student['id']}", json={"name": "  Ada Lovelace  "})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["email"]) == ("Ada Lovelace", "ada@example.edu")
    assert body["created_at"] == student["created_at"]
    assert moment(body["updated_at"]) > moment(student["updated_at"])
    assert (await admin.get(f"/students/{student['id']}")).json()["name"] == "Ada Lovelace"


async def test_patch_email_only_keeps_the_name_and_normalises(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin, name="Ada", email="ada@example.edu")

    response = await admin.patch(f"/students/{student['id']}", json={"email": " Countess@Example.EDU "})

    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["email"]) == ("Ada", "countess@example.edu")


async def test_patch_with_same_name_keeps_updated_at(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin, name="Ada")
    await asyncio.sleep(0.01)

    response = await admin.patch(f"/students/{student['id']}", json={"name": " Ada "})

    assert response.status_code == 200
    assert response.json() == student


async def test_patch_with_same_email_in_other_case_keeps_updated_at(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin, email="ada@example.edu")
    await asyncio.sleep(0.01)

    response = await admin.patch(f"/students/{student['id']}", json={"email": "ADA@example.edu"})

    assert response.status_code == 200
    assert response.json() == student


async def test_patch_with_empty_body_object_changes_nothing(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin)

    response = await admin.patch(f"/students/{student['id']}", json={})

    assert response.status_code == 200
    assert response.json() == student


async def test_patch_that_changes_a_value_moves_updated_at(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin, name="Ada")
    await asyncio.sleep(0.01)

    body = (await admin.patch(f"/students/{student['id']}", json={"name": "Grace"})).json()

    assert moment(body["updated_at"]) > moment(student["updated_at"])
    assert body["created_at"] == student["created_at"]


async def test_patch_to_a_taken_email_is_409_and_changes_nothing(admin: httpx.AsyncClient) -> None:
    await new_student(admin, email="ada@example.edu")
    grace = await new_student(admin, email="grace@example.edu")

    response = await admin.patch(f"/students/{grace['id']}", json={"email": "ADA@example.edu", "name": "X"})

    assert_problem(response, 409, "already-exists")
    stored = (await admin.get(f"/students/{grace['id']}")).json()
    assert {k: stored[k] for k in grace} == grace


@pytest.mark.parametrize("member", ["name", "email"])
async def test_patch_with_null_is_422(admin: httpx.AsyncClient, member: str) -> None:
    student = await new_student(admin)

    response = await admin.patch(f"/students/{student['id']}", json={member: None})

    problem = assert_problem(response, 422, "validation-error")
    assert any(member in e["loc"] for e in problem["errors"])
    assert (await admin.get(f"/students/{student['id']}")).json()[member] == student[member]


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": "x" * 201}, {"name": "A\x00B"}, {"email": "nope"}, {"email": ""}]
)
async def test_patch_with_an_invalid_value_is_422(admin: httpx.AsyncClient, body: dict[str, Any]) -> None:
    student = await new_student(admin)

    assert_problem(await admin.patch(f"/students/{student['id']}", json=body), 422, "validation-error")
    stored = (await admin.get(f"/students/{student['id']}")).json()
    assert {k: stored[k] for k in student} == student


async def test_patch_unknown_student_is_404(admin: httpx.AsyncClient) -> None:
    response = await admin.patch("/students/12345", json={"name": "Nobody"})

    assert_problem(response, 404, "not-found")


# ---------------------------------------------------------------------------------------- delete


async def test_delete_student_is_204_then_404(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin)

    response = await admin.delete(f"/students/{student['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await admin.get(f"/students/{student['id']}"), 404, "not-found")
    assert_problem(await admin.delete(f"/students/{student['id']}"), 404, "not-found")
    assert await all_students(admin) == []


async def test_delete_student_gives_the_seats_back(admin: httpx.AsyncClient) -> None:
    a, b = await new_course(admin, capacity=1), await new_course(admin)
    leaving, staying = await new_student(admin), await new_student(admin)
    await enroll(admin, leaving["id"], a["id"], b["id"])
    await enroll(admin, staying["id"], b["id"])

    assert (await admin.delete(f"/students/{leaving['id']}")).status_code == 204

    assert (await admin.get(f"/courses/{a['id']}")).json()["enrolled"] == 0
    assert (await admin.get(f"/courses/{b['id']}")).json()["enrolled"] == 1
    roster = (await admin.get(f"/courses/{b['id']}/students")).json()
    assert ids(roster["items"]) == [staying["id"]]
    # The freed seat can be taken again.
    newcomer = await new_student(admin)
    await enroll(admin, newcomer["id"], a["id"])


async def test_delete_student_frees_its_email(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin, email="ada@example.edu")
    assert (await admin.delete(f"/students/{student['id']}")).status_code == 204

    again = await new_student(admin, email="ada@example.edu")

    assert again["email"] == "ada@example.edu"
    assert ids(await all_students(admin)) == [again["id"]]


async def test_delete_student_keeps_other_students(admin: httpx.AsyncClient) -> None:
    a, b, c = await new_student(admin), await new_student(admin), await new_student(admin)

    assert (await admin.delete(f"/students/{b['id']}")).status_code == 204

    assert ids(await all_students(admin)) == [a["id"], c["id"]]


async def test_a_deleted_students_id_is_never_given_again(admin: httpx.AsyncClient) -> None:
    first = await new_student(admin)
    assert (await admin.delete(f"/students/{first['id']}")).status_code == 204
    second = await new_student(admin)
    assert second["id"] > first["id"]


@pytest.mark.parametrize(
    ("written", "asked"),
    [
        ("Ada@B\u00fccher.example", "ada@xn--bcher-kva.example"),  # an IDNA domain, as ASCII
        ("ada@xn--bcher-kva.example", " ADA@B\u00dcCHER.EXAMPLE "),  # the same, in Unicode
        ("jos\u00e9@example.com", "jose\u0301@Example.com"),  # composed and decomposed e-acute
    ],
    ids=["idna", "unicode-domain", "nfc"],
)
async def test_email_filter_finds_a_student_however_the_address_is_written(
    admin: httpx.AsyncClient, written: str, asked: str
) -> None:
    created = await admin.post("/students", json={"name": "Ada", "email": written})
    assert created.status_code == 201, created.text
    found = await admin.get("/students", params={"email": asked})
    assert [s["id"] for s in found.json()["items"]] == [created.json()["id"]]


async def test_email_filter_with_something_that_is_not_an_address_finds_nobody(
    admin: httpx.AsyncClient,
) -> None:
    await admin.post("/students", json={"name": "Ada", "email": "ada@example.edu"})
    found = await admin.get("/students", params={"email": "not an address"})
    assert found.status_code == 200
    assert found.json() == {"items": [], "next_after": None}
