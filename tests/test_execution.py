"""Execution, portfolio and risk engines on tiny hand-built price frames.

Every expected number below is worked out by hand in the comments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data.market import MarketData
from core.engines import ExecutionEngine, PortfolioEngine, RiskEngine
from core.errors import ConfigError, ValidationError

# bar:      0      1      2      3      4      5      6      7
OPEN = [100.0, 100.0, 101.0, 102.0, 104.0, 105.0, 106.0, 107.0]
HIGH = [101.0, 102.0, 103.0, 104.0, 105.0, 106.0, 107.0, 108.0]
LOW = [99.0, 99.0, 100.0, 101.0, 103.0, 104.0, 105.0, 106.0]
CLOSE = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 106.0, 107.0]


def market(
    open_=OPEN, high=HIGH, low=LOW, close=CLOSE, *, symbols: tuple[str, ...] = ("AAA",)
) -> MarketData:
    dates = pd.date_range("2021-01-04", periods=len(open_), freq="B", tz="UTC")
    frames = {}
    for name, values in (("open", open_), ("high", high), ("low", low), ("close", close)):
        column = np.asarray(values, dtype=float)
        frames[name] = pd.DataFrame({s: column for s in symbols}, index=dates)
    frames["volume"] = pd.DataFrame({s: np.full(len(open_), 1e6) for s in symbols}, index=dates)
    return MarketData(**frames, source="csv")


def signals(bars, *, side=1, hold=3, symbol="AAA") -> pd.DataFrame:
    bars = list(bars)
    n = len(bars)
    return pd.DataFrame(
        {
            "signal_id": [f"{i:08d}" for i in range(n)],
            "symbol": [symbol] * n,
            "bar": bars,
            "side": np.full(n, side, dtype=np.int8),
            "holding_days": np.full(n, hold),
        }
    )


# ----------------------------------------------------------------------------- timing & costs


def test_long_trade_enters_next_open_and_exits_open_after_holding_days():
    data = market()
    result = ExecutionEngine(commission_bps=10, slippage_bps=5).execute(signals([0]), data)
    t = result.trades.iloc[0]
    # signal at bar 0 -> entry at the open of bar 1 (100), exit at the open of bar 1 + 3 = 4 (104)
    assert (t.entry_bar, t.exit_bar, t.release_bar) == (1, 4, 4)
    assert t.entry_fill_time == data.dates[1]
    assert t.exit_time == data.dates[4]
    assert t.signal_time == data.dates[0]
    assert t.entry_price == 100.0
    assert t.exit_price == 104.0
    assert t.exit_reason == "time"
    # gross 4 %; costs 2 * (10 + 5) bps = 0.30 %; net 3.70 %
    assert t.gross_return_pct == pytest.approx(4.0)
    assert t.cost_pct == pytest.approx(0.30)
    assert t.return_pct == pytest.approx(3.70)
    assert result.n_dropped == 0


def test_short_trade_is_signed_and_pays_the_same_costs():
    result = ExecutionEngine(commission_bps=10, slippage_bps=5).execute(
        signals([0], side=-1), market()
    )
    t = result.trades.iloc[0]
    assert t.gross_return_pct == pytest.approx(-4.0)
    assert t.return_pct == pytest.approx(-4.30)


def test_zero_costs_give_gross_returns():
    t = ExecutionEngine(commission_bps=0, slippage_bps=0).execute(signals([1], hold=2), market())
    row = t.trades.iloc[0]
    # entry open bar 2 = 101, exit open bar 4 = 104
    assert row.return_pct == pytest.approx((104 / 101 - 1) * 100)


def test_trades_beyond_the_data_are_dropped_and_counted():
    # 8 bars (0..7); with hold 3 a signal at bar 3 exits at bar 7 (kept), bar 4 would need bar 8
    result = ExecutionEngine().execute(signals([3, 4, 6, 7], hold=3), market())
    assert result.trades["signal_bar"].tolist() == [3]
    assert result.executed.tolist() == [True, False, False, False]
    assert result.dropped_by_reason["beyond_data"] == 3
    assert result.n_dropped == 3


def test_missing_entry_price_is_dropped():
    open_ = list(OPEN)
    open_[1] = np.nan
    result = ExecutionEngine().execute(signals([0, 1], hold=2), market(open_=open_))
    assert result.trades["signal_bar"].tolist() == [1]
    assert result.dropped_by_reason["missing_price"] == 1


# ----------------------------------------------------------------------------- stops


def test_stop_loss_fills_at_the_level_on_the_first_bar_it_is_touched():
    low = list(LOW)
    low[2] = 97.5  # entry 100 at bar 1; a 2 % stop sits at 98; bar 2 opens at 101 (no gap)
    result = ExecutionEngine(commission_bps=0, slippage_bps=0, stop_loss_pct=2).execute(
        signals([0]), market(low=low)
    )
    t = result.trades.iloc[0]
    assert (t.exit_reason, t.exit_bar, t.release_bar) == ("stop_loss", 2, 3)
    assert t.exit_price == pytest.approx(98.0)
    assert t.return_pct == pytest.approx(-2.0)


def test_stop_loss_gap_fills_at_the_open():
    open_, low = list(OPEN), list(LOW)
    open_[2], low[2] = 97.0, 96.0  # the open is already through the 98 stop
    t = (
        ExecutionEngine(commission_bps=0, slippage_bps=0, stop_loss_pct=2)
        .execute(signals([0]), market(open_=open_, low=low))
        .trades.iloc[0]
    )
    assert t.exit_price == 97.0
    assert t.return_pct == pytest.approx(-3.0)


def test_take_profit_fills_at_the_level():
    # entry 100; a 3 % target sits at 103; bar 2's high is 103 -> hit at bar 2
    t = (
        ExecutionEngine(commission_bps=0, slippage_bps=0, take_profit_pct=3)
        .execute(signals([0]), market())
        .trades.iloc[0]
    )
    assert (t.exit_reason, t.exit_bar) == ("take_profit", 2)
    assert t.exit_price == pytest.approx(103.0)
    assert t.return_pct == pytest.approx(3.0)


def test_both_levels_in_one_bar_assume_the_stop_first():
    low, high = list(LOW), list(HIGH)
    low[2], high[2] = 97.5, 103.5  # both 98 and 103 inside bar 2
    t = (
        ExecutionEngine(commission_bps=0, slippage_bps=0, stop_loss_pct=2, take_profit_pct=3)
        .execute(signals([0]), market(low=low, high=high))
        .trades.iloc[0]
    )
    assert (t.exit_reason, t.exit_price) == ("stop_loss", pytest.approx(98.0))


def test_gap_through_take_profit_beats_an_intraday_stop():
    open_, low, high = list(OPEN), list(LOW), list(HIGH)
    open_[2], high[2], low[2] = 104.0, 105.0, 97.0  # opens above 103, later falls below 98
    t = (
        ExecutionEngine(commission_bps=0, slippage_bps=0, stop_loss_pct=2, take_profit_pct=3)
        .execute(signals([0]), market(open_=open_, low=low, high=high))
        .trades.iloc[0]
    )
    assert (t.exit_reason, t.exit_price) == ("take_profit", 104.0)


def test_short_stop_loss_uses_the_high():
    high = list(HIGH)
    high[1] = 102.5  # short from 100 at bar 1; stop at 102 is hit on the entry bar itself
    t = (
        ExecutionEngine(commission_bps=0, slippage_bps=0, stop_loss_pct=2)
        .execute(signals([0], side=-1), market(high=high))
        .trades.iloc[0]
    )
    assert (t.exit_reason, t.exit_bar, t.release_bar) == ("stop_loss", 1, 2)
    assert t.return_pct == pytest.approx(-2.0)


def test_levels_outside_the_held_bars_are_ignored():
    low = list(LOW)
    low[4] = 90.0  # bar 4 is the exit bar (exit at its open): not held through
    t = (
        ExecutionEngine(commission_bps=0, slippage_bps=0, stop_loss_pct=2)
        .execute(signals([0]), market(low=low))
        .trades.iloc[0]
    )
    assert t.exit_reason == "time"


# ----------------------------------------------------------------------------- close-only


def closes_market(close=CLOSE, *, symbols: tuple[str, ...] = ("AAA",)) -> MarketData:
    dates = pd.date_range("2021-01-04", periods=len(close), freq="B", tz="UTC")
    column = np.asarray(close, dtype=float)
    return MarketData.from_closes(
        pd.DataFrame({s: column for s in symbols}, index=dates), source="extended-close-only"
    )


def test_close_only_trade_enters_and_exits_at_closes():
    data = closes_market()
    result = ExecutionEngine(commission_bps=10, slippage_bps=5).execute(signals([0]), data)
    t = result.trades.iloc[0]
    # signal at bar 0 -> entry at the close of bar 1 (101), exit at the close of bar 4 (104)
    assert result.close_only
    assert (t.entry_bar, t.exit_bar, t.release_bar) == (1, 4, 4)
    assert (t.entry_price, t.exit_price, t.exit_reason) == (101.0, 104.0, "time")
    assert t.entry_fill_time == data.dates[1]
    # gross 3/101 = 2.9703 %; costs 0.30 %
    assert t.gross_return_pct == pytest.approx(300 / 101)
    assert t.return_pct == pytest.approx(300 / 101 - 0.30)


def test_ohlcv_result_is_not_close_only():
    assert not ExecutionEngine().execute(signals([0]), market()).close_only


def test_close_only_stop_fills_at_the_close_that_crosses_it():
    close = list(CLOSE)
    close[3] = 97.0  # entry 101 at bar 1; a 2 % stop sits at 98.98; bar 3 closes at 97
    t = (
        ExecutionEngine(commission_bps=0, slippage_bps=0, stop_loss_pct=2)
        .execute(signals([0]), closes_market(close))
        .trades.iloc[0]
    )
    # filled at the close (97), not at the level; the slot frees at that close
    assert (t.exit_reason, t.exit_bar, t.release_bar, t.exit_price) == ("stop_loss", 3, 3, 97.0)
    assert t.return_pct == pytest.approx((97 / 101 - 1) * 100)


def test_close_only_take_profit_and_short_side():
    # long: entry 101, 3 % target 104.03: first close at or above it is bar 5 (105)
    t = (
        ExecutionEngine(commission_bps=0, slippage_bps=0, take_profit_pct=3)
        .execute(signals([0], hold=5), closes_market())
        .trades.iloc[0]
    )
    assert (t.exit_reason, t.exit_bar, t.exit_price) == ("take_profit", 5, 105.0)
    # short: entry 101, 2 % stop at 103.02: first close at or above it is bar 4 (104)
    t = (
        ExecutionEngine(commission_bps=0, slippage_bps=0, stop_loss_pct=2, take_profit_pct=3)
        .execute(signals([0], side=-1, hold=5), closes_market())
        .trades.iloc[0]
    )
    assert (t.exit_reason, t.exit_bar, t.exit_price) == ("stop_loss", 4, 104.0)
    assert t.return_pct == pytest.approx(-(104 / 101 - 1) * 100)


def test_close_only_levels_ignore_the_entry_close_and_bars_after_the_exit():
    close = list(CLOSE)
    close[5] = 80.0  # after the exit close of bar 4 (hold 3 from entry bar 1)
    t = ExecutionEngine(stop_loss_pct=2).execute(signals([0]), closes_market(close)).trades.iloc[0]
    assert (t.exit_reason, t.exit_bar) == ("time", 4)
    close = list(CLOSE)
    close[4] = 80.0  # the scheduled exit close itself is checked: it is a stop exit there
    t = ExecutionEngine(stop_loss_pct=2).execute(signals([0]), closes_market(close)).trades.iloc[0]
    assert (t.exit_reason, t.exit_bar, t.exit_price) == ("stop_loss", 4, 80.0)


def test_close_only_missing_close_drops_the_trade():
    close = list(CLOSE)
    close[1] = np.nan  # no entry close for a signal at bar 0
    result = ExecutionEngine().execute(signals([0, 1], hold=2), closes_market(close))
    assert result.trades["signal_bar"].tolist() == [1]
    assert result.dropped_by_reason["missing_price"] == 1


def test_portfolio_marks_a_close_only_trade_from_its_entry_close():
    data = closes_market()
    trades = ExecutionEngine(commission_bps=0, slippage_bps=0).execute(signals([0]), data).trades
    trades["position_size"] = 1.0
    book = PortfolioEngine().build(trades, data, books={"all": np.ones(1, dtype=bool)})
    equity = book.equity["all"].to_numpy()
    # entry at the close of bar 1 (101): no P&L that day; then each close adds 1/101 of the
    # entry notional, booked on current equity (the book is rebalanced daily)
    assert equity[1] == pytest.approx(1.0)
    assert equity[4] == pytest.approx((1 + 1 / 101) ** 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"commission_bps": -1}, "commission_bps"),
        ({"slippage_bps": float("nan")}, "slippage_bps"),
        ({"stop_loss_pct": 0}, "stop_loss_pct"),
        ({"take_profit_pct": "5"}, "take_profit_pct"),
    ],
)
def test_execution_settings_are_validated(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ExecutionEngine(**kwargs)


def test_unknown_symbol_names_the_row():
    with pytest.raises(ValidationError, match="ZZZ"):
        ExecutionEngine().execute(signals([0], symbol="ZZZ"), market())


# ----------------------------------------------------------------------------- portfolio


def test_portfolio_marks_one_trade_to_market_by_hand():
    data = market()
    execution = ExecutionEngine(commission_bps=10, slippage_bps=0)
    trades = execution.execute(signals([0]), data).trades.assign(position_size=0.5)
    result = PortfolioEngine().build(trades, data, books={"book": np.array([True])})
    c = 0.001  # one side: 10 bps
    # V(k) on bars 1..4: close 101, 102, 103 then the exit at 104, entry 100
    expected_r = [0, 0.5 * (0.01 - c), 0.5 * 0.01, 0.5 * 0.01, 0.5 * (0.01 - c), 0, 0, 0]
    np.testing.assert_allclose(result.daily_returns["book"].to_numpy(), expected_r, atol=1e-15)
    np.testing.assert_allclose(
        result.equity["book"].to_numpy(), np.cumprod(1 + np.array(expected_r))
    )
    # the daily changes of a trade add up to w * return_pct / 100
    assert sum(expected_r) == pytest.approx(0.5 * trades.return_pct.iloc[0] / 100)
    # held at the close of bars 1, 2, 3; sold at the open of bar 4
    assert result.open_positions["book"].tolist() == [0, 1, 1, 1, 0, 0, 0, 0]


def test_portfolio_short_trade_and_empty_book():
    data = market()
    trades = (
        ExecutionEngine(commission_bps=0, slippage_bps=0)
        .execute(signals([0], side=-1), data)
        .trades.assign(position_size=1.0)
    )
    result = PortfolioEngine().build(
        trades, data, books={"short": np.array([True]), "none": np.array([False])}
    )
    # short from 100: V = -0.01, -0.02, -0.03 at closes 101..103, -0.04 at the 104 exit;
    # each day's change is -0.01 at full weight, so equity falls by 1 % four times
    assert result.equity["short"].iloc[1] == pytest.approx(0.99)
    assert result.equity["short"].iloc[-1] == pytest.approx(0.99**4)
    assert (result.equity["none"] == 1.0).all()
    assert (result.open_positions["none"] == 0).all()


def test_portfolio_two_symbols_sum_contributions():
    data = market(symbols=("AAA", "BBB"))
    sig = pd.concat([signals([0]), signals([0], symbol="BBB")], ignore_index=True)
    trades = ExecutionEngine(commission_bps=0, slippage_bps=0).execute(sig, data).trades
    trades = trades.assign(position_size=0.25)
    result = PortfolioEngine().build(trades, data, books={"all": np.array([True, True])})
    assert result.daily_returns["all"].iloc[1] == pytest.approx(2 * 0.25 * 0.01)
    assert result.open_positions["all"].max() == 2


# ----------------------------------------------------------------------------- risk


def test_admit_skips_signals_when_the_book_is_full():
    risk = RiskEngine(max_positions=2)
    entry = np.array([1, 1, 2, 3, 5, 6])
    release = np.array([5, 4, 6, 7, 9, 10])
    taken = risk.admit(entry, release, np.ones(6, dtype=bool))
    # bar 1: two taken (full); bar 2, 3: full -> skipped; bar 5: both freed (4, 5) -> taken
    assert taken.tolist() == [True, True, False, False, True, True]


def test_admit_respects_candidates_and_no_limit():
    entry = np.arange(5)
    release = entry + 10
    wanted = np.array([True, False, True, False, True])
    assert RiskEngine(max_positions=None).admit(entry, release, wanted).tolist() == wanted.tolist()
    assert RiskEngine(max_positions=1).admit(entry, release, wanted).tolist() == [
        True, False, False, False, False,
    ]  # fmt: skip


@pytest.mark.parametrize("limit", [1, 3, 10])
@pytest.mark.parametrize("seed", range(5))
def test_admit_by_bar_matches_one_by_one(seed, limit):
    # The grouped path (every release after its entry) against a candidate-by-candidate
    # heap, and a book with a same-bar release, which takes the one-by-one path.
    from core.engines.risk import _admit_by_bar, _admit_one_by_one

    rng = np.random.default_rng(seed)
    entry = np.sort(rng.integers(0, 60, 400))
    release = entry + rng.integers(1, 12, entry.size)
    assert _admit_by_bar(entry, release, limit) == _admit_one_by_one(entry, release, limit)
    wanted = rng.random(entry.size) < 0.7
    taken = RiskEngine(max_positions=limit).admit(entry, release, wanted)
    index = np.flatnonzero(wanted)
    expected = np.zeros(entry.size, dtype=bool)
    expected[index[_admit_one_by_one(entry[index], release[index], limit)]] = True
    assert taken.tolist() == expected.tolist()
    same_bar = release.copy()
    same_bar[::7] = entry[::7]  # frees its slot at once: the next candidate of the bar may enter
    got = RiskEngine(max_positions=limit).admit(entry, same_bar, np.ones(entry.size, dtype=bool))
    assert np.flatnonzero(got).tolist() == _admit_one_by_one(entry, same_bar, limit)
    assert _admit_by_bar(entry[:0], release[:0], limit) == []


def test_assess_threshold_and_sizing():
    frame = pd.DataFrame({"confidence": [0.5, 0.6, 0.7], "market_volatility": [0.30, 0.15, 0.0]})
    fixed = RiskEngine(threshold=0.6).assess(frame)
    assert fixed["passes_threshold"].tolist() == [False, True, True]
    assert fixed["position_size"].tolist() == [0.1, 0.1, 0.1]
    assert "score" not in frame  # the caller's frame is not mutated
    vol = RiskEngine(sizing="volatility", position_fraction=0.1, target_volatility=0.15).assess(
        frame
    )
    # 0.15 / 0.30 = 0.5; 0.15 / 0.15 = 1; 0.15 / 0 -> capped at 2
    np.testing.assert_allclose(vol["position_size"], [0.05, 0.1, 0.2])


def test_assess_calibrated_key_nan_never_passes_and_missing_column_raises():
    frame = pd.DataFrame({"confidence": [0.9, 0.9], "calibrated_probability": [np.nan, 0.9]})
    out = RiskEngine(threshold=0.5, confidence_key="calibrated_probability").assess(frame)
    assert out["passes_threshold"].tolist() == [False, True]
    with pytest.raises(ConfigError, match="calibrated_probability"):
        RiskEngine(confidence_key="calibrated_probability").assess(frame[["confidence"]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": 1.5}, "threshold"),
        ({"confidence_key": "conf"}, "confidence_key"),
        ({"max_positions": 0}, "max_positions"),
        ({"sizing": "kelly"}, "sizing"),
        ({"position_fraction": 0}, "position_fraction"),
    ],
)
def test_risk_settings_are_validated(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RiskEngine(**kwargs)
