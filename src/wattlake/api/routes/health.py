"""Liveness and warehouse reachability."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from wattlake import __version__
from wattlake.api.deps import RunnerDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    warehouse: str


@router.get("/health", response_model=Health, summary="Service and warehouse status")
def health(runner: RunnerDep) -> Health:
    runner.engine.query("SELECT 1")
    return Health(status="ok", version=__version__, warehouse=runner.engine.dialect)
