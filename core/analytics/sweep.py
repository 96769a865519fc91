"""Threshold sweeps: what trading only the signals above a threshold would have given.

For every threshold on a confidence key the sweep reports the trades kept, the
coverage, the win rate with a Wilson interval, the mean, standard deviation and
per-trade Sharpe of ``return_pct``, the profit factor and the total return; with
``bands=True`` also bootstrap bands for the mean, the Sharpe and the profit factor.

The computation never loops over thresholds with a mask and never sorts the
trades. Every trade is binned among the T thresholds (a lookup table, checked
against ``np.searchsorted``'s rule); one ``np.bincount`` pass each gives the
count, wins, sum, centred sum and sum of squares, gains and losses of every bin
(``np.minimum.at`` / ``np.maximum.at`` the smallest score and the extreme
returns), and reverse cumulative sums over the T + 1 bins give the trades kept
at every threshold. From 200,000 trades on (absolute mode) a compiled kernel
(:mod:`core.analytics.kernels`, numba) does the binning and all those sums in
one read of the trades. Percentile mode bins on the distinct cut scores (the k-th
largest scores, found in a histogram of the scores) and adds, for ties at a cut,
the first trades in row order by prefix sums within each tie group. The
bootstrap draws Poisson(1) weights per trade in chunks and accumulates weighted
sums per *segment* (the trades between two consecutive cut points; in absolute
mode the trades are put in segment order by a radix sort of their bins, row
order within a segment), followed by a reverse cumulative sum over segments;
its products run on one BLAS thread.

Conventions (see ``docs/architecture.md``):

- ``return_pct`` is in percent, net of the run's own costs; ``cost_bps`` subtracts
  an *extra* round-trip cost (1 bp = 0.01 percentage points) from every trade, and
  wins are recounted as ``return_pct - cost_bps / 100 > 0``.
- Per-trade Sharpe = mean / std (ddof=1), not annualised. The win rate, Sharpe
  and profit factor are applied to the suffix sums by the kernels of
  :mod:`core.metrics` (``win_rate``, ``sharpe_ratio``, ``profit_factor``): the
  formulas of :func:`core.metrics.performance_metrics`, so a row equals
  ``performance_metrics`` of the trades that threshold keeps.
- Where a threshold keeps fewer than two trades, ``std_return``, ``sharpe`` and
  their bands are NaN by definition (a standard deviation needs two trades); where
  the kept returns are all equal, ``std_return`` is 0 and ``sharpe`` is NaN (no
  dispersion: undefined). With no trade kept, ``win_rate``, ``mean_return`` and
  ``profit_factor`` are NaN too and ``total_return`` is 0.
- Profit factor = gains / |losses|; ``inf`` when the kept trades have gains and no
  losses (kept as ``inf`` in the table, written as the string ``"inf"`` by
  ``to_dict``), NaN when they have neither.
"""

from __future__ import annotations

import functools
import math
import sys
import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse, special
from threadpoolctl import ThreadpoolController

from core.analytics.stats import wilson_interval
from core.errors import ConfigError, InsufficientDataError
from core.jsonsafe import json_safe
from core.metrics import is_win, profit_factor, sharpe_ratio, win_rate
from core.trades import validate_trades

__all__ = [
    "SWEEP_COLUMNS",
    "SweepResult",
    "apply_threshold",
    "default_thresholds",
    "load_kernel_in_background",
    "threshold_sweep",
]

SweepMode = Literal["absolute", "percentile"]

#: Columns of ``SweepResult.table`` (band columns only with ``bands=True``).
SWEEP_COLUMNS: tuple[str, ...] = (
    "threshold",
    "score_cutoff",
    "trades",
    "coverage",
    "wins",
    "win_rate",
    "win_low",
    "win_high",
    "mean_return",
    "std_return",
    "sharpe",
    "profit_factor",
    "expectancy",
    "total_return",
)
BAND_COLUMNS: tuple[str, ...] = (
    "mean_return_low",
    "mean_return_high",
    "sharpe_low",
    "sharpe_high",
    "profit_factor_low",
    "profit_factor_high",
)

_MODES = ("absolute", "percentile")
# Trades per bootstrap chunk: B x _CHUNK float64 weights (26 MB at B = 200).
_CHUNK = 16_384
# A chunk holding more segments than this is reduced with a sparse product
# instead of one dense product per segment (bounds the Python-level loop).
_MAX_DENSE_PIECES = 256


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-safe dicts (see :func:`json_safe`)."""
    return [json_safe(row) for row in frame.to_dict(orient="records")]


@dataclass(frozen=True)
class SweepResult:
    """The metrics of every threshold of one sweep.

    Attributes
    ----------
    table : DataFrame, shape (n_thresholds, 14) or (n_thresholds, 20) with bands
        One row per threshold, ascending; columns :data:`SWEEP_COLUMNS` (plus
        ``BAND_COLUMNS`` with bands). ``threshold`` is a score in absolute mode
        and a percentage of trades kept in percentile mode; ``score_cutoff`` is
        the lowest score kept (NaN when nothing is kept). Returns in percent.
    key : str
        The confidence column swept.
    mode : {"absolute", "percentile"}
        How thresholds were applied.
    n_total : int
        Trades with a score (the denominator of ``coverage``).
    n_dropped : int
        Rows dropped because their score was NaN.
    cost_bps : float
        Extra round-trip cost subtracted from every trade, in basis points.
    bands : bool
        Whether bootstrap band columns are present.
    n_boot, level, seed : int, float, int
        Bootstrap replicates, confidence level (also of the Wilson interval) and
        seed.
    """

    table: pd.DataFrame
    key: str
    mode: str
    n_total: int
    n_dropped: int
    cost_bps: float
    bands: bool
    n_boot: int
    level: float
    seed: int

    @property
    def n_trials(self) -> int:
        """Number of thresholds evaluated (the trials of a selection over this sweep).

        To choose among them, pass the sweep to
        :func:`core.analytics.selection.select_threshold` (selection builds on
        the sweep, never the reverse).
        """
        return len(self.table)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: metadata and ``rows`` (NaN -> None, inf -> "inf")."""
        return {
            "key": self.key,
            "mode": self.mode,
            "n_total": self.n_total,
            "n_dropped": self.n_dropped,
            "cost_bps": self.cost_bps,
            "bands": self.bands,
            "n_boot": self.n_boot,
            "level": self.level,
            "seed": self.seed,
            "columns": list(self.table.columns),
            "rows": frame_records(self.table),
        }


