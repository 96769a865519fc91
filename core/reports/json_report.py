"""The JSON report of a backtest: one machine-readable file per run.

Location: ``<data_dir>/reports/<run_id>.json``, inside the data directory
(see :func:`reports_dir`): nothing is written outside the folder a user chose.
:func:`core.backtest.run_backtest` writes only to the store; the CLI and the
dashboard write the report (:func:`write_backtest_report`).

Keys (see :func:`build_backtest_report`): ``run_id``, ``timestamp``,
``package_version``, ``config``, ``config_hash``, ``data_fingerprint``,
``seed``, ``synthetic``, ``source``, ``use_learning_engine``,
``learning_events_recorded``, ``learning_data_dir``, ``n_signals``,
``n_trades``, ``dropped_trades``, ``dropped_by_reason``,
``baseline_performance``, ``filtered_performance``, ``improvement``,
``calibration_metrics``, ``validation_passed``, ``validation_rule``.

JSON has no infinity or NaN: an infinite metric (a profit factor without
losing trades) is written as the string ``"inf"``, an undefined one as
``null``. Files are written atomically (a temporary file in the same folder,
then :func:`os.replace`), so a reader never sees half a report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from core import __version__
from core.errors import StoreError
from core.jsonsafe import json_safe
from core.outputs import write_output

if TYPE_CHECKING:
    from core.backtest import BacktestResult

__all__ = [
    "REPORT_KEYS",
    "build_backtest_report",
    "read_json_report",
    "reports_dir",
    "write_backtest_report",
    "write_json_report",
]

#: Keys every backtest report has.
REPORT_KEYS: tuple[str, ...] = (
    "run_id",
    "timestamp",
    "package_version",
    "config",
    "config_hash",
    "data_fingerprint",
    "seed",
    "synthetic",
    "source",
    "use_learning_engine",
    "learning_events_recorded",
    "learning_data_dir",
    "n_signals",
    "n_trades",
    "dropped_trades",
    "dropped_by_reason",
    "baseline_performance",
    "filtered_performance",
    "improvement",
    "calibration_metrics",
    "validation_passed",
    "validation_rule",
)


def reports_dir(data_dir: str | Path) -> Path:
    """The reports folder of a data directory: ``<data_dir>/reports`` (absolute)."""
    return Path(data_dir).resolve() / "reports"


def build_backtest_report(result: BacktestResult) -> dict[str, Any]:
    """The report of a backtest as a JSON-ready dict (keys :data:`REPORT_KEYS`)."""
    report = {
        "run_id": result.run_id,
        "timestamp": pd.Timestamp.now(tz="UTC").isoformat(),
        "package_version": __version__,
        "config": result.config.to_dict(),
        "config_hash": result.config_hash,
        "data_fingerprint": result.data_fingerprint,
        "seed": result.config.seed,
        "synthetic": result.synthetic,
        "source": result.source,
        "use_learning_engine": result.config.use_learning_engine,
        "learning_events_recorded": result.events_recorded,
        "learning_data_dir": str(result.data_dir) if result.config.use_learning_engine else None,
        "n_signals": result.n_signals,
        "n_trades": result.n_trades,
        "dropped_trades": result.n_dropped,
        "dropped_by_reason": dict(result.dropped_by_reason),
        "baseline_performance": result.baseline.to_dict(),
        "filtered_performance": result.filtered.to_dict(),
        "improvement": dict(result.improvement),
        "calibration_metrics": result.calibration.to_dict(),
        "validation_passed": result.validation_passed,
        "validation_rule": result.validation_rule,
    }
    return json_safe(report)


def write_backtest_report(result: BacktestResult) -> Path:
    """Write the JSON report of ``result`` to ``<data_dir>/reports/<run_id>.json``; return the path."""
    path = reports_dir(result.data_dir) / f"{result.run_id}.json"
    return write_json_report(build_backtest_report(result), path)


def write_json_report(
    report: Mapping[str, Any], path: str | Path, *, overwrite: bool = True
) -> Path:
    """Write ``report`` to ``path`` atomically and return the path.

    Raises
    ------
    OutputError
        The path is a link or not a regular file, exists while ``overwrite`` is
        False, or cannot be written (the message names it and the fix).
    """
    text = json.dumps(json_safe(report), indent=2, sort_keys=False, allow_nan=False)
    return write_output(path, text + "\n", overwrite=overwrite)


def read_json_report(path: str | Path) -> dict[str, Any]:
    """Load a report written by :func:`write_json_report`."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"no report at {path}; run a backtest first") from None
