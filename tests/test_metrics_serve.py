"""GET /metrics under `registrar serve --workers 2` (contract section 10): one scrape adds up every
worker's counts, a worker that died leaves the pool gauges, and the directory the workers' values
met in is gone once serve exits."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.serving import Server, environment

pytestmark = pytest.mark.slow

ROUTE = "/students/{student_id}"
BATCH = 40  # requests in flight at once, each on a connection of its own
MOST_BATCHES = 50
WAIT_SECONDS = 30.0


def scrape(server: Server, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{server.url}/metrics", headers={"authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def reads_counted(found: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    labels = (("method", "GET"), ("route", ROUTE), ("status", "200"))
    return found.get(("registrar_http_requests_total", labels), 0.0)


def reads_by_worker(metrics_dir: Path) -> Counter[int]:
    """What each worker's own file holds, read beside the server: who served the reads."""
    served: Counter[int] = Counter()
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            if '"registrar_http_requests_total"' in key and ROUTE in key and '"200"' in key:
                served[pid] += int(value)
    return served


async def read_students(server: Server, token: str, ids: list[int]) -> None:
    limits = httpx.Limits(max_keepalive_connections=0)  # a new connection for every request
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, limits=limits, timeout=20) as client:
        responses = await asyncio.gather(*(client.get(f"/students/{i}") for i in ids))
    assert [r.status_code for r in responses] == [200] * len(ids)


def wait_for(condition: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {WAIT_SECONDS} s: {condition}")


def new_students(server: Server, token: str, count: int) -> list[int]:
    headers = {"authorization": f"Bearer {token}"}
    made = [
        httpx.post(
            f"{server.url}/students", json={"name": f"S{n}", "email": f"s{n}@example.edu"}, headers=headers
        )
        for n in range(count)
    ]
    return [int(response.raise_for_status().json()["id"]) for response in made]


def read_until_both_workers_served(server: Server, token: str, metrics_dir: Path) -> int:
    """Batches of reads on fresh connections until each worker has served some; how many were sent."""
    ids = new_students(server, token, 2)
    sent = 0
    while len(reads_by_worker(metrics_dir)) < 2 and sent < BATCH * MOST_BATCHES:
        asyncio.run(read_students(server, token, [ids[n % 2] for n in range(BATCH)]))
        sent += BATCH
        # Each worker publishes what it counted once a second.
        wait_for("the reads published", lambda n=sent: sum(reads_by_worker(metrics_dir).values()) == n)
    return sent


def fail_logins(server: Server, count: int) -> None:
    for n in range(count):
        response = httpx.get(f"{server.url}/courses", headers={"authorization": f"Bearer wrong-{n}"})
        assert response.status_code == 401


def pool_connections(server: Server, token: str) -> float:
    return scrape(server, token)[("registrar_db_pool_connections", ())]


def test_one_scrape_counts_every_worker_and_serve_removes_the_directory(tmp_path: Path) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    server = Server(environment(f"sqlite:///{tmp_path / 'registrar.db'}", TMPDIR=str(temp)), tmp_path, 2)
    try:
        server.wait_ready()
        token = server.first_key()
        [metrics_dir] = temp.glob("registrar-metrics-*")

        sent = read_until_both_workers_served(server, token, metrics_dir)
        served = reads_by_worker(metrics_dir)
        assert len(served) == 2, f"one worker served all {sent} reads: {served}"
        assert sum(served.values()) == sent
        assert reads_counted(scrape(server, token)) == sent
        fail_logins(server, 3)
        assert scrape(server, token)[("registrar_auth_failures_total", ())] == 3
        assert pool_connections(server, token) == 4  # two SQLite connections a worker

        # A worker killed and replaced: its counts stay, its pool gauges leave the sums.
        killed = next(iter(served))
        os.kill(killed, signal.SIGKILL)
        wait_for(
            "the killed worker marked dead and a new one started",
            lambda: (
                not (metrics_dir / f"gauge_livesum_{killed}.db").exists()
                and len(list(metrics_dir.glob("gauge_livesum_*.db"))) == 2
            ),
        )
        wait_for("the pool gauges of the two live workers", lambda: pool_connections(server, token) == 4)
        assert reads_counted(scrape(server, token)) == sent

        server.terminate()
        assert server.process.wait(timeout=30) == 0, server.stderr()
        assert not metrics_dir.exists()
        assert list(temp.iterdir()) == []
    finally:
        server.kill()
