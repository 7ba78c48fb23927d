"""A real `registrar serve` process for the tests that need one (faults, shutdown): started through
the console script on a free port, waited for on /healthz, and killed with its workers afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.pgcluster import free_port

REGISTRAR = Path(sys.executable).with_name("registrar")
START_TIMEOUT = 60.0


def environment(url: str, **extra: str) -> dict[str, str]:
    """The process environment for the CLI: this database, no access log, nothing inherited from a
    REGISTRAR_* variable of the shell that runs the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRAR_")}
    env.update(REGISTRAR_DATABASE_URL=url, REGISTRAR_ACCESS_LOG="false", **extra)
    return env


def cli(env: dict[str, str], cwd: Path, *args: str, timeout: float = 120.0) -> str:
    """Run one `registrar` command to completion; its stdout."""
    done = subprocess.run(
        [str(REGISTRAR), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"registrar {' '.join(args)} failed: {done.stderr}"
    return done.stdout


def admin_token(env: dict[str, str], cwd: Path) -> str:
    return cli(env, cwd, "keys", "create", "--role", "admin", "--name", "fault tests").strip()


class Server:
    """`registrar serve` in its own process group, so that teardown can reach its workers too."""

    def __init__(self, env: dict[str, str], cwd: Path, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self._stdout_path = cwd / f"serve-{self.port}.stdout"
        self._stderr_path = cwd / f"serve-{self.port}.stderr"
        command = [str(REGISTRAR), "serve", "--port", str(self.port), "--workers", str(workers)]
        with self._stdout_path.open("wb") as stdout, self._stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                command, env=env, cwd=cwd, stdout=stdout, stderr=stderr, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return self._stderr_path.read_text(errors="replace")

    def first_key(self) -> str:
        """The admin key `serve` printed on its first start."""
        for line in self._stdout_path.read_text().splitlines():
            if line.startswith("First admin key"):
                return line.rsplit(" ", 1)[-1]
        raise AssertionError("serve printed no first admin key")

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until /healthz answers and every worker has started (a request to the parent's socket
        may otherwise meet a worker still starting, or uvicorn replacing one that was slow to)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited early: {self.stderr()}"
            started = self.stderr().count("Application startup complete") >= self.workers
            with contextlib.suppress(httpx.HTTPError):
                if started and httpx.get(f"{self.url}/healthz", timeout=2.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"serve did not answer /healthz within {timeout} s: {self.stderr()}")

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the whole process group (workers may outlive their parent)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


@contextlib.contextmanager
def serving(env: dict[str, str], cwd: Path, workers: int) -> Iterator[Server]:
    server = Server(env, cwd, workers)
    try:
        server.wait_ready()
        yield server
    finally:
        server.kill()
