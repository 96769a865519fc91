"""One call per question: the confidence analysis and the threshold analysis of a run.

:func:`analyze_run` answers "is my confidence informative and calibrated?" in
one frozen :class:`ConfidenceAnalysis` (the seed's
``analyze_confidence_distribution``, with intervals): distribution summary,
correlations with returns and wins, the decile table, the fixed-bin table, the
reliability curve and every calibration metric.

:func:`analyze_thresholds` answers "which threshold should I trade at, and
does the choice hold up?" in one frozen :class:`ThresholdAnalysis`: the sweep
(with bootstrap bands), the in-sample choice, the walk-forward out-of-sample
result, the probabilistic and deflated Sharpe ratios of the chosen threshold
(the one benchmark rule of
:func:`core.analytics.overfitting.selection_benchmark`, the same N, N_eff and V
as :func:`core.analytics.selection.select_threshold`) and the probability of
backtest overfitting of the whole sweep.

Both are pure functions of a trades frame (:mod:`core.trades`): they only call
the analytics functions of this package, never reimplement them, and return
results with ``to_dict()`` (JSON-safe) and ``tables()`` (every table as a
DataFrame, for CSV export).

Units follow ``docs/architecture.md``: ``return_pct`` in percent net of costs,
win rates and coverage as fractions, per-trade Sharpe = mean / std (ddof=1),
not annualised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.analytics.calibration import (
    CalibrationMetrics,
    ReliabilityCurve,
    calibration_report,
    json_safe,
    reliability_curve,
)
from core.analytics.calibrators import CALIBRATION_METHODS
from core.analytics.confidence import (
    BinTable,
    ConfidenceCorrelations,
    ConfidenceSummary,
    confidence_correlations,
    confidence_summary,
    fixed_bin_table,
    quantile_table,
)
from core.analytics.overfitting import (
    DeflatedSharpeResult,
    PBOResult,
    deflate_selection,
    probabilistic_sharpe_ratio_from_returns,
    probability_of_backtest_overfitting,
    sweep_return_matrix,
)
from core.analytics.selection import (
    ThresholdChoice,
    WalkForwardThresholdResult,
    select_threshold,
    walk_forward_threshold,
)
from core.analytics.sweep import SweepResult, kept_mask, threshold_sweep
from core.analytics.walkforward import WalkForwardResult, walk_forward_calibrate
from core.errors import ConfigError, InsufficientDataError
from core.trades import validate_trades

__all__ = [
    "TOTALS_METRICS",
    "ConfidenceAnalysis",
    "ThresholdAnalysis",
    "analyze_run",
    "analyze_thresholds",
    "calibration_totals",
    "calibrator_curves",
    "ensure_calibrated",
]


def _one_row(d: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([d])


# --------------------------------------------------------------------------- confidence


@dataclass(frozen=True, eq=False)
class ConfidenceAnalysis:
    """Everything about one confidence key of one set of trades.

    Attributes
    ----------
    key : str
        The score analysed (``"confidence"`` or ``"calibrated_probability"``).
    n_trades : int
        Rows of the trades frame given.
    n_scored : int
        Rows with a score (the others are left out of every figure).
    summary : ConfidenceSummary
        Count, moments, quantiles of the score.
    correlations : ConfidenceCorrelations
        Pearson / Spearman with ``return_pct``, point-biserial / Spearman with
        ``win``, with Fisher-z intervals.
    deciles : BinTable
        Trading figures per quantile bin (``n_bins`` equal-mass bins).
    fixed_bins : BinTable
        Trading figures per equal-width bin on [0, 1].
    reliability : ReliabilityCurve
        Observed win frequency against the mean score per bin, with Wilson
        intervals.
    calibration : CalibrationMetrics
        ECE (with its bootstrap interval when asked), MCE, ACE, Brier score and
        its decomposition, log loss.
    """

    key: str
    n_trades: int
    n_scored: int
    summary: ConfidenceSummary
    correlations: ConfidenceCorrelations
    deciles: BinTable
    fixed_bins: BinTable
    reliability: ReliabilityCurve
    calibration: CalibrationMetrics

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table, by name: ``summary``, ``correlations``, ``deciles``,
        ``fixed_bins``, ``reliability``, ``calibration`` (one-row frames for the
        scalar results)."""
        return {
            "summary": _one_row(self.summary.to_dict()),
            "correlations": self.correlations.to_frame(),
            "deciles": self.deciles.table,
            "fixed_bins": self.fixed_bins.table,
            "reliability": self.reliability.to_frame(),
            "calibration": _one_row(self.calibration.to_dict()),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of every part (NaN -> None, inf -> "inf")."""
        return {
            "key": self.key,
            "n_trades": int(self.n_trades),
            "n_scored": int(self.n_scored),
            "summary": self.summary.to_dict(),
            "correlations": self.correlations.to_dict(),
            "deciles": self.deciles.to_dict(),
            "fixed_bins": self.fixed_bins.to_dict(),
            "reliability": self.reliability.to_dict(),
            "calibration": self.calibration.to_dict(),
        }


def analyze_run(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    n_bins: int = 10,
    reliability_strategy: Literal["uniform", "quantile"] = "uniform",
    level: float = 0.95,
    bootstrap: bool | None = None,
    n_boot: int = 1000,
    ece_interval: bool = True,
    seed: int = 0,
) -> ConfidenceAnalysis:
    """Is the confidence informative and calibrated? Every figure in one result.

    Parameters
    ----------
    trades : DataFrame
        A trades frame with ``key``, ``return_pct`` (percent, net of costs) and
        ``win``; rows whose ``key`` is NaN are left out.
    key : str, default "confidence"
        Score column, values in [0, 1].
    n_bins : int, default 10
        Bins of the decile table (equal mass), the fixed-bin table (equal
        width), the reliability curve and the binned calibration metrics.
    reliability_strategy : {"uniform", "quantile"}, default "uniform"
        Binning of the reliability curve, the ECE, MCE and Brier decomposition.
    level : float, default 0.95
        Confidence level of every interval.
    bootstrap : bool or None, default None
        Intervals of the per-bin mean/median return (see
        :func:`core.analytics.confidence.quantile_table`): None bootstraps up to
        20,000 trades and uses analytic intervals above.
    n_boot : int, default 1000
        Bootstrap replicates of the bin tables (the ECE interval uses 200).
    ece_interval : bool, default True
        Add the bootstrap interval of the ECE to ``calibration``.
    seed : int, default 0
        Seed of every bootstrap.

    Returns
    -------
    ConfidenceAnalysis

    Raises
    ------
    TradesFrameError
        A column is missing or holds invalid values.
    InsufficientDataError
        Fewer than 4 trades have a score (the correlations need 4).
    """
    usable = validate_trades(trades, key=key, min_rows=4)
    prob = usable[key].to_numpy(dtype=np.float64)
    win = usable["win"].to_numpy().astype(np.float64)
    options = {
        "level": level,
        "bootstrap": bootstrap,
        "n_boot": n_boot,
        "seed": seed,
        "key": key,
        "n_bins": n_bins,
    }
    return ConfidenceAnalysis(
        key=key,
        n_trades=len(trades),
        n_scored=len(usable),
        summary=confidence_summary(usable, key=key),
        correlations=confidence_correlations(usable, key=key, level=level),
        deciles=quantile_table(usable, **options),
        fixed_bins=fixed_bin_table(usable, **options),
        reliability=reliability_curve(
            prob, win, n_bins=n_bins, strategy=reliability_strategy, level=level
        ),
        calibration=calibration_report(
            prob,
            win,
            n_bins=n_bins,
            strategy=reliability_strategy,
            ece_interval=ece_interval,
            level=level,
            seed=seed,
        ),
    )


# --------------------------------------------------------------------------- calibration helpers


def ensure_calibrated(
    trades: pd.DataFrame,
    *,
    method: str = "isotonic",
    n_windows: int = 12,
    min_train: int = 200,
    force: bool = False,
) -> tuple[pd.DataFrame, WalkForwardResult | None]:
    """Trades with an out-of-sample ``calibrated_probability``, computed if absent.

    When ``calibrated_probability`` is missing or entirely NaN (or ``force``),
    the raw ``confidence`` is calibrated walk-forward
    (:func:`core.analytics.walkforward.walk_forward_calibrate`: each window
    scored by a calibrator fitted only on trades resolved before it) and the
    result replaces the column in a copy; trades in the first window(s),
    without enough history, stay NaN. Otherwise ``trades`` is returned as is.

    Parameters
    ----------
    trades : DataFrame
        A trades frame with ``confidence``, ``win``, ``return_pct``,
        ``entry_time`` and ``exit_time`` and/or ``holding_days``.
    method : {"isotonic", "platt", "beta", "histogram"}, default "isotonic"
    n_windows : int, default 12
    min_train : int, default 200
        Fewest training trades to fit a window's calibrator.
    force : bool, default False
        Recompute even when the column has values.

    Returns
    -------
    trades : DataFrame
        ``trades`` itself, or a copy with the computed column.
    result : WalkForwardResult or None
        How the column was computed (None when it was already present).
    """
    present = (
        "calibrated_probability" in trades.columns
        and trades["calibrated_probability"].notna().any()
    )
    if present and not force:
        return trades, None
    result = walk_forward_calibrate(
        trades, method=method, key="confidence", n_windows=n_windows, min_train=min_train
    )
    out = trades.copy()
    out["calibrated_probability"] = result.calibrated_probability.to_numpy()
    if not out["calibrated_probability"].notna().any():
        raise InsufficientDataError(
            f"walk-forward {method} calibration produced no out-of-sample probability: no window "
            f"had {min_train} earlier trades with known outcomes ({len(trades)} trades, "
            f"{n_windows} windows); use fewer windows or a lower min_train"
        )
    return out, result


def calibrator_curves(
    trades: pd.DataFrame,
    *,
    methods: tuple[str, ...] = CALIBRATION_METHODS,
    n_windows: int = 12,
    min_train: int = 200,
    n_bins: int = 10,
) -> tuple[dict[str, ReliabilityCurve], dict[str, WalkForwardResult]]:
    """Out-of-sample reliability curves of each calibrator, beside the raw score's.

    Each method is fitted walk-forward on ``confidence``; its curve is the
    reliability of its out-of-sample probabilities, and ``"raw"`` is the curve
    of the raw confidence on the same (evaluated) trades, so the curves compare
    like with like.

    Returns
    -------
    curves : dict of str to ReliabilityCurve
        ``"raw"`` first, then one per method that evaluated at least one
        window.
    results : dict of str to WalkForwardResult
        The walk-forward result per method.

    Raises
    ------
    InsufficientDataError
        No method evaluated any window (too few trades for ``min_train``).
    """
    curves: dict[str, ReliabilityCurve] = {}
    results: dict[str, WalkForwardResult] = {}
    raw_mask: np.ndarray | None = None
    for method in methods:
        res = walk_forward_calibrate(
            trades, method=method, n_windows=n_windows, min_train=min_train, n_bins=n_bins
        )
        p = res.calibrated_probability.to_numpy(dtype=np.float64)
        ok = ~np.isnan(p)
        if not ok.any():
            continue
        win = trades["win"].to_numpy().astype(np.float64)
        if raw_mask is None:
            raw_mask = ok
            conf = trades["confidence"].to_numpy(dtype=np.float64)
            curves["raw"] = reliability_curve(conf[ok], win[ok], n_bins=n_bins)
        curves[method] = reliability_curve(p[ok], win[ok], n_bins=n_bins)
        results[method] = res
    if not results:
        raise InsufficientDataError(
            f"no calibrator could be fitted walk-forward: no window had {min_train} earlier "
            f"trades ({len(trades)} trades, {n_windows} windows); use fewer windows or more trades"
        )
    return curves, results


#: Rows of :func:`calibration_totals`, in order.
TOTALS_METRICS: tuple[str, ...] = (
    "n", "base_rate", "ece", "mce", "ace", "brier", "rel", "res", "unc", "log_loss",
)  # fmt: skip


def calibration_totals(result: WalkForwardResult) -> pd.DataFrame:
    """Numeric calibration metrics of a walk-forward, side by side.

    Index ``metric`` (:data:`TOTALS_METRICS`); float columns ``raw``,
    ``in_sample``, ``out_of_sample`` (those :meth:`WalkForwardResult.totals`
    has). Empty when nothing was evaluated.
    """
    totals = result.totals()
    if totals.empty:
        return pd.DataFrame(columns=["raw", "in_sample", "out_of_sample"], dtype=np.float64)
    rows = [m for m in TOTALS_METRICS if m in totals.index]
    out = totals.loc[rows].astype(np.float64)
    out.index.name = "metric"
    return out


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True, eq=False)
class ThresholdAnalysis:
    """Which threshold to trade at, chosen in sample and judged out of sample.

    Attributes
    ----------
    key, mode, objective : str
        Score swept, ``"absolute"``/``"percentile"`` and the objective maximised.
    min_trades : int
        Fewest trades a threshold must keep to be chosen.
    sweep : SweepResult
        Every threshold's figures over all trades (with bootstrap bands when
        asked).
    choice : ThresholdChoice
        The in-sample choice over the whole history: its figures are
        optimistic (it was picked for them).
    psr : float or None
        Probabilistic Sharpe ratio of the chosen threshold's trades against 0
        (no correction for the search); None when undefined (fewer than 4
        trades or constant returns).
    deflated : DeflatedSharpeResult or None
        Deflated Sharpe ratio of the chosen threshold against
        ``choice.benchmark`` (N = every threshold tried or the ledger's count,
        N_eff from the eligible thresholds' correlation, V their null Sharpe
        variance): the same figure ``select_threshold`` reports. None when
        undefined (see ``notes``).
    walk_forward : WalkForwardThresholdResult or None
        The threshold chosen on earlier trades only, scored on the next window;
        None when the trades cannot fill the windows (see ``notes``).
    pbo : PBOResult or None
        Probability of backtest overfitting of the sweep (CSCV over
        ``pbo_periods`` time blocks of trades); None when undefined.
    notes : tuple of str
        Why a part is None, in words.
    """

    key: str
    mode: str
    objective: str
    min_trades: int
    sweep: SweepResult
    choice: ThresholdChoice
    psr: float | None
    deflated: DeflatedSharpeResult | None
    walk_forward: WalkForwardThresholdResult | None
    pbo: PBOResult | None
    notes: tuple[str, ...] = ()

    def selection(self) -> dict[str, Any]:
        """The in-sample choice with its PSR, DSR and PBO, flat (JSON-safe)."""
        out = {k: v for k, v in self.choice.to_dict().items() if k != "deflated"}
        out["psr"] = self.psr
        d = self.deflated
        out["dsr"] = None if d is None else d.dsr
        out["dsr_sr_star"] = None if d is None else d.sr_star
        out["dsr_n_trials"] = None if d is None else d.n_trials
        out["dsr_n_effective"] = None if d is None else d.n_effective
        out["dsr_sharpe_variance"] = None if d is None else d.sharpe_variance
        out["dsr_method"] = None if d is None else d.method
        out["dsr_significant"] = None if d is None else d.significant
        out["pbo"] = None if self.pbo is None else self.pbo.pbo
        out["pbo_prob_oos_loss"] = None if self.pbo is None else self.pbo.prob_oos_loss
        return json_safe(out)

    def sample_comparison(self) -> pd.DataFrame:
        """In-sample against out-of-sample figures, side by side.

        Index: metric (``trades``, ``win_rate``, ``mean_return``, ``sharpe``,
        ``profit_factor``, ``total_return``); columns ``in_sample`` (the choice
        over all trades), ``walk_forward_in_sample`` (each window's choice on
        its own training trades, pooled), ``out_of_sample`` (the walk-forward
        choices on the next windows, pooled) and ``baseline_out_of_sample``
        (every trade of the test windows). Without a walk-forward, only
        ``in_sample``.
        """
        metrics = ["trades", "win_rate", "mean_return", "sharpe", "profit_factor"]
        c = self.choice
        cols: dict[str, dict[str, float]] = {
            "in_sample": {m: float(getattr(c, m)) for m in metrics},
        }
        cols["in_sample"]["total_return"] = float(
            self.sweep.table.loc[self.sweep.table["threshold"] == c.threshold, "total_return"].iloc[
                0
            ]
        )
        if self.walk_forward is not None:
            s = self.walk_forward.summary
            for label, name in (
                ("in_sample", "walk_forward_in_sample"),
                ("out_of_sample", "out_of_sample"),
                ("baseline_out_of_sample", "baseline_out_of_sample"),
            ):
                row = s.loc[label]
                cols[name] = {m: float(row[m]) for m in [*metrics, "total_return"]}
        frame = pd.DataFrame(cols)
        frame.index.name = "metric"
        return frame

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table: ``sweep``, ``selection`` (one row), ``sample_comparison``,
        and with a walk-forward ``walk_forward_windows`` and
        ``walk_forward_summary``; with PBO ``pbo`` (one row)."""
        out: dict[str, pd.DataFrame] = {
            "sweep": self.sweep.table,
            "selection": _one_row(self.selection()),
            "sample_comparison": self.sample_comparison().reset_index(),
        }
        if self.walk_forward is not None:
            out["walk_forward_windows"] = self.walk_forward.windows
            out["walk_forward_summary"] = self.walk_forward.summary.reset_index()
        if self.pbo is not None:
            p = self.pbo.to_dict()
            out["pbo"] = _one_row({k: v for k, v in p.items() if not isinstance(v, list)})
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of every part (the PBO without its per-combination arrays)."""
        pbo = None
        if self.pbo is not None:
            pbo = {k: v for k, v in self.pbo.to_dict().items() if not isinstance(v, list)}
        return {
            "key": self.key,
            "mode": self.mode,
            "objective": self.objective,
            "min_trades": int(self.min_trades),
            "sweep": self.sweep.to_dict(),
            "choice": self.choice.to_dict(),
            "selection": self.selection(),
            "psr": json_safe(self.psr),
            "deflated": None if self.deflated is None else self.deflated.to_dict(),
            "walk_forward": None if self.walk_forward is None else self.walk_forward.to_dict(),
            "sample_comparison": json_safe(self.sample_comparison().to_dict()),
            "pbo": pbo,
            "notes": list(self.notes),
        }


def analyze_thresholds(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    mode: Literal["absolute", "percentile"] = "absolute",
    objective: Literal["sharpe", "profit_factor", "win_rate", "expectancy_x_trades"] = "sharpe",
    min_trades: int = 30,
    thresholds: np.ndarray | list[float] | None = None,
    bands: bool = True,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    cost_bps: float = 0.0,
    n_windows: int = 6,
    scheme: Literal["expanding", "rolling"] = "expanding",
    purge: bool = True,
    pbo_splits: int = 16,
    pbo_periods: int = 500,
    n_trials: int | None = None,
) -> ThresholdAnalysis:
    """Sweep, choose in sample, judge out of sample, and measure the selection bias.

    Parameters
    ----------
    trades : DataFrame
        A trades frame with ``key``, ``return_pct``, ``win`` and
        ``entry_time`` (and ``exit_time``/``holding_days`` for the purge).
    key : str, default "confidence"
    mode : {"absolute", "percentile"}, default "absolute"
        Thresholds on the score, or percentages of trades kept (top).
    objective : {"sharpe", "profit_factor", "win_rate", "expectancy_x_trades"}
        What the choice maximises (see
        :func:`core.analytics.selection.select_threshold`).
    min_trades : int, default 30
        Fewest trades a threshold must keep to be chosen.
    thresholds : array_like, optional
        The grid (default 0.00, 0.01, ..., 1.00 or 1, 2, ..., 100 %).
    bands : bool, default True
        Bootstrap bands of the sweep (``n_boot`` Poisson replicates).
    n_boot : int, default 200
    level : float, default 0.95
    seed : int, default 0
    cost_bps : float, default 0.0
        Extra round-trip cost in basis points subtracted from every trade.
    n_windows : int, default 6
        Test windows of the walk-forward threshold selection.
    scheme : {"expanding", "rolling"}, default "expanding"
    purge : bool, default True
        Drop training trades still open when a test window starts.
    pbo_splits : int, default 16
        Blocks S of the CSCV (C(16, 8) = 12,870 combinations).
    pbo_periods : int, default 500
        Rows of the PBO matrix: the trades, in time order, are cut into
        ``min(pbo_periods, n)`` groups of nearly equal count and each cell is
        the summed return of the group's trades a threshold keeps (percent).
    n_trials : int, optional
        Trials to count as N of the deflated Sharpe ratio: the trial ledger's
        count for the signal (:meth:`core.lifecycle.ledger.TrialLedger.count`);
        used when larger than the thresholds of the sweep.

    Returns
    -------
    ThresholdAnalysis
        The walk-forward, PSR/DSR and PBO parts are None (with the reason in
        ``notes``) when the data cannot support them; the sweep and the choice
        are always there.

    Raises
    ------
    TradesFrameError
        A column is missing or holds invalid values.
    InsufficientDataError
        No threshold keeps ``min_trades`` trades.
    ConfigError
        A bad option.

    References
    ----------
    D. H. Bailey and M. López de Prado, "The Deflated Sharpe Ratio", Journal of
    Portfolio Management 40(5) (2014) 94-107.
    D. H. Bailey, J. M. Borwein, M. López de Prado and Q. J. Zhu, "The
    Probability of Backtest Overfitting", Journal of Computational Finance
    20(4) (2017) 39-69.
    """
    if isinstance(pbo_periods, bool) or not isinstance(pbo_periods, int) or pbo_periods < 2:
        raise ConfigError(f"pbo_periods must be an integer >= 2, got {pbo_periods!r}; use 500")
    sweep = threshold_sweep(
        trades,
        key=key,
        thresholds=thresholds,
        mode=mode,
        bands=bands,
        n_boot=n_boot,
        level=level,
        seed=seed,
        cost_bps=cost_bps,
    )
    choice = select_threshold(sweep, objective=objective, min_trades=min_trades, n_trials=n_trials)
    notes: list[str] = []

    # The chosen threshold's returns from arrays: the frame was validated by the sweep
    # and is not copied (validate_trades returns it as is when every score is there).
    usable = validate_trades(trades, key=key)
    score = usable[key].to_numpy(dtype=np.float64)
    keep = kept_mask(score, choice.threshold, mode)
    returns = usable["return_pct"].to_numpy(dtype=np.float64)[keep] - cost_bps / 100.0
    psr: float | None = None
    deflated: DeflatedSharpeResult | None = None
    try:
        psr = probabilistic_sharpe_ratio_from_returns(returns)
    except InsufficientDataError as exc:
        notes.append(f"PSR undefined for the chosen threshold: {exc}")
    if psr is not None:
        if choice.benchmark is not None:
            deflated = deflate_selection(returns, choice.benchmark)
        else:
            notes.append(
                "DSR undefined: no eligible threshold keeps 2 trades, so the variance of "
                "the trials' Sharpe ratios under no skill is unknown"
            )

    walk: WalkForwardThresholdResult | None = None
    try:
        walk = walk_forward_threshold(
            trades,
            key=key,
            objective=objective,
            min_trades=min_trades,
            n_windows=n_windows,
            scheme=scheme,
            mode=mode,
            thresholds=thresholds,
            purge=purge,
            cost_bps=cost_bps,
        )
    except InsufficientDataError as exc:
        notes.append(f"walk-forward threshold selection not possible: {exc}")

    pbo: PBOResult | None = None
    n = sweep.n_total
    try:
        matrix = sweep_return_matrix(
            trades,
            key=key,
            thresholds=thresholds,
            n_periods=min(pbo_periods, n),
            mode=mode,
            cost_bps=cost_bps,
        )
        pbo = probability_of_backtest_overfitting(matrix.to_numpy(), n_splits=pbo_splits)
    except InsufficientDataError as exc:
        notes.append(f"PBO not computed: {exc}")
    return ThresholdAnalysis(
        key=key,
        mode=mode,
        objective=objective,
        min_trades=int(min_trades),
        sweep=sweep,
        choice=choice,
        psr=psr,
        deflated=deflated,
        walk_forward=walk,
        pbo=pbo,
        notes=tuple(notes),
    )
