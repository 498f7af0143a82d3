"""`wattlake demo`: every source generates realistic data, loads it, and shows what it got.

A source joins the demo by adding ``module:function`` to ``DEMO_STEPS``; the function takes
(runner, console) and returns example API paths.
"""

from __future__ import annotations

from importlib import import_module

from rich.console import Console

from wattlake.pipeline import Runner
from wattlake.term import esc

DEMO_STEPS = (
    "wattlake.sources.meter_files.demo:run",
    "wattlake.sources.hosting_capacity.demo:run",
    "wattlake.sources.caiso.demo:run",
    "wattlake.sources.espi.connect_demo:run",
    "wattlake.sources.scada.demo:run",
)


def run_demo(console: Console, *, serve_api: bool = True, port: int = 8000) -> list[str]:
    runner = Runner.open()
    console.print(
        f"[bold]wattlake demo[/] — warehouse {esc(runner.engine.url)}, lake {esc(runner.lake.url)}"
    )
    examples: list[str] = []
    for step in DEMO_STEPS:
        module, func = step.split(":")
        examples += getattr(import_module(module), func)(runner, console)
    if not serve_api:
        console.print(
            f"\nDashboard: run `wattlake serve`, then open http://127.0.0.1:{port}/ui", markup=False
        )
        runner.close()
        return examples
    import uvicorn

    from wattlake.api.app import create_app

    base = f"http://127.0.0.1:{port}"
    console.print(f"\nDashboard: {base}/ui", markup=False)
    console.print(f"API on {base} (docs: {base}/docs). Try:", markup=False)
    for path in examples:
        console.print(f"  curl '{base}{path}'", markup=False)
    console.print("Ctrl-C to stop.")
    uvicorn.run(create_app(runner), host="127.0.0.1", port=port, log_level="warning")
    runner.close()
    return examples
