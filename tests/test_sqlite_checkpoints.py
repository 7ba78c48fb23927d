"""SQLite's write-ahead log is copied back into the database file by each worker's checkpointer
thread, not by the commit that happens to fill it (which would hold up the worker's event loop),
and it is started over, so that it stays small under a steady stream of writes."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from registrar.config import Settings
from registrar.db import Database, open_database
from registrar.db import sqlite as engine
from registrar.db.queries import students
from registrar.services.common import utc_now

ON_SQLITE = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
ONLY_ON_REQUEST = 3600.0  # CHECKPOINT_EVERY for a checkpointer whose rounds the test runs itself


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "log.db"
    # Held open throughout: when the last connection closes, SQLite checkpoints the log and
    # deletes it, which would hide what the tests look at.
    with closing(engine.connect(path, timeout=1)) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        yield path


def write_pages(path: Path, transactions: int) -> None:
    """Commits of a page or more each, from a connection that never checkpoints by itself."""
    with closing(engine.connect(path, timeout=1)) as conn:
        conn.execute("PRAGMA wal_autocheckpoint=0")
        for _ in range(transactions):
            conn.execute("INSERT INTO notes (body) VALUES (?)", ("x" * 3000,))


def log_frames(path: Path) -> tuple[int, int]:
    """(frames in the log, how many of them are in the database file), from a passive checkpoint
    (which copies what is left, but reports the log's length as it found it)."""
    with closing(sqlite3.connect(path)) as conn:
        for _ in range(100):  # while a checkpointer's round is under way, try again
            busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if not busy:
                return frames, copied
            time.sleep(0.01)
    raise AssertionError("the log stayed busy for a second")


def rows_in_file(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        count: int = conn.execute("SELECT count(*) FROM notes").fetchone()[0]
    return count


def test_a_round_past_restart_at_copies_the_log_and_lets_the_next_writer_start_it_over(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "CHECKPOINT_EVERY", ONLY_ON_REQUEST)
    monkeypatch.setattr(engine, "RESTART_AT", 50)
    checkpointer = engine.Checkpointer(database)
    try:
        write_pages(database, 80)
        assert log_frames(database)[0] >= 80
        checkpointer.checkpoint()
        write_pages(database, 1)
    finally:
        checkpointer.stop()
    assert log_frames(database)[0] < 10, "the log was not started over"
    assert rows_in_file(database) == 81


EMAILS = (f"ada{n}@example.org" for n in itertools.count())


async def add_students(db: Database, count: int) -> None:
    """COUNT transactions that each write a new student (a few pages of the log)."""
    for _ in range(count):
        async with db.transaction() as tx:
            assert await students.insert_student(tx, "Ada", next(EMAILS), utc_now()) is not None


@ON_SQLITE
async def test_commits_leave_checkpoints_to_the_thread(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "CHECKPOINT_EVERY", ONLY_ON_REQUEST)
    db = await open_database(settings)
    try:
        await add_students(db, 600)
        frames, _ = log_frames(settings.sqlite_path)
    finally:
        await db.close()
    assert frames > 1000, "a commit checkpointed (by default SQLite does at 1,000 frames)"


@ON_SQLITE
async def test_under_steady_writes_the_thread_keeps_the_log_short_and_stops_with_the_database(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "CHECKPOINT_EVERY", 0.01)
    monkeypatch.setattr(engine, "RESTART_AT", 100)
    db = await open_database(settings)
    assert any(t.name == "sqlite-checkpointer" for t in threading.enumerate())
    try:
        for _ in range(50):  # requests come and go: the thread's rounds find gaps between them
            await add_students(db, 30)
            await asyncio.sleep(0.005)
        frames, _ = log_frames(settings.sqlite_path)
    finally:
        await db.close()
    assert frames < 1000, f"{frames} frames: the log was never started over"
    assert not any(t.name == "sqlite-checkpointer" for t in threading.enumerate())


def test_under_a_steady_writer_a_round_past_restart_at_starts_the_log_over(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A passive checkpoint cannot catch up with a writer that never pauses, so the log would grow
    for ever; the RESTART waits for a gap between two of its transactions."""
    monkeypatch.setattr(engine, "CHECKPOINT_EVERY", ONLY_ON_REQUEST)
    monkeypatch.setattr(engine, "RESTART_AT", 50)
    written = 0
    stop = threading.Event()

    def writer() -> None:
        nonlocal written
        with closing(engine.connect(database, timeout=1)) as conn:
            conn.execute("PRAGMA wal_autocheckpoint=0")
            while not stop.is_set():
                conn.execute("INSERT INTO notes (body) VALUES (?)", ("x" * 3000,))
                written += 1

    checkpointer = engine.Checkpointer(database)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written < 500:
            time.sleep(0.01)
        checkpointer.checkpoint()
        until = written + 20  # the writer goes on, into a log started over
        while written < until:
            time.sleep(0.001)
    finally:
        stop.set()
        thread.join()
        checkpointer.stop()
    longest = (Path(f"{database}-wal").stat().st_size - 32) // (4096 + 24)  # the file keeps its size
    frames, _ = log_frames(database)
    assert frames < longest / 2, f"{frames} frames of {longest}: the log was never started over"
