"""Threshold stability: the spread of walk-forward choices and the stable region, by hand."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from core.analytics.selection import WalkForwardThresholdResult
from core.analytics.stability import threshold_stability, weighted_objective
from core.errors import ConfigError, InsufficientDataError, TradesFrameError


def _walk(thresholds, *, test_start, objective="win_rate", min_trades=5, mode="absolute"):
    """A walk-forward result holding only what threshold_stability reads."""
    windows = pd.DataFrame(
        {
            "window": range(1, len(thresholds) + 1),
            "threshold": thresholds,
            "test_start": [pd.Timestamp(test_start, tz="UTC")] * len(thresholds),
        }
    )
    return WalkForwardThresholdResult(
        windows=windows, summary=pd.DataFrame(), key="confidence", objective=objective,
        policy="optimise", scheme="expanding", mode=mode, q=80.0, min_trades=min_trades,
        n_windows=len(thresholds), n_trials=101, purge=True, cost_bps=0.0, n_exit_imputed=0,
        oos_index=pd.Index([]),
    )  # fmt: skip


def _trades() -> pd.DataFrame:
    """40 training trades (ignored), then 40 test trades built so that the win rate is
    0.5 below a score of 0.5 and 1.0 at or above it, 20 trades each."""
    train = pd.DataFrame({"confidence": np.linspace(0, 1, 40), "return_pct": -1.0})
    conf = np.r_[np.linspace(0.1, 0.45, 20), np.linspace(0.5, 0.95, 20)]
    ret = np.r_[np.tile([1.0, -1.0], 10), np.full(20, 1.0)]
    test = pd.DataFrame({"confidence": conf, "return_pct": ret})
    frame = pd.concat([train, test], ignore_index=True)
    frame["win"] = frame["return_pct"] > 0
    frame["entry_time"] = pd.date_range("2020-01-01", periods=len(frame), freq="D", tz="UTC")
    return frame


def test_spread_median_and_stable_region_of_a_hand_built_case():
    trades = _trades()
    walk = _walk([0.3, 0.5, 0.6, 0.55, 0.7], test_start="2020-02-10")  # the 41st trade
    s = threshold_stability(trades, walk, thresholds=np.arange(0, 11) / 10, n_boot=200)
    assert s.window_thresholds == (0.3, 0.5, 0.6, 0.55, 0.7)
    assert (s.low, s.high, s.median) == (0.3, 0.7, 0.55)
    assert s.spread == pytest.approx(0.4)
    assert s.n_oos_trades == 40
    # the median 0.55 keeps the test trades scored >= 0.55 (0.5 + k * 0.45 / 19 for
    # k = 3..19): 17 of them, all wins
    assert s.median_oos["trades"] == 17 and s.median_oos["win_rate"] == 1.0
    # every threshold from 0.5 up keeps only wins (win rate 1, no bootstrap spread):
    # the best is the first of them, its band is [1, 1]; below 0.5 the win rate drops
    assert s.best_threshold == 0.5 and s.best_value == 1.0
    assert s.band_low == s.band_high == 1.0
    # 0.9 and 1.0 keep fewer than min_trades = 5 test trades: not eligible
    assert s.stable_thresholds == (0.5, 0.6, 0.7, 0.8)
    assert (s.stable_low, s.stable_high) == (0.5, 0.8)
    assert s.median_in_stable_region
    out = s.to_dict()
    json.dumps(out, allow_nan=False)
    assert out["stable_thresholds"] == [0.5, 0.6, 0.7, 0.8] and out["median_in_stable_region"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.median = 0.1  # type: ignore[misc]


def test_a_noisy_best_has_a_wide_band_and_a_wide_region():
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({"confidence": rng.random(n), "return_pct": rng.normal(0, 1, n)})
    frame["win"] = frame["return_pct"] > 0
    frame["entry_time"] = pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC")
    walk = _walk([0.2, 0.4, 0.6], test_start="2020-03-01", objective="sharpe", min_trades=30)
    s = threshold_stability(frame, walk, n_boot=200, seed=1)
    assert s.band_low < s.best_value < s.band_high
    # pure noise: many thresholds are as good as the best within the noise
    assert len(s.stable_thresholds) > 20


def test_weighted_objective_matches_plain_formulas_with_unit_weights():
    r = np.array([1.0, -0.5, 2.0, -1.0, 0.5])
    one = np.ones((1, r.size))
    assert weighted_objective(r, one, "sharpe")[0] == pytest.approx(r.mean() / r.std(ddof=1))
    assert weighted_objective(r, one, "win_rate")[0] == pytest.approx(0.6)
    assert weighted_objective(r, one, "profit_factor")[0] == pytest.approx(3.5 / 1.5)
    assert weighted_objective(r, one, "expectancy_x_trades")[0] == pytest.approx(r.sum())
    # a Poisson weight of 2 counts a trade twice
    w = np.array([[2.0, 1.0, 1.0, 1.0, 1.0]])
    doubled = np.r_[r, r[0]]
    assert weighted_objective(r, w, "sharpe")[0] == pytest.approx(
        doubled.mean() / doubled.std(ddof=1)
    )


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"n_boot": 5}, "n_boot must be an integer >= 20"),
        ({"level": 1.0}, r"level must lie in \[0.5, 1\)"),
    ],
)
def test_bad_options_are_named(options, match):
    walk = _walk([0.5], test_start="2020-02-10")
    with pytest.raises(ConfigError, match=match):
        threshold_stability(_trades(), walk, **options)


def test_no_window_chose_a_threshold():
    walk = _walk([float("nan")], test_start="2020-02-10")
    with pytest.raises(InsufficientDataError, match="no walk-forward window chose a threshold"):
        threshold_stability(_trades(), walk)


def test_missing_or_invalid_columns_are_named_as_the_sweep_names_them():
    walk = _walk([0.3, 0.5], test_start="2020-02-10")
    with pytest.raises(TradesFrameError, match="no column 'win'; columns present: confidence"):
        threshold_stability(_trades().drop(columns="win"), walk, n_boot=50)
    bad = _trades()
    bad.loc[60, "return_pct"] = np.inf  # a test trade
    with pytest.raises(TradesFrameError, match="return_pct must be finite"):
        threshold_stability(bad, walk, n_boot=50)
