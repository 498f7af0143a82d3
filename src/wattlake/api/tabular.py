"""Arrow results as paginated JSON or CSV responses."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from fastapi import HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator
from pydantic_core import to_json

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


#: The page's total rides along with the page as this extra column (dropped before output).
TOTAL_COLUMN = "_wl_total"


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
    """One page of ``table`` (and its total count) as JSON with a ``next`` link, or as CSV.

    Page and total come from one statement: the count is an uncorrelated scalar subquery (run
    once, and the page keeps its top-N sort, unlike ``count(*) OVER ()`` which sorts every
    matching row). Only a page past the end (no row to carry the total) costs a second query.
    """
    check_page(limit, offset)
    where = filters.sql
    rows = engine.query(
        f"SELECT {columns}, (SELECT count(*) FROM {table}{where}) AS {TOTAL_COLUMN} "
        f"FROM {table}{where} ORDER BY {order} LIMIT $limit OFFSET $offset",
        {**filters.params, "limit": limit, "offset": offset},
    )
    if rows.num_rows:
        total = int(rows.column(TOTAL_COLUMN)[0].as_py())
    elif offset == 0:
        total = 0
    else:
        count = engine.query(f"SELECT count(*) FROM {table}{where}", filters.params)
        total = int(count.column(0)[0].as_py())
    return page_response(request, rows.drop_columns([TOTAL_COLUMN]), total, limit, offset, fmt)


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


#: A cell a spreadsheet would run as a formula (OWASP "CSV Injection"): it starts with one of these.
FORMULA_START = r"^([=+\-@\t\r])"


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """``table`` with every text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or CR
    prefixed by a single quote (OWASP CSV injection), so a spreadsheet shows it as text.

    Only string columns are touched: numbers (``-3.5`` in ``lmp``), dates and timestamps are
    written as they are, since a spreadsheet cannot read a number as a formula. A string column
    whose value happens to look numeric (``"-3"``) is still prefixed: the column's type, not its
    content, decides, so the same column never comes out half-quoted. JSON is not changed.
    """
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type))
            f = table.schema.field(i)
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            fixed = pc.replace_substring_regex(
                table.column(i), pattern=FORMULA_START, replacement="'\\1", max_replacements=1
            )
            table = table.set_column(i, f.name, fixed)
    return table


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """``table``'s rows as JSON-ready dicts (dates and times as ISO text), built column by
    column: only temporal columns are converted, and no per-cell type test is paid."""
    names = table.column_names
    cols: list[list[Any]] = []
    for f, col in zip(table.schema, table.columns, strict=True):
        values = col.to_pylist()
        if pa.types.is_temporal(f.type):
            values = [None if v is None else _jsonable(v) for v in values]
        cols.append(values)
    return [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)]


def page_response(
    request: Request, table: pa.Table, total: int, limit: int, offset: int, fmt: Format
) -> Response | Page:
    if fmt is Format.csv:
        buf = io.BytesIO()
        pacsv.write_csv(neutralise_formulas(table), buf)
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8")
    nxt = None
    if offset + limit < total:
        nxt = str(request.url.include_query_params(offset=offset + limit, limit=limit))
    # The bytes FastAPI would send for ``Page`` (pydantic's JSON serializer, the same as its
    # response_model path: compact, NaN/inf as null), without validating the page back first.
    body = {"items": json_rows(table), "total": total, "limit": limit, "offset": offset}
    return Response(
        to_json({**body, "next": nxt}, inf_nan_mode="null"), media_type="application/json"
    )
