"""The dependencies: the locks agree with pyproject.toml and with what the tests run on, the image
and CI install the locks, and the vulnerability check fails on a known vulnerability and says so
when it cannot look."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.pgcluster import free_port

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$", re.MULTILINE)


def pins(lock: str) -> dict[str, str]:
    """The lock's version of each package that applies to this interpreter and platform."""
    found = {}
    for name, pinned, marker in PIN.findall((ROOT / lock).read_text()):
        if not marker or Requirement(f"{name}; {marker}").marker.evaluate():  # type: ignore[union-attr]
            found[canonicalize_name(name)] = pinned
    return found


def declared(*extras: str) -> list[Requirement]:
    """pyproject.toml's requirements with these extras, the project's own extras expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found, todo = [], [*project["dependencies"], *(f"registrar[{extra}]" for extra in extras)]
    while todo:
        requirement = Requirement(todo.pop())
        if requirement.name == "registrar":
            for extra in requirement.extras:
                todo += project["optional-dependencies"][extra]
        elif requirement.marker is None or requirement.marker.evaluate():
            found.append(requirement)
    return found


@pytest.mark.parametrize(
    ("lock", "extras"), [("requirements-test.lock", ("test",)), ("requirements.lock", ("redis",))]
)
def test_each_lock_satisfies_pyproject(lock: str, extras: tuple[str, ...]) -> None:
    locked = pins(lock)
    for requirement in declared(*extras):
        pinned = locked.get(canonicalize_name(requirement.name))
        assert pinned is not None, f"{requirement.name} is not in {lock}: run bash scripts/lock"
        assert requirement.specifier.contains(pinned, prereleases=True), f"{lock}: {requirement} vs {pinned}"


def test_the_image_lock_has_the_versions_the_tests_ran_on() -> None:
    image, tested = pins("requirements.lock"), pins("requirements-test.lock")
    assert {name: tested.get(name) for name in image} == image


def test_the_tests_run_on_exactly_the_test_lock() -> None:
    installed = {name: version(name) for name in pins("requirements-test.lock")}
    assert installed == pins("requirements-test.lock"), "install the lock: bash scripts/check"


def test_image_and_ci_install_the_locks_with_hashes() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    check = (ROOT / "scripts" / "check").read_text()
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert "--require-hashes -r requirements-test.lock" in check
    assert "scripts/audit.py" in check
    assert "exec bash scripts/check" in (ROOT / ".ci" / "run").read_text()


# --- the vulnerability check ---------------------------------------------------------------------

VULNERABLE = {("starlette", "0.46.2"): "GHSA-7f5h-v6xp-fcq8"}


class StandInOsv(BaseHTTPRequestHandler):
    """Answers OSV's query API from VULNERABLE: the check's network, without the network."""

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["content-length"])))
        name, release = query["package"]["name"], query["version"]
        answer: dict[str, object] = {}
        if (name, release) in VULNERABLE:
            fixed = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0.49.1"}]}]
            vuln = {"id": VULNERABLE[name, release], "aliases": ["CVE-2025-62727"], "summary": "Range DoS"}
            answer = {
                "vulns": [
                    {**vuln, "affected": [{"package": {"name": name, "ecosystem": "PyPI"}, "ranges": fixed}]}
                ]
            }
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def osv_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInOsv)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()


def audit(lock: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "scripts" / "audit.py"), str(lock), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def write_lock(path: Path, *requirements: str) -> Path:
    path.write_text("".join(f"{r} --hash=sha256:{'0' * 64}\n" for r in requirements))
    return path


def test_audit_fails_on_a_known_vulnerability(tmp_path: Path, osv_url: str) -> None:
    lock = write_lock(tmp_path / "old.lock", "starlette==0.46.2", "orjson==3.13.0")
    done = audit(lock, "--osv-url", osv_url)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"starlette\s+0\.46\.2\s+CVE-2025-62727\s+0\.49\.1", done.stdout), done.stdout


def test_audit_passes_a_lock_without_known_vulnerabilities(tmp_path: Path, osv_url: str) -> None:
    lock = write_lock(tmp_path / "new.lock", "starlette==1.10.0", "orjson==3.13.0")
    done = audit(lock, "--osv-url", osv_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No known vulnerabilities found" in done.stdout + done.stderr


def test_audit_without_a_reachable_service_passes_with_a_notice(tmp_path: Path) -> None:
    lock = write_lock(tmp_path / "old.lock", "starlette==0.46.2")
    unreachable = f"http://127.0.0.1:{free_port()}/v1/query"
    offline = audit(lock, "--osv-url", unreachable)
    assert offline.returncode == 0
    assert "NOT CHECKED" in offline.stdout and "--require-network" in offline.stdout
    assert audit(lock, "--osv-url", unreachable, "--require-network").returncode == 1
