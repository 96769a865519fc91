"""Confidence analytics at scale: sweeps, walk-forward calibrators, deciles and reliability.

On 1,000,000 seeded trades (100,000 with ``--quick``):

- ``sweep_1000_thresholds``: :func:`core.analytics.sweep.threshold_sweep` over
  1,000 thresholds, no bands. Reference: the naive loop, one boolean mask per
  threshold recomputing count, wins, mean, std, Sharpe and profit factor. The
  loop is timed on every 10th threshold (100 of them) and multiplied by 10
  (its cost is linear in the thresholds), reported as ``reference_seconds``.
- ``sweep_1000_thresholds_bands``: the same with 200-replicate bootstrap bands
  (target < 5 s).
- ``walk_forward_<method>``: :func:`core.analytics.walkforward.walk_forward_calibrate`
  in 12 expanding windows, for each calibrator (target < 3 s for isotonic and
  Platt). Reference for isotonic and Platt: the same 11 fits with
  scikit-learn's ``IsotonicRegression`` / ``LogisticRegression`` (fit on the
  trades before the window, predict the window; no purge, no scoring).
- ``deciles_and_reliability``: :func:`core.analytics.confidence.quantile_table`
  (analytic intervals above 20,000 trades) plus
  :func:`core.analytics.calibration.reliability_curve` (target < 0.3 s).
- ``reliability_curve``: alone, against ``sklearn.calibration.calibration_curve``
  on the same arrays (10 uniform bins).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of, record

from core.analytics.calibration import reliability_curve
from core.analytics.calibrators import CALIBRATION_METHODS
from core.analytics.confidence import quantile_table
from core.analytics.sweep import threshold_sweep
from core.analytics.walkforward import walk_forward_calibrate

N_FULL = 1_000_000
N_QUICK = 100_000
N_THRESHOLDS = 1_000
N_WINDOWS = 12
TARGETS = {
    "sweep_1000_thresholds_bands": 5.0,
    "walk_forward_isotonic": 3.0,
    "walk_forward_platt": 3.0,
    "deciles_and_reliability": 0.3,
}


def make_trades(n: int, *, seed: int = 0) -> pd.DataFrame:
    """``n`` trades in time order whose win probability rises with confidence."""
    rng = np.random.default_rng(seed)
    conf = rng.beta(2.0, 2.0, n)
    win = rng.random(n) < 0.35 + 0.3 * conf
    size = rng.lognormal(0.0, 0.6, n)
    ret = np.where(win, size, -0.9 * size)
    entry = pd.Timestamp("2000-01-03", tz="UTC") + pd.to_timedelta(np.arange(n) * 5, unit="min")
    return pd.DataFrame(
        {
            "entry_time": entry,
            "exit_time": entry + pd.Timedelta(days=1),
            "confidence": conf,
            "calibrated_probability": np.nan,
            "return_pct": ret,
            "win": ret > 0,
        }
    )


def naive_sweep(score: np.ndarray, ret: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The reference: one mask per threshold (count, wins, mean, std, Sharpe, profit factor)."""
    out = np.full((thresholds.size, 6), np.nan)
    for i, t in enumerate(thresholds):
        kept = ret[score >= t]
        k = kept.size
        if k == 0:
            continue
        std = kept.std(ddof=1) if k > 1 else np.nan
        losses = -kept[kept < 0].sum()
        out[i] = (k, (kept > 0).sum(), kept.mean(), std, kept.mean() / std,
                  kept[kept > 0].sum() / losses if losses > 0 else np.inf)  # fmt: skip
    return out


def sklearn_walk_forward(method: str, conf: np.ndarray, win: np.ndarray, n_windows: int) -> None:
    """The reference: the same expanding windows with scikit-learn's estimators."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    bounds = np.round(np.linspace(0, conf.size, n_windows + 1)).astype(int)
    for k in range(1, n_windows):
        lo, hi = bounds[k], bounds[k + 1]
        if method == "isotonic":
            model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            model.fit(conf[:lo], win[:lo]).predict(conf[lo:hi])
        else:
            model = LogisticRegression(C=1e8)
            model.fit(conf[:lo, None], win[:lo]).predict_proba(conf[lo:hi, None])


def run(quick: bool) -> list[dict]:
    n = N_QUICK if quick else N_FULL
    trades = make_trades(n)
    score = trades["confidence"].to_numpy()
    ret = trades["return_pct"].to_numpy()
    win = trades["win"].to_numpy().astype(np.float64)
    grid = np.linspace(0.0, 1.0, N_THRESHOLDS)
    records = []

    seconds = best_of(lambda: threshold_sweep(trades, thresholds=grid), repeat=3)
    sub = grid[::10]
    ref = best_of(lambda: naive_sweep(score, ret, sub), repeat=1) * (grid.size / sub.size)
    check = threshold_sweep(trades, thresholds=sub).table
    np.testing.assert_allclose(naive_sweep(score, ret, sub)[:, 4], check["sharpe"], rtol=1e-9)
    records.append(record(
        "sweep_1000_thresholds", n, seconds, reference="naive mask per threshold",
        reference_seconds=ref, thresholds=N_THRESHOLDS,
        note="reference timed on 100 of the 1,000 thresholds and scaled x10 (linear in thresholds)",
    ))  # fmt: skip

    seconds = best_of(
        lambda: threshold_sweep(trades, thresholds=grid, bands=True, n_boot=200), repeat=1
    )
    records.append(record(
        "sweep_1000_thresholds_bands", n, seconds, thresholds=N_THRESHOLDS, n_boot=200,
        target_seconds=TARGETS["sweep_1000_thresholds_bands"],
    ))  # fmt: skip

    for method in CALIBRATION_METHODS:
        seconds = best_of(
            lambda m=method: walk_forward_calibrate(trades, method=m, n_windows=N_WINDOWS),
            repeat=1,
        )
        extra: dict = {"windows": N_WINDOWS}
        if method in ("isotonic", "platt"):
            ref = best_of(lambda m=method: sklearn_walk_forward(m, score, win, N_WINDOWS), repeat=1)
            extra.update(
                reference=f"sklearn {'IsotonicRegression' if method == 'isotonic' else 'LogisticRegression'} "
                "fit/predict, same windows (no purge, no scoring)",
                reference_seconds=ref,
            )
        target = TARGETS.get(f"walk_forward_{method}")
        if target is not None:
            extra["target_seconds"] = target
        extra["note"] = (
            "includes purge, per-window in/out-of-sample scoring and the full-sample fit"
        )
        records.append(record(f"walk_forward_{method}", n, seconds, **extra))

    def deciles_and_reliability() -> None:
        quantile_table(trades, n_bins=10)
        reliability_curve(score, win, n_bins=10)

    seconds = best_of(deciles_and_reliability, repeat=3)
    records.append(record(
        "deciles_and_reliability", n, seconds, target_seconds=TARGETS["deciles_and_reliability"],
        note="quantile_table uses analytic intervals above 20,000 trades",
    ))  # fmt: skip

    from sklearn.calibration import calibration_curve

    seconds = best_of(lambda: reliability_curve(score, win, n_bins=10), repeat=5)
    ref = best_of(lambda: calibration_curve(win, score, n_bins=10), repeat=5)
    records.append(record(
        "reliability_curve", n, seconds, reference="sklearn.calibration.calibration_curve",
        reference_seconds=ref, note="ours adds Wilson intervals and per-bin counts",
    ))  # fmt: skip
    return records


if __name__ == "__main__":
    import json

    for r in run("--quick" in sys.argv):
        print(json.dumps(r))
