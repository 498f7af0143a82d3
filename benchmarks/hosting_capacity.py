"""Hosting-capacity refresh benchmark: wattlake against a plain pandas implementation of the same
mapping, in the same run, on the same files.

Data sets: the real seed samples (shared/samples/hosting_capacity, 5 files, 74k rows) and a
generated set at 10x the real size in every utility's layout (15 files, about 1.6M rows).
For each: a full refresh into an empty warehouse (bronze copy, parse, silver upsert, gold,
run log) and a refresh when nothing changed (wattlake hashes the files and stops; pandas has
no change detection, so it rebuilds everything again).

The pandas path reads the same FileFormat TOML files: ``read_csv(dtype=str)``, the same
null tokens, id rules, unit factors, date formats, type maps, unpivot, roll-up and
first-row-wins dedupe, then writes the three silver tables and the feeder_summary gold table
into DuckDB (no bronze, no manifest, no run log, no per-file transactions). Row counts of both
are checked to be equal before any figure is printed.

    .venv/bin/python benchmarks/hosting_capacity.py              # samples + 10x, DuckDB + PG
    .venv/bin/python benchmarks/hosting_capacity.py --quick      # samples only
    .venv/bin/python benchmarks/hosting_capacity.py --no-postgres
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from wattlake.config import Settings
from wattlake.engines import Engine, connect
from wattlake.engines.base import load_model
from wattlake.lake import Lake
from wattlake.pipeline import Runner, expand_paths
from wattlake.sources.hosting_capacity import TABLES, generate
from wattlake.sources.hosting_capacity.convert import date_regex
from wattlake.sources.hosting_capacity.formats import (
    FIELDS,
    SECTION_FIELDS,
    FileFormat,
    match_format,
)
from wattlake.sources.hosting_capacity.pipeline import refresh

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, emit, peak_rss_mb

PG_URL = os.environ.get("WATTLAKE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "hosting_capacity"


# -- the pandas baseline ------------------------------------------------------------------------
def _clean(s: pd.Series, nulls: set[str]) -> pd.Series:
    s = s.str.strip()
    return s.mask(s.str.lower().isin(nulls))


def _convert(raw: pd.Series, field: str, fmt: FileFormat, unit: str | None = None) -> tuple[pd.Series, pd.Series]:  # fmt: skip
    """(values, bad) for one column, by the format's rules."""
    s = _clean(raw, {t.strip().lower() for t in fmt.null_tokens} | {""})
    none = pd.Series(False, index=s.index)
    kind = FIELDS[field][0]
    if kind == "id":
        if fmt.ids.null_values:
            s = s.mask(s.str.lower().isin([v.lower() for v in fmt.ids.null_values]))
        if fmt.ids.strip_float_suffix:
            s = s.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
        return (s.str.upper() if fmt.ids.upper else s), none
    if kind == "text":
        rule = fmt.text.get(field)
        if rule and rule.extract:
            s = s.str.extract(rule.extract)["value"].fillna(s)
        if rule and rule.case:
            s = s.str.lower() if rule.case == "lower" else s.str.upper()
        return s, none
    if kind == "number":
        text = s.str.replace(fmt.thousands_separator, "") if fmt.thousands_separator else s
        ok = text.str.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?").fillna(False)
        values = pd.to_numeric(text.where(ok), errors="coerce")
        factor = fmt.factor(field) if unit is None else {"W": 1e-3, "kW": 1.0, "MW": 1e3}[unit]
        values = values * factor if factor >= 1 else values / (1 / factor)
        return values, s.notna() & ~ok
    if kind == "int":
        ok = s.str.fullmatch(r"[+-]?\d+(\.0*)?").fillna(False)
        digits = s.where(ok).str.replace(r"\.0*$", "", regex=True)
        return pd.to_numeric(digits, errors="coerce").astype("Int64"), s.notna() & ~ok
    if kind == "bool":
        low = s.str.lower()
        values = low.map(lambda v: v in ("y", "yes", "true", "t", "1") if isinstance(v, str) else None)  # fmt: skip
        ok = low.isin(["y", "yes", "true", "t", "1", "n", "no", "false", "f", "0"])
        return values, s.notna() & ~ok
    rule = fmt.dates[field]
    parts = None
    for f in rule.formats:
        got = s.str.extract(date_regex(f))[["Y", "m", "d"]]
        parts = got if parts is None else parts.fillna(got)
    assert parts is not None
    values = pd.to_datetime(
        parts["Y"] + "-" + parts["m"].str.zfill(2) + "-" + parts["d"].str.zfill(2),
        format="%Y-%m-%d", errors="coerce",
    ).dt.date  # fmt: skip
    bad = s.notna() & values.isna() if rule.invalid == "reject" else none
    return values, bad


