"""A throwaway PgBouncer in transaction mode in front of a throwaway PostgreSQL cluster, for tests
and benchmarks: 127.0.0.1 only, a small server pool, removed afterwards.

PgBouncer refuses to run as root, so as root it runs as the `postgres` user, like the cluster.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.pgcluster import ThrowawayPostgres, free_port

PGBOUNCER = Path(
    os.environ.get("REGISTRAR_PGBOUNCER") or shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"  # Debian's
)
START_TIMEOUT = 30.0
DEFAULT_POOL_SIZE = 3  # server connections per database: small, so that clients queue for them

CONFIG = """\
[databases]
* = host=127.0.0.1 port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/userlist.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 1000
logfile = {dir}/pgbouncer.log
pidfile = {dir}/pgbouncer.pid
"""


def available() -> bool:
    return PGBOUNCER.exists()


class ThrowawayPgBouncer:
    """PgBouncer with `pool_size` server connections per database, in transaction mode: what
    registrar's connections may rely on is exactly what such a pooler keeps between transactions."""

    def __init__(self, cluster: ThrowawayPostgres, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="registrar-pgbouncer-"))
        self.port = free_port()
        (self.dir / "userlist.txt").write_text('"postgres" ""\n')
        config = CONFIG.format(server_port=cluster.port, port=self.port, dir=self.dir, pool_size=pool_size)
        (self.dir / "pgbouncer.ini").write_text(config)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            for path in self.dir.iterdir():
                shutil.chown(path, "postgres", "postgres")
        command = [str(PGBOUNCER), "-d", str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True)
        self._wait_until_listening()

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        return (self.dir / "pgbouncer.log").read_text(errors="replace")

    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.dir / "pgbouncer.pid").read_text())
        return None

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1.0):
                return
            time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not listen on port {self.port}:\n{self.log()[-2000:]}")

    def destroy(self) -> None:
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                time.sleep(0.05)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)
