"""The sweep's compiled one-pass kernel (core.analytics.kernels) against the bincount path.

On one thread the kernel adds the same numbers in the same order as the
``bincount`` passes, so its sums must be bit-for-bit theirs; split over two
halves (large inputs) the counts, wins and smallest scores stay exact and the
sums may differ by the rounding of one addition. Sweeps through the kernel are
also checked against brute force.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sweep_binning import assert_rows, edges_and_values, make_trades

from core.analytics import kernels
from core.analytics import sweep as sweep_module
from core.analytics.sweep import threshold_sweep


def numpy_sums(score, ret, grid, centre):
    """The bincount path: bins by searchsorted, per-bin sums, smallest score by minimum.at."""
    b = np.searchsorted(grid, score, side="right")
    cnt, wins, total, s_dev, q_dev, gains, losses, _, _ = sweep_module._bin_sums(
        b, grid.size + 1, ret, centre, extremes=False
    )
    smin = np.full(grid.size + 1, np.inf)
    np.minimum.at(smin, b, score)
    return cnt, wins, total, s_dev, q_dev, gains, losses, smin


def returns_for(rng: np.random.Generator, n: int) -> np.ndarray:
    """Returns with exact zeros (flat trades) and a spread of magnitudes."""
    r = rng.normal(0.02, 1.0, n) * rng.choice([0.01, 1.0, 100.0], n)
    r[rng.random(n) < 0.05] = 0.0
    return r


@st.composite
def kernel_cases(draw):
    """Thresholds, scores (edges_and_values), returns with flat trades, their mean."""
    grid, score = draw(edges_and_values())
    ret = returns_for(np.random.default_rng(draw(st.integers(0, 2**32 - 1))), score.size)
    return grid, score, ret, float(ret.mean())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kernel_cases())
def test_kernel_sums_are_the_bincount_sums_bit_for_bit(case):
    grid, score, ret, centre = case
    got = sweep_module._kernel_bin_sums(score, ret, grid, centre)
    for name, a, b in zip(
        ("count", "wins", "total", "s_dev", "q_dev", "gains", "losses", "smin"),
        got,
        numpy_sums(score, ret, grid, centre),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b, err_msg=name)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kernel_cases())
def test_kernel_split_in_halves_keeps_counts_exact_and_sums_to_rounding(case):
    grid, score, ret, centre = case
    lo, scale, borders, guess = sweep_module._lookup(grid)
    exact = sweep_module._guess_is_exact(grid, borders, guess, scale) and score.min() >= lo
    args = (score, ret, centre, grid, guess, lo, scale)
    split = kernels.SPLIT_MIN_TRADES
    try:
        kernels.SPLIT_MIN_TRADES = score.size + 1  # one pass
        whole = kernels.absolute_bin_sums(*args, exact=exact)
        kernels.SPLIT_MIN_TRADES = 2  # two halves on two threads
        halves = kernels.absolute_bin_sums(*args, exact=exact)
    finally:
        kernels.SPLIT_MIN_TRADES = split
    for column in (kernels.COUNT, kernels.WINS, kernels.SCORE_MIN):
        np.testing.assert_array_equal(halves[:, column], whole[:, column])
    scale_of = np.abs(ret).sum() + (ret - centre) @ (ret - centre)
    np.testing.assert_allclose(halves, whole, rtol=0, atol=1e-12 * scale_of)


@pytest.fixture(params=["bincount", "kernel", "kernel_in_halves"])
def path(request, monkeypatch) -> str:
    """Which per-bin sums the sweep uses on these (small) inputs."""
    if request.param != "bincount":
        monkeypatch.setattr(sweep_module, "KERNEL_MIN_TRADES", 0)
    if request.param == "kernel_in_halves":
        monkeypatch.setattr(kernels, "SPLIT_MIN_TRADES", 2)
    return request.param


def test_sweep_through_each_path_equals_brute_force(path):
    rng = np.random.default_rng(23)
    n = 6_000
    scores = np.round(rng.random(n) * 40) / 40  # ties on the grid's edges
    returns = np.round(rng.normal(0.05, 1.0, n), 2)
    returns[scores >= 0.95] = 0.25  # the top thresholds keep equal returns: std 0
    frame = make_trades(scores, returns)
    for grid in (np.linspace(0, 1, 60), np.sort(np.unique(rng.random(90)))):
        table = threshold_sweep(frame, thresholds=grid, cost_bps=2.0).table
        net = returns - 0.02
        assert_rows(table, net, [scores >= t for t in table["threshold"]])
        cutoffs = [scores[scores >= t].min() if (scores >= t).any() else math.nan
                   for t in table["threshold"]]  # fmt: skip
        np.testing.assert_array_equal(table["score_cutoff"], cutoffs)
    top = threshold_sweep(frame, thresholds=np.linspace(0, 1, 60)).table
    top = top[top["threshold"] >= 0.95]
    assert (top["std_return"].iloc[:-1] == 0.0).all() and top["sharpe"].isna().all()


def test_large_sweep_takes_the_kernel_and_equals_the_bincount_path(monkeypatch):
    rng = np.random.default_rng(5)
    n = sweep_module.KERNEL_MIN_TRADES + 1_001
    frame = make_trades(rng.beta(2.0, 2.0, n), rng.normal(0.0, 1.0, n))
    calls = []
    real = kernels.absolute_bin_sums
    monkeypatch.setattr(
        kernels, "absolute_bin_sums", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    fast = threshold_sweep(frame, thresholds=np.linspace(0, 1, 1_000)).table
    assert calls == [1]
    monkeypatch.setattr(sweep_module, "KERNEL_MIN_TRADES", 10**12)
    slow = threshold_sweep(frame, thresholds=np.linspace(0, 1, 1_000)).table
    assert calls == [1]
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-12, atol=1e-12)


def test_kernel_loads_in_background_once_per_process():
    sweep_module.load_kernel_in_background()
    first = sweep_module._loading_kernel
    first.join(timeout=120)
    assert not first.is_alive()
    sweep_module.load_kernel_in_background()
    assert sweep_module._loading_kernel is first  # not started again
    assert kernels._absolute_bin_sums_jit.signatures  # compiled or loaded from the cache


def test_every_caller_shares_one_compiled_signature(monkeypatch):
    """Read-only columns (pandas copy-on-write) and writable arrays: no second compilation."""
    monkeypatch.setattr(sweep_module, "KERNEL_MIN_TRADES", 0)
    rng = np.random.default_rng(9)
    frame = make_trades(rng.random(5_000), rng.normal(0.0, 1.0, 5_000))
    threshold_sweep(frame, thresholds=np.linspace(0, 1, 101))  # read-only columns
    threshold_sweep(frame, thresholds=np.linspace(0, 1, 101), cost_bps=3.0)  # a new array
    score, ret = rng.random(5_000), rng.normal(0.0, 1.0, 5_000)  # writable
    sweep_module._kernel_bin_sums(score, ret, np.linspace(0, 1, 64), 0.0)
    sweep_module._kernel_bin_sums(score[::2], ret[::2], np.linspace(0, 1, 64), 0.0)  # strided
    assert len(kernels._absolute_bin_sums_jit.signatures) == 1
