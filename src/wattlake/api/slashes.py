"""Trailing-slash redirects everywhere but on the seed systems' routes.

Starlette answers ``GET /v1/lmp/`` with a 307 to ``/v1/lmp``, which is convenient for the
``/v1`` API. The seed systems did not: the CAISO seed's own test expects ``GET /lmp/`` to be a
404. So the router's built-in redirect is turned off and done again here, in the router's
not-found fallback, only towards routes that are not seed routes.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import URL
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Match, Router
from starlette.types import Receive, Scope, Send


def redirect_slashes_except(router: Router, seed_routes: Iterable[BaseRoute]) -> None:
    """Redirect ``/x/`` <-> ``/x`` like Starlette, except towards any of ``seed_routes`` (the
    routes of the seed routers as declared: their paths are what they match once included)."""
    seed = list(seed_routes)
    not_found = router.default
    router.redirect_slashes = False

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path != "/":
            other = dict(scope)
            other["path"] = path.rstrip("/") if path.endswith("/") else path + "/"
            towards_seed = any(r.matches(other)[0] is not Match.NONE for r in seed)
            for route in [] if towards_seed else router.routes:
                match, _child = route.matches(other)
                if match is not Match.NONE:
                    await RedirectResponse(url=str(URL(scope=other)))(scope, receive, send)
                    return
        await not_found(scope, receive, send)

    router.default = default