def default_thresholds(mode: SweepMode = "absolute") -> np.ndarray:
    """Default sweep grid: 0.00, 0.01, ..., 1.00 (absolute) or 1, 2, ..., 100 (percent).

    The absolute grid is ``arange(101) / 100`` so every value is the double
    nearest to its two-decimal literal (``linspace`` gives 0.07000000000000001).
    """
    _check_mode(mode)
    if mode == "absolute":
        return np.arange(101) / 100.0
    return np.arange(1, 101, dtype=np.float64)


def threshold_sweep(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    thresholds: np.ndarray | list[float] | None = None,
    mode: SweepMode = "absolute",
    bands: bool = False,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    cost_bps: float = 0.0,
) -> SweepResult:
    """Metrics of the trades kept at every threshold of a confidence key.

    Parameters
    ----------
    trades : DataFrame
        A trades frame (:mod:`core.trades`); needs ``key``, ``return_pct``, ``win``.
        Rows whose ``key`` is NaN are dropped (counted in ``n_dropped``).
    key : str, default "confidence"
        Score column, values in [0, 1].
    thresholds : array_like of float, optional
        Absolute mode: scores; a trade is kept when ``score >= threshold``
        (default ``0.00, 0.01, ..., 1.00``). Percentile mode: percentages ``q`` in
        (0, 100]; the top ``ceil(q * n / 100)`` trades by score are kept, ties in
        score broken by row order (the earlier row ranks higher; a trades frame
        is in ``entry_time`` order by contract), so the kept set always has that
        exact size (default ``1, 2, ..., 100``). Sorted
        ascending and de-duplicated.
    mode : {"absolute", "percentile"}, default "absolute"
    bands : bool, default False
        Add bootstrap percentile bands for mean return, Sharpe and profit factor.
    n_boot : int, default 200
        Bootstrap replicates ``B``. Each replicate weights every trade by an
        independent Poisson(1) count (the Poisson bootstrap), drawn by inverse
        CDF from 16-bit uniforms (probabilities resolved to 2**-16, weights above 8
        -- probability 1e-6 -- truncated); memory is about ``B * 32`` bytes per
        distinct cut point plus ``B * 16384 * 8`` bytes of weights.
        Replicates in which a threshold keeps fewer than two (weighted) trades
        are left out of that threshold's band.
    level : float, default 0.95
        Confidence level of the Wilson interval and of the bands.
    seed : int, default 0
        Seed of ``numpy.random.default_rng`` for the bootstrap.
    cost_bps : float, default 0.0
        Extra round-trip cost in basis points subtracted from every trade's
        ``return_pct`` (which is already net of the run's own costs); wins are
        recounted after it.

    Returns
    -------
    SweepResult
        ``table`` has one row per threshold; see :class:`SweepResult` and the
        module docstring for the NaN / inf conventions.

    Raises
    ------
    TradesFrameError
        Missing column, score outside [0, 1], NaN or infinite ``return_pct``, or
        ``win`` inconsistent with ``return_pct``.
    InsufficientDataError
        No trade has a score.
    ConfigError
        Bad ``mode``, thresholds, ``n_boot``, ``level`` or ``cost_bps``.

    Notes
    -----
    Cost: O(n) for the point metrics (binning, a few ``bincount`` passes, or
    one pass of the compiled kernel from 200,000 trades on) plus O(T) over the
    bins; about 0.02 s for a million trades and 1,000 thresholds.
    The bands add a sort of the trades (in absolute mode a radix sort of their
    bins) and O(B n). Variances use sums of
    returns centred on the overall mean, which keeps the one-pass formula
    accurate. The bootstrap's matrix products run inside
    ``threadpoolctl.threadpool_limits(1)``: on a loaded 2-core host
    multi-threaded BLAS made them 9-13x slower for no wall-time gain.

    References
    ----------
    A. B. Owen and D. Eckles, "Bootstrapping data arrays of arbitrary order",
    Annals of Applied Statistics 6(3) (2012) 895-927 (the Poisson bootstrap).
    """
    _check_mode(mode)
    _check_options(n_boot=n_boot, level=level, cost_bps=cost_bps)
    grid = _check_thresholds(thresholds, mode)
    usable = validate_trades(trades, key=key)
    score = usable[key].to_numpy(dtype=np.float64)
    ret = usable["return_pct"].to_numpy(dtype=np.float64)  # read only below
    if cost_bps:
        ret = ret - cost_bps / 100.0
    return sweep_arrays(
        score,
        ret,
        grid,
        key=key,
        mode=mode,
        cost_bps=cost_bps,
        n_dropped=len(trades) - score.size,
        bands=bands,
        n_boot=n_boot,
        level=level,
        seed=seed,
    )


