"""`wattlake --help` stays fast: heavy libraries are imported only by the commands that use them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("pandas", "dagster", "pyspark", "fastapi", "uvicorn", "polars")
LP_FILE = (
    "MeterPoint Code,Serial Number,Plant Code,Date/Time,Data Type,Data Value,Units,Status\n"
    "M1,S1,P1,01/01/2025 00:15:00,Import Wh Total,1.5,kwh,\n"
    "M1,S1,P1,01/01/2025 00:30:00,Import Wh Total,2.5,kwh,\n"
    "M1,S1,P1,01/01/2025 00:45:00,Import Wh Total,3.5,kwh,GN\n"
)


def run_python(
    code: str, *, check: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``code`` run by a fresh interpreter (nothing imported yet), its output as text."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=check, env=env
    )


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from wattlake.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = run_python(code, check=True)
    assert out.stdout.strip() == "", f"wattlake --help imported: {out.stdout.strip()}"


def test_ingest_imports_no_heavy_library(tmp_path: Path) -> None:
    """A meter-file ingest into DuckDB: pyarrow would import pandas (0.2-0.5 s) on its first
    conversion of a Python object, unless wattlake.lazy_pandas tells it there is none."""
    (tmp_path / "LP_1.csv").write_text(LP_FILE)
    code = (
        "import re, sys\n"
        "from typer.testing import CliRunner\n"
        "from wattlake.cli import app\n"
        f"result = CliRunner().invoke(app, ['ingest', 'meter-files', {str(tmp_path)!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert re.search(r'LP_1.csv *. +3 . +3 . +0 ', result.output), result.output\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = {**os.environ, "WATTLAKE_HOME": str(tmp_path / "home")}
    env.pop("WATTLAKE_WAREHOUSE_URL", None)
    out = run_python(code, check=True, env=env)
    assert out.stdout.strip() == "", f"wattlake ingest imported: {out.stdout.strip()}"


def test_pandas_still_works_after_pyarrow_was_told_it_is_absent() -> None:
    """Once pandas is imported, pyarrow converts pandas objects as usual (a nullable Int64
    Series, which converts only through pyarrow's pandas path) and to_pandas works."""
    code = (
        "import sys\n"
        "import wattlake.tables\n"
        "import pyarrow as pa\n"
        "from datetime import datetime, timezone\n"
        "pa.array([1.5, None]); pa.scalar(1); pa.array([datetime.now(timezone.utc)])\n"
        "assert 'pandas' not in sys.modules\n"
        "import pandas as pd\n"
        "a = pa.array(pd.Series([1, None], dtype='Int64'))\n"
        "assert a.type == pa.int64() and a.null_count == 1, a\n"
        "assert pa.table({'x': [1, 2]}).to_pandas()['x'].sum() == 3\n"
        "print('ok')\n"
    )
    out = run_python(code)
    assert out.stdout.strip() == "ok", out.stderr


def test_importing_pandas_never_fails_because_of_the_hook() -> None:
    """If pyarrow's pandas shim is not what wattlake.lazy_pandas expects (another pyarrow),
    importing pandas still works."""
    code = (
        "import pyarrow.lib, wattlake.tables\n"
        "class Broken:\n"
        "    @property\n"
        "    def compat(self):\n"
        "        raise AttributeError('no such shim')\n"
        "pyarrow.lib._pandas_api = Broken()\n"
        "import pandas\n"
        "print(pandas.DataFrame({'a': [1]}).shape)\n"
    )
    out = run_python(code)
    assert out.stdout.strip() == "(1, 1)", out.stderr
