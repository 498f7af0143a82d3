"""`wattlake --help` imports no data library at all (issue 10 section 3).

tests/test_cli_imports.py keeps pandas, dagster, pyspark, FastAPI and uvicorn out of it; this
keeps out the libraries every data command does need but `--help` does not: Arrow (and numpy
with it, ~0.3 s), DuckDB, PostgreSQL, sqlglot and pydantic-settings.
"""

from __future__ import annotations

import subprocess
import sys

DATA_LIBS = ("pyarrow", "numpy", "duckdb", "psycopg", "sqlglot", "pydantic_settings", "fsspec")


def test_help_imports_no_data_library() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from wattlake.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'ingest' in result.output, result.output\n"
        f"print(','.join(m for m in {DATA_LIBS!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"wattlake --help imported: {out.stdout.strip()}"
