"""`wattlake --help` stays fast: heavy libraries are imported only by the commands that use them."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "dagster", "pyspark", "fastapi", "uvicorn", "polars")


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from wattlake.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"wattlake --help imported: {out.stdout.strip()}"
