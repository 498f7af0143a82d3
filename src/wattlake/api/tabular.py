"""Arrow results as paginated JSON or CSV responses."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.csv as pacsv
from fastapi import HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator
from pydantic_core import to_json

from wattlake.csvsafe import neutralise_formulas
from wattlake.engines import Engine


class Format(StrEnum):
    json = "json"
    csv = "csv"


#: Page bounds shared by every paginated route. The offset bound keeps ``offset + limit`` (the
#: next link) far inside a signed 64-bit integer on every engine; no real table is paged that far.
MAX_LIMIT = 10_000
MAX_OFFSET = 10**12
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page (1..{MAX_LIMIT})")]
Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description=f"Rows to skip (0..{MAX_OFFSET:.0e})")
]


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date_text(value: Any) -> Any:
    """Only ``YYYY-MM-DD`` text is a date here (pydantic alone would read ``0`` or ``1700000000``
    as a Unix time, which the documented ``format: date`` does not allow)."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("a date as YYYY-MM-DD")
    return value


#: A date query parameter: ISO ``YYYY-MM-DD`` only.
IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]


def check_page(limit: int, offset: int) -> None:
    """422 when ``limit``/``offset`` are outside the shared bounds (for callers that did not
    declare them with :data:`Limit` / :data:`Offset`)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise HTTPException(422, f"limit must be 1..{MAX_LIMIT}, got {limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise HTTPException(422, f"offset must be 0..{MAX_OFFSET}, got {offset}")


def check_range(start: date | datetime | None, end: date | datetime | None) -> None:
    """422 when both ends are given and ``start`` is after ``end`` (a rule across two
    parameters that OpenAPI cannot state)."""
    if start is not None and end is not None and start > end:
        raise HTTPException(422, f"start ({start}) is after end ({end})")


class Page(BaseModel):
    """A page of results; ``next`` is the URL of the next page, or null on the last."""

    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    next: str | None


@dataclass
class Filters:
    """A WHERE clause built from optional filters, with named ``$<prefix><n>`` parameters
    (another ``prefix`` lets two clauses share one statement)."""

    conditions: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    prefix: str = "p"

    def add(self, column: str, op: str, value: Any) -> Filters:
        """``column op value``; skipped when ``value`` is None."""
        if value is not None:
            name = f"{self.prefix}{len(self.params)}"
            self.conditions.append(f"{column} {op} ${name}")
            self.params[name] = value
        return self

    def add_in(self, column: str, values: list[Any]) -> Filters:
        """``column IN (values)``; skipped when ``values`` is empty."""
        if values:
            names = [f"{self.prefix}{len(self.params) + i}" for i in range(len(values))]
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


#: The page's total rides along with the page as this extra column (dropped before output).
TOTAL_COLUMN = "_wl_total"
#: ... and so does :class:`Owner`'s count.
FOUND_COLUMN = "_wl_found"

Rows = tuple[list[str], list[tuple[Any, ...]]]


@dataclass
class Owner:
    """What a page belongs to (a feeder, a turbine, a usage point): the page is a 404 ``error``
    when no row of ``table`` passes ``filters`` (give them their own ``prefix``). Checked in the
    page's own statement, so asking for a page costs one query, not two."""

    table: str
    filters: Filters
    error: Exception

    @property
    def count_sql(self) -> str:
        """1 when the owner exists, else 0 (stops at its first row)."""
        return f"(SELECT count(*) FROM (SELECT 1 FROM {self.table}{self.filters.sql} LIMIT 1) AS o)"


