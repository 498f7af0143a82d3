"""The driver side of distributed parsing (``engines/spark_parse.py``) without Spark: the
replaying parser removes its staged files however it ends, the ``parse-*`` folder goes with
the last replay, old leftovers are swept, and a parser's error comes back as its own class.

Staged files are real Parquet on a real filesystem: a local folder, and S3 (moto's server).
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import S3StandIn
from wattlake.engines.spark_parse import Staged, _described, parser_error, replay, sweep
from wattlake.errors import HostileXMLError, InputError
from wattlake.parsing import FileReport

DAY = 86_400.0


@pytest.fixture(scope="module")
def s3(moto_s3: S3StandIn) -> dict[str, Any]:
    """Storage options of a real S3 endpoint on loopback with an empty bucket."""
    moto_s3.bucket("wl-staging")
    return moto_s3.options


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, str]:
    """(fsspec filesystem, a ``_staging`` folder on it)."""
    if request.param == "local":
        return fsspec.filesystem("file"), f"{tmp_path}/tables/_staging"
    fs = fsspec.filesystem("s3", **request.getfixturevalue("s3"), skip_instance_cache=True)
    return fs, f"wl-staging/{tmp_path.name}/tables/_staging"


def stage(
    fs: Any, out: str, i: int, batches: int, error: Exception | None = None
) -> dict[str, Any]:
    """What an executor leaves for artifact ``i``: ``batches`` Parquet files and the summary."""
    paths = []
    for k in range(batches):
        path = f"{out}/{i}/t/{k:06d}.parquet"
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with fs.open(path, "wb") as f:
            pq.write_table(pa.table({"k": [k]}), f)
        paths.append(path)
    return {
        "i": i,
        "rows_read": batches,
        "rejects": "[]",
        "tables": json.dumps({"t": paths} if paths else {}),
        **_described(error),
    }


def files_under(fs: Any, path: str) -> list[str]:
    fs.invalidate_cache()
    try:
        return sorted(fs.find(path, withdirs=True))
    except FileNotFoundError:
        return []


def test_each_replay_removes_its_files_however_it_ends(where: tuple[Any, str]) -> None:
    fs, staging = where
    out = f"{staging}/parse-x"
    summaries = [stage(fs, out, i, 3) for i in range(4)]
    staged = Staged(fs, out, range(4))
    parsers = [replay(s, fs, staged) for s in summaries]

    # 0: consumed to the end
    assert [t.column("k").to_pylist() for _n, t in parsers[0](io.BytesIO(), FileReport("a"))] == [
        [0],
        [1],
        [2],
    ]
    assert not files_under(fs, f"{out}/0") and files_under(fs, f"{out}/1")
    # 1: the consumer stops after the first batch (the generator is closed)
    it = parsers[1](io.BytesIO(), FileReport("b"))
    next(it)
    it.close()
    assert not files_under(fs, f"{out}/1")
    # 2: the consumer fails mid-way (its error reaches the generator, as when it is dropped)
    it = parsers[2](io.BytesIO(), FileReport("c"))
    next(it)
    with pytest.raises(RuntimeError, match="write failed"):
        it.throw(RuntimeError("write failed"))
    assert not files_under(fs, f"{out}/2")
    assert files_under(fs, f"{out}/3")  # not replayed yet: kept, and so is parse-x
    # 3: the last one: the whole parse-x folder goes
    list(parsers[3](io.BytesIO(), FileReport("d")))
    assert files_under(fs, out) == []


def test_a_replay_of_a_failed_parse_removes_what_it_wrote_and_raises_its_class(
    where: tuple[Any, str],
) -> None:
    fs, staging = where
    out = f"{staging}/parse-y"
    error = InputError("f.csv: line 3: bad header", hint="fix line 3")
    staged = Staged(fs, out, [0])
    parse = replay(stage(fs, out, 0, 2, error), fs, staged)  # failed after two batches
    with pytest.raises(InputError) as got:
        list(parse(io.BytesIO(), FileReport("f.csv")))
    assert type(got.value) is InputError
    assert str(got.value) == str(error) and got.value.hint == "fix line 3"
    assert files_under(fs, out) == []


@pytest.mark.parametrize(
    ("error", "step_error"),
    [
        (InputError("line 3: bad", hint="see the spec"), "InputError: line 3: bad — see the spec"),
        (InputError("no hint"), "InputError: no hint"),
        # not a class of wattlake.errors: a WattlakeError naming it, as before
        (ValueError("not ours"), "WattlakeError: ValueError: not ours"),
        (HostileXMLError("a DTD", hint="remove it"), "HostileXMLError: a DTD — remove it"),
    ],
)  # fmt: skip
def test_parser_error_rebuilds_the_executors_exception(error: Exception, step_error: str) -> None:
    rebuilt = parser_error(json.loads(json.dumps(_described(error))))  # as it travels
    assert f"{type(rebuilt).__name__}: {rebuilt}" == step_error  # what a run step records
    if type(error) is InputError:
        assert type(rebuilt) is InputError and rebuilt.hint == error.hint
        assert step_error == f"{type(error).__name__}: {error}"  # as a serial parse


def test_sweep_removes_only_old_parse_folders(where: tuple[Any, str]) -> None:
    fs, staging = where
    for name in ("parse-old", "parse-young", "0123abcd"):  # the last: a transaction's
        stage(fs, f"{staging}/{name}", 0, 1)
    sweep(fs, staging)  # everything was just written: all young, nothing goes
    assert len(fs.ls(staging, detail=False)) == 3
    if fs.protocol == "file" or "file" in fs.protocol:
        past = time.time() - 2 * DAY
        for p in files_under(fs, f"{staging}/parse-old"):
            os.utime(p, (past, past))
        sweep(fs, staging)
        kept = {p.rsplit("/", 1)[-1] for p in fs.ls(staging, detail=False)}
        assert kept == {"parse-young", "0123abcd"}
    else:  # S3 times cannot be set: every folder counts as old with a negative age
        sweep(fs, staging, max_age_s=-60)
        fs.invalidate_cache()
        assert [p.rsplit("/", 1)[-1] for p in fs.ls(staging, detail=False)] == ["0123abcd"]
    sweep(fs, f"{staging}/nothing-here")  # no folder: nothing to do
