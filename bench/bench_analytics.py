"""Confidence analytics at scale: sweeps, walk-forward calibrators, deciles and reliability.

On 1,000,000 seeded trades (100,000 with ``--quick``):

- ``sweep_1000_thresholds``: :func:`core.analytics.sweep.threshold_sweep` over
  1,000 thresholds, no bands, against the same work (trades, wins, mean, std,
  Sharpe, profit factor at every threshold) done by: the numpy floor
  (``searchsorted`` + one ``bincount`` per statistic + reverse cumulative sums,
  no validation, no cut-off score, no Wilson interval, no frame), the same floor
  with arithmetic bins (``floor(score * 999)``: exact only for this uniform grid),
  pandas (``groupby`` + ``cumsum``), polars (``group_by`` + ``cum_sum``) and DuckDB
  (``GROUP BY`` + window sum; default threads and one thread), the last three
  with the arithmetic bins too (their fastest form here). Every figure is the
  median of 5 alternating runs; the references' results are checked against
  ours. The old naive mask per threshold (9.3 s) is no longer a reference.
- ``sweep_1000_thresholds_bands``: the same with 200-replicate bootstrap bands
  (target < 5 s).
- ``thresholds_page_compute``: what the Thresholds page computes on a first load,
  through the analytics functions it calls: ``analyze_thresholds`` (sweep with 50
  bootstrap replicates, choice, PSR/DSR, six walk-forward windows, PBO),
  ``threshold_stability`` of its walk-forward, and ``guaranteed_threshold``
  (target < 0.8 s; median of 5, plus the CPU seconds, less sensitive to the
  neighbours' load).
- ``walk_forward_<method>``: :func:`core.analytics.walkforward.walk_forward_calibrate`
  in 12 expanding windows, for each calibrator (target < 3 s for isotonic and
  Platt). Reference for isotonic and Platt: the same windows with
  scikit-learn's ``IsotonicRegression`` / ``LogisticRegression``, fitted on the
  trades before each window and scored in and out of sample (Brier, log loss),
  plus the full-sample fit (no purge). Medians of 5 alternating runs.
- ``deciles_and_reliability``: :func:`core.analytics.confidence.quantile_table`
  (analytic intervals above 20,000 trades) plus
  :func:`core.analytics.calibration.reliability_curve` (target < 0.3 s).
- ``reliability_curve``: alone, against ``sklearn.calibration.calibration_curve``
  on the same arrays (10 uniform bins).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import alternate, record

from core.analytics.calibration import reliability_curve
from core.analytics.calibrators import CALIBRATION_METHODS
from core.analytics.confidence import quantile_table
from core.analytics.guarantee import guaranteed_threshold
from core.analytics.report import analyze_thresholds
from core.analytics.stability import threshold_stability
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
    "thresholds_page_compute": 0.8,
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


def _metrics(cnt, wins, total, sq, gains, losses) -> np.ndarray:
    """Per-threshold (k, wins, mean, std, Sharpe, profit factor) from per-bin sums (bins 0..T)."""

    def rev(x):
        return np.cumsum(x[::-1])[::-1][1:]  # threshold j keeps bins j + 1 .. T

    k, w, s, q, g, lo = (rev(np.asarray(x, dtype=np.float64)) for x in (cnt, wins, total, sq,
                                                                        gains, losses))  # fmt: skip
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / k
        std = np.sqrt((q - s * s / k) / (k - 1))
        return np.column_stack([k, w, mean, std, mean / std, np.where(lo > 0, g / lo, np.inf)])


def numpy_floor(score: np.ndarray, ret: np.ndarray, grid: np.ndarray, *, arithmetic: bool = False):
    """The floor: bins (``searchsorted``, or ``floor`` for the uniform grid), bincounts, cumsums."""
    t = grid.size
    if arithmetic:
        b = np.minimum(np.floor(score * (t - 1)).astype(np.intp) + 1, t)
    else:
        b = np.searchsorted(grid, score, side="right")
    m = t + 1
    return _metrics(
        np.bincount(b, minlength=m), np.bincount(b, (ret > 0).astype(np.float64), m),
        np.bincount(b, ret, m), np.bincount(b, ret * ret, m),
        np.bincount(b, np.maximum(ret, 0.0), m), np.bincount(b, np.maximum(-ret, 0.0), m),
    )  # fmt: skip


def _dense(t: int, bins: np.ndarray, *columns: np.ndarray) -> list[np.ndarray]:
    out = []
    for c in columns:
        full = np.zeros(t + 1)
        full[bins] = c
        out.append(full)
    return out


def pandas_sweep(frame: pd.DataFrame, t: int) -> np.ndarray:
    """pandas: arithmetic bins, ``groupby`` sums, reverse cumulative sums."""
    r = frame["return_pct"]
    bins = np.minimum(np.floor(frame["confidence"] * (t - 1)).astype(np.int64) + 1, t)
    work = pd.DataFrame({"b": bins, "r": r, "q": r * r, "w": r > 0,
                         "g": r.clip(lower=0), "l": (-r).clip(lower=0)})  # fmt: skip
    agg = work.groupby("b").agg(n=("r", "size"), w=("w", "sum"), s=("r", "sum"), q=("q", "sum"),
                                g=("g", "sum"), l=("l", "sum"))  # fmt: skip
    agg = agg.reindex(range(t + 1), fill_value=0)
    return _metrics(*(agg[c].to_numpy() for c in ("n", "w", "s", "q", "g", "l")))


def polars_sweep(frame, t: int) -> np.ndarray:
    """polars: arithmetic bins, ``group_by`` sums, reverse cumulative sums."""
    import polars as pl

    r = pl.col("return_pct")
    agg = (
        frame.lazy()
        .with_columns(
            b=pl.min_horizontal(
                (pl.col("confidence") * (t - 1)).floor().cast(pl.Int64) + 1, pl.lit(t)
            )
        )
        .group_by("b")
        .agg(
            n=pl.len(),
            w=(r > 0).sum(),
            s=r.sum(),
            q=(r * r).sum(),
            g=r.clip(lower_bound=0).sum(),
            l=(-r).clip(lower_bound=0).sum(),
        )
        .collect()
    )
    bins = agg["b"].to_numpy()
    return _metrics(*_dense(t, bins, *(agg[c].to_numpy() for c in ("n", "w", "s", "q", "g", "l"))))


_DUCKDB_SQL = """
SELECT b, count(*) AS n, count_if(r > 0) AS w, sum(r) AS s, sum(r * r) AS q,
       sum(greatest(r, 0)) AS g, sum(greatest(-r, 0)) AS l
