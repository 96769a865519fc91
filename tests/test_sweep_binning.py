"""The sweep's binning path (large inputs) against brute force: lookup-table bins, k-th largest.

``tests/test_sweep.py`` checks the sweep on small frames, where the binning falls
back to ``np.searchsorted``; these cases are large enough (>= 4,096 trades,
>= 32 thresholds) to take the lookup table and the cell histogram of percentile
mode, with ties on the cut values and clustered thresholds.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.analytics import sweep as sweep_module
from core.analytics.sweep import threshold_sweep


def make_trades(scores: np.ndarray, returns: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"confidence": scores, "return_pct": returns, "win": returns > 0})


def brute_force(returns: np.ndarray, kept: np.ndarray) -> dict[str, float]:
    r = returns[kept]
    k = r.size
    gains, losses = r[r > 0].sum(), -r[r < 0].sum()
    std = float(r.std(ddof=1)) if k >= 2 else math.nan
    if k >= 2 and np.ptp(r) == 0:
        std = 0.0
    return {
        "trades": k,
        "wins": int((r > 0).sum()),
        "mean_return": float(r.mean()) if k else math.nan,
        "std_return": std,
        "total_return": float(r.sum()),
        "profit_factor": gains / losses if losses > 0 else (math.inf if gains > 0 else math.nan),
    }


def assert_rows(table: pd.DataFrame, returns: np.ndarray, kept_sets) -> None:
    for (_, row), kept in zip(table.iterrows(), kept_sets, strict=True):
        for column, value in brute_force(returns, kept).items():
            got = float(row[column])
            if math.isnan(value):
                assert math.isnan(got), (row["threshold"], column, got)
            elif math.isinf(value):
                assert got == value, (row["threshold"], column, got)
            else:
                assert got == pytest.approx(value, rel=1e-9, abs=1e-9), (row["threshold"], column)


@st.composite
def edges_and_values(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_edges = draw(st.integers(32, 300))
    layout = draw(st.sampled_from(["uniform", "percent", "random", "clustered", "coarse"]))
    if layout == "uniform":
        edges = np.linspace(0.0, 1.0, n_edges)
    elif layout == "percent":  # the default grid and its kind: 0.00, 0.01, ..., 1.00
        edges = np.arange(101) / 100.0
    elif layout == "random":
        edges = np.unique(rng.random(n_edges))
    elif layout == "clustered":  # many edges inside one lookup cell
        edges = np.unique(np.concatenate([rng.random(8), 0.5 + rng.random(n_edges) * 1e-6]))
    else:
        edges = np.unique(np.round(rng.random(n_edges), 2))
    # Values: random, exactly on edges, one ulp either side, outside the range.
    on = rng.choice(edges, 4_000)
    values = np.concatenate([
        rng.random(3_000) * 1.2 - 0.1, on, np.nextafter(on, -np.inf), np.nextafter(on, np.inf),
    ])  # fmt: skip
    if draw(st.booleans()):  # none below the first edge: the lookup table's exact path
        values = values[values >= edges[0]]
    return edges, rng.permutation(values)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edges_and_values())
def test_lookup_table_bins_equal_searchsorted(case):
    edges, values = case
    assume(values.size >= 4_096)
    expected = np.searchsorted(edges, values, side="right")
    assert np.array_equal(sweep_module._bin_right(values, edges), expected)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.sampled_from([1_000, 65_536, 10**6]))
def test_kth_largest_equals_sorting(seed, resolution):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 20_000))
    score = np.round(rng.random(n) * resolution) / resolution  # ties at every resolution
    k = np.unique(rng.integers(1, n + 1, size=50))
    expected = np.sort(score)[::-1][k - 1]
    assert np.array_equal(sweep_module._kth_largest(score, k), expected)


@pytest.fixture(scope="module")
def big() -> tuple[np.ndarray, np.ndarray]:
    """6,000 trades on a coarse score grid (many ties), returns in cents (flat runs too)."""
    rng = np.random.default_rng(11)
    n = 6_000
    scores = np.round(rng.random(n) * 40) / 40
    returns = np.round(rng.normal(0.05, 1.0, n), 2)
    returns[scores >= 0.95] = 0.25  # the top thresholds keep equal returns: std 0
    return scores, returns


def test_large_absolute_sweep_equals_brute_force(big):
    scores, returns = big
    grid = np.concatenate([np.linspace(0, 1, 60), [0.5 + 1e-9, 0.5 - 1e-9, 0.975, 0.95]])
    table = threshold_sweep(make_trades(scores, returns), thresholds=grid).table
    assert_rows(table, returns, [scores >= t for t in table["threshold"]])
    top = table[table["threshold"] >= 0.95]
    assert (top["std_return"].iloc[:-1] == 0.0).all() and top["sharpe"].isna().all()
    cutoffs = [scores[scores >= t].min() if (scores >= t).any() else math.nan
               for t in table["threshold"]]  # fmt: skip
    np.testing.assert_array_equal(table["score_cutoff"], cutoffs)


def test_large_percentile_sweep_equals_brute_force_top_k(big):
    scores, returns = big
    n = scores.size
    grid = np.concatenate([np.linspace(0.5, 100, 80), [1e-12, 33.333333, 0.01]])
    table = threshold_sweep(make_trades(scores, returns), thresholds=grid, mode="percentile").table
    ranking = np.lexsort((np.arange(n), -scores))  # higher score, then earlier row, first
    kept_sets = []
    for q in table["threshold"]:
        k = math.ceil(round(q * n / 100.0, 9))
        kept = np.zeros(n, dtype=bool)
        kept[ranking[:k]] = True
        kept_sets.append(kept)
    assert_rows(table, returns, kept_sets)
    expected_cutoff = [scores[kept].min() if kept.any() else math.nan for kept in kept_sets]
    np.testing.assert_array_equal(table["score_cutoff"], expected_cutoff)
    assert table["trades"].iloc[0] == 0  # 1e-12 % of 6,000 trades keeps none


def test_bands_run_with_one_blas_thread(big, monkeypatch):
    scores, returns = big
    seen = []
    original = sweep_module._segment_sums

    def spy(*args, **kwargs):
        from threadpoolctl import threadpool_info

        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return original(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "_segment_sums", spy)
    threshold_sweep(make_trades(scores, returns), bands=True, n_boot=20)
    assert seen and set(seen) == {1}


# ---------------------------------------------------------------------------
# the fused per-bin sums, the sort order, the bootstrap's draws and weights


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(1, 3_000), st.integers(1, 40))
def test_bin_sums_equal_brute_force(seed, n, n_bins):
    rng = np.random.default_rng(seed)
    b = rng.integers(0, n_bins, n)
    ret = np.round(rng.normal(0.0, 2.0, n), int(rng.integers(0, 4)))  # zeros and repeats
    ret[rng.random(n) < 0.1] = 0.0
    ret[rng.random(n) < 0.02] = -0.0
    centre = float(ret.mean())
    cnt, wins, total, s_dev, q_dev, gains, losses, rmin, rmax = sweep_module._bin_sums(
        b, n_bins, ret, centre
    )

    def in_order(x):  # bincount adds in row order (numpy's .sum() is pairwise)
        return float(np.cumsum(x)[-1]) if x.size else 0.0

    for j in range(n_bins):
        r = ret[b == j]
        assert cnt[j] == r.size and wins[j] == (r > 0).sum()
        assert gains[j] == in_order(r[r > 0]) and losses[j] == in_order(-r[r < 0])  # exact
        assert total[j] == pytest.approx(r.sum(), rel=1e-12, abs=1e-12)
        assert s_dev[j] == pytest.approx((r - centre).sum(), rel=1e-12, abs=1e-9)
        assert q_dev[j] == pytest.approx(((r - centre) ** 2).sum(), rel=1e-12, abs=1e-12)
        assert rmin[j] == (r.min() if r.size else np.inf)
        assert rmax[j] == (r.max() if r.size else -np.inf)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, -0.0, 0.5, 1.0, 0.1])),
        min_size=1,
        max_size=300,
    )
)
def test_ascending_order_equals_a_stable_sort_of_the_scores(scores):
    score = np.array(scores, dtype=np.float64)
    assert np.array_equal(
        sweep_module._ascending_order(score, "absolute"), np.argsort(score, kind="stable")
    )
    descending = np.lexsort((np.arange(score.size), -score))  # earlier row first on ties
    assert np.array_equal(sweep_module._ascending_order(score, "percentile"), descending[::-1])


@pytest.mark.parametrize(
    "shapes",
    [[(50, 16_384), (50, 16_384), (50, 576)], [(7, 700), (7, 700), (7, 13)], [(200, 99)]],
)
def test_uniform16_is_the_stream_of_integers(shapes):
    ours, reference = np.random.default_rng(42), np.random.default_rng(42)
    for shape in shapes:
        expected = reference.integers(0, 65_536, size=shape, dtype=np.uint16)
        assert np.array_equal(sweep_module._uniform16(ours, shape, raw=True), expected)
    # and the streams stay in step afterwards
    assert ours.bit_generator.random_raw() == reference.bit_generator.random_raw()


def test_poisson_table_is_scipys_inverse_cdf_and_weights_read_it():
    from scipy import stats

    u = (np.arange(65_536, dtype=np.float64) + 0.5) / 65_536.0
    table = sweep_module._poisson_table()
    assert np.array_equal(table, stats.poisson.ppf(u, 1.0))
    draws = np.arange(65_536, dtype=np.uint16).reshape(256, 256)
    assert np.array_equal(sweep_module._poisson_weights(draws), table[draws])


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 60),
    st.integers(1, 30),
    st.sampled_from(["linear", "inverted_cdf"]),
)
def test_column_quantiles_equal_nanquantile(seed, rows, cols, method):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, cols))
    values[rng.random(values.shape) < 0.1] = np.nan
    values[rng.random(values.shape) < 0.05] = np.inf
    values[:, rng.random(cols) < 0.2] = np.nan  # whole columns missing
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        expected = np.nanquantile(values, [0.025, 0.975], axis=0, method=method)
        got = sweep_module._column_quantiles(values, [0.025, 0.975], method=method)
    assert np.array_equal(got, expected, equal_nan=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edges_and_values())
def test_segment_order_keeps_the_segments_of_the_score_order(case):
    """The bands' radix order by bin: same first positions, same trades in every segment."""
    grid, values = case
    score = np.clip(values, 0.0, 1.0)
    order, starts = sweep_module._segment_order(score, grid, None)
    by_score = np.argsort(score, kind="stable")
    expected = sweep_module._start_indices(score[by_score], grid, "absolute")
    np.testing.assert_array_equal(starts, expected)
    bounds = np.concatenate([[0], starts, [score.size]])
    for a, b in itertools.pairwise(bounds):
        assert sorted(order[a:b]) == sorted(by_score[a:b])
        assert (np.diff(order[a:b]) > 0).all()  # row order within a segment
