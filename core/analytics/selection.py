"""Choosing a confidence threshold, in sample and honestly out of sample.

- :func:`select_threshold` picks the threshold of a sweep that maximises an
  objective among those keeping at least ``min_trades`` trades. Used on the whole
  history it is an *in-sample* choice: its figures are optimistic, which the
  deflated Sharpe ratio it reports (when given trades) corrects for.
- :func:`walk_forward_threshold` chooses the threshold on earlier trades only
  (purged of trades still open when the test window starts) and reports the
  next window with it: in-sample and out-of-sample figures side by side.
- :func:`percentile_policy` is the fixed rule "trade above the q-th percentile
  of the confidences seen so far", usable in the walk-forward as
  ``policy="percentile"``.

Units as in ``docs/architecture.md``: returns in percent net of costs, per-trade
Sharpe = mean / std (ddof=1), not annualised.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.analytics.overfitting import (
    DeflatedSharpeResult,
    SelectionBenchmark,
    deflate_selection,
    selection_benchmark,
)
from core.analytics.stats import wilson_interval
from core.analytics.sweep import (
    SweepResult,
    _ascending_order,
    _bin_right,
    _check_mode,
    _check_thresholds,
    _keep_count,
    apply_threshold,
    frame_records,
    sweep_arrays,
    threshold_sweep,
)
from core.errors import ConfigError, InsufficientDataError, TradesFrameError, ValidationError
from core.jsonsafe import json_safe
from core.metrics import is_win, profit_factor, return_std, sharpe_ratio, win_rate
from core.trades import validate_trades

__all__ = [
    "OBJECTIVES",
    "ThresholdChoice",
    "WalkForwardThresholdResult",
    "objective_values",
    "percentile_policy",
    "select_threshold",
    "walk_forward_threshold",
]

Objective = Literal["sharpe", "profit_factor", "win_rate", "expectancy_x_trades"]

#: Objectives a threshold can be chosen by (all maximised).
OBJECTIVES: tuple[str, ...] = ("sharpe", "profit_factor", "win_rate", "expectancy_x_trades")

#: Columns of the summary of a walk-forward (one row per label).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "trades",
    "wins",
    "win_rate",
    "win_low",
    "win_high",
    "mean_return",
    "std_return",
    "mean_return_se",
    "sharpe",
    "profit_factor",
    "total_return",
)


def objective_values(table: pd.DataFrame, objective: str) -> np.ndarray:
    """The objective of every row of a sweep table (higher is better).

    ``expectancy_x_trades`` is mean return x trades, i.e. the total return in
    percent of one position; the others are the table columns of that name.
    """
    _check_objective(objective)
    if objective == "expectancy_x_trades":
        return (table["expectancy"] * table["trades"]).to_numpy(dtype=np.float64)
    return table[objective].to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold a selection chose and its (in-sample) figures.

    Attributes
    ----------
    threshold : float
        Score (absolute mode) or percentage of trades kept (percentile mode).
    score_cutoff : float
        Lowest score kept at that threshold; apply ``score >= score_cutoff`` to
        new trades.
    objective : str
    value : float
        Objective at the threshold (may be inf for ``profit_factor``).
    trades : int
    coverage : float
    win_rate, mean_return, sharpe, profit_factor : float
        In-sample metrics at the threshold (percent, per-trade Sharpe).
    key, mode : str
    min_trades : int
    n_trials : int
        Trials counted as N of the DSR: the thresholds evaluated, or the trial
        ledger's count for the signal when it was given and is larger.
    n_eligible : int
        Thresholds keeping at least ``min_trades`` trades with a defined
        objective: the trials the choice was made among (their correlation
        gives N_eff).
    sharpe_variance : float
        V of the DSR: the mean null variance ``1 / (n_k - 1)`` of the eligible
        thresholds' Sharpe estimators (see
        :func:`core.analytics.overfitting.selection_benchmark`); NaN when no
        eligible threshold keeps 2 trades.
    n_effective : float
        Effective number of independent trials (N_eff) behind the choice; NaN
        when ``sharpe_variance`` is.
    benchmark : SelectionBenchmark or None
        N, N_eff, V and SR* together with the method's name; None when V is
        undefined.
    deflated : DeflatedSharpeResult or None
        DSR of the chosen threshold's trades against ``benchmark``; None when
        selecting from a sweep (no returns to estimate skewness and kurtosis
        from) or when it cannot be computed (fewer than 4 trades, constant
        returns).
    """

    threshold: float
    score_cutoff: float
    objective: str
    value: float
    trades: int
    coverage: float
    win_rate: float
    mean_return: float
    sharpe: float
    profit_factor: float
    key: str
    mode: str
    min_trades: int
    n_trials: int
    n_eligible: int
    sharpe_variance: float
    n_effective: float = float("nan")
    benchmark: SelectionBenchmark | None = None
    deflated: DeflatedSharpeResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (``benchmark`` and ``deflated`` nested; NaN -> None, inf -> "inf")."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("deflated", "benchmark")}
        out["benchmark"] = None if self.benchmark is None else self.benchmark.to_dict()
        out["deflated"] = None if self.deflated is None else self.deflated.to_dict()
        return json_safe(out)


