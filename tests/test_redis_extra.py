"""Redis support is the optional extra registrar[redis]: the service runs without it, and
REGISTRAR_REDIS_URL set without it stops `registrar serve` with one line saying so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from registrar.services.throttle import REDIS_EXTRA_MISSING
from tests.pgcluster import free_port

# Runs the CLI as if limits and coredis were not installed (None in sys.modules: import fails).
WITHOUT_REDIS_EXTRA = (
    "import sys; sys.modules.update(limits=None, coredis=None); sys.argv[0] = 'registrar'; "
    "from registrar.cli import main; main()"
)


def without_redis_extra(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRAR_")}
    environment.update(REGISTRAR_DATABASE_URL=f"sqlite:///{tmp_path / 'registrar.db'}", **env)
    return subprocess.Popen(
        [sys.executable, "-c", WITHOUT_REDIS_EXTRA, *args],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_with_a_redis_url_but_without_the_extra_says_so_in_one_line(tmp_path: Path) -> None:
    server = without_redis_extra(tmp_path, "serve", REGISTRAR_REDIS_URL="redis://127.0.0.1:6379/0")
    out, err = server.communicate(timeout=60)
    assert server.returncode == 1
    assert err.splitlines() == [f"registrar: {REDIS_EXTRA_MISSING}"]
    assert "First admin key" not in out and not (tmp_path / "registrar.db").exists()


@pytest.mark.slow
def test_serve_runs_without_the_redis_extra(tmp_path: Path) -> None:
    port = free_port()
    server = without_redis_extra(tmp_path, "serve", "--port", str(port))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, server.communicate()[1]
            time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/students", timeout=5).status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
