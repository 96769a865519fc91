"""Every exception Signal Lab raises on purpose, in one place.

Each message says what was wrong (the field, the value, the row or the file)
and what to do about it. Pages turn these into ``st.error``; the CLI prints
them on stderr and exits with status 2.

The hierarchy is shallow on purpose: catch :class:`SignalLabError` to catch
everything of ours, or one of the specific classes below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CalibrationError",
    "ConfigError",
    "DataSourceError",
    "DriftError",
    "EngineClosedError",
    "ImportFileError",
    "InsufficientDataError",
    "JobError",
    "ModelNotFoundError",
    "OutputError",
    "PayloadError",
    "PromotionRefusedError",
    "RowError",
    "RunNotFoundError",
    "SignalLabError",
    "StoreError",
    "TradesFrameError",
    "ValidationError",
]


class SignalLabError(Exception):
    """Base class of every error Signal Lab raises deliberately."""


class ValidationError(SignalLabError, ValueError):
    """Input that does not meet the contract: a field, a value, a fix."""


class PayloadError(ValidationError):
    """An event payload has a missing, mistyped or out-of-range field."""


class ConfigError(ValidationError):
    """A configuration value is missing, mistyped or out of range."""


class DataSourceError(ValidationError):
    """Market data cannot be loaded: names the file, the row and the fix."""


class TradesFrameError(ValidationError):
    """A trades frame lacks a column or holds values analytics cannot use."""


class InsufficientDataError(ValidationError):
    """Too few rows (or a degenerate sample) for the computation asked for."""


class CalibrationError(ValidationError):
    """A calibrator cannot be fitted or applied on the data given."""


@dataclass(frozen=True)
class RowError:
    """One bad row of an imported file.

    Attributes
    ----------
    row : int
        1-based row number as a spreadsheet shows it (the header is row 1,
        so the first data row is row 2).
    reason : str
        What is wrong with the row and how to fix it.
    """

    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


class ImportFileError(ValidationError):
    """A signal log cannot be imported; ``row_errors`` lists every bad row."""

    def __init__(self, message: str, *, row_errors: Sequence[RowError] = ()) -> None:
        self.row_errors = tuple(row_errors)
        shown = "\n".join(f"  {e}" for e in self.row_errors[:20])
        more = len(self.row_errors) - 20
        if more > 0:
            shown += f"\n  ... and {more} more"
        super().__init__(message + ("\n" + shown if shown else ""))


class StoreError(SignalLabError):
    """The SQLite store cannot be opened, migrated or written."""


class EngineClosedError(StoreError):
    """The learning engine was shut down; create a new one to record more."""


class RunNotFoundError(SignalLabError, KeyError):
    """No run with that id in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "run not found"


class ModelNotFoundError(SignalLabError, KeyError):
    """No model (or no version at that stage) in the registry."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "model not found"


class PromotionRefusedError(SignalLabError):
    """A promotion was refused (last evaluation failed, or wrong stage)."""


class JobError(SignalLabError):
    """A training job failed or cannot be submitted."""


class DriftError(SignalLabError):
    """A drift baseline is missing or a drift check cannot be run."""


class OutputError(StoreError):
    """An output file cannot be written where asked (exists, a link, not a regular file)."""
