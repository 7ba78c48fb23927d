"""The dependencies: the locks agree with pyproject.toml and with what the tests run on, and the
image and CI install the locks."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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
    assert "exec bash scripts/check" in (ROOT / ".ci" / "run").read_text()
