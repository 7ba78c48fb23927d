"""The parent of `serve --workers N`: uvicorn's worker supervisor, with a listening socket of its
own for each worker (SO_REUSEPORT), a drain that refuses new connections (contract section 6: on
SIGTERM the server stops accepting), and the directory in which the workers' metrics meet
(prometheus-client's multiprocess mode)."""

from __future__ import annotations

import logging
import os
import shutil
import socket as sockets
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from socket import socket
from typing import Any

from prometheus_client.multiprocess import mark_process_dead
from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from registrar.metrics import MULTIPROC_DIR_VARIABLE

logger = logging.getLogger("uvicorn.error")


class Supervisor(Multiprocess):
    """On SIGTERM (and SIGINT) each worker closes its listening socket before it drains, so new
    connections are refused from then on. The parent's socket never listens (`ReusePortSocket`);
    it is closed then too, so that the port is free once the workers have gone. (A parent's copy
    of a shared listening socket would have gone on accepting connections no one answers.)

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


class ReusePortSocket(socket):
    """The address the workers listen on, bound in the parent (SO_REUSEPORT, never listening: it
    takes no connections, but a port in use fails here, once, and port 0 becomes a real port).

    uvicorn hands the parent's sockets to each worker it starts, pickled. This one pickles as
    "bind another like me", so each worker listens on a socket of its own and the kernel spreads
    new connections over them. With one shared socket, whichever worker woke first took them:
    31 of wrk's 32 connections on one worker was seen. A worker that exits takes its socket with
    it, so its share goes to the others until its replacement binds."""

    def __reduce__(self) -> tuple[Callable[..., socket], tuple[Any, ...]]:
        return reuse_port_socket, (self.family, self.getsockname()[:2])


def reuse_port_socket(family: int, address: tuple[str, int]) -> socket:
    """A socket bound with SO_REUSEPORT to `address`."""
    sock = ReusePortSocket(family, sockets.SOCK_STREAM)
    sock.setsockopt(sockets.SOL_SOCKET, sockets.SO_REUSEPORT, 1)
    return _bound(sock, address)


def listening_address(host: str, port: int) -> socket:
    """The workers' address, checked first with a plain socket: SO_REUSEPORT alone would let a
    second server of the same user share a port in use instead of failing to start."""
    family = sockets.AF_INET6 if ":" in host else sockets.AF_INET
    with _bound(socket(family, sockets.SOCK_STREAM), (host, port)) as probe:
        port = probe.getsockname()[1]
    return reuse_port_socket(family, (host, port))


def _bound(sock: socket, address: tuple[str, int]) -> socket:
    """Bound, or the process exits as uvicorn's would on a port it cannot bind; in a worker that
    is a startup failure, which stops the supervisor instead of restarting the worker forever."""
    sock.setsockopt(sockets.SOL_SOCKET, sockets.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        logger.error(exc)
        sys.exit(STARTUP_FAILURE)
    return sock


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
