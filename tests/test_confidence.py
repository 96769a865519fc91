"""Confidence statistics: summary, correlations and bin tables against references."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from core.analytics.calibration import bin_edges
from core.analytics.confidence import (
    BIN_TABLE_COLUMNS,
    BinTable,
    confidence_correlations,
    confidence_summary,
    expected_return_curve,
    fixed_bin_table,
    quantile_table,
)
from core.analytics.stats import bootstrap_ci, fisher_z_interval, wilson_interval, z_value
from core.errors import InsufficientDataError, TradesFrameError
from core.trades import empty_trades_frame


def make_trades(
    confidence: np.ndarray,
    returns: np.ndarray,
    *,
    start: str = "2021-01-04",
) -> pd.DataFrame:
    """A contract-shaped trades frame (one trade an hour)."""
    n = len(confidence)
    frame = empty_trades_frame()
    entry = pd.date_range(start, periods=n, freq="h", tz="UTC", unit="ns")
    data = {
        "signal_id": [f"s{i:06d}" for i in range(n)],
        "run_id": ["run"] * n,
        "entry_time": entry,
        "exit_time": entry + pd.Timedelta(days=2),
        "symbol": ["AAA"] * n,
        "side": np.ones(n, dtype=np.int8),
        "confidence": np.asarray(confidence, dtype=np.float64),
        "calibrated_probability": np.full(n, np.nan),
        "num_agreeing_models": np.full(n, 3.0),
        "market_volatility": np.full(n, 0.2),
        "signal_strength": np.full(n, 1.0),
        "holding_days": np.full(n, 2.0),
        "applied_threshold": np.full(n, np.nan),
        "return_pct": np.asarray(returns, dtype=np.float64),
    }
    data["win"] = data["return_pct"] > 0
    out = pd.DataFrame(data)
    return out.astype(frame.dtypes.to_dict())


def informative_trades(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c = rng.random(n)
    win = rng.random(n) < 0.3 + 0.4 * c
    mag = rng.exponential(1.0, n) + 0.01
    return make_trades(c, np.where(win, mag, -mag))


# --------------------------------------------------------------------------- summary


def test_confidence_summary_matches_numpy():
    c = np.array([0.0, 0.0, 0.2, 0.4, 0.6, 1.0, np.nan])
    s = confidence_summary(make_trades(c, np.ones(7)))
    x = c[:-1]
    assert s.count == 6
    assert s.mean == pytest.approx(x.mean())
    assert s.std == pytest.approx(x.std(ddof=1))
    assert (s.min, s.max) == (0.0, 1.0)
    assert s.q50 == pytest.approx(np.quantile(x, 0.5))
    assert s.q05 == pytest.approx(np.quantile(x, 0.05))
    assert s.q95 == pytest.approx(np.quantile(x, 0.95))
    assert s.share_zero == pytest.approx(2 / 6) and s.share_one == pytest.approx(1 / 6)
    assert json.loads(json.dumps(s.to_dict()))["count"] == 6


def test_summary_of_one_trade_has_nan_std():
    s = confidence_summary(make_trades([0.3], [1.0]))
    assert s.count == 1 and np.isnan(s.std)
    assert s.to_dict()["std"] is None


# --------------------------------------------------------------------------- correlations


def test_correlations_match_scipy():
    trades = informative_trades(3000, seed=1)
    res = confidence_correlations(trades)
    c = trades["confidence"].to_numpy()
    r = trades["return_pct"].to_numpy()
    w = trades["win"].to_numpy().astype(float)
    n = len(c)
    pear = sps.pearsonr(c, r)
    row = res.get("return_pct", "pearson")
    assert row.estimate == pytest.approx(pear.statistic, abs=1e-12)
    assert row.p_value == pytest.approx(pear.pvalue, rel=1e-9)
    assert (row.ci_low, row.ci_high) == pytest.approx(fisher_z_interval(pear.statistic, n))
    pb = sps.pointbiserialr(w, c)
    row = res.get("win", "point_biserial")
    assert row.estimate == pytest.approx(pb.statistic, abs=1e-12)
    assert row.estimate == pytest.approx(sps.pearsonr(c, w).statistic, abs=1e-12)
    sp = sps.spearmanr(c, r)
    row = res.get("return_pct", "spearman")
    assert row.estimate == pytest.approx(sp.statistic, abs=1e-12)
    assert row.p_value == pytest.approx(sp.pvalue, rel=1e-9)
    half = z_value(0.95) * np.sqrt(1.06 / (n - 3))
    z = np.arctanh(sp.statistic)
    assert (row.ci_low, row.ci_high) == pytest.approx((np.tanh(z - half), np.tanh(z + half)))
    assert row.ci_method == "fisher_z_fieller"
    for row in res.rows:
        assert row.ci_low < row.estimate < row.ci_high and row.n == n
    frame = res.to_frame()
    assert list(frame["method"]) == ["pearson", "spearman", "point_biserial", "spearman"]
    json.dumps(res.to_dict())
    with pytest.raises(KeyError, match="available"):
        res.get("win", "kendall")


def test_correlations_constant_score_are_nan_with_note():
    res = confidence_correlations(make_trades(np.full(10, 0.5), np.arange(10) - 4.5))
    for row in res.rows:
        assert np.isnan(row.estimate) and np.isnan(row.ci_low)
        assert "constant" in row.note


def test_correlations_need_four_trades():
    with pytest.raises(InsufficientDataError, match="at least 4"):
        confidence_correlations(make_trades([0.1, 0.2, 0.3], [1.0, -1.0, 1.0]))


# --------------------------------------------------------------------------- bin tables


def reference_table(trades: pd.DataFrame, edges: np.ndarray) -> pd.DataFrame:
    """Per-bin figures by pandas groupby (the slow, obvious way)."""
    c = trades["confidence"]
    ids = np.searchsorted(edges[1:-1], c.to_numpy(), side="left")
    g = trades.assign(bin=ids).groupby("bin")
    r = g["return_pct"]
    out = pd.DataFrame(
        {
            "count": g.size(),
            "conf_min": g["confidence"].min(),
            "conf_max": g["confidence"].max(),
            "conf_mean": g["confidence"].mean(),
            "win_rate": g["win"].mean(),
            "mean_return": r.mean(),
            "median_return": r.median(),
            "sharpe": r.mean() / r.std(ddof=1),
            "profit_factor": r.apply(lambda x: x[x > 0].sum() / -x[x < 0].sum()),
        }
    )
    return out


@pytest.mark.parametrize("table_fn", [quantile_table, fixed_bin_table])
@pytest.mark.parametrize("n_bins", [4, 10])
def test_bin_table_matches_groupby(table_fn, n_bins):
    trades = informative_trades(2000, seed=n_bins)
    bt = table_fn(trades, n_bins=n_bins, bootstrap=False)
    assert isinstance(bt, BinTable) and list(bt.table.columns) == list(BIN_TABLE_COLUMNS)
    strategy = "quantile" if table_fn is quantile_table else "uniform"
    edges = bin_edges(trades["confidence"].to_numpy(), n_bins=n_bins, strategy=strategy)
    np.testing.assert_allclose(bt.edges, edges)
    ref = reference_table(trades, edges)
    got = bt.table.set_index("bin").loc[ref.index]
    for col in ref.columns:
        np.testing.assert_allclose(got[col].to_numpy(dtype=float), ref[col], rtol=1e-10)
    k = (got["win_rate"] * got["count"]).round().to_numpy()
    low, high = wilson_interval(k, got["count"].to_numpy())
    np.testing.assert_allclose(got["win_low"], low)
    np.testing.assert_allclose(got["win_high"], high)
    assert bt.table["count"].sum() == 2000
    assert bt.table["share"].sum() == pytest.approx(1.0)


def test_quantile_table_deciles_have_equal_counts():
    bt = quantile_table(informative_trades(10_000, seed=3), bootstrap=False)
    assert bt.n_bins == 10 and bt.table["count"].tolist() == [1000] * 10
    assert (bt.table["conf_max"].to_numpy()[:-1] <= bt.table["conf_min"].to_numpy()[1:]).all()


def test_fixed_bins_put_edge_values_in_lower_bin():
    bt = fixed_bin_table(
        make_trades([0.0, 0.1, 0.15, 0.2, 1.0], [1, -1, 1, -1, 1]), bootstrap=False
    )
    assert bt.table["count"].tolist() == [2, 2, 0, 0, 0, 0, 0, 0, 0, 1]


def test_ties_share_a_bin_and_empty_bins_are_nan():
    c = np.r_[np.full(60, 0.5), np.linspace(0.6, 0.9, 40)]
    bt = quantile_table(make_trades(c, np.where(np.arange(100) % 3, 1.0, -1.0)), bootstrap=False)
    t = bt.table
    assert t["count"].sum() == 100
    holding = t[(t["conf_min"] <= 0.5) & (t["conf_max"] >= 0.5)]
    assert len(holding) == 1 and holding["count"].iloc[0] >= 60
    empty = t[t["count"] == 0]
    assert len(empty) > 0
    assert empty[["win_rate", "mean_return", "sharpe", "profit_factor"]].isna().all().all()
    again = quantile_table(make_trades(c, np.where(np.arange(100) % 3, 1.0, -1.0)), bootstrap=False)
    pd.testing.assert_frame_equal(t, again.table)


def test_profit_factor_inf_is_flagged_and_json_safe():
    c = [0.05, 0.06, 0.95, 0.96]
    bt = fixed_bin_table(make_trades(c, [1.0, 2.0, -1.0, 3.0]), bootstrap=False)
    t = bt.table
    assert t.loc[0, "profit_factor"] == np.inf and bool(t.loc[0, "no_losses"])
    assert t.loc[9, "profit_factor"] == pytest.approx(3.0) and not t.loc[9, "no_losses"]
    d = json.loads(json.dumps(bt.to_dict()))
    assert d["rows"][0]["profit_factor"] == "inf"
    assert d["rows"][1]["win_rate"] is None and d["interval"] == "analytic"


def test_flat_bin_profit_factor_is_nan():
    bt = fixed_bin_table(make_trades([0.05, 0.06], [0.0, 0.0]), bootstrap=False)
    assert np.isnan(bt.table.loc[0, "profit_factor"]) and bt.table.loc[0, "no_losses"]


def test_bootstrap_intervals_reuse_bootstrap_ci():
    trades = informative_trades(500, seed=4)
    bt = quantile_table(trades, n_bins=5, bootstrap=True, n_boot=300, seed=7)
    assert bt.interval == "bootstrap"
    edges = bt.edges
    ids = np.searchsorted(edges[1:-1], trades["confidence"].to_numpy(), side="left")
    seg = trades["return_pct"].to_numpy()[ids == 2]
    row = bt.table.loc[2]
    assert (row["mean_return_low"], row["mean_return_high"]) == pytest.approx(
        bootstrap_ci(seg, "mean", n_boot=300, seed=9)
    )
    assert (row["median_return_low"], row["median_return_high"]) == pytest.approx(
        bootstrap_ci(seg, "median", n_boot=300, seed=9)
    )
    again = quantile_table(trades, n_bins=5, bootstrap=True, n_boot=300, seed=7)
    pd.testing.assert_frame_equal(bt.table, again.table)


def test_analytic_intervals():
    trades = informative_trades(4000, seed=5)
    bt = quantile_table(trades, n_bins=4, bootstrap=False)
    edges = bt.edges
    ids = np.searchsorted(edges[1:-1], trades["confidence"].to_numpy(), side="left")
    seg = trades["return_pct"].to_numpy()[ids == 1]
    row = bt.table.loc[1]
    half = z_value(0.95) * seg.std(ddof=1) / np.sqrt(seg.size)
    assert row["mean_return_low"] == pytest.approx(seg.mean() - half)
    assert row["mean_return_high"] == pytest.approx(seg.mean() + half)
    s = np.sort(seg)
    m = seg.size
    j = int(np.floor(m / 2 - z_value(0.95) * np.sqrt(m) / 2))
    k = int(np.ceil(1 + m / 2 + z_value(0.95) * np.sqrt(m) / 2))
    assert (row["median_return_low"], row["median_return_high"]) == (s[j - 1], s[k - 1])
    assert row["median_return_low"] <= row["median_return"] <= row["median_return_high"]


def test_bootstrap_default_switches_off_for_big_samples(monkeypatch):
    import core.analytics.confidence as mod

    monkeypatch.setattr(mod, "BOOTSTRAP_MAX_ROWS", 100)
    assert quantile_table(informative_trades(99), n_boot=50).interval == "bootstrap"
    assert quantile_table(informative_trades(101)).interval == "analytic"


def test_expected_return_curve_is_the_table_columns():
    trades = informative_trades(3000, seed=6)
    curve = expected_return_curve(trades, n_bins=5, bootstrap=False)
    t = quantile_table(trades, n_bins=5, bootstrap=False).table
    np.testing.assert_allclose(curve.mean_return, t["mean_return"])
    np.testing.assert_allclose(curve.mean_return_low, t["mean_return_low"])
    np.testing.assert_allclose(curve.conf_mean, t["conf_mean"])
    assert curve.overall_mean_return == pytest.approx(trades["return_pct"].mean())
    assert curve.mean_return[-1] > curve.mean_return[0]  # informative score
    uniform = expected_return_curve(trades, n_bins=5, strategy="uniform", bootstrap=False)
    assert uniform.strategy == "uniform" and len(uniform.to_frame()) == 5
    json.dumps(curve.to_dict())


def test_calibrated_probability_key_skips_nan_rows():
    trades = informative_trades(200, seed=8)
    trades["calibrated_probability"] = np.where(np.arange(200) < 50, np.nan, 0.5)
    bt = fixed_bin_table(trades, key="calibrated_probability", bootstrap=False)
    assert bt.n == 150 and bt.table.loc[4, "count"] == 150


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("mutate", "exc", "match"),
    [
        (lambda t: t.drop(columns="confidence"), TradesFrameError, "no column 'confidence'"),
        (lambda t: t.drop(columns="return_pct"), TradesFrameError, "no column 'return_pct'"),
        (
            lambda t: t.assign(confidence=t["confidence"] * 2),
            TradesFrameError,
            r"confidence must lie in \[0, 1\]",
        ),
        (lambda t: t.assign(win=~t["win"]), TradesFrameError, "win contradicts return_pct"),
        (
            lambda t: t.assign(confidence=np.nan),
            InsufficientDataError,
            "0 trade\\(s\\) have a 'confidence' value",
        ),
    ],
)
@pytest.mark.parametrize(
    "func", [quantile_table, fixed_bin_table, confidence_correlations, expected_return_curve]
)
def test_invalid_frames_raise(func, mutate, exc, match):
    with pytest.raises(exc, match=match):
        func(mutate(informative_trades(20)))


@pytest.mark.parametrize("n_bins", [0, -1, 2.0, True])
def test_invalid_n_bins(n_bins):
    with pytest.raises(TradesFrameError, match="n_bins must be a positive integer"):
        quantile_table(informative_trades(20), n_bins=n_bins)


def test_invalid_strategy_and_level():
    with pytest.raises(TradesFrameError, match="strategy must be 'quantile' or 'uniform'"):
        expected_return_curve(informative_trades(20), strategy="width")
    with pytest.raises(ValueError, match="level must lie in"):
        quantile_table(informative_trades(20), level=95)


def test_not_a_frame():
    with pytest.raises(TradesFrameError, match="must be a pandas DataFrame"):
        confidence_summary({"confidence": [0.1]})


# --------------------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None)
@given(
    scores=st.lists(
        st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5, 0.7, 1.0]) | st.floats(0, 1),
        min_size=1,
        max_size=200,
    ),
    n_bins=st.integers(1, 15),
    seed=st.integers(0, 10),
)
def test_bin_counts_sum_to_n_property(scores, n_bins, seed):
    rng = np.random.default_rng(seed)
    returns = rng.normal(size=len(scores))
    trades = make_trades(np.array(scores), returns)
    for fn in (quantile_table, fixed_bin_table):
        t = fn(trades, n_bins=n_bins, bootstrap=False).table
        assert len(t) == n_bins and t["count"].sum() == len(scores)
        ok = t["count"] > 0
        assert (t.loc[ok, "conf_min"] <= t.loc[ok, "conf_mean"] + 1e-12).all()
        assert (t.loc[ok, "conf_mean"] <= t.loc[ok, "conf_max"] + 1e-12).all()
        assert (t.loc[ok, "win_low"] <= t.loc[ok, "win_rate"] + 1e-12).all()
        assert (t.loc[ok, "mean_return_low"] <= t.loc[ok, "mean_return"] + 1e-9).all()
        assert (t.loc[ok, "median_return_low"] <= t.loc[ok, "median_return_high"]).all()
