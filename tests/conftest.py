"""Shared fixtures: sample files, warehouses (DuckDB always; PostgreSQL when reachable,
required in CI), runners on temporary lakes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests._support import IN_CI, PG_URL, pg_unreachable_reason
from wattlake.config import Settings
from wattlake.engines import Engine, connect
from wattlake.lake import Lake
from wattlake.pipeline import Runner


@pytest.fixture(scope="session")
def pg_available() -> None:
    reason = pg_unreachable_reason()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI requires PostgreSQL: {reason}")
    pytest.skip(reason)


def make_engine(kind: str) -> Engine:
    if kind == "duckdb":
        return connect("duckdb:///:memory:")
    return connect(PG_URL, schema=f"wl_test_{secrets.token_hex(4)}")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The same test on DuckDB and on PostgreSQL (in a throwaway schema)."""
    if request.param == "postgres":
        request.getfixturevalue("pg_available")
    eng = make_engine(request.param)
    yield eng
    drop = getattr(eng, "drop_schema", None)
    if drop:
        drop()
    eng.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def runner(engine: Engine, tmp_path: Path, settings: Settings) -> Runner:
    return Runner(engine, Lake(str(tmp_path / "lake")), settings)


@dataclass
class S3StandIn:
    """moto's S3 server on loopback: the endpoint, a boto3 client, and the fsspec options."""

    endpoint: str
    client: Any

    @property
    def options(self) -> dict[str, Any]:
        """Storage options for ``Lake(url, **options)`` / ``fsspec.filesystem("s3", ...)``."""
        return {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": self.endpoint, "region_name": "us-east-1"},
        }

    def bucket(self, name: str) -> str:
        """Create bucket ``name`` (each test module uses its own) and return its name."""
        self.client.create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[S3StandIn]:
    """A real S3 endpoint on loopback (moto's server), one per session; required in CI (the
    tests using it are marked ``s3``)."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="testing",
        aws_secret_access_key="testing", region_name="us-east-1",
    )  # fmt: skip
    yield S3StandIn(endpoint, client)
    server.stop()