def fetch_rows(engine: Engine, sql: str, params: Mapping[str, Any] | None = None) -> Rows:
    """Column names and rows as tuples: the engine's ``rows`` where it has one (no Arrow on
    the way), else its Arrow answer turned into rows."""
    rows: Callable[[str, Mapping[str, Any] | None], Rows] | None = getattr(engine, "rows", None)
    if rows is not None:
        return rows(sql, params)
    table = engine.query(sql, params)
    return table.column_names, list(zip(*(c.to_pylist() for c in table.columns), strict=True))


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
    owner: Owner | None = None,
) -> Response:
    """One page of ``table`` (and its total count) as JSON with a ``next`` link, or as CSV.

    Page and total come from one statement: the count is an uncorrelated scalar subquery (run
    once, and the page keeps its top-N sort, unlike ``count(*) OVER ()`` which sorts every
    matching row); so does ``owner``'s count. Only an empty page (no row to carry them) costs a
    second query. JSON pages read the rows as Python tuples, CSV pages as Arrow.
    """
    check_page(limit, offset)
    where = filters.sql
    counts = f"(SELECT count(*) FROM {table}{where}) AS {TOTAL_COLUMN}"
    params = dict(filters.params)
    if owner is not None:
        counts += f", {owner.count_sql} AS {FOUND_COLUMN}"
        params.update(owner.filters.params)
    hidden = 1 if owner is None else 2  # the trailing count columns
    sql = (
        f"SELECT {columns}, {counts} FROM {table}{where} "
        f"ORDER BY {order} LIMIT $limit OFFSET $offset"
    )
    page = {**params, "limit": limit, "offset": offset}
    arrow = engine.query(sql, page) if fmt is Format.csv else None
    if arrow is None:
        names, rows = fetch_rows(engine, sql, page)
        first = rows[0][-hidden:] if rows else None
    else:
        names, rows = arrow.column_names, []
        head = arrow.slice(0, 1).select(names[-hidden:]).to_pylist()
        first = tuple(head[0].values()) if head else None
    if first is None:  # no row carried the counts: ask for them alone, unless plainly none
        asked = offset or owner is not None
        first = fetch_rows(engine, f"SELECT {counts}", params)[1][0] if asked else (0,)
    if owner is not None and not first[-1]:
        raise owner.error
    total = int(first[0])
    if arrow is not None:
        return csv_response(arrow.drop_columns(names[-hidden:]))
    return json_page(request, names[:-hidden], [r[:-hidden] for r in rows], total, limit, offset)


def json_items(names: list[str], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts; dates and times become ISO text (``isoformat``), only in the
    columns that hold them (found from their first non-null value: no per-cell type test)."""
    temporal = []
    for i in range(len(names)):
        first = next((r[i] for r in rows if r[i] is not None), None)
        if isinstance(first, datetime | date):
            temporal.append(i)
    if temporal:
        cols = list(zip(*rows, strict=True))
        for i in temporal:
            cols[i] = tuple(None if v is None else v.isoformat() for v in cols[i])
        rows = list(zip(*cols, strict=True))
    return [dict(zip(names, r, strict=True)) for r in rows]


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


def records(
    engine: Engine, sql: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The answer to ``sql`` as JSON-ready dicts (dates and times as ISO text)."""
    return json_items(*fetch_rows(engine, sql, params))


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """``table``'s rows as JSON-ready dicts (dates and times as ISO text)."""
    names = table.column_names
    return json_items(names, list(zip(*(c.to_pylist() for c in table.columns), strict=True)))


def json_response(body: Any) -> Response:
    """The bytes FastAPI would send for ``body`` (pydantic's JSON serializer, as on its
    response_model path: compact, NaN/inf as null), without validating it against a model."""
    return Response(to_json(body, inf_nan_mode="null"), media_type="application/json")


def csv_response(table: pa.Table) -> Response:
    buf = io.BytesIO()
    pacsv.write_csv(neutralise_formulas(table), buf)
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8")


def json_page(
    request: Request,
    names: list[str],
    rows: list[tuple[Any, ...]],
    total: int,
    limit: int,
    offset: int,
) -> Response:
    """A :class:`Page` of ``rows`` with its ``next`` link."""
    nxt = None
    if offset + limit < total:
        nxt = str(request.url.include_query_params(offset=offset + limit, limit=limit))
    items = json_items(names, rows)
    return json_response(
        {"items": items, "total": total, "limit": limit, "offset": offset, "next": nxt}
    )
