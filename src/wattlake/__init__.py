"""wattlake: energy data from where it lives to typed tables and an HTTP API.

As a library (every function returns a ``pyarrow.Table``; ``.to_pandas()`` is one call away)::

    import wattlake
    prices = wattlake.caiso.get_lmp("2025-11-01", "2025-11-08", nodes=["TH_NP15_GEN-APND"])
    reads = wattlake.meters.read_meter_file("LP_212344545.csv")
    with wattlake.open() as wh:
        daily = wh.table("lmp_daily")

Submodules and ``open`` are imported on first use, so ``import wattlake`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Warehouse",
    "__version__",
    "caiso",
    "green_button",
    "hosting_capacity",
    "meters",
    "open",
    "scada",
]

_SUBMODULES = {"caiso", "green_button", "hosting_capacity", "meters", "scada"}
_FROM_WAREHOUSE = {"open", "Warehouse"}

if TYPE_CHECKING:
    from wattlake import caiso, green_button, hosting_capacity, meters, scada
    from wattlake.warehouse import Warehouse, open


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return import_module(f"wattlake.{name}")
    if name in _FROM_WAREHOUSE:
        return getattr(import_module("wattlake.warehouse"), name)
    raise AttributeError(f"module 'wattlake' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
