"""analyze_run / analyze_thresholds bundle the analytics without reimplementing them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.analytics.calibration import calibration_report, reliability_curve
from core.analytics.confidence import confidence_correlations, quantile_table
from core.analytics.overfitting import deflated_sharpe_ratio
from core.analytics.report import (
    analyze_run,
    analyze_thresholds,
    calibration_totals,
    calibrator_curves,
    ensure_calibrated,
)
from core.analytics.selection import select_threshold
from core.analytics.sweep import apply_threshold, threshold_sweep
from core.errors import ConfigError, InsufficientDataError


def seeded_trades(n: int = 2_000, *, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    conf = rng.beta(2.0, 2.0, n)
    win = rng.random(n) < 0.35 + 0.3 * conf
    size = rng.lognormal(0.0, 0.6, n)
    ret = np.where(win, size, -0.9 * size)
    entry = pd.date_range("2016-01-01", periods=n, freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "entry_time": entry,
            "exit_time": entry + pd.Timedelta(days=2),
            "confidence": conf,
            "calibrated_probability": np.nan,
            "holding_days": 2.0,
            "return_pct": ret,
            "win": ret > 0,
        }
    )


@pytest.fixture(scope="module")
def trades() -> pd.DataFrame:
    return seeded_trades()


def test_analyze_run_bundles_the_analytics(trades):
    a = analyze_run(trades, n_bins=8, bootstrap=False)
    assert (a.key, a.n_trades, a.n_scored) == ("confidence", 2_000, 2_000)
    pd.testing.assert_frame_equal(
        a.deciles.table, quantile_table(trades, n_bins=8, bootstrap=False).table
    )
    expected = confidence_correlations(trades)
    assert a.correlations.get("win", "point_biserial") == expected.get("win", "point_biserial")
    curve = reliability_curve(trades["confidence"], trades["win"], n_bins=8)
    np.testing.assert_array_equal(a.reliability.count, curve.count)
    metrics = calibration_report(trades["confidence"], trades["win"], n_bins=8)
    assert a.calibration.ece == metrics.ece and a.calibration.brier == metrics.brier
    assert a.calibration.ece_low <= a.calibration.ece <= a.calibration.ece_high
    assert a.fixed_bins.strategy == "uniform" and a.deciles.strategy == "quantile"


def test_analyze_run_tables_and_json(trades):
    a = analyze_run(trades.assign(confidence=trades["confidence"].where(trades.index % 10 > 0)))
    assert a.n_scored == 1_800  # NaN scores are left out
    tables = a.tables()
    assert list(tables) == [
        "summary", "correlations", "deciles", "fixed_bins", "reliability", "calibration",
    ]  # fmt: skip
    assert all(isinstance(t, pd.DataFrame) and len(t) for t in tables.values())
    json.dumps(a.to_dict(), allow_nan=False)


def test_analyze_run_needs_four_scored_trades(trades):
    with pytest.raises(InsufficientDataError, match="at least 4"):
        analyze_run(trades.head(3))


def test_analyze_thresholds_choice_and_deflated_sharpe(trades):
    t = analyze_thresholds(trades, bands=True, n_boot=50, n_windows=4, pbo_splits=8)
    assert t.sweep.bands and "sharpe_low" in t.sweep.table
    pd.testing.assert_frame_equal(
        t.sweep.table.drop(columns=[c for c in t.sweep.table if c.endswith(("_low", "_high"))
                                    and not c.startswith("win_")]),
        threshold_sweep(trades).table,
    )  # fmt: skip
    assert t.choice == select_threshold(threshold_sweep(trades), min_trades=30)
    kept = apply_threshold(trades, t.choice.threshold)["return_pct"].to_numpy()
    dsr = deflated_sharpe_ratio(
        kept,
        n_trials=t.sweep.n_trials,
        sharpe_variance=t.choice.sharpe_variance,
        n_effective=t.choice.n_effective,
        method=t.choice.benchmark.method,
    )
    assert t.deflated == dsr and t.deflated.n_trials == 101
    # the same choice gets the same DSR from select_threshold on the trades
    assert select_threshold(trades, min_trades=30).deflated == t.deflated
    assert t.psr == pytest.approx(dsr.psr)
    assert t.deflated.dsr <= t.psr  # deflating never raises the probability
    assert t.walk_forward is not None and t.walk_forward.n_windows == 4
    assert t.pbo is not None and t.pbo.n_splits == 8 and t.pbo.n_configs == 101
    assert t.notes == ()


def test_analyze_thresholds_tables_and_comparison(trades):
    t = analyze_thresholds(trades, bands=False, n_windows=3, pbo_splits=4)
    comp = t.sample_comparison()
    assert list(comp.columns) == [
        "in_sample", "walk_forward_in_sample", "out_of_sample", "baseline_out_of_sample",
    ]  # fmt: skip
    assert comp.loc["sharpe", "in_sample"] == pytest.approx(t.choice.sharpe)
    assert (
        comp.loc["trades", "out_of_sample"] == t.walk_forward.summary.loc["out_of_sample", "trades"]
    )
    tables = t.tables()
    assert set(tables) == {
        "sweep", "selection", "sample_comparison", "walk_forward_windows",
        "walk_forward_summary", "pbo",
    }  # fmt: skip
    sel = tables["selection"].iloc[0]
    assert sel["dsr_n_trials"] == 101 and sel["threshold"] == t.choice.threshold
    json.dumps(t.to_dict(), allow_nan=False)


def test_analyze_thresholds_small_sample_notes_what_is_missing(trades):
    t = analyze_thresholds(trades.head(60), min_trades=10, n_windows=40, bands=False)
    assert t.walk_forward is None
    assert any(n.startswith("walk-forward threshold selection not possible") for n in t.notes)
    assert list(t.sample_comparison().columns) == ["in_sample"]


def test_analyze_thresholds_errors(trades):
    with pytest.raises(InsufficientDataError, match="no threshold keeps"):
        analyze_thresholds(trades.head(50), min_trades=100)
    with pytest.raises(ConfigError, match="pbo_periods"):
        analyze_thresholds(trades, pbo_periods=1)
    with pytest.raises(ConfigError, match="n_splits"):
        analyze_thresholds(trades, pbo_splits=5, bands=False)


def test_ensure_calibrated(trades):
    same, none = ensure_calibrated(trades.assign(calibrated_probability=0.5))
    assert none is None and (same["calibrated_probability"] == 0.5).all()
    filled, result = ensure_calibrated(trades, method="platt", n_windows=5)
    assert result is not None and result.method == "platt"
    assert trades["calibrated_probability"].isna().all()  # the input is not modified
    p = filled["calibrated_probability"]
    assert p.notna().sum() == result.n_evaluated and p.isna().iloc[0]
    with pytest.raises(InsufficientDataError, match="no out-of-sample probability"):
        ensure_calibrated(trades.head(150), n_windows=12)


def test_calibrator_curves_and_totals(trades):
    curves, results = calibrator_curves(trades, methods=("platt", "histogram"), n_windows=5)
    assert list(curves) == ["raw", "platt", "histogram"]
    assert curves["raw"].n == curves["platt"].n == results["platt"].n_evaluated
    totals = calibration_totals(results["platt"])
    assert list(totals.columns) == ["raw", "in_sample", "out_of_sample"]
    assert totals.index.name == "metric" and "strategy" not in totals.index
    assert totals.dtypes.eq(np.float64).all()
    with pytest.raises(InsufficientDataError, match="no calibrator could be fitted"):
        calibrator_curves(trades.head(100), n_windows=12)
