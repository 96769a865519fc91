"""Calibration metrics against scikit-learn, hand-computed cases and formulas."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import norm
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss
from sklearn.metrics import log_loss as sk_log_loss

from core.analytics.calibration import (
    BrierDecomposition,
    CalibrationMetrics,
    adaptive_calibration_error,
    assign_bins,
    bin_edges,
    brier_decomposition,
    brier_score,
    calibration_report,
    ece_confidence_interval,
    expected_calibration_error,
    json_safe,
    log_loss,
    maximum_calibration_error,
    quick_scores,
    reliability_curve,
    spiegelhalter_test,
)
from core.analytics.stats import wilson_interval
from core.errors import CalibrationError, InsufficientDataError


def sample(seed: int, n: int, *, decimals: int | None = None, slope: float = 1.0):
    """Forecasts ``p`` and outcomes drawn with P(win) = clip(0.5 + slope (p - 0.5))."""
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    if decimals is not None:
        p = np.round(p, decimals)
    truth = np.clip(0.5 + slope * (p - 0.5), 0, 1)
    return p, rng.random(n) < truth


# --------------------------------------------------------------------------- reliability


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [1, 5, 10, 17])
@pytest.mark.parametrize(("n", "decimals"), [(50, None), (5000, None), (5000, 1), (3000, 2)])
def test_reliability_curve_matches_sklearn(strategy, n_bins, n, decimals):
    p, y = sample(n + n_bins, n, decimals=decimals, slope=0.7)
    curve = reliability_curve(p, y, n_bins=n_bins, strategy=strategy)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
    mask = curve.nonempty
    np.testing.assert_allclose(curve.observed_frequency[mask], prob_true, rtol=0, atol=1e-9)
    np.testing.assert_allclose(curve.mean_predicted[mask], prob_pred, rtol=0, atol=1e-9)
    assert curve.count.sum() == n
    assert curve.edges.shape == (n_bins + 1,)


def test_reliability_curve_wilson_and_empty_bins():
    p = np.array([0.05, 0.05, 0.15, 0.95, 0.95, 0.95])
    y = np.array([0, 1, 0, 1, 1, 0])
    curve = reliability_curve(p, y, n_bins=10)
    assert curve.count.tolist() == [2, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    low, high = wilson_interval(np.array([1, 0, 2]), np.array([2, 1, 3]))
    np.testing.assert_allclose(curve.win_low[[0, 1, 9]], low)
    np.testing.assert_allclose(curve.win_high[[0, 1, 9]], high)
    assert np.isnan(curve.mean_predicted[2]) and np.isnan(curve.win_low[2])
    frame = curve.to_frame()
    assert len(frame) == 10 and frame["count"].sum() == 6
    d = json.loads(json.dumps(curve.to_dict()))
    assert d["observed_frequency"][2] is None and d["count"][9] == 3
    with pytest.raises(ValueError, match="read-only"):
        curve.count[0] = 5


def test_value_on_inner_edge_goes_to_lower_bin():
    edges = bin_edges(np.array([0.5]), n_bins=10)
    assert assign_bins(np.array([0.0, 0.1, 0.1000001, 0.3, 1.0]), edges).tolist() == [0, 0, 1, 2, 9]


def test_fast_uniform_binning_equals_searchsorted():
    edges = np.linspace(0.0, 1.0, 11)
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.random(20_000), np.repeat(edges, 100), np.nextafter(edges, 2.0)])
    p = np.clip(p, 0.0, 1.0)
    for n_bins in (3, 7, 10, 20):
        e = np.linspace(0.0, 1.0, n_bins + 1)
        q = np.concatenate([p, e, np.nextafter(e, -1.0).clip(0, 1)])
        assert np.array_equal(assign_bins(q, e), np.searchsorted(e[1:-1], q, side="left"))


# --------------------------------------------------------------------------- scalar metrics


def test_ece_mce_hand_computed():
    p = np.array([0.1, 0.2, 0.8, 0.9])
    y = np.array([0, 1, 1, 1])
    # bin [0, .5]: mean .15, freq .5 -> .35; bin (.5, 1]: mean .85, freq 1 -> .15
    assert expected_calibration_error(p, y, n_bins=2) == pytest.approx(0.5 * 0.35 + 0.5 * 0.15)
    # two-trade bins: only with min_count <= 2 (the default 10 ignores them: NaN)
    assert maximum_calibration_error(p, y, n_bins=2, min_count=1) == pytest.approx(0.35)
    assert math.isnan(maximum_calibration_error(p, y, n_bins=2))


def test_mce_ignores_a_single_trade_bin():
    # 500 well calibrated forecasts near 0.3 plus one forecast of 0.95 that lost
    rng = np.random.default_rng(0)
    p = np.append(np.full(500, 0.3), 0.95)
    y = np.append(rng.random(500) < 0.3, False)
    assert maximum_calibration_error(p, y, min_count=1) == pytest.approx(0.95)
    assert maximum_calibration_error(p, y) < 0.1
    report = calibration_report(p, y)
    assert report.n_small_bins == 1 and report.mce < 0.1
    assert reliability_curve(p, y).to_frame()["small"].sum() == 1


def test_spiegelhalter_z_by_hand_and_under_the_null():
    p = np.array([0.2, 0.7, 0.9, 0.4])
    y = np.array([0, 1, 0, 1])
    a = 1 - 2 * p
    z = np.sum((y - p) * a) / np.sqrt(np.sum(a * a * p * (1 - p)))
    res = spiegelhalter_test(p, y)
    assert res.z == pytest.approx(z) and res.p_value == pytest.approx(2 * norm.sf(abs(z)))
    # calibrated forecasts: p-values uniform, about 5 % below 0.05 over 400 seeds
    rng = np.random.default_rng(1)
    prob = rng.random((400, 300))
    wins = rng.random((400, 300)) < prob
    rejections = np.mean(
        [spiegelhalter_test(q, w).p_value < 0.05 for q, w in zip(prob, wins, strict=True)]
    )
    assert 0.02 <= rejections <= 0.08
    # miscalibrated (overconfident) forecasts are caught
    assert spiegelhalter_test(np.clip(prob[0] * 1.6 - 0.3, 0.01, 0.99), wins[0]).p_value < 1e-3
    report = calibration_report(prob[0], wins[0])
    assert report.spiegelhalter_z == pytest.approx(spiegelhalter_test(prob[0], wins[0]).z)
    assert report.ece_low is not None and report.ece_low <= report.ece <= report.ece_high


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ece_equals_weighted_gap_of_sklearn_curve(strategy, seed):
    p, y = sample(seed, 4000, slope=0.5)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy=strategy)
    counts = reliability_curve(p, y, n_bins=10, strategy=strategy).count
    weights = counts[counts > 0] / p.size
    expected = float(np.sum(weights * np.abs(prob_true - prob_pred)))
    got = expected_calibration_error(p, y, n_bins=10, strategy=strategy)
    assert got == pytest.approx(expected, abs=1e-12)
    assert maximum_calibration_error(p, y, strategy=strategy, min_count=1) == pytest.approx(
        np.max(np.abs(prob_true - prob_pred)), abs=1e-12
    )


def test_ace_is_quantile_ece():
    p, y = sample(4, 3000, slope=0.3)
    assert adaptive_calibration_error(p, y, n_bins=8) == expected_calibration_error(
        p, y, n_bins=8, strategy="quantile"
    )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [1, 7, 1000])
def test_brier_and_log_loss_match_sklearn(seed, n):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.001, 0.999, n)
    y = rng.random(n) < p
    assert brier_score(p, y) == pytest.approx(brier_score_loss(y, p), abs=1e-9)
    assert log_loss(p, y) == pytest.approx(sk_log_loss(y, p, labels=[0, 1]), abs=1e-9)


def test_log_loss_clips_confident_misses():
    assert log_loss([1.0, 0.0], [0, 1]) == pytest.approx(-np.log(1e-15))
    assert log_loss([1.0, 0.0], [1, 0]) == pytest.approx(-np.log(1 - 1e-15))
    assert log_loss([0.9], [True], eps=0.2) == pytest.approx(-np.log(0.8))


def test_quick_scores_match_public_functions():
    p, y = sample(8, 2000, slope=0.4)
    ece, brier, ll = quick_scores(p, y.astype(float))
    assert ece == pytest.approx(expected_calibration_error(p, y), abs=1e-15)
    assert brier == pytest.approx(brier_score(p, y), abs=1e-15)
    assert ll == pytest.approx(log_loss(p, y), abs=1e-15)
    assert all(np.isnan(quick_scores(np.empty(0), np.empty(0))))


# --------------------------------------------------------------------------- Brier decomposition


def test_brier_decomposition_exact_for_binned_forecasts():
    rng = np.random.default_rng(5)
    centres = (np.arange(10) + 0.5) / 10
    p = rng.choice(centres, size=5000)
    y = rng.random(p.size) < np.clip(p + 0.1, 0, 1)
    rel, res, unc = brier_decomposition(p, y, n_bins=10)
    assert rel - res + unc == pytest.approx(brier_score(p, y), abs=1e-12)
    base = y.mean()
    assert unc == pytest.approx(base * (1 - base))


def test_brier_decomposition_hand_computed():
    p = np.array([0.2, 0.2, 0.8, 0.8])
    y = np.array([0, 1, 1, 1])
    out = brier_decomposition(p, y, n_bins=2)
    assert isinstance(out, BrierDecomposition)
    # bins: (pbar .2, obar .5), (pbar .8, obar 1); base .75
    assert out.reliability == pytest.approx(0.5 * 0.09 + 0.5 * 0.04)
    assert out.resolution == pytest.approx(0.5 * 0.0625 + 0.5 * 0.0625)
    assert out.uncertainty == pytest.approx(0.1875)


@pytest.mark.parametrize("seed", [0, 1])
def test_brier_decomposition_approximate_for_continuous_forecasts(seed):
    p, y = sample(seed, 20_000, slope=0.6)
    rel, res, unc = brier_decomposition(p, y, n_bins=10)
    # the gap is the within-bin variance term, below (bin width)^2 / 12 ~ 8e-4
    assert abs((rel - res + unc) - brier_score(p, y)) < 2e-3


# --------------------------------------------------------------------------- ECE interval


def test_ece_interval_is_seeded_and_brackets_the_estimate():
    p, y = sample(6, 3000, slope=0.5)
    a = ece_confidence_interval(p, y, n_boot=300, seed=1)
    b = ece_confidence_interval(p, y, n_boot=300, seed=1)
    assert a == b and a.method == "exact"
    assert a.low <= a.ece <= a.high
    assert a.ece == pytest.approx(expected_calibration_error(p, y))
    assert json.loads(json.dumps(a.to_dict()))["high"] == a.high


def test_ece_interval_cells_close_to_exact():
    p, y = sample(7, 40_000, slope=0.8)
    exact = ece_confidence_interval(p, y, n_boot=200, method="exact", seed=0)
    cells = ece_confidence_interval(p, y, n_boot=2000, method="cells", seed=0)
    assert cells.method == "cells"
    assert cells.high == pytest.approx(exact.high, rel=0.15)
    assert cells.low == pytest.approx(exact.low, rel=0.15)


def test_ece_interval_separates_calibrated_from_miscalibrated():
    p, y = sample(9, 20_000, slope=1.0)
    good = ece_confidence_interval(p, y, n_boot=200)
    p2, y2 = sample(9, 20_000, slope=0.2)
    bad = ece_confidence_interval(p2, y2, n_boot=200)
    assert good.high < 0.03 < bad.low


# --------------------------------------------------------------------------- report


def test_calibration_report_bundles_the_metrics():
    p, y = sample(10, 5000, slope=0.6)
    r = calibration_report(p, y, n_bins=10)
    assert isinstance(r, CalibrationMetrics)
    assert r.n == 5000 and r.base_rate == pytest.approx(y.mean())
    assert r.ece == pytest.approx(expected_calibration_error(p, y))
    assert r.mce == pytest.approx(maximum_calibration_error(p, y))
    assert r.ace == pytest.approx(adaptive_calibration_error(p, y))
    assert r.brier == pytest.approx(brier_score(p, y))
    assert r.log_loss == pytest.approx(log_loss(p, y))
    assert (r.rel, r.res, r.unc) == pytest.approx(tuple(brier_decomposition(p, y)))
    assert r.ece_low <= r.ece <= r.ece_high  # an ECE comes with its interval by default
    bare = calibration_report(p, y, n_bins=10, ece_interval=False)
    assert bare.ece_low is None and bare.ece_high is None
    d = json.loads(json.dumps(r.to_dict()))
    assert set(d) >= {
        "ece",
        "mce",
        "ace",
        "brier",
        "rel",
        "res",
        "unc",
        "log_loss",
        "n",
        "base_rate",
    }
    with_ci = calibration_report(p, y, ece_interval=True, n_boot=100)
    assert with_ci.ece_low <= with_ci.ece_high


def test_json_safe_converts_non_finite():
    assert json_safe({"a": np.float64("nan"), "b": np.inf, "c": -np.inf, "d": np.arange(2)}) == {
        "a": None,
        "b": "inf",
        "c": "-inf",
        "d": [0, 1],
    }


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("prob", "win", "match"),
    [
        ([0.1, 0.2], [0, 1, 1], r"prob and win must have the same length, got 2 and 3"),
        ([0.1, np.nan], [0, 1], r"prob has NaN at index 1"),
        ([0.1, 1.2], [0, 1], r"prob has values outside \[0, 1\]"),
        ([-0.1, 0.2], [0, 1], r"prob has values outside \[0, 1\]"),
        ([0.1, 0.2], [0, 2], r"win must hold only 0/1 or True/False; index 1 has 2"),
        ([0.1, 0.2], [0, np.nan], r"win must hold only 0/1"),
        ([0.1, 0.2], ["a", "b"], r"win must hold 0/1"),
        ([[0.1, 0.2]], [[0, 1]], r"must be 1-D"),
        (["x"], [1], r"prob must be numeric"),
    ],
)
@pytest.mark.parametrize(
    "func", [expected_calibration_error, brier_score, log_loss, reliability_curve]
)
def test_invalid_inputs_raise(func, prob, win, match):
    with pytest.raises(CalibrationError, match=match):
        func(prob, win)


def test_empty_input_raises_insufficient_data():
    with pytest.raises(InsufficientDataError, match="empty"):
        calibration_report([], [])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"strategy": "equal"}, r"strategy must be 'uniform' or 'quantile'"),
        ({"n_bins": 0}, r"n_bins must be a positive integer"),
        ({"n_bins": 2.5}, r"n_bins must be a positive integer"),
    ],
)
def test_invalid_binning_raises(kwargs, match):
    with pytest.raises(CalibrationError, match=match):
        expected_calibration_error([0.2, 0.4], [0, 1], **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_boot": 0}, "n_boot must be a positive integer"),
        ({"level": 1.0}, r"level must lie in \(0, 1\)"),
        ({"method": "fast"}, "method must be 'auto', 'exact' or 'cells'"),
    ],
)
def test_invalid_ece_interval_options(kwargs, match):
    with pytest.raises(CalibrationError, match=match):
        ece_confidence_interval([0.2, 0.4], [0, 1], **kwargs)


# --------------------------------------------------------------------------- properties

probs = arrays(np.float64, st.integers(1, 300), elements=st.floats(0.0, 1.0))


@settings(max_examples=60, deadline=None)
@given(p=probs, data=st.data(), n_bins=st.integers(1, 20), quantile=st.booleans())
def test_metric_bounds_property(p, data, n_bins, quantile):
    y = np.array(data.draw(st.lists(st.booleans(), min_size=p.size, max_size=p.size)))
    strategy = "quantile" if quantile else "uniform"
    ece = expected_calibration_error(p, y, n_bins=n_bins, strategy=strategy)
    mce = maximum_calibration_error(p, y, n_bins=n_bins, strategy=strategy, min_count=1)
    assert 0.0 <= ece <= mce + 1e-12 <= 1.0 + 1e-12
    assert 0.0 <= brier_score(p, y) <= 1.0
    assert log_loss(p, y) >= 0.0
    curve = reliability_curve(p, y, n_bins=n_bins, strategy=strategy)
    assert curve.count.sum() == p.size
    ok = curve.nonempty
    assert np.all(curve.win_low[ok] <= curve.observed_frequency[ok] + 1e-12)
    assert np.all(curve.observed_frequency[ok] <= curve.win_high[ok] + 1e-12)
    rel, res, unc = brier_decomposition(p, y, n_bins=n_bins, strategy=strategy)
    assert rel >= 0 and res >= 0 and 0 <= unc <= 0.25
