"""CSV a spreadsheet can open safely: formulas in text cells are shown, not run.

One rule for every CSV wattlake writes (the API's ``?format=csv`` answers and the CLI's
``--format csv``), so the same data never comes out two ways.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

#: A cell a spreadsheet would run as a formula (OWASP "CSV Injection"): it starts with one of these.
FORMULA_START = r"^([=+\-@\t\r])"


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """``table`` with every text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or CR
    prefixed by a single quote (OWASP CSV injection), so a spreadsheet shows it as text.

    Only string columns are touched: numbers (``-3.5`` in ``lmp``), dates and timestamps are
    written as they are, since a spreadsheet cannot read a number as a formula. A string column
    whose value happens to look numeric (``"-3"``) is still prefixed: the column's type, not its
    content, decides, so the same column never comes out half-quoted. JSON is not changed.
    """
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type))
            f = table.schema.field(i)
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            fixed = pc.replace_substring_regex(
                table.column(i), pattern=FORMULA_START, replacement="'\\1", max_replacements=1
            )
            table = table.set_column(i, f.name, fixed)
    return table
