"""Tests of core.analytics.keymap: the named mapping behind calibrated_probability."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.analytics.calibrators import make_calibrator
from core.analytics.keymap import calibrate_key
from core.errors import ConfigError, InsufficientDataError


@pytest.fixture(scope="module")
def trades() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 3000
    conf = rng.random(n)
    win = rng.random(n) < 0.35 + 0.3 * conf
    entry = pd.Timestamp("2020-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="h")
    return pd.DataFrame({"entry_time": entry, "exit_time": entry + pd.Timedelta(hours=2),
                         "confidence": conf, "win": win, "return_pct": np.where(win, 1.0, -1.0)})  # fmt: skip


def test_raw_and_walk_forward_labels(trades):
    raw, m = calibrate_key(trades, method="raw")
    assert m.label == "raw confidence" and m.n_scored == len(trades)
    np.testing.assert_array_equal(raw["calibrated_probability"], trades["confidence"])
    iso, m = calibrate_key(trades, method="isotonic", n_windows=12)
    assert m.label == "isotonic, walk-forward, 12 windows"
    p = iso["calibrated_probability"].dropna()
    assert m.n_scored == p.size > 0 and ((p > 0) & (p < 1)).all()
    assert "calibrated_probability" not in trades  # the caller's frame is untouched
    json.dumps(m.to_dict(), allow_nan=False)


def test_production_calibrator_scores_only_later_trades(trades):
    end = trades["entry_time"].iloc[999]
    cal = make_calibrator("platt").fit(trades["confidence"][:1000], trades["win"][:1000])
    out, m = calibrate_key(trades, method="production", calibrator=cal, train_end=end)
    p = out["calibrated_probability"].to_numpy()
    assert np.isnan(p[:1000]).all() and np.isfinite(p[1000:]).all()
    np.testing.assert_allclose(p[1000:], cal.predict(trades["confidence"][1000:]))
    assert m.n_scored == 2000 and m.label.startswith("production platt, trained to 2020-02-11")
    with pytest.raises(InsufficientDataError, match="after the calibrator"):
        calibrate_key(trades, method="production", calibrator=cal,
                      train_end=trades["entry_time"].iloc[-1])  # fmt: skip
    with pytest.raises(ConfigError, match="train_end"):
        calibrate_key(trades, method="production", calibrator=cal)
    with pytest.raises(ConfigError, match="method must be"):
        calibrate_key(trades, method="isotonik")