def pandas_file(path: Path, source_file: str) -> dict[str, pd.DataFrame]:
    fmt = match_format(path.name)
    assert fmt is not None, path
    df = pd.read_csv(
        path, dtype=str, keep_default_na=False, encoding=fmt.encoding, on_bad_lines="skip"
    )
    actual = {c.strip().casefold(): c for c in df.columns}
    out = pd.DataFrame({"__row": np.arange(len(df))})
    bad = pd.Series(False, index=df.index)
    for column, field in fmt.columns.items():
        if column.strip().casefold() in actual:
            out[field], b = _convert(df[actual[column.strip().casefold()]], field, fmt)
            bad |= b
    techs: dict[str, pd.Series] = {}
    for column in fmt.wide.technologies if fmt.wide else {}:
        assert fmt.wide is not None
        techs[column], b = _convert(df[actual[column.casefold()]], "nameplate_kw", fmt, fmt.wide.unit)  # fmt: skip
        bad |= b
    for key in ("native_feeder_id",) if fmt.dataset == "circuits" else ("native_id",):
        bad |= out[key].isna()
    if fmt.rollup is not None:
        bad |= out["native_section_id"].isna()
    out, techs = out[~bad], {k: v[~bad] for k, v in techs.items()}
    out["utility"] = fmt.utility
    out["_source_file"] = source_file
    out["feeder_uid"] = fmt.utility + ":" + out["native_feeder_id"]
    if fmt.dataset == "circuits" and fmt.rollup is None:
        return {"feeders": out.drop_duplicates("feeder_uid")}
    if fmt.dataset == "circuits":
        assert fmt.rollup is not None
        out["section_uid"] = out["feeder_uid"] + ":" + out["native_section_id"]
        sections = out.drop_duplicates("section_uid")
        g = sections.groupby("native_feeder_id", sort=True)
        feeders = pd.DataFrame({"native_feeder_id": list(g.groups)})
        for name, rule in fmt.rollup.items():
            if rule.agg == "at_min":
                assert rule.by is not None
                picked = sections.sort_values([rule.by, "__row"]).groupby("native_feeder_id")
                feeders[name] = picked[rule.of].first().values
            else:
                feeders[name] = g[rule.of].agg(rule.agg).values
        feeders["section_count"] = g.size().values
        feeders["utility"] = fmt.utility
        feeders["feeder_uid"] = fmt.utility + ":" + feeders["native_feeder_id"]
        feeders["_source_file"] = source_file
        keep = ["section_uid", "native_feeder_id", "utility", "feeder_uid", "_source_file"]
        sections = sections[keep + [c for c in sections.columns if c in SECTION_FIELDS]]
        sections.columns = [c if c in keep else c.removeprefix("section_") for c in sections]
        return {"feeder_sections": sections, "feeders": feeders}
    status = fmt.status
    types = dict(fmt.der_types)
    native = out["native_type"] if "native_type" in out else pd.Series(None, index=out.index)
    mapped = native.str.lower().map(types).fillna(fmt.default_der_type).where(native.notna(), "unknown")  # fmt: skip
    if fmt.wide:
        kw = pd.DataFrame(techs)
        long = kw.assign(__row=out["__row"]).melt("__row", var_name="technology", value_name="nameplate_kw")  # fmt: skip
        long = long[long["nameplate_kw"] > 0]
        long["der_type"] = long["technology"].map(dict(fmt.wide.technologies))
        rows = out.merge(long, on="__row")
        bare = out[~out["__row"].isin(long["__row"])].assign(
            technology=None, der_type=mapped, nameplate_kw=out.get("project_nameplate_kw")
        )
        out = pd.concat([rows, bare]).sort_values("__row", kind="stable")
    else:
        out["der_type"] = mapped
        out["technology"] = None
    out["status"] = status
    uid = f"{fmt.utility}:{status}:" + out["native_id"]
    out["der_uid"] = uid.where(out["technology"].isna(), uid + ":" + out["technology"].fillna(""))
    return {"ders": out.drop_duplicates("der_uid")}


def run_pandas(folder: Path, db: Path) -> dict[str, int]:
    """Every file of ``folder`` through pandas into a fresh DuckDB, then the gold model."""
    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    for path in expand_paths([folder], ("*.csv",)):
        for name, df in pandas_file(path, path.relative_to(folder).as_posix()).items():
            frames[name].append(df)
    con = duckdb.connect(str(db))
    counts = {}
    for name, spec in TABLES.items():
        df = pd.concat(frames[name]) if frames[name] else pd.DataFrame()
        df = df.reindex(columns=spec.column_names)
        con.register("df", df)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM df")
        con.unregister("df")
        counts[name] = len(df)
    con.execute(f"CREATE OR REPLACE TABLE feeder_summary AS {load_model('feeder_summary').sql}")
    con.close()
    return counts


