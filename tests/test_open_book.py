"""Open-book forecast: Poisson-binomial pmf against brute force, scipy and the normal law."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from core.analytics.open_book import check_open_book, open_book_forecast, poisson_binomial_pmf
from core.errors import ValidationError


def brute_force_pmf(p: np.ndarray) -> np.ndarray:
    out = np.zeros(p.size + 1)
    for outcome in itertools.product((0, 1), repeat=p.size):
        o = np.array(outcome, dtype=bool)
        out[o.sum()] += np.prod(np.where(o, p, 1.0 - p))
    return out


@pytest.mark.parametrize("n", [0, 1, 2, 5, 9, 12])
def test_pmf_matches_enumeration(n):
    p = np.random.default_rng(n).uniform(size=n)
    np.testing.assert_allclose(poisson_binomial_pmf(p), brute_force_pmf(p), atol=1e-14)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=10))
def test_pmf_enumeration_property(p):
    np.testing.assert_allclose(poisson_binomial_pmf(p), brute_force_pmf(np.array(p)), atol=1e-12)


@pytest.mark.parametrize(("n", "q"), [(1, 0.3), (40, 0.5), (300, 0.62), (2000, 0.07)])
def test_equal_probabilities_are_binomial(n, q):
    pmf = poisson_binomial_pmf(np.full(n, q))
    np.testing.assert_allclose(pmf, stats.binom.pmf(np.arange(n + 1), n, q), atol=1e-12)


def test_large_n_close_to_normal():
    p = np.random.default_rng(1).uniform(0.2, 0.8, size=5000)
    pmf = poisson_binomial_pmf(p)
    mu, sd = p.sum(), np.sqrt(np.sum(p * (1 - p)))
    k = np.arange(p.size + 1)
    normal = stats.norm.cdf(k + 0.5, mu, sd) - stats.norm.cdf(k - 0.5, mu, sd)
    assert np.abs(pmf - normal).max() < 2e-4
    assert pmf.sum() == pytest.approx(1.0)
    assert (pmf * k).sum() == pytest.approx(mu, rel=1e-10)


def test_forecast_moments_and_band():
    p = np.array([0.9, 0.6, 0.55, 0.7, 0.5])
    f = open_book_forecast(p, expected_returns_pct=[1.0, 0.5, 0.1, 0.3, 0.0], level=0.8)
    assert f.expected_wins == pytest.approx(3.25)
    assert f.expected_win_rate == pytest.approx(0.65)
    assert f.sd_wins == pytest.approx(np.sqrt(np.sum(p * (1 - p))))
    cdf = np.cumsum(brute_force_pmf(p))
    assert f.wins_low == int(np.argmax(cdf >= 0.1))
    assert f.wins_high == int(np.argmax(cdf >= 0.9))
    assert f.expected_total_return_pct == pytest.approx(1.9)
    assert f.expected_return_pct == pytest.approx(0.38)
    d = f.to_dict()
    assert d["n"] == 5 and len(d["pmf"]) == 6


@pytest.mark.parametrize("k", [5, 20, 24, 30, 36, 45])
def test_p_value_matches_binomtest(k):
    n, q = 50, 0.6
    f = open_book_forecast(np.full(n, q))
    check = check_open_book(f, np.arange(n) < k)
    assert check.realised_wins == k
    assert check.p_value == pytest.approx(stats.binomtest(k, n, q).pvalue, rel=1e-9)
    assert check.drift == (check.p_value < 0.05)


def test_check_detects_shifted_outcomes():
    rng = np.random.default_rng(7)
    p = rng.uniform(0.5, 0.7, 400)
    f = open_book_forecast(p)
    honest = check_open_book(f, rng.uniform(size=400) < p)
    worse = check_open_book(f, rng.uniform(size=400) < p - 0.15)
    assert not honest.drift and honest.within_band
    assert worse.drift and worse.z < -3


@pytest.mark.parametrize(
    ("prob", "match"),
    [([0.5, 1.2], "position 1"), ([np.nan], "position 0"), ([[0.5]], "one-dimensional")],
)
def test_bad_probabilities(prob, match):
    with pytest.raises(ValidationError, match=match):
        open_book_forecast(prob)


def test_check_rejects_wrong_length():
    f = open_book_forecast([0.5, 0.5])
    with pytest.raises(ValidationError, match="one outcome per forecast"):
        check_open_book(f, [1, 0, 1])
