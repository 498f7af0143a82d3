"""The HTTP API: ``create_app()`` for uvicorn, OpenAPI at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from wattlake import __version__
from wattlake.api import errors, openapi, ui
from wattlake.api.cache import Cache, CacheMiddleware, cacheable
from wattlake.api.compat import caiso as compat_caiso
from wattlake.api.compat import hosting_capacity as compat_hosting_capacity
from wattlake.api.compat import meter_files as compat_meter_files
from wattlake.api.routes import feeders, health, lmp, meters, runs, usage_points
from wattlake.api.routes import scada as scada_routes
from wattlake.api.slashes import redirect_slashes_except
from wattlake.launch import Launcher
from wattlake.pipeline import Runner
from wattlake.registry import PIPELINES, get_pipeline

#: The seed systems' routers (no trailing-slash redirects towards their routes).
SEED = (compat_meter_files.router, compat_hosting_capacity.router, compat_caiso.router)
#: The routers whose GET routes may answer from the response cache (``cache.cacheable``).
DATA = (meters.router, runs.router, feeders.router, lmp.router, usage_points.router,
        scada_routes.router, *SEED)  # fmt: skip


def prepare(runner: Runner) -> None:
    """Create every pipeline's tables and any gold table not built yet, so reads never 500."""
    for name in PIPELINES:
        spec = get_pipeline(name)
        runner.setup(spec)
        for model in spec.models:
            if not runner.engine.table_exists(model):
                runner.engine.build(model)


def create_app(runner: Runner | None = None, *, read_only: bool = False) -> FastAPI:
    """The app; with no ``runner`` it opens the warehouse and lake from the settings
    (``read_only``: for reading only; data-changing endpoints then fail with 503). GET answers
    of the read routes go through the response cache (``cache.py``)."""
    cache = Cache()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = runner is None
        app.state.runner = run = runner or Runner.open(read_only=read_only)
        if not read_only:
            prepare(run)
        app.state.launcher = Launcher(run)
        s = run.settings
        if s.api_cache_bytes:
            routes = cacheable(DATA, read_only=run.runs.read_only)
            cache.start(routes, run.engine.watch(), s.api_cache_bytes, s.api_cache_max_age)
        try:
            yield
        finally:
            cache.stop()
            if own:
                run.close()

    app = FastAPI(
        title="wattlake",
        version=__version__,
        summary="Energy data from where it lives to typed tables: meters, prices, grid, SCADA.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(meters.router)
    app.include_router(runs.router)
    app.include_router(compat_meter_files.router)
    app.include_router(feeders.router)
    app.include_router(compat_hosting_capacity.router)
    app.include_router(lmp.router)
    app.include_router(compat_caiso.router)
    app.include_router(usage_points.router)
    app.include_router(scada_routes.router)
    redirect_slashes_except(app.router, [r for s in SEED for r in s.routes])
    app.state.cache = cache
    app.add_middleware(CacheMiddleware, cache=cache)
    openapi.install(app, [r.path for r in cacheable(DATA, read_only=False)])
    ui.install(app)
    return app
