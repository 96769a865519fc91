"""Calibrators: references (scikit-learn, hand-computed), round trips, edge cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from core.analytics.calibrators import (
    CALIBRATION_METHODS,
    BaseCalibrator,
    BetaCalibrator,
    Calibrator,
    HistogramCalibrator,
    IsotonicCalibrator,
    PlattCalibrator,
    calibrator_from_dict,
    default_min_block,
    make_calibrator,
    probability_floor,
)
from core.errors import CalibrationError

MONOTONE = ("platt", "isotonic", "beta")


def planted(n: int, *, a: float = 4.0, b: float = -2.5, seed: int = 0):
    """c ~ U(0, 1) and win ~ Bernoulli(sigmoid(a c + b))."""
    rng = np.random.default_rng(seed)
    c = rng.random(n)
    return c, rng.random(n) < expit(a * c + b)


# --------------------------------------------------------------------------- references


def test_platt_recovers_planted_parameters():
    c, y = planted(40_000, seed=11)
    cal = PlattCalibrator().fit(c, y)
    assert cal.a == pytest.approx(4.0, abs=0.15)
    assert cal.b == pytest.approx(-2.5, abs=0.1)
    np.testing.assert_allclose(cal.predict(c), expit(cal.a * c + cal.b))


def test_platt_matches_unpenalised_sklearn_logistic_regression():
    c, y = planted(3000, a=2.0, b=-0.5, seed=1)
    lr = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000).fit(c[:, None], y)
    cal = PlattCalibrator().fit(c, y)
    assert cal.a == pytest.approx(lr.coef_[0, 0], abs=1e-4)
    assert cal.b == pytest.approx(lr.intercept_[0], abs=1e-4)


def test_platt_separable_data_stays_finite():
    c = np.linspace(0, 1, 100)
    cal = PlattCalibrator().fit(c, c > 0.5)
    p = cal.predict(c)
    assert np.isfinite([cal.a, cal.b]).all() and cal.a > 10
    assert p[0] < 0.01 and p[-1] > 0.99 and not np.isnan(p).any()


@pytest.mark.parametrize("decimals", [None, 2, 1])
def test_isotonic_matches_sklearn(decimals):
    c, y = planted(5000, seed=2)
    if decimals is not None:
        c = np.round(c, decimals)
    ref = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(c, y)
    # min_block=1 is plain PAV; predictions are floored at 1/(2n) (never exactly 0 or 1).
    cal = IsotonicCalibrator(min_block=1).fit(c, y)
    grid = np.linspace(0, 1, 1001)
    eps = probability_floor(c.size)
    expected = np.clip(ref.predict(grid), eps, 1 - eps)
    np.testing.assert_allclose(cal.predict(grid), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cal.x, ref.X_thresholds_)
    np.testing.assert_allclose(cal.y, ref.y_thresholds_)


@pytest.mark.parametrize("method", ["platt", "isotonic", "beta", "histogram"])
def test_no_calibrator_says_exactly_zero_or_one(method):
    # Separable data push every method to its extremes.
    c = np.linspace(0, 1, 400)
    y = c > 0.5
    cal = make_calibrator(method).fit(c, y)
    p = cal.predict(np.linspace(0, 1, 1001))
    eps = probability_floor(400)
    assert p.min() >= eps and p.max() <= 1 - eps
    assert (p > 0).all() and (p < 1).all()
    again = calibrator_from_dict(json.loads(json.dumps(cal.to_dict())))
    np.testing.assert_array_equal(again.predict(c), cal.predict(c))


@pytest.mark.parametrize(("n", "min_block"), [(500, None), (5000, None), (2000, 60)])
def test_isotonic_steps_hold_at_least_min_block_trades(n, min_block):
    c, y = planted(n, seed=5)
    cal = IsotonicCalibrator(min_block=min_block).fit(c, y)
    m = default_min_block(n) if min_block is None else min_block
    p = cal.predict(c)
    _, counts = np.unique(p, return_counts=True)
    # Points strictly between two knots interpolate, so count trades per flat level only
    # where the level holds more than one trade; every step level holds >= m trades.
    levels = np.unique(cal.y)
    per_level = np.array([(np.isclose(p, v, rtol=0, atol=1e-15)).sum() for v in levels])
    assert (per_level[per_level > 1] >= m).all()
    assert np.all(np.diff(cal.y) >= 0)  # still monotone
    # plain PAV on the same data has single-trade steps at the extremes
    plain = IsotonicCalibrator(min_block=1).fit(c, y)
    assert np.unique(plain.y).size > levels.size
    assert counts.sum() == n


def test_default_min_block():
    assert default_min_block(100) == 20
    assert default_min_block(1000) == 20
    assert default_min_block(5001) == 101


def test_beta_matches_reference_logistic_fit():
    c, y = planted(4000, a=3.0, b=-1.5, seed=3)
    eps = 1e-12
    cc = np.clip(c, eps, 1 - eps)
    x = np.column_stack((np.log(cc), -np.log1p(-cc)))
    lr = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000).fit(x, y)
    assert (lr.coef_ >= 0).all()  # no refit needed on this data
    cal = BetaCalibrator().fit(c, y)
    assert (cal.a, cal.b) == pytest.approx(tuple(lr.coef_[0]), abs=1e-4)
    assert cal.c == pytest.approx(lr.intercept_[0], abs=1e-4)


def test_beta_recovers_a_beta_shaped_map():
    rng = np.random.default_rng(4)
    c = rng.uniform(0.01, 0.99, 60_000)
    truth = expit(2.0 * np.log(c) - 0.5 * np.log1p(-c) + 0.3)
    cal = BetaCalibrator().fit(c, rng.random(c.size) < truth)
    assert (cal.a, cal.b, cal.c) == pytest.approx((2.0, 0.5, 0.3), abs=0.15)


def test_beta_refits_without_a_negative_coefficient():
    # P(win) falls near c = 0 and rises near 1: an unconstrained fit has a < 0.
    rng = np.random.default_rng(5)
    c = rng.uniform(0.001, 0.999, 20_000)
    truth = expit(-0.5 * np.log(c) - 1.0 * np.log1p(-c) - 1.0)
    cal = BetaCalibrator().fit(c, rng.random(c.size) < truth)
    assert cal.a == 0.0 and cal.b > 0
    p = cal.predict(np.linspace(0, 1, 201))
    assert (np.diff(p) >= -1e-12).all()


def test_beta_decreasing_data_falls_back_to_constant():
    rng = np.random.default_rng(6)
    c = rng.random(5000)
    y = rng.random(c.size) < 0.9 - 0.8 * c
    cal = BetaCalibrator().fit(c, y)
    assert cal.a == 0.0 and cal.b == 0.0
    np.testing.assert_allclose(cal.predict(c), y.mean(), atol=1e-6)


def test_histogram_hand_computed_m_estimate():
    c = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9] * 3)
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0] * 3)
    cal = HistogramCalibrator(n_bins=2, prior_strength=2.0, min_samples=1).fit(c, y)
    base = 12 / 24
    # bin [0, .5]: 3 wins of 12; bin (.5, 1]: 9 of 12
    expected = [(3 + 2 * base) / 14, (9 + 2 * base) / 14]
    np.testing.assert_allclose(cal.probabilities, expected)
    np.testing.assert_allclose(cal.predict(np.array([0.0, 0.5, 0.51, 1.0])), np.repeat(expected, 2))
    raw = HistogramCalibrator(n_bins=4, prior_strength=0.0, min_samples=1).fit(c, y)
    np.testing.assert_allclose(raw.probabilities, [0.0, 0.5, 1.0, 0.5])


def test_histogram_empty_bin_predicts_base_rate_and_quantile_edges():
    c = np.r_[np.full(30, 0.05), np.full(30, 0.95)]
    y = np.r_[np.zeros(25), np.ones(5), np.ones(20), np.zeros(10)]
    cal = HistogramCalibrator(n_bins=10).fit(c, y)
    assert cal.predict(np.array([0.5]))[0] == pytest.approx(y.mean())
    q = HistogramCalibrator(n_bins=4, strategy="quantile").fit(*planted(400, seed=7))
    assert q.counts.tolist() == [100, 100, 100, 100]


# --------------------------------------------------------------------------- interface


@pytest.mark.parametrize("method", CALIBRATION_METHODS)
def test_round_trip_through_json(method):
    c, y = planted(2000, seed=8)
    cal = make_calibrator(method).fit(c, y)
    d = json.loads(json.dumps(cal.to_dict()))
    assert d["method"] == method and d["n_train"] == 2000 and d["fallback"] is None
    back = calibrator_from_dict(d)
    assert type(back) is type(cal)
    grid = np.r_[np.linspace(0, 1, 2001), c]
    assert np.array_equal(back.predict(grid), cal.predict(grid))
    assert back.to_dict() == d
    assert type(cal).from_dict(d).to_dict() == d


@pytest.mark.parametrize("method", CALIBRATION_METHODS)
def test_satisfies_protocol(method):
    cal = make_calibrator(method)
    assert isinstance(cal, Calibrator) and isinstance(cal, BaseCalibrator)
    assert cal.method == method and not cal.is_fitted
    assert method in repr(cal) or type(cal).__name__ in repr(cal)


def test_make_calibrator_passes_options():
    cal = make_calibrator("histogram", n_bins=20, strategy="quantile", min_samples=5)
    assert (cal.n_bins, cal.strategy, cal.min_samples) == (20, "quantile", 5)


# --------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("method", CALIBRATION_METHODS)
@pytest.mark.parametrize(
    ("confidence", "win", "reason", "constant"),
    [
        (np.linspace(0, 1, 30), np.ones(30), "all wins", 31 / 32),
        (np.linspace(0, 1, 30), np.zeros(30), "all losses", 1 / 32),
        (np.full(30, 0.7), np.arange(30) % 3 == 0, "constant confidence", 11 / 32),
    ],
)
def test_degenerate_data_falls_back_to_laplace(method, confidence, win, reason, constant):
    cal = make_calibrator(method).fit(confidence, win)
    assert cal.fallback == reason
    p = cal.predict(np.linspace(0, 1, 11))
    np.testing.assert_allclose(p, constant)
    d = json.loads(json.dumps(cal.to_dict()))
    assert d["fallback"] == reason and d["params"] == {"constant": constant}
    np.testing.assert_array_equal(calibrator_from_dict(d).predict(np.linspace(0, 1, 11)), p)


@pytest.mark.parametrize("method", CALIBRATION_METHODS)
def test_too_few_rows_raise(method):
    with pytest.raises(
        CalibrationError, match=f"{method} calibration needs at least 20 trades, got 19"
    ):
        make_calibrator(method).fit(np.linspace(0, 1, 19), np.arange(19) % 2)
    make_calibrator(method, min_samples=5).fit(np.linspace(0, 1, 6), np.arange(6) % 2)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: make_calibrator("plat"),
            r"unknown calibration method 'plat'.*did you mean 'platt'",
        ),
        (lambda: make_calibrator("svm"), r"choose one of platt, isotonic, beta, histogram"),
        (
            lambda: make_calibrator("histogram", nbins=5),
            r"no option 'nbins' \(did you mean 'n_bins'",
        ),
        (lambda: make_calibrator("platt", min_samples=0), "min_samples must be a positive integer"),
        (lambda: make_calibrator("histogram", n_bins=0), "n_bins must be a positive integer"),
        (lambda: make_calibrator("histogram", strategy="x"), "strategy must be 'uniform'"),
        (lambda: make_calibrator("histogram", prior_strength=-1), "prior_strength must be"),
        (lambda: make_calibrator("beta", eps=0.7), r"eps must lie in \(0, 0.5\)"),
        (lambda: PlattCalibrator().predict([0.5]), "not fitted; call fit"),
        (lambda: IsotonicCalibrator().to_dict(), "not fitted"),
        (
            lambda: PlattCalibrator().fit([0.1] * 10 + [2.0] * 10, [0, 1] * 10),
            r"confidence has values outside \[0, 1\]",
        ),
        (lambda: PlattCalibrator().fit([0.1, np.nan] * 10, [0, 1] * 10), "confidence has NaN"),
        (lambda: PlattCalibrator().fit([0.1] * 20, [0, 3] * 10), "win must hold only 0/1"),
        (lambda: calibrator_from_dict({"a": 1}), "with a 'method' key"),
        (lambda: calibrator_from_dict({"method": "platt"}), "lacks options, n_train, params"),
        (
            lambda: calibrator_from_dict(
                {"method": "platt", "options": {}, "n_train": 5, "params": {"a": 1.0}}
            ),
            "platt calibrator dict has bad params",
        ),
        (
            lambda: PlattCalibrator.from_dict(
                {"method": "beta", "options": {}, "n_train": 5, "params": {}}
            ),
            "dict describes a 'beta' calibrator",
        ),
    ],
)
def test_errors(call, match):
    with pytest.raises(CalibrationError, match=match):
        call()


def test_predict_validates_input():
    cal = PlattCalibrator().fit(*planted(100, seed=9))
    with pytest.raises(CalibrationError, match="confidence has NaN at index 1"):
        cal.predict([0.2, np.nan])
    with pytest.raises(CalibrationError, match="must be 1-D"):
        cal.predict([[0.2]])
    assert cal.predict([]).shape == (0,)


# --------------------------------------------------------------------------- properties

scores = arrays(np.float64, st.integers(20, 200), elements=st.floats(0.0, 1.0))


@settings(max_examples=40, deadline=None)
@given(c=scores, seed=st.integers(0, 1000), method=st.sampled_from(CALIBRATION_METHODS))
def test_outputs_in_unit_interval_and_monotone_property(c, seed, method):
    rng = np.random.default_rng(seed)
    y = rng.random(c.size) < 0.2 + 0.6 * c
    cal = make_calibrator(method).fit(c, y)
    grid = np.r_[np.linspace(0, 1, 501), np.sort(c)]
    grid.sort()
    p = cal.predict(grid)
    assert p.shape == grid.shape and not np.isnan(p).any()
    assert (p >= 0).all() and (p <= 1).all()
    if method in MONOTONE:
        step = np.diff(p)
        if method == "platt" and cal.a is not None and cal.a < 0:
            step = -step  # Platt is monotone in the direction of its slope
        assert (step >= -1e-12).all()