def select_threshold(
    sweep_or_trades: SweepResult | pd.DataFrame,
    *,
    objective: Objective = "sharpe",
    min_trades: int = 30,
    key: str = "confidence",
    mode: Literal["absolute", "percentile"] = "absolute",
    thresholds: np.ndarray | list[float] | None = None,
    cost_bps: float = 0.0,
    n_trials: int | None = None,
) -> ThresholdChoice:
    """The threshold that maximises ``objective`` among those keeping ``min_trades``.

    Parameters
    ----------
    sweep_or_trades : SweepResult or DataFrame
        A sweep, or a trades frame to sweep (then ``key``, ``mode``,
        ``thresholds`` and ``cost_bps`` are passed to
        :func:`core.analytics.sweep.threshold_sweep` and are ignored otherwise).
    objective : {"sharpe", "profit_factor", "win_rate", "expectancy_x_trades"}
        Quantity maximised; ``expectancy_x_trades`` is the total return.
    min_trades : int, default 30
        Fewest trades a threshold must keep to be eligible.
    n_trials : int, optional
        Trials to count as N of the deflated Sharpe ratio, e.g. the trial
        ledger's count for the signal
        (:meth:`core.lifecycle.ledger.TrialLedger.count`); used when larger than
        the thresholds evaluated.

    Returns
    -------
    ThresholdChoice
        Ties go to the threshold keeping more trades, then the lower threshold.
        The choice carries its :class:`SelectionBenchmark` (N = thresholds
        evaluated or ``n_trials``, N_eff from the eligible thresholds' nested
        correlation, V = their mean null Sharpe variance); with a trades frame
        also the deflated Sharpe ratio of its trades against it
        (:func:`core.analytics.overfitting.deflate_selection`).

    Raises
    ------
    InsufficientDataError
        No threshold keeps ``min_trades`` trades with a defined objective.
    ConfigError
        Unknown objective or bad ``min_trades``.
    """
    _check_objective(objective)
    _check_min_trades(min_trades)
    trades: pd.DataFrame | None = None
    if isinstance(sweep_or_trades, SweepResult):
        sweep = sweep_or_trades
    elif isinstance(sweep_or_trades, pd.DataFrame):
        trades = sweep_or_trades
        sweep = threshold_sweep(
            trades, key=key, thresholds=thresholds, mode=mode, cost_bps=cost_bps
        )
    else:
        raise TradesFrameError(
            "select_threshold takes a SweepResult or a trades DataFrame, got "
            f"{type(sweep_or_trades).__name__}"
        )
    choice = _choose(sweep, objective, min_trades, n_trials=n_trials)
    if trades is None or choice.benchmark is None:
        return choice
    kept = apply_threshold(trades, choice.threshold, key=sweep.key, mode=sweep.mode)
    returns = kept["return_pct"].to_numpy(dtype=np.float64) - sweep.cost_bps / 100.0
    try:
        dsr = deflate_selection(returns, choice.benchmark)
    except (InsufficientDataError, ValidationError):
        # Too few or constant returns: the DSR is undefined; say so with None.
        return choice
    return _replace(choice, deflated=dsr)


