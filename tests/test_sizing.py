"""Bet sizing: the size rules by hand, and the walk-forward comparison without lookahead."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from core.analytics.sizing import (
    kelly_size,
    ldp_size,
    payoff_ratio,
    step_size,
    walk_forward_sizing,
)
from core.errors import ConfigError, InsufficientDataError, ValidationError
from core.metrics import performance_metrics


def make_trades(n: int = 900, seed: int = 0) -> pd.DataFrame:
    """Seeded trades whose confidence predicts the win, one per business day."""
    rng = np.random.default_rng(seed)
    entry = pd.bdate_range("2015-01-01", periods=n, tz="UTC")
    conf = rng.uniform(0.3, 0.8, n)
    win = rng.uniform(size=n) < 0.15 + 0.8 * conf
    ret = np.where(win, rng.uniform(0.2, 3.0, n), -rng.uniform(0.2, 3.0, n))
    return pd.DataFrame(
        {
            "entry_time": entry,
            "exit_time": entry + pd.Timedelta(days=5),
            "symbol": "X",
            "side": 1,
            "confidence": conf,
            "return_pct": ret,
            "win": ret > 0,
            "holding_days": 5.0,
        },
        index=[f"t{i}" for i in range(n)],
    )


@pytest.mark.parametrize(
    ("p", "b", "fraction", "expected"),
    [
        (0.6, 1.0, 1.0, 0.2),
        (0.6, 1.0, 0.5, 0.1),
        (0.4, 1.0, 0.5, 0.0),  # negative edge: no bet
        (0.5, 2.0, 1.0, 0.25),  # 0.5 - 0.5 / 2
        (0.7, np.inf, 1.0, 0.7),  # nothing ever lost: f* = p
        (0.9, 0.0, 1.0, 0.0),  # nothing ever won
        (0.99, 9.0, 1.0, 0.5),  # capped below
    ],
)
def test_kelly_by_hand(p, b, fraction, expected):
    cap = 0.5 if expected == 0.5 else 1.0
    assert float(kelly_size(p, b, fraction=fraction, cap=cap)) == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.001, 0.999))
def test_ldp_matches_formula(p):
    z = (p - 0.5) / np.sqrt(p * (1 - p))
    assert float(ldp_size(p)) == pytest.approx(max(0.0, 2 * stats.norm.cdf(z) - 1), abs=1e-12)


def test_ldp_edges_and_monotone():
    assert ldp_size([0.0, 0.5, 1.0]).tolist() == [0.0, 0.0, 1.0]
    grid = np.linspace(0, 1, 101)
    assert (np.diff(ldp_size(grid)) >= 0).all()
    assert float(ldp_size(0.6)) == pytest.approx(2 * stats.norm.cdf(0.1 / np.sqrt(0.24)) - 1)


def test_step_map():
    steps = [(0.55, 0.5), (0.6, 1.0)]
    assert step_size([0.0, 0.549, 0.55, 0.59, 0.6, 1.0], steps).tolist() == [
        0,
        0,
        0.5,
        0.5,
        1.0,
        1.0,
    ]
    with pytest.raises(ConfigError, match="increasing"):
        step_size(0.5, [(0.6, 1.0), (0.55, 0.5)])
    with pytest.raises(ConfigError, match="pairs"):
        step_size(0.5, [0.6, 1.0])


def test_payoff_ratio_from_performance_metrics():
    r = np.array([2.0, 1.0, -1.0, -0.5, 3.0])
    m = performance_metrics(r)
    assert (
        payoff_ratio(r)
        == pytest.approx(m.avg_win_pct / -m.avg_loss_pct)
        == pytest.approx(2.0 / 0.75)
    )
    assert payoff_ratio([1.0, 2.0]) == np.inf
    assert payoff_ratio([-1.0]) == 0.0


def test_bad_probability():
    with pytest.raises(ValidationError, match="position 1"):
        kelly_size([0.5, 1.5], 1.0)


def test_walk_forward_table_and_sizes():
    trades = make_trades()
    res = walk_forward_sizing(trades, n_boot=200, steps=[(0.55, 0.5), (0.65, 1.0)], min_train=60)
    assert list(res.table.index) == ["fixed", "threshold", "kelly", "ldp", "step"]
    assert (res.table["sample"] == "out_of_sample").all()
    s = res.sizes
    # The out-of-sample trades are the test windows 1..6: everything after block 0.
    assert (res.windows["status"] == "ok").all()
    assert len(s) == res.windows["n_test"].sum() == len(trades) - round(len(trades) / 7)
    assert s.index[0] == trades.index[len(trades) - len(s)]
    # Each rule's point values are those of performance_metrics on its P&L.
    for method in res.methods:
        pnl = s[f"size_{method}"].to_numpy() * s["return_pct"].to_numpy()
        eq = np.concatenate([[1.0], np.cumprod(1 + pnl / 100)])
        m = performance_metrics(pnl, eq)
        row = res.table.loc[method]
        assert row["sharpe"] == pytest.approx(m.sharpe_per_trade)
        assert row["total_return"] == pytest.approx(m.total_return)
        assert row["max_drawdown"] == pytest.approx(m.max_drawdown)
        assert row["turnover"] == pytest.approx(np.abs(s[f"size_{method}"]).sum())
        assert row["sharpe_low"] <= row["sharpe"] <= row["sharpe_high"]
    # Sizes follow the rules from the window's probability and payoff ratio.
    np.testing.assert_allclose(s["size_kelly"], kelly_size(s["probability"], s["payoff_ratio"]))
    np.testing.assert_allclose(s["size_ldp"], ldp_size(s["probability"]))
    cut = res.windows.set_index("window")["threshold"]
    np.testing.assert_array_equal(
        s["size_threshold"], (s["score"] >= s["window"].map(cut)).astype(float)
    )
    json.dumps(res.to_dict(), allow_nan=False)
    assert res.equity().shape == (len(s), 5)


def test_no_lookahead():
    trades = make_trades(seed=1)
    base = walk_forward_sizing(trades, n_boot=20, min_train=60)
    k = 3
    later = base.sizes.index[base.sizes["window"] > k]
    altered = trades.copy()
    rng = np.random.default_rng(9)
    altered.loc[later, "return_pct"] = rng.normal(0, 5, len(later))
    altered.loc[later, "win"] = altered.loc[later, "return_pct"] > 0
    altered.loc[later, "confidence"] = rng.uniform(0, 1, len(later))
    again = walk_forward_sizing(altered, n_boot=20, min_train=60)
    early = base.sizes["window"] <= k
    cols = ["probability", "payoff_ratio", "size_kelly", "size_ldp", "size_threshold"]
    pd.testing.assert_frame_equal(base.sizes.loc[early, cols], again.sizes.loc[early, cols])
    pd.testing.assert_frame_equal(
        base.windows.iloc[:k].drop(columns=["test_end"]),
        again.windows.iloc[:k].drop(columns=["test_end"]),
    )


def test_purge_drops_trades_open_at_the_window_start():
    trades = make_trades(n=700)
    trades["exit_time"] = trades["entry_time"] + pd.Timedelta(days=30)
    res = walk_forward_sizing(trades, n_boot=10, min_train=50)
    assert (res.windows["n_purged"] > 10).all()


def test_seed_reproduces_and_changes():
    trades = make_trades(seed=2)
    a = walk_forward_sizing(trades, n_boot=100, seed=4, min_train=60).table
    b = walk_forward_sizing(trades, n_boot=100, seed=4, min_train=60).table
    c = walk_forward_sizing(trades, n_boot=100, seed=5, min_train=60).table
    pd.testing.assert_frame_equal(a, b)
    assert not a["sharpe_low"].equals(c["sharpe_low"])


def test_cost_reduces_pnl_per_unit_of_turnover():
    trades = make_trades(seed=3)
    free = walk_forward_sizing(trades, n_boot=10, min_train=60)
    costly = walk_forward_sizing(trades, n_boot=10, min_train=60, cost_bps=10.0)
    np.testing.assert_allclose(costly.sizes["return_pct"], free.sizes["return_pct"] - 0.1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_windows": 0}, ConfigError, "n_windows"),
        ({"kelly_fraction": 0.0}, ConfigError, "fraction"),
        ({"cap": -1.0}, ConfigError, "cap"),
        ({"cost_bps": -1.0}, ConfigError, "cost_bps"),
        ({"min_train": 10_000}, InsufficientDataError, "min_train"),
    ],
)
def test_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        walk_forward_sizing(make_trades(n=300), n_boot=5, **kwargs)
