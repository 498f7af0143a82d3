"""The exception tree. Every message says what went wrong and what to do about it.

WattlakeError
├── ConfigError          bad or missing setting (fix the env var / wattlake.toml)
├── LakeError            bronze store unreachable or a write failed
├── WarehouseError       engine unreachable, bad SQL, failed load (the load is rolled back)
├── SourceError          a remote source misbehaved
│   ├── FetchError       network / HTTP failure after retries
│   └── SourceResponseError  the source answered with an error document
├── InputError           an input file can't be read as a whole (unknown layout, bad zip, too big)
└── NotFoundError        a requested entity does not exist
"""

from __future__ import annotations


class WattlakeError(Exception):
    """Root of every error wattlake raises on purpose.

    ``hint`` is the action the user should take; it is appended to the message.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} — {hint}" if hint else message)


class ConfigError(WattlakeError):
    """A setting is missing or invalid."""


class LakeError(WattlakeError):
    """The bronze store could not be read or written."""


class WarehouseError(WattlakeError):
    """The warehouse could not be reached, or a statement or load failed."""


class SourceError(WattlakeError):
    """A remote source failed or answered with something we cannot use."""


class FetchError(SourceError):
    """The request did not succeed after all retries."""


class SourceResponseError(SourceError):
    """The source returned an error document (code and text kept on the exception)."""

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        self.code = code
        super().__init__(message, hint=hint)


class InputError(WattlakeError):
    """An input file cannot be processed at all (as opposed to a bad row, which is a reject)."""


class HostileXMLError(InputError):
    """The file uses XML features a data feed never needs (DTD, entities)."""


class NotFoundError(WattlakeError):
    """The requested entity does not exist."""


class ConflictError(WattlakeError):
    """The request clashes with work in progress (HTTP 409); ``run_id`` names that work."""

    def __init__(self, message: str, *, hint: str | None = None, run_id: str | None = None) -> None:
        self.run_id = run_id
        super().__init__(message, hint=hint)
