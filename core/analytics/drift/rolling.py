"""Drift over a run, window by window, for the dashboard's time series."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.analytics.drift.baseline import DriftBaseline, baseline_from_trades
from core.analytics.drift.check import _check
from core.analytics.drift.thresholds import DriftThresholds
from core.analytics.drift.windows import (
    DEFAULT_MIN_TRADES,
    _check_min_trades,
    _Window,
    _window,
)
from core.errors import ConfigError, DriftError, InsufficientDataError

_ROLLING_METRICS = ("psi", "ks", "win_rate", "brier", "ece", "mean_return", "sharpe")
_STATS = ("psi", "ks_stat", "ks_p", "win_rate", "win_rate_p", "brier", "ece", "mean_return",
          "mean_return_p", "sharpe", "sharpe_p")  # fmt: skip
_NON_FLOAT = ("window_start", "window_end", "n", "n_trades", "partial", "in_baseline")


def _empty_row(
    t0: pd.Timestamp, t1: pd.Timestamp, n: int, partial: bool, in_baseline: bool
) -> dict[str, Any]:
    """A window of fewer than two trades: shown (it covers trades) but not measured."""
    row: dict[str, Any] = {"window_start": t0, "window_end": t1, "n": n}
    row.update({c: np.nan for c in _STATS})
    row.update({f"{m}_severity": "ok" for m in _ROLLING_METRICS})
    row.update(severity="ok", n_trades=n, partial=partial, in_baseline=in_baseline)
    return row


def rolling_drift(
    trades: pd.DataFrame,
    baseline: DriftBaseline | pd.DataFrame,
    *,
    window: int | str | pd.DateOffset = 500,
    step: int | str | pd.DateOffset | None = None,
    key: str | None = None,
    thresholds: DriftThresholds | None = None,
    min_trades: int = DEFAULT_MIN_TRADES,
) -> pd.DataFrame:
    """Drift statistics of a run, window by window, against one baseline.

    Windows are taken in ``entry_time`` order and cover every trade, the newest
    included. With an integer ``window`` they are ``window`` consecutive trades
    starting every ``step`` trades; the last one holds whatever trades remain
    (``partial`` True, its size in ``n_trades``). With a pandas offset (``"90D"``)
    they are half-open time intervals ``[start, start + window)`` starting at the
    first ``entry_time`` and every ``step`` (empty intervals are left out; the
    last interval, which reaches past the newest trade, is ``partial``).

    A window with fewer than ``min_trades`` trades is shown with its statistics
    but graded ``"ok"`` (too few trades to judge). A window whose trades all lie
    within the baseline's period (``baseline.start`` to ``baseline.end``) is
    marked ``in_baseline`` and graded ``"ok"``: comparing the baseline with
    itself is not monitoring. The streaming detectors are not run per window
    (run them over the whole stream with :func:`check_against_baseline` instead).

    Parameters
    ----------
    trades : DataFrame
        Trades frame of the run (:mod:`core.trades`), with ``entry_time``.
    baseline : DriftBaseline or DataFrame
        A stored baseline, or a trades frame to build one from.
    window : int or offset, default 500
        Trades per window, or a time span.
    step : int or offset, optional
        Distance between window starts; defaults to ``window`` (non-overlapping).
    key : str, optional
        Confidence column; defaults to the baseline's key (``"confidence"`` when
        ``baseline`` is a frame).
    thresholds : DriftThresholds, optional
    min_trades : int, default 30

    Returns
    -------
    DataFrame
        One row per window: ``window_start``, ``window_end`` (the first and last
        ``entry_time`` for trade-count windows, the interval bounds for time
        windows), ``n`` and ``n_trades`` (trades in the window), ``partial``
        (bool: the last, incomplete window), ``in_baseline`` (bool), ``psi``, ``ks_stat``, ``ks_p``, ``win_rate``,
        ``win_rate_p``, ``brier``, ``ece``, ``mean_return``, ``mean_return_p``,
        ``sharpe``, ``sharpe_p``, a ``<metric>_severity`` column per metric,
        ``severity`` (the worst), then ``n_trades``, ``partial``, ``in_baseline``.

    Raises
    ------
    ConfigError
        ``window``/``step`` invalid or of different kinds.
    InsufficientDataError
        Not one window has enough trades.
    """
    min_trades = _check_min_trades(min_trades)
    if isinstance(baseline, pd.DataFrame):
        baseline = baseline_from_trades(  # detectors do not run per window
            baseline, key="confidence" if key is None else key, min_trades=min_trades,
            calibrate=False,
        )  # fmt: skip
    elif not isinstance(baseline, DriftBaseline):
        raise DriftError(
            f"baseline must be a DriftBaseline or a trades frame, got {type(baseline).__name__}"
        )
    if key is not None and key != baseline.key:
        raise DriftError(f"the baseline summarises {baseline.key!r}, not {key!r}")
    key = baseline.key
    t = DriftThresholds() if thresholds is None else thresholds
    w = _window(trades, key=key, min_trades=min_trades, label="run")
    if w.times is None:
        raise ConfigError("rolling_drift needs an entry_time column to order and date windows")
    times = pd.DatetimeIndex(w.times)

    spans: list[tuple[int, int, pd.Timestamp, pd.Timestamp, bool]] = []
    if isinstance(window, (int, np.integer)) and not isinstance(window, bool):
        stride = window if step is None else step
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
            raise ConfigError(f"step must be a positive number of trades with window={window}")
        if window < min_trades:
            raise ConfigError(
                f"window must hold at least min_trades={min_trades} trades, got {window}"
            )
        if w.n < min(int(window), w.n) or w.n < min_trades:
            raise InsufficientDataError(
                f"the run has {w.n} trades and no window of {window!r} holds min_trades="
                f"{min_trades}; use a smaller window"
            )
        for lo in range(0, w.n, int(stride)):
            hi = min(lo + int(window), w.n)
            spans.append((lo, hi, times[lo], times[hi - 1], hi - lo < int(window)))
            if hi == w.n:  # the newest trades are covered; later starts only repeat them
                break
    else:
        try:
            span = pd.tseries.frequencies.to_offset(window)
            stride = span if step is None else pd.tseries.frequencies.to_offset(step)
        except (TypeError, ValueError):
            raise ConfigError(
                f"window and step must both be trade counts or pandas offsets like '90D', "
                f"got window={window!r}, step={step!r}"
            ) from None
        start = times[0]
        if start + stride <= start or start + span <= start:
            raise ConfigError(f"window and step must be positive spans, got {window!r}, {step!r}")
        while start <= times[-1]:
            end = start + span
            lo, hi = times.searchsorted(start, "left"), times.searchsorted(end, "left")
            if hi > lo:
                spans.append((int(lo), int(hi), start, end, bool(end > times[-1])))
            start = start + stride
    if not any(hi - lo >= min_trades for lo, hi, *_ in spans):
        raise InsufficientDataError(
            f"the run has {w.n} trades and no window of {window!r} holds min_trades="
            f"{min_trades}; use a smaller window"
        )

    rows = []
    b_start, b_end = baseline.start, baseline.end
    for lo, hi, t0, t1, partial in spans:
        sub = _Window(w.conf[lo:hi], w.win[lo:hi], w.ret[lo:hi], w.times[lo:hi])
        first, last = pd.Timestamp(times[lo]), pd.Timestamp(times[hi - 1])
        in_baseline = (
            b_start is not None and b_end is not None and first >= b_start and last <= b_end
        )
        quiet = in_baseline or hi - lo < min_trades  # graded "ok" whatever the statistics
        if hi - lo < 2:
            rows.append(_empty_row(t0, t1, hi - lo, partial, in_baseline))
            continue
        report = _check(
            baseline,
            sub,
            thresholds=t,
            detectors={},
            outcome="win",
            raw_baseline=None,
            run_detectors=False,
        )
        f = {x.metric: x for x in report.findings}
        row: dict[str, Any] = {
            "window_start": t0,
            "window_end": t1,
            "n": hi - lo,
            "psi": f["psi"].statistic,
            "ks_stat": f["ks"].statistic,
            "ks_p": f["ks"].p_value,
            "win_rate": f["win_rate"].current_value,
            "win_rate_p": f["win_rate"].p_value,
            "brier": f["brier"].current_value,
            "ece": f["ece"].current_value,
            "mean_return": f["mean_return"].current_value,
            "mean_return_p": f["mean_return"].p_value,
            "sharpe": f["sharpe"].current_value,
            "sharpe_p": f["sharpe"].p_value,
        }
        for m in _ROLLING_METRICS:
            row[f"{m}_severity"] = "ok" if quiet else f[m].severity
        row["severity"] = "ok" if quiet else report.severity
        row.update(n_trades=hi - lo, partial=partial, in_baseline=in_baseline)
        rows.append(row)
    frame = pd.DataFrame(rows)
    float_cols = [c for c in frame.columns if c not in _NON_FLOAT]
    float_cols = [c for c in float_cols if not c.endswith("severity")]
    frame[float_cols] = frame[float_cols].astype(np.float64)
    return frame
