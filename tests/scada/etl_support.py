"""Helpers for the SCADA ETL tests: throwaway PostgreSQL databases, the real sample, and an
independent pandas computation of the 10-minute statistics (the original ETL's way)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from tests._support import PG_URL, samples

SAMPLE_PARTS = ("scada", "crestanigabriel_teste-data-eng-delfos", "data.csv")


def sample_csv() -> Path:
    return samples(*SAMPLE_PARTS)


@contextmanager
def pg_database(prefix: str = "wl_scada") -> Iterator[str]:
    """A new database on the test server (random name), dropped afterwards; yields its URL."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(5)}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(PG_URL)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    try:
        yield url
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pandas_10min(frame: pd.DataFrame, columns: list[str]) -> dict[tuple[str, str, Any], float]:
    """{(column, agg, bucket start): value} by pandas resample('10min') on a UTC-indexed frame,
    as the original ETL computed it (NaN statistics left out)."""
    out: dict[tuple[str, str, Any], float] = {}
    agg = frame[columns].resample("10min").agg(["mean", "min", "max", "std", "count"])
    for (col, stat), series in agg.items():
        for ts, v in series.items():
            if pd.notna(v):
                out[(col, stat, ts.to_pydatetime().replace(tzinfo=None))] = float(v)
    return out


def target_rows(url: str) -> dict[tuple[str, Any], float]:
    """{(signal name, timestamp): value} of a target database."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT s.name, d.timestamp, d.value FROM data d JOIN signal s ON s.id = d.signal_id"
        ).fetchall()
    return {(n, t): v for n, t, v in rows}


def target_signals(url: str) -> list[tuple[int, str]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return [
            (int(i), str(n)) for i, n in conn.execute("SELECT id, name FROM signal ORDER BY id")
        ]
