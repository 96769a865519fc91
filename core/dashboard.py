"""What the dashboard pages ask of ``core``: small pure functions, no Streamlit.

Each page of the dashboard reads its widgets, calls a function of this module
(which calls the analytics, the figures, the store and the lifecycle) and draws
what comes back. Nothing here imports Streamlit; everything returns frozen
dataclasses, DataFrames or plotly figures, so the same calls can be timed
(``bench/bench_dashboard.py``) and tested without a browser.

The slider of the Thresholds page is the hot path: :func:`book_arrays` turns a
trades frame into NumPy arrays once (the page caches them), and
:func:`filtered_book` answers any threshold with a few vectorised passes over
them (no Python loop over trades).

Units follow ``docs/architecture.md``: ``return_pct`` in percent net of costs,
win rates and coverage as fractions, per-trade Sharpe = mean / std (ddof=1), not
annualised. The equity of a book here is the running *sum* of ``return_pct`` at
each trade's exit (the P&L, in percent of one position, of a book staking one
unit per trade), as :func:`core.reports.tables.summed_equity` defines it.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core import figures
from core.analytics.calibrators import CALIBRATION_METHODS
from core.analytics.confidence import BinTable
from core.analytics.report import (
    ConfidenceAnalysis,
    ThresholdAnalysis,
    analyze_run,
    analyze_thresholds,
    calibrator_curves,
    ensure_calibrated,
)
from core.analytics.selection import OBJECTIVES
from core.analytics.stats import wilson_interval
from core.analytics.walkforward import WalkForwardResult
from core.backtest import BacktestConfig
from core.engines.orchestration import STAGES
from core.errors import (
    ConfigError,
    DriftError,
    ImportFileError,
    InsufficientDataError,
    ValidationError,
)
from core.events import EventType
from core.figures.thresholds import SAMPLE_LABELS
from core.importer import ImportResult, import_signal_log
from core.lifecycle.drift_stats import DriftBaseline, DriftThresholds, rolling_drift
from core.lifecycle.registry import DEFAULT_GATES, Gate
from core.metrics import performance_metrics
from core.reports.html_report import build_report
from core.store import Store
from core.store.db import RunInfo
from core.trades import CONFIDENCE_KEYS, confidence_keys, validate_trades

__all__ = [
    "BIN_TABLE_FORMATS",
    "BOOK_NAMES",
    "CALIBRATION_METHODS",
    "DEFAULT_GATE_TEXT",
    "KEY_LABELS",
    "METRIC_LABELS",
    "OBJECTIVES",
    "OBJECTIVE_LABELS",
    "REPORT_FILES",
    "STAGE_LABELS",
    "SWEEP_METRICS",
    "BookArrays",
    "CalibrationView",
    "CalibratorComparison",
    "DriftThresholds",
    "DriftTimeline",
    "FilteredBook",
    "ImportPreview",
    "RunOverview",
    "ThresholdView",
    "acknowledge_alert",
    "alerts_table",
    "baseline_record",
    "bin_table_display",
    "book_arrays",
    "book_stats",
    "calibration_view",
    "change_stage",
    "check_window",
    "compare_calibrators",
    "default_window",
    "describe_baseline",
    "describe_errors",
    "drift_figure",
    "drift_table",
    "drift_timeline",
    "equity_figure",
    "evaluate_version",
    "events_csv",
    "events_page",
    "filtered_book",
    "import_upload",
    "jobs_table",
    "lifecycle_available",
    "metric_value",
    "metrics_table",
    "models_table",
    "overall_progress",
    "prepare_key",
    "preview_upload",
    "register_calibrator",
    "report_bytes",
    "rerun_config",
    "run_label",
    "run_overview",
    "run_table",
    "save_upload",
    "set_baseline",
    "submit_job",
    "sweep_figure",
    "synthetic_signal_log",
    "threshold_view",
    "version_detail",
]

# --------------------------------------------------------------------------- labels

#: How the confidence keys are named on screen.
KEY_LABELS: dict[str, str] = {
    "confidence": "Raw confidence",
    "calibrated_probability": "Calibrated probability",
}

#: Display name and kind of every headline metric (the kind drives the number
#: format): ``count``, ``share`` (a fraction, shown as a percentage), ``pct``
#: (already percent or percentage points) or ``ratio``. Keys of
#: :mod:`core.metrics` and of :func:`book_stats`.
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "n_trades": ("Trades", "count"),
    "coverage": ("Coverage", "share"),
    "win_rate": ("Win rate", "share"),
    "mean_return_pct": ("Mean return / trade (%)", "pct"),
    "median_return_pct": ("Median return / trade (%)", "pct"),
    "avg_win_pct": ("Average win (%)", "pct"),
    "avg_loss_pct": ("Average loss (%)", "pct"),
    "expectancy_pct": ("Expectancy / trade (%)", "pct"),
    "sharpe_per_trade": ("Sharpe / trade", "ratio"),
    "sortino_per_trade": ("Sortino / trade", "ratio"),
    "profit_factor": ("Profit factor", "ratio"),
    "sum_return_pct": ("Summed return (%)", "pct"),
    "max_drawdown_pts": ("Max drawdown of summed return (pts)", "pct"),
    "sharpe_daily": ("Sharpe (daily, annualised)", "ratio"),
    "sortino_daily": ("Sortino (daily, annualised)", "ratio"),
    "volatility_daily": ("Volatility (annualised)", "share"),
    "max_drawdown": ("Max drawdown of equity", "share"),
    "exposure": ("Exposure", "share"),
    "total_return": ("Total return of equity", "share"),
    "cagr": ("CAGR", "share"),
    "n_days": ("Days", "count"),
}

#: Row names of a metrics table.
BOOK_NAMES: dict[str, str] = {
    "baseline": "All trades",
    "filtered": "Kept by the threshold",
    "improvement": "Difference (kept − all)",
}

#: How the backtest's stages read in the progress line.
STAGE_LABELS: dict[str, str] = {
    "data": "Loading market data",
    "signals": "Generating ensemble signals",
    "risk": "Applying the threshold and limits",
    "execution": "Filling orders with costs",
    "portfolio": "Building the equity curves",
    "analytics": "Computing metrics",
    "learning": "Recording events",
    "report": "Writing the report",
}

#: Objectives a threshold can be chosen by, as they read on screen.
OBJECTIVE_LABELS: dict[str, str] = {
    "sharpe": "Sharpe per trade",
    "profit_factor": "Profit factor",
    "win_rate": "Win rate",
    "expectancy_x_trades": "Total return (expectancy × trades)",
}

#: Metrics the sweep chart can draw, with their labels.
SWEEP_METRICS: dict[str, str] = {name: m.label for name, m in figures.SWEEP_METRICS.items()}

#: Default promotion gates, as text (one per line).
DEFAULT_GATE_TEXT = "\n".join(str(g) for g in DEFAULT_GATES)

#: The per-trade metrics of :func:`core.metrics.performance_metrics` a book reports.
_TRADE_METRICS: tuple[str, ...] = (
    "n_trades", "win_rate", "mean_return_pct", "median_return_pct", "avg_win_pct",
    "avg_loss_pct", "expectancy_pct", "sharpe_per_trade", "sortino_per_trade", "profit_factor",
)  # fmt: skip

Mode = Literal["absolute", "percentile"]


def describe_errors(exc: BaseException) -> str:
    """The first line of an error's message (a row list, if any, is shown elsewhere)."""
    return str(exc).split("\n", 1)[0]


