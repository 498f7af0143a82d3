"""Every engine computes time in UTC, whatever the server's or the machine's zone."""

from __future__ import annotations

import datetime as dt

import pytest

from wattlake.engines import Engine


def test_timestamptz_renders_and_truncates_in_utc(engine: Engine) -> None:
    # 23:30 in New York on 1 Jan is 04:30 UTC on 2 Jan: the day must be the UTC one.
    got = engine.query(
        "SELECT CAST(CAST(TIMESTAMPTZ '2025-01-01 23:30:00-05' AS TIMESTAMPTZ) AS DATE) AS d, "
        "CAST(date_trunc('hour', TIMESTAMPTZ '2025-01-01 23:30:00-05') AS VARCHAR) AS h"
    ).to_pylist()[0]
    assert got["d"] == dt.date(2025, 1, 2)
    assert got["h"].startswith("2025-01-02 04:00:00")


@pytest.mark.postgres
def test_postgres_session_zone_is_utc(pg_available: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests._support import PG_URL
    from wattlake.engines import connect

    monkeypatch.setenv("PGTZ", "America/New_York")  # what a client's zone would set
    eng = connect(PG_URL)
    try:
        assert eng.query("SELECT current_setting('TimeZone') AS tz").column(0)[0].as_py() == "UTC"
    finally:
        eng.close()
