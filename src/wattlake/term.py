"""Putting text from data, paths and messages on the terminal without rich reading it as markup.

rich treats ``[...]`` in a printed string as markup: a reject's raw text holding ``[/]`` makes it
raise ``MarkupError``, ``[red]x[/red]`` in a value turns red, a file named ``LP_[bold]m25.csv``
loses its brackets. Every value that did not come from wattlake's own string literals goes
through :func:`esc` (inside a markup string) or :func:`cell` (a table cell, never parsed); a
line with no markup of wattlake's own is printed with ``markup=False``. Both also show control
characters as ``\\x1b``-style escapes (:func:`visible`): an ESC or CR from a file must not
recolour, move or rewrite the user's terminal.
"""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape
from rich.text import Text

# C0 controls but tab and newline, DEL, and C1 controls (\x9b is a CSI to some terminals).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """``text`` with each control character shown as ``\\xNN`` (tab and newline kept)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def esc(value: Any) -> str:
    """``value`` as text that rich markup shows literally, control characters visible."""
    return escape(visible(str(value)))


def cell(value: Any) -> Text:
    """A table cell: ``None`` empty, floats to 6 significant digits, never parsed as markup."""
    if value is None:
        return Text("")
    if isinstance(value, float):
        return Text(f"{value:.6g}")
    return Text(visible(str(value)))
