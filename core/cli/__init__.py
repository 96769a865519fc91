"""The ``signal-lab`` command: every job the dashboard does, headless.

Each command group lives in its own module with a ``register(subparsers)``
function that adds its parser(s) and sets ``handler`` to a function
``handler(args) -> int``. :data:`COMMAND_MODULES` lists them in help order.
"""

from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from core import __version__
from core.cli.common import CatchSignals
from core.errors import Interrupted, SignalLabError
from core.store.db import DB_FILENAME, default_data_dir, explain_database_error

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

#: Modules under ``core.cli`` that add commands, in the order help lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "store_commands",
    "backtest_commands",
    "analysis_commands",
    "lifecycle_commands",
    "decision_commands",
    "ledger_commands",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every registered command)."""
    parser = argparse.ArgumentParser(
        prog="signal-lab",
        description=(
            "Signal Lab: find out whether a trading signal's confidence means anything, "
            "calibrate it, choose the threshold to trade at, and notice when it stops working."
        ),
    )
    parser.add_argument("--version", action="version", version=f"signal-lab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"core.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"core.cli.{name}":
                raise
            continue  # a command group not installed in this build
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``signal-lab`` console script; returns the exit status.

    Exit status: 0 success, 1 a check failed (e.g. validation did not pass),
    2 bad input or a Signal Lab error (one line on stderr saying what to do; a
    damaged, foreign, newer or read-only store included), 130 interrupted by
    Ctrl-C (SIGINT), 143 by SIGTERM; an interruption prints what was kept.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with CatchSignals() as signals:
            args.signals = signals
            return int(args.handler(args) or 0)
    except SignalLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        where = f" during the {exc.stage} stage" if exc.stage else ""
        print(
            exc.outcome
            or f"interrupted by {exc.signal_name}{where}; the command stopped before it finished",
            file=sys.stderr,
        )
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted by SIGINT; the command stopped before it finished", file=sys.stderr)
        return 130
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
        data_dir = getattr(args, "data_dir", None)
        path = Path(data_dir if data_dir is not None else default_data_dir()) / DB_FILENAME
        print(f"error: {explain_database_error(exc, path)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
