"""Calibration by segment: a planted miscalibration is flagged, and only it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.analytics.calibration import ece_confidence_interval
from core.analytics.segments import adjust_p_values, calibration_by_segment, segment_labels
from core.errors import ConfigError, TradesFrameError


def regimes(seed: int, *, plant: bool, n: int = 3000) -> pd.DataFrame:
    """Calibrated forecasts; with ``plant`` the high-volatility third is overconfident."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.2, 0.8, n)
    vol = rng.lognormal(-1.5, 0.5, n)
    truth = p.copy()
    if plant:
        high = vol > np.quantile(vol, 2 / 3)
        truth[high] = 0.5 + 0.35 * (p[high] - 0.5) - 0.08
    win = rng.uniform(size=n) < truth
    return pd.DataFrame(
        {
            "entry_time": pd.date_range("2010-01-01", periods=n, freq="D", tz="UTC"),
            "confidence": p,
            "win": win,
            "return_pct": np.where(win, 1.0, -1.0),
            "market_volatility": vol,
            "symbol": rng.choice(["AAA", "BBB"], n),
            "side": rng.choice([-1, 1], n).astype(np.int8),
        }
    )


@pytest.mark.parametrize("seed", range(5))
def test_planted_regime_is_flagged_alone(seed):
    res = calibration_by_segment(regimes(seed, plant=True), "volatility", n_boot=50)
    assert res.flagged == ["high"]
    assert res.table.loc["high", "calibration_slope"] < 0.6


def test_false_flag_rate_is_controlled():
    flagged = [
        bool(
            calibration_by_segment(regimes(s, plant=False, n=1500), "volatility", n_boot=5).flagged
        )
        for s in range(60)
    ]
    # Holm at 5 %: P(any flag) <= 0.05; 60 runs, binomial upper tail at 99.9 %.
    assert sum(flagged) <= stats.binom.ppf(0.999, 60, 0.05)


def test_tercile_cut_points_are_sample_quantiles():
    t = regimes(0, plant=False)
    labels, kind, cuts = segment_labels(t, "volatility")
    c1, c2 = np.quantile(t["market_volatility"], [1 / 3, 2 / 3])
    assert kind == "terciles" and cuts == pytest.approx((c1, c2))
    v = t["market_volatility"]
    expected = np.where(v <= c1, "low", np.where(v <= c2, "mid", "high"))
    assert (labels.to_numpy() == expected).all()
    fixed, _, _ = segment_labels(t, "volatility", cut_points=(0.1, 0.3))
    assert (fixed[v <= 0.1] == "low").all() and (fixed[v > 0.3] == "high").all()


def test_categorical_and_year_segments():
    t = regimes(1, plant=False)
    res = calibration_by_segment(t, "side", n_boot=20)
    assert list(res.table.index) == ["-1", "1"]
    assert res.table["n"].sum() == len(t)
    years = calibration_by_segment(t, "year", n_boot=20)
    assert set(years.table.index) == {str(y) for y in t["entry_time"].dt.year.unique()}


def test_segment_figures_match_references():
    t = regimes(2, plant=True)
    res = calibration_by_segment(t, "symbol", n_boot=100, seed=3)
    m = t["symbol"] == "AAA"
    ci = ece_confidence_interval(t.loc[m, "confidence"], t.loc[m, "win"], n_boot=100, seed=3)
    row = res.table.loc["AAA"]
    assert (row["ece"], row["ece_low"], row["ece_high"]) == pytest.approx((ci.ece, ci.low, ci.high))
    assert row["win_rate"] == pytest.approx(t.loc[m, "win"].mean())
    json.dumps(res.to_dict(), allow_nan=False)


def test_rest_reference_detects_a_different_segment():
    res = calibration_by_segment(regimes(0, plant=True), "volatility", reference="rest", n_boot=5)
    assert "high" in res.flagged
    assert res.table.loc["high", "p_value"] == res.table["p_value"].min()


def test_small_segments_are_not_tested():
    t = regimes(0, plant=False, n=400)
    t.loc[:9, "symbol"] = "TINY"
    res = calibration_by_segment(t, "symbol", min_segment=30, n_boot=5)
    assert np.isnan(res.table.loc["TINY", "p_value"]) and not res.table.loc["TINY", "flagged"]


@pytest.mark.parametrize("method", ["holm", "bh"])
def test_adjust_p_values_against_hand_values(method):
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.2])
    # Holm: sorted 0.01, 0.03, 0.04, 0.2 -> 0.04, 0.09, 0.09, 0.2
    # BH: 0.04, 0.0533, 0.0533, 0.2
    expected = {
        "holm": [0.04, 0.09, 0.09, np.nan, 0.2],
        "bh": [0.04, 0.16 / 3, 0.16 / 3, np.nan, 0.2],
    }[method]
    np.testing.assert_allclose(adjust_p_values(p, method=method), expected)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"by": "nope"}, TradesFrameError, "no column 'nope'"),
        ({"by": "side", "correction": "bonferroni"}, ConfigError, "holm"),
        ({"by": "side", "alpha": 2.0}, ConfigError, "alpha"),
        ({"by": "side", "reference": "best"}, ConfigError, "reference"),
    ],
)
def test_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        calibration_by_segment(regimes(0, plant=False, n=200), **kwargs)
