"""Prometheus metrics (contract section 10): what is counted, and the text a scrape of /metrics gets.

Under `registrar serve --workers N` with N > 1, `serve` points PROMETHEUS_MULTIPROC_DIR at a fresh
directory before the workers start (supervisor.py): prometheus-client then keeps every worker's
values in files there, and whichever worker answers a scrape adds them all up. A single process
(one worker, or the app run in-process by the tests) keeps its values in memory. prometheus-client
makes that choice once, when it is first imported, from the same variable read here. Requests are
tallied in the worker and published once a second (and before the worker answers a scrape), so a
scrape may lag the other workers by up to a second (and a worker killed outright loses its last
second's requests; one that stops normally publishes them on its way out).

Labels come from fixed sets only (route templates, methods, status codes, `enrolled`/`dropped`),
never from a path, an id or an e-mail: a label set that grew with traffic would be a defect.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import math
import os
import re
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from registrar.db import Database

MULTIPROC_DIR_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
SHARED_DIR: Final = os.environ.get(MULTIPROC_DIR_VARIABLE)
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED: Final = "unmatched"  # the route label of a request that matched no route (404, 405)
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
PUBLISH_SECONDS: Final = 1.0  # how stale another worker's figures may be in a scrape
# Requests here take from a fraction of a millisecond (a read on SQLite) to the 503 deadline.
DURATION_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# The multiprocess mode has no `_created` series; leave them out in a single process too.
disable_created_metrics()  # type: ignore[no-untyped-call]
# Our own registry, so that a scrape shows the same families in either mode (the default registry
# adds process and GC metrics, which the multiprocess mode cannot add up).
REGISTRY: Final = CollectorRegistry()

http_requests = Counter(
    "registrar_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"),
    registry=REGISTRY,
)
http_duration = Histogram(
    "registrar_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method and route template.",
    ("method", "route"),
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
enrollment_changes = Counter(
    "registrar_enrollment_changes",
    "Enrollments added (enrolled) and removed (dropped) by committed changes.",
    ("change",),
    registry=REGISTRY,
)
waitlist_promotions = Counter(
    "registrar_waitlist_promotions",
    "Students moved from a waitlist into a course by committed changes.",
    registry=REGISTRY,
)
auth_failures = Counter(
    "registrar_auth_failures",
    "Requests refused for a missing, unknown or revoked API key (401).",
    registry=REGISTRY,
)
# Summed over the live workers: what this `serve` holds in all.
pool_held = Gauge(
    "registrar_db_pool_connections",
    "Database connections the workers hold open.",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
pool_in_use = Gauge(
    "registrar_db_pool_connections_in_use",
    "Database connections taken by a request or a transaction.",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
pool_limit = Gauge(
    "registrar_db_pool_max_connections",
    "The most database connections the workers may hold open.",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)

_enrolled = enrollment_changes.labels("enrolled")
_dropped = enrollment_changes.labels("dropped")
_CONVERTOR = re.compile(r":[^}]*}")
_BOUNDS: Final = (*DURATION_BUCKETS, math.inf)  # the histogram's buckets, +Inf last, as it keeps them


def _scraped() -> CollectorRegistry:
    if SHARED_DIR is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=SHARED_DIR)  # type: ignore[no-untyped-call]
    return registry


_SCRAPED: Final = _scraped()


@functools.cache  # one entry per route
def route_label(template: str) -> str:
    """A route's path template as a label: `/students/{student_id:id}` -> `/students/{student_id}`."""
    return _CONVERTOR.sub("}", template)


class RequestTally:
    """Requests answered since the last flush, added up in plain dictionaries.

    Every increment of a prometheus-client value takes a lock and, in multiprocess mode, asks for
    the process id (a system call) and writes the file: the three a request needs (the counter,
    the histogram's sum and bucket) took 3.5 us in memory and 5.6 us in files on a 2-core machine,
    against about 1 us for this tally (bench/metrics_cost.py). `flush` hands the totals over in
    bulk, once a second and before every scrape.
    """

    def __init__(self) -> None:
        self.answered: dict[tuple[str, str, int], int] = {}
        self.timed: dict[tuple[str, str], list[float]] = {}  # [sum of seconds, count per bucket...]

    def add(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method if method in METHODS else "other", route, status)
        self.answered[key] = self.answered.get(key, 0) + 1
        timed = self.timed.get(key[:2])
        if timed is None:
            timed = self.timed[key[:2]] = [0.0] * (len(_BOUNDS) + 1)
        timed[0] += seconds
        timed[1 + bisect.bisect_left(_BOUNDS, seconds)] += 1  # the first bucket with seconds <= bound

    def flush(self) -> None:
        answered, self.answered = self.answered, {}
        timed, self.timed = self.timed, {}
        for (method, route, status), count in answered.items():
            http_requests.labels(method, route, str(status)).inc(count)
        for (method, route), (total, *buckets) in timed.items():
            child = http_duration.labels(method, route)
            # Histogram.observe takes one observation at a time; add a second's worth at once to
            # the values it keeps (per-bucket counts, not cumulative, and the sum).
            child._sum.inc(total)
            for value, observed in zip(child._buckets, buckets, strict=True):
                if observed:
                    value.inc(observed)


tally: Final = RequestTally()


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request (in this worker until the next flush)."""
    tally.add(method, route, status, seconds)


def enrollments_changed(added: int, removed: int) -> None:
    """Count the enrollments a committed change added and removed."""
    if added:
        _enrolled.inc(added)
    if removed:
        _dropped.inc(removed)


def waitlist_promoted(students: int = 1) -> None:
    """Count students promoted from a waitlist; call it from `tx.after_commit`, like the
    enrollment line, so that only promotions that landed count."""
    waitlist_promotions.inc(students)


def auth_failed() -> None:
    auth_failures.inc()


def publish(db: Database) -> None:
    """Hand this worker's request tally and pool usage to prometheus-client (and so to the other
    workers, in multiprocess mode)."""
    tally.flush()
    usage = db.usage()
    pool_held.set(usage.held)
    pool_in_use.set(usage.in_use)
    pool_limit.set(usage.limit)


async def publish_forever(db: Database) -> None:
    """Publish every second: a scrape is answered by one worker, which reads the others' values
    but cannot make them publish."""
    while True:
        publish(db)
        await asyncio.sleep(PUBLISH_SECONDS)


def exposition(db: Database) -> bytes:
    """The Prometheus text of every worker's metrics, this worker's published first."""
    publish(db)
    return generate_latest(_SCRAPED)
