"""Bronze store: content addressing, atomic writes, size limits, local and S3 (moto server)."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import S3StandIn
from wattlake.errors import InputError
from wattlake.lake import Lake, Manifest


def test_put_is_content_addressed_and_deduplicated(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    data = b"a,b\n1,2\n"
    a = lake.put("src", "x.csv", io.BytesIO(data), run_id="r1")
    b = lake.put("src", "y/x.csv", io.BytesIO(data), run_id="r2")
    sha = hashlib.sha256(data).hexdigest()
    assert a.sha256 == b.sha256 == sha and a.path == f"bronze/src/{sha[:2]}/{sha}/x.csv"
    assert lake.read_bytes(a) == data
    assert not list((tmp_path / "lake" / "_tmp").iterdir())  # nothing half-written left


def test_oversized_input_is_refused_and_leaves_no_temp(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    with pytest.raises(InputError, match="larger than"):
        lake.put("src", "big.csv", io.BytesIO(b"x" * 1000), run_id="r", max_bytes=100)
    assert not list((tmp_path / "lake" / "_tmp").iterdir())
    assert not (tmp_path / "lake" / "bronze").exists()


def test_manifest_tracks_loaded_state(tmp_path: Path) -> None:
    from wattlake.engines import connect

    engine = connect("duckdb:///:memory:")
    manifest = Manifest(engine)
    art = Lake(str(tmp_path)).put("src", "k", io.BytesIO(b"1"), run_id="r")
    manifest.record(art)
    manifest.record(art)
    assert not manifest.is_loaded("src", art.sha256)
    with engine.transaction() as tx:
        manifest.mark_loaded(tx, art)
    assert manifest.is_loaded("src", art.sha256)
    row = manifest.find("src", "k")
    assert row is not None and manifest.artifact(row) == art


@pytest.fixture(scope="module")
def s3_url(moto_s3: S3StandIn) -> dict[str, Any]:
    """Storage options of a real S3 endpoint on loopback with bucket ``wattlake-test``."""
    moto_s3.bucket("wattlake-test")
    return moto_s3.options


@pytest.mark.s3
def test_lake_on_s3_protocol(s3_url: dict[str, object]) -> None:
    lake = Lake("s3://wattlake-test/lake", **s3_url)
    data = b"MeterPoint Code\n" * 1000
    art = lake.put("meter_files", "LP_1.csv", io.BytesIO(data), run_id="r")
    again = lake.put("meter_files", "LP_1.csv", io.BytesIO(data), run_id="r2")
    assert art.path == again.path
    assert lake.read_bytes(art) == data
    with lake.open(art) as f:
        assert f.read(15) == b"MeterPoint Code"
    tmp = "wattlake-test/lake/_tmp"
    assert not lake.fs.exists(tmp) or lake.fs.ls(tmp) == []


def test_local_file_takes_the_kernel_copy_path_with_the_same_result(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(b"x,y\n" * 10_000)
    lake = Lake(str(tmp_path / "lake"))
    with src.open("rb") as fh:
        art = lake.put("s", "in.csv", fh, run_id="r")
    assert art.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert art.bytes == src.stat().st_size and lake.read_bytes(art) == src.read_bytes()
    with src.open("rb") as fh, pytest.raises(InputError, match="larger than"):
        lake.put("s", "in.csv", fh, run_id="r", max_bytes=10)


@pytest.mark.parametrize("settled", [True, False])
def test_local_copy_hash_names_what_bronze_holds_even_if_the_source_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settled: bool
) -> None:
    """The source is hashed while it is copied only when it has settled; a source written to
    during the copy (here: between the copy and the hash's end) is caught by its changed
    mtime/size, and then the copy itself is hashed."""
    import wattlake.lake as lake_mod

    monkeypatch.setattr(lake_mod, "SETTLED_NS", 0 if settled else 10**18)
    src = tmp_path / "in.csv"
    src.write_bytes(b"a,b\n" * 5_000)
    lake = Lake(str(tmp_path / "lake"))
    with src.open("rb") as fh:
        art = lake.put("s", "in.csv", fh, run_id="r")
    assert art.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()

    real_copy, real_hash = lake_mod.shutil.copyfile, lake_mod.sha256_file
    appended = threading.Event()

    def copy_then_source_grows(a: str, b: str) -> str:
        out = real_copy(a, b)
        with open(a, "ab") as f:  # another process appends after the copy was taken
            f.write(b"late,row\n")
        appended.set()
        return str(out)

    def hash_after_the_append(path: str) -> str:  # the worst order for a source hash
        if path == str(src):
            appended.wait(5)
        return real_hash(path)

    monkeypatch.setattr(lake_mod.shutil, "copyfile", copy_then_source_grows)
    monkeypatch.setattr(lake_mod, "sha256_file", hash_after_the_append)
    src.write_bytes(b"c,d\n" * 5_000)
    with src.open("rb") as fh:
        art = lake.put("s", "in2.csv", fh, run_id="r")
    held = lake.read_bytes(art)
    assert held == b"c,d\n" * 5_000
    assert art.sha256 == hashlib.sha256(held).hexdigest() and art.bytes == len(held)
