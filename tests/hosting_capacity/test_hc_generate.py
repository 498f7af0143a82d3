"""The demo-data generator: every utility's layout, parseable with zero rejects, deterministic."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from wattlake.sources.hosting_capacity import UTILITIES, generate, match_format
from wattlake.sources.hosting_capacity.generate import _unique

from .helpers import parse_path, to_duckdb


def test_writes_every_data_set_of_every_utility(generated: list[Path]) -> None:
    names = sorted((p.parent.name, p.name) for p in generated)
    assert names == sorted(
        (u, f"{u}_{d}.csv") for u in UTILITIES for d in ("circuits", "install_der", "planned_der")
    )


@pytest.mark.parametrize("index", range(15))
def test_each_file_parses_without_rejects(generated: list[Path], index: int) -> None:
    path = generated[index]
    fmt = match_format(path.name)
    assert fmt is not None and fmt.utility == path.parent.name
    parsed = parse_path(path)
    assert parsed.report.rejects == []
    assert sum(t.num_rows for t in parsed.tables.values()) > 0


def test_layout_quirks_are_written(generated: list[Path]) -> None:
    files = {p.name: p.read_bytes() for p in generated}
    assert files["utility2_install_der.csv"].startswith(b"\xef\xbb\xbfDER_ID,")
    assert files["utility1_circuits.csv"].startswith(b",Circuits_Phase3_CIRCUIT,")
    assert b"\r\n" in files["utility1_install_der.csv"]
    assert b"\r\n" not in files["coned_circuits.csv"]
    assert b",NULL," in files["utility1_install_der.csv"]
    assert b'"' in files["oru_circuits.csv"]  # substation names with commas are quoted


def test_generated_data_joins_up(generated: list[Path]) -> None:
    con = to_duckdb(parse_path(p) for p in generated)
    per_utility = dict(
        con.execute(
            "SELECT d.utility, avg((f.feeder_uid IS NOT NULL)::INT) FROM ders d "
            "LEFT JOIN feeders f USING (feeder_uid) WHERE d.feeder_uid IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    assert set(per_utility) == set(UTILITIES)
    assert all(share > 0.7 for share in per_utility.values()), per_utility
    bands = con.execute("SELECT count(DISTINCT map_color) FROM feeders WHERE utility = 'utility2'")
    assert bands.fetchone() == (8,)


def test_deterministic_and_seeded(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", utilities=["utility2", "oru"], scale=0.01, seed=3)
    b = generate(tmp_path / "b", utilities=["utility2", "oru"], scale=0.01, seed=3)
    c = generate(tmp_path / "c", utilities=["utility2", "oru"], scale=0.01, seed=4)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert [p.read_bytes() for p in a] != [p.read_bytes() for p in c]


def test_scale(tmp_path: Path) -> None:
    small = generate(tmp_path / "s", utilities=["cenhud"], scale=0.01)
    large = generate(tmp_path / "l", utilities=["cenhud"], scale=0.1)
    for s, big in zip(small, large, strict=True):
        assert big.read_text().count("\n") > 5 * s.read_text().count("\n")


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown utilities"):
        generate(tmp_path, utilities=["utility9"])
    with pytest.raises(ValueError, match="positive"):
        generate(tmp_path, scale=0)


def test_ids_stay_unique_when_the_id_space_runs_out() -> None:
    ids = _unique(random.Random(0), 50, lambda r: str(r.randint(1, 10)))
    assert len(ids) == len(set(ids)) == 50
