"""`registrar` as an operator runs it, for the tests that need the console script or a real server
process: one place that finds the executable, one environment builder, one way to start `serve`
(on a free port, waited for on /healthz and its workers' start, stopped with its workers afterwards)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.pgcluster import ThrowawayPostgres, free_port

REGISTRAR = Path(sys.executable).with_name("registrar")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def environment(url: str | None = None, **settings: str) -> dict[str, str]:
    """The process environment for the CLI: this database (or none: .env or the default), no access
    log, and nothing inherited from a REGISTRAR_* variable of the shell that runs the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRAR_")}
    env["REGISTRAR_ACCESS_LOG"] = "false"
    if url is not None:
        env["REGISTRAR_DATABASE_URL"] = url
    return env | settings


def run(
    env: dict[str, str], cwd: Path, *args: str, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """One `registrar` command to completion, whatever its exit status."""
    return subprocess.run(
        [str(REGISTRAR), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli(env: dict[str, str], cwd: Path, *args: str, timeout: float = 120.0) -> str:
    """One `registrar` command that must succeed; its stdout."""
    done = run(env, cwd, *args, timeout=timeout)
    assert done.returncode == 0, f"registrar {' '.join(args)} failed: {done.stderr}"
    return done.stdout


def admin_token(env: dict[str, str], cwd: Path) -> str:
    return cli(env, cwd, "keys", "create", "--role", "admin", "--name", "fault tests").strip()


class Server:
    """`registrar serve` in its own process group, so that teardown can reach its workers too. Its
    stdout and stderr go to files in `cwd`, read back with `stdout()` and `stderr()`."""

    def __init__(self, env: dict[str, str], cwd: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self._stdout_path = cwd / f"serve-{self.port}.stdout"
        self._stderr_path = cwd / f"serve-{self.port}.stderr"
        command = [str(REGISTRAR), "serve", "--port", str(self.port), "--workers", str(workers)]
        with self._stdout_path.open("wb") as stdout, self._stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                command,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stdout(self) -> str:
        return self._stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self._stderr_path.read_text(errors="replace")

    def log_tail(self, chars: int = 3000) -> str:
        return self.stderr()[-chars:]

    def json_lines(self) -> list[dict[str, Any]]:
        """The log: one JSON object per line on stderr (a line cut short by a kill is left out)."""
        lines = self.stderr().splitlines()
        return [orjson.loads(line) for line in lines if line.startswith("{") and line.endswith("}")]

    def first_key(self) -> str:
        """The admin key `serve` printed on its first start."""
        for line in self.stdout().splitlines():
            if line.startswith("First admin key"):
                return line.rsplit(" ", 1)[-1]
        raise AssertionError("serve printed no first admin key")

    def client(
        self, token: str | None = None, timeout: float = 30.0, connections: int = 100
    ) -> httpx.AsyncClient:
        """A client for many requests at once, with `token` or else the first admin key."""
        headers = {"authorization": f"Bearer {token or self.first_key()}"}
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout, limits=limits)

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

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, as an operator would; whatever of the process group is left after `timeout`
        seconds is killed."""
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        self.kill()

    def kill(self) -> None:
        """SIGKILL to the whole process group (workers may outlive their parent)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


@contextlib.contextmanager
def serving(env: dict[str, str], cwd: Path, workers: int = 1) -> Iterator[Server]:
    """A server that is ready for the block, stopped (and its process group killed) after it."""
    server = Server(env, cwd, workers)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def new_database(engine: str, postgres: ThrowawayPostgres | None, cwd: Path, name: str) -> str:
    """The URL of a new, empty database for a server of its own: a file in `cwd` (SQLite), or a
    database called `name` in the test cluster."""
    if engine == "sqlite":
        return f"sqlite:///{cwd / 'registrar.db'}"
    assert postgres is not None
    return postgres.create_database(name)


@contextlib.contextmanager
def two_workers_on_a_new_database(
    engine: str, postgres: ThrowawayPostgres | None, cwd: Path, name: str
) -> Iterator[tuple[Server, int]]:
    """`serve --workers 2` on a new database, which it migrates, and the id of the first admin key
    it made (whose token it printed)."""
    env = environment(new_database(engine, postgres, cwd, name))
    with serving(env, cwd, workers=2) as server:
        [key_line] = cli(env, cwd, "keys", "list").splitlines()
        yield server, int(key_line.split("\t", 1)[0])
