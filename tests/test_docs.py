"""Every command in docs/ runs: the pages are read in the order docs/README.md lists them, and
each fenced block marked ``runnable`` is executed (bash in a shell, python in one session per
page, like a notebook) against a fresh WATTLAKE_HOME, the OASIS stand-in, an S3 server on
loopback and the test PostgreSQL. Blocks marked ``no-run`` must say why on their first line;
an unmarked bash or python block fails the test."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from tests._support import IN_CI, ROOT, pg_unreachable_reason
from wattlake.config import get_settings
from wattlake.sims.oasis import OasisSim
from wattlake.sims.scada_source import ScadaSourceSim

DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([\w./-]+\.md)\)")
#: The database name the PostgreSQL examples use; each test run substitutes a unique one.
PG_DB = "wattlake_docs"


@dataclass
class Block:
    page: str
    lang: str
    flags: list[str]
    code: str
    line: int

    @property
    def needs(self) -> set[str]:
        return {f.split("=", 1)[1] for f in self.flags if f.startswith("needs=")}


def reading_order() -> list[str]:
    index = (DOCS / "README.md").read_text()
    pages: list[str] = []
    for link in LINK.findall(index):
        if link not in pages:
            pages.append(link)
    return pages


def blocks(page: str) -> list[Block]:
    text = (DOCS / page).read_text()
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        out.append(Block(page, m.group(1), m.group(2).split(), m.group(3), line))
    return out


def test_every_page_is_in_the_reading_order() -> None:
    listed = set(reading_order())
    present = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")} - {"README.md"}
    assert present == listed
    assert reading_order()[:2] == ["quick-start.md", "concepts.md"]


@pytest.mark.parametrize("page", ["README.md", *reading_order()])
def test_every_block_is_marked(page: str) -> None:
    for b in blocks(page):
        if b.lang not in ("bash", "python", "sh", "shell"):
            continue
        where = f"{page}:{b.line}"
        assert b.lang in ("bash", "python"), f"{where}: use bash or python fences"
        marks = {"runnable", "no-run"} & set(b.flags)
        assert len(marks) == 1, f"{where}: mark the block runnable or no-run"
        if "no-run" in marks:
            first = b.code.splitlines()[0] if b.code else ""
            assert first.startswith("# not run in tests:"), f"{where}: say why it is not run"


@dataclass
class DocsEnv:
    work: Path
    env: dict[str, str]
    namespaces: dict[str, dict[str, object]] = field(default_factory=dict)
    s3_endpoint: str | None = None


@pytest.fixture(scope="module")
def docs_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocsEnv]:
    work = tmp_path_factory.mktemp("docs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATTLAKE_")}
    env["WATTLAKE_HOME"] = str(work / ".wattlake")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "160"
    with (
        OasisSim(rate_limit_s=0.0) as sim,
        ScadaSourceSim(turbines=2, start=date(2024, 5, 20), days=3) as scada,
    ):
        env["WATTLAKE_OASIS_URL"] = sim.base_url
        env["WATTLAKE_SCADA_SOURCE_URL"] = scada.base_url
        yield DocsEnv(work, env)


def _need(what: str, docs_env: DocsEnv) -> dict[str, str] | None:
    """Extra environment for a block that needs ``what``; None (skip) when it is absent."""
    if what == "postgres":
        reason = pg_unreachable_reason()
        if reason:
            if IN_CI:
                pytest.fail(f"CI requires PostgreSQL for the docs: {reason}")
            return None
        return {}
    if what == "s3":
        if docs_env.s3_endpoint is None:
            import boto3
            from moto.server import ThreadedMotoServer

            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            docs_env.s3_endpoint = f"http://{host}:{port}"
            boto3.client(
                "s3", endpoint_url=docs_env.s3_endpoint, aws_access_key_id="testing",
                aws_secret_access_key="testing", region_name="us-east-1",
            ).create_bucket(Bucket="wattlake-docs")  # fmt: skip
        return {
            "AWS_ENDPOINT_URL": docs_env.s3_endpoint, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        }  # fmt: skip
    raise AssertionError(f"unknown need {what!r}")


def _run_bash(b: Block, docs_env: DocsEnv, extra: dict[str, str]) -> None:
    code = b.code
    if "postgres" in b.needs:
        code = code.replace(PG_DB, f"{PG_DB}_{secrets.token_hex(4)}")
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code], cwd=docs_env.work,
        env={**docs_env.env, **extra}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, (
        f"{b.page}:{b.line} failed ({out.returncode}):\n{code}\n--- stdout\n{out.stdout[-3000:]}"
        f"\n--- stderr\n{out.stderr[-3000:]}"
    )


def _run_python(
    b: Block, docs_env: DocsEnv, extra: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for k in [k for k in os.environ if k.startswith("WATTLAKE_")]:
        monkeypatch.delenv(k)
    for k, v in {**docs_env.env, **extra}.items():
        if k.startswith(("WATTLAKE_", "AWS_")):
            monkeypatch.setenv(k, v)
    monkeypatch.chdir(docs_env.work)
    get_settings.cache_clear()
    namespace = docs_env.namespaces.setdefault(b.page, {"__name__": "__docs__"})
    try:
        exec(compile(b.code, f"{b.page}:{b.line}", "exec"), namespace)
    finally:
        get_settings.cache_clear()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("page", reading_order())
def test_docs_commands_run(page: str, docs_env: DocsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = 0
    for b in blocks(page):
        if "runnable" not in b.flags:
            continue
        extra: dict[str, str] = {}
        missing = False
        for what in sorted(b.needs):
            got = _need(what, docs_env)
            if got is None:
                missing = True
                break
            extra.update(got)
        if missing:
            print(f"{page}:{b.line}: skipped, needs {', '.join(sorted(b.needs))}")
            continue
        if b.lang == "bash":
            _run_bash(b, docs_env, extra)
        else:
            _run_python(b, docs_env, extra, monkeypatch)
        ran += 1
    print(f"{page}: {ran} blocks ran")
