"""The OpenAPI document, completed where FastAPI's generator leaves it short.

FastAPI documents a 422 as ``application/json`` ``HTTPValidationError``; this API answers every
error as an RFC 7807 problem (``application/problem+json``, see ``errors.py``). So each
operation's 422 is documented as a problem, and so are the answers every route can give: 503
when the warehouse cannot be reached, 401 on the routes that take ``X-API-Key``; and the
``X-Cache`` header of the routes the response cache serves (``cache.py``). Route-specific
errors (404 for an unknown feeder, run or node) are declared on the routes with
:data:`NOT_FOUND`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI

from wattlake.api.cache import HEADER_DOC

PROBLEM = "application/problem+json"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 7807 problem document.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "hint": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
_REF = {"$ref": "#/components/schemas/Problem"}


def problem_response(description: str) -> dict[str, Any]:
    """A ``responses=`` entry for a route: ``description``, body a problem document."""
    return {"description": description, "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}}


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: problem_response("Not found (problem document with a hint)")
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": _REF}}}


def complete(doc: dict[str, Any], cached: Iterable[str] = ()) -> dict[str, Any]:
    """``doc`` with problem responses on every operation, and the ``X-Cache`` header on the 200
    answers of the GET operations of the ``cached`` paths (changed in place and returned)."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            responses = op.setdefault("responses", {})
            params = op.get("parameters", [])
            if params or "requestBody" in op:
                responses["422"] = _problem("Invalid request parameters")
            if any(p.get("in") == "header" and p["name"].lower() == "x-api-key" for p in params):
                responses["401"] = _problem("Missing or wrong X-API-Key (when keys are set)")
            responses.setdefault("503", _problem("The warehouse cannot be reached"))
    for path in cached:
        ok = doc["paths"][path]["get"]["responses"]["200"]
        ok.setdefault("headers", {})["X-Cache"] = HEADER_DOC
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc


def install(app: FastAPI, cached: Iterable[str] = ()) -> None:
    """Serve the completed document at ``/openapi.json`` (and to ``app.openapi()``); GET on the
    ``cached`` paths answers through the response cache."""
    generate = app.openapi
    done: list[dict[str, Any]] = []
    cached = list(cached)

    def openapi() -> dict[str, Any]:
        if not done:
            done.append(complete(generate(), cached))
        return done[0]

    app.openapi = openapi  # type: ignore[method-assign]
