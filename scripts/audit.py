"""Fail on any known vulnerability in the pinned set that scripts/check installs.

pip-audit looks up every package of requirements-test.lock (requirements.lock, the image's, holds a
subset of it at the same versions) in PyPI's vulnerability data, or in OSV's when PyPI's cannot be
reached. When neither can be reached (CI here reaches the package index but no other service), it
prints a notice saying that nothing was checked and passes, so that CI does not go red for lack of
network; --require-network makes that a failure instead.

Usage: .venv/bin/python scripts/audit.py [--require-network] [--osv-url URL] [LOCK]
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPI_PROBE = "https://pypi.org/pypi/pip/25.0/json"  # the per-release JSON API pip-audit asks
OSV_URL = "https://api.osv.dev/v1/query"
PROBE_SECONDS = 8


def probe(url: str, query: dict[str, object] | None = None) -> str | None:
    """None when the service answers; else why not, in a few words."""
    data = json.dumps(query).encode() if query is not None else None
    try:
        with urllib.request.urlopen(url, data=data, timeout=PROBE_SECONDS) as response:
            json.load(response)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return str(exc) or type(exc).__name__
    return None


def osv_probe(url: str) -> str | None:
    return probe(url, {"package": {"name": "pip", "ecosystem": "PyPI"}, "version": "25.0"})


def choose_service(osv_url: str | None) -> tuple[list[str], list[str]]:
    """pip-audit's arguments for the first service that answers (none: []), and why others did not."""
    if osv_url is not None:  # a mirror chosen by the caller: that one or none
        failed = osv_probe(osv_url)
        return ([] if failed else ["-s", "osv", "--osv-url", osv_url]), [f"{osv_url}: {failed}"]
    failures = []
    failed = probe(PYPI_PROBE)
    if failed is None:
        return ["-s", "pypi"], []
    failures.append(f"PyPI ({PYPI_PROBE}): {failed}")
    failed = osv_probe(OSV_URL)
    if failed is None:
        return ["-s", "osv"], failures
    failures.append(f"OSV ({OSV_URL}): {failed}")
    return [], failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", nargs="?", default=str(ROOT / "requirements-test.lock"))
    parser.add_argument("--require-network", action="store_true", help="fail when no service answers")
    parser.add_argument("--osv-url", help="ask this OSV service (a mirror) and no other")
    args = parser.parse_args()

    service, failures = choose_service(args.osv_url)
    if not service:
        print(
            f"== pip-audit: NOT CHECKED. No vulnerability service answers from here: {'; '.join(failures)}."
        )
        print(f"   {args.lock} was not checked for known vulnerabilities. Where pypi.org is reachable run:")
        print("   .venv/bin/python scripts/audit.py --require-network")
        return 1 if args.require_network else 0
    print(f"== pip-audit: {args.lock} against {service[-1] if args.osv_url else service[1]}")
    command = [sys.executable, "-m", "pip_audit", "--requirement", args.lock, "--disable-pip"]
    # --strict: a package that could not be looked up fails the check instead of being skipped.
    command += ["--strict", "--progress-spinner", "off", "--desc", "on", *service]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
