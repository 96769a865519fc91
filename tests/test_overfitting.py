"""Tests of core.analytics.overfitting against the papers' formulas worked by hand."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.stats import norm

from core.analytics.overfitting import (
    EULER_GAMMA,
    DeflatedSharpeResult,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probabilistic_sharpe_ratio_from_returns,
    probability_of_backtest_overfitting,
    sharpe_moments,
    sweep_return_matrix,
)
from core.analytics.sweep import apply_threshold
from core.errors import ConfigError, InsufficientDataError, ValidationError

# ----------------------------------------------------------------------------
# PSR / expected maximum / DSR


def test_psr_golden_value_from_the_formula():
    # Bailey & López de Prado (2012): PSR = Phi((SR - SR*) sqrt(n-1) / sqrt(1 - g3 SR + (g4-1)/4 SR^2))
    sr, n, g3, g4 = 0.1, 250, -0.5, 4.0
    denominator = math.sqrt(1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr**2)  # sqrt(1.0575)
    z = (sr - 0.0) * math.sqrt(n - 1) / denominator  # 1.578 / 1.02835 = 1.5345
    expected = norm.cdf(z)
    assert expected == pytest.approx(0.93754, abs=1e-5)
    assert probabilistic_sharpe_ratio(sr, n, skew=g3, kurtosis=g4) == pytest.approx(
        expected, rel=1e-12
    )


def test_psr_with_benchmark_and_normal_moments():
    # Normal returns (skew 0, kurtosis 3): denominator sqrt(1 + SR^2 / 2).
    sr, n, bench = 0.2, 100, 0.05
    z = (sr - bench) * math.sqrt(99) / math.sqrt(1 + 0.5 * sr**2)
    assert probabilistic_sharpe_ratio(sr, n, benchmark=bench) == pytest.approx(norm.cdf(z))
    assert probabilistic_sharpe_ratio(0.0, 50) == pytest.approx(0.5)


def test_psr_from_returns_uses_bias_corrected_moments():
    rng = np.random.default_rng(5)
    x = rng.standard_t(5, 300) * 0.8 + 0.1
    m = sharpe_moments(x)
    assert m.n == 300
    assert m.sharpe == pytest.approx(x.mean() / x.std(ddof=1))
    assert m.skew == pytest.approx(stats.skew(x, bias=False))
    assert m.kurtosis == pytest.approx(stats.kurtosis(x, fisher=False, bias=False))
    expected = probabilistic_sharpe_ratio(m.sharpe, 300, skew=m.skew, kurtosis=m.kurtosis)
    assert probabilistic_sharpe_ratio_from_returns(x) == pytest.approx(expected)


def test_expected_max_sharpe_golden_value():
    # E[max SR] = sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e))), N = 100, V = 1:
    # 0.42278 * 2.32635 + 0.57722 * 2.68111 = 0.98355 + 1.54760 = 2.53115 (to 4 places 2.531).
    gamma = 0.5772156649
    expected = (1 - gamma) * norm.ppf(1 - 1 / 100) + gamma * norm.ppf(1 - 1 / (100 * math.e))
    assert expected == pytest.approx(2.5306, abs=1e-4)
    assert expected_max_sharpe(100, 1.0) == pytest.approx(expected, rel=1e-9)
    # Scales with sqrt(V); one trial has no selection bias; grows with N.
    assert expected_max_sharpe(100, 0.04) == pytest.approx(0.2 * expected, rel=1e-9)
    assert expected_max_sharpe(1, 1.0) == 0.0
    values = [expected_max_sharpe(n, 1.0) for n in (2, 10, 100, 1000)]
    assert values == sorted(values)
    assert EULER_GAMMA == pytest.approx(gamma)


def test_expected_max_sharpe_matches_simulation():
    rng = np.random.default_rng(0)
    draws = rng.normal(0.0, 0.1, size=(4000, 50)).max(axis=1)
    assert expected_max_sharpe(50, 0.01) == pytest.approx(draws.mean(), rel=0.05)


def test_dsr_example_by_hand():
    # Selected strategy: SR = 0.12 per trade over n = 500 trades, skew -1, kurtosis 6,
    # chosen from N = 30 trials whose Sharpe ratios have variance V = 0.0025.
    sr, n, g3, g4, n_trials, v = 0.12, 500, -1.0, 6.0, 30, 0.0025
    gamma = 0.5772156649
    sr_star = math.sqrt(v) * (
        (1 - gamma) * norm.ppf(1 - 1 / n_trials) + gamma * norm.ppf(1 - 1 / (n_trials * math.e))
    )
    denominator = math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    dsr = norm.cdf((sr - sr_star) * math.sqrt(n - 1) / denominator)
    psr = norm.cdf(sr * math.sqrt(n - 1) / denominator)
    result = deflated_sharpe_ratio(
        sharpe=sr, n=n, skew=g3, kurtosis=g4, n_trials=n_trials, sharpe_variance=v
    )
    assert isinstance(result, DeflatedSharpeResult)
    assert result.sr_star == pytest.approx(sr_star, rel=1e-9)  # about 0.1063
    assert result.dsr == pytest.approx(dsr, rel=1e-9)
    assert result.psr == pytest.approx(psr, rel=1e-9)
    assert result.dsr < result.psr
    assert result.significant == (dsr >= 0.95)
    assert json.loads(json.dumps(result.to_dict(), allow_nan=False))["n_trials"] == 30


def test_dsr_from_returns_equals_dsr_from_moments():
    rng = np.random.default_rng(11)
    x = rng.normal(0.05, 1.0, 400)
    m = sharpe_moments(x)
    a = deflated_sharpe_ratio(x, n_trials=20, sharpe_variance=0.003)
    b = deflated_sharpe_ratio(
        sharpe=m.sharpe,
        n=m.n,
        skew=m.skew,
        kurtosis=m.kurtosis,
        n_trials=20,
        sharpe_variance=0.003,
    )
    assert a == b


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: probabilistic_sharpe_ratio(0.1, 1), ValidationError, "n must be"),
        (lambda: probabilistic_sharpe_ratio(math.nan, 10), ValidationError, "sharpe must be"),
        (
            lambda: probabilistic_sharpe_ratio(2.0, 10, skew=3.0, kurtosis=1.0),
            InsufficientDataError,
            "not positive",
        ),
        (lambda: expected_max_sharpe(0, 1.0), ValidationError, "n_trials"),
        (lambda: expected_max_sharpe(5, -1.0), ValidationError, "sharpe_variance"),
        (lambda: sharpe_moments([1.0, 2.0, 3.0]), InsufficientDataError, "at least 4"),
        (lambda: sharpe_moments([1.0, 1.0, 1.0, 1.0]), InsufficientDataError, "all returns"),
        (lambda: sharpe_moments([1.0, np.nan, 1.0, 2.0]), ValidationError, "finite"),
        (
            lambda: deflated_sharpe_ratio(n_trials=3, sharpe_variance=0.1),
            ConfigError,
            "give returns",
        ),
        (
            lambda: deflated_sharpe_ratio(
                [1.0, 2, 3, 4], sharpe=0.1, n_trials=3, sharpe_variance=1
            ),
            ConfigError,
            "either",
        ),
    ],
)
def test_sharpe_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------
# PBO by CSCV


def test_pbo_tiny_matrix_worked_by_hand():
    # S = 4 blocks of one row each, N = 3 configurations, metric = mean.
    #            A   B   C
    # block 0:   3  -2  -3
    # block 1:   2  -2   3
    # block 2:  -1   1   4
    # block 3:   4   0  -2
    # The C(4, 2) = 6 in-sample (IS) halves, in itertools order; OOS is the complement.
    #   IS {0,1}: means A 2.5 B -2.0 C 0.0 -> A; OOS {2,3}: A 1.5 B 0.5 C 1.0 -> A rank 3
    #   IS {0,2}: means A 1.0 B -0.5 C 0.5 -> A; OOS {1,3}: A 3.0 B -1.0 C 0.5 -> A rank 3
    #   IS {0,3}: means A 3.5 B -1.0 C -2.5 -> A; OOS {1,2}: A 0.5 B -0.5 C 3.5 -> A rank 2
    #   IS {1,2}: means A 0.5 B -0.5 C 3.5 -> C; OOS {0,3}: A 3.5 B -1.0 C -2.5 -> C rank 1
    #   IS {1,3}: means A 3.0 B -1.0 C 0.5 -> A; OOS {0,2}: A 1.0 B -0.5 C 0.5 -> A rank 3
    #   IS {2,3}: means A 1.5 B 0.5 C 1.0 -> A; OOS {0,1}: A 2.5 B -2.0 C 0.0 -> A rank 3
    # omega = rank / (N + 1) = 3/4, 3/4, 2/4, 1/4, 3/4, 3/4;
    # lambda = ln(omega / (1 - omega)) = ln 3, ln 3, 0, -ln 3, ln 3, ln 3.
    # PBO = share of lambda <= 0 = 2 / 6.
    matrix = np.array([[3, -2, -3], [2, -2, 3], [-1, 1, 4], [4, 0, -2]], dtype=float)
    result = probability_of_backtest_overfitting(matrix, n_splits=4, metric="mean")
    ln3 = math.log(3.0)
    assert result.n_combinations == 6
    assert result.pbo == pytest.approx(2 / 6)
    np.testing.assert_allclose(result.logits, [ln3, ln3, 0.0, -ln3, ln3, ln3], atol=1e-12)
    np.testing.assert_array_equal(result.selected, [0, 0, 0, 2, 0, 0])
    np.testing.assert_allclose(result.is_performance, [2.5, 1.0, 3.5, 3.5, 3.0, 1.5])
    np.testing.assert_allclose(result.oos_performance, [1.5, 3.0, 0.5, -2.5, 1.0, 2.5])
    assert result.prob_oos_loss == pytest.approx(1 / 6)  # only IS {1,2} loses OOS
    # Degradation: least squares of OOS on IS over the six pairs.
    slope, intercept = np.polyfit(result.is_performance, result.oos_performance, 1)
    assert result.degradation_slope == pytest.approx(slope)
    assert result.degradation_intercept == pytest.approx(intercept)


def test_pbo_ties_take_average_rank():
    # Two identical configurations and a worse one, S = 2, metric mean:
    # IS {0}: A = B = 1 > C -> A (first); OOS {1}: A = B = 2 > C = 0 -> ranks 2 and 3, average
    # 2.5 -> omega = 2.5 / 4 = 0.625 -> lambda = ln(5/3) > 0. Same for IS {1}. PBO = 0.
    matrix = np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 0.0]])
    result = probability_of_backtest_overfitting(matrix, n_splits=2, metric="mean")
    np.testing.assert_allclose(result.relative_rank, [0.625, 0.625])
    assert result.pbo == 0.0


def brute_force_pbo(matrix: np.ndarray, n_splits: int) -> tuple[float, np.ndarray]:
    """CSCV written out with loops, np.std and scipy's rankdata (the reference)."""
    t, n = matrix.shape
    rows = t // n_splits
    used = matrix[t - rows * n_splits :]
    blocks = np.split(used, n_splits)

    def sharpe(x: np.ndarray) -> np.ndarray:
        return x.mean(axis=0) / x.std(axis=0, ddof=1)

    logits = []
    for combo in itertools.combinations(range(n_splits), n_splits // 2):
        rest = [i for i in range(n_splits) if i not in combo]
        is_perf = sharpe(np.vstack([blocks[i] for i in combo]))
        oos_perf = sharpe(np.vstack([blocks[i] for i in rest]))
        best = int(np.argmax(is_perf))
        omega = stats.rankdata(oos_perf)[best] / (n + 1)
        logits.append(math.log(omega / (1 - omega)))
    logits_arr = np.array(logits)
    return float(np.mean(logits_arr <= 0)), logits_arr


def test_pbo_sharpe_equals_brute_force():
    rng = np.random.default_rng(2)
    matrix = rng.normal(0.02, 1.0, size=(63, 7))  # 63 rows, S = 6: the 3 oldest rows drop
    result = probability_of_backtest_overfitting(matrix, n_splits=6)
    pbo, logits = brute_force_pbo(matrix, 6)
    assert result.n_dropped_rows == 3 and result.n_observations == 60
    assert result.n_combinations == 20
    assert result.pbo == pytest.approx(pbo)
    np.testing.assert_allclose(result.logits, logits, rtol=1e-9, atol=1e-12)


def test_pbo_is_about_half_for_noise_and_near_zero_for_a_real_edge():
    # The PBO of one noise matrix is itself noisy (its 12,870 combinations share the
    # same rows: single matrices range from about 0.25 to 0.75), so average 20.
    pbos = [
        probability_of_backtest_overfitting(
            np.random.default_rng(seed).normal(0.0, 1.0, size=(320, 20)), n_splits=16
        ).pbo
        for seed in range(20)
    ]
    assert 0.35 <= np.mean(pbos) <= 0.65
    noise = np.random.default_rng(4).normal(0.0, 1.0, size=(1600, 50))
    edge = noise.copy()
    edge[:, 17] += 0.3  # one configuration truly better (per-row Sharpe 0.3)
    better = probability_of_backtest_overfitting(edge, n_splits=16)
    assert better.n_combinations == 12_870
    assert better.pbo < 0.05
    assert np.mean(better.selected == 17) > 0.95
    assert better.prob_oos_loss < 0.01


def test_pbo_over_100_configurations_uses_every_combination():
    rng = np.random.default_rng(0)
    matrix = rng.normal(0.0, 1.0, size=(2_000, 100))
    result = probability_of_backtest_overfitting(matrix, n_splits=16)
    assert result.logits.shape == (12_870,)
    json.dumps(result.to_dict(), allow_nan=False)


def test_pbo_zero_dispersion_columns_rank_as_flat_books():
    # A column that never trades (all 0) has Sharpe 0, not NaN.
    rng = np.random.default_rng(1)
    matrix = np.column_stack([rng.normal(0, 1, 40), np.zeros(40), rng.normal(0, 1, 40)])
    result = probability_of_backtest_overfitting(matrix, n_splits=4)
    assert np.isfinite(result.logits).all()


@pytest.mark.parametrize(
    ("matrix", "kwargs", "error", "match"),
    [
        (np.zeros((10, 1)), {}, ValidationError, "at least two columns"),
        (np.zeros(10), {}, ValidationError, "2-D"),
        (np.array([[1.0, np.nan]] * 8), {"n_splits": 2}, ValidationError, "finite"),
        (np.zeros((8, 3)), {"n_splits": 3}, ConfigError, "even"),
        (np.zeros((8, 3)), {"n_splits": 0}, ConfigError, "even"),
        (np.zeros((8, 3)), {"n_splits": 4, "metric": "sortino"}, ConfigError, "metric"),
        (np.zeros((3, 3)), {"n_splits": 4}, InsufficientDataError, "cannot be cut"),
        (np.zeros((2, 3)), {"n_splits": 2}, InsufficientDataError, "fewer than 2 rows"),
    ],
)
def test_pbo_errors(matrix, kwargs, error, match):
    with pytest.raises(error, match=match):
        probability_of_backtest_overfitting(matrix, **kwargs)


# ----------------------------------------------------------------------------
# sweep_return_matrix


@pytest.fixture
def trades() -> pd.DataFrame:
    rng = np.random.default_rng(9)
    n = 300
    conf = np.round(rng.random(n), 2)  # ties
    ret = np.round(rng.normal(0.1, 1.0, n), 2)
    order = rng.permutation(n)  # entry times not in frame order
    times = pd.date_range("2023-01-02", periods=n, freq="D", tz="UTC")[order]
    return pd.DataFrame(
        {"entry_time": times, "confidence": conf, "return_pct": ret, "win": ret > 0}
    )


def test_return_matrix_per_trade_equals_masks(trades):
    grid = [0.0, 0.25, 0.5, 0.9]
    matrix = sweep_return_matrix(trades, thresholds=grid)
    ordered = trades.sort_values("entry_time", kind="stable")
    assert matrix.shape == (300, 4)
    assert list(matrix.index) == list(ordered.index)
    for threshold in grid:
        expected = np.where(ordered["confidence"] >= threshold, ordered["return_pct"], 0.0)
        np.testing.assert_allclose(matrix[threshold].to_numpy(), expected)


def test_return_matrix_periods_sum_and_mean(trades):
    grid = [0.1, 0.6]
    matrix = sweep_return_matrix(trades, thresholds=grid, n_periods=7, cost_bps=5.0)
    mean_matrix = sweep_return_matrix(trades, thresholds=grid, n_periods=7, aggregate="mean")
    ordered = trades.sort_values("entry_time", kind="stable").reset_index(drop=True)
    period = (np.arange(300) * 7) // 300
    assert matrix.index.name == "period_start"
    for p in range(7):
        rows = ordered[period == p]
        assert matrix.index[p] == rows["entry_time"].iloc[0]
        for threshold in grid:
            kept = rows[rows["confidence"] >= threshold]["return_pct"]
            assert matrix.loc[matrix.index[p], threshold] == pytest.approx((kept - 0.05).sum())
            expected_mean = kept.mean() if len(kept) else 0.0
            assert mean_matrix.iloc[p][threshold] == pytest.approx(expected_mean)


def test_return_matrix_percentile_mode_keeps_the_sweep_set(trades):
    grid = [10.0, 50.0, 100.0]
    matrix = sweep_return_matrix(trades, thresholds=grid, mode="percentile")
    for q in grid:
        kept = apply_threshold(trades, q, mode="percentile")
        column = matrix[q]
        assert (column != 0).sum() <= len(kept)
        assert column.sum() == pytest.approx(kept["return_pct"].sum())
        assert set(column.index[column != 0]) <= set(kept.index)


def test_return_matrix_feeds_pbo(trades):
    matrix = sweep_return_matrix(trades, n_periods=32)
    result = probability_of_backtest_overfitting(matrix, n_splits=8)
    assert 0.0 <= result.pbo <= 1.0 and result.n_configs == 101


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_periods": 0}, "n_periods"),
        ({"n_periods": 10_000}, "n_periods"),
        ({"aggregate": "median"}, "aggregate"),
        ({"mode": "rank"}, "mode"),
        ({"cost_bps": -2}, "cost_bps"),
    ],
)
def test_return_matrix_errors(trades, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        sweep_return_matrix(trades, **kwargs)
