"""Options and output helpers shared by every ``signal-lab`` command."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.errors import Interrupted
from core.jsonsafe import json_safe
from core.store import Store, default_data_dir

if TYPE_CHECKING:
    from core.learning import LearningEngine

__all__ = [
    "CatchSignals",
    "add_common_options",
    "emit",
    "open_engine",
    "open_store",
    "print_table",
    "set_stage",
    "stderr",
    "to_json",
]


class CatchSignals:
    """While a command runs, SIGTERM and SIGINT raise :class:`~core.errors.Interrupted`.

    The exception carries the signal's name and :attr:`stage` (what the command said
    it was doing, see :func:`set_stage`), so the code that cleans up can record and
    print exactly what was kept. Python's default SIGTERM ends the process without
    any cleanup; this turns it into an exception like Ctrl-C. Handlers are installed
    only in the main thread and restored on exit.
    """

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.stage: str | None = None
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum).name
        raise Interrupted(self.received, stage=self.stage)

    def __enter__(self) -> CatchSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self._SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def set_stage(args: argparse.Namespace, stage: str) -> None:
    """Record what the command is doing now (named by an interruption's message)."""
    signals = getattr(args, "signals", None)
    if isinstance(signals, CatchSignals):
        signals.stage = stage


def add_common_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--data-dir`` and ``--json`` (every command takes both)."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder of the SQLite store (default: $SIGNAL_LAB_DATA_DIR or artifacts/learning_engine)",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return parser


def open_store(args: argparse.Namespace) -> Store:
    """The store named by ``--data-dir`` (or the default); use it in ``with`` to close it."""
    return Store(args.data_dir if args.data_dir is not None else default_data_dir())


def open_engine(args: argparse.Namespace, *, executor: str | None = None) -> LearningEngine:
    """The learning engine of ``--data-dir`` (or the default); use it in ``with``.

    Leaving the ``with`` block flushes and shuts the engine down, also on error,
    which replaces ``try: ... finally: engine.shutdown()`` in the command modules.

    Parameters
    ----------
    args : Namespace
        Parsed options (``data_dir``).
    executor : str, optional
        Where training jobs run (see :class:`core.learning.LearningEngineConfig`).

    Notes
    -----
    :mod:`core.learning` (and the scikit-learn and SciPy it imports) is imported here,
    not with this module, so that building the parser stays light.
    """
    from core.learning import LearningEngine, LearningEngineConfig

    return LearningEngine(LearningEngineConfig(data_dir=args.data_dir, executor=executor))


def to_json(payload: Any) -> str:
    """``payload`` as indented JSON text, by :func:`core.jsonsafe.json_safe`.

    NaN becomes ``null`` and infinities ``"inf"`` / ``"-inf"`` (the documented
    convention: a profit factor without losses is infinite, not missing), in
    DataFrames (one object per row) as everywhere else.

    Raises
    ------
    TypeError
        A value JSON cannot hold and ``json_safe`` does not convert.
    """
    if isinstance(payload, pd.DataFrame):
        payload = payload.to_dict(orient="records")
    return json.dumps(json_safe(payload), indent=2, allow_nan=False)


def emit(args: argparse.Namespace, payload: Any, text: str | None = None) -> None:
    """Print ``payload`` as JSON (:func:`to_json`) under ``--json``, else ``text``
    (or the JSON when there is no text)."""
    if getattr(args, "json", False) or text is None:
        print(to_json(payload))
    else:
        print(text)


def print_table(frame: pd.DataFrame, *, floatfmt: str = "{:,.4g}", file: Any = None) -> str:
    """Render a DataFrame as a plain aligned table (returns the text, prints it if ``file``)."""
    if frame.empty:
        text = "(no rows)"
    else:
        shown = frame.copy()
        for column in shown.columns:
            if pd.api.types.is_float_dtype(shown[column]):
                shown[column] = shown[column].map(
                    lambda x: "" if pd.isna(x) else floatfmt.format(x)
                )
        text = shown.to_string(index=False)
    if file is not None:
        print(text, file=file)
    return text


def stderr(message: str) -> None:
    """Print a progress or status line on stderr (stdout stays clean for --json)."""
    print(message, file=sys.stderr, flush=True)
