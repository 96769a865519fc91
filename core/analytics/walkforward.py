"""Walk-forward calibration: fit on the past, score on the future, never both.

The trades (in ``entry_time`` order) are cut into ``n_windows`` consecutive
test windows of about equal count. For each window a calibrator is fitted on
trades that *entered before* the window's first entry and whose outcome was
*known by then* (the purge below), and applied to the window. Concatenated,
the predictions are an honest out-of-sample ``calibrated_probability``.

Purging
-------
A trade's outcome is known at its *outcome time*:

1. ``exit_time`` when known;
2. else ``entry_time`` plus ``ceil(holding_days)`` business days (Mon-Fri, via
   ``numpy.busday_offset``; an entry on a weekend rolls forward to Monday),
   keeping the entry's time of day;
3. with ``purge=`` (a ``pandas.Timedelta``) the outcome time is at least
   ``entry_time + purge``: an embargo on top of 1-2, and the only source when a
   trade has neither an exit time nor a holding period.

A trade with no outcome time and no ``purge`` raises :class:`TradesFrameError`.
A training trade must have ``outcome_time <= test window start``; trades that
entered earlier but resolved later are *purged* (counted in ``n_purged``).

References
----------
M. López de Prado, Advances in Financial Machine Learning, Wiley (2018),
ch. 7 (purged and embargoed cross-validation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.analytics.calibration import (
    CalibrationMetrics,
    calibration_report,
    check_prob_win,
    json_safe,
    quick_scores,
)
from core.analytics.calibrators import BaseCalibrator, make_calibrator
from core.errors import ConfigError, TradesFrameError
from core.trades import validate_trades

__all__ = ["WINDOW_COLUMNS", "WalkForwardResult", "outcome_times", "walk_forward_calibrate"]

_NAT = np.iinfo(np.int64).min
_DAY_NS = 86_400 * 10**9

#: Columns of :attr:`WalkForwardResult.windows`, in order.
WINDOW_COLUMNS: tuple[str, ...] = (
    "window",
    "status",
    "train_start",
    "train_end",
    "test_start",
    "test_end",
    "n_train",
    "n_purged",
    "n_test",
    "fallback",
    *(
        f"{sample}_{metric}_{kind}"
        for sample in ("in_sample", "out_of_sample")
        for metric in ("ece", "brier", "log_loss")
        for kind in ("raw", "calibrated")
    ),
)


@dataclass(frozen=True, eq=False)
class WalkForwardResult:
    """Out-of-sample calibrated probabilities and how they were obtained.

    Attributes
    ----------
    method, key, scheme : str
        Calibrator, score column and ``"expanding"``/``"rolling"``.
    n_windows, min_train, train_windows : int
        Windows asked for, the fewest training trades for a fit, and (rolling
        only) how many preceding windows the training data spans.
    purge : pandas.Timedelta or None
    options : dict
        Calibrator options.
    calibrated_probability : pandas.Series
        Float64, aligned to the input frame's index (name
        ``"calibrated_probability"``); NaN for trades in windows without enough
        history and for trades whose ``key`` is NaN.
    windows : DataFrame
        One row per window, columns :data:`WINDOW_COLUMNS`: ``status`` is
        ``"ok"``, ``"insufficient history"`` (fewer than ``min_train`` usable
        training trades; metrics NaN) or ``"empty"``; times are UTC
        timestamps (``train_*`` are entry times of the first and last training
        trade); ``fallback`` is the calibrator's degenerate-data fallback (or
        None). ``in_sample_*`` score the calibrator on its own training trades,
        ``out_of_sample_*`` on the window; ``*_raw`` score the raw ``key``,
        ``*_calibrated`` the calibrator's output. ECE uses 10 uniform bins.
    raw, in_sample, out_of_sample : CalibrationMetrics or None
        Totals over the *evaluated* trades (those with an out-of-sample
        prediction): the raw score; a calibrator fitted on all usable trades and
        scored on the evaluated ones (in sample: it saw them); and the
        walk-forward predictions (out of sample). None when no window was
        evaluated. See :meth:`totals`.
    last_calibrator : BaseCalibrator or None
        The calibrator of the last evaluated window (fitted on data before it).
    full_calibrator : BaseCalibrator or None
        Fitted on every usable trade (what to deploy; its honest score is
        ``out_of_sample``, not ``in_sample``).
    """

    method: str
    key: str
    scheme: str
    n_windows: int
    min_train: int
    train_windows: int
    purge: pd.Timedelta | None
    options: dict[str, Any]
    calibrated_probability: pd.Series
    windows: pd.DataFrame
    raw: CalibrationMetrics | None
    in_sample: CalibrationMetrics | None
    out_of_sample: CalibrationMetrics | None
    last_calibrator: BaseCalibrator | None = field(repr=False)
    full_calibrator: BaseCalibrator | None = field(repr=False)

    @property
    def n_evaluated(self) -> int:
        """Trades with an out-of-sample calibrated probability."""
        return int(self.calibrated_probability.notna().sum())

    def totals(self) -> pd.DataFrame:
        """Metrics side by side: index = metric, columns ``raw``, ``in_sample``,
        ``out_of_sample`` (empty frame when nothing was evaluated)."""
        cols = {
            name: m.to_dict()
            for name, m in (
                ("raw", self.raw),
                ("in_sample", self.in_sample),
                ("out_of_sample", self.out_of_sample),
            )
            if m is not None
        }
        frame = pd.DataFrame(cols)
        dropped = [i for i in ("strategy", "ece_low", "ece_high") if i in frame.index]
        return frame.drop(index=dropped).astype(np.float64)

    def apply(self, trades: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``trades`` with ``calibrated_probability`` replaced by the result.

        ``trades`` must be the frame the result was computed from (same index).
        """
        if not trades.index.equals(self.calibrated_probability.index):
            raise TradesFrameError(
                "trades has a different index from the walk-forward result; pass the frame "
                "walk_forward_calibrate was called with"
            )
        out = trades.copy()
        out["calibrated_probability"] = self.calibrated_probability.to_numpy()
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary: settings, per-window rows, totals and both calibrators.

        The per-trade ``calibrated_probability`` is left out (a million values);
        store it with the trades instead.
        """
        return {
            "method": self.method,
            "key": self.key,
            "scheme": self.scheme,
            "n_windows": int(self.n_windows),
            "min_train": int(self.min_train),
            "train_windows": int(self.train_windows),
            "purge": json_safe(self.purge),
            "options": json_safe(self.options),
            "n_evaluated": self.n_evaluated,
            "windows": [json_safe(r) for r in self.windows.to_dict(orient="records")],
            "raw": None if self.raw is None else self.raw.to_dict(),
            "in_sample": None if self.in_sample is None else self.in_sample.to_dict(),
            "out_of_sample": None if self.out_of_sample is None else self.out_of_sample.to_dict(),
            "last_calibrator": None
            if self.last_calibrator is None
            else self.last_calibrator.to_dict(),
            "full_calibrator": None
            if self.full_calibrator is None
            else self.full_calibrator.to_dict(),
        }


# --------------------------------------------------------------------------- helpers


def _times_ns(frame: pd.DataFrame, column: str) -> np.ndarray:
    """UTC nanoseconds since the epoch as int64; NaT as int64 min."""
    s = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(s):
        try:
            s = pd.to_datetime(s, utc=True)
        except (TypeError, ValueError) as exc:
            raise TradesFrameError(
                f"{column} must hold timestamps, got dtype {frame[column].dtype} ({exc}); "
                "convert it with pandas.to_datetime(..., utc=True)"
            ) from exc
    s = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
    return np.asarray(s.dt.as_unit("ns").array.asi8, dtype=np.int64).copy()


def outcome_times(
    trades: pd.DataFrame,
    *,
    purge: pd.Timedelta | None = None,
) -> np.ndarray:
    """When each trade's outcome is known, as UTC int64 nanoseconds, shape (n,).

    See the module docstring for the rule (exit time, else entry plus
    business days held, at least entry plus ``purge``).

    Raises
    ------
    TradesFrameError
        ``entry_time`` is missing or NaT, or a trade has no outcome time and
        ``purge`` is None.
    """
    return _entry_and_outcome(trades, purge=purge)[1]


def _entry_and_outcome(
    trades: pd.DataFrame, *, purge: pd.Timedelta | None
) -> tuple[np.ndarray, np.ndarray]:
    if "entry_time" not in trades.columns:
        raise TradesFrameError(
            "trades frame has no column 'entry_time'; walk-forward needs the entry times"
        )
    entry = _times_ns(trades, "entry_time")
    if (entry == _NAT).any():
        i = int(np.argmax(entry == _NAT))
        raise TradesFrameError(
            f"entry_time is NaT at row {i} ({trades.index[i]!r}); every trade needs an entry time"
        )
    out = np.full(entry.size, _NAT, dtype=np.int64)
    if "exit_time" in trades.columns:
        out = _times_ns(trades, "exit_time")
    missing = out == _NAT
    if missing.any() and "holding_days" in trades.columns:
        hold = trades["holding_days"].to_numpy(dtype=np.float64, na_value=np.nan)
        usable = missing & np.isfinite(hold) & (hold >= 0)
        if usable.any():
            e = entry[usable]
            day = np.floor_divide(e, _DAY_NS)
            tod = e - day * _DAY_NS
            end = np.busday_offset(
                day.astype("datetime64[D]"), np.ceil(hold[usable]).astype(np.int64), roll="forward"
            )
            out[usable] = end.astype(np.int64) * _DAY_NS + tod
            missing = out == _NAT
    if purge is not None:
        embargo = entry + int(purge.value)
        out = np.where(missing, embargo, np.maximum(out, embargo))
    elif missing.any():
        i = int(np.argmax(missing))
        raise TradesFrameError(
            f"row {i} ({trades.index[i]!r}) has no exit_time and no holding_days, so the time "
            f"its outcome became known is unknown ({int(missing.sum())} such row(s)); pass "
            "purge=pandas.Timedelta(days=...) to assume an upper bound on the holding period"
        )
    return entry, out


def _check_options(
    *,
    n_windows: int,
    scheme: str,
    min_train: int,
    train_windows: int,
    purge: Any,
    n_bins: int,
) -> pd.Timedelta | None:
    for name, value, low in (
        ("n_windows", n_windows, 1),
        ("min_train", min_train, 1),
        ("train_windows", train_windows, 1),
        ("n_bins", n_bins, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    if scheme not in ("expanding", "rolling"):
        raise ConfigError(
            f"scheme must be 'expanding' or 'rolling', got {scheme!r}; use 'expanding'"
        )
    if purge is None:
        return None
    try:
        td = pd.Timedelta(purge)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"purge must be a pandas.Timedelta (e.g. '10D'), got {purge!r}") from exc
    if td is pd.NaT or td < pd.Timedelta(0):
        raise ConfigError(f"purge must be a non-negative Timedelta, got {purge!r}")
    return td


def _stamp(ns: int | None) -> pd.Timestamp | None:
    return None if ns is None else pd.Timestamp(int(ns), unit="ns", tz="UTC")


# --------------------------------------------------------------------------- main


def walk_forward_calibrate(
    trades: pd.DataFrame,
    *,
    method: str = "isotonic",
    key: str = "confidence",
    n_windows: int = 12,
    scheme: Literal["expanding", "rolling"] = "expanding",
    purge: pd.Timedelta | str | None = None,
    min_train: int = 200,
    train_windows: int = 3,
    options: dict[str, Any] | None = None,
    n_bins: int = 10,
) -> WalkForwardResult:
    """Fit a calibrator walk-forward and return out-of-sample probabilities.

    Parameters
    ----------
    trades : DataFrame
        A trades frame with ``key``, ``win``, ``return_pct``, ``entry_time`` and
        ``exit_time`` and/or ``holding_days``. Need not be sorted (it is ordered
        by ``entry_time``, stably, internally; the input is not modified).
        Rows whose ``key`` is NaN are left out and get NaN.
    method : {"isotonic", "platt", "beta", "histogram"}, default "isotonic"
    key : str, default "confidence"
        Score to calibrate.
    n_windows : int, default 12
        Number of consecutive test windows, of about ``n / n_windows`` trades
        each; a boundary that would split trades with the same entry time
        moves to the first of them, so windows are time intervals. The first
        window has no history and is never evaluated.
    scheme : {"expanding", "rolling"}, default "expanding"
        Train on all earlier trades, or only on those that entered during the
        ``train_windows`` windows before the test window.
    purge : pandas.Timedelta or str, optional
        Embargo: a training trade's outcome time is at least ``entry + purge``
        (see the module docstring).
    min_train : int, default 200
        Fewest training trades (after purging) to fit; windows with fewer are
        reported with status ``"insufficient history"`` and left NaN.
    train_windows : int, default 3
        Look-back of the rolling scheme, in windows (ignored when expanding).
    options : dict, optional
        Calibrator options for :func:`core.analytics.calibrators.make_calibrator`.
    n_bins : int, default 10
        Uniform bins of every ECE reported.

    Returns
    -------
    WalkForwardResult

    Raises
    ------
    TradesFrameError
        Missing or invalid columns, or unknown outcome times (see
        :func:`outcome_times`).
    InsufficientDataError
        No trade has a score.
    ConfigError
        An option is out of range.
    CalibrationError
        Unknown method or calibrator option.
    """
    purge_td = _check_options(
        n_windows=n_windows,
        scheme=scheme,
        min_train=min_train,
        train_windows=train_windows,
        purge=purge,
        n_bins=n_bins,
    )
    options = dict(options or {})
    make_calibrator(method, **options)  # fail fast on a bad method/option
    usable = validate_trades(trades, key=key, min_rows=1)
    score_all = trades[key].to_numpy(dtype=np.float64, na_value=np.nan)
    positions = np.flatnonzero(~np.isnan(score_all))  # rows of `trades` in `usable`

    entry, outcome = _entry_and_outcome(usable, purge=purge_td)
    order = np.argsort(entry, kind="stable")
    t_entry = entry[order]
    t_out = outcome[order]
    conf = usable[key].to_numpy(dtype=np.float64)[order]
    win = usable["win"].to_numpy().astype(np.float64)[order]
    n = conf.size

    # Window boundaries by count, snapped back to the first trade of a timestamp.
    raw_bounds = np.round(np.linspace(0, n, n_windows + 1)).astype(np.int64)
    inner = np.searchsorted(t_entry, t_entry[np.minimum(raw_bounds[1:-1], n - 1)], side="left")
    bounds = np.concatenate(([0], np.maximum.accumulate(inner), [n]))

    calibrated = np.full(n, np.nan)
    rows: list[dict[str, Any]] = []
    last: BaseCalibrator | None = None
    for k in range(n_windows):  # one iteration per window; all work inside is vectorised
        lo_test, hi_test = int(bounds[k]), int(bounds[k + 1])
        row: dict[str, Any] = dict.fromkeys(WINDOW_COLUMNS)
        row.update(window=k, n_test=hi_test - lo_test, n_train=0, n_purged=0)
        if hi_test == lo_test:
            row["status"] = "empty"
            rows.append(row)
            continue
        start = int(t_entry[lo_test])
        row["test_start"] = _stamp(start)
        row["test_end"] = _stamp(int(t_entry[hi_test - 1]))
        lo_train = 0 if scheme == "expanding" else int(bounds[max(0, k - train_windows)])
        known = t_out[lo_train:lo_test] <= start
        train = lo_train + np.flatnonzero(known)
        row["n_train"] = int(train.size)
        row["n_purged"] = int(known.size - train.size)
        cal = make_calibrator(method, **options)
        if train.size < max(min_train, cal.min_samples):
            row["status"] = "insufficient history"
            rows.append(row)
            continue
        c_tr, y_tr = conf[train], win[train]
        if hasattr(cal, "warm_start"):  # consecutive windows share most of their history
            cal.warm_start(last)
        cal.fit(c_tr, y_tr)
        c_te, y_te = conf[lo_test:hi_test], win[lo_test:hi_test]
        p_te = cal.predict(c_te)
        calibrated[lo_test:hi_test] = p_te
        p_tr = cal.predict(c_tr)
        row.update(
            status="ok",
            fallback=cal.fallback,
            train_start=_stamp(int(t_entry[train[0]])),
            train_end=_stamp(int(t_entry[train[-1]])),
        )
        for sample, p_raw, p_cal, y in (
            ("in_sample", c_tr, p_tr, y_tr),
            ("out_of_sample", c_te, p_te, y_te),
        ):
            for kind, p in (("raw", p_raw), ("calibrated", p_cal)):
                ece, brier, ll = quick_scores(p, y, n_bins=n_bins)
                row[f"{sample}_ece_{kind}"] = ece
                row[f"{sample}_brier_{kind}"] = brier
                row[f"{sample}_log_loss_{kind}"] = ll
        last = cal
        rows.append(row)

    windows = pd.DataFrame(rows, columns=list(WINDOW_COLUMNS))
    for col in ("train_start", "train_end", "test_start", "test_end"):
        windows[col] = pd.to_datetime(windows[col], utc=True)
    for col in ("window", "n_train", "n_purged", "n_test"):
        windows[col] = windows[col].astype(np.int64)
    metric_cols = list(WINDOW_COLUMNS[10:])
    windows[metric_cols] = windows[metric_cols].astype(np.float64)

    evaluated = ~np.isnan(calibrated)
    raw_m = in_m = out_m = None
    full: BaseCalibrator | None = None
    if n >= max(min_train, make_calibrator(method, **options).min_samples):
        full = make_calibrator(method, **options)
        if hasattr(full, "warm_start"):
            full.warm_start(last)
        full.fit(conf, win)
    if evaluated.any():
        c_ev, y_ev = check_prob_win(conf[evaluated], win[evaluated])
        raw_m = calibration_report(c_ev, y_ev, n_bins=n_bins)
        out_m = calibration_report(calibrated[evaluated], y_ev, n_bins=n_bins)
        if full is not None:
            in_m = calibration_report(full.predict(c_ev), y_ev, n_bins=n_bins)

    values = np.full(len(trades), np.nan)
    values[positions[order]] = calibrated
    series = pd.Series(values, index=trades.index, name="calibrated_probability")
    return WalkForwardResult(
        method=method,
        key=key,
        scheme=scheme,
        n_windows=int(n_windows),
        min_train=int(min_train),
        train_windows=int(train_windows),
        purge=purge_td,
        options=options,
        calibrated_probability=series,
        windows=windows,
        raw=raw_m,
        in_sample=in_m,
        out_of_sample=out_m,
        last_calibrator=last,
        full_calibrator=full,
    )
