"""Matching a request to its route once: the gate matches it (it needs the route's role before any
handler runs), and the router hands the request to that route instead of matching it again.

Each pass over the 32 routes in order cost about 27 us for a W2 request, twice per request. The
table tries only the routes that could match in full: those of the request's method whose path
starts with the same literal segment, in their original order, so the first full match is the one
Starlette's router would find.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette._utils import get_route_path  # the path routes match against, as Starlette's router
from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send

MATCHED = "registrar.matched"  # scope key: (route, child scope) of the gate's full match


def _first_segment(path: str) -> str | None:
    """'/students/{id}/courses' -> 'students'; None when the segment is a parameter."""
    segment = path.split("/", 2)[1] if path.startswith("/") and len(path) > 1 else ""
    return None if "{" in segment else segment


def _segment_of(route: BaseRoute) -> str | None:
    path = getattr(route, "path", None)
    return _first_segment(path) if isinstance(path, str) else None


class RouteTable:
    """The routes, narrowed by method and first path segment. The narrowed lists are built when the
    app is first called (Starlette builds its middleware then); `routes` is the app's own list, so
    the fallback over every route also sees a route added later."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self._routes = routes
        self._known = {"", *(s for s in map(_segment_of, self._routes) if s is not None)}
        methods = {m for route in self._routes for m in (getattr(route, "methods", None) or ())}
        self._by_key = {(m, s): self._candidates(m, s) for m in methods for s in self._known}

    def _candidates(self, method: str, segment: str) -> list[BaseRoute]:
        found = []
        for route in self._routes:
            route_methods = getattr(route, "methods", None)
            route_segment = _segment_of(route)
            if route_methods and method not in route_methods:
                continue  # Starlette's match would be partial at best (405)
            if route_segment is None or route_segment == segment:
                found.append(route)
        return found

    def match(self, scope: Scope) -> tuple[BaseRoute, Scope] | None:
        """The first route that matches the request in full, and the scope it adds."""
        segment = _first_segment(get_route_path(scope)) or ""
        candidates = self._by_key.get((scope["method"], segment if segment in self._known else ""))
        # No route of the table matched (a 404 or 405 to come, or a method no route declares):
        # all of them in order, so the gate never passes on a request the router would route.
        return _first_full_match(candidates or [], scope) or _first_full_match(self._routes, scope)


def _first_full_match(routes: Sequence[BaseRoute], scope: Scope) -> tuple[BaseRoute, Scope] | None:
    for route in routes:
        match, child_scope = route.matches(scope)
        if match is Match.FULL:
            return route, child_scope
    return None


class RouteOnce:
    """The router's entry: a request the gate matched goes straight to its route, as Starlette's
    router would send it; any other (404, 405, lifespan) goes through the router as usual."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.route_anyway: ASGIApp = router.middleware_stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = scope.get(MATCHED)
        if matched is None:
            await self.route_anyway(scope, receive, send)
            return
        route, child_scope = matched
        scope.setdefault("router", self.router)
        scope["route"] = route
        scope.update(child_scope)
        await route.handle(scope, receive, send)


def route_once(router: Router) -> None:
    """Let `router` take the gate's match. For a full match FastAPI's router does what RouteOnce
    does, and besides applies the router's form limits, merges an included router's scope and names
    the route for its telemetry: this app has no form limits, includes no router (its routes are
    plain, see app.py) and runs with telemetry off. Nor may the router have middleware of its own,
    which the shortcut would skip."""
    if router.middleware_stack != router.app or getattr(router, "form_limits", None):
        raise RuntimeError("the router does more than route: RouteOnce would skip it")
    router.middleware_stack = RouteOnce(router)
