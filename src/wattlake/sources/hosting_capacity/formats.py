"""Declarative file formats: one TOML file per utility and data set, read by one shared parser.

A format says which files it applies to (name globs), how to read them (encoding, null tokens),
which source column feeds which canonical field, which unit each number is in, how dates and ids
are written, how native DER types map to the standard vocabulary, and optionally how a wide
(one-column-per-technology) layout unpivots and how segment rows roll up to feeders. Adding a
utility, or fixing a renamed column, is an edit to a TOML file in ``formats/``; see
``formats/README.md`` for the keys and for which mappings were checked against real files.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePath
from types import MappingProxyType
from typing import Any, Literal, cast

from wattlake.errors import ConfigError, InputError
from wattlake.sources.hosting_capacity.schema import DER_TYPES

Dataset = Literal["circuits", "install_der", "planned_der"]
Kind = Literal["id", "text", "number", "int", "date", "bool"]
Verification = Literal["real_file", "header_only", "published_field_list", "assumed_layout"]

DATASETS: tuple[Dataset, ...] = ("circuits", "install_der", "planned_der")
VERIFICATIONS: tuple[Verification, ...] = (
    "real_file",  # checked against a real utility file in shared/samples
    "header_only",  # exact header known, no real data rows available
    "published_field_list",  # columns built from the utility's published field names
    "assumed_layout",  # layout assumed from a similar utility's real file
)
FORMATS_DIR = Path(__file__).with_name("formats")

_CIRCUITS: tuple[Dataset, ...] = ("circuits",)
_DER: tuple[Dataset, ...] = ("install_der", "planned_der")

#: Canonical fields a column can map to: name -> (kind, data sets it is allowed in).
FIELDS: dict[str, tuple[Kind, tuple[Dataset, ...]]] = {
    # feeder level (circuits)
    "native_feeder_id": ("id", DATASETS),
    "substation": ("text", _CIRCUITS),
    "substation_rating_mw": ("number", _CIRCUITS),
    "voltage_kv": ("number", _CIRCUITS),
    "max_hc_mw": ("number", _CIRCUITS),
    "min_hc_mw": ("number", _CIRCUITS),
    "dg_connected_since_refresh_mw": ("number", _CIRCUITS),
    "connected_dg_mw": ("number", _CIRCUITS),
    "queued_dg_mw": ("number", _CIRCUITS),
    "map_color": ("text", _CIRCUITS),
    "hca_refresh_date": ("date", _CIRCUITS),
    "shape_length": ("number", _CIRCUITS),
    "notes": ("text", _CIRCUITS),
    # section level (segment files, need [rollup])
    "native_section_id": ("id", _CIRCUITS),
    "circuit_id": ("id", _CIRCUITS),
    "phase_count": ("int", _CIRCUITS),
    "over_under": ("text", _CIRCUITS),
    "phases": ("text", _CIRCUITS),
    "section_voltage_kv": ("number", _CIRCUITS),
    "section_max_hc_mw": ("number", _CIRCUITS),
    "section_map_color": ("text", _CIRCUITS),
    "section_shape_length": ("number", _CIRCUITS),
    # DER
    "native_id": ("id", _DER),
    "native_type": ("text", _DER),
    "nameplate_kw": ("number", _DER),
    "project_nameplate_kw": ("number", _DER),
    "hybrid": ("bool", _DER),
    "planned_install_date": ("date", _DER),
    "queue_date": ("date", _DER),
    "interconnection_cost_usd": ("number", _DER),
}
#: Fields that describe one section of a feeder (segment-level files only).
SECTION_FIELDS = frozenset(
    {
        "native_section_id",
        "circuit_id",
        "phase_count",
        "over_under",
        "phases",
        "section_voltage_kv",
        "section_max_hc_mw",
        "section_map_color",
        "section_shape_length",
    }
)

#: Source units a number can be declared in, as a factor to the base unit (W, V, USD).
UNITS: dict[str, tuple[str, float]] = {
    "W": ("power", 1.0),
    "kW": ("power", 1e3),
    "MW": ("power", 1e6),
    "GW": ("power", 1e9),
    "V": ("voltage", 1.0),
    "kV": ("voltage", 1e3),
    "USD": ("money", 1.0),
}
_CANONICAL_UNIT = {"_mw": "MW", "_kw": "kW", "_kv": "kV", "_usd": "USD"}
_ROLLUP_AGGS = ("first", "min", "max", "sum", "count", "at_min")
_DATE_TOKENS = {"%Y", "%m", "%d", "%H", "%M", "%S", "%f", "%z", "%p", "%*", "%%"}


def canonical_unit(field_name: str) -> str | None:
    """The unit a numeric canonical field is stored in (from its suffix), or None."""
    for suffix, unit in _CANONICAL_UNIT.items():
        if field_name.endswith(suffix):
            return unit
    return None


def unit_factor(source_unit: str, target_unit: str) -> float:
    """Multiplier taking a value in ``source_unit`` to ``target_unit`` (e.g. kW -> MW = 0.001)."""
    src, dst = UNITS[source_unit], UNITS[target_unit]
    if src[0] != dst[0]:
        raise ValueError(f"cannot convert {source_unit} to {target_unit}")
    return src[1] / dst[1]


@dataclass(frozen=True, slots=True)
class DateRule:
    """How a date field is written. ``formats`` use %Y %m %d (required) and %H %M %S %f %z %p,
    plus ``%*`` for "any trailing text". ``invalid`` = "reject" (row goes to rejects) or "null"
    (free-text values such as "On Hold" load as null)."""

    formats: tuple[str, ...]
    invalid: Literal["reject", "null"] = "reject"


@dataclass(frozen=True, slots=True)
class TextRule:
    """Clean-up for a text field: ``extract`` a regex group named ``value``; change ``case``."""

    extract: str | None = None
    case: Literal["lower", "upper"] | None = None


@dataclass(frozen=True, slots=True)
class IdRules:
    """Normalisation applied to every id field (after trimming and null tokens)."""

    upper: bool = False
    strip_float_suffix: bool = False  # "1105354.0" -> "1105354"
    null_values: tuple[str, ...] = ()  # extra case-insensitive tokens meaning "no id"


@dataclass(frozen=True, slots=True)
class WideLayout:
    """One kW column per technology, unpivoted to one row per project and technology (> 0)."""

    technologies: Mapping[str, str]  # source column -> standard der_type
    unit: str = "kW"
    no_technology: Literal["project_row", "reject"] = "project_row"


@dataclass(frozen=True, slots=True)
class RollupField:
    """Feeder field = ``agg`` of section field ``of`` (``at_min``: ``of`` where ``by`` is least)."""

    agg: str
    of: str
    by: str | None = None


@dataclass(frozen=True, slots=True)
class FileFormat:
    """One utility's layout of one data set, loaded from ``formats/<name>.toml``."""

    name: str
    utility: str
    dataset: Dataset
    file_globs: tuple[str, ...]
    columns: Mapping[str, str]  # source header -> canonical field
    verification: Verification
    reference: str = ""
    encoding: str = "utf-8-sig"
    null_tokens: tuple[str, ...] = ("",)
    optional_columns: frozenset[str] = frozenset()
    thousands_separator: str | None = None
    units: Mapping[str, str] = field(default_factory=dict)  # field -> unit written in the file
    dates: Mapping[str, DateRule] = field(default_factory=dict)
    text: Mapping[str, TextRule] = field(default_factory=dict)
    ids: IdRules = IdRules()
    der_types: Mapping[str, str] = field(default_factory=dict)  # native (casefolded) -> standard
    default_der_type: str = "other"
    wide: WideLayout | None = None
    rollup: Mapping[str, RollupField] | None = None
    path: str = ""

    @property
    def status(self) -> str | None:
        """``installed`` / ``planned`` for DER data sets, None for circuits."""
        return {"install_der": "installed", "planned_der": "planned"}.get(self.dataset)

    def factor(self, field_name: str) -> float:
        """Multiplier from the unit in the file to the canonical unit of ``field_name``."""
        target = canonical_unit(field_name)
        source = self.units.get(field_name)
        return unit_factor(source, target) if source and target else 1.0

    def matches(self, file_name: str) -> bool:
        """True if the base name of ``file_name`` matches one of the globs (case-insensitive)."""
        base = PurePath(file_name.replace("\\", "/")).name.lower()
        return any(fnmatch.fnmatchcase(base, g.lower()) for g in self.file_globs)


