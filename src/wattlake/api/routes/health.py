"""Liveness (``/health``, no database work) and readiness (``/ready``, the warehouse answers)."""

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


@router.get("/health", response_model=Health, summary="Service status (no database query)")
async def health(runner: RunnerDep) -> Health:
    """Answers while the process serves; runs no query, so a load balancer polling it costs
    the warehouse nothing. ``/ready`` checks the warehouse."""
    return Health(status="ok", version=__version__, warehouse=runner.engine.dialect)


@router.get(
    "/ready",
    response_model=Health,
    summary="Readiness: the warehouse answers a query (503 when it does not)",
)
def ready(runner: RunnerDep) -> Health:
    """200 when the warehouse answers ``SELECT 1``; 503 (a problem document) when it does not."""
    runner.engine.query("SELECT 1")
    return Health(status="ok", version=__version__, warehouse=runner.engine.dialect)