def sweep_arrays(
    score: np.ndarray,
    ret: np.ndarray,
    grid: np.ndarray,
    *,
    key: str,
    mode: str,
    cost_bps: float,
    n_dropped: int = 0,
    bands: bool = False,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    order: np.ndarray | None = None,
    bins: np.ndarray | None = None,
) -> SweepResult:
    """:func:`threshold_sweep` of arrays that are already checked (for this package).

    ``score`` (in [0, 1], no NaN) and ``ret`` (finite, already net of
    ``cost_bps``) are the usable trades in row order, ``grid`` the output of
    ``_check_thresholds``; nothing is validated or copied again, so a caller
    that sweeps many subsets of one validated frame (the walk-forward windows)
    pays for validation once. ``order``, when given, is
    ``_ascending_order(score, mode)`` (the bands need it); ``bins``, in absolute
    mode, is ``_bin_right(score, grid)`` (a subset of the bins of all trades
    is the bins of the subset).
    """
    n = score.size
    if n == 0:
        raise InsufficientDataError("no trade to sweep; at least 1 is needed")
    centre = float(ret.mean())
    if mode == "absolute":
        kept = _absolute_kept(score, ret, grid, centre, bins=bins)
    else:
        kept = _percentile_kept(score, ret, grid, centre)
    table = _point_table(kept, grid, n, centre, level=level)
    if bands:
        # The bootstrap accumulates weights over segments of trades (those between two
        # consecutive cut points) in ascending order of score.
        if order is None and mode == "absolute":
            order, starts = _segment_order(score, grid, bins)
        else:
            if order is None:
                order = _ascending_order(score, mode)
            starts = _start_indices(score[order], grid, mode)
        r_sorted = ret[order]
        # One BLAS thread: on a loaded 2-core host multi-threaded BLAS made these
        # products 9-13x slower for no wall-time gain (shared/TESTING.md).
        with _blas_controller().limit(limits=1, user_api="blas"):
            band_columns = _bootstrap_bands(r_sorted, starts, n_boot=n_boot, level=level, seed=seed)
        table = table.assign(**band_columns)
    return SweepResult(
        table=table,
        key=key,
        mode=mode,
        n_total=int(n),
        n_dropped=int(n_dropped),
        cost_bps=float(cost_bps),
        bands=bool(bands),
        n_boot=int(n_boot),
        level=float(level),
        seed=int(seed),
    )


def apply_threshold(
    trades: pd.DataFrame,
    threshold: float,
    *,
    key: str = "confidence",
    mode: SweepMode = "absolute",
) -> pd.DataFrame:
    """The trades a threshold keeps, by the same rule as :func:`threshold_sweep`.

    Parameters
    ----------
    trades : DataFrame
        A trades frame; rows with a NaN ``key`` are dropped first.
    threshold : float
        A score (absolute mode, keep ``score >= threshold``) or a percentage in
        (0, 100] (percentile mode, keep the top ``ceil(q * n / 100)`` trades, ties
        broken by row order as in :func:`threshold_sweep`).
    key : str, default "confidence"
    mode : {"absolute", "percentile"}, default "absolute"

    Returns
    -------
    DataFrame
        The kept rows of ``trades`` in their original order (a new frame).
    """
    _check_mode(mode)
    grid = _check_thresholds([threshold], mode)
    usable = validate_trades(trades, key=key, min_rows=0)
    keep = kept_mask(usable[key].to_numpy(dtype=np.float64), float(grid[0]), mode)
    return usable.loc[keep].copy()


def kept_mask(score: np.ndarray, threshold: float, mode: str) -> np.ndarray:
    """Boolean mask of the trades :func:`apply_threshold` keeps, on a checked score array."""
    if mode == "absolute":
        return score >= threshold
    order = _ascending_order(score, mode)
    k = int(_keep_count(np.array([threshold]), score.size)[0])
    keep = np.zeros(score.size, dtype=bool)
    keep[order[score.size - k :]] = True
    return keep


# ----------------------------------------------------------------------------
# validation helpers


def _check_mode(mode: str) -> None:
    if mode not in _MODES:
        raise ConfigError(f"mode must be 'absolute' or 'percentile', got {mode!r}")


def _check_options(*, n_boot: int, level: float, cost_bps: float) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 10:
        raise ConfigError(f"n_boot must be an integer >= 10, got {n_boot!r}; 200 is usual")
    if not isinstance(level, float | int) or not 0.0 < float(level) < 1.0:
        raise ConfigError(f"level must lie in (0, 1), got {level!r}; use 0.95 for 95 %")
    if not isinstance(cost_bps, float | int) or not math.isfinite(cost_bps) or cost_bps < 0:
        raise ConfigError(
            f"cost_bps must be a finite number >= 0 (basis points per round trip), got {cost_bps!r}"
        )


def _check_thresholds(thresholds: Any, mode: str) -> np.ndarray:
    if thresholds is None:
        return default_thresholds(mode)  # type: ignore[arg-type]
    try:
        grid = np.asarray(thresholds, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"thresholds must be numbers, got {thresholds!r}") from exc
    if grid.size == 0:
        raise ConfigError("thresholds is empty; pass at least one value or None for the default")
    if not np.isfinite(grid).all():
        raise ConfigError(f"thresholds must be finite, got {grid[~np.isfinite(grid)][:3]!r}")
    if mode == "percentile" and ((grid <= 0) | (grid > 100)).any():
        bad = grid[(grid <= 0) | (grid > 100)][0]
        raise ConfigError(
            f"percentile thresholds are percentages of trades kept in (0, 100], got {bad!r}"
        )
    return np.unique(grid)


# ----------------------------------------------------------------------------
# the vectorised core: binning, per-bin sums, reverse cumulative sums

# A lookup table of this many cells per threshold bins the scores (see _bin_right).
_CELLS_PER_EDGE = 4
# Percentile mode locates the k-th largest score in one of these many cells of [0, 1].
_SCORE_CELLS = 65_536
#: Sweeps of at least this many trades use the compiled kernel (core.analytics.kernels):
#: below it the bincount passes take a few milliseconds, less than loading numba.
KERNEL_MIN_TRADES = 200_000


@dataclass(frozen=True)
class _Kept:
    """Sums over the trades each threshold keeps; every array has shape (T,)."""

    k: np.ndarray  # int64 trades kept
    wins: np.ndarray  # int64
    total: np.ndarray  # sum of returns
    s_dev: np.ndarray  # sum of (return - centre)
    q_dev: np.ndarray  # sum of (return - centre) ** 2
    gains: np.ndarray
    losses: np.ndarray  # minus the sum of the negative returns (>= 0)
    flat: np.ndarray  # bool: every kept return equal
    cutoff: np.ndarray  # lowest score kept, NaN when nothing is kept


