"""Tests of core.analytics.sweep: brute force against naive masks, edge cases, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.analytics import sweep as sweep_module
from core.analytics.selection import select_threshold
from core.analytics.stats import wilson_interval
from core.analytics.sweep import (
    BAND_COLUMNS,
    SWEEP_COLUMNS,
    SweepResult,
    apply_threshold,
    default_thresholds,
    threshold_sweep,
)
from core.errors import ConfigError, InsufficientDataError, TradesFrameError


def make_trades(scores, returns) -> pd.DataFrame:
    """A minimal trades frame (the sweep needs the score, return_pct and win)."""
    returns = np.asarray(returns, dtype=np.float64)
    n = returns.size
    return pd.DataFrame(
        {
            "entry_time": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
            "confidence": np.asarray(scores, dtype=np.float64),
            "return_pct": returns,
            "win": returns > 0,
        }
    )


@pytest.fixture
def trades() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 2_000
    conf = rng.random(n)
    ret = np.round(rng.normal(0.1 + 0.5 * (conf - 0.5), 2.0, n), 2)
    return make_trades(conf, ret)


def naive_row(returns: np.ndarray, kept: np.ndarray, total: int) -> dict[str, float]:
    """Metrics of the kept trades computed the obvious way (the reference)."""
    r = returns[kept]
    k = r.size
    wins = int((r > 0).sum())
    gains, losses = r[r > 0].sum(), -r[r < 0].sum()
    if losses > 0:
        pf = gains / losses
    else:
        pf = math.inf if gains > 0 else math.nan
    std = float(np.std(r, ddof=1)) if k >= 2 else math.nan
    if k >= 2 and np.ptp(r) == 0:
        std = 0.0
    mean = float(np.mean(r)) if k else math.nan
    low, high = wilson_interval(wins, k)
    return {
        "trades": k,
        "coverage": k / total,
        "wins": wins,
        "win_rate": wins / k if k else math.nan,
        "win_low": float(low) if k else math.nan,
        "win_high": float(high) if k else math.nan,
        "mean_return": mean,
        "std_return": std,
        "sharpe": mean / std if k >= 2 and std > 0 else math.nan,
        "profit_factor": pf,
        "expectancy": mean,
        "total_return": float(r.sum()),
    }


def assert_row_matches(row: pd.Series, expected: dict[str, float]) -> None:
    for column, value in expected.items():
        got = float(row[column])
        if math.isnan(value):
            assert math.isnan(got), (column, got, value)
        elif math.isinf(value):
            assert got == value, (column, got, value)
        else:
            assert got == pytest.approx(value, rel=1e-9, abs=1e-9), (column, got, value)


# Scores on a coarse grid (many ties) and returns in whole cents (flat trades too).
score_lists = st.lists(st.integers(0, 20).map(lambda i: i / 20), min_size=1, max_size=60)


@st.composite
def trades_and_thresholds(draw, mode: str):
    scores = draw(score_lists)
    n = len(scores)
    returns = draw(st.lists(st.integers(-500, 500).map(lambda c: c / 100), min_size=n, max_size=n))
    if mode == "absolute":
        thresholds = draw(
            st.lists(
                st.one_of(
                    st.integers(-2, 22).map(lambda i: i / 20),
                    st.floats(-0.1, 1.1, allow_nan=False),
                ),
                min_size=1,
                max_size=15,
            )
        )
    else:
        thresholds = draw(
            st.lists(
                st.floats(0.0, 100.0, exclude_min=True, allow_nan=False), min_size=1, max_size=15
            )
        )
    return np.array(scores), np.array(returns), np.array(thresholds)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trades_and_thresholds("absolute"))
def test_absolute_sweep_equals_naive_mask(case):
    scores, returns, thresholds = case
    result = threshold_sweep(make_trades(scores, returns), thresholds=thresholds)
    table = result.table
    assert list(table.columns) == list(SWEEP_COLUMNS)
    assert np.array_equal(table["threshold"], np.unique(thresholds))
    for _, row in table.iterrows():
        kept = scores >= row["threshold"]
        assert_row_matches(row, naive_row(returns, kept, scores.size))
        expected_cutoff = scores[kept].min() if kept.any() else math.nan
        assert row["score_cutoff"] == pytest.approx(expected_cutoff, nan_ok=True)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trades_and_thresholds("percentile"))
def test_percentile_sweep_equals_naive_top_k(case):
    scores, returns, percentages = case
    result = threshold_sweep(
        make_trades(scores, returns), thresholds=percentages, mode="percentile"
    )
    n = scores.size
    # Reference ranking: higher score first, earlier trade first among ties.
    ranking = sorted(range(n), key=lambda i: (-scores[i], i))
    for _, row in result.table.iterrows():
        k = math.ceil(round(row["threshold"] * n / 100.0, 9))
        kept = np.zeros(n, dtype=bool)
        kept[ranking[:k]] = True
        assert_row_matches(row, naive_row(returns, kept, n))


def test_apply_threshold_keeps_the_rows_the_sweep_counts(trades):
    for mode, grid in (("absolute", [0.0, 0.33, 0.9, 1.0]), ("percentile", [1.0, 12.5, 50, 100])):
        table = threshold_sweep(trades, thresholds=grid, mode=mode).table
        for threshold, count, total in zip(
            table["threshold"], table["trades"], table["total_return"], strict=True
        ):
            kept = apply_threshold(trades, threshold, mode=mode)
            assert len(kept) == count
            assert kept["return_pct"].sum() == pytest.approx(total, abs=1e-9)
            assert kept.index.is_monotonic_increasing


def test_default_grids():
    absolute = default_thresholds("absolute")
    assert absolute.size == 101 and absolute[7] == 0.07 and absolute[-1] == 1.0
    percentile = default_thresholds("percentile")
    assert percentile[0] == 1.0 and percentile[-1] == 100.0 and percentile.size == 100


def test_cost_bps_shifts_every_return_and_recounts_wins():
    scores = [0.2, 0.5, 0.8, 0.9]
    returns = np.array([0.05, 0.5, -0.2, 1.0])
    with_cost = threshold_sweep(make_trades(scores, returns), thresholds=[0.0], cost_bps=10.0)
    # 10 bp = 0.1 percentage points off every trade: the 0.05 % winner becomes a loser.
    shifted = returns - 0.1
    assert_row_matches(with_cost.table.iloc[0], naive_row(shifted, np.ones(4, bool), 4))
    assert with_cost.table.iloc[0]["wins"] == 2
    assert with_cost.cost_bps == 10.0


def test_single_trade_has_nan_dispersion_metrics():
    table = threshold_sweep(make_trades([0.6], [1.5]), thresholds=[0.5, 0.7]).table
    first, second = table.iloc[0], table.iloc[1]
    assert first["trades"] == 1 and first["win_rate"] == 1.0 and first["mean_return"] == 1.5
    assert math.isnan(first["std_return"]) and math.isnan(first["sharpe"])
    assert first["profit_factor"] == math.inf
    # Nothing kept: no rate, no mean, zero total.
    assert second["trades"] == 0 and second["total_return"] == 0.0
    assert math.isnan(second["win_rate"]) and math.isnan(second["mean_return"])
    assert math.isnan(second["profit_factor"]) and math.isnan(second["score_cutoff"])


def test_all_wins_gives_inf_profit_factor_and_json_safe_dict():
    result = threshold_sweep(
        make_trades([0.1, 0.4, 0.7], [0.5, 1.0, 2.0]), thresholds=[0.0, 0.5], bands=True
    )
    assert (result.table["profit_factor"] == math.inf).all()
    payload = result.to_dict()
    text = json.dumps(payload, allow_nan=False)  # raises on NaN or inf
    assert '"inf"' in text
    assert payload["rows"][0]["profit_factor"] == "inf"
    assert payload["columns"] == list(SWEEP_COLUMNS) + list(BAND_COLUMNS)


def test_equal_returns_have_zero_std_and_undefined_sharpe():
    table = threshold_sweep(make_trades([0.5, 0.6, 0.7], [0.07, 0.07, 0.07]), thresholds=[0]).table
    assert table.iloc[0]["std_return"] == 0.0
    assert math.isnan(table.iloc[0]["sharpe"])


def test_nan_scores_are_dropped_and_counted():
    frame = make_trades([0.2, np.nan, 0.8, np.nan], [1.0, np.nan, -1.0, 2.0])
    result = threshold_sweep(frame, thresholds=[0.0, 0.5])
    assert result.n_total == 2 and result.n_dropped == 2
    assert result.table["trades"].tolist() == [2, 1]
    assert result.table["coverage"].tolist() == [1.0, 0.5]


def test_calibrated_probability_key_is_swept():
    frame = make_trades([0.1, 0.9], [1.0, -1.0]).assign(calibrated_probability=[0.9, 0.1])
    result = threshold_sweep(frame, key="calibrated_probability", thresholds=[0.5])
    assert result.key == "calibrated_probability"
    assert result.table.iloc[0]["total_return"] == 1.0


def _bad_return(value: float) -> pd.DataFrame:
    frame = make_trades([0.2, 0.4], [1.0, 1.0])
    frame.loc[1, "return_pct"] = value
    return frame


@pytest.mark.parametrize(
    ("frame", "kwargs", "error", "match"),
    [
        (make_trades([], []), {}, InsufficientDataError, "0 trade"),
        (_bad_return(np.nan), {}, TradesFrameError, "return_pct must be finite"),
        (_bad_return(np.inf), {}, TradesFrameError, "return_pct must be finite"),
        (make_trades([0.2], [1.0]).drop(columns="win"), {}, TradesFrameError, "no column 'win'"),
        (make_trades([1.2], [1.0]), {}, TradesFrameError, r"must lie in \[0, 1\]"),
        (
            make_trades([0.2], [1.0]).assign(win=False),
            {},
            TradesFrameError,
            "win contradicts",
        ),
        (make_trades([0.2], [1.0]), {"key": "nope"}, TradesFrameError, "no column 'nope'"),
        (make_trades([0.2], [1.0]), {"mode": "relative"}, ConfigError, "mode must be"),
        (make_trades([0.2], [1.0]), {"thresholds": []}, ConfigError, "thresholds is empty"),
        (make_trades([0.2], [1.0]), {"thresholds": [np.nan]}, ConfigError, "finite"),
        (
            make_trades([0.2], [1.0]),
            {"mode": "percentile", "thresholds": [0.0]},
            ConfigError,
            r"\(0, 100\]",
        ),
        (
            make_trades([0.2], [1.0]),
            {"mode": "percentile", "thresholds": [101]},
            ConfigError,
            r"\(0, 100\]",
        ),
        (make_trades([0.2], [1.0]), {"n_boot": 0}, ConfigError, "n_boot"),
        (make_trades([0.2], [1.0]), {"level": 1.5}, ConfigError, "level"),
        (make_trades([0.2], [1.0]), {"cost_bps": -1.0}, ConfigError, "cost_bps"),
        ([1, 2, 3], {}, TradesFrameError, "must be a pandas DataFrame"),
    ],
)
def test_errors(frame, kwargs, error, match):
    with pytest.raises(error, match=match):
        threshold_sweep(frame, **kwargs)


def test_bands_bracket_the_point_estimates_and_are_seeded(trades):
    a = threshold_sweep(trades, bands=True, n_boot=200, seed=3)
    b = threshold_sweep(trades, bands=True, n_boot=200, seed=3)
    c = threshold_sweep(trades, bands=True, n_boot=200, seed=4)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert not a.table["sharpe_low"].equals(c.table["sharpe_low"])
    t = a.table[a.table["trades"] >= 50]
    for name in ("mean_return", "sharpe", "profit_factor"):
        assert (t[f"{name}_low"] <= t[f"{name}_high"]).all()
        inside = (t[f"{name}_low"] <= t[name]) & (t[name] <= t[f"{name}_high"])
        assert inside.mean() > 0.95
    # Normal theory for the mean of all 2,000 trades: half-width 1.96 * s / sqrt(n).
    row = a.table.iloc[0]
    half = 1.96 * row["std_return"] / math.sqrt(row["trades"])
    width = (row["mean_return_high"] - row["mean_return_low"]) / 2
    assert width == pytest.approx(half, rel=0.2)
    # Too few trades: no band.
    few = a.table[a.table["trades"] < 2]
    assert few[list(BAND_COLUMNS)].isna().all().all()


def test_bootstrap_sparse_and_dense_paths_agree(trades, monkeypatch):
    grid = np.linspace(0, 1, 400)
    dense = threshold_sweep(trades, thresholds=grid, bands=True, n_boot=50, seed=1).table
    monkeypatch.setattr(sweep_module, "_MAX_DENSE_PIECES", 0)
    monkeypatch.setattr(sweep_module, "_CHUNK", 700)  # several chunks, segments across them
    sparse_ = threshold_sweep(trades, thresholds=grid, bands=True, n_boot=50, seed=1).table
    monkeypatch.setattr(sweep_module, "_MAX_DENSE_PIECES", 10_000)
    dense_small = threshold_sweep(trades, thresholds=grid, bands=True, n_boot=50, seed=1).table
    pd.testing.assert_frame_equal(sparse_, dense_small, rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(
        dense[list(SWEEP_COLUMNS)], sparse_[list(SWEEP_COLUMNS)], check_exact=False
    )


def test_poisson_table_has_poisson_moments():
    table = sweep_module._poisson_table()
    assert table.mean() == pytest.approx(1.0, abs=1e-4)
    assert table.var() == pytest.approx(1.0, abs=1e-3)
    assert table.max() <= 8


def test_result_is_frozen_and_selection_reads_it(trades):
    result = threshold_sweep(trades)
    assert isinstance(result, SweepResult) and result.n_trials == 101
    with pytest.raises(AttributeError):
        result.key = "other"  # type: ignore[misc]
    choice = select_threshold(result, objective="sharpe", min_trades=100)
    assert choice.trades >= 100
    eligible = result.table[result.table["trades"] >= 100]
    assert choice.sharpe == pytest.approx(eligible["sharpe"].max())


def test_large_sweep_counts_are_nested():
    # Speed is measured in bench/bench_analytics.py; here: a big sweep keeps nested sets.
    rng = np.random.default_rng(0)
    n = 200_000
    ret = rng.normal(0, 1, n)
    frame = pd.DataFrame({"confidence": rng.random(n), "return_pct": ret, "win": ret > 0})
    table = threshold_sweep(frame, thresholds=np.linspace(0, 1, 1000)).table
    assert table["trades"].iloc[0] == n
    assert (np.diff(table["trades"].to_numpy()) <= 0).all()
