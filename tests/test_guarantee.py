"""Tests of core.analytics.guarantee: Clopper-Pearson, Learn-then-Test coverage, dependence."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import signal, stats

from core.analytics.guarantee import (
    binomial_p_value,
    clopper_pearson_lower,
    effective_sample_size,
    guaranteed_threshold,
    learn_then_test,
)
from core.errors import ConfigError, InsufficientDataError

TARGET, DELTA, N, SEEDS = 0.6, 0.1, 400, 200


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (57, 100), (612, 1000)])
@pytest.mark.parametrize("delta", [0.05, 0.1])
def test_clopper_pearson_equals_scipy(k, n, delta):
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=1 - 2 * delta, method="exact")
    assert clopper_pearson_lower(k, n, delta=delta) == pytest.approx(ref.low, abs=1e-12)
    # the p-value is the exact binomial tail, and rejects exactly when the bound clears X
    p = binomial_p_value(k, n, 0.5)
    assert p == pytest.approx(stats.binomtest(k, n, 0.5, alternative="greater").pvalue)
    assert (p <= delta) == (clopper_pearson_lower(k, n, delta=delta) >= 0.5)


def outcomes(seed: int, phi: float) -> tuple[np.ndarray, np.ndarray]:
    """Confidence ~ U(0, 1), P(win | c) = 0.3 + 0.5 c; wins from a latent AR(1) of coefficient phi."""
    rng = np.random.default_rng(seed)
    c = rng.random(N)
    e = rng.standard_normal(N)
    z = signal.lfilter([np.sqrt(1 - phi**2)], [1, -phi], e) if phi else e
    if phi:
        z[0] = e[0]
        z[1:] = signal.lfilter([np.sqrt(1 - phi**2)], [1, -phi], e[1:], zi=[phi * e[0]])[0]
    return c, (stats.norm.cdf(z) < 0.3 + 0.5 * c).astype(float)


def violation_rate(phi: float, dependence: str) -> float:
    """Share of seeds whose certified threshold's true win rate is below the target."""
    bad = 0
    for seed in range(SEEDS):
        c, w = outcomes(seed, phi)
        j, table = learn_then_test(c, w, target_win_rate=TARGET, delta=DELTA,
                                   dependence=dependence)  # fmt: skip
        if j is not None:
            t = table["threshold"].iloc[j]
            bad += 0.3 + 0.5 * (1 + t) / 2 < TARGET  # true win rate of c >= t
    return bad / SEEDS


def test_guarantee_holds_on_iid_outcomes():
    # P(violation) <= delta; 3 standard errors of slack for 200 seeds
    assert violation_rate(0.0, "ess") <= DELTA + 3 * np.sqrt(DELTA * (1 - DELTA) / SEEDS)
    assert violation_rate(0.0, "none") <= DELTA + 3 * np.sqrt(DELTA * (1 - DELTA) / SEEDS)


def test_serial_dependence_breaks_the_naive_test_not_the_corrected_one():
    naive = violation_rate(0.9, "none")
    corrected = violation_rate(0.9, "ess")
    assert naive > 2 * DELTA
    assert corrected <= DELTA + 3 * np.sqrt(DELTA * (1 - DELTA) / SEEDS)


def test_effective_sample_size():
    rng = np.random.default_rng(0)
    iid = rng.random(4000) < 0.5
    assert effective_sample_size(iid) > 0.85 * 4000
    z = signal.lfilter([1.0], [1, -0.8], rng.standard_normal(4000))
    # AR(1) with phi = 0.8: n (1 - phi) / (1 + phi) = n / 9
    assert effective_sample_size(z) == pytest.approx(4000 / 9, rel=0.35)
    assert effective_sample_size(np.ones(50)) == 50