FROM (SELECT least(floor(confidence * {m})::BIGINT + 1, {t}) AS b, return_pct AS r FROM trades)
GROUP BY b
"""


def duckdb_sweep(con, t: int) -> np.ndarray:
    """DuckDB: arithmetic bins and ``GROUP BY`` in SQL; the T-row cumulative sums in numpy."""
    res = con.execute(_DUCKDB_SQL.format(m=t - 1, t=t)).fetchnumpy()
    bins = np.asarray(res["b"])
    return _metrics(*_dense(t, bins, *(np.asarray(res[c], dtype=np.float64)
                                       for c in ("n", "w", "s", "q", "g", "l"))))  # fmt: skip


def sweep_references(trades: pd.DataFrame, grid: np.ndarray) -> list[dict]:
    """``sweep_1000_thresholds`` and its references, medians of 5 alternating runs."""
    score = trades["confidence"].to_numpy()
    ret = trades["return_pct"].to_numpy()
    t = grid.size
    assert np.array_equal(  # the arithmetic bins are exact for this grid
        np.minimum(np.floor(score * (t - 1)).astype(np.intp) + 1, t),
        np.searchsorted(grid, score, side="right"),
    )
    fns = {
        "ours": lambda: threshold_sweep(trades, thresholds=grid),
        "numpy_floor": lambda: numpy_floor(score, ret, grid),
        "numpy_floor_arithmetic_bins": lambda: numpy_floor(score, ret, grid, arithmetic=True),
        "pandas": lambda: pandas_sweep(trades, t),
    }
    try:
        import polars as pl

        frame_pl = pl.from_pandas(trades[["confidence", "return_pct"]])
        fns["polars"] = lambda: polars_sweep(frame_pl, t)
    except ImportError:
        pass
    try:
        import duckdb

        con_default = duckdb.connect()
        con_one = duckdb.connect()
        con_one.execute("SET threads = 1")
        for con in (con_default, con_one):
            con.register("trades", trades[["confidence", "return_pct"]])
        fns["duckdb"] = lambda: duckdb_sweep(con_default, t)
        fns["duckdb_1_thread"] = lambda: duckdb_sweep(con_one, t)
    except ImportError:
        pass
    # Same answers before timing: Sharpe at every threshold.
    ours = threshold_sweep(trades, thresholds=grid).table
    for name, fn in fns.items():
        if name != "ours":
            np.testing.assert_allclose(fn()[:, 4], ours["sharpe"], rtol=1e-6, err_msg=name)
    med = alternate(fns, repeat=5)
    out = []
    extra = {f"{k}_seconds": v for k, v in med.items() if k != "ours"}
    floor = med["numpy_floor"]
    out.append(record(
        "sweep_1000_thresholds", len(trades), med["ours"],
        reference="numpy floor: searchsorted + bincount per statistic + reverse cumsums",
        reference_seconds=floor, thresholds=t, target_ratio_max=1.2,
        faster_than_pandas=bool(med["ours"] < med["pandas"]),
        faster_than_polars=bool(med["ours"] < med.get("polars", np.inf)),
        note="medians of 5 alternating runs; pandas/polars/DuckDB and the *_arithmetic_bins "
             "floor bin with floor(score * 999), exact for this uniform grid only",
        **extra,
    ))  # fmt: skip
    return out


def sklearn_walk_forward(method: str, conf: np.ndarray, win: np.ndarray, n_windows: int) -> None:
    """The reference: the same expanding windows with scikit-learn, fitted and scored.

    Each window fits on the trades before it, predicts them (in sample) and the
    window (out of sample) and scores both with the Brier score and the log loss;
    a last fit on every trade follows, as ours does. No purge (ours purges).
    """
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import brier_score_loss, log_loss

    def fit_predict(x_fit, y_fit, *xs):
        if method == "isotonic":
            model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            model.fit(x_fit, y_fit)
            return [model.predict(x) for x in xs]
        model = LogisticRegression(C=1e8).fit(x_fit[:, None], y_fit)
        return [model.predict_proba(x[:, None])[:, 1] for x in xs]

    def score(y, p):
        brier_score_loss(y, p)
        log_loss(y, np.clip(p, 1e-12, 1 - 1e-12), labels=[0, 1])

    bounds = np.round(np.linspace(0, conf.size, n_windows + 1)).astype(int)
    for k in range(1, n_windows):
        lo, hi = bounds[k], bounds[k + 1]
        p_in, p_out = fit_predict(conf[:lo], win[:lo], conf[:lo], conf[lo:hi])
        score(win[:lo], p_in)
        score(win[lo:hi], p_out)
    fit_predict(conf, win, conf)


def run(quick: bool) -> list[dict]:
    n = N_QUICK if quick else N_FULL
    trades = make_trades(n)
    score = trades["confidence"].to_numpy()
    win = trades["win"].to_numpy().astype(np.float64)
    grid = np.linspace(0.0, 1.0, N_THRESHOLDS)
    records = []

    records.extend(sweep_references(trades, grid))

    seconds = alternate(
        {"bands": lambda: threshold_sweep(trades, thresholds=grid, bands=True, n_boot=200)},
        repeat=5, warmup=0,
    )["bands"]  # fmt: skip
    records.append(record(
        "sweep_1000_thresholds_bands", n, seconds, thresholds=N_THRESHOLDS, n_boot=200,
        target_seconds=TARGETS["sweep_1000_thresholds_bands"],
        note="median of 5; the bootstrap's products on one BLAS thread (threadpoolctl)",
    ))  # fmt: skip

    def thresholds_page() -> None:
        analysis = analyze_thresholds(trades, n_boot=50, n_trials=1)
        threshold_stability(trades, analysis.walk_forward, n_boot=50)
        guaranteed_threshold(trades, target_win_rate=0.55, min_trades=100)

    cpu: list[float] = []

    def timed_page() -> None:
        start = time.process_time()
        thresholds_page()
        cpu.append(time.process_time() - start)

    seconds = alternate({"page": timed_page}, repeat=5)["page"]
    records.append(record(
        "thresholds_page_compute", n, seconds, cpu_seconds=float(np.median(cpu[1:])),
        target_seconds=TARGETS["thresholds_page_compute"],
        note="median of 5: analyze_thresholds (bands B=50, walk-forward, PBO) + "
             "threshold_stability + guaranteed_threshold, as the page's first load",
    ))  # fmt: skip

    for method in CALIBRATION_METHODS:
        fns = {
            "ours": lambda m=method: walk_forward_calibrate(trades, method=m, n_windows=N_WINDOWS)
        }
        if method in ("isotonic", "platt"):
            fns["sklearn"] = lambda m=method: sklearn_walk_forward(m, score, win, N_WINDOWS)
        med = alternate(fns, repeat=5, warmup=0)
        extra: dict = {"windows": N_WINDOWS}
        if "sklearn" in med:
            name = "IsotonicRegression" if method == "isotonic" else "LogisticRegression"
            extra.update(
                reference=f"sklearn {name}: fit + in/out-of-sample Brier and log loss per "
                "window + full-sample fit (no purge)",
                reference_seconds=med["sklearn"],
            )
        target = TARGETS.get(f"walk_forward_{method}")
        if target is not None:
            extra["target_seconds"] = target
        extra["note"] = (
            "median of 5 alternating runs; includes purge, per-window in/out-of-sample "
            "scoring and the full-sample fit"
        )
        records.append(record(f"walk_forward_{method}", n, med["ours"], **extra))

    def deciles_and_reliability() -> None:
        quantile_table(trades, n_bins=10)
        reliability_curve(score, win, n_bins=10)

    seconds = alternate({"ours": deciles_and_reliability}, repeat=5)["ours"]
    records.append(record(
        "deciles_and_reliability", n, seconds, target_seconds=TARGETS["deciles_and_reliability"],
        note="median of 5; quantile_table uses analytic intervals above 20,000 trades",
    ))  # fmt: skip

    from sklearn.calibration import calibration_curve

    med = alternate({
        "ours": lambda: reliability_curve(score, win, n_bins=10),
        "sklearn": lambda: calibration_curve(win, score, n_bins=10),
    }, repeat=5)  # fmt: skip
    records.append(record(
        "reliability_curve", n, med["ours"], reference="sklearn.calibration.calibration_curve",
        reference_seconds=med["sklearn"],
        note="median of 5 alternating runs; ours adds Wilson intervals and per-bin counts",
    ))  # fmt: skip
    return records


if __name__ == "__main__":
    import json

    for r in run("--quick" in sys.argv):
        print(json.dumps(r))
