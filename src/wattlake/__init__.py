"""wattlake: energy data from where it lives to typed tables and an HTTP API."""

__version__ = "0.1.0"
