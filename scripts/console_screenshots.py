"""Screenshots of the console for the README: a student and a course, at desktop and phone width.

Starts `registrar serve` on a throwaway SQLite database, adds a little demo data through the API and
photographs the console in the system Chromium. Run from the repository root, in the venv:
`.venv/bin/python scripts/console_screenshots.py` (writes docs/console-*.png)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.serving import environment, serving  # noqa: E402
from tests.test_console import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE  # noqa: E402

PEOPLE = [
    ("Ada Lovelace", "ada@example.edu"),
    ("Grace Hopper", "grace@example.edu"),
    ("Alan Turing", "alan@example.edu"),
    ("Edsger Dijkstra", "edsger@example.edu"),
    ("Barbara Liskov", "barbara@example.edu"),
]

COURSES = [
    ("PH200", "Quantum Mechanics", 3, 5),
    ("CS101", "Introduction to Computing", 30, 0),
    ("MA101", "Calculus", None, 0),
    ("BI150", "Genetics", 1, 3),
]


def seed(client: httpx.Client) -> tuple[int, int]:
    """Quantum Mechanics full with two waiting; Ada in three courses and waiting for a fourth."""
    students = [client.post("/students", json={"name": n, "email": e}).json()["id"] for n, e in PEOPLE]
    courses = [
        client.post("/courses", json={"code": c, "title": t, "capacity": cap, "waitlist_capacity": w}).json()[
            "id"
        ]
        for c, t, cap, w in COURSES
    ]
    quantum = courses[0]
    for student in students[:3]:
        client.post(f"/students/{student}/courses", json={"course_id": quantum})
    client.post(f"/students/{students[0]}/courses", json={"course_ids": courses[1:3]})
    client.put(f"/students/{students[1]}/courses", json={"course_ids": [quantum, courses[1]]})
    client.post(f"/students/{students[1]}/courses", json={"course_id": courses[3]})
    client.post(f"/students/{students[0]}/waitlist", json={"course_id": courses[3]})
    for student in students[3:]:
        client.post(f"/students/{student}/waitlist", json={"course_id": quantum})
    return students[0], quantum


def shoot(page: Page, url: str, name: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    expect(page.locator("#subject")).to_be_focused()
    page.screenshot(path=str(ROOT / "docs" / name), full_page=True)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        with serving(environment(f"sqlite:///{cwd / 'demo.db'}"), cwd) as server:
            key = server.first_key()
            with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {key}"}) as client:
                student, course = seed(client)
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                    page = browser.new_context(viewport=viewport, timezone_id="UTC").new_page()
                    page.goto(f"{server.url}/console")
                    page.fill("#key", key)
                    page.click("#sign-in-form button")
                    expect(page.locator("#role")).to_be_visible()
                    shoot(page, f"{server.url}/console#/students/{student}", f"console-student-{width}.png")
                    shoot(page, f"{server.url}/console#/courses/{course}", f"console-course-{width}.png")
                    page.context.close()
                browser.close()


if __name__ == "__main__":
    main()
