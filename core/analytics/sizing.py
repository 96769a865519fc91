"""Bet sizing from calibrated probability, judged out of sample.

A position size is a function of the calibrated win probability ``p`` of a
signal and of the payoff ratio ``b = avg win / |avg loss|`` of earlier trades:

==============  ============================================================
rule            size
==============  ============================================================
``fixed``       1 for every signal (the unfiltered book)
``threshold``   1 when the raw score is at least the cutoff chosen in sample
                (:func:`core.analytics.selection.select_threshold`), else 0
``kelly``       ``clip(fraction * (p - (1 - p) / b), 0, cap)`` (Kelly 1956)
``ldp``         ``clip(2 Phi(z) - 1, 0, cap)``, ``z = (p - 1/2) / sqrt(p (1 - p))``
                (López de Prado 2018, ch. 10)
``step``        a user map ``[(p_1, s_1), (p_2, s_2), ...]``: the size of the
                highest ``p_k <= p``, 0 below ``p_1``
==============  ============================================================

Sizes are fractions of one unit position (1.0 = the fixed book's size); none
is negative (a signal is never reversed).

Walk-forward
------------
Trades in ``entry_time`` order are cut into ``n_windows + 1`` blocks of
about equal count (a boundary never splits trades with the same entry time),
as :func:`core.analytics.selection.walk_forward_threshold` cuts them. For test
window ``w = 1 .. n_windows`` the calibrator, the payoff ratio and the
threshold are fitted on the trades of blocks ``0 .. w-1`` (``"expanding"``) or
of the ``train_windows`` blocks before ``w`` (``"rolling"``) whose outcome was
known at the window's first entry (:func:`core.analytics.walkforward.outcome_times`:
exit time, else entry plus business days held, at least entry plus
``purge``). Windows with fewer than ``min_train`` such trades are skipped;
every rule is judged on the same out-of-sample trades.

Book and metrics
----------------
The P&L of a trade sized ``s`` is ``s * return_pct - cost_bps / 100 * |s|``
(percent of one unit; ``return_pct`` is already net of the run's own costs,
``cost_bps`` is an extra cost per unit of turnover). Every out-of-sample
signal is in the book, a skipped one with P&L 0, so the rules are compared on
the same opportunities:

- ``total_return``: ``prod(1 + pnl / 100) - 1`` in entry order, a fraction
  (trades treated as sequential: overlapping trades are not netted);
- ``sharpe``: per-trade Sharpe ``mean(pnl) / std(pnl)`` (ddof=1, not
  annualised) of :func:`core.metrics.performance_metrics`;
- ``max_drawdown``: of that compounded equity, a positive fraction;
- ``turnover``: ``sum |s|``, unit positions; ``mean_size`` its mean.

Bands are percentile intervals of a seeded moving-block bootstrap over the
out-of-sample trades in time order, the same blocks for every rule.

References
----------
J. L. Kelly, "A new interpretation of information rate", Bell System
Technical Journal 35 (1956) 917-926.
M. López de Prado, Advances in Financial Machine Learning, Wiley (2018),
ch. 7 (purging), ch. 10 (bet sizing).
H. R. Künsch (1989), Annals of Statistics 17, 1217-1241 (moving blocks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import ndtr

from core.analytics.calibrators import make_calibrator
from core.analytics.compare import moving_block_indices
from core.analytics.selection import select_threshold, time_blocks
from core.analytics.sweep import threshold_sweep
from core.analytics.walkforward import outcome_times
from core.errors import ConfigError, InsufficientDataError, TradesFrameError, ValidationError
from core.jsonsafe import json_safe
from core.metrics import performance_metrics, sharpe_ratio
from core.trades import validate_trades

__all__ = [
    "SIZING_METRICS",
    "SizingResult",
    "kelly_size",
    "ldp_size",
    "payoff_ratio",
    "step_size",
    "walk_forward_sizing",
]

#: Metrics of each rule's out-of-sample book (each with ``_low``/``_high`` bands).
SIZING_METRICS: tuple[str, ...] = ("total_return", "sharpe", "max_drawdown", "turnover")


# --------------------------------------------------------------------------- size rules


def _probabilities(p: Any, name: str = "p") -> np.ndarray:
    a = np.asarray(p, dtype=np.float64)
    if not np.all((a >= 0.0) & (a <= 1.0)):
        bad = np.flatnonzero(~((a >= 0.0) & (a <= 1.0)).ravel())[0]
        raise ValidationError(
            f"{name} must be probabilities in [0, 1]; position {bad} holds {a.ravel()[bad]!r}; "
            "calibrate the score first"
        )
    return a


def _check_cap(cap: float) -> float:
    if not isinstance(cap, int | float) or not math.isfinite(cap) or cap <= 0:
        raise ConfigError(f"cap must be a positive number, got {cap!r}; use 1.0")
    return float(cap)


def kelly_size(p: Any, b: Any, *, fraction: float = 0.5, cap: float = 1.0) -> np.ndarray:
    """Fractional Kelly size ``clip(fraction * (p - (1 - p) / b), 0, cap)``.

    Parameters
    ----------
    p : array_like of float
        Win probability in [0, 1].
    b : float or array_like
        Payoff ratio ``avg win / |avg loss|`` (> 0; ``inf`` when nothing was
        lost, which gives ``f* = p``); broadcast with ``p``.
    fraction : float, default 0.5
        Share of the full Kelly stake (half-Kelly by default), in (0, 1].
    cap : float, default 1.0
        Largest size, unit positions.

    Returns
    -------
    ndarray
        Sizes in ``[0, cap]``; 0 where the edge is not positive (no negative
        size) and where ``b`` is 0 or NaN.

    References
    ----------
    J. L. Kelly (1956), Bell System Technical Journal 35, 917-926.

    Examples
    --------
    >>> float(kelly_size(0.6, 1.0, fraction=1.0)), float(kelly_size(0.6, 1.0))
    (0.19999999999999996, 0.09999999999999998)
    """
    pa = _probabilities(p)
    ba = np.asarray(b, dtype=np.float64)
    if not isinstance(fraction, int | float) or not 0.0 < fraction <= 1.0:
        raise ConfigError(f"fraction must lie in (0, 1], got {fraction!r}; use 0.5 (half-Kelly)")
    cap = _check_cap(cap)
    with np.errstate(divide="ignore", invalid="ignore"):
        full = pa - (1.0 - pa) / ba
    full = np.where(ba > 0, full, np.nan)  # b = inf (no loss seen) gives f* = p
    return np.clip(np.nan_to_num(fraction * full, nan=0.0, neginf=0.0), 0.0, cap)


def ldp_size(p: Any, *, cap: float = 1.0) -> np.ndarray:
    """López de Prado's bet size from a probability: ``2 Phi(z) - 1``.

    ``z = (p - 1/2) / sqrt(p (1 - p))`` is the test statistic of "the win
    probability is 1/2" for one observation; ``Phi`` the standard normal CDF.
    The size is clipped to ``[0, cap]`` (a probability below 1/2 gives a
    negative size in the book, i.e. betting the other side; here no bet).

    Parameters
    ----------
    p : array_like of float
        Win probability in [0, 1] (0 and 1 give sizes -1 and 1 before clipping).
    cap : float, default 1.0

    Returns
    -------
    ndarray
        Same shape as ``p``.

    References
    ----------
    M. López de Prado, Advances in Financial Machine Learning, Wiley (2018),
    section 10.3.
    """
    pa = _probabilities(p)
    cap = _check_cap(cap)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (pa - 0.5) / np.sqrt(pa * (1.0 - pa))
    z = np.where(pa <= 0.0, -np.inf, np.where(pa >= 1.0, np.inf, z))
    return np.clip(2.0 * ndtr(z) - 1.0, 0.0, cap)


def _check_steps(steps: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        arr = np.asarray(steps, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"steps must be a list of (probability, size) pairs, got {steps!r}; e.g. "
            "[(0.55, 0.5), (0.6, 1.0)]"
        ) from exc
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ConfigError(
            f"steps must be a non-empty list of (probability, size) pairs, got shape {arr.shape}; "
            "e.g. [(0.55, 0.5), (0.6, 1.0)]"
        )
    probs, sizes = arr[:, 0], arr[:, 1]
    if not np.all((probs >= 0) & (probs <= 1)) or np.any(np.diff(probs) <= 0):
        raise ConfigError(
            f"step probabilities must be increasing values in [0, 1], got {probs.tolist()}; "
            "sort the steps by probability"
        )
    if not np.all(np.isfinite(sizes) & (sizes >= 0)):
        raise ConfigError(f"step sizes must be finite and >= 0, got {sizes.tolist()}")
    return probs, sizes


def step_size(p: Any, steps: Sequence[tuple[float, float]]) -> np.ndarray:
    """A user-defined step map from probability to size.

    Parameters
    ----------
    p : array_like of float
        Win probability in [0, 1].
    steps : sequence of (probability, size)
        Increasing probabilities; a signal gets the size of the highest step
        probability at or below its ``p``, and 0 below the first step.

    Returns
    -------
    ndarray
        Same shape as ``p``.

    Examples
    --------
    >>> step_size([0.5, 0.55, 0.7], [(0.55, 0.5), (0.6, 1.0)]).tolist()
    [0.0, 0.5, 1.0]
    """
    pa = _probabilities(p)
    probs, sizes = _check_steps(steps)
    pos = np.searchsorted(probs, pa, side="right") - 1
    return np.where(pos >= 0, sizes[np.maximum(pos, 0)], 0.0)


def payoff_ratio(returns_pct: Any) -> float:
    """``avg win / |avg loss|`` of trade returns (percent), by :func:`performance_metrics`.

    The averages are ``avg_win_pct`` (trades with ``return > 0``) and
    ``avg_loss_pct`` (the others, flat trades included). ``inf`` when no trade
    lost, 0 when none won, NaN without trades or when the losers average 0.
    """
    m = performance_metrics(np.asarray(returns_pct, dtype=np.float64))
    if m.n_trades == 0:
        return math.nan
    if math.isnan(m.avg_win_pct):
        return 0.0
    if math.isnan(m.avg_loss_pct):
        return math.inf
    if m.avg_loss_pct >= 0:
        return math.nan
    return m.avg_win_pct / -m.avg_loss_pct


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class SizingResult:
    """Sizing rules side by side on the same out-of-sample trades.

    Attributes
    ----------
    table : DataFrame
        Index ``method`` (``fixed``, ``threshold``, ``kelly``, ``ldp`` and
        ``step`` when steps were given); columns ``sample`` (always
        ``"out_of_sample"``), ``n_trades``, ``mean_size``, and for each of
        :data:`SIZING_METRICS` the value and its ``_low``/``_high`` band.
    sizes : DataFrame
        One row per out-of-sample trade, indexed by the input frame's labels, in
        entry order: ``window``, ``entry_time``, ``score`` (the raw key),
        ``probability`` (calibrated on earlier trades), ``payoff_ratio`` (of the
        window's training trades), ``return_pct`` (net of ``cost_bps``: the
        unit-size P&L), then ``size_<method>`` per rule.
    windows : DataFrame
        One row per test window: ``window``, ``status`` (``"ok"`` or
        ``"insufficient history"``), ``test_start``, ``test_end``, ``n_train``,
        ``n_purged``, ``n_test``, ``payoff_ratio``, ``threshold`` (score cutoff
        chosen in sample), ``calibrator_fallback``.
    key, calibrator, scheme, objective : str
    n_windows, train_windows, min_train, min_trades : int
    purge : pandas.Timedelta or None
    kelly_fraction, cap, cost_bps : float
    steps : tuple of (float, float) or None
    n_boot, block_size, seed : int
    level : float
    """

    table: pd.DataFrame
    sizes: pd.DataFrame
    windows: pd.DataFrame
    key: str
    calibrator: str
    scheme: str
    objective: str
    n_windows: int
    train_windows: int
    min_train: int
    min_trades: int
    purge: pd.Timedelta | None
    kelly_fraction: float
    cap: float
    cost_bps: float
    steps: tuple[tuple[float, float], ...] | None
    n_boot: int
    block_size: int
    seed: int
    level: float

    @property
    def methods(self) -> tuple[str, ...]:
        """The rules compared, in table order."""
        return tuple(self.table.index)

    def pnl(self) -> pd.DataFrame:
        """Per-trade P&L of each rule, percent of one unit: ``s * return_pct``.

        ``sizes["return_pct"]`` is already net of ``cost_bps`` per unit and sizes
        are non-negative, so this is ``s * r - cost_bps / 100 * |s|``.
        """
        r = self.sizes["return_pct"].to_numpy()
        return pd.DataFrame(
            {m: self.sizes[f"size_{m}"].to_numpy() * r for m in self.methods},
            index=self.sizes.index,
        )

    def equity(self) -> pd.DataFrame:
        """Compounded equity of each rule after each out-of-sample trade (starts at 1).

        Index: the trades' entry times (repeats possible); one column per rule.
        """
        eq = np.cumprod(1.0 + self.pnl().to_numpy() / 100.0, axis=0)
        return pd.DataFrame(
            eq, index=pd.DatetimeIndex(self.sizes["entry_time"]), columns=list(self.methods)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: settings, ``table`` by method and ``windows`` rows.

        The per-trade ``sizes`` are left out (store them with the trades).
        """
        out = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("table", "sizes", "windows")
        }
        out["table"] = self.table.to_dict(orient="index")
        out["windows"] = self.windows.to_dict(orient="records")
        out["n_out_of_sample"] = len(self.sizes)
        return json_safe(out)