def _choose(
    sweep: SweepResult, objective: str, min_trades: int, *, n_trials: int | None = None
) -> ThresholdChoice:
    table = sweep.table
    values = objective_values(table, objective)
    trades = table["trades"].to_numpy()
    eligible = (trades >= min_trades) & ~np.isnan(values)
    if not eligible.any():
        most = int(trades.max()) if trades.size else 0
        raise InsufficientDataError(
            f"no threshold keeps {min_trades} trade(s) with a defined {objective} (the most "
            f"any threshold keeps is {most} of {sweep.n_total}); lower min_trades, widen "
            "the thresholds or use more trades"
        )
    idx = np.flatnonzero(eligible)
    thr = table["threshold"].to_numpy()
    # Best value, then more trades, then the lower threshold.
    best = idx[np.lexsort((thr[idx], -trades[idx], -values[idx]))[0]]
    benchmark: SelectionBenchmark | None = None
    try:
        benchmark = selection_benchmark(trades[idx], n_evaluated=sweep.n_trials, n_trials=n_trials)
    except InsufficientDataError:
        pass  # no eligible threshold keeps 2 trades: V, N_eff and the DSR are undefined
    row = table.iloc[best]
    return ThresholdChoice(
        threshold=float(row["threshold"]),
        score_cutoff=float(row["score_cutoff"]),
        objective=objective,
        value=float(values[best]),
        trades=int(row["trades"]),
        coverage=float(row["coverage"]),
        win_rate=float(row["win_rate"]),
        mean_return=float(row["mean_return"]),
        sharpe=float(row["sharpe"]),
        profit_factor=float(row["profit_factor"]),
        key=sweep.key,
        mode=sweep.mode,
        min_trades=int(min_trades),
        n_trials=sweep.n_trials if benchmark is None else benchmark.n_trials,
        n_eligible=int(idx.size),
        sharpe_variance=float("nan") if benchmark is None else benchmark.sharpe_variance,
        n_effective=float("nan") if benchmark is None else benchmark.n_effective,
        benchmark=benchmark,
    )


def _replace(choice: ThresholdChoice, **changes: Any) -> ThresholdChoice:
    return ThresholdChoice(**{**choice.__dict__, **changes})


def percentile_policy(
    confidences: np.ndarray | pd.Series | list[float],
    *,
    q: float = 80.0,
) -> float:
    """Threshold = the q-th percentile of the confidences seen (the seed's policy).

    ``np.percentile(confidences, q)`` with linear interpolation: trading
    ``score >= threshold`` keeps roughly the top ``100 - q`` % of the window the
    confidences come from. Learn it on a training window, apply it to the next.

    Parameters
    ----------
    confidences : array_like, shape (n,)
        Finite scores of the training window, n >= 1.
    q : float, default 80.0
        Percentile in [0, 100].

    Returns
    -------
    float
        The threshold, a score.

    Raises
    ------
    ValidationError
        NaN or infinite confidences (drop them first).
    InsufficientDataError
        No confidences.
    ConfigError
        ``q`` outside [0, 100].
    """
    if not isinstance(q, int | float) or not 0.0 <= float(q) <= 100.0:
        raise ConfigError(f"q must be a percentile in [0, 100], got {q!r}; 80 keeps the top 20 %")
    c = np.asarray(confidences, dtype=np.float64).ravel()
    if c.size == 0:
        raise InsufficientDataError("percentile_policy needs at least one confidence, got none")
    bad = np.flatnonzero(~np.isfinite(c))
    if bad.size:
        raise ValidationError(
            f"confidences must be finite; position {bad[0]} holds {c[bad[0]]!r} "
            f"({bad.size} such value(s)); drop rows without a score first"
        )
    return float(np.percentile(c, float(q)))


# ----------------------------------------------------------------------------
# Walk-forward


