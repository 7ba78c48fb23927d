"""Races on waitlists (contract section 8) across processes: many clients in flight at once against a
real `registrar serve --workers 2`, on each engine, joining and leaving waitlists, dropping and
re-enrolling, replacing sets, deleting students and raising capacities on a few small courses.

Each round builds its own students and courses, fills the seats, puts students on the waitlists
(one at a time, so the order is known), then fires one mixed burst (`IN_FLIGHT` requests at once,
identical joins among them, chosen by a seeded generator whose seed is in every failure message).
No request answers a 5xx or a problem its kind cannot meet, and afterwards the final state, the
history and the log agree with each other and with sections 4, 7 and 8; see
`test_waitlists_hold_under_a_mixed_burst`.

One server per engine serves the whole module. `RACE_REPEAT=N` runs the round N times
(e.g. `RACE_REPEAT=20 pytest tests/test_waitlist_races.py -k postgresql`).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests import pgcluster
from tests.serving import Server, two_workers_on_a_new_database

pytestmark = pytest.mark.slow

REPEAT = int(os.environ.get("RACE_REPEAT", "1"))
STUDENTS = 24
COURSES = [(1, 6), (2, 8), (3, 10), (2, 5)]  # (capacity, waitlist_capacity) of each new course
MIX = {"drop": 9, "leave": 7, "join": 8, "enroll": 5, "delete": 3, "raise": 4, "replace": 3, "read": 6}
REPEATED, COPIES = 4, 3  # besides MIX: REPEATED pairs (student, course) send COPIES identical joins
IN_FLIGHT = sum(MIX.values()) + REPEATED * COPIES

# What each kind of request may answer, whatever the interleaving (`METHOD status slug`).
ALLOWED = {
    "drop": {"DELETE 204", "DELETE 404 not-found"},
    "leave": {"DELETE 204", "DELETE 404 not-found"},
    "join": {
        "POST 201",
        "POST 200",
        "POST 404 not-found",
        "POST 409 already-enrolled",
        "POST 409 course-not-full",
        "POST 409 waitlist-full",
    },
    "enroll": {"POST 201", "POST 200", "POST 404 not-found", "POST 409 course-full"},
    "delete": {"DELETE 204", "DELETE 404 not-found"},
    "raise": {"PATCH 200", "PATCH 409 capacity-below-enrolled"},
    "replace": {"PUT 200", "PUT 404 not-found", "PUT 409 course-full"},
    "read": {"GET 200"},
}
# The requests that can free a seat, and the action of the enrollment log line of their own change.
FREES_SEATS = {"drop", "delete", "replace", "raise"}
ACTION = {
    "setup": "enroll",
    "enroll": "enroll",
    "drop": "drop",
    "replace": "replace",
    "delete": "delete_student",
}

Pair = tuple[int, int]  # (student, course)


@dataclass
class Call:
    """One request of a round: what it was meant to do, and its answer once sent."""

    kind: str
    method: str
    path: str
    body: Any = None
    student: int | None = None
    course: int | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    response: httpx.Response | None = None

    @property
    def answer(self) -> httpx.Response:
        assert self.response is not None, "not sent"
        return self.response

    @property
    def outcome(self) -> str:
        """`METHOD status`, and the problem's slug when the answer is one."""
        text = f"{self.method} {self.answer.status_code}"
        if self.answer.headers.get("content-type", "").startswith("application/problem+json"):
            text += " " + re.split(r"[:/]", self.answer.json()["type"])[-1]
        return text

    @property
    def succeeded(self) -> bool:
        return self.answer.is_success

    @property
    def pair(self) -> Pair:
        assert self.student is not None and self.course is not None, self.path
        return self.student, self.course