def metric_value(value: Any) -> float:
    """A recorded metric as a float: None -> NaN, ``"inf"``/``"-inf"`` -> +/-inf."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        return {"inf": math.inf, "-inf": -math.inf}.get(value, math.nan)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# --------------------------------------------------------------------------- runs


def run_label(info: RunInfo) -> str:
    """``"backtest · sample backtest … · 2026-11-24 12:50"``: kind, name, date (UTC).

    Failed and synthetic runs say so.
    """
    created = pd.Timestamp(info.created)
    when = created.strftime("%Y-%m-%d %H:%M") if not pd.isna(created) else "?"
    parts = [info.kind, info.name or info.id, when]
    if info.synthetic:
        parts.append("synthetic")
    if info.status != "completed":
        parts.append(info.status)
    return " · ".join(parts)


def run_table(store: Store) -> pd.DataFrame:
    """The runs of ``store`` for a table, newest first.

    Columns: ``run`` (label), ``kind``, ``status``, ``source``, ``synthetic``,
    ``created`` (UTC), ``signals``, ``outcomes``, ``events``, ``seed``,
    ``error``, ``id``.
    """
    runs = store.list_runs()
    return pd.DataFrame(
        {
            "run": [run_label(r) for r in runs],
            "kind": [r.kind for r in runs],
            "status": [r.status for r in runs],
            "source": [r.source for r in runs],
            "synthetic": [r.synthetic for r in runs],
            "created": pd.to_datetime([r.created for r in runs], utc=True, format="ISO8601"),
            "signals": [r.n_signals for r in runs],
            "outcomes": [r.n_outcomes for r in runs],
            "events": [r.n_events for r in runs],
            "seed": pd.array([r.seed for r in runs], dtype="Int64"),
            "error": [r.error for r in runs],
            "id": [r.id for r in runs],
        }
    )


def overall_progress(stage: str, fraction: float) -> float:
    """A backtest stage's own progress as a share of the whole run, in [0, 1]."""
    f = min(max(float(fraction), 0.0), 1.0)
    if stage not in STAGES:
        return f
    return (STAGES.index(stage) + f) / len(STAGES)


def rerun_config(run: RunInfo, **changes: Any) -> BacktestConfig:
    """The config of a recorded backtest with ``changes`` (e.g. a new threshold).

    Raises
    ------
    ConfigError
        The run is not a backtest, or it used a custom signal engine (the
        dashboard can only re-run the built-in ensemble).
    """
    if run.kind != "backtest":
        raise ConfigError(
            f"run {run.id} is an imported signal log, not a backtest; only backtests re-run"
        )
    config = dict(run.config)
    engine = config.pop("signal_engine", None)
    if engine not in (None, "core.signals.ensemble.EnsembleSignalEngine"):
        raise ConfigError(
            f"run {run.id} used the signal engine {engine}; re-run it from Python with "
            "run_backtest(config, signal_engine=...)"
        )
    known = set(BacktestConfig.__dataclass_fields__)
    config = {k: v for k, v in config.items() if k in known}
    changed = {k: v for k, v in changes.items() if k != "name" and config.get(k) != v}
    config.update(changes)
    if "name" not in changes:
        what = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in changed.items())  # fmt: skip
        config["name"] = f"rerun of {run.name or run.id}" + (f" with {what}" if what else "")
    return BacktestConfig.from_dict(config)


def prepare_key(trades: pd.DataFrame, key: str) -> tuple[pd.DataFrame, str, str | None]:
    """Trades ready for the confidence key ``key``, the key, and a note for the page.

    A run without calibrated probabilities gets them out of sample
    (:func:`core.analytics.report.ensure_calibrated`: isotonic, walk-forward;
    the first windows, without enough history, stay empty). When even that is
    impossible (too few trades) the raw confidence is used, and the note says so.
    """
    if key not in CONFIDENCE_KEYS:
        raise ValidationError(
            f"confidence key must be one of {', '.join(CONFIDENCE_KEYS)}, got {key!r}"
        )
    if key == "confidence" or key in confidence_keys(trades):
        return trades, key, None
    try:
        calibrated, result = ensure_calibrated(trades, method="isotonic")
    except InsufficientDataError as exc:
        return (
            trades,
            "confidence",
            (
                f"This run has no calibrated probabilities and too few trades to fit them "
                f"({describe_errors(exc)}); the raw confidence is shown."
            ),
        )
    skipped = 0 if result is None else int((result.windows["status"] != "ok").sum())
    return (
        calibrated,
        key,
        (
            "This run recorded no calibrated probabilities: they were computed out of sample "
            f"(isotonic, walk-forward over {0 if result is None else result.n_windows} windows; "
            f"the first {skipped} window(s), without enough history, are left out)."
        ),
    )


# --------------------------------------------------------------------------- book metrics


def book_stats(returns: np.ndarray, *, n_total: int | None = None) -> dict[str, float]:
    """Headline metrics of a book of trades, from their returns alone.

    Parameters
    ----------
    returns : ndarray, shape (n,)
        ``return_pct`` of the trades in the order they were realised, percent
        net of costs.
    n_total : int, optional
        Trades available before filtering (for ``coverage``); ``n`` by default.

    Returns
    -------
    dict
        The per-trade metrics of :func:`core.metrics.performance_metrics`
        (``n_trades``, ``win_rate``, ``mean_return_pct``, ``sharpe_per_trade``,
        ``profit_factor`` ...), plus ``coverage`` (``n / n_total``),
        ``win_low``/``win_high`` (Wilson 95 % interval of the win rate),
        ``sum_return_pct`` (sum of the returns) and ``max_drawdown_pts`` (largest
        fall of that running sum from its peak, percentage points, >= 0).
    """
    r = np.asarray(returns, dtype=np.float64)
    n = int(r.size)
    total = n if n_total is None else int(n_total)
    numeric = performance_metrics(r).numeric()
    out = {k: numeric[k] for k in _TRADE_METRICS}
    wins = int(np.count_nonzero(r > 0))
    low, high = wilson_interval(wins, n)
    out["coverage"] = n / total if total else math.nan
    out["win_low"] = float(low) if n else math.nan
    out["win_high"] = float(high) if n else math.nan
    if n:
        equity = np.cumsum(r)
        peak = np.maximum(np.maximum.accumulate(equity), 0.0)
        drawdown = float(np.max(peak - equity))
    else:
        drawdown = 0.0
    out["sum_return_pct"] = float(r.sum())
    out["max_drawdown_pts"] = max(drawdown, 0.0)
    return out


