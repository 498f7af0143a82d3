"""Helpers shared by the tests (importable as ``tests._support``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"
PG_URL = os.environ.get("WATTLAKE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def samples(*parts: str) -> Path:
    """A folder or file under ../shared/samples; skips the test when it is absent."""
    path = SAMPLES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"sample data not present at {path} (../shared/samples is optional outside CI)")
    return path


def pg_unreachable_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means "not reachable"
        return f"PostgreSQL not reachable at {PG_URL}: {exc}"
    return None
