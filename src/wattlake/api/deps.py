"""Request dependencies: the runner (engine + lake) and the API-key guard."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from wattlake.launch import Launcher
from wattlake.pipeline import Runner


async def get_runner(request: Request) -> Runner:
    """Async on purpose: a sync dependency costs every request a hop to the thread pool."""
    runner: Runner = request.app.state.runner
    return runner


RunnerDep = Annotated[Runner, Depends(get_runner)]


def get_launcher(request: Request) -> Launcher:
    launcher: Launcher = request.app.state.launcher
    return launcher


LauncherDep = Annotated[Launcher, Depends(get_launcher)]


def require_api_key(
    runner: RunnerDep,
    x_api_key: Annotated[
        str | None, Header(description="API key (needed when keys are configured)")
    ] = None,
) -> None:
    """Endpoints that change data need ``X-API-Key`` when ``WATTLAKE_API_KEYS`` is set."""
    keys = runner.settings.api_key_set()
    if not keys:
        return
    if x_api_key is None or not any(secrets.compare_digest(x_api_key, k) for k in keys):
        raise HTTPException(401, "missing or wrong X-API-Key header")


WriteGuard = Depends(require_api_key)
