"""Options and output helpers shared by every ``signal-lab`` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from core.jsonsafe import json_safe
from core.store import Store, default_data_dir

__all__ = ["add_common_options", "emit", "json_default", "open_store", "print_table"]


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
    """The store named by ``--data-dir`` (or the default)."""
    return Store(args.data_dir if args.data_dir is not None else default_data_dir())


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback: anything :func:`core.jsonsafe.json_safe` can convert."""
    converted = json_safe(value)
    if converted is value:
        raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
    return converted


def emit(args: argparse.Namespace, payload: Any, text: str | None = None) -> None:
    """Print ``payload`` as JSON under ``--json``, else ``text`` (or a JSON dump)."""
    if getattr(args, "json", False) or text is None:
        if hasattr(payload, "to_dict") and not isinstance(payload, pd.DataFrame):
            payload = payload.to_dict()
        if isinstance(payload, pd.DataFrame):
            payload = json.loads(payload.to_json(orient="records", date_format="iso"))
        print(json.dumps(json_safe(payload), indent=2, default=json_default, allow_nan=False))
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
