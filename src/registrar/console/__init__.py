"""The staff console (contract section 10): one page and its two assets, shipped in this package and
served by registrar itself, so it works without internet access.

The routes stay out of the API document (`include_in_schema=False`), which makes them public like
/docs: the page holds no data, and everything it shows comes from the API with the key the person
signs in with. `/console/` with a trailing slash is a 404 like every other path (contract section 5).
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from starlette.responses import Response

from registrar.problems import NotFound

# Only this origin's files and API; no inline script or style, no framing, no plugins.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
ASSETS = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}

router = APIRouter()


def _asset(name: str, media_type: str) -> Response:
    body = files(__name__).joinpath(name).read_bytes()
    headers = {
        "content-security-policy": POLICY,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        # A new release must reach open tabs on their next load; the files are small.
        "cache-control": "no-cache",
    }
    return Response(body, 200, headers, media_type)


@router.get("/console", include_in_schema=False)
async def console_page() -> Response:
    return _asset("index.html", "text/html; charset=utf-8")


@router.get("/console/{name}", include_in_schema=False)
async def console_asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound(f"The console has no file {name!r}.")
    return _asset(name, ASSETS[name])
