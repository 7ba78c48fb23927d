"""The parent of `serve --workers N`: uvicorn's worker supervisor, with a drain that refuses new
connections (contract section 6: on SIGTERM the server stops accepting), and the directory in
which the workers' metrics meet (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from socket import socket

from prometheus_client.multiprocess import mark_process_dead
from uvicorn import Config
from uvicorn.supervisors import Multiprocess

from registrar.metrics import MULTIPROC_DIR_VARIABLE


class Supervisor(Multiprocess):
    """uvicorn keeps its own copy of the listening socket open until the last worker has exited, so
    while the workers drain, the kernel would go on accepting connections that no one answers.
    Closing it on SIGTERM (and SIGINT) makes them refused as soon as the workers close theirs.

    A worker that is gone (crashed and replaced, or retired by SIGHUP or SIGTTOU) is marked dead in
    the metrics directory, so that its pool gauges leave the sums; its counters stay counted."""

    def __init__(self, config: Config, sockets: list[socket], metrics_dir: str) -> None:
        super().__init__(config, sockets)
        self.metrics_dir = metrics_dir

    def handle_term(self) -> None:
        self._stop_listening()
        super().handle_term()

    def handle_int(self) -> None:
        self._stop_listening()
        super().handle_int()

    def _stop_listening(self) -> None:
        for sock in self.sockets:
            sock.close()

    def handle_signals(self) -> None:
        with self._marking_the_departed():
            super().handle_signals()

    def keep_subprocess_alive(self) -> None:
        with self._marking_the_departed():
            super().keep_subprocess_alive()

    @contextmanager
    def _marking_the_departed(self) -> Iterator[None]:
        before = {process.pid for process in self.processes}
        try:
            yield
        finally:
            for pid in before - {process.pid for process in self.processes}:
                if pid is not None:
                    mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]


@contextmanager
def metrics_directory() -> Iterator[str]:
    """A fresh directory for the workers' metrics, named in the environment they inherit (they
    start as new processes, which read it when they import prometheus-client), removed at exit."""
    path = tempfile.mkdtemp(prefix="registrar-metrics-")
    previous = os.environ.get(MULTIPROC_DIR_VARIABLE)
    os.environ[MULTIPROC_DIR_VARIABLE] = path
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_DIR_VARIABLE, None)
        else:
            os.environ[MULTIPROC_DIR_VARIABLE] = previous
        shutil.rmtree(path, ignore_errors=True)


def drain_seconds(grace: float) -> int:
    """How long requests in flight may run after SIGTERM: the grace less a second for noticing the
    signal and stopping the workers, since the process must be gone within the grace."""
    return max(1, int(grace - 1))
