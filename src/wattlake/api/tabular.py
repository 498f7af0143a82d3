"""Arrow results as paginated JSON or CSV responses."""

from __future__ import annotations

import io
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel


class Format(StrEnum):
    json = "json"
    csv = "csv"


class Page(BaseModel):
    """A page of results; ``next`` is the URL of the next page, or null on the last."""

    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    next: str | None


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


def page_response(
    request: Request, table: pa.Table, total: int, limit: int, offset: int, fmt: Format
) -> Response | Page:
    if fmt is Format.csv:
        buf = io.BytesIO()
        pacsv.write_csv(table, buf)
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8")
    items = [{k: _jsonable(v) for k, v in row.items()} for row in table.to_pylist()]
    nxt = None
    if offset + limit < total:
        nxt = str(request.url.include_query_params(offset=offset + limit, limit=limit))
    return Page(items=items, total=total, limit=limit, offset=offset, next=nxt)
