"""Errors as RFC 7807 problem documents (``application/problem+json``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from wattlake.errors import (
    ConfigError,
    ConflictError,
    InputError,
    NotFoundError,
    SourceError,
    WarehouseError,
    WattlakeError,
)

PROBLEM = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _status(exc: WattlakeError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, SourceError):
        return 502
    if isinstance(exc, WarehouseError | ConfigError):
        return 503
    return 500


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in errors)
        return problem(422, "Invalid request parameters", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # keep the exception's headers: Allow on a 405, WWW-Authenticate, ...
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = ", ".join(_allowed(request))
        return problem(exc.status_code, _title(exc.status_code), str(exc.detail), headers)

    @app.exception_handler(WattlakeError)
    async def _wattlake(request: Request, exc: WattlakeError) -> JSONResponse:
        status = _status(exc)
        extra: dict[str, Any] = {"hint": exc.hint}
        if isinstance(exc, ConflictError) and exc.run_id:
            extra["run_id"] = exc.run_id
        return problem(status, type(exc).__name__, exc.message, **extra)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _allowed(request: Request) -> list[str]:
    """The methods the OpenAPI document lists for this request's path (what a 405 allows)."""
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for pattern, verbs in _path_methods(request.app):
        if pattern.fullmatch(path):
            methods |= verbs
    return sorted(methods)


def _path_methods(app: FastAPI) -> list[tuple[re.Pattern[str], set[str]]]:
    cached: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "_allow", None)
    if cached is None:
        cached = [
            (compile_path(path)[0], {m.upper() for m in ops if m != "parameters"})
            for path, ops in app.openapi().get("paths", {}).items()
        ]
        app.state._allow = cached
    return cached
