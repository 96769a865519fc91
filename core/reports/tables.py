"""The analysis of a stored run, and its tables as CSV and JSON.

:func:`analyze_stored_run` reads a run's trades frame and its ``METRIC_RECORDED``
event (the headline numbers) from the store and runs every
analysis of :mod:`core.analytics.report` on it: confidence statistics and
calibration, walk-forward calibrators, the threshold sweep with its
in-sample choice, walk-forward judgement, deflated Sharpe ratio and PBO. The
result, a :class:`RunAnalysis`, is what the CSV, JSON and HTML exports write.

Files are written atomically: into a temporary file (or folder) beside the
target, then moved into place with :func:`os.replace`, so a reader never sees
half an export.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.analytics.calibration import ReliabilityCurve
from core.analytics.calibrators import CALIBRATION_METHODS
from core.analytics.keymap import KeyMapping
from core.analytics.report import (
    ConfidenceAnalysis,
    ThresholdAnalysis,
    analyze_run,
    analyze_thresholds,
    calibration_totals,
    calibrator_curves,
)
from core.analytics.walkforward import WalkForwardResult
from core.csvsafe import csv_bytes
from core.decisions import latest_versions_view
from core.errors import ConfigError, InsufficientDataError, StoreError
from core.events import EventType
from core.jsonsafe import json_safe
from core.lifecycle.ledger import TrialLedger
from core.lifecycle.registry import ModelRegistry
from core.outputs import check_output_path, write_output
from core.reports.json_report import write_json_report
from core.reports.keys import KEY_ALIASES, KEY_CHOICES, map_key
from core.reports.verdict import dsr_summary, headline_verdict
from core.store import RunInfo, Store

__all__ = [
    "RunAnalysis",
    "analyze_stored_run",
    "atomic_write",
    "load_run_report",
    "summed_equity",
    "write_tables_csv",
    "write_tables_json",
]

#: Headline metrics of a run report shown first, in this order (others follow).
_RUN_METRIC_ORDER: tuple[str, ...] = (
    "n_trades",
    "win_rate",
    "mean_return_pct",
    "median_return_pct",
    "expectancy_pct",
    "sharpe_per_trade",
    "sortino_per_trade",
    "profit_factor",
    "total_return",
    "cagr",
    "sharpe_daily",
    "sortino_daily",
    "volatility_daily",
    "max_drawdown",
    "exposure",
)


# --------------------------------------------------------------------------- atomic files


def atomic_write(path: str | Path, data: str | bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`core.outputs.write_output`).

    Raises
    ------
    OutputError
        The path is a link or not a regular file, exists while ``overwrite`` is
        False, or cannot be written; the message names it and the fix.
    """
    return write_output(path, data, overwrite=overwrite)


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return csv_bytes(frame, date_format="%Y-%m-%dT%H:%M:%S%z")


