"""The /docs assets, served by registrar itself without a token, against hostile requests."""

from __future__ import annotations

import re
import time

import httpx


async def test_docs_asset_answers_a_header_of_many_ranges_at_once(anon: httpx.AsyncClient) -> None:
    """CVE-2025-62727 and what its fix in 0.49.1 left: Starlette merged the ranges of one Range
    header in quadratic time until 1.0.0 (some 10 s of a worker for these 20,000), and answered
    each of them in a multipart body until 1.5.1 (some 5 s). The /docs assets need no token."""
    html = (await anon.get("/docs")).text
    asset = next(a for a in re.findall(r"""src=["']([^"']+\.js)["']""", html) if "bundle" in a)
    ranges = ",".join(f"{2 * i}-{2 * i}" for i in range(20_000))

    started = time.perf_counter()
    response = await anon.get(asset, headers={"range": f"bytes={ranges}"})

    assert response.status_code in (200, 206, 416)
    assert time.perf_counter() - started < 5
