"""``wattlake serve`` refuses to expose the data-changing GETs to a network with no API key
(issue 7 item 14) unless told ``--allow-open``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wattlake.api.exposure import check_bind, is_loopback
from wattlake.cli import app
from wattlake.config import Settings, get_settings
from wattlake.errors import ConfigError

WATTLAKE = Path(sys.executable).with_name("wattlake")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "10.1.2.3", "192.168.0.10", "8.8.8.8", "no-such-host.invalid"]
)
def test_other_hosts(host: str) -> None:
    assert not is_loopback(host)


def test_check_bind(tmp_path: Path) -> None:
    open_settings = Settings(home=tmp_path)
    with pytest.raises(ConfigError) as exc:
        check_bind("0.0.0.0", open_settings, allow_open=False)
    assert "--allow-open" in (exc.value.hint or "")
    assert "WATTLAKE_API_KEYS" in (exc.value.hint or "")
    check_bind("0.0.0.0", open_settings, allow_open=True)
    check_bind("127.0.0.1", open_settings, allow_open=False)
    keyed = Settings(home=tmp_path, api_keys="k1")  # type: ignore[arg-type]
    check_bind("0.0.0.0", keyed, allow_open=False)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATTLAKE_")}
    return {**env, "WATTLAKE_HOME": str(tmp_path / "home"), **extra}


def test_serve_refuses_an_open_non_loopback_bind(tmp_path: Path) -> None:
    """The real command exits before opening anything, naming the fix."""
    r = subprocess.run(
        [str(WATTLAKE), "serve", "--host", "0.0.0.0", "--port", "0"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    text = " ".join(r.stderr.split())
    assert "refusing to serve on 0.0.0.0" in text
    assert "WATTLAKE_API_KEYS" in text and "--allow-open" in text
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*.duckdb"))


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--host", "0.0.0.0", "--allow-open"], {}),
        (["--host", "0.0.0.0"], {"WATTLAKE_API_KEYS": "secret"}),
        (["--host", "127.0.0.1"], {}),
        ([], {}),
    ],
)
def test_serve_starts_when_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str]
) -> None:
    """uvicorn.run is replaced (no socket on 0.0.0.0 in a test): the check let it through."""
    import uvicorn

    for k in [k for k in os.environ if k.startswith("WATTLAKE_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("WATTLAKE_HOME", str(tmp_path / "home"))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda _app, **kw: calls.append(kw))
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(app, ["serve", "--port", "0", *args])
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 0, (r.output, r.exception)
    assert calls and calls[0]["host"] == (args[1] if args else "127.0.0.1")