def write_tables_csv(
    tables: Mapping[str, pd.DataFrame], out: str | Path, *, overwrite: bool = True
) -> Path:
    """Write every table as ``<name>.csv``: into a zip file, or a folder.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Table name -> table (e.g. :meth:`RunAnalysis.tables`).
    out : str or Path
        A path ending in ``.zip`` gets one zip archive; any other path is a
        folder (created, or replaced as a whole when ``overwrite``).
    overwrite : bool, default True
        Replace an existing zip file or folder (never a link or another kind of file).
        Cells that could start a spreadsheet formula are neutralised
        (:mod:`core.csvsafe`).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    StoreError
        The target cannot be written.
    """
    target = Path(out)
    if target.suffix.lower() == ".zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, frame in tables.items():
                archive.writestr(f"{name}.csv", _csv_bytes(frame))
        return atomic_write(target, buffer.getvalue(), overwrite=overwrite)
    check_output_path(target, overwrite=overwrite, kind="folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as exc:
        raise StoreError(f"cannot write the tables to {target}: {exc.strerror}") from None
    old: Path | None = None
    try:
        for name, frame in tables.items():
            (staging / f"{name}.csv").write_bytes(_csv_bytes(frame))
        if target.exists():
            if not target.is_dir():
                raise StoreError(f"{target} exists and is not a folder; choose another --out")
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise StoreError(f"cannot write the tables to {target}: {exc.strerror}") from None
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return target


def write_tables_json(
    payload: Mapping[str, Any], out: str | Path, *, overwrite: bool = True
) -> Path:
    """Write ``payload`` (e.g. :meth:`RunAnalysis.to_dict`) as JSON, atomically."""
    return write_json_report(payload, out, overwrite=overwrite)


def _table_dict(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": [json_safe(r) for r in frame.to_dict(orient="records")],
    }


# --------------------------------------------------------------------------- run report


def load_run_report(store: Store, run_id: str) -> tuple[dict[str, Any] | None, str]:
    """The run's headline numbers, from its stored ``METRIC_RECORDED`` event.

    The store is the only source: a JSON report file
    (:func:`core.reports.json_report.reports_dir`) is an export, which may be
    stale or edited, and is never read back.

    Returns
    -------
    report : dict or None
        The payload of the run's last ``METRIC_RECORDED`` event, with keys
        ``baseline``, ``filtered`` and ``improvement`` (metric -> value) always
        present, plus whatever else it holds (``applied_threshold``,
        ``confidence_key``, ``validation_passed``, ``calibration`` ...). None
        for a run without one (an imported signal log).
    source : str
        ``"METRIC_RECORDED event"`` or ``"none"``.
    """
    events = store.query_events(event_type=EventType.METRIC_RECORDED, run_id=run_id)
    if not events:
        return None, "none"
    payload = dict(events[-1].payload)
    for name in ("baseline", "filtered", "improvement"):
        payload[name] = dict(payload.get(name) or {})
    return payload, "METRIC_RECORDED event"


def _number(value: Any) -> float:
    if value is None:
        return float("nan")
    if isinstance(value, str):
        return {"inf": float("inf"), "-inf": float("-inf")}.get(value, float("nan"))
    if isinstance(value, bool | int | float | np.integer | np.floating):
        return float(value)
    return float("nan")


def _run_metrics(report: Mapping[str, Any] | None) -> pd.DataFrame:
    if report is None:
        return pd.DataFrame(columns=["metric", "baseline", "filtered", "improvement"])
    names: list[str] = []
    for book in ("baseline", "filtered", "improvement"):
        for k, v in (report.get(book) or {}).items():
            if k not in names and not isinstance(v, Mapping | list):
                names.append(k)
    ordered = [m for m in _RUN_METRIC_ORDER if m in names] + [
        m for m in names if m not in _RUN_METRIC_ORDER
    ]
    return pd.DataFrame(
        {
            "metric": ordered,
            **{
                book: [_number((report.get(book) or {}).get(m)) for m in ordered]
                for book in ("baseline", "filtered", "improvement")
            },
        }
    )


def summed_equity(
    trades: pd.DataFrame,
    *,
    threshold: float | None,
    key: str = "confidence",
) -> pd.DataFrame:
    """Running sum of ``return_pct`` of every trade and of those at or above ``threshold``.

    Each trade counts at its ``exit_time`` (its ``entry_time`` when the exit
    is unknown): the P&L, in percent of one position, of a book staking one
    unit per trade. Used when a run's daily equity is not at hand (the store
    keeps trades, not the portfolio).

    Returns
    -------
    DataFrame
        Index ``time`` (UTC, sorted); columns ``baseline`` and, with a
        threshold, ``filtered`` (percent).
    """
    when = pd.to_datetime(trades["exit_time"], utc=True).fillna(
        pd.to_datetime(trades["entry_time"], utc=True)
    )
    order = np.argsort(when.to_numpy(), kind="stable")
    ret = trades["return_pct"].to_numpy(dtype=np.float64)[order]
    frame = pd.DataFrame({"baseline": np.cumsum(ret)}, index=pd.DatetimeIndex(when.iloc[order]))
    if threshold is not None:
        score = trades[key].to_numpy(dtype=np.float64, na_value=np.nan)[order]
        frame["filtered"] = np.cumsum(np.where(score >= threshold, ret, 0.0))
    frame.index.name = "time"
    return frame


# --------------------------------------------------------------------------- the analysis


@dataclass(frozen=True, eq=False)
class RunAnalysis:
    """Every analysis of one stored run, ready to export.

    Attributes
    ----------
    run : RunInfo
        The run (config, data fingerprint, synthetic flag ...).
    key : str
        Confidence key analysed.
    trades : DataFrame
        The trades frame analysed (with ``calibrated_probability`` computed
        walk-forward when the key needed it and the run had none).
    confidence : ConfidenceAnalysis
    thresholds : ThresholdAnalysis or None
        None when no threshold keeps ``min_trades`` trades (see ``notes``).
    calibration : WalkForwardResult or None
        Walk-forward calibration of the raw confidence with ``method``.
    calibrators : dict of str to WalkForwardResult
        Walk-forward result of every calibrator tried.
    calibrator_curves : dict of str to ReliabilityCurve
        Out-of-sample reliability of each calibrator, and ``"raw"``.
    run_report : dict or None
        Headline numbers of the run (see :func:`load_run_report`).
    run_report_source : str
    equity : DataFrame or None
        Equity per book, date index.
    equity_kind : {"growth", "summed_pct"}
        Compounded equity (given by the caller) or summed ``return_pct``
        rebuilt from the trades.
    threshold : float or None
        The run's own threshold (for the filtered book).
    notes : tuple of str
        What was computed on the fly or could not be computed, and why.
    mapping : KeyMapping or None
        How the score analysed was made (:func:`core.reports.keys.map_key`).
    ledger_count : int or None
        Trials in the signal's trial ledger since its last reset (the DSR
        counts ``max(thresholds tried, ledger_count)``).
    """

    run: RunInfo
    key: str
    trades: pd.DataFrame = field(repr=False)
    confidence: ConfidenceAnalysis
    thresholds: ThresholdAnalysis | None
    calibration: WalkForwardResult | None
    calibrators: dict[str, WalkForwardResult]
    calibrator_curves: dict[str, ReliabilityCurve]
    run_report: dict[str, Any] | None
    run_report_source: str
    equity: pd.DataFrame | None = field(repr=False)
    equity_kind: str
    threshold: float | None
    notes: tuple[str, ...] = ()
    mapping: KeyMapping | None = None
    ledger_count: int | None = None
    versions: Any = None

    @property
    def mapping_label(self) -> str:
        """The score mapping in words (the column name when unknown)."""
        return self.key if self.mapping is None else self.mapping.label

    def verdict(self) -> str | None:
        """The headline verdict: in sample, after deflation, PBO (None without thresholds)."""
        if self.thresholds is None:
            return None
        return headline_verdict(self.thresholds, ledger_count=self.ledger_count)

    def dsr(self) -> dict[str, Any] | None:
        """The DSR with N, N_eff, V and the method (:func:`core.reports.verdict.dsr_summary`)."""
        if self.thresholds is None:
            return None
        return dsr_summary(self.thresholds, ledger_count=self.ledger_count)

    def run_metrics(self) -> pd.DataFrame:
        """Baseline, filtered and improvement per metric, from the run report."""
        return _run_metrics(self.run_report)

    def calibrator_table(self) -> pd.DataFrame:
        """Out-of-sample ECE, Brier score and log loss of every calibrator (and raw).

        One row per method: ``method``, ``n`` (trades scored out of sample),
        ``ece``, ``brier``, ``log_loss``, and the same of the raw score on those
        trades (``raw_*``) and in sample (``in_sample_*``).
        """
        rows = []
        for method, res in self.calibrators.items():
            if res.out_of_sample is None:
                continue
            row: dict[str, Any] = {"method": method, "n": res.out_of_sample.n}
            for prefix, metrics in (
                ("", res.out_of_sample),
                ("raw_", res.raw),
                ("in_sample_", res.in_sample),
            ):
                for name in ("ece", "brier", "log_loss"):
                    row[f"{prefix}{name}"] = (
                        getattr(metrics, name) if metrics is not None else float("nan")
                    )
            rows.append(row)
        return pd.DataFrame(rows)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the analysis, by file-safe name."""
        out: dict[str, pd.DataFrame] = {"run_metrics": self.run_metrics()}
        for name, frame in self.confidence.tables().items():
            out[f"confidence_{name}"] = frame
        if self.calibration is not None:
            out["calibration_totals"] = calibration_totals(self.calibration).reset_index()
            out["calibration_windows"] = self.calibration.windows
        if self.calibrators:
            out["calibrators"] = self.calibrator_table()
        if self.thresholds is not None:
            for name, frame in self.thresholds.tables().items():
                out[f"threshold_{name}"] = frame
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: the run, its report, every result and every table."""
        info = self.run.to_dict()
        return json_safe(
            {
                "run": info,
                "key": self.key,
                "mapping": None if self.mapping is None else self.mapping.to_dict(),
                "ledger_count": self.ledger_count,
                "verdict": self.verdict(),
                "dsr": self.dsr(),
                "run_report_source": self.run_report_source,
                "run_report": self.run_report,
                "threshold": self.threshold,
                "equity_kind": self.equity_kind,
                "notes": list(self.notes),
                "confidence": self.confidence.to_dict(),
                "calibration": None if self.calibration is None else self.calibration.to_dict(),
                "thresholds": None if self.thresholds is None else self.thresholds.to_dict(),
                "tables": {name: _table_dict(frame) for name, frame in self.tables().items()},
            }
        )


def _run_threshold(
    report: Mapping[str, Any] | None, trades: pd.DataFrame
) -> tuple[float | None, str]:
    """The run's threshold and its key: report, else the trades' ``applied_threshold``."""
    if report is not None:
        config = report.get("config") or {}
        threshold = report.get("applied_threshold", config.get("threshold"))
        key = report.get("confidence_key", config.get("confidence_key")) or "confidence"
        if threshold is not None and np.isfinite(_number(threshold)):
            return float(_number(threshold)), str(key)
    applied = trades["applied_threshold"].to_numpy(dtype=np.float64, na_value=np.nan)
    if applied.size and np.isfinite(applied).any():
        return float(np.nanmedian(applied)), "confidence"
    return None, "confidence"


def analyze_stored_run(
    store: Store,
    run_id: str,
    *,
    key: str | None = None,
    n_bins: int = 10,
    method: str = "isotonic",
    methods: tuple[str, ...] = CALIBRATION_METHODS,
    calibration_windows: int = 12,
    min_train: int = 200,
    mode: Literal["absolute", "percentile"] = "absolute",
    objective: Literal["sharpe", "profit_factor", "win_rate", "expectancy_x_trades"] = "sharpe",
    min_trades: int = 30,
    threshold_windows: int = 6,
    bands: bool = True,
    equity: pd.DataFrame | None = None,
    seed: int = 0,
) -> RunAnalysis:
    """Run every analysis on a stored run.

    Parameters
    ----------
    store : Store
    run_id : str
    key : str, optional
        Score mapping (:data:`core.reports.keys.KEY_CHOICES`: ``raw``, a
        calibrator walk-forward, ``production``; or the aliases
        ``confidence`` / ``calibrated_probability``, the latter being the run's
        recorded probability when it has one, else isotonic walk-forward);
        default the run's own key (its report's ``confidence_key``). Another
        column of the trades is analysed as it is.
    n_bins : int, default 10
        Bins of the decile, fixed-bin and reliability tables.
    method : str, default "isotonic"
        Calibrator of :attr:`RunAnalysis.calibration` (and of the computed
        ``calibrated_probability``).
    methods : tuple of str, default every method
        Calibrators compared walk-forward.
    calibration_windows : int, default 12
        Walk-forward windows of the calibrators.
    min_train : int, default 200
        Fewest training trades for a calibrator window.
    mode, objective, min_trades, threshold_windows, bands
        Of :func:`core.analytics.report.analyze_thresholds` (``threshold_windows``
        is its ``n_windows``).
    equity : DataFrame, optional
        Daily equity per book (date index, e.g. ``BacktestResult.equity``);
        by default the summed returns are rebuilt from the trades
        (:func:`summed_equity`).
    seed : int, default 0

    Returns
    -------
    RunAnalysis

    Raises
    ------
    RunNotFoundError
        No such run.
    InsufficientDataError
        Fewer than 4 trades with a score.
    TradesFrameError, ConfigError
        Invalid trades or options.
    """
    info = store.get_run(run_id)
    trades = store.trades_frame(run_id)
    report, source = load_run_report(store, run_id)
    threshold, run_key = _run_threshold(report, trades)
    key = key or run_key
    if len(trades) == 0:
        raise InsufficientDataError(
            f"run {run_id} has no trade with an outcome; nothing to analyse"
        )
    notes: list[str] = []
    mapping: KeyMapping | None = None
    choice = str(key).split(":", 1)[0]
    if choice in KEY_CHOICES or choice in KEY_ALIASES:
        mapped = map_key(store, info, trades, key, n_windows=calibration_windows,
                         min_train=min_train)  # fmt: skip
        trades, key, mapping = mapped.trades, mapped.column, mapped.mapping
    elif key not in trades.columns:
        raise ConfigError(
            f"key {key!r} is neither a score mapping ({', '.join(KEY_CHOICES)}) nor a column "
            f"of run {run_id}; use one of the mappings"
        )
    ledger_count = TrialLedger(store).count(info.signal)
    confidence = analyze_run(trades, key=key, n_bins=n_bins, seed=seed)

    curves: dict[str, ReliabilityCurve] = {}
    results: dict[str, WalkForwardResult] = {}
    try:
        curves, results = calibrator_curves(
            trades, methods=methods, n_windows=calibration_windows, min_train=min_train,
            n_bins=n_bins,
        )  # fmt: skip
    except InsufficientDataError as exc:
        notes.append(f"calibrators not compared: {exc}")

    thresholds: ThresholdAnalysis | None = None
    try:
        thresholds = analyze_thresholds(
            trades, key=key, mode=mode, objective=objective, min_trades=min_trades,
            bands=bands, seed=seed, n_windows=threshold_windows, n_trials=ledger_count or None,
        )  # fmt: skip
        notes.extend(thresholds.notes)
    except InsufficientDataError as exc:
        notes.append(f"threshold analysis not possible: {exc}")

    kind = "growth"
    if equity is None:
        equity = summed_equity(trades, threshold=threshold, key=run_key)
        kind = "summed_pct"
    return RunAnalysis(
        run=info,
        key=key,
        trades=trades,
        confidence=confidence,
        thresholds=thresholds,
        calibration=results.get(method),
        calibrators=results,
        calibrator_curves=curves,
        run_report=report,
        run_report_source=source,
        equity=equity,
        equity_kind=kind,
        threshold=threshold,
        notes=tuple(notes),
        mapping=mapping,
        ledger_count=ledger_count,
        versions=latest_versions_view(ModelRegistry(store), info.signal, trades),
    )