def brute_force_ess(x: np.ndarray) -> float:
    """Geyer's initial positive sequence from the definition: every lag by a direct sum."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    d = x - x.mean()
    var = float(np.sum(d * d))
    if n < 3 or var <= 0:
        return float(n)
    total = 0.0
    for k in range(1, int(np.floor(np.sqrt(n))) + 1):
        rho = float(np.sum(d[:-k] * d[k:])) / var
        if rho <= 0:
            break
        total += rho
    return max(1.0, n / max(1.0, 1.0 + 2.0 * total))


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9, 0.99])
def test_effective_sample_size_equals_the_definition(phi):
    # phi = 0.9 and 0.99 keep the autocorrelations positive past the direct lags (FFT part)
    z = signal.lfilter([1.0], [1, -phi], np.random.default_rng(7).standard_normal(20_000))
    assert effective_sample_size(z) == pytest.approx(brute_force_ess(z), rel=1e-9)
    wins = z > 0  # 0/1 outcomes of the same latent series
    assert effective_sample_size(wins) == pytest.approx(brute_force_ess(wins), rel=1e-9)


@given(
    st.integers(0, 2**32 - 1),
    st.integers(3, 3000),
    st.floats(0.0, 0.995),
    st.booleans(),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_effective_sample_size_property(seed, n, phi, binary):
    z = signal.lfilter([1.0], [1, -phi], np.random.default_rng(seed).standard_normal(n))
    x = (z > 0).astype(float) if binary else z
    ess = effective_sample_size(x)
    assert 1.0 <= ess <= n
    assert ess == pytest.approx(brute_force_ess(x), rel=1e-9)


def test_guaranteed_threshold_fits_early_and_scores_late():
    rng = np.random.default_rng(4)
    n = 4000
    c = rng.random(n)
    win = rng.random(n) < 0.3 + 0.5 * c
    entry = pd.Timestamp("2020-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="h")
    trades = pd.DataFrame({"entry_time": entry, "confidence": c, "win": win,
                           "return_pct": np.where(win, 1.0, -1.0)})  # fmt: skip
    result = guaranteed_threshold(trades, target_win_rate=0.6)
    assert result.threshold is not None and result.threshold >= 0.2
    assert result.fit_trades == 2000 and result.test_trades == 2000
    assert result.fit_end == entry[1999]
    assert result.fit_lower_bound >= 0.6 and result.oos_met is True
    assert result.oos_win_rate == pytest.approx(win[2000:][c[2000:] >= result.threshold].mean())
    assert "90 % confidence" in result.statement
    json.dumps(result.to_dict(), allow_nan=False)
    impossible = guaranteed_threshold(trades, target_win_rate=0.95)
    assert impossible.threshold is None and impossible.oos_met is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"target_win_rate": 1.2}, ConfigError, "target_win_rate"),
        ({"target_win_rate": 0.6, "delta": 0}, ConfigError, "delta"),
        ({"target_win_rate": 0.6, "fit_fraction": 1.0}, ConfigError, "fit_fraction"),
        ({"target_win_rate": 0.6, "dependence": "hac"}, ConfigError, "dependence"),
        ({"target_win_rate": 0.6, "min_trades": 500}, InsufficientDataError, "need 500"),
    ],
)
def test_guarantee_errors(kwargs, error, match):
    frame = pd.DataFrame({"confidence": np.linspace(0, 1, 400), "return_pct": 1.0, "win": True})
    with pytest.raises(error, match=match):
        guaranteed_threshold(frame, **kwargs)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(1, 6_000), st.booleans())
def test_kept_trades_and_wins_equal_brute_force_masks(seed, n, rounded):
    """The binned counts (no sort) equal a mask per threshold, ties on the grid included."""
    rng = np.random.default_rng(seed)
    scores = rng.random(n)
    if rounded:
        scores = np.round(scores, 2)  # many scores exactly on a threshold
    wins = (rng.random(n) < 0.6).astype(np.float64)
    grid = np.arange(101) / 100.0
    _, table = learn_then_test(scores, wins, target_win_rate=0.5, min_trades=n + 1)
    for j, t in enumerate(grid):
        kept = scores >= t
        assert table["trades"].iloc[j] == kept.sum()
        assert table["wins"].iloc[j] == wins[kept].sum()


def test_fit_end_and_split_follow_time_order_of_an_unsorted_frame():
    rng = np.random.default_rng(5)
    n = 3_000
    entry = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    c = rng.random(n)
    win = rng.random(n) < 0.3 + 0.5 * c
    frame = pd.DataFrame({"entry_time": entry, "confidence": c, "win": win,
                          "return_pct": np.where(win, 1.0, -1.0)})  # fmt: skip
    shuffled = frame.iloc[rng.permutation(n)]
    a = guaranteed_threshold(frame, target_win_rate=0.55)
    b = guaranteed_threshold(shuffled, target_win_rate=0.55)
    assert a.fit_end == b.fit_end == entry[n // 2 - 1]
    assert a.threshold == b.threshold and a.oos_kept == b.oos_kept
    pd.testing.assert_frame_equal(a.table, b.table)