@dataclass(frozen=True)
class WalkForwardThresholdResult:
    """A threshold chosen on past trades and judged on the next window.

    Attributes
    ----------
    windows : DataFrame, shape (n_windows, 30)
        One row per test window: ``window``; ``train_start``, ``train_end``,
        ``test_start``, ``test_end`` (entry times, UTC); ``train_trades`` (after
        purging), ``purged``, ``test_trades``; ``threshold`` (as chosen: score or
        percentage), ``score_cutoff`` (the score applied to the test window),
        ``n_eligible``; ``in_sample_*`` and ``out_of_sample_*`` objective,
        trades, coverage, win_rate, mean_return, sharpe, profit_factor; and
        ``baseline_*`` trades, win_rate, mean_return, sharpe of the whole test
        window (no threshold).
    summary : DataFrame, shape (3, 11)
        Index ``in_sample``, ``out_of_sample``, ``baseline_out_of_sample``;
        columns :data:`SUMMARY_COLUMNS`. ``out_of_sample`` pools the trades kept
        in every test window, ``baseline_out_of_sample`` every test trade, and
        ``in_sample`` the trades each window's choice kept in its training set
        (pooled across windows, so with the expanding scheme a trade can count
        more than once).
    key, objective, policy, scheme, mode : str
    q : float
        Percentile of the ``"percentile"`` policy.
    min_trades, n_windows : int
    n_trials : int
        Thresholds tried per window (1 for the percentile policy): the N to give
        :func:`core.analytics.overfitting.deflated_sharpe_ratio`.
    purge : bool
    cost_bps : float
    n_exit_imputed : int
        Trades without ``exit_time`` nor ``holding_days`` whose exit was taken
        to be their entry time (they could not be purged).
    oos_index : Index
        Index labels (in the input frame) of the trades kept out of sample.
    """

    windows: pd.DataFrame
    summary: pd.DataFrame
    key: str
    objective: str
    policy: str
    scheme: str
    mode: str
    q: float
    min_trades: int
    n_windows: int
    n_trials: int
    purge: bool
    cost_bps: float
    n_exit_imputed: int
    oos_index: pd.Index

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: parameters, ``windows`` rows and ``summary`` by label."""
        summary = {
            str(label): json_safe(row) for label, row in self.summary.to_dict("index").items()
        }
        params = {
            k: v for k, v in self.__dict__.items() if k not in ("windows", "summary", "oos_index")
        }
        return {
            **json_safe(params),
            "windows": frame_records(self.windows),
            "summary": summary,
            "oos_trades": len(self.oos_index),
        }


def walk_forward_threshold(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    objective: Objective = "sharpe",
    min_trades: int = 30,
    n_windows: int = 6,
    scheme: Literal["expanding", "rolling"] = "expanding",
    mode: Literal["absolute", "percentile"] = "absolute",
    thresholds: np.ndarray | list[float] | None = None,
    purge: bool = True,
    policy: Literal["optimise", "percentile"] = "optimise",
    q: float = 80.0,
    cost_bps: float = 0.0,
) -> WalkForwardThresholdResult:
    """Choose the threshold in sample, judge it out of sample, window by window.

    Trades are put in ``entry_time`` order and cut into ``n_windows + 1`` blocks
    of (nearly) equal count; a block boundary never splits trades with the same
    entry time. Test window ``w`` (1..n_windows) is block ``w``; its training set
    is blocks ``0..w-1`` (``scheme="expanding"``) or block ``w-1``
    (``"rolling"``). With ``purge`` the training trades whose exit is at or after
    the first entry of the test window are dropped: their outcome was not known
    when the test window began. A missing ``exit_time`` is taken as
    ``entry_time`` plus ``ceil(holding_days)`` business days (weekdays), and when
    ``holding_days`` is missing too, as ``entry_time`` (with a warning).

    Parameters
    ----------
    trades : DataFrame
        Trades frame with ``entry_time`` (no NaT), ``key``, ``return_pct``,
        ``win``; ``exit_time`` and ``holding_days`` are used for purging when
        present. Rows with a NaN ``key`` are dropped.
    key : str, default "confidence"
    objective : str, default "sharpe"
        See :func:`select_threshold`.
    min_trades : int, default 30
        Fewest training trades a threshold must keep to be chosen.
    n_windows : int, default 6
        Number of test windows (>= 1).
    scheme : {"expanding", "rolling"}, default "expanding"
    mode : {"absolute", "percentile"}, default "absolute"
        How the thresholds are applied in the training sweep. A percentile
        choice is carried to the test window as the training score cutoff
        (``score >= score_cutoff``), so the test window's own score distribution
        is never used.
    thresholds : array_like, optional
        Grid of the training sweep (see :func:`core.analytics.sweep.threshold_sweep`).
    purge : bool, default True
    policy : {"optimise", "percentile"}, default "optimise"
        ``"optimise"``: maximise ``objective`` over the grid;
        ``"percentile"``: threshold = :func:`percentile_policy` of the training
        scores at ``q`` (no search: one trial).
    q : float, default 80.0
        Percentile of the percentile policy.
    cost_bps : float, default 0.0
        Extra round-trip cost in basis points subtracted from every trade.

    Returns
    -------
    WalkForwardThresholdResult

    Raises
    ------
    TradesFrameError
        Missing or NaT ``entry_time`` or any :func:`core.trades.validate_trades`
        failure.
    InsufficientDataError
        Too few trades for the windows, or a training window where no threshold
        keeps ``min_trades`` trades (the message names the window).
    ConfigError
        Bad option.

    References
    ----------
    M. López de Prado, *Advances in Financial Machine Learning*, Wiley (2018),
    ch. 7 (purged cross-validation) and ch. 12 (walk-forward backtesting).
    """
    _check_objective(objective)
    _check_min_trades(min_trades)
    _check_mode(mode)
    if isinstance(n_windows, bool) or not isinstance(n_windows, int | np.integer) or n_windows < 1:
        raise ConfigError(f"n_windows must be an integer >= 1, got {n_windows!r}")
    if scheme not in ("expanding", "rolling"):
        raise ConfigError(f"scheme must be 'expanding' or 'rolling', got {scheme!r}")
    if policy not in ("optimise", "percentile"):
        raise ConfigError(f"policy must be 'optimise' or 'percentile', got {policy!r}")
    if not isinstance(q, int | float) or not 0.0 <= float(q) <= 100.0:
        raise ConfigError(f"q must be a percentile in [0, 100], got {q!r}")
    if not isinstance(cost_bps, int | float) or not math.isfinite(cost_bps) or cost_bps < 0:
        raise ConfigError(f"cost_bps must be a finite number >= 0, got {cost_bps!r}")
    grid = _check_thresholds(thresholds, mode)

    usable = validate_trades(trades, key=key, min_rows=2 * (n_windows + 1))
    if "entry_time" not in usable:
        raise TradesFrameError(
            "walk_forward_threshold needs an entry_time column to order the trades in time"
        )
    entry = pd.to_datetime(usable["entry_time"], utc=True)
    if entry.isna().any():
        i = int(np.flatnonzero(entry.isna().to_numpy())[0])
        raise TradesFrameError(
            f"entry_time is NaT at row {i} ({usable.index[i]!r}); every trade needs an entry time"
        )
    # Arrays in time order, never a reordered copy of the frame (taking a million
    # rows of its text columns cost more than every sweep below).
    entry_ns = _utc_ns(entry)
    exits, n_imputed = _effective_exit_ns(usable, entry_ns)
    score = usable[key].to_numpy(dtype=np.float64)
    ret = usable["return_pct"].to_numpy(dtype=np.float64) - cost_bps / 100.0
    order: np.ndarray | None = None
    if (np.diff(entry_ns) < 0).any():
        order = np.argsort(entry_ns, kind="stable")
        entry_ns, exits, score, ret = entry_ns[order], exits[order], score[order], ret[order]
    times = entry_ns
    if purge and n_imputed:
        warnings.warn(
            f"{n_imputed} trade(s) have neither exit_time nor holding_days; their exit is "
            "taken as their entry time, so they cannot be purged",
            UserWarning,
            stacklevel=2,
        )
    bounds = time_blocks(times, n_windows + 1)
    # Every training sweep bins its trades among the same grid: bin them all once.
    bins = _bin_right(score, grid) if mode == "absolute" and policy == "optimise" else None

    rows: list[dict[str, Any]] = []
    is_parts: list[np.ndarray] = []
    oos_parts: list[np.ndarray] = []
    base_parts: list[np.ndarray] = []
    oos_positions: list[np.ndarray] = []
    for w in range(1, n_windows + 1):
        test = np.arange(bounds[w], bounds[w + 1])
        train_lo = 0 if scheme == "expanding" else bounds[w - 1]
        span = slice(train_lo, bounds[w])
        test_start = times[bounds[w]]
        n_before = bounds[w] - train_lo
        # The training rows as a slice, compressed by the purge mask: no gathers.
        unpurged = exits[span] < test_start if purge else None

        def training(x: np.ndarray, span: slice = span, unpurged: Any = unpurged) -> np.ndarray:
            return x[span] if unpurged is None else x[span][unpurged]

        train = np.arange(train_lo, bounds[w])
        if unpurged is not None:
            train = train[unpurged]
        s_train, r_train = training(score), training(ret)
        if train.size == 0:
            raise InsufficientDataError(
                f"window {w}: every training trade is still open at the test start "
                f"({pd.Timestamp(test_start, tz='UTC')}); use fewer windows or purge=False"
            )
        if policy == "optimise":
            # The training rows of the validated arrays: validated once, above.
            sweep = sweep_arrays(
                s_train,
                r_train,
                grid,
                key=key,
                mode=mode,
                cost_bps=cost_bps,
                bins=None if bins is None else training(bins),
            )
            try:
                choice = _choose(sweep, objective, min_trades)
            except InsufficientDataError as exc:
                raise InsufficientDataError(f"window {w} (training set): {exc}") from exc
            threshold, cutoff, n_eligible = choice.threshold, choice.score_cutoff, choice.n_eligible
            if mode == "absolute":
                cutoff = threshold  # the rule applied in sample is score >= threshold
        else:
            threshold = cutoff = percentile_policy(s_train, q=q)
            n_eligible = 1
        if mode == "percentile" and policy == "optimise":
            # The exact top-k set the training sweep scored (ties by time order).
            top = _ascending_order(s_train, "percentile")
            k = int(_keep_count(np.array([threshold]), train.size)[0])
            is_ret = r_train[np.sort(top[train.size - k :])]
        else:
            is_ret = r_train[s_train >= cutoff]
        keep_test = score[test] >= cutoff
        oos_ret = ret[test][keep_test]
        is_book = _book(is_ret)
        oos_book = _book(oos_ret)
        base_book = _book(ret[test])
        is_parts.append(is_ret)
        oos_parts.append(oos_ret)
        base_parts.append(ret[test])
        oos_positions.append(test[keep_test])
        row: dict[str, Any] = {
            "window": w,
            "train_start": pd.Timestamp(times[train[0]], tz="UTC"),
            "train_end": pd.Timestamp(times[train[-1]], tz="UTC"),
            "test_start": pd.Timestamp(times[test[0]], tz="UTC"),
            "test_end": pd.Timestamp(times[test[-1]], tz="UTC"),
            "train_trades": int(train.size),
            "purged": int(n_before - train.size),
            "test_trades": int(test.size),
            "threshold": float(threshold),
            "score_cutoff": float(cutoff),
            "n_eligible": int(n_eligible),
        }
        for label, book, total in (
            ("in_sample", is_book, train.size),
            ("out_of_sample", oos_book, test.size),
        ):
            row[f"{label}_objective"] = _objective_of(book, objective)
            row[f"{label}_trades"] = book["trades"]
            row[f"{label}_coverage"] = book["trades"] / total if total else float("nan")
            for metric in ("win_rate", "mean_return", "sharpe", "profit_factor"):
                row[f"{label}_{metric}"] = book[metric]
        for metric in ("trades", "win_rate", "mean_return", "sharpe"):
            row[f"baseline_{metric}"] = base_book[metric]
        rows.append(row)

    windows = pd.DataFrame(rows)
    summary = pd.DataFrame(
        [
            _book(np.concatenate(is_parts)),
            _book(np.concatenate(oos_parts)),
            _book(np.concatenate(base_parts)),
        ],
        index=pd.Index(["in_sample", "out_of_sample", "baseline_out_of_sample"], name="sample"),
        columns=list(SUMMARY_COLUMNS),
    )
    return WalkForwardThresholdResult(
        windows=windows,
        summary=summary,
        key=key,
        objective=objective,
        policy=policy,
        scheme=scheme,
        mode=mode,
        q=float(q),
        min_trades=int(min_trades),
        n_windows=int(n_windows),
        n_trials=int(grid.size) if policy == "optimise" else 1,
        purge=bool(purge),
        cost_bps=float(cost_bps),
        n_exit_imputed=int(n_imputed),
        oos_index=usable.index[_row_positions(np.concatenate(oos_positions), order)],
    )


# ----------------------------------------------------------------------------
# helpers


def _check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}")


def _check_min_trades(min_trades: int) -> None:
    if isinstance(min_trades, bool) or not isinstance(min_trades, int | np.integer):
        raise ConfigError(f"min_trades must be an integer >= 1, got {min_trades!r}")
    if min_trades < 1:
        raise ConfigError(f"min_trades must be an integer >= 1, got {min_trades!r}")


def _book(returns: np.ndarray) -> dict[str, Any]:
    """Metrics of one set of trade returns (percent), named as the sweep's columns.

    Win rate, mean, Sharpe and profit factor are those of
    :func:`core.metrics.performance_metrics`; ``std_return`` is
    :func:`core.metrics.return_std` (0 for equal returns, like the sweep).
    """
    r = np.asarray(returns, dtype=np.float64)
    k = int(r.size)
    won = is_win(r)
    wins = int(np.count_nonzero(won))
    low, high = wilson_interval(wins, k)
    std = return_std(r)
    # performance_metrics' expressions for these four, through the same kernels,
    # without its median, Sortino and notes (a sixth of the walk-forward's time).
    mean = float(r.mean()) if k else math.nan
    return {
        "trades": k,
        "wins": wins,
        "win_rate": win_rate(wins, k) if k else math.nan,
        "win_low": float(low) if k else math.nan,
        "win_high": float(high) if k else math.nan,
        "mean_return": mean,
        "std_return": std,
        "mean_return_se": std / math.sqrt(k) if k >= 2 else math.nan,
        "sharpe": sharpe_ratio(mean, std) if k else math.nan,
        "profit_factor": (
            profit_factor(float(r[won].sum()), float(-r[r < 0].sum())) if k else math.nan
        ),
        "total_return": float(r.sum()),
    }


def _objective_of(book: dict[str, Any], objective: str) -> float:
    if objective == "expectancy_x_trades":
        return float(book["total_return"])
    return float(book[objective])


def time_blocks(times: np.ndarray, n_blocks: int) -> np.ndarray:
    """Start positions of ``n_blocks`` near-equal blocks of sorted ``times``, plus ``n``.

    Trades with equal times stay in one block (the walk-forward windows of the threshold
    choice and of bet sizing are cut by this one rule).
    """
    n = times.size
    raw = np.round(np.arange(n_blocks + 1) * n / n_blocks).astype(np.int64)
    inner = np.searchsorted(times, times[raw[1:-1]], side="left")
    bounds = np.concatenate([[0], inner, [n]])
    if (np.diff(bounds) <= 0).any():
        raise InsufficientDataError(
            f"cannot cut {n} trades into {n_blocks} time blocks: too many trades share an "
            "entry time; use fewer windows"
        )
    return bounds


def _effective_exit_ns(frame: pd.DataFrame, entry_ns: np.ndarray) -> tuple[np.ndarray, int]:
    """Exit times (int ns, UTC) with NaT filled from holding_days business days."""
    n = entry_ns.size
    if "exit_time" in frame:
        exit_time = pd.to_datetime(frame["exit_time"], utc=True)
        missing = exit_time.isna().to_numpy()
        exits = np.where(missing, entry_ns, _utc_ns(exit_time))
    else:
        missing = np.ones(n, dtype=bool)
        exits = entry_ns.copy()
    if not missing.any():
        return exits, 0
    if "holding_days" in frame:
        hold = frame["holding_days"].to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        hold = np.full(n, np.nan)
    derive = missing & np.isfinite(hold) & (hold >= 0)
    if derive.any():
        entry = entry_ns[derive].astype("datetime64[ns]")
        day = entry.astype("datetime64[D]")
        time_of_day = entry - day.astype("datetime64[ns]")
        moved = np.busday_offset(day, np.ceil(hold[derive]).astype(np.int64), roll="forward")
        exits[derive] = (moved.astype("datetime64[ns]") + time_of_day).astype(np.int64)
    return exits, int((missing & ~derive).sum())


def _row_positions(sorted_positions: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """Row positions of positions in time order (``order`` None: the rows were in order)."""
    return sorted_positions if order is None else order[sorted_positions]


def _utc_ns(times: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of a tz-aware series; NaT -> INT64 min.

    Read from the int64 values the series holds (UTC whatever its zone): no
    converted copies, no Python objects.
    """
    return np.asarray(times.dt.as_unit("ns").array.asi8)