def _fail(path: Path, message: str) -> ConfigError:
    return ConfigError(f"hosting-capacity format {path.name}: {message}", hint=f"edit {path}")


def _table(raw: Mapping[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise _fail(path, f"[{key}] must be a table")
    return value


def _strs(value: Any, what: str, path: Path) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, f"{what} must be a string or a list of strings")
    return tuple(value)


def _date_rule(name: str, value: Any, path: Path) -> DateRule:
    spec = value if isinstance(value, dict) else {"formats": value}
    formats = _strs(spec.get("formats"), f"dates.{name}.formats", path)
    for fmt in formats:
        tokens = set(re.findall(r"%.", fmt))
        if not {"%Y", "%m", "%d"} <= tokens or tokens - _DATE_TOKENS:
            raise _fail(path, f"date format {fmt!r} needs %Y %m %d and only {sorted(_DATE_TOKENS)}")
    invalid = spec.get("invalid", "reject")
    if invalid not in ("reject", "null"):
        raise _fail(path, f"dates.{name}.invalid must be 'reject' or 'null'")
    return DateRule(formats, invalid)


def _rollup(raw: dict[str, Any], path: Path) -> dict[str, RollupField]:
    out: dict[str, RollupField] = {}
    for name, spec in raw.items():
        spec = {"agg": spec} if isinstance(spec, str) else spec
        agg, of, by = spec.get("agg"), spec.get("of", name), spec.get("by")
        if agg not in _ROLLUP_AGGS or (agg == "at_min") != (by is not None):
            raise _fail(path, f"rollup.{name}: agg must be one of {_ROLLUP_AGGS} (by= for at_min)")
        out[name] = RollupField(agg, of, by)
    return out


def _check(fmt: FileFormat, path: Path) -> None:
    fields = set(fmt.columns.values())
    if fmt.wide:
        if "nameplate_kw" in fields or set(fmt.wide.technologies) & set(fmt.columns):
            raise _fail(path, "wide layouts fill nameplate_kw from [wide.technologies] only")
        fields.add("nameplate_kw")
    for name in fields:
        if name not in FIELDS or fmt.dataset not in FIELDS[name][1]:
            raise _fail(path, f"unknown field {name!r} for data set {fmt.dataset}")
    mapped = list(fmt.columns.values())
    if len(mapped) != len(set(mapped)):
        raise _fail(path, "two columns map to the same field")
    required = {"circuits": "native_feeder_id"}.get(fmt.dataset, "native_id")
    if required not in fields:
        raise _fail(path, f"no column maps to the required field {required!r}")
    keys = {required, "native_section_id"}
    if any(fmt.columns[c] in keys for c in fmt.optional_columns if c in fmt.columns):
        raise _fail(path, "id columns cannot be optional")
    for name, unit in fmt.units.items():
        target = canonical_unit(name)
        if unit not in UNITS or target is None or UNITS[unit][0] != UNITS[target][0]:
            raise _fail(path, f"units.{name} = {unit!r} cannot convert to {target}")
    for name in fmt.dates:
        if FIELDS.get(name, ("",))[0] != "date":
            raise _fail(path, f"[dates] names {name!r}, which is not a date field")
    for name in (*fmt.dates, *fmt.text, *fmt.units):
        if name not in fields:
            raise _fail(path, f"rule for {name!r}, but no column maps to it")
    unmapped_dates = [f for f in fields if FIELDS[f][0] == "date" and f not in fmt.dates]
    if unmapped_dates:
        raise _fail(path, f"date fields {unmapped_dates} need formats in [dates]")
    bad_types = set(fmt.der_types.values()) - set(DER_TYPES)
    if fmt.wide:
        bad_types |= set(fmt.wide.technologies.values()) - set(DER_TYPES)
        if fmt.wide.unit not in UNITS or UNITS[fmt.wide.unit][0] != "power":
            raise _fail(path, f"wide.unit {fmt.wide.unit!r} is not a power unit")
    if bad_types or fmt.default_der_type not in DER_TYPES:
        raise _fail(path, f"der types {sorted(bad_types)} are not in the standard vocabulary")
    has_sections = bool(fields & SECTION_FIELDS)
    if has_sections != (fmt.rollup is not None) or (
        fmt.rollup is not None and "native_section_id" not in fields
    ):
        raise _fail(path, "section fields need [rollup] and native_section_id, and vice versa")
    for name, spec in (fmt.rollup or {}).items():
        sources = {spec.of, spec.by} - {None}
        if name not in FIELDS or any(s not in fields for s in sources):
            raise _fail(path, f"rollup.{name} refers to fields that are not mapped")


def parse_format(raw: Mapping[str, Any], path: Path) -> FileFormat:
    """Build and validate a FileFormat from a decoded TOML document (``path`` for messages)."""
    try:
        dataset = raw["dataset"]
        if dataset not in DATASETS:
            raise _fail(path, f"dataset must be one of {DATASETS}, not {dataset!r}")
        verification = raw.get("verification")
        if verification not in VERIFICATIONS:
            raise _fail(path, f"verification must be one of {VERIFICATIONS}")
        columns = _table(raw, "columns", path)
        wide_raw = _table(raw, "wide", path)
        ids_raw = _table(raw, "ids", path)
        wide = None
        if wide_raw:
            wide = WideLayout(
                technologies=MappingProxyType(dict(wide_raw["technologies"])),
                unit=wide_raw.get("unit", "kW"),
                no_technology=wide_raw.get("no_technology", "project_row"),
            )
        rollup_raw = _table(raw, "rollup", path)
        fmt = FileFormat(
            name=path.stem,
            utility=str(raw["utility"]),
            dataset=cast(Dataset, dataset),
            file_globs=_strs(raw["files"], "files", path),
            columns=MappingProxyType({str(k): str(v) for k, v in columns.items()}),
            verification=cast(Verification, verification),
            reference=str(raw.get("reference", "")),
            encoding=str(raw.get("encoding", "utf-8-sig")),
            null_tokens=_strs(raw.get("null_tokens", []), "null_tokens", path),
            optional_columns=frozenset(_strs(raw.get("optional_columns", []), "optional", path)),
            thousands_separator=raw.get("thousands_separator"),
            units=MappingProxyType(dict(_table(raw, "units", path))),
            dates=MappingProxyType(
                {k: _date_rule(k, v, path) for k, v in _table(raw, "dates", path).items()}
            ),
            text=MappingProxyType({k: TextRule(**v) for k, v in _table(raw, "text", path).items()}),
            ids=IdRules(
                upper=bool(ids_raw.get("upper", False)),
                strip_float_suffix=bool(ids_raw.get("strip_float_suffix", False)),
                null_values=_strs(ids_raw.get("null_values", []), "ids.null_values", path),
            ),
            der_types=MappingProxyType(
                {str(k).casefold(): str(v) for k, v in _table(raw, "der_types", path).items()}
            ),
            default_der_type=str(raw.get("default_der_type", "other")),
            wide=wide,
            rollup=MappingProxyType(_rollup(rollup_raw, path)) if rollup_raw else None,
            path=str(path),
        )
    except (KeyError, TypeError) as exc:
        raise _fail(path, f"missing or malformed key: {exc}") from exc
    _check(fmt, path)
    return fmt


def load_format(path: Path) -> FileFormat:
    """Read and validate one TOML format file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise _fail(path, f"cannot read: {exc}") from exc
    return parse_format(raw, path)


@lru_cache(maxsize=8)
def _load_dir(directory: Path) -> tuple[FileFormat, ...]:
    formats = tuple(load_format(p) for p in sorted(directory.glob("*.toml")))
    seen: dict[str, str] = {}
    for fmt in formats:
        for glob in fmt.file_globs:
            if glob.lower() in seen:
                raise _fail(Path(fmt.path), f"glob {glob!r} is also used by {seen[glob.lower()]}")
            seen[glob.lower()] = fmt.name
    return formats


def load_formats(directory: Path | None = None) -> list[FileFormat]:
    """Every format in ``directory`` (default: the shipped ``formats/`` folder), sorted by name.

    Read once per directory and process (cached); raises ConfigError naming the bad file."""
    return list(_load_dir((directory or FORMATS_DIR).resolve()))


def match_format(file_name: str, formats: Sequence[FileFormat] | None = None) -> FileFormat | None:
    """The format whose globs match ``file_name``'s base name, or None.

    Raises InputError if more than one format matches (the globs overlap)."""
    candidates = [
        f for f in (load_formats() if formats is None else formats) if f.matches(file_name)
    ]
    if len(candidates) > 1:
        names = ", ".join(f.name for f in candidates)
        raise InputError(
            f"{file_name}: several hosting-capacity formats match ({names})",
            hint="make the file globs in the formats folder distinct",
        )
    return candidates[0] if candidates else None
