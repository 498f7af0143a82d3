"""Client configuration: errors name the file, the key and the fix; secrets stay out."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattlake.errors import ConfigError
from wattlake.sources.espi.config import load_config

GOOD = """
[client]
name = "acme"
[storage]
url = "s3://acme"
[espi]
resource_url = "https://api.example/espi/1_1/resource"
[[customers]]
project_id = "P-1"
subscription_id = "5001"
access_token_env = "P1_TOKEN"
"""


def _load(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "acme.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in info.value.message
    return info.value


def test_a_good_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(GOOD)
    cfg = load_config(path)
    assert cfg.espi.availability_lag_days == 2 and cfg.client.timezone == "America/Los_Angeles"
    with pytest.raises(ConfigError, match="P1_TOKEN, which is not set"):
        cfg.env("customers[0].access_token_env", "P1_TOKEN")
    monkeypatch.setenv("P1_TOKEN", "t")
    assert cfg.env("customers[0].access_token_env", "P1_TOKEN") == "t"


def test_errors_name_the_key_and_the_fix(tmp_path: Path) -> None:
    e = _load(tmp_path, GOOD.replace('url = "s3://acme"', ""))
    assert "storage.url" in e.message and "add storage.url" in (e.hint or "")
    e = _load(tmp_path, GOOD.replace('name = "acme"', 'name = "acme"\ntimezone = "Pacific"'))
    assert "client.timezone" in e.message and "unknown IANA time zone" in e.message
    e = _load(tmp_path, GOOD.replace("[espi]", "[espi]\noverlap_dayz = 3"))
    assert "espi.overlap_dayz" in e.message and "spelling" in (e.hint or "")
    e = _load(
        tmp_path, GOOD + '\n[datastore]\nurl = "ftp://x"\ntoken_env = "T"\nproject_owner = 1\n'
    )
    assert "datastore.url" in e.message
    e = _load(tmp_path, GOOD.split("[[customers]]")[0])
    assert "no customers" in e.message


def test_a_secret_in_the_file_is_refused(tmp_path: Path) -> None:
    e = _load(tmp_path, GOOD.replace('access_token_env = "P1_TOKEN"', 'access_token = "abc123"'))
    assert "customers[0].access_token" in e.message and "secret" in e.message
    assert "access_token_env" in (e.hint or "")
    assert "abc123" not in e.message + (e.hint or "")
