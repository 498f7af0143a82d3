"""Settings from environment variables (``WATTLAKE_*``) and an optional ``wattlake.toml``.

``WATTLAKE_HOME`` (default ``./.wattlake``) holds the local lake, the DuckDB warehouse and
the landing folders. ``WATTLAKE_LAKE_URL`` (any fsspec URL, e.g. ``s3://bucket/lake``) and
``WATTLAKE_WAREHOUSE`` (``duckdb:///path.duckdb`` or ``postgresql://…``) override them.
Secrets (database passwords, API keys, S3 keys) come from the environment only.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WATTLAKE_", toml_file="wattlake.toml", extra="ignore"
    )

    home: Path = Field(default=Path(".wattlake"), description="Local state folder.")
    lake_url: str | None = Field(default=None, description="fsspec URL of the bronze lake.")
    warehouse: str | None = Field(default=None, description="duckdb:///… or postgresql://…")
    api_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated API keys; when set, data-changing endpoints need X-API-Key.",
    )
    meter_timezone: str = Field(
        default="Etc/GMT-10",
        description=(
            "IANA zone of the local times in meter files. Default: Australian NEM market time "
            "(UTC+10 all year, no DST), which is what the ERM Power exports use."
        ),
    )
    meter_encoding: str = Field(
        default="utf-8",
        description=(
            "Encoding of meter files without a byte-order mark (UTF-8 and UTF-16 with a BOM "
            "are recognised), e.g. utf-8, latin-1 or cp1252."
        ),
    )
    espi_timezone: str | None = Field(
        default=None,
        description=(
            "IANA zone for local days of Green Button feeds without LocalTimeParameters, "
            "e.g. America/Los_Angeles (default: UTC, noted in the file report)."
        ),
    )
    duckdb_memory_limit: str = Field(
        default="256MB",
        description="Cap on DuckDB's memory (it spills to disk beyond it), e.g. 256MB or 4GB.",
    )
    scada_timezone: str = Field(
        default="UTC",
        description=(
            "IANA zone in which the SCADA source's zone-less timestamps are read (and whose "
            "calendar days --date/--start/--end name)."
        ),
    )
    scada_source_url: str = Field(
        default="http://localhost:8000", description="Root of the SCADA source API."
    )
    scada_target: str | None = Field(
        default=None,
        description="Target database for SCADA 10-minute statistics: postgresql://… (secret).",
    )
    max_file_bytes: int = Field(
        default=2 * 1024**3, description="Refuse input files larger than this many bytes."
    )
    api_cache_bytes: int = Field(
        default=64 * 1024**2,
        ge=0,
        description="Memory for the API's response cache (bytes or a size, e.g. 64MiB); 0: none.",
    )
    api_cache_max_age: float = Field(
        default=60.0,
        gt=0,
        allow_inf_nan=False,
        description=(
            "Seconds a cached API answer may be served: bounds how long a change made outside "
            "wattlake (psql by hand on PostgreSQL) can go unseen."
        ),
    )

    @field_validator("meter_encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"unknown encoding {value!r}: use a Python codec name such as utf-8, "
                "latin-1 or cp1252"
            ) from None
        return value

    @field_validator("meter_timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                "not an IANA time zone name (e.g. Etc/GMT-10, Australia/Brisbane)"
            ) from exc
        return v

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory(cls, v: str) -> str:
        m = _SIZE.fullmatch(v)
        if not m or not m.group(2):
            raise ValueError("not a size with a unit (e.g. 256MB, 4GB, 2GiB)")
        return v

    @field_validator("max_file_bytes", "api_cache_bytes", mode="before")
    @classmethod
    def _bytes(cls, v: Any) -> Any:
        if isinstance(v, str):
            return parse_size(v)
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Precedence: arguments, then WATTLAKE_* variables, then ./wattlake.toml."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def lake_root(self) -> str:
        return self.lake_url or str((self.home / "lake").resolve())

    @property
    def warehouse_url(self) -> str:
        return self.warehouse or f"duckdb:///{(self.home / 'warehouse.duckdb').resolve()}"

    def landing_dir(self, source: str) -> Path:
        """Where users drop files for ``source`` (e.g. ``meter_files``)."""
        return self.home / "landing" / source

    def api_key_set(self) -> frozenset[str]:
        if self.api_keys is None:
            return frozenset()
        return frozenset(
            k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip()
        )


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str) -> int:
    """``"2GB"``, ``"512MiB"`` or ``"1000000"`` as a number of bytes."""
    m = _SIZE.fullmatch(text)
    if not m:
        raise ValueError("not a number of bytes or a size (e.g. 2000000000, 500MB, 2GiB)")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "b").lower()])


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process settings (cached; call ``get_settings.cache_clear()`` after changing env).

    Raises ``ConfigError`` naming each bad setting, once, before any work starts."""
    from wattlake.errors import ConfigError

    try:
        return Settings()
    except ValidationError as exc:
        bad = []
        for e in exc.errors():
            name = "WATTLAKE_" + "_".join(str(p) for p in e["loc"]).upper()
            bad.append(f"{name}={e.get('input')!r}: {e['msg'].removeprefix('Value error, ')}")
        raise ConfigError(
            "bad setting: " + "; ".join(bad),
            hint="fix or unset it (environment variable, or wattlake.toml in this folder)",
        ) from None
