"""Beyond the peers: bet sizing, calibration by segment, signal decay, open book, versions.

Each function takes what a page, the CLI or the report has — a run, its trades, the engine — and
returns the analytics result with its figure. Everything fitted is fitted walk-forward on
earlier trades (the analytics modules say how); nothing here computes a metric itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.analytics.calibrators import make_calibrator
from core.analytics.compare import VersionComparison, compare_versions
from core.analytics.decay import signal_decay
from core.analytics.open_book import (
    OpenBookCheck,
    OpenBookForecast,
    check_open_book,
    open_book_forecast,
)
from core.analytics.segments import calibration_by_segment
from core.analytics.sizing import walk_forward_sizing
from core.analytics.walkforward import walk_forward_calibrate
from core.backtest import BacktestConfig
from core.data import load_market_data
from core.errors import ConfigError, InsufficientDataError, SignalLabError
from core.figures import decisions as charts
from core.lifecycle.registry import ModelRegistry
from core.signals.calibrated import calibrate_scores
from core.store import RunInfo
from core.trades import CORE_COLUMNS, validate_trades

__all__ = [
    "SEGMENTS",
    "DecisionView",
    "available_segments",
    "decay_view",
    "latest_versions_view",
    "open_book_view",
    "out_of_sample_probability",
    "segment_view",
    "sizing_view",
    "version_view",
]

#: Attributes a run's calibration can be split by (label -> trades column or rule).
SEGMENTS: dict[str, str] = {
    "volatility": "volatility regime (terciles of market_volatility)",
    "symbol": "symbol",
    "side": "side (long / short)",
    "num_agreeing_models": "number of agreeing models",
    "year": "calendar year of entry",
}


#: Trades column each segment needs.
_SEGMENT_COLUMNS = {
    "volatility": "market_volatility",
    "symbol": "symbol",
    "side": "side",
    "num_agreeing_models": "num_agreeing_models",
    "year": "entry_time",
}


def available_segments(trades: pd.DataFrame) -> dict[str, str]:
    """Segments this run can be split by (label -> description): columns with values only."""
    out = {
        name: text
        for name, text in SEGMENTS.items()
        if _SEGMENT_COLUMNS[name] in trades.columns
        and trades[_SEGMENT_COLUMNS[name]].notna().any()
        and trades[_SEGMENT_COLUMNS[name]].nunique() > 1
    }
    for column in trades.columns:
        if (
            column not in CORE_COLUMNS
            and pd.api.types.is_numeric_dtype(trades[column])
            and trades[column].nunique() > 2
        ):
            out[column] = f"feature {column} (terciles)"
    return out


@dataclass(frozen=True, eq=False)
class DecisionView:
    """An analytics result, its figures and a note on how the numbers were made."""

    result: Any
    figures: tuple[go.Figure, ...]
    note: str

    def to_dict(self) -> dict[str, Any]:
        if isinstance(self.result, tuple):  # the open book: forecast and check
            forecast, check = self.result
            return {
                "note": self.note,
                "forecast": forecast.to_dict(),
                "check": None if check is None else check.to_dict(),
            }
        return {"note": self.note, **self.result.to_dict()}


def out_of_sample_probability(
    trades: pd.DataFrame, *, method: str = "platt", n_windows: int = 6, min_train: int = 100
) -> tuple[pd.DataFrame, str]:
    """Trades with ``calibrated_probability`` fitted walk-forward (earlier trades only).

    Returns the trades that got a probability (the first window, without history, has
    none) and a label naming the mapping, e.g. ``"platt, walk-forward, 6 windows"``.
    """
    usable = validate_trades(trades, key="confidence", min_rows=2)
    result = walk_forward_calibrate(usable, method=method, n_windows=n_windows, min_train=min_train)
    scored = result.apply(usable)
    scored = scored[scored["calibrated_probability"].notna()]
    if len(scored) < 30:
        raise InsufficientDataError(
            f"only {len(scored)} trade(s) got an out-of-sample probability; a run needs more "
            "history for walk-forward calibration (or use fewer windows)"
        )
    return scored, f"{method}, walk-forward, {n_windows} windows"


def sizing_view(
    trades: pd.DataFrame,
    *,
    calibrator: str = "platt",
    kelly_fraction: float = 0.5,
    cap: float = 1.0,
    cost_bps: float = 0.0,
    n_windows: int = 6,
    seed: int = 0,
) -> DecisionView:
    """Bet sizes from the calibrated probability vs the best fixed threshold, out of sample."""
    result = walk_forward_sizing(
        trades, key="confidence", calibrator=calibrator, kelly_fraction=kelly_fraction,
        cap=cap, cost_bps=cost_bps, n_windows=n_windows, seed=seed,
    )  # fmt: skip
    note = (
        f"{calibrator} calibrator and payoff ratio fitted walk-forward ({n_windows} windows, "
        f"earlier trades only); Kelly × {kelly_fraction:g} capped at {cap:g}; bands: block "
        "bootstrap; every figure out of sample"
    )
    return DecisionView(result, (charts.sizing_chart(result), charts.sizing_equity(result)), note)


def segment_view(
    trades: pd.DataFrame, *, by: str = "volatility", method: str = "platt", seed: int = 0
) -> DecisionView:
    """Calibration per segment of out-of-sample probabilities, with a Holm-corrected test."""
    if by not in SEGMENTS and by not in trades.columns:
        raise ConfigError(
            f"segment {by!r} is not known; choose one of {', '.join(SEGMENTS)} or a feature "
            "column of the run"
        )
    scored, label = out_of_sample_probability(trades, method=method)
    result = calibration_by_segment(scored, by, key="calibrated_probability", seed=seed)
    note = f"probabilities: {label}; each segment tested against perfect calibration (Holm)"
    return DecisionView(result, (charts.segment_reliability(result),), note)


def decay_view(
    run: RunInfo, trades: pd.DataFrame, *, prices: str | Path | None = None, seed: int = 0
) -> DecisionView:
    """Rank IC and win-rate spread of the confidence at horizons 1–20 days.

    A backtest uses the market it ran on; an imported log needs ``prices``: a CSV or
    Parquet file (or folder) of daily bars of its symbols, read like a backtest's own
    prices (:func:`core.data.load_market_data`).
    """
    if prices is not None:
        path = Path(prices)
        kind = "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"
        market = load_market_data(kind, path=path)
    elif run.kind == "backtest":
        known = set(BacktestConfig.__dataclass_fields__)
        config = BacktestConfig.from_dict({k: v for k, v in run.config.items() if k in known})
        market = config.load_data()
    else:
        raise ConfigError(
            f"run {run.id} is an imported log; signal decay needs the market's prices - pass "
            "the daily bars of its symbols (CLI: signal-lab decay RUN_ID --prices FILE)"
        )
    result = signal_decay(trades, market, key="confidence", seed=seed)
    note = f"forward returns from each signal's close on {market.source} prices; seeded bootstrap"
    return DecisionView(result, (charts.decay_chart(result),), note)


def open_book_view(
    trades: pd.DataFrame,
    *,
    open_signals: pd.DataFrame | None = None,
    n_open: int | None = None,
    method: str = "platt",
) -> DecisionView:
    """Expected wins of the open book from calibrated probabilities, and the check when known.

    With ``open_signals`` (signals whose outcome is not known yet, e.g. an imported
    log's rows without a return: ``Store.open_signals(run_id)``), their probabilities come
    from a calibrator fitted on every closed trade (all earlier, resolved outcomes); the
    forecast is the Poisson-binomial distribution of their wins, and the check waits for
    the outcomes. Without them, the newest ``n_open`` closed trades (default: those
    entered within the last holding period, and at least the newest 50) stand in for the
    open book: their probabilities come from a calibrator fitted walk-forward on earlier
    trades, and their realised outcomes test the forecast (a CBPE-style drift signal).
    """
    if open_signals is not None and len(open_signals):
        closed = validate_trades(trades, key="confidence", min_rows=30)
        calibrator = make_calibrator(method).fit(
            closed["confidence"].to_numpy(dtype=np.float64), closed["win"].to_numpy()
        )
        prob = calibrate_scores(calibrator, open_signals["confidence"].to_numpy(dtype=np.float64))
        forecast = open_book_forecast(prob[~np.isnan(prob)])
        note = (
            f"{forecast.n:,} open signal(s) without an outcome yet; probabilities from a {method} "
            f"calibrator fitted on the {len(closed):,} closed trades; the check waits for outcomes"
        )
        return DecisionView((forecast, None), (charts.open_book_chart(forecast),), note)
    scored, label = out_of_sample_probability(trades, method=method)
    scored = scored.sort_values("entry_time", kind="stable")
    if n_open is None:
        hold = float(np.nanmax(scored["holding_days"])) if "holding_days" in scored else 5.0
        last = scored["entry_time"].iloc[-1]
        recent = scored["entry_time"] > last - pd.Timedelta(days=max(hold, 1.0) * 1.5)
        n_open = max(int(recent.sum()), 50)
    n_open = max(min(int(n_open), len(scored)), 1)
    book = scored.iloc[-n_open:]
    prob = book["calibrated_probability"].to_numpy(dtype=np.float64)
    forecast: OpenBookForecast = open_book_forecast(prob)
    check: OpenBookCheck = check_open_book(forecast, book["win"].to_numpy())
    note = f"{n_open} newest closed signal(s) as the open book; probabilities: {label}"
    return DecisionView((forecast, check), (charts.open_book_chart(forecast, check=check),), note)


def version_view(
    registry: ModelRegistry, name: str, a: int, b: int, *, trades: pd.DataFrame, seed: int = 0
) -> DecisionView:
    """Two calibrator versions on the same trades, out of sample for both: paired bootstrap."""
    va, vb = registry.get(name, a), registry.get(name, b)
    usable = validate_trades(trades, key="confidence", min_rows=2)
    times = usable["entry_time"]
    after = pd.Series(True, index=usable.index)
    for v in (va, vb):
        if v.train_end is not None:
            after &= times > v.train_end
    oos = usable[after.to_numpy()]
    if len(oos) < 30:
        raise InsufficientDataError(
            f"only {len(oos)} trade(s) of this run come after both versions' training windows; "
            "compare them on a later run"
        )
    score = oos["confidence"].to_numpy(dtype=np.float64)
    prob_a = calibrate_scores(registry.load(name, version=a), score)
    prob_b = calibrate_scores(registry.load(name, version=b), score)
    result: VersionComparison = compare_versions(
        prob_a, prob_b, oos["win"].to_numpy(), returns_pct=oos["return_pct"].to_numpy(),
        names=(f"v{a}", f"v{b}"), block_size=10, seed=seed,
    )  # fmt: skip
    note = f"{len(oos):,} trades after both training windows; paired block bootstrap (10 trades)"
    return DecisionView(result, (charts.version_reliability(result),), note)


def latest_versions_view(
    registry: ModelRegistry, signal: str, trades: pd.DataFrame
) -> DecisionView | str:
    """The newest two calibrator versions of the model named after ``signal``, compared.

    Returns the reason instead when there is nothing to compare (the report shows it).
    """
    versions = [v for v in registry.versions(signal) if v.model_type == "calibrator"]
    if len(versions) < 2:
        return (
            f"signal {signal!r} has {len(versions)} calibrator version(s) in the registry; "
            "register two (named after the signal) to compare them"
        )
    a, b = versions[-2].version, versions[-1].version
    try:
        return version_view(registry, signal, a, b, trades=trades)
    except SignalLabError as exc:
        return str(exc).split("\n", 1)[0]
