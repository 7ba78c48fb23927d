"""The staff console (contract section 10) in a real browser: the system Chromium driven by
Playwright, against a real `registrar serve` process on a real SQLite database. The console only
talks to the API, which the rest of the suite tests on both engines, so one engine is enough here."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving import Server, cli, environment, serving

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (it comes with the test extra)"
)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("no system Chromium (apt-get install chromium)", allow_module_level=True)

Page = playwright_sync.Page
expect = playwright_sync.expect
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cwd = tmp_path_factory.mktemp("console")
    env = environment(f"sqlite:///{cwd / 'registrar.db'}")
    with serving(env, cwd) as running:
        running.reader_key = cli(env, cwd, "keys", "create", "--role", "reader").strip()  # type: ignore[attr-defined]
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def open_page(browser: Any, viewport: dict[str, int]) -> tuple[Any, list[str]]:
    """A new tab in UTC (the as-of field is read in the browser's zone), with the CSP violations and
    script errors it reports collected."""
    context = browser.new_context(viewport=viewport, timezone_id="UTC")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    tab, errors = open_page(browser, DESKTOP)
    yield tab
    tab.context.close()
    assert errors == [], errors


def api(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {server.first_key()}"})


def sign_in(page: Page, server: Server, key: str) -> None:
    page.goto(f"{server.url}/console")
    page.fill("#key", key)
    page.click("#sign-in-form button")
    expect(page.locator("#role")).to_contain_text("key")


def find_student(page: Page, query: str) -> None:
    page.fill("#find-student-q", query)
    page.press("#find-student-q", "Enter")
    expect(page.locator("#subject")).to_be_focused()


def find_course(page: Page, query: str) -> None:
    page.fill("#find-course-q", query)
    page.press("#find-course-q", "Enter")
    expect(page.locator("#subject")).to_be_focused()


def open_create(page: Page) -> None:
    if page.locator("#create").get_attribute("open") is None:
        page.click("#create summary")


def create_student(page: Page, name: str, email: str) -> int:
    open_create(page)
    page.fill("#new-student-name", name)
    page.fill("#new-student-email", email)
    page.click("#create-student button")
    expect(page.locator("#subject")).to_have_text(name)
    return int(page.url.rsplit("/", 1)[-1])


def create_course(page: Page, code: str, title: str, capacity: int, waitlist: int) -> int:
    open_create(page)
    page.fill("#new-course-code", code)
    page.fill("#new-course-title", title)
    page.fill("#new-course-capacity", str(capacity))
    page.fill("#new-course-waitlist", str(waitlist))
    page.click("#create-course button")
    expect(page.locator("#subject")).to_have_text(f"{code}: {title}")
    return int(page.url.rsplit("/", 1)[-1])


def table_rows(page: Page, caption: str) -> Any:
    exactly = re.compile(f"^{re.escape(caption)}$")
    return page.locator("table", has=page.locator("caption", has_text=exactly)).locator("tbody tr")


def test_console_page_and_assets_are_served_with_a_strict_policy(server: Server) -> None:
    page = httpx.get(f"{server.url}/console")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
        asset = httpx.get(f"{server.url}/console/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(kind)
    for path in ("/console/", "/console/secrets.txt", "/console/..%2Fapp.py"):
        missing = httpx.get(f"{server.url}{path}")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
    assert "/console" not in httpx.get(f"{server.url}/openapi.json").json()["paths"]


def test_the_role_probe_tells_the_roles_apart_and_writes_nothing(server: Server) -> None:
    """The console learns the key's role from PATCH of the largest course id with `{}`: auth and role
    answer before the resource, and an empty PATCH changes nothing even where the course exists."""
    probe = "/courses/9223372036854775807"
    with api(server) as admin:
        assert admin.patch(probe, json={}).status_code == 404
        course = admin.post("/courses", json={"code": "PR100", "title": "Probe", "capacity": 1}).json()
        assert admin.patch(f"/courses/{course['id']}", json={}).json() == course
    reader = httpx.patch(
        f"{server.url}{probe}", json={}, headers={"authorization": f"Bearer {server.reader_key}"}
    )  # type: ignore[attr-defined]
    assert reader.status_code == 403
    assert (
        httpx.patch(f"{server.url}{probe}", json={}, headers={"authorization": "Bearer nope"}).status_code
        == 401
    )


def test_a_wrong_key_shows_the_unauthorized_problem_next_to_sign_in(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/console")
    page.fill("#key", "not-a-key-of-this-registrar")
    page.click("#sign-in-form button")
    problem = page.locator("#sign-in-form .problem")
    expect(problem.locator(".problem-title")).to_have_text("Authentication required")
    expect(problem.locator(".problem-detail")).to_have_text("A valid bearer token is required.")
    expect(page.locator("#work")).to_be_hidden()


def test_admin_fills_a_course_waits_and_sees_the_promotion_and_the_roster_as_of(
    page: Page, server: Server
) -> None:
    sign_in(page, server, server.first_key())
    expect(page.locator("#role")).to_have_text("Signed in with an admin key")
    course = create_course(page, "PH200", "Quantum Mechanics", capacity=2, waitlist=2)
    ada = create_student(page, "Ada Lovelace", "ada@example.edu")
    bob = create_student(page, "Bob Noyce", "bob@example.edu")
    create_student(page, "Cyd Charisse", "cyd@example.edu")

    for query in ("ADA@example.edu", str(bob)):
        find_student(page, query)
        page.fill("#enroll-input", "ph200")
        page.click("#enroll button")
        expect(table_rows(page, "Enrolled courses")).to_contain_text(["PH200"])

    find_student(page, "cyd@example.edu")
    page.fill("#enroll-input", "PH200")
    page.click("#enroll button")
    problem = page.locator("#enroll .problem")
    expect(problem.locator(".problem-title")).to_have_text("Course is full")
    expect(problem.locator(".problem-detail")).to_contain_text(f"No seat left in course(s) [{course}].")
    page.fill("#join-waitlist-input", "PH200")
    page.click("#join-waitlist button")
    expect(table_rows(page, "Waitlists")).to_have_count(1)
    expect(table_rows(page, "Waitlists").locator(".position")).to_have_text("1")

    find_course(page, "PH200")
    expect(page.locator("#seats")).to_contain_text("2 of 2 enrolled")
    expect(page.locator("#seats")).to_contain_text("1 of 2 waiting")
    assert page.locator("#seats-meter").get_attribute("value") == "2"
    expect(table_rows(page, "Waitlist, in order")).to_contain_text(["Cyd Charisse"])

    time.sleep(1.1)  # the as-of field holds whole seconds: put one between the enrollments and the drop
    before_drop = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    time.sleep(1.1)
    page.goto(f"{server.url}/console#/students/{ada}")
    expect(page.locator("#subject")).to_have_text("Ada Lovelace")
    page.get_by_role("button", name="Drop PH200").click()
    expect(table_rows(page, "Enrolled courses")).to_have_text(["None"])

    find_student(page, "cyd@example.edu")
    expect(table_rows(page, "Enrolled courses")).to_contain_text(["PH200"])
    expect(table_rows(page, "Waitlists")).to_have_text(["None"])

    find_course(page, str(course))
    expect(table_rows(page, "Roster")).to_have_count(2)
    expect(table_rows(page, "Roster")).to_contain_text(["Bob Noyce", "Cyd Charisse"])
    expect(table_rows(page, "History")).to_contain_text(["waitlist"])
    page.fill("#as-of-input", before_drop)
    page.click("#as-of button")
    expect(page.locator("#as-of-result tbody tr")).to_have_count(2)
    expect(page.locator("#as-of-result")).to_contain_text("Ada Lovelace")
    expect(page.locator("#as-of-result")).not_to_contain_text("Cyd Charisse")
    later = datetime.now(UTC) + timedelta(seconds=2)  # whole seconds: round up past the drop
    page.fill("#as-of-input", later.strftime("%Y-%m-%dT%H:%M:%S"))
    page.click("#as-of button")
    expect(page.locator("#as-of-result")).to_contain_text("Cyd Charisse")
    expect(page.locator("#as-of-result")).not_to_contain_text("Ada Lovelace")


def test_a_reader_key_sees_no_write_controls(page: Page, server: Server) -> None:
    with api(server) as admin:
        student = admin.post("/students", json={"name": "Rita Reader", "email": "rita@example.edu"}).json()
        course = admin.post("/courses", json={"code": "RD100", "title": "Reading", "capacity": 3}).json()
        admin.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    sign_in(page, server, server.reader_key)  # type: ignore[attr-defined]
    expect(page.locator("#role")).to_have_text("Signed in with a reader key")
    find_student(page, "rita@example.edu")
    expect(table_rows(page, "Enrolled courses")).to_contain_text(["RD100"])
    assert page.locator("[data-write]").count() == 0
    find_course(page, "RD100")
    expect(page.locator("#seats")).to_contain_text("1 of 3 enrolled")
    assert page.locator("[data-write]").count() == 0
    assert page.locator("#create").count() == 0


def test_keyboard_alone_signs_in_finds_and_enrolls(page: Page, server: Server) -> None:
    with api(server) as admin:
        admin.post("/students", json={"name": "Kim Keys", "email": "kim@example.edu"})
        admin.post("/courses", json={"code": "KB101", "title": "Typing"})
    page.goto(f"{server.url}/console")
    expect(page.locator("#key")).to_be_focused()
    page.keyboard.type(server.first_key())
    page.keyboard.press("Enter")
    expect(page.locator("#find-student-q")).to_be_focused()
    page.keyboard.type("kim@example.edu")
    page.keyboard.press("Enter")
    expect(page.locator("#subject")).to_have_text("Kim Keys")
    for _ in range(30):
        if page.evaluate("document.activeElement.id") == "enroll-input":
            break
        page.keyboard.press("Tab")
    expect(page.locator("#enroll-input")).to_be_focused()
    page.keyboard.type("KB101")
    page.keyboard.press("Enter")
    expect(table_rows(page, "Enrolled courses")).to_contain_text(["KB101"])


def serious_violations(page: Page) -> list[str]:
    page.evaluate(AXE.read_text())  # evaluated, not a script tag: the page's CSP forbids inline script
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_no_serious_accessibility_violations(browser: Any, server: Server, viewport: dict[str, int]) -> None:
    with api(server) as admin:
        student = admin.post(
            "/students", json={"name": "Axe Tester", "email": f"axe{viewport['width']}@x.edu"}
        )
        course = admin.post("/courses", json={"code": f"AX{viewport['width']}", "title": "A", "capacity": 1})
        admin.post(f"/students/{student.json()['id']}/courses", json={"course_id": course.json()["id"]})
    page, errors = open_page(browser, viewport)
    try:
        page.goto(f"{server.url}/console")
        expect(page.locator("#key")).to_be_focused()
        found = {"sign-in": serious_violations(page)}
        sign_in(page, server, server.first_key())
        find_student(page, str(student.json()["id"]))
        found["student"] = serious_violations(page)
        find_course(page, str(course.json()["id"]))
        page.fill("#as-of-input", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        page.click("#as-of button")
        expect(page.locator("#as-of-result tbody tr")).to_have_count(1)
        found["course"] = serious_violations(page)
    finally:
        page.context.close()
    assert found == {"sign-in": [], "student": [], "course": []}
    assert errors == []
