"""The shipped format files, their validation, file-name matching, and the silver schemas."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from wattlake.errors import ConfigError, InputError
from wattlake.sources.hosting_capacity import DER_TYPES, TABLES, load_formats, match_format
from wattlake.sources.hosting_capacity.formats import (
    DATASETS,
    FORMATS_DIR,
    canonical_unit,
    parse_format,
    unit_factor,
)

UTILITIES = ("utility1", "utility2", "coned", "cenhud", "oru")
VERIFIED = {
    "utility1_circuits": "header_only",
    "utility1_install_der": "real_file",
    "utility1_planned_der": "real_file",
    "utility2_circuits": "real_file",
    "utility2_install_der": "real_file",
    "utility2_planned_der": "real_file",
    "coned_circuits": "published_field_list",
    "cenhud_circuits": "published_field_list",
    "oru_circuits": "published_field_list",
    **{f"{u}_{d}": "assumed_layout" for u in ("coned", "cenhud", "oru") for d in DATASETS[1:]},
}


def test_every_utility_has_every_data_set() -> None:
    formats = load_formats()
    assert sorted((f.utility, f.dataset) for f in formats) == sorted(
        (u, d) for u in UTILITIES for d in DATASETS
    )


def test_verification_status_is_declared_and_documented() -> None:
    assert {f.name: f.verification for f in load_formats()} == VERIFIED
    readme = (FORMATS_DIR / "README.md").read_text()
    for fmt in load_formats():
        assert fmt.reference
        assert fmt.verification in readme
        assert f"{fmt.name}.toml" in readme or f"{fmt.utility}_*_der.toml" in readme


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("utility1_circuits.csv", "utility1_circuits"),
        ("utility1_circuits.fixture_3rows.csv", "utility1_circuits"),
        ("bronze/2024-05/utility2_install_der.csv", "utility2_install_der"),
        ("C:\\drop\\UTILITY2_PLANNED_DER.CSV", "utility2_planned_der"),
        ("coned_circuits_2024.csv", "coned_circuits"),
        ("cenhud_planned_der.csv", "cenhud_planned_der"),
        ("oru_install_der.csv", "oru_install_der"),
        ("utility3_circuits.csv", None),
        ("utility2_circuits.xlsx", None),
        ("readme.md", None),
    ],
)
def test_match_format(file_name: str, expected: str | None) -> None:
    fmt = match_format(file_name)
    assert (fmt.name if fmt else None) == expected


def test_overlapping_globs_are_ambiguous() -> None:
    first = next(f for f in load_formats() if f.name == "utility2_circuits")
    clone = replace(first, name="clone", file_globs=("utility2_*.csv",))
    with pytest.raises(InputError, match="several"):
        match_format("utility2_circuits.csv", [first, clone])


BASE = """
utility = "x"
dataset = "circuits"
files = ["x_*.csv"]
verification = "real_file"
[columns]
F = "native_feeder_id"
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('G = "no_such_field"', "unknown field"),
        ('G = "native_id"', "unknown field"),  # a DER field in a circuits file
        ('G = "hca_refresh_date"', "need formats"),
        ('G = "max_hc_mw"\n[units]\nmax_hc_mw = "kV"', "cannot convert"),
        ('G = "max_hc_mw"\n[units]\nmax_hc_mw = "furlongs"', "cannot convert"),
        ('G = "hca_refresh_date"\n[dates]\nhca_refresh_date = ["%Y-%m"]', "needs %Y %m %d"),
        ('G = "hca_refresh_date"\n[dates]\nhca_refresh_date = ["%Y-%m-%d %Q"]', "needs %Y %m %d"),
        ('G = "section_max_hc_mw"\nH = "native_section_id"', "need \\[rollup\\]"),
        ('G = "native_feeder_id"', "same field"),
        ('[units]\nmax_hc_mw = "MW"', "no column maps"),
    ],
)
def test_invalid_formats_fail_with_the_file_name(extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_format(tomllib.loads(BASE + extra), Path("bad.toml"))
    assert "bad.toml" in str(info.value)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (BASE.replace('dataset = "circuits"', 'dataset = "weather"'), "dataset must be"),
        (BASE.replace('verification = "real_file"', ""), "verification must be"),
        (BASE.replace('F = "native_feeder_id"', 'F = "substation"'), "required field"),
        (BASE.replace('files = ["x_*.csv"]', ""), "missing or malformed"),
        (
            BASE.replace("circuits", "install_der").replace("native_feeder_id", "native_id")
            + '[der_types]\nSolar = "sunshine"',
            "standard vocabulary",
        ),
        (
            BASE.replace("circuits", "install_der").replace("native_feeder_id", "native_id")
            + 'N = "nameplate_kw"\n[wide.technologies]\nPV = "solar_pv"',
            "wide layouts",
        ),
        (BASE + 'optional_columns = ["F"]', "cannot be optional"),
    ],
)
def test_invalid_documents(doc: str, message: str) -> None:
    # optional_columns must sit before [columns] in TOML; move it to the top for that case
    if "optional_columns" in doc:
        doc = 'optional_columns = ["F"]\n' + doc.replace('optional_columns = ["F"]', "")
    with pytest.raises(ConfigError, match=message):
        parse_format(tomllib.loads(doc), Path("bad.toml"))


def test_custom_format_directory(tmp_path: Path) -> None:
    (tmp_path / "x_circuits.toml").write_text(BASE)
    (fmt,) = load_formats(tmp_path)
    assert (fmt.name, fmt.utility, fmt.path) == (
        "x_circuits",
        "x",
        str(tmp_path / "x_circuits.toml"),
    )
    other = tmp_path / "again"
    other.mkdir()
    (other / "a.toml").write_text(BASE)
    (other / "b.toml").write_text(BASE)
    with pytest.raises(ConfigError, match="also used by"):
        load_formats(other)


def test_unreadable_toml(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("utility = ")
    with pytest.raises(ConfigError, match="cannot read"):
        load_formats(tmp_path)


@pytest.mark.parametrize(
    ("source", "field", "factor"),
    [("kW", "max_hc_mw", 0.001), ("MW", "nameplate_kw", 1000.0), ("V", "voltage_kv", 0.001)],
)
def test_units(source: str, field: str, factor: float) -> None:
    target = canonical_unit(field)
    assert target is not None
    assert unit_factor(source, target) == pytest.approx(factor)


def test_schemas_document_units_and_keys() -> None:
    assert {n: t.primary_key for n, t in TABLES.items()} == {
        "feeders": ("feeder_uid",),
        "feeder_sections": ("section_uid",),
        "ders": ("der_uid",),
    }
    for table in TABLES.values():
        assert "_source_file" in table.column_names
        for column in table.columns:
            assert column.doc, f"{table.name}.{column.name} has no doc"
            unit = canonical_unit(column.name)
            if unit in ("MW", "kW", "kV"):
                assert unit in column.doc, f"{table.name}.{column.name} doc lacks {unit}"


def test_every_mapped_der_type_is_standard() -> None:
    for fmt in load_formats():
        assert set(fmt.der_types.values()) <= set(DER_TYPES)
        if fmt.wide:
            assert set(fmt.wide.technologies.values()) <= set(DER_TYPES)