# --------------------------------------------------------------------------- walk-forward


def _book_stats(pnl: np.ndarray, size: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics of books along the last axis: pnl, size shape (..., n)."""
    eq = np.cumprod(1.0 + pnl / 100.0, axis=-1)
    peak = np.maximum(np.maximum.accumulate(eq, axis=-1), 1.0)  # the start (1.0) is a peak
    std = pnl.std(axis=-1, ddof=1) if pnl.shape[-1] > 1 else np.full(pnl.shape[:-1], np.nan)
    return {
        "total_return": eq[..., -1] - 1.0,
        "sharpe": np.asarray(sharpe_ratio(pnl.mean(axis=-1), std)),
        "max_drawdown": np.max(1.0 - eq / peak, axis=-1),
        "turnover": np.abs(size).sum(axis=-1),
    }


def walk_forward_sizing(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    calibrator: str = "isotonic",
    calibrator_options: dict[str, Any] | None = None,
    n_windows: int = 6,
    scheme: Literal["expanding", "rolling"] = "expanding",
    train_windows: int = 2,
    purge: pd.Timedelta | str | None = None,
    min_train: int = 100,
    kelly_fraction: float = 0.5,
    cap: float = 1.0,
    steps: Sequence[tuple[float, float]] | None = None,
    objective: str = "sharpe",
    min_trades: int = 30,
    thresholds: np.ndarray | list[float] | None = None,
    cost_bps: float = 0.0,
    n_boot: int = 1000,
    block_size: int | None = None,
    level: float = 0.95,
    seed: int = 0,
) -> SizingResult:
    """Size every signal from its calibrated probability, walk-forward, and judge the books.

    Parameters
    ----------
    trades : DataFrame
        A trades frame with ``key``, ``return_pct``, ``win``, ``entry_time`` and
        ``exit_time`` and/or ``holding_days`` (for purging). Rows with a NaN
        ``key`` are left out. Not modified.
    key : str, default "confidence"
        Raw score that is calibrated (and thresholded by the ``threshold`` rule).
    calibrator : {"isotonic", "platt", "beta", "histogram"}, default "isotonic"
        Method of :func:`core.analytics.calibrators.make_calibrator`, fitted on
        each window's training trades only.
    calibrator_options : dict, optional
        Options of that calibrator.
    n_windows : int, default 6
        Test windows (the data are cut into ``n_windows + 1`` blocks).
    scheme : {"expanding", "rolling"}, default "expanding"
    train_windows : int, default 2
        Blocks of history of the rolling scheme.
    purge : pandas.Timedelta or str, optional
        Embargo on top of the exit times (see
        :func:`core.analytics.walkforward.outcome_times`).
    min_train : int, default 100
        Fewest purged training trades for a window to be judged.
    kelly_fraction : float, default 0.5
        Fraction of full Kelly.
    cap : float, default 1.0
        Largest size of the Kelly, LdP and step rules.
    steps : sequence of (probability, size), optional
        A step map (adds the ``step`` rule).
    objective, min_trades, thresholds
        How the ``threshold`` rule's cutoff is chosen on each training window
        (:func:`core.analytics.selection.select_threshold` over
        :func:`core.analytics.sweep.threshold_sweep`, absolute mode).
    cost_bps : float, default 0.0
        Extra cost per unit of turnover, basis points (1 bp = 0.01 percentage
        points per unit size); also subtracted before the payoff ratio and the
        threshold are estimated.
    n_boot : int, default 1000
        Bootstrap replicates of the bands.
    block_size : int, optional
        Moving-block length in trades; default ``ceil(n ** (1/3))`` of the
        out-of-sample trades.
    level : float, default 0.95
        Two-sided level of the bands.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    SizingResult
        Everything in ``table`` is out of sample.

    Raises
    ------
    TradesFrameError
        Missing columns, scores outside [0, 1], unknown outcome times.
    InsufficientDataError
        Too few trades for the windows; no window with ``min_train`` training
        trades; a training window where no threshold keeps ``min_trades``.
    ConfigError
        An option out of range.
    CalibrationError
        Unknown calibrator or option.

    References
    ----------
    J. L. Kelly (1956); M. López de Prado (2018), ch. 7 and 10.
    """
    for name, value, low in (
        ("n_windows", n_windows, 1),
        ("train_windows", train_windows, 1),
        ("min_train", min_train, 1),
        ("min_trades", min_trades, 1),
        ("n_boot", n_boot, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    if scheme not in ("expanding", "rolling"):
        raise ConfigError(
            f"scheme must be 'expanding' or 'rolling', got {scheme!r}; use 'expanding'"
        )
    if not isinstance(cost_bps, int | float) or not math.isfinite(cost_bps) or cost_bps < 0:
        raise ConfigError(f"cost_bps must be a finite number >= 0, got {cost_bps!r}; use 0")
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must lie in (0, 1), got {level!r}; use 0.95")
    purge_td = None if purge is None else pd.Timedelta(purge)
    kelly_size(0.5, 1.0, fraction=kelly_fraction, cap=cap)  # fail fast on bad options
    step_probs = None if steps is None else _check_steps(steps)
    options = dict(calibrator_options or {})
    make_calibrator(calibrator, **options)

    usable = validate_trades(trades, key=key, min_rows=2 * (n_windows + 1))
    if "entry_time" not in usable.columns:
        raise TradesFrameError(
            "walk_forward_sizing needs an entry_time column to order the trades in time"
        )
    entry = pd.to_datetime(usable["entry_time"], utc=True)
    if entry.isna().any():
        raise TradesFrameError("entry_time has NaT; every trade needs an entry time")
    outcome = outcome_times(usable, purge=purge_td)
    entry_ns = entry.dt.as_unit("ns").array.asi8
    order = np.argsort(entry_ns, kind="stable")
    frame = usable.iloc[order]
    times, known_at = entry_ns[order], outcome[order]
    score = frame[key].to_numpy(dtype=np.float64)
    win = frame["win"].to_numpy().astype(np.float64)
    ret = frame["return_pct"].to_numpy(dtype=np.float64) - cost_bps / 100.0
    bounds = time_blocks(times, n_windows + 1)

    methods = ["fixed", "threshold", "kelly", "ldp"] + (["step"] if steps is not None else [])
    parts: list[dict[str, np.ndarray]] = []
    rows: list[dict[str, Any]] = []
    for w in range(1, n_windows + 1):  # one iteration per window; the work inside is vectorised
        test = np.arange(bounds[w], bounds[w + 1])
        lo = 0 if scheme == "expanding" else bounds[max(0, w - train_windows)]
        candidates = np.arange(lo, bounds[w])
        train = candidates[known_at[candidates] <= times[test[0]]]
        row: dict[str, Any] = {
            "window": w,
            "status": "ok",
            "test_start": pd.Timestamp(times[test[0]], tz="UTC"),
            "test_end": pd.Timestamp(times[test[-1]], tz="UTC"),
            "n_train": int(train.size),
            "n_purged": int(candidates.size - train.size),
            "n_test": int(test.size),
            "payoff_ratio": math.nan,
            "threshold": math.nan,
            "calibrator_fallback": None,
        }
        cal = make_calibrator(calibrator, **options)
        if train.size < max(min_train, cal.min_samples):
            row["status"] = "insufficient history"
            rows.append(row)
            continue
        cal.fit(score[train], win[train])
        prob = cal.predict(score[test])
        b = payoff_ratio(ret[train])
        sweep = threshold_sweep(frame.iloc[train], key=key, thresholds=thresholds,
                                cost_bps=cost_bps)  # fmt: skip
        try:
            cutoff = select_threshold(sweep, objective=objective, min_trades=min_trades).threshold
        except InsufficientDataError as exc:
            raise InsufficientDataError(
                f"window {w} (training set): {exc}; lower min_trades or use fewer windows"
            ) from exc
        row.update(payoff_ratio=b, threshold=cutoff, calibrator_fallback=cal.fallback)
        rows.append(row)
        part = {
            "position": test,
            "window": np.full(test.size, w),
            "probability": prob,
            "payoff_ratio": np.full(test.size, b),
            "size_fixed": np.ones(test.size),
            "size_threshold": (score[test] >= cutoff).astype(np.float64),
            "size_kelly": kelly_size(prob, b, fraction=kelly_fraction, cap=cap),
            "size_ldp": ldp_size(prob, cap=cap),
        }
        if step_probs is not None:
            part["size_step"] = np.minimum(step_size(prob, steps), cap)  # type: ignore[arg-type]
        parts.append(part)

    windows = pd.DataFrame(rows)
    if not parts:
        raise InsufficientDataError(
            f"no test window had {min_train} purged training trades (of {len(frame)} trades in "
            f"{n_windows + 1} blocks); lower min_train or use fewer windows"
        )
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    pos = cols.pop("position")
    sizes = pd.DataFrame(
        {
            "window": cols.pop("window").astype(np.int64),
            "entry_time": pd.to_datetime(times[pos], utc=True),
            "score": score[pos],
            "probability": cols.pop("probability"),
            "payoff_ratio": cols.pop("payoff_ratio"),
            "return_pct": ret[pos],
            **cols,
        },
        index=frame.index[pos],
    )

    # Point values (performance_metrics) and moving-block bands, the same blocks for all.
    r = ret[pos]
    size_mat = np.vstack([sizes[f"size_{m}"].to_numpy() for m in methods])  # (m, n)
    pnl = size_mat * r  # r is net of cost_bps per unit and sizes are >= 0: s r - cost |s|
    n = r.size
    block = int(block_size) if block_size is not None else max(1, math.ceil(n ** (1.0 / 3.0)))
    rng = np.random.default_rng(seed)
    boot: dict[str, list[np.ndarray]] = {k: [] for k in SIZING_METRICS}
    chunk = max(1, 2_000_000 // (n * len(methods)))
    remaining = n_boot
    while remaining > 0:  # chunks of replicates
        k = min(chunk, remaining)
        idx = moving_block_indices(n, n_boot=k, block_size=min(block, n), rng=rng)
        stats = _book_stats(pnl[:, idx], size_mat[:, idx])  # (m, k)
        for name in SIZING_METRICS:
            boot[name].append(stats[name])
        remaining -= k
    alpha = (1.0 - level) / 2.0
    table_rows = []
    for i in range(len(methods)):
        eq = np.concatenate([[1.0], np.cumprod(1.0 + pnl[i] / 100.0)])
        perf = performance_metrics(pnl[i], eq)
        point = {
            "total_return": perf.total_return,
            "sharpe": perf.sharpe_per_trade,
            "max_drawdown": perf.max_drawdown,
            "turnover": float(np.abs(size_mat[i]).sum()),
        }
        row = {"sample": "out_of_sample", "n_trades": n, "mean_size": float(size_mat[i].mean())}
        for name in SIZING_METRICS:
            dist = np.concatenate(boot[name], axis=1)[i]
            dist = dist[np.isfinite(dist)]
            low, high = np.quantile(dist, [alpha, 1 - alpha]) if dist.size else (math.nan,) * 2
            row.update({name: point[name], f"{name}_low": float(low), f"{name}_high": float(high)})
        table_rows.append(row)
    table = pd.DataFrame(table_rows, index=pd.Index(methods, name="method"))
    return SizingResult(
        table=table,
        sizes=sizes,
        windows=windows,
        key=key,
        calibrator=calibrator,
        scheme=scheme,
        objective=objective,
        n_windows=int(n_windows),
        train_windows=int(train_windows),
        min_train=int(min_train),
        min_trades=int(min_trades),
        purge=purge_td,
        kelly_fraction=float(kelly_fraction),
        cap=float(cap),
        cost_bps=float(cost_bps),
        steps=None if steps is None else tuple((float(a), float(b)) for a, b in steps),
        n_boot=int(n_boot),
        block_size=block,
        seed=int(seed),
        level=float(level),
    )