# -- wattlake -----------------------------------------------------------------------------------
def make_runner(work: Path, kind: str) -> Runner:
    tmp = Path(tempfile.mkdtemp(dir=work))
    engine: Engine = (
        connect(f"duckdb:///{tmp}/w.duckdb")
        if kind == "duckdb"
        else connect(PG_URL, schema=f"wl_bench_{secrets.token_hex(4)}")
    )
    return Runner(engine, Lake(str(tmp / "lake")), Settings(home=tmp))


def drop(runner: Runner) -> None:
    dropper = getattr(runner.engine, "drop_schema", None)
    if dropper:
        dropper()
    runner.close()


def run_ours(folder: Path, work: Path, kind: str, repeat: int) -> dict[str, Any]:
    fulls, counts = [], {}
    for _ in range(repeat):
        runner = make_runner(work, kind)
        t0 = time.perf_counter()
        report = refresh(runner, folder)
        fulls.append(time.perf_counter() - t0)
        assert report.status == "ok", report.errors
        for name in TABLES:
            n = runner.engine.query(f"SELECT count(*) FROM {name}").column(0)[0].as_py()
            counts[name] = int(n)
        nochange = []
        for _ in range(7):
            t0 = time.perf_counter()
            again = refresh(runner, folder)
            nochange.append(time.perf_counter() - t0)
            assert again.layers.silver.loaded == 0
        drop(runner)
    rows = report.layers.silver.rows_loaded
    return {"full": statistics.median(fulls), "rows": rows, "counts": counts,
            "nochange": statistics.median(nochange)}  # fmt: skip


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="samples only")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wl-bench-hc-"))
    sets: list[tuple[str, Path, int]] = []
    real = SAMPLES / "esource_case_study"
    if real.is_dir():
        folder = work / "samples"
        for path in real.glob("*.csv"):
            (folder / path.name.split("_")[0]).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, folder / path.name.split("_")[0] / path.name)
        sets.append(("real samples", folder, args.repeat))
    else:
        print(f"(no samples at {real}; skipping that set)")
    if not args.quick:
        t0 = time.perf_counter()
        generate(work / "x10", scale=10.0)
        print(f"generated the 10x set in {time.perf_counter() - t0:.1f} s")
        sets.append(("generated 10x", work / "x10", 1))
    # Warm both paths (imports, pyarrow kernels, pandas): the figures are the work itself.
    generate(work / "warm", scale=0.01)
    run_ours(work / "warm", work, "duckdb", 1)
    run_pandas(work / "warm", work / "warm.duckdb")
    kinds = ["duckdb"] + ([] if args.no_postgres else ["postgres"])

    print(f"\n{'data set':<14} {'path':<26} {'rows':>10} {'seconds':>8} {'rows/s':>11} "
          f"{'x pandas':>9} {'no-change ms':>13}")  # fmt: skip
    for label, folder, repeat in sets:
        size = sum(p.stat().st_size for p in folder.rglob("*.csv")) / 1e6
        db = work / f"pandas-{secrets.token_hex(3)}.duckdb"
        p_sec, p_counts = timed(lambda: run_pandas(folder, db), repeat)  # noqa: B023
        p_rows = sum(p_counts.values())
        for kind in kinds:
            ours = run_ours(folder, work, kind, repeat)
            if ours["counts"] != p_counts:
                raise SystemExit(f"row counts differ: ours {ours['counts']} pandas {p_counts}")
            rate = ours["rows"] / ours["full"]
            ratio = p_sec / ours["full"]
            emit(Row(f"hosting capacity ({label}) → {kind}", f"{rate:,.0f} rows/s",
                     f"pandas → duckdb {p_rows / p_sec:,.0f} rows/s", ratio, peak_rss_mb()))  # fmt: skip
            print(f"{label:<14} {'wattlake → ' + kind:<26} {ours['rows']:>10,} {ours['full']:>8.3f} "
                  f"{rate:>11,.0f} {ratio:>9.1f} {ours['nochange'] * 1000:>13.1f}")  # fmt: skip
        print(f"{label:<14} {'pandas → duckdb':<26} {p_rows:>10,} {p_sec:>8.3f} "
              f"{p_rows / p_sec:>11,.0f} {1.0:>9.1f} {p_sec * 1000:>13.1f}   ({size:.0f} MB)")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
