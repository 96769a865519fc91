"""Compiled one-pass kernels for the threshold sweep at scale (numba).

numpy's ``bincount`` makes one pass over the trades per statistic, and binning a
score among the thresholds takes several more (scale, cast, look up, compare):
about thirty passes over a million trades for a sweep, each bound by memory. The
kernel here reads every trade once, finds its bin with the same lookup table as
:func:`core.analytics.sweep._bin_right` and adds it to one row of six
per-bin accumulators (on a grid whose lookup is exact, such as the default
uniform one, without checking the bin). It runs without the GIL (``nogil``): from
:data:`SPLIT_MIN_TRADES` trades on, the first and second halves of the trades
are summed at once (the caller's thread and one worker) and the two halves'
rows added, always split at ``n // 2`` so the result never depends on the
number of cores or on scheduling.

Each half adds the same numbers in the same (row) order as the ``bincount``
passes; below :data:`SPLIT_MIN_TRADES` the sums are bit-for-bit those of the
numpy path, above it they differ from them by the rounding of one addition
(tested). numba compiles it on
first use and caches the machine code next to this file (``__pycache__``, or the
user's cache directory when the checkout is read-only; ``make setup`` compiles
it once). Loading numba and the cached code costs about half a second per
process, so :mod:`core.analytics.sweep` calls it only for large sweeps
(:data:`core.analytics.sweep.KERNEL_MIN_TRADES`) and the dashboard loads it in
the background when it starts (:func:`core.analytics.sweep.load_kernel_in_background`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

__all__ = ["absolute_bin_sums", "warm"]

#: Columns of the accumulator rows returned by :func:`absolute_bin_sums`.
COUNT, WINS, GAINS, LOSSES, SQ_DEV, SCORE_MIN = range(6)
#: From this many trades on, the two halves are summed on two threads.
SPLIT_MIN_TRADES = 200_000


def _jit(fn: Callable) -> Callable:
    """``numba.njit`` with a disk cache; compiled per process if no cache place is writable."""
    try:
        return numba.njit(cache=True, nogil=True, boundscheck=False)(fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(nogil=True, boundscheck=False)(fn)


def _absolute_bin_sums(score, ret, centre, edges, guess, lo, scale, exact):  # pragma: no cover
    t = edges.size
    last_cell = guess.size - 1.0
    upper = np.empty(t + 1)  # upper[b] = edges[b], inf past the last edge
    upper[:t] = edges
    upper[t] = np.inf
    lower = np.empty(t + 1)  # lower[b] = edges[b - 1], -inf before the first
    lower[0] = -np.inf
    lower[1:] = edges
    acc = np.zeros((t + 1, 6))
    acc[:, SCORE_MIN] = np.inf
    for i in range(score.size):
        v = score[i]
        b = guess[int(min(max((v - lo) * scale, 0.0), last_cell))]
        b += v >= upper[b]
        if not exact and (v < lower[b] or v >= upper[b]):  # the guess missed: search
            b = np.searchsorted(edges, v, side="right")
        r = ret[i]
        row = acc[b]
        row[COUNT] += 1.0
        row[WINS] += r > 0.0
        row[GAINS] += max(r, 0.0)
        row[LOSSES] += max(-r, 0.0)
        d = r - centre
        row[SQ_DEV] += d * d
        row[SCORE_MIN] = min(row[SCORE_MIN], v)
    return acc


_absolute_bin_sums_jit = _jit(_absolute_bin_sums)


def absolute_bin_sums(
    score: np.ndarray,
    ret: np.ndarray,
    centre: float,
    edges: np.ndarray,
    guess: np.ndarray,
    lo: float,
    scale: float,
    *,
    exact: bool,
) -> np.ndarray:
    """Per-bin sums of the trades binned by ``#{edges <= score}``, in one pass.

    Parameters
    ----------
    score : ndarray of float64, shape (n,)
        Scores, no NaN.
    ret : ndarray of float64, shape (n,)
        Returns in percent, finite.
    centre : float
        The value the squared deviations are taken about (the mean return).
    edges : ndarray of float64, shape (t,)
        Thresholds, ascending, ``edges[-1] > edges[0]``.
    guess, lo, scale
        :func:`core.analytics.sweep._lookup` of ``edges``: the bin of the left
        border of each of ``guess.size`` equal cells from ``lo``, ``scale``
        cells per unit of score.
    exact : bool
        The guess plus one step is exact for every score
        (:func:`core.analytics.sweep._guess_is_exact` and no score below
        ``lo``); otherwise every bin is checked against its edges and searched
        when the guess missed.

    Returns
    -------
    ndarray of float64, shape (t + 1, 6)
        Row ``b`` holds the count, wins (``return > 0``), gains, losses (minus
        the sum of negative returns), sum of squared deviations from
        ``centre`` and smallest score of bin ``b`` (columns :data:`COUNT` ..
        :data:`SCORE_MIN`; the smallest score of an empty bin is inf).
    """
    # One machine-code signature for every caller: numba types a read-only array (a
    # pandas column under copy-on-write) apart from a writable one and would compile
    # (seconds) on the first call of each kind; read-only views of them all are one kind.
    score, ret = _read_only(score, np.float64), _read_only(ret, np.float64)
    edges, guess = _read_only(edges, np.float64), _read_only(guess, np.intp)
    args = (float(centre), edges, guess, float(lo), float(scale), bool(exact))
    n = score.size
    if n < SPLIT_MIN_TRADES:
        return _absolute_bin_sums_jit(score, ret, *args)
    h = n // 2
    later = _worker().submit(_absolute_bin_sums_jit, score[h:], ret[h:], *args)
    acc = _absolute_bin_sums_jit(score[:h], ret[:h], *args)
    return _add_rows(acc, later.result())


def _read_only(values: np.ndarray, dtype: type) -> np.ndarray:
    """A read-only, C-contiguous view of ``values`` as ``dtype`` (a copy only if needed)."""
    view = np.ascontiguousarray(values, dtype=dtype).view()
    view.flags.writeable = False
    return view


def _add_rows(acc: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Rows of two parts of the trades combined into ``acc``: sums added, smallest score kept."""
    acc[:, :SCORE_MIN] += other[:, :SCORE_MIN]
    np.minimum(acc[:, SCORE_MIN], other[:, SCORE_MIN], out=acc[:, SCORE_MIN])
    return acc


@functools.cache
def _worker() -> ThreadPoolExecutor:
    """The one worker thread that sums the second half of a large sweep."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="signal-lab-kernel")


def warm() -> None:
    """Compile (or load from the cache) every kernel, on a handful of values."""
    edges = np.linspace(0.0, 1.0, 5)
    guess = np.searchsorted(edges, np.arange(23) / 23.0, side="right")
    for exact in (True, False):
        absolute_bin_sums(
            np.array([0.1, 0.6]), np.array([1.0, -1.0]), 0.0, edges, guess, 0.0, 23.0, exact=exact
        )


if __name__ == "__main__":  # ``python -m core.analytics.kernels``: compile into the cache
    warm()