def metrics_table(metrics: pd.DataFrame, *, drop_empty: bool = True) -> pd.DataFrame:
    """A metrics frame (index metric, columns books) turned for display.

    One row per book (:data:`BOOK_NAMES`), one column per metric. Shares (kind
    ``"share"`` in :data:`METRIC_LABELS`) are multiplied by 100 so each column
    holds the number it is read as; the Wilson bounds are left out, and with
    ``drop_empty`` the metrics that are NaN in every book (an imported log has
    no daily equity).
    """
    frame = metrics.drop(index=[i for i in ("win_low", "win_high") if i in metrics.index])
    values = frame.map(metric_value).astype(np.float64)
    if drop_empty:
        values = values.loc[~values.isna().all(axis=1)]
    out = values.T.copy()
    for col in out.columns:
        if METRIC_LABELS.get(str(col), ("", "ratio"))[1] == "share":
            out[col] = out[col] * 100.0
    out.index = [BOOK_NAMES.get(str(i), str(i)) for i in out.index]
    return out


# --------------------------------------------------------------------------- overview


@dataclass(frozen=True)
class RunOverview:
    """Headline figures of one run.

    Attributes
    ----------
    run : RunInfo
    metrics : DataFrame
        Index: metric names (see :data:`METRIC_LABELS`); columns ``baseline``
        (every trade), ``filtered`` (the run's threshold) and ``improvement``.
    threshold : float or None
        The threshold the run applied (None: none recorded).
    key : str
        Confidence key the threshold applies to.
    recorded : bool
        True when the figures come from the run's ``METRIC_RECORDED`` event
        (a backtest), False when they were computed from its trades (imports).
    n_trades : int
    start, end : Timestamp or None
        First and last entry time.
    symbols : tuple of str
    """

    run: RunInfo
    metrics: pd.DataFrame
    threshold: float | None
    key: str
    recorded: bool
    n_trades: int
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    symbols: tuple[str, ...]


def run_overview(store: Store, run_id: str, *, trades: pd.DataFrame | None = None) -> RunOverview:
    """Baseline against filtered metrics of a run, as recorded or computed.

    A backtest records its figures in a ``METRIC_RECORDED`` event; an imported
    log has none, so its baseline is every trade and its filtered book the
    trades at or above the log's ``applied_threshold`` (every trade without one).

    Raises
    ------
    RunNotFoundError
        No such run.
    """
    info = store.get_run(run_id)
    if trades is None:
        trades = store.trades_frame(run_id)
    n = len(trades)
    start = trades["entry_time"].iloc[0] if n else None
    end = trades["entry_time"].iloc[-1] if n else None
    symbols = tuple(sorted(trades["symbol"].dropna().unique().tolist())) if n else ()
    common = {"run": info, "n_trades": n, "start": start, "end": end, "symbols": symbols}
    recorded = store.query_events(event_type=EventType.METRIC_RECORDED, run_id=run_id)
    if recorded:
        payload = recorded[-1].payload
        metrics = pd.DataFrame(
            {
                name: {k: metric_value(v) for k, v in dict(payload.get(name) or {}).items()}
                for name in ("baseline", "filtered", "improvement")
            }
        )
        threshold = payload.get("applied_threshold")
        return RunOverview(
            metrics=_order_metrics(metrics),
            threshold=None if threshold is None else float(threshold),
            key=str(payload.get("confidence_key") or "confidence"),
            recorded=True,
            **common,
        )
    applied = trades["applied_threshold"].to_numpy(dtype=np.float64, na_value=np.nan)
    threshold = float(np.nanmedian(applied)) if np.isfinite(applied).any() else None
    returns = trades["return_pct"].to_numpy(dtype=np.float64)
    baseline = book_stats(returns)
    if threshold is not None:
        kept = trades["confidence"].to_numpy(dtype=np.float64) >= threshold
        filtered = book_stats(returns[kept], n_total=n)
    else:
        filtered = dict(baseline)
    metrics = pd.DataFrame({"baseline": baseline, "filtered": filtered})
    metrics["improvement"] = metrics["filtered"] - metrics["baseline"]
    return RunOverview(
        metrics=_order_metrics(metrics.drop(index=["win_low", "win_high"])),
        threshold=threshold,
        key="confidence",
        recorded=False,
        **common,
    )


def _order_metrics(metrics: pd.DataFrame) -> pd.DataFrame:
    known = [m for m in METRIC_LABELS if m in metrics.index]
    rest = [m for m in metrics.index if m not in METRIC_LABELS]
    return metrics.loc[known + rest]


# --------------------------------------------------------------------------- the slider


@dataclass(frozen=True, eq=False)
class BookArrays:
    """A trades frame reduced to what a threshold needs.

    Built once per (run, key) by :func:`book_arrays`; every array has shape
    ``(n,)`` and row ``i`` is the ``i``-th trade to be realised (by exit time,
    entry time when the exit is unknown).

    Attributes
    ----------
    key : str
    time_ns : ndarray of int64
        When the trade's P&L is realised, nanoseconds since the epoch, UTC.
    score : ndarray of float64
        The confidence key, in [0, 1].
    returns : ndarray of float64
        ``return_pct``.
    rank : ndarray of int64
        Position in "descending score, earlier entry first" order (0 = best):
        percentile mode keeps ``rank < k``, the rule of the sweep.
    baseline : dict
        :func:`book_stats` of every trade.
    baseline_equity : ndarray of float64
        Running sum of ``returns``.
    n_dropped : int
        Trades without a ``key`` value (left out).
    """

    key: str
    time_ns: np.ndarray
    score: np.ndarray
    returns: np.ndarray
    rank: np.ndarray
    baseline: dict[str, float]
    baseline_equity: np.ndarray
    n_dropped: int

    @property
    def n(self) -> int:
        return int(self.score.size)


