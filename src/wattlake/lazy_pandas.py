"""Keep pyarrow from importing pandas until something in the process needs pandas.

pyarrow's first conversion of any Python object (a list, a scalar, a tz-aware datetime) asks
whether the object belongs to pandas, and imports pandas to find out: 0.2-0.5 s of every
``wattlake ingest`` or ``wattlake run``, for an answer wattlake never needs (it hands pyarrow no
pandas objects). :func:`defer_pandas` lets that first probe find no pandas; pyarrow remembers
the answer. Anything that does need pandas still gets it: pyarrow imports it again for
``to_pandas()`` and ``from_pandas()``, and once anyone imports pandas, pyarrow is told it is
there (so ``pa.array(a_pandas_series)`` converts it as pandas objects are converted).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

_NAME = "pandas"


def defer_pandas() -> None:
    """Run pyarrow's pandas probes now, with pandas unimportable for their duration (no-op if
    pandas is imported already)."""
    if _NAME in sys.modules:
        return
    import pyarrow as pa

    blocker = _Unimportable()
    sys.meta_path.insert(0, blocker)
    try:
        pa.array([], pa.int8())  # the Python-side probe (is this a pandas object?)
        pa.array([None, 1.5])  # the C++ side one (pandas' NA and NaT, when inferring a type)
    finally:
        sys.meta_path.remove(blocker)
    sys.meta_path.insert(0, _TellPyarrow())


def _tell_pyarrow() -> None:
    """pandas is imported: have pyarrow import it (a no-op now) and use it from here on. A
    pyarrow without this shim finds pandas by itself; importing pandas must never fail here."""
    with contextlib.suppress(Exception):
        from pyarrow.lib import _pandas_api

        _pandas_api.compat  # noqa: B018 - the property imports pandas into pyarrow's shim


class _Unimportable(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        if fullname == _NAME:
            raise ImportError(f"{_NAME} is not imported for pyarrow's first probe")
        return None


class _TellPyarrow(importlib.abc.MetaPathFinder):
    """Finds nothing itself; when pandas is first imported, wraps its loader so that pyarrow
    is told once pandas has loaded, then leaves ``sys.meta_path``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _NAME:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenTell(spec.loader)
        return spec


class _ThenTell(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self.loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        _tell_pyarrow()

    def __getattr__(self, name: str) -> Any:  # the rest (resource readers…) as pandas' own
        return getattr(self.loader, name)
