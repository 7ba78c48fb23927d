from __future__ import annotations

import httpx

from tests.helpers import assert_problem, ids, new_course, new_student


async def test_enroll_then_list_courses(admin: httpx.AsyncClient) -> None:
    student, a, b = await new_student(admin), await new_course(admin), await new_course(admin)
    response = await admin.post(f"/students/{student['id']}/courses", json={"course_ids": [b["id"], a["id"]]})
    assert response.status_code == 201
    assert ids(response.json()) == [a["id"], b["id"]]


async def test_missing_token_is_401(anon: httpx.AsyncClient) -> None:
    assert_problem(await anon.get("/students"), 401, "unauthorized")
