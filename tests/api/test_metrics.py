"""GET /metrics (contract section 10), through the app on both engines: who may scrape, the text
format, and counts that follow known traffic, labelled by route templates only."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from registrar import metrics
from registrar.app import create_app
from registrar.config import Settings
from tests.conftest import client_for
from tests.helpers import assert_problem, new_course, new_student

Labels = tuple[tuple[str, str], ...]
Scrape = dict[str, dict[Labels, float]]

# What a label value may never look like: an id (a run of digits) or an e-mail address.
ID_OR_EMAIL = re.compile(r"\d{2,}|@")
STATUS = re.compile(r"\d{3}")


def parse(text: str) -> Scrape:
    """Every sample of a scrape: name -> labels -> value."""
    found: Scrape = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return parse(response.text)


def value(found: Scrape, name: str, **labels: str) -> float:
    return found.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def requests_counted(found: Scrape, method: str, route: str, status: int) -> float:
    return value(found, "registrar_http_requests_total", method=method, route=route, status=str(status))


def enrollment_changes(found: Scrape) -> tuple[float, float]:
    name = "registrar_enrollment_changes_total"
    return value(found, name, change="enrolled"), value(found, name, change="dropped")


async def test_metrics_needs_a_key(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/metrics")
    assert_problem(response, 401, "unauthorized")


async def test_a_reader_gets_the_prometheus_text_format(reader: httpx.AsyncClient) -> None:
    response = await reader.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    found = parse(response.text)
    for name in (
        "registrar_waitlist_promotions_total",
        "registrar_auth_failures_total",
        "registrar_db_pool_connections",
        "registrar_db_pool_connections_in_use",
        "registrar_db_pool_max_connections",
    ):
        assert name in found, name
    assert set(found["registrar_enrollment_changes_total"]) == {
        (("change", "dropped"),),
        (("change", "enrolled"),),
    }


async def test_the_pool_gauges_show_this_workers_connections(app: FastAPI, reader: httpx.AsyncClient) -> None:
    found = await scrape(reader)
    usage = app.state.runtime.db.usage()
    assert value(found, "registrar_db_pool_max_connections") == usage.limit
    assert (
        0
        <= value(found, "registrar_db_pool_connections_in_use")
        <= value(found, "registrar_db_pool_connections")
    )
    assert value(found, "registrar_db_pool_connections") <= usage.limit


async def test_requests_are_counted_by_route_template(
    admin: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    students = [await new_student(admin) for _ in range(3)]
    before = await scrape(reader)
    for student in students:
        assert (await reader.get(f"/students/{student['id']}")).status_code == 200
    after = await scrape(reader)
    route = "/students/{student_id}"
    assert requests_counted(after, "GET", route, 200) - requests_counted(before, "GET", route, 200) == 3
    count = "registrar_http_request_duration_seconds_count"
    assert (
        value(after, count, method="GET", route=route) - value(before, count, method="GET", route=route) == 3
    )


async def test_an_unknown_route_is_counted_as_unmatched(reader: httpx.AsyncClient) -> None:
    before = await scrape(reader)
    assert (await reader.get("/no/such/route/12345/ada@example.edu")).status_code == 404
    assert (await reader.request("BREW", "/students")).status_code == 405
    after = await scrape(reader)
    assert (
        requests_counted(after, "GET", "unmatched", 404) - requests_counted(before, "GET", "unmatched", 404)
        == 1
    )
    assert (
        requests_counted(after, "other", "unmatched", 405)
        - requests_counted(before, "other", "unmatched", 405)
        == 1
    )


async def test_no_label_holds_an_id_or_an_email(admin: httpx.AsyncClient, reader: httpx.AsyncClient) -> None:
    student, course = await new_student(admin, email="Grace.Hopper@Example.edu"), await new_course(admin)
    await admin.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    await reader.get(f"/students/{student['id']}/courses")
    await reader.get("/students", params={"email": "grace.hopper@example.edu"})
    await reader.get(f"/courses/{course['id'] + 1000}")
    await reader.get("/students/grace.hopper@example.edu")
    for samples in (await scrape(reader)).values():
        for labels in samples:
            for name, label in labels:
                if name == "status":
                    assert STATUS.fullmatch(label), labels
                elif name != "le":
                    assert not ID_OR_EMAIL.search(label), labels


async def test_only_committed_enrollment_changes_are_counted(
    admin: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    student, other = await new_student(admin), await new_student(admin)
    a, b, full = await new_course(admin), await new_course(admin), await new_course(admin, capacity=1)
    assert (
        await admin.post(f"/students/{other['id']}/courses", json={"course_id": full["id"]})
    ).status_code == 201
    before = enrollment_changes(await scrape(reader))

    enrolled = await admin.post(f"/students/{student['id']}/courses", json={"course_ids": [a["id"], b["id"]]})
    assert enrolled.status_code == 201
    assert enrollment_changes(await scrape(reader)) == (before[0] + 2, before[1])

    refused = await admin.post(f"/students/{student['id']}/courses", json={"course_ids": [full["id"]]})
    assert_problem(refused, 409, "course-full")
    again = await admin.post(f"/students/{student['id']}/courses", json={"course_ids": [a["id"]]})
    assert again.status_code == 200
    assert enrollment_changes(await scrape(reader)) == (before[0] + 2, before[1])

    assert (await admin.delete(f"/students/{student['id']}/courses/{a['id']}")).status_code == 204
    assert enrollment_changes(await scrape(reader)) == (before[0] + 2, before[1] + 1)


async def test_failed_authentications_are_counted(app: FastAPI, reader: httpx.AsyncClient) -> None:
    before = value(await scrape(reader), "registrar_auth_failures_total")
    async with client_for(app, "not-a-key") as stranger:
        assert (await stranger.get("/students")).status_code == 401
    async with client_for(app, None) as anonymous:
        assert (await anonymous.get("/courses")).status_code == 401
    assert value(await scrape(reader), "registrar_auth_failures_total") == before + 2


def counted_here(name: str, **labels: str) -> float:
    """A value of this process's metrics, read without a scrape."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_durations_land_in_the_buckets_observe_would_put_them_in() -> None:
    """Requests are tallied in plain dictionaries and handed to the histogram in bulk."""
    labels = {"method": "GET", "route": "/tally-test"}
    tally = metrics.RequestTally()
    for seconds in (0.0004, 0.001, 0.003, 0.003, 0.7, 30.0):
        tally.add("GET", "/tally-test", 200, seconds)
    tally.flush()
    bucket = "registrar_http_request_duration_seconds_bucket"
    expected = {"0.001": 2, "0.0025": 2, "0.005": 4, "0.5": 4, "1.0": 5, "10.0": 5, "+Inf": 6}
    assert {le: counted_here(bucket, **labels, le=le) for le in expected} == expected
    assert counted_here("registrar_http_request_duration_seconds_count", **labels) == 6
    assert counted_here("registrar_http_request_duration_seconds_sum", **labels) == pytest.approx(30.7074)
    assert counted_here("registrar_http_requests_total", **labels, status="200") == 6


