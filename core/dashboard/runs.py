"""Runs (labels, tables, re-runs, confidence keys), book metrics and a run's overview."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.analytics.report import ensure_calibrated
from core.analytics.stats import wilson_interval
from core.backtest import BacktestConfig, BacktestResult, run_backtest
from core.dashboard._common import describe_errors
from core.dashboard.labels import BOOK_NAMES, METRIC_LABELS
from core.engines.orchestration import STAGES, ProgressCallback
from core.errors import ConfigError, InsufficientDataError, ValidationError
from core.events import EventType
from core.learning import LearningEngine
from core.lifecycle.ledger import TrialLedger
from core.metrics import is_win, performance_metrics
from core.reports.json_report import write_backtest_report
from core.store import Store
from core.store.db import RunInfo
from core.trades import CONFIDENCE_KEYS, confidence_keys

__all__ = [
    "RunOverview",
    "book_stats",
    "metric_value",
    "metrics_markdown",
    "metrics_rows",
    "metrics_table",
    "overall_progress",
    "prepare_key",
    "rerun_config",
    "rows_markdown",
    "run_and_report",
    "run_label",
    "run_overview",
    "run_table",
]


# --------------------------------------------------------------------------- runs


def run_label(info: RunInfo) -> str:
    """``"ensemble-agree3-hold5 · backtest · sample backtest … · 2026-11-24 12:50"``.

    Signal, kind, name, date (UTC).

    Failed and synthetic runs say so.
    """
    created = pd.Timestamp(info.created)
    when = created.strftime("%Y-%m-%d %H:%M") if not pd.isna(created) else "?"
    parts = [info.signal, info.kind, info.name or info.id, when]
    if info.synthetic:
        parts.append("synthetic")
    if info.status == "failed":
        parts.append("incomplete run")  # analyses are allowed, and labelled
    elif info.status != "completed":
        parts.append(info.status)
    return " · ".join(parts)


def run_table(store: Store) -> pd.DataFrame:
    """The runs of ``store`` for a table, newest first.

    Columns: ``run`` (label), ``signal``, ``kind``, ``status``, ``source``, ``synthetic``,
    ``created`` (UTC), ``signals``, ``outcomes``, ``events``, ``seed``,
    ``error``, ``id``.
    """
    runs = store.list_runs()
    return pd.DataFrame(
        {
            "run": [run_label(r) for r in runs],
            "signal": [r.signal for r in runs],
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


def run_and_report(
    config: BacktestConfig, *, engine: LearningEngine, progress: ProgressCallback | None = None
) -> BacktestResult:
    """Run a backtest in ``engine``'s store and write its JSON report to ``<data_dir>/reports``.

    The backtest is a trial of its signal: the trial ledger counts it.
    """
    result = run_backtest(config, engine=engine, progress=progress)
    write_backtest_report(result)
    TrialLedger(engine.store).record(
        engine.store.get_run(result.run_id).signal, run_id=result.run_id, kind="rerun",
        n_trials=1, params={"config": config.to_dict()},
    )  # fmt: skip
    return result


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


#: The per-trade metrics of :func:`core.metrics.performance_metrics` a book reports.
_TRADE_METRICS: tuple[str, ...] = (
    "n_trades", "win_rate", "mean_return_pct", "median_return_pct", "avg_win_pct",
    "avg_loss_pct", "expectancy_pct", "sharpe_per_trade", "sortino_per_trade", "profit_factor",
)  # fmt: skip


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
    wins = int(np.count_nonzero(is_win(r)))
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


_FORMATS = {"count": "{:,.0f}", "share": "{:.1f} %", "pct": "{:.3f}", "ratio": "{:.3f}"}


def metrics_rows(
    metrics: pd.DataFrame, *, drop_empty: bool = True
) -> tuple[list[str], list[list[str]]]:
    """:func:`metrics_table` as text: the books' names, then one row per metric.

    Each row is the metric's label then one formatted cell per book (shares in
    percent, counts with thousands separators, three decimals otherwise; "—" for
    NaN), the formats of the page's table widget.

    Returns
    -------
    books : list of str
    rows : list of list of str
        ``[label, cell per book]``.
    """
    table = metrics_table(metrics, drop_empty=drop_empty)
    rows = []
    for col in table.columns:
        label, kind = METRIC_LABELS.get(str(col), (str(col).replace("_", " "), "ratio"))
        fmt = _FORMATS[kind]
        cells = [
            "—" if not np.isfinite(v) else fmt.format(v)
            for v in table[col].to_numpy(dtype=np.float64)
        ]
        rows.append([label, *cells])
    return [str(b) for b in table.index], rows


def metrics_markdown(metrics: pd.DataFrame, *, drop_empty: bool = True) -> str:
    """:func:`metrics_rows` as a Markdown table: one row per metric, one column per book.

    Light text for a table redrawn often: a grid widget (a canvas) cost the
    browser far more than a small table.
    """
    return rows_markdown(*metrics_rows(metrics, drop_empty=drop_empty))


def rows_markdown(books: list[str], rows: list[list[str]]) -> str:
    """:func:`metrics_rows`' output as a Markdown table (a "Metric" column, then the books)."""
    lines = ["| Metric | " + " | ".join(books) + " |", "|---|" + "---:|" * len(books)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


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