@dataclass
class Deployment:
    server: Server
    key_id: int

    def client(self) -> httpx.AsyncClient:
        return self.server.client(timeout=60.0, connections=IN_FLIGHT + 8)

    def enrollment_lines(self, request_ids: Iterable[str]) -> list[dict[str, Any]]:
        wanted = set(request_ids)
        return [
            line
            for line in self.server.json_lines()
            if line["logger"] == "registrar.enrollments" and line["request_id"] in wanted
        ]

    def explain(self, seed: str, calls: list[Call]) -> str:
        """For a failed assertion: the seed, the outcomes by kind, each answer its kind may not
        give, and the first line of each warning or error the server logged for these requests."""
        ids = {c.request_id for c in calls}
        errors = {
            line["msg"].splitlines()[0]
            for line in self.server.json_lines()
            if line["level"] in ("warning", "error", "critical")
            and (line.get("request_id") in ids or any(i in line["msg"] for i in ids))
        }
        outcomes = sorted(Counter(f"{c.kind}: {c.outcome}" for c in calls).items())
        wrong = [
            f"{c.method} {c.path} {c.body} -> {c.outcome} (x-request-id {c.request_id})"
            for c in calls
            if c.outcome not in ALLOWED[c.kind]
        ]
        return f"seed {seed}; outcomes {outcomes}; not allowed: {wrong}; errors logged: {sorted(errors)}"