async def test_a_promotion_from_a_waitlist_is_counted_once_it_committed(
    admin: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    course = (
        await admin.post(
            "/courses", json={"code": "PROMO", "title": "P", "capacity": 1, "waitlist_capacity": 5}
        )
    ).json()
    holder, waiting = (await new_student(admin))["id"], (await new_student(admin))["id"]
    await admin.post(f"/students/{holder}/courses", json={"course_id": course["id"]})
    assert (
        await admin.post(f"/students/{waiting}/waitlist", json={"course_id": course["id"]})
    ).status_code == 201
    before = value(await scrape(reader), "registrar_waitlist_promotions_total")
    enrolled_before, _ = enrollment_changes(await scrape(reader))

    assert (await admin.delete(f"/students/{holder}/courses/{course['id']}")).status_code == 204

    after = await scrape(reader)
    assert value(after, "registrar_waitlist_promotions_total") == before + 1
    assert enrollment_changes(after)[0] == enrolled_before + 1


async def test_metrics_off_means_no_route_and_nothing_recorded(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"metrics": False}))
    healthz = {"method": "GET", "route": "/healthz", "status": "200"}
    before = counted_here("registrar_http_requests_total", **healthz)
    async with app.router.lifespan_context(app), client_for(app, None) as client:
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200
    assert counted_here("registrar_http_requests_total", **healthz) == before
    assert "/metrics" not in app.openapi()["paths"]