def book_arrays(trades: pd.DataFrame, *, key: str = "confidence") -> BookArrays:
    """Prepare a trades frame for fast threshold changes (see :func:`filtered_book`).

    Parameters
    ----------
    trades : DataFrame
        A trades frame (:mod:`core.trades`), sorted by entry time as the store
        returns it; rows with a NaN ``key`` are left out.
    key : str, default "confidence"

    Raises
    ------
    TradesFrameError, InsufficientDataError
        From :func:`core.trades.validate_trades`.
    """
    usable = validate_trades(trades, key=key, min_rows=1)
    score = usable[key].to_numpy(dtype=np.float64)
    returns = usable["return_pct"].to_numpy(dtype=np.float64)
    entry = usable["entry_time"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    if "exit_time" in usable:
        exit_ns = usable["exit_time"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        when = np.where(exit_ns == np.iinfo(np.int64).min, entry, exit_ns)
    else:
        when = entry
    n = score.size
    order_entry = np.argsort(entry, kind="stable")
    descending = np.lexsort((np.argsort(order_entry, kind="stable"), -score))
    rank = np.empty(n, dtype=np.int64)
    rank[descending] = np.arange(n)
    order = np.argsort(when, kind="stable")
    time_ns, score, returns, rank = when[order], score[order], returns[order], rank[order]
    baseline_equity = np.cumsum(returns)
    for a in (time_ns, score, returns, rank, baseline_equity):
        a.setflags(write=False)
    return BookArrays(
        key=key,
        time_ns=time_ns,
        score=score,
        returns=returns,
        rank=rank,
        baseline=book_stats(returns),
        baseline_equity=baseline_equity,
        n_dropped=int(len(trades) - n),
    )


def _keep_mask(book: BookArrays, threshold: float, mode: str) -> np.ndarray:
    """Which trades of ``book`` a threshold keeps (the rule of the sweep)."""
    if mode == "absolute":
        if not 0.0 <= threshold <= 1.0:
            raise ValidationError(
                f"threshold must lie in [0, 1] in absolute mode, got {threshold!r}"
            )
        return book.score >= threshold
    if mode == "percentile":
        if not 0.0 < threshold <= 100.0:
            raise ValidationError(
                f"threshold must be a percentage in (0, 100] in percentile mode, got {threshold!r}"
            )
        k = int(min(max(math.ceil(round(threshold * book.n / 100.0, 9)), 0), book.n))
        return book.rank < k
    raise ValidationError(f"mode must be 'absolute' or 'percentile', got {mode!r}")


@dataclass(frozen=True)
class FilteredBook:
    """The book a threshold keeps, against every trade.

    Attributes
    ----------
    threshold : float
        Score (absolute mode) or percentage of trades kept (percentile mode).
    mode : {"absolute", "percentile"}
    key : str
    score_cutoff : float
        Lowest score kept (NaN when nothing is kept).
    metrics : DataFrame
        Index metric names (:func:`book_stats`), columns ``baseline``,
        ``filtered``, ``improvement``.
    equity : DataFrame
        Index ``time`` (UTC, at most ``max_points`` rows, evenly thinned);
        columns ``baseline`` and ``filtered``: running sums of ``return_pct``
        (percent of one position) of every trade and of the trades kept.
    """

    threshold: float
    mode: str
    key: str
    score_cutoff: float
    metrics: pd.DataFrame
    equity: pd.DataFrame

    def value(self, metric: str, column: str = "filtered") -> float:
        """One figure of the table, e.g. ``book.value("sharpe_per_trade")``."""
        return float(self.metrics.loc[metric, column])


def filtered_book(
    book: BookArrays | pd.DataFrame,
    *,
    threshold: float,
    key: str = "confidence",
    mode: Mode = "absolute",
    max_points: int = 2000,
) -> FilteredBook:
    """Metrics and equity of the trades a threshold keeps (the slider's answer).

    Parameters
    ----------
    book : BookArrays or DataFrame
        Prepared arrays (:func:`book_arrays`, fast) or a trades frame (prepared
        here with ``key``).
    threshold : float
        Absolute mode: keep ``score >= threshold`` (in [0, 1]). Percentile mode:
        keep the top ``ceil(threshold * n / 100)`` trades by score, ties broken
        by entry time (the rule of :func:`core.analytics.sweep.threshold_sweep`).
    key : str, default "confidence"
        Used only when ``book`` is a DataFrame.
    mode : {"absolute", "percentile"}, default "absolute"
    max_points : int, default 2000
        Rows of the equity frame.

    Returns
    -------
    FilteredBook

    Notes
    -----
    A handful of O(n) vectorised passes (a comparison, a compress, a
    ``where`` and a cumulative sum) and one :func:`core.metrics.performance_metrics`
    of the kept returns; about 50 ms per million trades.
    """
    if isinstance(book, pd.DataFrame):
        book = book_arrays(book, key=key)
    t = float(threshold)
    keep = _keep_mask(book, t, mode)
    kept = book.returns[keep]
    filtered = book_stats(kept, n_total=book.n)
    cutoff = float(book.score[keep].min()) if kept.size else math.nan
    metrics = pd.DataFrame({"baseline": book.baseline, "filtered": filtered})
    metrics["improvement"] = metrics["filtered"] - metrics["baseline"]
    idx = _thin(book.n, max_points)
    filtered_equity = np.cumsum(np.where(keep, book.returns, 0.0))
    equity = pd.DataFrame(
        {"baseline": book.baseline_equity[idx], "filtered": filtered_equity[idx]},
        index=pd.DatetimeIndex(book.time_ns[idx].view("datetime64[ns]"), name="time").tz_localize(
            "UTC"
        ),
    )
    return FilteredBook(
        threshold=t, mode=mode, key=book.key, score_cutoff=cutoff, metrics=metrics, equity=equity
    )


def _thin(n: int, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spaced rows of ``n`` (first and last kept)."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def equity_figure(book: FilteredBook, *, title: str | None = None) -> go.Figure:
    """Summed-return equity of every trade and of the kept trades (core.figures)."""
    if book.mode == "absolute":
        label = f"Kept: {KEY_LABELS.get(book.key, book.key).lower()} ≥ {book.threshold:.2f}"
    else:
        label = f"Kept: top {book.threshold:g} % by {KEY_LABELS.get(book.key, book.key).lower()}"
    return figures.equity_curves(
        book.equity,
        kind="summed_pct",
        labels={"baseline": "All trades", "filtered": label},
        title=title or "Equity: all trades against the trades kept",
    )


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True, eq=False)
class CalibrationView:
    """The Calibration page's top half: the analysis and its figures."""

    analysis: ConfidenceAnalysis
    reliability: go.Figure
    deciles: go.Figure
    over_time: go.Figure


def calibration_view(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
) -> CalibrationView:
    """Is the score informative, and is it calibrated?

    :func:`core.analytics.report.analyze_run` (summary, correlations with
    intervals, decile and fixed-bin tables, reliability curve, ECE with its
    bootstrap interval, MCE, Brier, log loss) and the figures of
    :mod:`core.figures` drawn from it.
    """
    analysis = analyze_run(trades, key=key, n_bins=n_bins, reliability_strategy=strategy)
    usable = validate_trades(trades, key=key)
    return CalibrationView(
        analysis=analysis,
        reliability=figures.reliability_diagram(
            analysis.reliability, histogram_of=usable[key].to_numpy(dtype=np.float64), key=key
        ),
        deciles=figures.decile_bars(analysis.deciles),
        over_time=figures.confidence_over_time(usable, key=key),
    )


#: Display title and number format of the bin-table columns shown (shares in %).
BIN_TABLE_FORMATS: dict[str, tuple[str, str]] = {
    "bin_low": ("From", "%.3f"),
    "bin_high": ("To", "%.3f"),
    "count": ("Trades", "%d"),
    "share": ("Share (%)", "%.1f"),
    "conf_mean": ("Mean score", "%.3f"),
    "win_rate": ("Win rate (%)", "%.1f"),
    "win_low": ("Win low (%)", "%.1f"),
    "win_high": ("Win high (%)", "%.1f"),
    "mean_return": ("Mean return (%)", "%.3f"),
    "mean_return_low": ("Mean low (%)", "%.3f"),
    "mean_return_high": ("Mean high (%)", "%.3f"),
    "median_return": ("Median return (%)", "%.3f"),
    "profit_factor": ("Profit factor", "%.2f"),
    "sharpe": ("Sharpe / trade", "%.3f"),
}
_BIN_SHARES = ("share", "win_rate", "win_low", "win_high")


def bin_table_display(table: BinTable) -> pd.DataFrame:
    """The columns of a bin table worth reading, shares as percentages."""
    frame = table.table[[c for c in BIN_TABLE_FORMATS if c in table.table]].copy()
    for col in _BIN_SHARES:
        if col in frame:
            frame[col] = frame[col] * 100.0
    return frame


@dataclass(frozen=True, eq=False)
class CalibratorComparison:
    """Calibrators fitted walk-forward and scored out of sample, side by side.

    Attributes
    ----------
    results : dict of str to WalkForwardResult
    table : DataFrame
        One row per (method, sample): ``method``, ``sample`` (``raw``,
        ``in_sample``, ``out_of_sample``), ``n``, ``ece``, ``mce``, ``brier``,
        ``log_loss``.
    figure : Figure
        Out-of-sample reliability of each method against the raw score.
    best : str or None
        Method with the lowest out-of-sample Brier score.
    """

    results: dict[str, WalkForwardResult]
    table: pd.DataFrame
    figure: go.Figure
    best: str | None


def compare_calibrators(
    trades: pd.DataFrame,
    *,
    methods: Sequence[str] = ("platt", "isotonic"),
    n_windows: int = 8,
    min_train: int = 200,
    n_bins: int = 10,
) -> CalibratorComparison:
    """Fit each calibrator walk-forward on the raw confidence and compare them.

    Calls :func:`core.analytics.report.calibrator_curves` and draws
    :func:`core.figures.calibrator_comparison`. ``in_sample`` rows score a
    calibrator fitted on every trade on those same trades (optimistic);
    ``out_of_sample`` rows the walk-forward predictions.

    Raises
    ------
    ValidationError
        No method chosen.
    InsufficientDataError
        No method could be fitted (too little history for ``min_train``).
    """
    if not methods:
        raise ValidationError("choose at least one calibration method to compare")
    curves, results = calibrator_curves(
        trades, methods=tuple(methods), n_windows=n_windows, min_train=min_train, n_bins=n_bins
    )
    rows = []
    for method, res in results.items():
        for sample, m in (
            ("raw", res.raw),
            ("in_sample", res.in_sample),
            ("out_of_sample", res.out_of_sample),
        ):
            if m is not None:
                rows.append({"method": method, "sample": sample, "n": m.n, "ece": m.ece,
                             "mce": m.mce, "brier": m.brier, "log_loss": m.log_loss})  # fmt: skip
    table = pd.DataFrame(rows, columns=["method", "sample", "n", "ece", "mce", "brier", "log_loss"])
    oos = table[table["sample"] == "out_of_sample"]
    best = str(oos.loc[oos["brier"].idxmin(), "method"]) if len(oos) else None
    return CalibratorComparison(
        results=results,
        table=table,
        figure=figures.calibrator_comparison(
            curves, title="Calibrators compared out of sample (walk-forward)"
        ),
        best=best,
    )


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True, eq=False)
class ThresholdView:
    """The Thresholds page's analysis (:class:`~core.analytics.report.ThresholdAnalysis`)."""

    analysis: ThresholdAnalysis

    def comparison(self) -> pd.DataFrame:
        """In-sample against out-of-sample figures: one row per sample."""
        frame = self.analysis.sample_comparison().T
        frame.index = [SAMPLE_LABELS.get(i, i) for i in frame.index]
        return frame


def threshold_view(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    mode: Mode = "absolute",
    objective: str = "sharpe",
    min_trades: int = 30,
    cost_bps: float = 0.0,
) -> ThresholdView:
    """Sweep, in-sample choice, walk-forward judgement, PSR, DSR and PBO.

    :func:`core.analytics.report.analyze_thresholds` with bootstrap bands
    (50 replicates above 200,000 trades, 200 below).
    """
    n_boot = 200 if len(trades) <= 200_000 else 50
    return ThresholdView(
        analyze_thresholds(
            trades,
            key=key,
            mode=mode,
            objective=objective,
            min_trades=min_trades,  # type: ignore[arg-type]
            cost_bps=cost_bps,
            n_boot=n_boot,
        )
    )


def sweep_figure(
    view: ThresholdView, *, metric: str = "sharpe", current: float | None = None
) -> go.Figure:
    """:func:`core.figures.sweep_chart` with the slider's threshold marked."""
    a = view.analysis
    fig = figures.sweep_chart(
        a.sweep,
        metric=metric,
        choice=a.choice,
        oos=a.walk_forward,
        title=f"Threshold sweep: {SWEEP_METRICS.get(metric, metric)}",
    )
    if current is not None and math.isfinite(current):
        fig.add_vline(
            x=current,
            line={"color": "#e8590c", "dash": "dot", "width": 2},
            annotation_text=f"slider {current:g}",
            annotation_position="top left",
        )
    return fig


# --------------------------------------------------------------------------- drift


def lifecycle_available(engine: Any) -> bool:
    """Whether the learning engine offers the model lifecycle."""
    return hasattr(engine, "lifecycle")


def set_baseline(
    engine: Any,
    *,
    model_name: str,
    run_id: str,
    trades: pd.DataFrame,
    share: float,
    key: str = "confidence",
    thresholds: DriftThresholds | None = None,
) -> Any:
    """Store the drift baseline of ``model_name``: the first ``share`` of a run's trades.

    Returns the stored :class:`~core.store.lifecycle.BaselineRecord`.
    """
    if not 0.0 < share <= 1.0:
        raise ValidationError(f"baseline share must lie in (0, 1], got {share!r}")
    usable = validate_trades(trades, key=key)
    cut = max(round(len(usable) * share), 1)
    return engine.set_drift_baseline(
        model_name.strip() or "signal", run_id, key=key, trades=usable.iloc[:cut],
        thresholds=thresholds,
    )  # fmt: skip


def baseline_record(engine: Any, model_name: str) -> Any | None:
    """The active baseline record of ``model_name``, or None when it has none."""
    try:
        return engine.lifecycle.drift.baseline_record(model_name)
    except DriftError:
        return None


def describe_baseline(record: Any) -> str:
    """One line about a stored baseline, for a caption."""
    when = ""
    if record.window_start is not None and record.window_end is not None:
        when = f", {record.window_start:%Y-%m-%d} → {record.window_end:%Y-%m-%d}"
    return (
        f"Baseline of model **{record.model_name}** (#{record.id}): {record.n:,} trades of run "
        f"`{record.run_id}`{when}, on {KEY_LABELS.get(record.key, record.key).lower()}; set "
        f"{record.created:%Y-%m-%d %H:%M} UTC."
    )


def default_window(n_trades: int) -> int:
    """Trades per drift window: an eighth of the run, between 100 and 2,000, a multiple of 10.

    Fewer than about 100 trades make the PSI of 10 bins noise.
    """
    return int(min(max(round(n_trades / 8, -1), 100), 2000))


@dataclass(frozen=True, eq=False)
class DriftTimeline:
    """Drift statistics of a run, window by window, against one baseline.

    ``frame`` is :func:`~core.lifecycle.drift_stats.rolling_drift`'s output;
    ``baseline_end`` the last entry time of the baseline when it comes from
    the same run (drawn as a line), else None.
    """

    baseline: DriftBaseline
    frame: pd.DataFrame
    thresholds: DriftThresholds
    baseline_end: pd.Timestamp | None = None


def drift_timeline(
    trades: pd.DataFrame,
    record: Any,
    *,
    window: int | str = 500,
    thresholds: DriftThresholds | None = None,
    run_id: str | None = None,
    min_trades: int = 30,
) -> DriftTimeline:
    """The run's windows against a stored baseline (:func:`rolling_drift`)."""
    baseline = DriftBaseline.from_dict(record.baseline)
    t = thresholds if thresholds is not None else DriftThresholds.from_dict(record.thresholds)
    if isinstance(window, int | np.integer) and len(trades) < window:
        raise InsufficientDataError(
            f"the run has {len(trades):,} trades, fewer than one window of {int(window):,}; "
            "use a smaller window"
        )
    frame = rolling_drift(
        trades, baseline, window=window, key=baseline.key, thresholds=t, min_trades=min_trades
    )
    same = run_id is not None and run_id == record.run_id
    return DriftTimeline(
        baseline=baseline, frame=frame, thresholds=t, baseline_end=baseline.end if same else None
    )


def drift_table(timeline: DriftTimeline) -> pd.DataFrame:
    """The per-window statistics worth a table (win rate in %)."""
    f = timeline.frame
    cols = ["window_start", "window_end", "n", "psi", "ks_p", "win_rate", "brier", "ece",
            "mean_return", "sharpe", "severity"]  # fmt: skip
    out = f[[c for c in cols if c in f]].copy()
    if "win_rate" in out:
        out["win_rate"] = out["win_rate"] * 100.0
    return out


def check_window(
    engine: Any,
    *,
    model_name: str,
    run_id: str,
    start: Any,
    end: Any,
    thresholds: DriftThresholds | None = None,
) -> tuple[Any, pd.DataFrame]:
    """Check a run's window ``[start, end)`` against the model's baseline; store alerts.

    Returns the :class:`~core.lifecycle.drift.DriftCheck` and its findings as a
    table (metric, baseline, current, statistic, p-value, severity, message).
    """
    check = engine.check_drift(
        model_name, run_id=run_id, window=(start, end), thresholds=thresholds
    )
    findings = check.report.to_frame()
    keep = ["metric", "baseline_value", "current_value", "statistic", "p_value", "severity",
            "message"]  # fmt: skip
    return check, findings[[c for c in keep if c in findings]]


_ALERT_COLUMNS = ("id", "created", "model_name", "metric", "severity", "message", "run_id",
                  "window_start", "window_end", "acknowledged")  # fmt: skip


def alerts_table(engine: Any, *, limit: int | None = None) -> pd.DataFrame | None:
    """Stored drift alerts, newest first (None when the lifecycle is not available)."""
    if not lifecycle_available(engine):
        return None
    frame = engine.lifecycle.list_alerts(limit=limit)
    return frame[[c for c in _ALERT_COLUMNS if c in frame]]


def acknowledge_alert(engine: Any, alert_id: Any) -> Any:
    """Mark a stored alert acknowledged."""
    return engine.lifecycle.acknowledge_alert(int(alert_id))


_DRIFT_PANELS: tuple[tuple[str, str], ...] = (
    ("psi", "PSI of the score (higher: more shift)"),
    ("ks_p", "KS test p-value (lower: more shift)"),
    ("win_rate", "Win rate (%)"),
    ("brier", "Brier score"),
    ("ece", "ECE (probability)"),
)


def drift_figure(timeline: DriftTimeline) -> go.Figure:
    """PSI, KS p-value, win rate, Brier and ECE per window, with warning/critical lines.

    TEMPORARY: here until :mod:`core.figures` has a drift chart.
    """
    f = timeline.frame
    t = timeline.thresholds
    b = timeline.baseline
    fig = make_subplots(
        rows=len(_DRIFT_PANELS), cols=1, shared_xaxes=True, vertical_spacing=0.05,
        subplot_titles=[p[1] for p in _DRIFT_PANELS],
    )  # fmt: skip
    levels: dict[str, tuple[float, float]] = {
        "psi": (t.psi_warning, t.psi_critical),
        "ks_p": (t.ks_p_warning, t.ks_p_critical),
        "brier": (b.brier + t.brier_warning, b.brier + t.brier_critical),
        "ece": (b.ece + t.ece_warning, b.ece + t.ece_critical),
    }
    base_values = {"win_rate": b.win_rate * 100.0, "brier": b.brier, "ece": b.ece}
    colours = {"ok": "#1f6feb", "warning": "#bf8700", "critical": "#cf222e"}
    severity_of = {"psi": "psi_severity", "ks_p": "ks_severity", "win_rate": "win_rate_severity",
                   "brier": "brier_severity", "ece": "ece_severity"}  # fmt: skip
    for i, (col, title) in enumerate(_DRIFT_PANELS, start=1):
        sev = f[severity_of[col]] if severity_of[col] in f else pd.Series("ok", index=f.index)
        y = f[col] * (100.0 if col == "win_rate" else 1.0)
        fig.add_trace(
            go.Scatter(
                x=f["window_end"], y=y, mode="lines+markers", name=title, showlegend=False,
                line={"color": "#1f6feb"}, marker={"color": [colours.get(s, "#1f6feb") for s in sev],
                                                   "size": 7},
                customdata=np.column_stack([f["n"], sev]),
                hovertemplate=f"{title}: %{{y:.4g}}<br>%{{customdata[0]:,}} trades · "
                "%{customdata[1]}<extra></extra>",
            ),
            row=i, col=1,
        )  # fmt: skip
        if col in levels:
            warn, crit = levels[col]
            fig.add_hline(y=warn, line={"color": "#bf8700", "dash": "dash", "width": 1},
                          row=i, col=1)  # fmt: skip
            fig.add_hline(y=crit, line={"color": "#cf222e", "dash": "dash", "width": 1},
                          row=i, col=1)  # fmt: skip
        if col in base_values and math.isfinite(base_values[col]):
            fig.add_hline(y=base_values[col], line={"color": "#8c959f", "dash": "dot", "width": 1},
                          row=i, col=1)  # fmt: skip
    if timeline.baseline_end is not None:
        for i in range(1, len(_DRIFT_PANELS) + 1):
            fig.add_vline(x=timeline.baseline_end, line={"color": "#2da44e", "dash": "dot"},
                          row=i, col=1)  # fmt: skip
    fig.update_xaxes(title_text="Window end (entry time, UTC)", row=len(_DRIFT_PANELS), col=1)
    fig.update_layout(
        title={
            "text": f"Drift against the baseline — {KEY_LABELS.get(b.key, b.key)} "
            "(dashed: warning / critical; dotted: baseline)",
            "x": 0.01,
            "xanchor": "left",
        },
        template="plotly_white",
        height=860,
        margin={"l": 70, "r": 30, "t": 80, "b": 60},
        hovermode="closest",
    )
    return fig


# --------------------------------------------------------------------------- models


def models_table(engine: Any) -> pd.DataFrame:
    """Every registered version: name, version, stage, method, key, training window, gates."""
    return engine.lifecycle.list_versions()


@dataclass(frozen=True)
class VersionDetail:
    """One model version: its record, metrics, evaluations (gates) and stage history."""

    version: Any
    metrics: pd.DataFrame
    evaluations: pd.DataFrame
    gates: pd.DataFrame
    history: pd.DataFrame


def version_detail(engine: Any, name: str, version: int) -> VersionDetail:
    """What the Models page shows about one version."""
    lc = engine.lifecycle
    v = lc.get_model(name, version)
    metrics = pd.DataFrame(
        {"metric": list(v.metrics), "value": [_show(x) for x in v.metrics.values()]}
    )
    evals = lc.evaluations(name, version)
    evaluations = pd.DataFrame(
        [
            {"id": e.id, "at": e.at, "run_id": e.run_id, "passed": e.passed,
             "n_trades": e.n_trades, "production_version": e.production_version}
            for e in evals
        ],
        columns=["id", "at", "run_id", "passed", "n_trades", "production_version"],
    )  # fmt: skip
    gates = pd.DataFrame(
        [
            {"gate": str(g.gate), "observed": g.observed, "passed": g.passed}
            for g in (evals[-1].gates if evals else ())
        ],
        columns=["gate", "observed", "passed"],
    )
    history = lc.registry.history_frame(name, version)
    return VersionDetail(version=v, metrics=metrics, evaluations=evaluations, gates=gates,
                         history=history)  # fmt: skip


def _show(value: Any) -> str:
    """A stored metric as text: numbers with 4 significant digits."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    return str(value)


def evaluate_version(engine: Any, name: str, version: int, *, run_id: str, gates: str) -> Any:
    """Evaluate a version out of sample on a run with gates given as text, one per line."""
    parsed = [Gate.parse(line) for line in gates.splitlines() if line.strip()]
    return engine.evaluate_model(name, version, run_id, gates=parsed or None)


def change_stage(
    engine: Any, name: str, version: int, *, to_stage: str, reason: str | None, force: bool
) -> Any:
    """Promote, demote or archive a version (with a reason, recorded)."""
    return engine.promote_model(
        name, version, to_stage=to_stage, reason=(reason or "").strip() or None, force=force
    )


def jobs_table(engine: Any) -> pd.DataFrame:
    """Training jobs, newest first."""
    return engine.lifecycle.list_jobs()


def submit_job(
    engine: Any,
    *,
    model_name: str,
    method: str,
    run_id: str,
    key: str = "confidence",
    mode: str = "walk_forward",
    n_windows: int = 5,
) -> Any:
    """Queue a calibrator training job on a run (it runs in the background)."""
    return engine.submit_training_job(
        model_name.strip(), "calibrator",
        {"method": method, "run_id": run_id, "key": key, "mode": mode, "n_windows": int(n_windows)},
    )  # fmt: skip


def register_calibrator(
    engine: Any,
    comparison: CalibratorComparison,
    *,
    method: str,
    name: str,
    run_id: str,
    note: str | None = None,
) -> Any:
    """Register the walk-forward calibrator ``method`` of a comparison as a new version.

    The version registered is the calibrator of the *last* walk-forward window,
    fitted only on trades before that window, with that training window
    recorded, so an evaluation on the same run scores it on trades it has not
    seen. Its walk-forward out-of-sample figures are stored as its metrics.
    """
    if method not in comparison.results:
        raise ValidationError(f"no walk-forward result for {method!r}; fit it first")
    res = comparison.results[method]
    if res.last_calibrator is None:
        raise InsufficientDataError(
            f"the {method} calibrator had no window with enough history to fit"
        )
    ok = res.windows[res.windows["status"] == "ok"]
    last = ok.iloc[-1]
    oos = res.out_of_sample
    metrics = {"n_oos": res.n_evaluated}
    if oos is not None:
        metrics.update(oos_brier=oos.brier, oos_ece=oos.ece, oos_log_loss=oos.log_loss)
    return engine.register_model(
        name.strip(), model_type="calibrator", calibrator=res.last_calibrator,
        key=res.key, training_run_id=run_id, window=(last["train_start"], last["train_end"]),
        metrics=metrics, note=note or f"walk-forward {method}, registered from the dashboard",
    )  # fmt: skip


# --------------------------------------------------------------------------- events


def events_page(
    store: Store,
    *,
    run_id: str | None = None,
    event_type: str | None = None,
    symbol: str | None = None,
    since: Any = None,
    until: Any = None,
    page: int = 1,
    page_size: int = 100,
) -> tuple[pd.DataFrame, int]:
    """One page of raw events matching the filters, and how many match in all.

    ``page`` is 1-based (clamped to the pages there are); columns empty on the
    page are dropped.
    """
    if page_size < 1:
        raise ValidationError(f"page size must be >= 1, got {page_size!r}")
    filters = {"run_id": run_id, "event_type": event_type, "symbol": symbol or None,
               "since": since, "until": until}  # fmt: skip
    total = store.count_events(**filters)
    n_pages = max(math.ceil(total / page_size), 1)
    page = min(max(int(page), 1), n_pages)
    frame = store.events_frame(**filters, limit=page_size, offset=(page - 1) * page_size)
    first = [c for c in _EVENT_ORDER if c in frame.columns]
    ordered = first + [c for c in frame.columns if c not in first]
    keep = [c for c in ordered if c in ("ts", "type", "run_id") or frame[c].notna().any()]
    return frame[keep], total


#: Columns of the events table worth reading first.
_EVENT_ORDER = ("ts", "type", "symbol", "signal_id", "side", "confidence",
                "calibrated_probability", "return_pct", "win", "applied_threshold")  # fmt: skip


def events_csv(
    store: Store,
    *,
    run_id: str | None = None,
    event_type: str | None = None,
    symbol: str | None = None,
    since: Any = None,
    until: Any = None,
) -> bytes:
    """Every event matching the filters as UTF-8 CSV (times ISO 8601, UTC)."""
    frame = store.events_frame(
        run_id=run_id, event_type=event_type, symbol=symbol or None, since=since, until=until
    )
    return frame.to_csv(index=False).encode("utf-8")


# --------------------------------------------------------------------------- import


@dataclass(frozen=True)
class ImportPreview:
    """What importing an uploaded file would do, before anything is written.

    ``result`` is the dry run when some rows can be imported (None otherwise);
    ``row_errors`` lists every bad row (row numbers as a spreadsheet shows
    them); ``error`` is the message when nothing would be imported.
    """

    path: Path
    result: ImportResult | None
    row_errors: pd.DataFrame
    error: str | None

    @property
    def importable(self) -> bool:
        return self.result is not None and self.result.n_imported > 0


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def save_upload(data_dir: str | Path, name: str, content: bytes) -> Path:
    """Write an uploaded file under ``data_dir/uploads/`` (a safe file name) and return it."""
    folder = Path(data_dir) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    safe = _SAFE_NAME.sub("_", Path(name).name).strip("._") or "upload.csv"
    path = folder / safe
    path.write_bytes(content)
    return path


def _row_error_frame(errors: Sequence[Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {"row": [e.row for e in errors], "reason": [e.reason for e in errors]},
        columns=["row", "reason"],
    )


def preview_upload(
    store: Store, name: str, content: bytes, *, skip_bad_rows: bool = False
) -> ImportPreview:
    """Dry-run an uploaded signal log: the normalised rows and every bad row; nothing written."""
    path = save_upload(store.data_dir, name, content)
    try:
        result = import_signal_log(path, store=store, skip_bad_rows=skip_bad_rows, dry_run=True)
    except ImportFileError as exc:
        return ImportPreview(path, None, _row_error_frame(exc.row_errors), describe_errors(exc))
    return ImportPreview(path, result, _row_error_frame(result.row_errors), None)


def import_upload(
    store: Store, path: str | Path, *, skip_bad_rows: bool = False, name: str | None = None
) -> ImportResult:
    """Import a previewed upload as a new run (one transaction)."""
    return import_signal_log(path, store=store, skip_bad_rows=skip_bad_rows, name=name)


def synthetic_signal_log(n: int, *, seed: int = 0, start: str = "2015-01-02") -> pd.DataFrame:
    """A seeded, *synthetic* signal log whose confidence carries some information.

    One row per signal (``timestamp``, ``symbol``, ``side``, ``confidence``,
    ``return_pct``, ``holding_days``): the win probability rises from 0.42 to
    0.62 across the confidence range (so the raw score is over-confident), and
    two thirds of the way through the edge halves, so the drift page has
    something to find. For demos, tests and benchmarks only.
    """
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.arange(n) * 37, unit="min")
    confidence = rng.beta(2.5, 2.5, n)
    p_win = 0.42 + 0.2 * confidence
    late = np.arange(n) >= (2 * n) // 3
    p_win = np.where(late, 0.5 + (p_win - 0.5) * 0.5, p_win)
    win = rng.random(n) < p_win
    size = rng.gamma(2.0, 0.6, n) + 0.01
    returns = np.where(win, size, -size * 0.95).round(6)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "symbol": rng.choice(["SYN000", "SYN001", "SYN002", "SYN003"], n),
            "side": rng.choice(np.array([1, -1]), n),
            "confidence": confidence.round(6),
            "return_pct": returns,
            "holding_days": np.full(n, 5.0),
        }
    )


# --------------------------------------------------------------------------- reports

#: Report files a run offers: format -> (label, file suffix, MIME type).
REPORT_FILES: dict[str, tuple[str, str, str]] = {
    "html": ("HTML report", ".html", "text/html"),
    "json": ("JSON report (every result and table)", ".json", "application/json"),
    "csv": ("CSV tables (zip)", "-tables.zip", "application/zip"),
}


def report_bytes(store: Store, run_id: str, fmt: str, *, key: str | None = None) -> bytes:
    """Build a run's report with :func:`core.reports.html_report.build_report`; its bytes.

    The file is written to a temporary folder (the reports folder keeps only
    what the CLI or a backtest writes there).
    """
    if fmt not in REPORT_FILES:
        raise ValidationError(
            f"report format must be one of {', '.join(REPORT_FILES)}, got {fmt!r}"
        )
    with tempfile.TemporaryDirectory(prefix="signal-lab-report-") as tmp:
        out = Path(tmp) / f"{run_id}{REPORT_FILES[fmt][1]}"
        path = build_report(store, run_id, format=fmt, out=out, key=key)  # type: ignore[arg-type]
        return Path(path).read_bytes()
