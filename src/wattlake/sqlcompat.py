"""DuckDB-dialect SQL made to mean the same on PostgreSQL, beyond what sqlglot's transpiler does.

Every query wattlake ships (the demo's, the API's, gold models) and every user query of
``wattlake sql`` is written in DuckDB's dialect; engines/base.py ``transpile`` parses it with
sqlglot and, for PostgreSQL, passes the tree through :func:`for_postgres` first.

Rules (each found by running the shipped queries on PostgreSQL):

* ``round(x, n)``: DuckDB rounds a DOUBLE and returns a DOUBLE; PostgreSQL has only
  ``round(numeric, integer)`` (``round(double precision, integer) does not exist``). Rewritten
  to ``CAST(round(CAST(x AS DECIMAL), n) AS DOUBLE PRECISION)`` so the result is a float on
  both engines (not a ``Decimal`` that JSON and Arrow would treat differently).
"""

from __future__ import annotations

from sqlglot import Expr, exp


def _round(node: exp.Round) -> exp.Expression:
    arg = node.this
    if not (isinstance(arg, exp.Cast) and arg.to.is_type(exp.DataType.Type.DECIMAL)):
        arg = exp.cast(arg, exp.DataType.Type.DECIMAL)
    rounded = exp.Round(this=arg, decimals=node.args["decimals"])
    return exp.cast(rounded, exp.DataType.Type.DOUBLE)


def for_postgres(tree: Expr) -> Expr:
    """``tree`` (parsed as DuckDB) rewritten where PostgreSQL would fail or differ."""
    tree = tree.copy()
    # Innermost first (depth-first pre-order, reversed), so nested calls are rewritten too.
    for node in reversed(list(tree.find_all(exp.Round, bfs=False))):
        if node.args.get("decimals") is not None:
            node.replace(_round(node.copy()))
    return tree
