"""Per-client configuration for Green Button Connect fetches and the datastore upload: one TOML
file per client (what oeem-etl's ``config.yaml`` held, §4.7). Secrets never go in the file:
each credential is the *name* of an environment variable (``…_env`` keys).

```toml
[client]
name = "acme"
timezone = "America/Los_Angeles"      # the utility's IANA zone: day boundaries, local days

[storage]                             # where the raw files live (the old layout)
url = "s3://acme-etl"                 # or a local folder; raw files under <url>/consumption/raw/
endpoint_url = "http://127.0.0.1:9000"   # optional, S3-compatible stores
access_key_env = "ACME_S3_KEY"        # optional
secret_key_env = "ACME_S3_SECRET"     # optional

[espi]
resource_url = "https://api.pge.com/GreenButtonConnect/espi/1_1/resource"
token_url = "https://api.pge.com/datacustodian/oauth/v2/token"
client_id_env = "ACME_GB_CLIENT_ID"
client_secret_env = "ACME_GB_CLIENT_SECRET"
cert_file = "/etc/acme/client.crt"    # optional: mutual TLS (PG&E requires it)
key_file = "/etc/acme/client.key"
ca_file = "/etc/acme/custodian-ca.pem"  # optional: a private CA for the custodian's certificate
availability_lag_days = 2             # data is complete up to local midnight this many days ago
overlap_days = 3                      # re-read this much before the loaded data's end
history_years = 4                     # first run reaches this far back

[auth_service]                        # optional: customers from the authorization service
url = "https://auth.example.org"
token_env = "ACME_AUTH_TOKEN"
client_id = "7"

[[customers]]                         # optional: customers listed here
project_id = "P-1"
subscription_id = "5001"
access_token_env = "P1_ACCESS"
refresh_token_env = "P1_REFRESH"

[datastore]
url = "https://datastore.example.org"
token_env = "ACME_DATASTORE_TOKEN"
project_owner = 1
```

:func:`load_config` validates the file and raises :class:`~wattlake.errors.ConfigError` naming
the file, the key and the fix.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wattlake.errors import ConfigError

SECRET_WORDS = ("token", "secret", "password", "key")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClientSection(_Section):
    name: str = Field(min_length=1)
    timezone: str = "America/Los_Angeles"
    custodian: str | None = None  # key column of the silver rows (default: the links' host)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown IANA time zone {v!r}") from None
        return v


class StorageSection(_Section):
    url: str = Field(min_length=1)
    raw_prefix: str = "consumption/raw"
    endpoint_url: str | None = None
    region: str | None = None
    access_key_env: str | None = None
    secret_key_env: str | None = None


class EspiSection(_Section):
    resource_url: str
    token_url: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    availability_lag_days: int = Field(default=2, ge=0, le=30)
    overlap_days: int = Field(default=3, ge=0, le=60)
    history_years: int = Field(default=4, ge=1, le=10)
    min_interval_s: float = Field(default=0.5, ge=0)
    max_retries: int = Field(default=4, ge=0, le=10)
    backoff_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=120.0, gt=0)

    @field_validator("resource_url", "token_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http:// for a local stand-in)")
        return v.rstrip("/") if v else v


class AuthServiceSection(_Section):
    url: str
    token_env: str
    client_id: str


class CustomerSection(_Section):
    project_id: str = Field(min_length=1)
    subscription_id: str = Field(min_length=1)
    access_token_env: str | None = None
    refresh_token_env: str | None = None


class DatastoreSection(_Section):
    url: str
    token_env: str
    project_owner: int
    batch_size: int = Field(default=500, ge=1, le=10_000)
    min_interval_s: float = Field(default=0.0, ge=0)
    max_retries: int = Field(default=4, ge=0, le=10)
    backoff_s: float = Field(default=1.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http:// for a local stand-in)")
        return v.rstrip("/")


class ClientConfig(_Section):
    client: ClientSection
    storage: StorageSection
    espi: EspiSection
    auth_service: AuthServiceSection | None = None
    customers: list[CustomerSection] = Field(default_factory=list)
    datastore: DatastoreSection | None = None
    path: Path = Path("client.toml")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.client.timezone)

    def env(self, key: str, name: str | None, *, required: bool = True) -> str | None:
        """The value of environment variable ``name`` (named by config key ``key``)."""
        if name is None:
            if required:
                raise ConfigError(f"{self.path}: {key} is not set",
                                  hint=f"add {key} = \"ENV_VAR_NAME\" and export that variable")  # fmt: skip
            return None
        value = os.environ.get(name)
        if value is None and required:
            raise ConfigError(
                f"{self.path}: {key} names environment variable {name}, which is not set",
                hint=f"export {name}=… before running (the secret stays out of the file)",
            )
        return value

    def storage_options(self) -> dict[str, Any]:
        s = self.storage
        opts: dict[str, Any] = {}
        kwargs = {
            k: v for k, v in (("endpoint_url", s.endpoint_url), ("region_name", s.region)) if v
        }
        if kwargs:
            opts["client_kwargs"] = kwargs
        if s.access_key_env:
            opts["key"] = self.env("storage.access_key_env", s.access_key_env)
        if s.secret_key_env:
            opts["secret"] = self.env("storage.secret_key_env", s.secret_key_env)
        return opts


def _secret_keys(data: Any, path: str = "") -> list[str]:
    """Keys that look like a secret written into the file instead of an env var name."""
    found = []
    if isinstance(data, dict):
        for k, v in data.items():
            here = f"{path}.{k}" if path else str(k)
            if isinstance(v, dict | list):
                found += _secret_keys(v, here)
            elif any(w in str(k).lower() for w in SECRET_WORDS) and not str(k).endswith(
                ("_env", "_file", "_url")
            ):
                found.append(here)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found += _secret_keys(item, f"{path}[{i}]")
    return found


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_config(path: str | os.PathLike[str]) -> ClientConfig:
    """Read and validate one client's TOML file."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file", hint="pass --config path/to/client.toml") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{p}: not valid TOML: {exc}", hint="fix the syntax at that line"
        ) from None
    secrets_found = _secret_keys(data)
    if secrets_found:
        key = secrets_found[0]
        raise ConfigError(
            f"{p}: {key} looks like a secret written into the file",
            hint=f"remove it; put the value in an environment variable and set {key}_env = "
            '"THAT_VARIABLE" (the file names variables, never secrets)',
        )
    if "path" in data:
        raise ConfigError(f"{p}: path is not a setting", hint="remove the top-level key path")
    try:
        cfg = ClientConfig.model_validate({**data, "path": p})
    except ValidationError as exc:
        e = exc.errors()[0]
        key = _where(e["loc"])
        if e["type"] == "missing":
            fix = f"add {key} (see the example in the README, section Green Button)"
        elif e["type"] == "extra_forbidden":
            fix = f"remove {key} or check its spelling"
        else:
            fix = f"set {key} to a valid value"
        msg = str(e["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{p}: {key}: {msg}", hint=fix) from None
    if cfg.auth_service is None and not cfg.customers:
        raise ConfigError(
            f"{p}: no customers: neither [auth_service] nor [[customers]] is set",
            hint="add an [auth_service] section or at least one [[customers]] entry",
        )
    if bool(cfg.espi.cert_file) != bool(cfg.espi.key_file):
        raise ConfigError(f"{p}: espi.cert_file and espi.key_file go together",
                          hint="set both (mutual TLS) or neither")  # fmt: skip
    return cfg
