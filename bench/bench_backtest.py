"""Backtests: end to end on a large synthetic market, and the trade simulation vs vectorbt.

1. ``backtest_end_to_end``: :func:`core.backtest.run_backtest` on 500 synthetic
   symbols × 2,520 days (quick: 100 × 1,260), the run recorded into a fresh
   temporary data directory, against the ``run_backtest`` of commit
   :data:`REFERENCE_COMMIT` (the version issue 13 was filed against) on the same
   config. Each run is a fresh Python process (imports untimed; the timer covers
   the ``run_backtest`` call) with its own temporary data directory; the two
   versions alternate (current, reference, current, ...) and each figure is the
   median of ``repeat`` runs (5; quick: 3). The reference runs from a git
   worktree of that commit at ``$SIGNAL_LAB_REFERENCE_TREE`` (default
   ``/tmp/bt_old``; make one with ``git worktree add /tmp/bt_old b8ca74f``);
   without it the reference is null and ``note`` says so (nothing is
   downloaded). ``stages`` are the current version's ``result.timings`` (median
   per stage) and ``load`` the host's load averages before and after.
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

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, best_of, record

from core.data import load_market_data
from core.engines import ExecutionEngine, PortfolioEngine, normalise_signals
from core.signals import EnsembleConfig, EnsembleSignalEngine

#: The version issue 13's "today's figure" refers to.
REFERENCE_COMMIT = "b8ca74f"
#: Where the reference's worktree is looked for.
REFERENCE_TREE = Path(os.environ.get("SIGNAL_LAB_REFERENCE_TREE", "/tmp/bt_old"))

_ONE_RUN = """
import json, sys, time
from core.backtest import BacktestConfig, run_backtest
config = BacktestConfig(source="synthetic", n_symbols={n_symbols}, n_days={n_days},
                        data_dir={data_dir!r})
start = time.perf_counter()
result = run_backtest(config)
seconds = time.perf_counter() - start
print("BENCH-RESULT " + json.dumps({{
    "seconds": seconds,
    "timings": dict(getattr(result, "timings", {{}})),
    "n_signals": int(result.n_signals),
    "events": int(result.events_recorded),
}}))
"""


def _one_run(tree: Path, n_symbols: int, n_days: int) -> dict:
    """``run_backtest`` of the code in ``tree``, in a fresh process and data directory."""
    work = Path(tempfile.mkdtemp(prefix="bench-backtest-"))
    try:
        data_dir = str(work / "data")
        env = {**os.environ, "PYTHONPATH": str(tree), "SIGNAL_LAB_DATA_DIR": data_dir}
        code = _ONE_RUN.format(n_symbols=n_symbols, n_days=n_days, data_dir=data_dir)
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=tree,
            env=env,
            timeout=1800,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line.removeprefix("BENCH-RESULT "))
    raise RuntimeError(f"backtest subprocess in {tree} failed:\n{proc.stderr[-3000:]}")


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def _reference_tree() -> tuple[Path | None, str]:
    """The reference worktree, or None and why not."""
    if not (REFERENCE_TREE / "core" / "backtest.py").is_file():
        return None, (
            f"reference null: no worktree of {REFERENCE_COMMIT} at {REFERENCE_TREE} "
            f"(git worktree add {REFERENCE_TREE} {REFERENCE_COMMIT}; "
            "or set SIGNAL_LAB_REFERENCE_TREE)"
        )
    head = subprocess.run(
        ["git", "-C", str(REFERENCE_TREE), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if head and not head.startswith(REFERENCE_COMMIT):
        return None, (f"reference null: {REFERENCE_TREE} is at {head[:7]}, not {REFERENCE_COMMIT}")
    return REFERENCE_TREE, ""


def _end_to_end(n_symbols: int, n_days: int, *, repeat: int) -> dict:
    tree, why_not = _reference_tree()
    trees = {"current": ROOT} | ({"reference": tree} if tree is not None else {})
    load_before = _load()
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(repeat):
        for name, where in trees.items():
            runs[name].append(_one_run(where, n_symbols, n_days))
    load_after = _load()
    ours = runs["current"]
    seconds = statistics.median(r["seconds"] for r in ours)
    stages = {
        stage: statistics.median(r["timings"].get(stage, math.nan) for r in ours)
        for stage in ours[0]["timings"]
    }
    stages["rest"] = seconds - sum(stages.values())
    text = ", ".join(f"{k} {v:.2f}" for k, v in stages.items())
    note = (
        f"{n_symbols} synthetic symbols x {n_days} days, {ours[0]['n_signals']:,} signals, "
        f"{ours[0]['events']:,} events recorded; medians of {repeat} alternating runs, each "
        f"a fresh process and data directory; current stages (s): {text} (rest: opening "
        "the store, finishing the run and its snapshot)"
    )
    extra = {
        "target_seconds": 3.0,
        "events": ours[0]["events"],
        "stages": stages,
        "runs": {name: [round(r["seconds"], 3) for r in rs] for name, rs in runs.items()},
        "load": {"before": load_before, "after": load_after},
    }
    if tree is None:
        line = record("backtest_end_to_end", ours[0]["n_signals"], seconds)
        return {
            **line,
            "reference": None,
            "reference_seconds": None,
            "ratio": None,
            **extra,
            "note": f"{why_not}; {note}",
        }
    theirs = runs["reference"]
    reference_seconds = statistics.median(r["seconds"] for r in theirs)
    reference_stages = {
        stage: statistics.median(r["timings"].get(stage, math.nan) for r in theirs)
        for stage in theirs[0]["timings"]
    }
    reference_stages["rest"] = reference_seconds - sum(reference_stages.values())
    return record(
        "backtest_end_to_end",
        ours[0]["n_signals"],
        seconds,
        reference=f"{REFERENCE_COMMIT} run_backtest",
        reference_seconds=reference_seconds,
        target_ratio_max=1.0,
        reference_stages=reference_stages,
        reference_n_signals=theirs[0]["n_signals"],
        **extra,
        note=note,
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
    return [
        _end_to_end(n_symbols, n_days, repeat=3 if quick else 5),
        _trade_simulation(n_symbols, n_days),
    ]


if __name__ == "__main__":  # pragma: no cover
    for line in run("--quick" in sys.argv):
        print(json.dumps(line))
