"""Failures stay contained: an error page or a custodian that keeps failing fails that usage
point only, writes no file and takes no run number; the next run fetches it. A write that
crashes half-way leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.espi_connect.helpers import duck_runner, write_config
from wattlake.errors import LakeError
from wattlake.sims.green_button import Customer, GreenButtonSim, UsagePointSpec
from wattlake.sources.espi.fetch import run_green_button
from wattlake.sources.espi.incremental import RawStore

NOW = datetime(2026, 5, 20, 19, tzinfo=UTC)


def test_error_pages_and_5xx_fail_one_usage_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = [
        Customer("P-1", "501", [UsagePointSpec("71", service_start=date(2026, 5, 1)),
                                UsagePointSpec("72", "gas", service_start=date(2026, 5, 1))]),
        Customer("P-2", "502", [UsagePointSpec("73", service_start=date(2026, 5, 1))]),
    ]  # fmt: skip
    runner = duck_runner(tmp_path)
    with GreenButtonSim(customers, now=NOW) as sim:
        cfg = write_config(tmp_path, sim, monkeypatch)
        original = sim._handle

        def flaky(r):  # type: ignore[no-untyped-def]
            if r.path.endswith("/UsagePoint/71") and sim.now == NOW:
                sim.fail_next("html")
            if r.path.endswith("/UsagePoint/73") and sim.now == NOW:
                sim.fail_next("500")
            return original(r)

        monkeypatch.setattr(sim, "_handle", flaky)
        first = run_green_button(runner, cfg, now=sim.now)
        status = {u.label: (u.status, u.run) for u in first.usage_points}
        assert status == {"P-1/71": ("failed", None), "P-1/72": ("fetched", 0),
                          "P-2/73": ("failed", None)}  # fmt: skip
        notes = {u.label: u.note for u in first.usage_points}
        assert "expected an Atom <feed>" in notes["P-1/71"] and "HTTP 500" in notes["P-2/73"]
        assert first.run.failed_steps and [f.name for f in RawStore(cfg.storage.url).list()] == [
            "P-1_72_0.xml"
        ]
        sim.now = NOW.replace(hour=20)  # the custodian is well again
        second = run_green_button(runner, cfg, now=sim.now)
        status = {u.label: (u.status, u.run) for u in second.usage_points}
        assert status == {"P-1/71": ("fetched", 0), "P-1/72": ("unchanged", None),
                          "P-2/73": ("fetched", 0)}  # fmt: skip


def test_a_crash_mid_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RawStore(str(tmp_path / "bucket"))
    store.write("P-1_71_0.xml", b"<feed/>")

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store.fs, "mv", boom)
    with pytest.raises(LakeError, match="disk full"):
        store.write("P-1_71_1.xml", b"<feed>half</feed>")
    assert [f.name for f in store.list()] == ["P-1_71_0.xml"]
    assert sorted(p.name for p in (tmp_path / "bucket" / "consumption" / "raw").iterdir()) == [
        "P-1_71_0.xml"
    ]  # the temporary file is gone too
    assert store.runs() == {("P-1", "71"): 0}  # the next run number is still 1


def test_customers_from_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    customers = [Customer("P-9", "509", [UsagePointSpec("79", service_start=date(2026, 5, 1))])]
    runner = duck_runner(tmp_path)
    with GreenButtonSim(customers, now=NOW) as sim:
        cfg = write_config(tmp_path, sim, monkeypatch)
        text = cfg.path.read_text().split("[auth_service]")[0]
        text += ('[[customers]]\nproject_id = "P-9"\nsubscription_id = "509"\n'
                 'access_token_env = "T_P9_ACCESS"\nrefresh_token_env = "T_P9_REFRESH"\n')  # fmt: skip
        cfg.path.write_text(text)
        monkeypatch.setenv(
            "T_P9_ACCESS", "stale-token"
        )  # refused: refreshed with the refresh token
        monkeypatch.setenv("T_P9_REFRESH", sim.customer("P-9").refresh_token)
        from wattlake.sources.espi.config import load_config

        report = run_green_button(runner, load_config(cfg.path), now=sim.now)
        assert [(u.label, u.status, u.run) for u in report.usage_points] == [
            ("P-9/79", "fetched", 0)
        ]
        assert not any("/authsvc/" in r.path for r in sim.requests)


def test_files_ingested_by_hand_first_are_adopted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wattlake.sources.espi.pipeline import ingest

    customers = [Customer("P-1", "501", [UsagePointSpec("71", service_start=date(2026, 5, 1))])]
    runner = duck_runner(tmp_path)
    with GreenButtonSim(customers, now=NOW) as sim:
        cfg = write_config(tmp_path, sim, monkeypatch)
        run_green_button(runner, cfg, now=sim.now)
        raw = tmp_path / "bucket" / "consumption" / "raw" / "P-1_71_0.xml"
        other = duck_runner(tmp_path / "second")
        ingest(other, [raw], custodian="sim")  # the same bytes under the key "P-1_71_0.xml"
        first = run_green_button(other, cfg, now=sim.now)
        assert len(first.adopted) == 1 and first.adopted[0].rows_loaded > 0
        again = run_green_button(other, cfg, now=sim.now)
        assert again.adopted == []  # marked loaded under its raw key: not read again
        owners = other.engine.query("SELECT DISTINCT _source_file FROM interval_reads").to_pylist()
        assert owners == [{"_source_file": "consumption/raw/P-1_71_0.xml"}]