def _bin_right(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.searchsorted(edges, values, side="right")`` without a binary search per value.

    ``edges`` is sorted ascending. A lookup table over ``4 * len(edges)`` equal
    cells of ``[edges[0], edges[-1]]`` gives every value a first guess (the bin
    of its cell's left edge), one comparison moves it past an edge inside the
    cell. When no cell holds two edges and no edge sits on a cell border (within
    rounding), that is exact (:func:`_guess_is_exact`: a uniform grid); otherwise
    a check of both neighbouring edges confirms every value and the ones the
    guess missed are searched with ``np.searchsorted``. Exact for any ``edges``;
    about 8-15x faster than ``searchsorted`` on a million unsorted values, whose
    binary searches mispredict at every step.
    """
    if not _has_lookup(edges, values.size):
        return np.searchsorted(edges, values, side="right")
    lo, scale, borders, guess = _lookup(edges)
    cell = np.clip((values - lo) * scale, 0.0, guess.size - 1.0).astype(np.intp)
    b = guess[cell]
    upper = np.append(edges, np.inf)  # upper[b] = edges[b], inf past the last edge
    b += values >= upper[b]
    if _guess_is_exact(edges, borders, guess, scale) and values.min() >= lo:
        return b
    lower = np.insert(edges, 0, -np.inf)  # lower[b] = edges[b - 1], -inf before the first
    bad = np.flatnonzero((values < lower[b]) | (values >= upper[b]))
    if bad.size:
        b[bad] = np.searchsorted(edges, values[bad], side="right")
    return b


def _has_lookup(edges: np.ndarray, n: int) -> bool:
    """Whether binning ``n`` values among ``edges`` is worth a lookup table (else searchsorted)."""
    return edges.size >= 32 and n >= 4_096 and bool(edges[-1] > edges[0])


def _lookup(edges: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """``(lo, scale, borders, guess)``: equal cells over the edges and each border's bin.

    ``4 t + 3`` cells of ``[edges[0], edges[-1]]`` (borders rarely meet a round
    grid's edges: 0.25 is a border of ``4 t``), ``scale`` cells per unit,
    ``guess[c] = #{edges <= borders[c]}``.
    """
    lo, hi = float(edges[0]), float(edges[-1])
    cells = _CELLS_PER_EDGE * edges.size + 3
    scale = cells / (hi - lo)
    borders = lo + np.arange(cells) / scale
    return lo, scale, borders, np.searchsorted(edges, borders, side="right")


def _guess_is_exact(
    edges: np.ndarray, borders: np.ndarray, guess: np.ndarray, scale: float
) -> bool:
    """Whether :func:`_bin_right`'s guess and one step are exact without a check.

    True when every cell holds at most one edge (one comparison passes it) and
    no edge but the first lies within a rounding distance of a cell border, so a
    value that rounding puts in the neighbouring cell has the same edges below
    it. Values below the first edge are excluded by the caller.
    """
    t = edges.size
    if (np.diff(np.append(guess, t)) > 1).any():
        return False
    lo, hi = float(edges[0]), float(edges[-1])
    slack = 64.0 * np.finfo(np.float64).eps * (abs(lo) + abs(hi) + (hi - lo))
    nearest = np.clip(np.rint((edges[1:] - lo) * scale).astype(np.intp), 0, borders.size - 1)
    return bool((np.abs(edges[1:] - borders[nearest]) > slack).all())


def _reverse_cumsum(x: np.ndarray) -> np.ndarray:
    """``out[i] = x[i:].sum()`` for i in 0..m (``out[m] = 0``), accumulated from the end.

    Accumulating from the end makes a run of exact zeros sum to exactly 0 (so a
    profit factor with no losses is ``inf``, not a ratio over round-off).
    """
    out = np.zeros(x.size + 1, dtype=x.dtype)
    np.cumsum(x[::-1], out=out[-2::-1])
    return out


def _reverse_accumulate(x: np.ndarray, ufunc: np.ufunc, empty: float) -> np.ndarray:
    """``out[i] = ufunc.reduce(x[i:])`` for i in 0..m (``out[m] = empty``)."""
    out = np.full(x.size + 1, empty)
    ufunc.accumulate(x[::-1], out=out[-2::-1])
    return out


def _bin_sums(
    b: np.ndarray, n_bins: int, ret: np.ndarray, centre: float, *, extremes: bool = True
) -> tuple[np.ndarray, ...]:
    """Per-bin count, wins, sum, centred sum and sum of squares, gains, losses, min, max.

    Three ``np.bincount`` passes: every trade gets the cell ``3 b + c`` with
    ``c`` = 0 for a loss, 1 for a flat trade, 2 for a win; counting the cells
    gives the count and the wins of every bin, summing ``|return|`` in them
    the gains (cells 2) and losses (cells 0), and a third pass the sum of
    squares about ``centre``. The sum of returns is gains - losses and the
    centred sum that minus ``count * centre`` (round-off of the order of
    ``eps * |sum|``, far below what the centring protects the variance from).
    Without ``extremes`` the min and max are None (see :func:`_bin_extremes`).
    """
    cell = 3 * b
    cell += ret > 0.0
    cell += ret >= 0.0
    counts = np.bincount(cell, minlength=3 * n_bins).reshape(n_bins, 3)
    sums = np.bincount(cell, weights=np.abs(ret), minlength=3 * n_bins).reshape(n_bins, 3)
    dev = ret - centre
    dev *= dev
    q_dev = np.bincount(b, weights=dev, minlength=n_bins)
    cnt = counts.sum(axis=1)
    gains = sums[:, 2].copy()
    losses = sums[:, 0].copy()
    total = gains - losses
    rmin, rmax = _bin_extremes(b, n_bins, ret) if extremes else (None, None)
    return cnt, counts[:, 2].copy(), total, total - cnt * centre, q_dev, gains, losses, rmin, rmax


def _bin_extremes(b: np.ndarray, n_bins: int, ret: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest return of every bin (inf / -inf for an empty bin)."""
    rmin = np.full(n_bins, np.inf)
    rmax = np.full(n_bins, -np.inf)
    np.minimum.at(rmin, b, ret)
    np.maximum.at(rmax, b, ret)
    return rmin, rmax


def _maybe_flat(k: np.ndarray, s_dev: np.ndarray, q_dev: np.ndarray, centre: float) -> np.ndarray:
    """Thresholds whose kept returns *might* all be equal (checked exactly by the caller).

    Equal returns leave only round-off in the one-pass variance: at most about
    ``2 k eps`` of the squared level, a relative standard deviation below 1e-3 for
    any ``k`` up to 1e9. A larger spread proves two returns differ.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        kf = np.maximum(k, 1).astype(np.float64)
        var = np.maximum((q_dev - s_dev * s_dev / kf) / np.maximum(kf - 1.0, 1.0), 0.0)
        level = np.abs(s_dev / kf + centre) + abs(centre)
    return (k > 1) & ~(np.sqrt(var) > 1e-3 * level)


def _absolute_kept(
    score: np.ndarray,
    ret: np.ndarray,
    grid: np.ndarray,
    centre: float,
    *,
    bins: np.ndarray | None = None,
) -> _Kept:
    """Threshold ``j`` keeps the trades whose bin ``#{grid <= score}`` exceeds ``j``.

    From :data:`KERNEL_MIN_TRADES` trades on (and without precomputed ``bins``)
    the per-bin sums come from the compiled one-pass kernel
    (:func:`core.analytics.kernels.absolute_bin_sums`), otherwise from
    ``bincount`` passes; they add the same numbers (in the same order, or in
    two halves from :data:`core.analytics.kernels.SPLIT_MIN_TRADES` on).
    """
    t = grid.size
    b = bins
    if b is None and score.size >= KERNEL_MIN_TRADES and _has_lookup(grid, score.size):
        cnt, wins, total, s_dev, q_dev, gains, losses, smin = _kernel_bin_sums(
            score, ret, grid, centre
        )
    else:
        if b is None:
            b = _bin_right(score, grid)
        cnt, wins, total, s_dev, q_dev, gains, losses, _, _ = _bin_sums(
            b, t + 1, ret, centre, extremes=False
        )
        smin = np.full(t + 1, np.inf)
        np.minimum.at(smin, b, score)
    at = np.arange(1, t + 1)  # threshold j sums bins j + 1 .. t
    cutoff = _reverse_accumulate(smin, np.minimum, np.inf)[at]
    k = _reverse_cumsum(cnt)[at]
    s_dev = _reverse_cumsum(s_dev)[at]
    q_dev = _reverse_cumsum(q_dev)[at]
    flat = np.zeros(t, dtype=bool)
    if _maybe_flat(k, s_dev, q_dev, centre).any():  # rare: look at the extremes exactly
        rmin, rmax = _bin_extremes(_bin_right(score, grid) if b is None else b, t + 1, ret)
        hi = _reverse_accumulate(rmax, np.maximum, -np.inf)[at]
        lo = _reverse_accumulate(rmin, np.minimum, np.inf)[at]
        flat = hi == lo
    return _Kept(
        k=k,
        wins=_reverse_cumsum(wins)[at],
        total=_reverse_cumsum(total)[at],
        s_dev=s_dev,
        q_dev=q_dev,
        gains=_reverse_cumsum(gains)[at],
        losses=_reverse_cumsum(losses)[at],
        flat=flat,
        cutoff=np.where(k > 0, cutoff, np.nan),
    )


def _kernel_bin_sums(
    score: np.ndarray, ret: np.ndarray, grid: np.ndarray, centre: float
) -> tuple[np.ndarray, ...]:
    """:func:`_bin_sums` (without extremes) and the smallest score per bin, by the kernel."""
    from core.analytics import kernels  # numba: loaded only for large sweeps

    lo, scale, borders, guess = _lookup(grid)
    exact = _guess_is_exact(grid, borders, guess, scale) and score.min() >= lo
    acc = kernels.absolute_bin_sums(score, ret, centre, grid, guess, lo, scale, exact=exact)
    cnt = acc[:, kernels.COUNT].astype(np.int64)
    gains = acc[:, kernels.GAINS].copy()
    losses = acc[:, kernels.LOSSES].copy()
    total = gains - losses
    return (
        cnt,
        acc[:, kernels.WINS].astype(np.int64),
        total,
        total - cnt * centre,
        acc[:, kernels.SQ_DEV].copy(),
        gains,
        losses,
        acc[:, kernels.SCORE_MIN].copy(),
    )


_loading_kernel: threading.Thread | None = None
_loading_lock = threading.Lock()


def load_kernel_in_background() -> None:
    """Import numba and load the sweep's compiled kernel in a daemon thread, once per process.

    For a long-lived process (the dashboard), so that the first large sweep does
    not wait about half a second for it. Safe to call on every page run.
    """
    global _loading_kernel
    with _loading_lock:
        if _loading_kernel is None:
            _loading_kernel = threading.Thread(
                target=_load_kernel, name="signal-lab-load-kernel", daemon=True
            )
            _loading_kernel.start()


def _load_kernel() -> None:
    from core.analytics import kernels

    kernels.warm()


def _kth_largest(score: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The ``k``-th largest score for every ``k`` in 1..n, without sorting every score.

    Scores in [0, 1] are counted in 65,536 equal cells (``floor(score * 2**16)``
    is exact and monotone); the cell holding each ``k``-th largest is read off
    the counts from the top, and only the scores of those cells are sorted.
    """
    cells = _SCORE_CELLS
    cell = np.minimum((score * cells).astype(np.intp), cells - 1)
    at_or_above = _reverse_cumsum(np.bincount(cell, minlength=cells))  # (cells + 1,)
    # Highest cell c with at_or_above[c] >= k (at_or_above is non-increasing).
    c = cells - 1 - np.searchsorted(at_or_above[cells - 1 :: -1], k, side="left")
    wanted = np.zeros(cells, dtype=bool)
    wanted[c] = True
    candidates = np.sort(score[wanted[cell]])
    cand_cell = np.minimum((candidates * cells).astype(np.intp), cells - 1)
    end = np.searchsorted(cand_cell, c, side="right")
    return candidates[end - (k - at_or_above[c + 1])]


def _percentile_kept(score: np.ndarray, ret: np.ndarray, grid: np.ndarray, centre: float) -> _Kept:
    """Top ``k`` trades by score, ties at the cut taken in row order (earlier first).

    With ``v`` the ``k``-th largest score, the kept set is every trade scoring
    above ``v`` (a suffix of bins over the distinct cut values) plus the first
    ``m = k - #{score > v}`` trades, in row order, of those scoring exactly ``v``
    (prefix sums within each tie group).
    """
    n = score.size
    t = grid.size
    k = _keep_count(grid, n)
    some = k > 0
    value = np.full(t, np.nan)
    value[some] = _kth_largest(score, k[some])
    cuts = np.unique(value[some])  # the distinct cut scores, U of them
    u_count = cuts.size
    right = _bin_right(score, cuts)  # #{cuts <= score}
    tie = score == np.insert(cuts, 0, np.nan)[right]  # scores exactly a cut (NaN never equal)
    b = right - tie  # #{cuts < score}: a trade scores above cut u iff b > u
    cnt, wins, total, s_dev, q_dev, gains, losses, rmin, rmax = _bin_sums(
        b, u_count + 1, ret, centre
    )
    # Tie groups: the trades scoring exactly cuts[u], grouped by u, each in row order.
    tied = np.flatnonzero(tie)
    group = b[tied]
    small = np.uint16 if u_count <= np.iinfo(np.uint16).max else np.int64
    order = np.argsort(group.astype(small), kind="stable")  # a radix sort for uint16
    tied, group = tied[order], group[order]
    first = np.zeros(u_count + 1, dtype=np.int64)
    np.cumsum(np.bincount(group, minlength=u_count), out=first[1:])
    r_t = ret[tied]
    d_t = r_t - centre
    lead_of = r_t[first[group]]  # the first return of each trade's group

    def prefix(x: np.ndarray) -> np.ndarray:
        out = np.zeros(x.size + 1, dtype=np.result_type(x.dtype, np.int64))
        np.cumsum(x, out=out[1:])
        return out

    u = np.searchsorted(cuts, value[some])
    above = u + 1  # bins above cut u
    kk = k[some]
    k_above = _reverse_cumsum(cnt)[above]
    m = kk - k_above  # >= 1: v is the k-th largest
    a = first[u]
    e = a + m

    def tie_sum(x: np.ndarray) -> np.ndarray:
        p = prefix(x)
        return p[e] - p[a]

    hi = _reverse_accumulate(rmax, np.maximum, -np.inf)[above]
    lo = _reverse_accumulate(rmin, np.minimum, np.inf)[above]
    tie_flat = tie_sum(r_t != lead_of) == 0
    tie_value = r_t[a]
    strict_flat = (k_above == 0) | ((hi == lo) & (hi == tie_value))

    def full(part: np.ndarray, dtype: type) -> np.ndarray:
        out = np.zeros(t, dtype=dtype)
        out[some] = part
        return out

    return _Kept(
        k=full(kk, np.int64),
        wins=full(_reverse_cumsum(wins)[above] + tie_sum(is_win(r_t)), np.int64),
        total=full(_reverse_cumsum(total)[above] + tie_sum(r_t), np.float64),
        s_dev=full(_reverse_cumsum(s_dev)[above] + tie_sum(d_t), np.float64),
        q_dev=full(_reverse_cumsum(q_dev)[above] + tie_sum(d_t * d_t), np.float64),
        gains=full(_reverse_cumsum(gains)[above] + tie_sum(np.maximum(r_t, 0.0)), np.float64),
        losses=full(_reverse_cumsum(losses)[above] + tie_sum(np.maximum(-r_t, 0.0)), np.float64),
        flat=full(tie_flat & strict_flat, bool),
        cutoff=value,
    )


def _point_table(
    kept: _Kept, grid: np.ndarray, n: int, centre: float, *, level: float
) -> pd.DataFrame:
    k = kept.k
    s_dev, q_dev = kept.s_dev, kept.q_dev
    with np.errstate(invalid="ignore", divide="ignore"):
        kf = k.astype(np.float64)
        mean = np.where(k > 0, s_dev / np.where(k > 0, kf, 1.0) + centre, np.nan)
        var = (q_dev - s_dev * s_dev / np.where(k > 0, kf, 1.0)) / np.where(k > 1, kf - 1.0, 1.0)
        std = np.where(k > 1, np.sqrt(np.maximum(var, 0.0)), np.nan)
        # Equal kept returns -> std exactly 0 (the one-pass formula would leave ~1e-17).
        std = np.where((k > 1) & kept.flat, 0.0, std)
    sharpe = sharpe_ratio(mean, std)
    rate = win_rate(kept.wins, k)
    pf = profit_factor(kept.gains, kept.losses)
    win_low, win_high = wilson_interval(kept.wins, k, level=level)
    win_low = np.where(k > 0, win_low, np.nan)
    win_high = np.where(k > 0, win_high, np.nan)
    return pd.DataFrame(
        {
            "threshold": grid,
            "score_cutoff": kept.cutoff,
            "trades": k,
            "coverage": kf / n,
            "wins": kept.wins.astype(np.int64),
            "win_rate": rate,
            "win_low": win_low,
            "win_high": win_high,
            "mean_return": mean,
            "std_return": std,
            "sharpe": sharpe,
            "profit_factor": pf,
            "expectancy": mean,
            "total_return": kept.total,
        }
    )


# ----------------------------------------------------------------------------
# ordering (apply_threshold, bootstrap bands)


def _ascending_order(score: np.ndarray, mode: str) -> np.ndarray:
    """Order in which every threshold keeps a suffix.

    Absolute: ascending score (stable). Percentile: the reverse of "descending
    score, earlier trade first", so the top ``k`` trades are the last ``k``.
    """
    # Scores lie in [0, 1]: the bits of a non-negative double, read as int64, are in
    # the same order as its value, and a stable argsort of int64 runs about twice as
    # fast as one of float64 (``+ 0.0`` turns -0.0 into 0.0, which it equals).
    bits = (score + 0.0).view(np.int64)
    if mode == "absolute":
        return np.argsort(bits, kind="stable")
    # Descending score, earlier trade first (a stable sort of the negated bits), reversed.
    return np.argsort(-bits, kind="stable")[::-1]


def _segment_order(
    score: np.ndarray, grid: np.ndarray, bins: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Absolute mode's trades by bin (row order within a bin) and each threshold's first position.

    Every threshold keeps a suffix of this order, as of the ascending score order,
    with the same trades in each segment; only the order within a segment (which
    the bootstrap's sums do not depend on) differs. A stable sort of the small bin
    numbers (a radix sort) instead of a sort of a million scores.
    """
    t = grid.size
    b = _bin_right(score, grid) if bins is None else bins
    small = b.astype(np.uint16) if t < np.iinfo(np.uint16).max else b
    order = np.argsort(small, kind="stable")
    starts = np.cumsum(np.bincount(b, minlength=t + 1))[:t]  # #{bin <= j}: kept from there
    return order, starts.astype(np.int64)


def _keep_count(q: np.ndarray, n: int) -> np.ndarray:
    """Trades kept at percentage ``q``: ``ceil(q * n / 100)`` (rounded to 1e-9 first)."""
    return np.clip(np.ceil(np.round(q * n / 100.0, 9)), 0, n).astype(np.int64)


def _start_indices(s_sorted: np.ndarray, grid: np.ndarray, mode: str) -> np.ndarray:
    """First sorted position kept at each threshold (``n`` when nothing is kept)."""
    if mode == "absolute":
        return np.searchsorted(s_sorted, grid, side="left").astype(np.int64)
    return s_sorted.size - _keep_count(grid, s_sorted.size)


@functools.cache
def _poisson_table() -> np.ndarray:
    """Poisson(1) inverse CDF on the 65,536 mid-points of a 16-bit uniform (read-only).

    The smallest ``k`` with ``P(X <= k) >= u``, looked up in the CDF
    (``scipy.special.pdtr``): the values of ``scipy.stats.poisson.ppf(u, 1)``
    (checked in the tests) without its 0.1 s of root finding, and computed once.
    """
    u = (np.arange(65_536, dtype=np.float64) + 0.5) / 65_536.0
    cdf = special.pdtr(np.arange(32), 1.0)  # P(X <= 31) rounds to 1
    table = np.searchsorted(cdf, u, side="left").astype(np.float64)
    table.flags.writeable = False
    return table


def _uniform16(rng: np.random.Generator, shape: tuple[int, int], *, raw: bool) -> np.ndarray:
    """``rng.integers(0, 65_536, size=shape, dtype=np.uint16)``, the same values, faster.

    numpy draws full-range 16-bit integers from 32-bit outputs, low half first,
    and PCG64 gives its 32-bit outputs as the low then the high half of a 64-bit
    one; so on a little-endian machine the draws are the raw 64-bit stream
    viewed as uint16 (checked against ``integers`` in the tests). Reading the
    raw stream skips ``integers``' per-value buffering. The stream stays in step
    as long as every call but the last takes a multiple of four values
    (``raw=True`` says so); otherwise ``integers`` itself is called.
    """
    count = shape[0] * shape[1]
    if raw and sys.byteorder == "little" and isinstance(rng.bit_generator, np.random.PCG64):
        words = rng.bit_generator.random_raw(-(-count // 4))
        return words.view(np.uint16)[:count].reshape(shape)
    return rng.integers(0, 65_536, size=shape, dtype=np.uint16)


def _poisson_weights(u16: np.ndarray) -> np.ndarray:
    """``_poisson_table()[u16]`` as float64, by comparisons instead of a gather.

    The table is a step function of the 16-bit draw: the weight is the number
    of its eight steps at or below the draw. Eight vectorised comparisons run
    about twice as fast as indexing a 512 KB table with a million uint16.
    """
    acc = np.zeros(u16.shape, dtype=np.uint8)
    for step in _poisson_steps():
        acc += u16 >= step
    return acc.astype(np.float64)


@functools.cache
def _poisson_steps() -> tuple[np.uint16, ...]:
    """The draws at which the Poisson table steps up: first ``u`` with value >= k, k >= 1."""
    table = _poisson_table()
    top = int(table.max())
    return tuple(np.uint16(i) for i in np.searchsorted(table, np.arange(1, top + 1), side="left"))


def _segment_sums(
    returns: np.ndarray,
    centre: float,
    bounds: np.ndarray,
    *,
    n_boot: int,
    seed: int,
) -> np.ndarray:
    """Poisson-bootstrap weighted sums of the trades' features over each segment.

    The features of a trade with return ``r`` are ``1, max(r, 0), max(-r, 0),
    (r - centre) ** 2``; they are built chunk by chunk in a buffer that stays
    in cache, never for all trades at once.

    Parameters
    ----------
    returns : ndarray, shape (m,)
        Returns for positions ``bounds[0] .. bounds[-1]`` (relative).
    centre : float
        Centre of the squared deviations.
    bounds : ndarray of int, shape (U + 1,)
        Segment ``j`` is positions ``bounds[j]:bounds[j + 1]``.

    Returns
    -------
    ndarray, shape (n_boot, U, 4)
    """
    rng = np.random.default_rng(seed)
    # The raw stream is the 16-bit draws only when every chunk but the last takes a
    # whole number of 64-bit words (see _uniform16).
    raw = (n_boot * _CHUNK) % 4 == 0
    n_seg = bounds.size - 1
    n_feat = 4
    acc = np.zeros((n_boot, n_seg, n_feat))
    seg_of = np.repeat(np.arange(n_seg), np.diff(bounds))
    m = returns.shape[0]
    buffer = np.empty((min(m, _CHUNK), n_feat))
    for lo in range(0, m, _CHUNK):
        hi = min(m, lo + _CHUNK)
        weights = _poisson_weights(_uniform16(rng, (n_boot, hi - lo), raw=raw))
        features = _features(returns[lo:hi], centre, out=buffer[: hi - lo])
        first, last = seg_of[lo], seg_of[hi - 1]
        if last - first + 1 <= _MAX_DENSE_PIECES:
            for j in range(first, last + 1):
                a = max(bounds[j], lo) - lo
                b = min(bounds[j + 1], hi) - lo
                if b > a:
                    acc[:, j, :] += weights[:, a:b] @ features[a:b]
        else:
            local = seg_of[lo:hi] - first
            n_local = last - first + 1
            rows = np.repeat(np.arange(hi - lo), n_feat)
            cols = (local[:, None] * n_feat + np.arange(n_feat)).ravel()
            block = sparse.csr_array(
                (features.ravel(), (rows, cols)), shape=(hi - lo, n_local * n_feat)
            )
            part = np.asarray((block.T @ weights.T).T)
            acc[:, first : last + 1, :] += part.reshape(n_boot, n_local, n_feat)
    return acc


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """The BLAS libraries loaded, found once (``threadpool_limits`` rescans them: 35 ms)."""
    return ThreadpoolController()


def _features(r: np.ndarray, centre: float, *, out: np.ndarray) -> np.ndarray:
    """``out[:] = [1, max(r, 0), max(-r, 0), (r - centre) ** 2]`` per trade; returns ``out``."""
    out[:, 0] = 1.0
    np.maximum(r, 0.0, out=out[:, 1])
    np.negative(r, out=out[:, 2])
    np.maximum(out[:, 2], 0.0, out=out[:, 2])
    np.subtract(r, centre, out=out[:, 3])
    np.multiply(out[:, 3], out[:, 3], out=out[:, 3])
    return out


def _bootstrap_bands(
    r_sorted: np.ndarray,
    starts: np.ndarray,
    *,
    n_boot: int,
    level: float,
    seed: int,
) -> dict[str, np.ndarray]:
    n = r_sorted.size
    n_thr = starts.size
    out = {name: np.full(n_thr, np.nan) for name in BAND_COLUMNS}
    cuts = np.unique(starts[starts < n])
    if cuts.size == 0:
        return out
    centre = float(r_sorted.mean())
    tail = r_sorted[cuts[0] :]
    bounds = np.append(cuts, n) - cuts[0]
    seg = _segment_sums(tail, centre, bounds, n_boot=n_boot, seed=seed)
    # Reverse cumulative sum over segments: sums over everything kept at each cut.
    suffix = np.cumsum(seg[:, ::-1, :], axis=1)[:, ::-1, :]
    w, g, lo_, q = (suffix[..., i] for i in range(4))
    with np.errstate(invalid="ignore", divide="ignore"):
        valid = w >= 2
        wsafe = np.where(valid, w, 2.0)
        mean = np.where(valid, (g - lo_) / wsafe, np.nan)
        var = (q - wsafe * (mean - centre) ** 2) / (wsafe - 1.0)
        # Treat round-off sized variances as zero dispersion (Sharpe undefined).
        var = np.where(var > 1e-12 * q / wsafe, var, 0.0)
    sharpe = np.where(valid, sharpe_ratio(mean, np.sqrt(var)), np.nan)
    pf = np.where(valid, profit_factor(g, lo_), np.nan)
    alpha = (1.0 - level) / 2.0
    pos = np.searchsorted(cuts, starts)  # column of each threshold (where starts < n)
    has = (starts < n) & (n - starts >= 2)
    idx = np.flatnonzero(has)
    if idx.size == 0:
        return out
    cols = np.unique(pos[idx])
    for name, values, method in (
        ("mean_return", mean, "linear"),
        ("sharpe", sharpe, "linear"),
        # Order statistics: a linear interpolation between inf and inf is NaN.
        ("profit_factor", pf, "inverted_cdf"),
    ):
        sub = values[:, cols]
        ok = ~np.isnan(sub).all(axis=0)
        low = np.full(cuts.size, np.nan)
        high = np.full(cuts.size, np.nan)
        if ok.any():
            q_low, q_high = _column_quantiles(sub[:, ok], [alpha, 1.0 - alpha], method=method)
            low[cols[ok]] = q_low
            high[cols[ok]] = q_high
        out[f"{name}_low"][idx] = low[pos[idx]]
        out[f"{name}_high"][idx] = high[pos[idx]]
    return out


def _column_quantiles(values: np.ndarray, q: list[float], *, method: str) -> np.ndarray:
    """``np.nanquantile(values, q, axis=0, method=method)``, the same values, vectorised.

    ``nanquantile`` along an axis runs a Python-level function per column; the
    columns without NaN take ``np.quantile``'s vectorised path (the same
    interpolation, value for value) and only the others ``nanquantile``.
    """
    out = np.empty((len(q), values.shape[1]))
    gaps = np.isnan(values).any(axis=0)
    with np.errstate(invalid="ignore"):  # linear between inf and inf: NaN, as nanquantile
        if not gaps.all():
            out[:, ~gaps] = np.quantile(values[:, ~gaps], q, axis=0, method=method)
        if gaps.any():
            out[:, gaps] = np.nanquantile(values[:, gaps], q, axis=0, method=method)
    return out
