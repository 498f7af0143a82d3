"""Arrow results as paginated JSON or CSV responses."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from wattlake.engines import Engine


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


@dataclass
class Filters:
    """A WHERE clause built from optional filters, with named ``$p<n>`` parameters."""

    conditions: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, column: str, op: str, value: Any) -> Filters:
        """``column op value``; skipped when ``value`` is None."""
        if value is not None:
            name = f"p{len(self.params)}"
            self.conditions.append(f"{column} {op} ${name}")
            self.params[name] = value
        return self

    def add_in(self, column: str, values: list[Any]) -> Filters:
        """``column IN (values)``; skipped when ``values`` is empty."""
        if values:
            names = [f"p{len(self.params) + i}" for i in range(len(values))]
            self.conditions.append(f"{column} IN (" + ", ".join(f"${n}" for n in names) + ")")
            self.params.update(zip(names, values, strict=True))
        return self

    def add_sql(self, condition: str, **params: Any) -> Filters:
        """A condition written out, with its own named parameters."""
        self.conditions.append(condition)
        self.params.update(params)
        return self

    @property
    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.conditions)) if self.conditions else ""


def query_page(
    request: Request,
    engine: Engine,
    *,
    table: str,
    columns: str,
    order: str,
    filters: Filters,
    limit: int,
    offset: int,
    fmt: Format,
) -> Response | Page:
    """One page of ``table`` (and its total count) as JSON with a ``next`` link, or as CSV."""
    where = filters.sql
    total = engine.query(f"SELECT count(*) FROM {table}{where}", filters.params)
    rows = engine.query(
        f"SELECT {columns} FROM {table}{where} ORDER BY {order} LIMIT $limit OFFSET $offset",
        {**filters.params, "limit": limit, "offset": offset},
    )
    return page_response(request, rows, int(total.column(0)[0].as_py()), limit, offset, fmt)


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
