"""The parent of `serve --workers N`: uvicorn's worker supervisor, with a drain that refuses new
connections (contract section 6: on SIGTERM the server stops accepting)."""

from __future__ import annotations

from uvicorn.supervisors import Multiprocess


class Supervisor(Multiprocess):
    """uvicorn keeps its own copy of the listening socket open until the last worker has exited, so
    while the workers drain, the kernel would go on accepting connections that no one answers.
    Closing it on SIGTERM (and SIGINT) makes them refused as soon as the workers close theirs."""

    def handle_term(self) -> None:
        self._stop_listening()
        super().handle_term()

    def handle_int(self) -> None:
        self._stop_listening()
        super().handle_int()

    def _stop_listening(self) -> None:
        for sock in self.sockets:
            sock.close()


def drain_seconds(grace: float) -> int:
    """How long requests in flight may run after SIGTERM: the grace less a second for noticing the
    signal and stopping the workers, since the process must be gone within the grace."""
    return max(1, int(grace - 1))
