"""Backtests: end to end on a large synthetic market, and the trade simulation vs vectorbt.

1. ``backtest_end_to_end``: :func:`core.backtest.run_backtest` on 500 synthetic
   symbols × 2,520 days (quick: 100 × 1,260), events persisted into a fresh
   temporary data directory, report written. Target: under 10 s.
2. ``trade_simulation``: execution + portfolio (``ExecutionEngine.execute`` and
   ``PortfolioEngine.build`` of one book holding every trade) on the same
   signals vs vectorbt's ``Portfolio.from_signals`` on the same entries and
   exits (fills at the open; each symbol's trades split over two columns by
   parity, because the ensemble lets a trade enter on the bar the previous
   one exits, which vectorbt would treat as a conflicting signal). One
   warm-up call of each (numba compiles on the first), then the best of 3.
   vectorbt is optional: ``pip install vectorbt`` into the venv; without it
   the reference is null and ``note`` says why.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of, record

from core.backtest import BacktestConfig, run_backtest
from core.data import load_market_data
from core.engines import ExecutionEngine, PortfolioEngine, normalise_signals
from core.signals import EnsembleConfig, EnsembleSignalEngine


def _end_to_end(n_symbols: int, n_days: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-backtest-"))
    try:
        config = BacktestConfig(
            source="synthetic", n_symbols=n_symbols, n_days=n_days, data_dir=str(work / "data")
        )
        start = time.perf_counter()
        result = run_backtest(config)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stages = ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items())
    return record(
        "backtest_end_to_end",
        result.n_signals,
        seconds,
        target_seconds=10.0,
        events=result.events_recorded,
        note=(
            f"{n_symbols} synthetic symbols x {n_days} days, {result.n_signals:,} signals, "
            f"{result.events_recorded:,} events persisted; stages (s): {stages}; the rest is "
            "opening the store and finish_run's snapshot"
        ),
    )


def _vectorbt_inputs(trades: pd.DataFrame, data) -> dict:
    n_dates, n_sym = data.shape
    col = data.close.columns.get_indexer(trades["symbol"].to_numpy(dtype=object))
    layer = trades.groupby("symbol", sort=False).cumcount().to_numpy() % 2
    column = col * 2 + layer
    entry = trades["entry_bar"].to_numpy()
    exit_ = trades["exit_bar"].to_numpy()
    long = trades["side"].to_numpy() > 0
    shape = (n_dates, 2 * n_sym)
    arrays = {name: np.zeros(shape, dtype=bool) for name in ("le", "lx", "se", "sx")}
    arrays["le"][entry[long], column[long]] = True
    arrays["lx"][exit_[long], column[long]] = True
    arrays["se"][entry[~long], column[~long]] = True
    arrays["sx"][exit_[~long], column[~long]] = True
    index = data.dates.tz_convert(None)
    columns = pd.RangeIndex(2 * n_sym)

    def wide(values):
        return pd.DataFrame(np.repeat(values, 2, axis=1), index=index, columns=columns)

    def frame(values):
        return pd.DataFrame(values, index=index, columns=columns)

    return {
        "close": wide(data.close.to_numpy()),
        "price": wide(data.open.to_numpy()),
        "entries": frame(arrays["le"]),
        "exits": frame(arrays["lx"]),
        "short_entries": frame(arrays["se"]),
        "short_exits": frame(arrays["sx"]),
    }


def _trade_simulation(n_symbols: int, n_days: int) -> dict:
    data = load_market_data("synthetic", n_symbols=n_symbols, n_days=n_days, seed=0)
    ensemble = EnsembleSignalEngine(EnsembleConfig())
    signals = normalise_signals(ensemble.generate(data), data, holding_days=5)
    signals["position_size"] = 0.1
    execution = ExecutionEngine(commission_bps=1.0, slippage_bps=2.0)
    portfolio = PortfolioEngine()

    def ours():
        trades = execution.execute(signals, data).trades
        trades["position_size"] = signals["position_size"].to_numpy()[trades["signal_index"]]
        everything = np.ones(len(trades), dtype=bool)
        return trades, portfolio.build(trades, data, books={"all": everything})

    trades, _ = ours()  # warm-up
    seconds = best_of(ours, repeat=3)
    n = len(trades)
    base = {"target_ratio_max": 1.0}
    try:
        import vectorbt as vbt
    except ImportError as exc:
        return record(
            "trade_simulation", n, seconds, **base,
            note=f"reference null: vectorbt not importable ({exc}); pip install vectorbt",
        )  # fmt: skip
    inputs = _vectorbt_inputs(trades, data)
    fee = (execution.commission_bps + execution.slippage_bps) / 1e4

    # One share per trade and ample cash: no column can go bankrupt (the synthetic market
    # has 5-day moves beyond 100 %, which would stop an all-in short column), so vectorbt
    # fills exactly the trades we do.
    sizing = {"size": 1.0, "size_type": "amount", "init_cash": 1e12, "freq": "1D"}

    def reference():
        return vbt.Portfolio.from_signals(**inputs, fees=fee, **sizing)

    # warm-up (numba compiles) and a check that both simulate the same trades
    check = vbt.Portfolio.from_signals(**inputs, fees=0.0, **sizing)
    theirs = np.sort(check.trades.returns.values)
    ours_gross = np.sort(trades["gross_return_pct"].to_numpy() / 100.0)
    same = theirs.size == ours_gross.size and bool(np.allclose(theirs, ours_gross, atol=1e-9))
    reference()
    ref_seconds = best_of(reference, repeat=3)
    value_seconds = best_of(lambda: reference().value(), repeat=3)
    return record(
        "trade_simulation",
        n,
        seconds,
        reference=f"vectorbt {vbt.__version__} Portfolio.from_signals",
        reference_seconds=ref_seconds,
        **base,
        same_trades=same,
        note=(
            f"{n_symbols} x {n_days} synthetic, {n:,} trades; ours = execute + portfolio.build "
            f"(daily equity); vectorbt from_signals alone {ref_seconds:.3f} s, with .value() "
            f"(its daily equity) {value_seconds:.3f} s; per-trade gross returns identical: {same}"
        ),
    )


def run(quick: bool) -> list[dict]:
    n_symbols, n_days = (100, 1260) if quick else (500, 2520)
    return [_end_to_end(n_symbols, n_days), _trade_simulation(n_symbols, n_days)]


if __name__ == "__main__":  # pragma: no cover
    import json

    for line in run("--quick" in sys.argv):
        print(json.dumps(line))
