"""Every exception Signal Lab raises on purpose, in one place.

Each message says what was wrong (the field, the value, the row or the file)
and what to do about it. Pages turn these into ``st.error``; the CLI prints
them on stderr and exits with status 2.

The hierarchy is shallow on purpose: catch :class:`SignalLabError` to catch
everything of ours, or one of the specific classes below.
"""

from __future__ import annotations

import signal
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
    "Interrupted",
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


class Interrupted(KeyboardInterrupt):
    """The process was asked to stop (Ctrl-C / SIGINT, or SIGTERM) while it worked.

    A ``KeyboardInterrupt``, so no ``except Exception`` swallows it. The code that
    cleans up fills in ``outcome`` (what was kept, in words, e.g. "interrupted by
    SIGTERM during the learning stage; 48,353 events kept, the run is incomplete")
    and ``run_id``; the CLI prints ``outcome`` and exits with ``128 + signal number``.

    Parameters
    ----------
    signal_name : {"SIGINT", "SIGTERM"}
    stage : str, optional
        What was running when the signal came (a backtest stage, "import" ...).
    """

    def __init__(self, signal_name: str = "SIGINT", *, stage: str | None = None) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.stage = stage
        self.outcome: str | None = None
        self.run_id: str | None = None

    @property
    def exit_code(self) -> int:
        """``128 + signal number``: 130 for SIGINT, 143 for SIGTERM (as shells report it)."""
        try:
            return 128 + int(signal.Signals[self.signal_name])
        except KeyError:
            return 130

    def __str__(self) -> str:
        return self.outcome or f"interrupted by {self.signal_name}"
