"""Size and power of the deflated Sharpe ratio's selection rule, measured by simulation.

Each seed draws ``n`` trades with a uniform confidence and standard normal
returns (percent), sweeps the 101 default thresholds, picks the best
per-trade Sharpe ratio among thresholds keeping 30 trades
(:func:`core.analytics.selection.select_threshold`; also 100) and asks whether its
deflated Sharpe ratio is significant (``dsr >= 0.95``):

- ``dsr_null``: returns independent of the confidence (no edge): the share of
  seeds called significant is the false-positive rate (target 5 % +- 3 %).
- ``dsr_power``: a planted edge -- trades with confidence >= 0.9435 (about 113
  of 2,000) get +1.06 % on their return, a per-trade Sharpe ratio near 1 on
  the kept trades: the share called significant is the power (target >= 95 %).

Each line also gives the old rule (N = eligible thresholds, V = observed
variance of their Sharpe ratios) on the same seeds, and the median N_eff.
Prints one JSON line per measurement (like the other benchmarks).

Usage: ``python bench/bench_dsr.py [--seeds 400] [--n 2000]``, or through ``bench/run.py``
(400 seeds; 50 with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.analytics.overfitting import deflated_sharpe_ratio
from core.analytics.selection import select_threshold
from core.analytics.sweep import apply_threshold, threshold_sweep

EDGE_CUTOFF = 0.9435
EDGE_SIZE = 1.06


def make_trades(n: int, *, seed: int, edge: bool, dist: str = "normal") -> pd.DataFrame:
    """Seeded trades: uniform confidence; returns normal (or Student t3 / signed Exp(1))."""
    rng = np.random.default_rng(seed)
    confidence = rng.random(n)
    if dist == "normal":
        ret = rng.standard_normal(n)
    elif dist == "t3":
        ret = rng.standard_t(3, n)
    else:
        ret = np.where(rng.random(n) < 0.5, 1.0, -1.0) * rng.exponential(1.0, n)
    if edge:
        ret = ret + np.where(confidence >= EDGE_CUTOFF, EDGE_SIZE, 0.0)
    return pd.DataFrame({"confidence": confidence, "return_pct": ret, "win": ret > 0})


def old_rule(trades: pd.DataFrame, min_trades: int) -> float:
    """The rule before: N = eligible thresholds, V = variance of their observed Sharpe ratios."""
    sweep = threshold_sweep(trades)
    choice = select_threshold(sweep, min_trades=min_trades)
    table = sweep.table
    eligible = table["trades"] >= min_trades
    sharpes = table.loc[eligible, "sharpe"].to_numpy(dtype=np.float64)
    sharpes = sharpes[np.isfinite(sharpes)]
    kept = apply_threshold(trades, choice.threshold)["return_pct"].to_numpy()
    return deflated_sharpe_ratio(
        kept, n_trials=int(eligible.sum()), sharpe_variance=float(np.var(sharpes, ddof=1))
    ).dsr


def measure(name: str, *, n: int, seeds: int, edge: bool, dist: str, min_trades: int) -> dict:
    start = time.perf_counter()
    new, old, n_eff, kept, sharpe = [], [], [], [], []
    for seed in range(seeds):
        trades = make_trades(n, seed=seed, edge=edge, dist=dist)
        choice = select_threshold(trades, min_trades=min_trades)
        new.append(choice.deflated.dsr)
        old.append(old_rule(trades, min_trades))
        n_eff.append(choice.n_effective)
        kept.append(choice.trades)
        sharpe.append(choice.sharpe)
    new_a, old_a = np.array(new), np.array(old)
    rate = float(np.mean(new_a >= 0.95))
    return {
        "bench": name,
        "n": n,
        "seeds": seeds,
        "returns": dist,
        "min_trades": min_trades,
        "seconds": time.perf_counter() - start,
        "significant_rate": rate,
        "significant_rate_se": float(np.sqrt(rate * (1 - rate) / seeds)),
        "old_rule_significant_rate": float(np.mean(old_a >= 0.95)),
        "median_dsr": float(np.median(new_a)),
        "median_old_dsr": float(np.median(old_a)),
        "median_n_effective": float(np.median(n_eff)),
        "median_kept_trades": float(np.median(kept)),
        "median_sharpe": float(np.median(sharpe)),
    }


def _runs(n: int) -> list[tuple[str, int, bool, str, int]]:
    return [
        ("dsr_null", n, False, "normal", 30),
        ("dsr_null", n, False, "t3", 30),
        ("dsr_null", n, False, "signed_exp", 30),
        ("dsr_null", n, False, "normal", 100),
        ("dsr_null", 500, False, "normal", 30),
        ("dsr_null", 10_000, False, "normal", 30),
        ("dsr_power", n, True, "normal", 30),
        ("dsr_power", n, True, "normal", 100),
    ]


def run(quick: bool) -> list[dict]:
    """For ``bench/run.py``: 400 seeds (50 with ``--quick``) of 2,000 trades."""
    seeds = 50 if quick else 400
    return [
        measure(name, n=n, seeds=seeds, edge=edge, dist=dist, min_trades=min_trades)
        for name, n, edge, dist, min_trades in _runs(2000)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=400)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    for name, n, edge, dist, min_trades in _runs(args.n):
        line = measure(name, n=n, seeds=args.seeds, edge=edge, dist=dist, min_trades=min_trades)
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