@pytest.fixture(scope="module")
def deployment(
    engine: str, postgres: pgcluster.ThrowawayPostgres | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """`serve --workers 2` on a new database, which it migrates, printing its first admin key."""
    cwd = tmp_path_factory.mktemp(f"waitlist-races-{engine}")  # empty: no .env is read
    with two_workers_on_a_new_database(engine, postgres, cwd, "registrar_waitlist_races") as (server, key_id):
        yield Deployment(server, key_id=key_id)


@pytest.fixture(params=range(REPEAT), ids=lambda n: f"round{n + 1}")
def tag(request: pytest.FixtureRequest) -> str:
    """A word that no other round's e-mails and course codes share; it also seeds the burst."""
    return f"{request.param}{uuid.uuid4().hex[:10]}"


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def send(client: httpx.AsyncClient, call: Call) -> Call:
    headers = {"x-request-id": call.request_id}
    call.response = await client.request(call.method, call.path, json=call.body, headers=headers)
    return call


# ------------------------------------------------------------------------------------------ a round


@dataclass
class Round:
    """What a round made and sent, and every waitlist entry's `joined_at` as the joins answered."""

    students: list[int]
    courses: dict[int, int]  # capacity as created, by course id
    waitlist_capacity: dict[int, int] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    joined: defaultdict[Pair, set[datetime]] = field(default_factory=lambda: defaultdict(set))
    seated: list[Pair] = field(default_factory=list)
    waiting: list[Pair] = field(default_factory=list)

    async def must(self, client: httpx.AsyncClient, status: int, call: Call) -> dict[str, Any]:
        self.calls.append(await send(client, call))
        assert call.answer.status_code == status, (call.path, call.answer.text)
        return call.answer.json()  # type: ignore[no-any-return]


async def set_up(client: httpx.AsyncClient, tag: str, rng: random.Random) -> Round:
    """Students, full courses, and waitlists one short of full, joined one after the other."""
    made = Round(students=[], courses={})
    for n in range(STUDENTS):
        body: dict[str, Any] = {"name": f"Waiter {n}", "email": f"waiter{n}.{tag}@example.edu"}
        made.students.append((await made.must(client, 201, Call("setup", "POST", "/students", body)))["id"])
    for n, (capacity, waitlist_capacity) in enumerate(COURSES):
        body = {"code": f"W{n}-{tag}", "title": f"Wait {n}", "capacity": capacity}
        body["waitlist_capacity"] = waitlist_capacity
        course = await made.must(client, 201, Call("setup", "POST", "/courses", body))
        made.courses[course["id"]] = capacity
        made.waitlist_capacity[course["id"]] = waitlist_capacity
        seated = rng.sample(made.students, capacity)
        for student in seated:
            call = Call("setup", "POST", f"/students/{student}/courses", {"course_id": course["id"]}, student)
            await made.must(client, 201, call)
        made.seated += [(s, course["id"]) for s in seated]
        others = [s for s in made.students if s not in seated]
        for student in rng.sample(others, waitlist_capacity - 1):
            body = {"course_id": course["id"]}
            call = Call("join", "POST", f"/students/{student}/waitlist", body, student, course["id"])
            entry = await made.must(client, 201, call)
            made.joined[student, course["id"]].add(instant(entry["joined_at"]))
            made.waiting.append((student, course["id"]))
    return made


def burst(made: Round, rng: random.Random) -> list[Call]:
    """`MIX` requests and the `REPEATED` joins, in a random order, mostly aimed at the seats and
    entries the set-up made. The repeated joins are first joins where possible (of students who
    wait for nothing yet), and half the deletions are of students who join meanwhile."""
    courses = list(made.courses)

    def pair(likely: list[Pair], odds: float) -> Pair:
        return rng.choice(likely) if rng.random() < odds else (rng.choice(made.students), rng.choice(courses))

    fresh = [(s, c) for s in made.students for c in courses if (s, c) not in {*made.seated, *made.waiting}]
    first = [(s, c) for s, c in fresh if s not in {waiter for waiter, _ in made.waiting}]
    fresh = first if len(first) >= REPEATED else fresh
    repeated = [
        [Call("join", "POST", f"/students/{s}/waitlist", {"course_id": c}, s, c) for _ in range(COPIES)]
        for s, c in rng.sample(fresh, REPEATED)
    ]
    calls = [call for copies in repeated for call in copies]
    for kind, count in MIX.items():
        for _ in range(count):
            if kind == "drop":
                s, c = rng.choice(made.seated) if rng.random() < 0.7 else rng.choice(made.waiting)
                calls.append(Call(kind, "DELETE", f"/students/{s}/courses/{c}", None, s, c))
            elif kind == "leave":
                s, c = pair(made.waiting, 0.8)
                calls.append(Call(kind, "DELETE", f"/students/{s}/waitlist/{c}", None, s, c))
            elif kind == "join":
                s, c = pair(made.waiting, 0.2)
                calls.append(Call(kind, "POST", f"/students/{s}/waitlist", {"course_id": c}, s, c))
            elif kind == "enroll":
                s, c = pair(made.seated, 0.6)
                calls.append(Call(kind, "POST", f"/students/{s}/courses", {"course_ids": [c]}, s, c))
            elif kind == "delete":
                joiners = [call.pair[0] for call in calls if call.kind == "join"]
                s = rng.choice(joiners if rng.random() < 0.5 else made.students)
                calls.append(Call(kind, "DELETE", f"/students/{s}", None, s))
            elif kind == "raise":
                c = rng.choice(courses)
                capacity: int | None = None if rng.random() < 0.1 else made.courses[c] + rng.randint(1, 2)
                calls.append(Call(kind, "PATCH", f"/courses/{c}", {"capacity": capacity}, course=c))
            elif kind == "replace":
                s, c = rng.choice(made.seated)
                keep = rng.sample([other for other in courses if other != c], rng.randint(0, 1))
                calls.append(Call(kind, "PUT", f"/students/{s}/courses", {"course_ids": keep}, s))
            else:
                c = rng.choice(courses)
                calls.append(Call(kind, "GET", f"/courses/{c}", course=c))
    # Each repeated join's copies go out one after the other, so that they reach the database together.
    groups = [[call] for call in calls[REPEATED * COPIES :]] + repeated
    rng.shuffle(groups)
    return [call for group in groups for call in group]


@dataclass
class State:
    """Everything the API says after the burst, per course and per student."""

    course: dict[int, dict[str, Any]] = field(default_factory=dict)
    roster: dict[int, set[int]] = field(default_factory=dict)
    waitlist: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    history: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    courses_of: dict[int, list[int] | None] = field(default_factory=dict)  # None: no such student
    waits_of: dict[int, list[dict[str, Any]] | None] = field(default_factory=dict)


async def read_state(client: httpx.AsyncClient, made: Round) -> State:
    async def ok(path: str, **params: Any) -> Any:
        response = await client.get(path, params=params)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    state = State()
    for c in made.courses:
        state.course[c] = await ok(f"/courses/{c}")
        state.roster[c] = {e["id"] for e in (await ok(f"/courses/{c}/students", limit=1000))["items"]}
        state.waitlist[c] = await ok(f"/courses/{c}/waitlist")
        state.history[c], after = [], 0
        while after is not None:
            page = await ok(f"/courses/{c}/history", limit=1000, after=after)
            state.history[c] += page["items"]
            after = page["next_after"]
    for s in made.students:
        courses, waits = await asyncio.gather(
            client.get(f"/students/{s}/courses"), client.get(f"/students/{s}/waitlist")
        )
        assert {courses.status_code, waits.status_code} in ({200}, {404}), (courses.text, waits.text)
        state.courses_of[s] = [i["id"] for i in courses.json()] if courses.status_code == 200 else None
        state.waits_of[s] = waits.json() if waits.status_code == 200 else None
    return state


# --------------------------------------------------------------------------------------- the test


async def test_waitlists_hold_under_a_mixed_burst(deployment: Deployment, tag: str) -> None:
    """One round; the checks, each a function below:

    - every answer is one its kind may give (never a 5xx), and every course read during the burst,
      like every PATCH answer, shows a state where the guarantees of section 8 hold;
    - the final state: seats, rosters, waitlists and each student's own view agree, `enrolled <=
      capacity`, nobody waits beside a free seat, nobody is enrolled and waiting at once;
    - the history replays to the rosters, was written only by requests that succeeded, one
      request's events stand together in a course's history, and every promotion was made by a
      request that freed a seat of that course;
    - promotions followed join order (see `check_join_order`);
    - the enrollment log lines match the history, request by request, promotions included.
    """
    rng = random.Random(tag)
    async with deployment.client() as client:
        made = await set_up(client, tag, rng)
        calls = burst(made, rng)
        courses = list(made.courses)
        for _ in range(2):  # a connection per client, and database connections in both workers
            await asyncio.gather(*(client.get(f"/courses/{courses[n % 4]}") for n in range(IN_FLIGHT)))
        await asyncio.gather(*(send(client, call) for call in calls))
        made.calls += calls
        for call in calls:
            if call.kind == "join" and call.answer.status_code == 201:
                made.joined[call.pair].add(instant(call.answer.json()["joined_at"]))
        state = await read_state(client, made)
    checks: dict[str, Callable[[], None]] = {
        "answers": lambda: check_answers(made, calls),
        "final state": lambda: check_state(made, state, calls),
        "history": lambda: check_history(made, state),
        "join order": lambda: check_join_order(made, state),
        "log": lambda: check_log(deployment, made, state),
    }
    failed = []
    for name, check in checks.items():  # all of them: one race may break several guarantees
        try:
            check()
        except AssertionError as failure:
            failed.append(f"-- {name}: {failure}")
    assert not failed, "\n".join([deployment.explain(tag, calls), *failed])


def check_answers(made: Round, calls: list[Call]) -> None:
    """Every answer is one its kind may give; section 8's guarantees hold in every course read and
    every PATCH answer (each shows one committed state); every join answers a plausible entry,
    and a repeated one an entry whose `joined_at` a 201 gave."""
    assert all(call.outcome in ALLOWED[call.kind] for call in calls), "an answer its kind may not give"
    for call in calls:
        if call.kind in ("read", "raise") and call.succeeded:
            seats_ok(call.answer.json())
        if call.kind == "join" and call.answer.status_code == 201:
            entry = call.answer.json()
            assert call.answer.headers["location"] == f"{call.path}/{call.course}"
            assert entry["course_id"] == call.course, entry
            assert 1 <= entry["position"] <= made.waitlist_capacity[call.pair[1]], entry
    for call in calls:
        if call.kind == "join" and call.answer.status_code == 200:
            joined_at = instant(call.answer.json()["joined_at"])
            assert joined_at in made.joined[call.pair], call.answer.text


def seats_ok(course: dict[str, Any]) -> None:
    capacity, enrolled, waitlisted = course["capacity"], course["enrolled"], course["waitlisted"]
    assert capacity is None or enrolled <= capacity, course
    assert 0 <= waitlisted <= course["waitlist_capacity"], course
    assert waitlisted == 0 or (capacity is not None and enrolled == capacity), course


def deleted_students(calls: list[Call]) -> set[int]:
    return {c.student for c in calls if c.kind == "delete" and c.student and c.answer.status_code == 204}


def check_state(made: Round, state: State, calls: list[Call]) -> None:
    deleted = deleted_students(calls)
    for c in made.courses:
        course, roster, waitlist = state.course[c], state.roster[c], state.waitlist[c]
        seats_ok(course)
        assert course["enrolled"] == len(roster), (course, roster)
        assert course["waitlisted"] == len(waitlist), (course, waitlist)
        assert [w["position"] for w in waitlist] == list(range(1, len(waitlist) + 1)), waitlist
        joined = [instant(w["joined_at"]) for w in waitlist]
        assert joined == sorted(joined), waitlist
        waiting = {w["id"] for w in waitlist}
        assert len(waiting) == len(waitlist) and not waiting & roster, (roster, waitlist)
        assert not (waiting | roster) & deleted, (roster, waitlist, deleted)
    for s in made.students:
        if s in deleted:
            assert state.courses_of[s] is None and state.waits_of[s] is None, s
            continue
        assert state.courses_of[s] == [c for c in made.courses if s in state.roster[c]], s
        mine = state.waits_of[s]
        assert mine is not None
        expected = [
            (c, w["position"], w["joined_at"])
            for c in made.courses
            for w in state.waitlist[c]
            if w["id"] == s
        ]
        assert [(w["course_id"], w["position"], w["joined_at"]) for w in mine] == expected, s


def check_history(made: Round, state: State) -> None:
    """Replaying each course's events gives its roster, never past the largest capacity it had;
    only successful requests wrote; one request's events are contiguous in a course's history; a
    `waitlist` event follows a drop of that course by the same request, or a PATCH of it."""
    by_id = {call.request_id: call for call in made.calls}
    for c, events in state.history.items():
        largest = max(
            [made.courses[c]]
            + [
                math.inf if call.body["capacity"] is None else call.body["capacity"]
                for call in made.calls
                if call.kind == "raise" and call.course == c and call.succeeded
            ]
        )
        roster: set[int] = set()
        for e in events:
            if e["change"] == "enrolled":
                assert e["student_id"] not in roster, e
                roster.add(e["student_id"])
            else:
                roster.remove(e["student_id"])
            assert len(roster) <= largest, events
        assert roster == state.roster[c], events
        assert [e["id"] for e in events] == sorted(e["id"] for e in events)
        runs = [
            rid
            for n, rid in enumerate(e["request_id"] for e in events)
            if n == 0 or events[n - 1]["request_id"] != rid
        ]
        assert len(runs) == len(set(runs)), f"one request's events are split up in course {c}: {events}"
        for e in events:
            call = by_id.get(e["request_id"])
            assert call is not None and call.succeeded, e
            if e["cause"] != "waitlist":
                continue
            assert call.kind in FREES_SEATS, (call.kind, e)
            drops = [d for d in events if d["request_id"] == e["request_id"] and d["change"] == "dropped"]
            promotions = [
                p for p in events if p["request_id"] == e["request_id"] and p["cause"] == "waitlist"
            ]
            if call.kind == "raise":
                assert (call.course, drops) == (c, []), e
            else:
                assert len(drops) == 1 and drops[0]["id"] < e["id"] and len(promotions) == 1, events


def check_join_order(made: Round, state: State) -> None:
    """Promotions followed join order, and no seat was given back while someone waited.

    Every change to a course's seats or waitlist runs under that course's lock, and so does the
    clock reading of each join (`joined_at`) and of each change (an event's `at`): for one course,
    these instants, and the ids of its events, are in the order the changes happened. A student may
    wait for a course several times (promoted, dropped, joins again): each wait is known by its
    `joined_at` (from the 201s), and a promotion ended the wait with the latest `joined_at` before
    the promotion's `at`. Where a wait ended is known for:
    - a promotion: at that event's id;
    - a wait still on the final waitlist: never;
    - a deleted student's last wait, when no leave of it succeeded: at the first event of the
      deletion (in any course; ids follow the deletion's place in this course's order, since the
      deletion holds the locks of the courses the student waits for while it writes them).
    Waits that ended with a leave, or with a deletion that wrote no event, are left out: when they
    ended is not known. Then, for each course:
    - a promoted student stood at the head: no known wait that began before theirs ended after
      their promotion (in particular the promoted `joined_at` never decrease in event-id order,
      and every student still waiting joined after every student who was promoted);
    - a dropped enrollment whose request promoted nobody into the course left nobody waiting: no
      known wait that began before the drop ended after it.
    """
    left = {c.pair for c in made.calls if c.kind == "leave" and c.answer.status_code == 204}
    deleted = deleted_students(made.calls)
    deleted_at: dict[int, int] = {}
    for events in state.history.values():
        for e in events:
            if e["cause"] == "student-deleted":
                deleted_at[e["student_id"]] = min(e["id"], deleted_at.get(e["student_id"], e["id"]))
    for c, events in state.history.items():
        ends = wait_ends(made, state, c, deleted_at, deleted - {s for s, course in left if course == c})
        promoting = {e["request_id"] for e in events if e["cause"] == "waitlist"}
        for e in events:
            if e["cause"] == "waitlist":
                head = max(j for j in made.joined[e["student_id"], c] if j < instant(e["at"]))
                ahead = waited_past(ends, head, e["id"])
                assert not ahead, f"{e} passed over {ahead} in course {c}"
            elif e["change"] == "dropped" and e["request_id"] not in promoting:
                stood = waited_past(ends, instant(e["at"]), e["id"])
                assert not stood, f"{e} freed a seat of course {c} and promoted none of {stood}"


Wait = tuple[int, datetime]  # (student, joined_at)


def wait_ends(
    made: Round, state: State, c: int, deleted_at: dict[int, int], deleted: set[int]
) -> dict[Wait, float]:
    """The event id at which each wait for course `c` whose end is known ended (inf: it goes on);
    `deleted`: the students deleted whose waits for `c` no leave ended."""
    events = state.history[c]
    ends: dict[Wait, float] = {}
    promoted: list[datetime] = []
    for e in (e for e in events if e["cause"] == "waitlist"):
        earlier = [j for j in made.joined[e["student_id"], c] if j < instant(e["at"])]
        assert earlier, f"promoted without a join: {e}"
        wait = (e["student_id"], max(earlier))
        assert wait not in ends, f"one wait promoted twice: {e}"
        ends[wait] = e["id"]
        promoted.append(wait[1])
    assert promoted == sorted(promoted), f"promotions out of join order in course {c}: {events}"
    for w in state.waitlist[c]:
        wait = (w["id"], instant(w["joined_at"]))
        assert wait[1] == max(made.joined[wait[0], c]) and wait not in ends, w
        ends[wait] = math.inf
    for s in deleted & deleted_at.keys():
        if made.joined.get((s, c)):
            ends.setdefault((s, max(made.joined[s, c])), deleted_at[s])
    return ends


def waited_past(ends: dict[Wait, float], began_before: datetime, moment: int) -> list[Wait]:
    """The known waits that began before an instant and were still on at an event id."""
    return [wait for wait, end in ends.items() if wait[1] < began_before and end > moment]


def check_log(deployment: Deployment, made: Round, state: State) -> None:
    """Request by request, the enrollment log lines are the history: one line for the request's own
    change (its `api` or `student-deleted` events) and one `promote` line per `waitlist` event."""
    by_id = {call.request_id: call for call in made.calls}
    expected: dict[str, Counter[tuple[Any, ...]]] = {}
    for events in state.history.values():
        for e in events:
            assert e["key_id"] == deployment.key_id, e
            lines = expected.setdefault(e["request_id"], Counter())
            if e["cause"] == "waitlist":
                lines["promote", e["student_id"], (e["course_id"],), ()] += 1
    for rid, lines in expected.items():
        call = by_id[rid]
        own = [e for events in state.history.values() for e in events if e["request_id"] == rid]
        own = [e for e in own if e["cause"] != "waitlist"]
        if own:
            assert {e["cause"] for e in own} == {"student-deleted" if call.kind == "delete" else "api"}, own
            assert {e["student_id"] for e in own} == {call.student}, (call.path, own)
            added = tuple(sorted(e["course_id"] for e in own if e["change"] == "enrolled"))
            removed = tuple(sorted(e["course_id"] for e in own if e["change"] == "dropped"))
            lines[ACTION[call.kind], call.student, added, removed] += 1
    found: dict[str, Counter[tuple[Any, ...]]] = {}
    promotes: Counter[int] = Counter()
    for line in deployment.enrollment_lines(by_id):
        assert line["key_id"] == deployment.key_id, line
        found.setdefault(line["request_id"], Counter())[
            line["action"], line["student_id"], tuple(line["added"]), tuple(line["removed"])
        ] += 1
        if line["action"] == "promote":
            call = by_id[line["request_id"]]
            assert call.kind in FREES_SEATS and call.succeeded, (line, call.outcome)
            [course] = line["added"]
            promotes[course] += 1
    for c, events in state.history.items():
        assert promotes[c] == sum(e["cause"] == "waitlist" for e in events), (c, promotes)
    assert found == expected
