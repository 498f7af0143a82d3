"""Putting text from data, paths and messages on the terminal without rich reading it as markup.

rich treats ``[...]`` in a printed string as markup: a reject's raw text holding ``[/]`` makes it
raise ``MarkupError``, ``[red]x[/red]`` in a value turns red, a file named ``LP_[bold]m25.csv``
loses its brackets. Every value that did not come from wattlake's own string literals goes
through :func:`esc` (inside a markup string) or :func:`cell` (a table cell, never parsed); a
line with no markup of wattlake's own is printed with ``markup=False``.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text


def esc(value: Any) -> str:
    """``value`` as text that rich markup shows literally."""
    return escape(str(value))


def cell(value: Any) -> Text:
    """A table cell: ``None`` empty, floats to 6 significant digits, never parsed as markup."""
    if value is None:
        return Text("")
    if isinstance(value, float):
        return Text(f"{value:.6g}")
    return Text(str(value))
