"""Version against version: the paired bootstrap of B - A."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.analytics.calibration import brier_score, expected_calibration_error, log_loss
from core.analytics.compare import compare_keys, compare_versions, moving_block_indices
from core.errors import CalibrationError, ConfigError, InsufficientDataError


@pytest.fixture
def forecasts():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.15, 0.85, 2000)
    win = rng.uniform(size=p.size) < p
    distorted = np.clip(0.5 + 1.8 * (p - 0.5) + 0.08, 0.01, 0.99)
    returns = np.where(win, rng.uniform(0.1, 3, p.size), -rng.uniform(0.1, 3, p.size))
    return p, distorted, win, returns


def test_point_values_match_the_metrics(forecasts):
    p, q, win, _ = forecasts
    res = compare_versions(p, q, win, n_boot=50)
    t = res.table
    assert t.loc["brier", "a"] == pytest.approx(brier_score(p, win))
    assert t.loc["brier", "b"] == pytest.approx(brier_score(q, win))
    assert t.loc["log_loss", "b"] == pytest.approx(log_loss(q, win))
    assert t.loc["ece", "a"] == pytest.approx(expected_calibration_error(p, win))
    assert t.loc["brier", "diff"] == pytest.approx(t.loc["brier", "b"] - t.loc["brier", "a"])


def test_distorted_version_is_worse_with_interval_above_zero(forecasts):
    p, q, win, _ = forecasts
    res = compare_versions(p, q, win, names=("true", "distorted"))
    for metric in ("brier", "log_loss", "ece"):
        assert res.table.loc[metric, "diff_low"] > 0, metric
    assert res.verdict.startswith("distorted worse than true")
    swapped = compare_versions(q, p, win, names=("distorted", "true"))
    assert swapped.verdict.startswith("true better than distorted")
    assert swapped.table.loc["brier", "diff_high"] < 0


def test_identical_versions_give_exactly_zero(forecasts):
    p, _, win, _ = forecasts
    res = compare_versions(p, p.copy(), win, n_boot=200, block_size=10)
    assert (res.table[["diff", "diff_low", "diff_high"]].to_numpy() == 0).all()
    assert res.verdict.startswith("no significant difference")


def test_paired_interval_is_narrower_than_unpaired(forecasts):
    p, _, win, _ = forecasts
    mild = np.clip(p + 0.02, 0, 1)
    res = compare_versions(p, mild, win, n_boot=400, seed=1)
    width = res.table.loc["brier", "diff_high"] - res.table.loc["brier", "diff_low"]
    # Unpaired: independent resamples of A and B.
    rng = np.random.default_rng(1)
    ia = rng.integers(0, p.size, (400, p.size))
    ib = rng.integers(0, p.size, (400, p.size))
    d2a, d2b = (p - win) ** 2, (mild - win) ** 2
    unpaired = d2b[ib].mean(1) - d2a[ia].mean(1)
    assert width < 0.25 * np.subtract(*np.quantile(unpaired, [0.975, 0.025]))


def test_seed_reproduces(forecasts):
    p, q, win, _ = forecasts
    a = compare_versions(p, q, win, n_boot=100, seed=5).table
    b = compare_versions(p, q, win, n_boot=100, seed=5).table
    pd.testing.assert_frame_equal(a, b)


def test_sweeps_and_json(forecasts):
    p, q, win, r = forecasts
    res = compare_versions(p, q, win, returns_pct=r, n_boot=50)
    assert res.sweep_a is not None and res.sweep_b is not None
    assert res.sweep_a.table["trades"].iloc[0] == p.size
    json.dumps(res.to_dict(), allow_nan=False)


def test_compare_keys_uses_rows_with_both(forecasts):
    p, q, win, r = forecasts
    frame = pd.DataFrame({"v1": p, "v2": q, "win": win, "return_pct": r})
    frame.loc[:9, "v2"] = np.nan
    res = compare_keys(frame, "v1", "v2", n_boot=20)
    assert res.n == p.size - 10 and res.names == ("v1", "v2")
    with pytest.raises(InsufficientDataError, match="both"):
        compare_keys(frame.assign(v2=np.nan), "v1", "v2")


def test_moving_blocks_are_consecutive():
    idx = moving_block_indices(10, n_boot=3, block_size=4, rng=np.random.default_rng(0))
    assert idx.shape == (3, 10)
    for row in idx:
        for start in (0, 4):
            assert np.array_equal(np.diff(row[start : start + 4]), [1, 1, 1])
    with pytest.raises(ConfigError, match="block_size"):
        moving_block_indices(3, n_boot=1, block_size=4, rng=np.random.default_rng(0))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"primary": "auc"}, ConfigError, "primary"),
        ({"n_boot": 0}, ConfigError, "n_boot"),
        ({"level": 1.5}, ConfigError, "level"),
    ],
)
def test_bad_options(forecasts, kwargs, error, match):
    p, q, win, _ = forecasts
    with pytest.raises(error, match=match):
        compare_versions(p, q, win, **kwargs)


def test_bad_probabilities():
    with pytest.raises(CalibrationError, match="prob_b"):
        compare_versions([0.2, 0.4], [0.2, 1.4], [0, 1])
