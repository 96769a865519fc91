"""Signal decay: forward returns by hand and a planted decay the curve recovers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.analytics.decay import forward_returns, signal_decay
from core.data.market import MarketData
from core.errors import ConfigError, DataSourceError, TradesFrameError


def planted(seed: int = 0, *, k: int = 3, n_signals: int = 3000):
    """Prices whose drift for ``k`` days after a signal follows its confidence, none after."""
    rng = np.random.default_rng(seed)
    symbols = ["A", "B", "C", "D", "E"]
    n_days = 2000
    dates = pd.bdate_range("2012-01-02", periods=n_days, tz="UTC")
    log_ret = rng.normal(0.0, 0.01, size=(n_days, len(symbols)))
    sym = rng.integers(0, len(symbols), n_signals)
    day = rng.integers(0, n_days - 30, n_signals)
    # One signal per (day, symbol): drop collisions and overlapping drift windows.
    frame = pd.DataFrame({"sym": sym, "day": day}).drop_duplicates()
    frame = frame.sort_values(["sym", "day"])
    frame = frame[frame.groupby("sym")["day"].diff().fillna(99) > k]
    conf = rng.uniform(0.3, 0.9, len(frame))
    side = rng.choice([-1, 1], len(frame))
    drift = side * (conf - 0.6) * 0.02
    for j in range(1, k + 1):  # k days: vectorised over signals
        log_ret[frame["day"].to_numpy() + j, frame["sym"].to_numpy()] += drift
    close = pd.DataFrame(100 * np.exp(np.cumsum(log_ret, axis=0)), index=dates, columns=symbols)
    trades = pd.DataFrame(
        {
            "entry_time": dates[frame["day"].to_numpy()],
            "symbol": np.array(symbols)[frame["sym"].to_numpy()],
            "side": side.astype(np.int8),
            "confidence": conf,
            "return_pct": 0.0,
            "win": False,
        }
    )
    return trades, close


def test_forward_returns_by_hand():
    dates = pd.bdate_range("2020-01-01", periods=6, tz="UTC")
    close = pd.DataFrame({"X": [100, 101, 103, 102, 110, 120.0]}, index=dates)
    trades = pd.DataFrame(
        {"entry_time": [dates[1], dates[2]], "symbol": ["X", "X"], "side": [1, -1]}
    )
    fwd = forward_returns(trades, close, horizons=(1, 3))
    assert fwd.iloc[0].tolist() == pytest.approx([(103 / 101 - 1) * 100, (110 / 101 - 1) * 100])
    assert fwd.iloc[1].tolist() == pytest.approx([-(102 / 103 - 1) * 100, -(120 / 103 - 1) * 100])
    inc = forward_returns(trades, close, horizons=(1, 3), kind="incremental")
    assert inc.iloc[0, 1] == pytest.approx((110 / 103 - 1) * 100)
    lag = forward_returns(trades, close, horizons=(1,), entry_lag=1)
    assert lag.iloc[0, 0] == pytest.approx((102 / 103 - 1) * 100)
    past_end = forward_returns(trades, close, horizons=(4,))
    assert np.isnan(past_end.iloc[1, 0]) and np.isfinite(past_end.iloc[0, 0])


def test_planted_decay_is_recovered():
    trades, close = planted()
    cum = signal_decay(trades, close, n_boot=200).table
    inc = signal_decay(trades, close, n_boot=200, kind="incremental").table
    assert (cum.loc[[1, 2, 3], "ic_low"] > 0.2).all()
    assert cum.loc[3, "ic"] > cum.loc[20, "ic"]
    assert (inc.loc[[1, 2, 3], "ic_low"] > 0.1).all()
    # After k days there is nothing: the incremental IC's interval covers 0.
    for h in (5, 10, 20):
        assert inc.loc[h, "ic_low"] < 0 < inc.loc[h, "ic_high"], h
        assert abs(inc.loc[h, "ic"]) < 0.08
    assert cum.loc[1, "spread_low"] > 0
    assert cum.loc[1, "top_win_rate"] > cum.loc[1, "bottom_win_rate"]


def test_ic_is_spearman_and_seeded():
    trades, close = planted(seed=1)
    res = signal_decay(trades, close, horizons=(2, 5), n_boot=50, seed=3)
    fwd = forward_returns(trades, close, horizons=(2, 5))
    for h in (2, 5):
        ok = fwd[h].notna()
        rho = stats.spearmanr(trades.loc[ok, "confidence"], fwd.loc[ok, h]).statistic
        assert res.table.loc[h, "ic"] == pytest.approx(rho)
    again = signal_decay(trades, close, horizons=(2, 5), n_boot=50, seed=3)
    pd.testing.assert_frame_equal(res.table, again.table)
    json.dumps(res.to_dict(), allow_nan=False)


def test_market_data_and_price_frame_agree():
    trades, close = planted(seed=2, n_signals=300)
    md = MarketData(
        open=close,
        high=close,
        low=close,
        close=close,
        volume=close * 0 + 1.0,
        source="synthetic",
        synthetic=True,
    )
    a = signal_decay(trades, md, n_boot=20).table
    b = signal_decay(trades, close.tz_localize(None), n_boot=20).table
    pd.testing.assert_frame_equal(a, b)


def test_unknown_symbol_is_counted():
    trades, close = planted(seed=3, n_signals=200)
    trades.loc[trades.index[:5], "symbol"] = "ZZZ"
    res = signal_decay(trades, close, n_boot=10)
    assert res.n_unmatched == 5
    assert res.table.loc[1, "n"] == len(trades) - 5


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"horizons": (5, 1)}, ConfigError, "increasing"),
        ({"kind": "log"}, ConfigError, "kind"),
        ({"decile": 0.7}, ConfigError, "decile"),
        ({"prices": "prices.csv"}, DataSourceError, "DataFrame"),
    ],
)
def test_bad_options(kwargs, error, match):
    trades, close = planted(seed=4, n_signals=100)
    kwargs.setdefault("prices", close)
    with pytest.raises(error, match=match):
        signal_decay(trades, **kwargs)


def test_missing_columns():
    _, close = planted(seed=4, n_signals=50)
    with pytest.raises(TradesFrameError, match="side"):
        forward_returns(pd.DataFrame({"entry_time": [], "symbol": []}), close)
