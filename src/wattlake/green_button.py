"""Placeholder: this source's library functions arrive with its pipeline."""

from __future__ import annotations

__all__: list[str] = []
