"""Evaluation harness: false alarms, power and delay of the drift detectors.

On seeded synthetic streams a baseline of ``n_baseline`` trades is followed by
monitoring windows of ``window`` trades. Each detector runs afresh over each
window (first passage; the standardisation uses the baseline's mean and
standard deviation, as a check does), and per scenario the harness reports the
share of windows with any alarm (false-alarm rate per window on in-control
streams, power on shifted ones) and the detection delay. The calibrated
detectors (:mod:`core.analytics.drift.calibration`, thresholds fitted on each
stream's own baseline) are compared side by side with the same detectors at
river's default settings (``river.drift.PageHinkley()``: δ = 0.005, λ = 50,
α = 0.9999, 30 warm-up values, ``mode="both"``, on the raw 0/1 win stream; our
:class:`~core.analytics.drift.detectors.PageHinkley` matches river exactly at
those settings) and with the textbook CUSUM ``k = 0.5, h = 5`` (Montgomery §9.1.3).

Scenarios (:data:`SCENARIOS`): ``iid`` Bernoulli outcomes with matching
returns; ``ar1`` outcomes from a thresholded Gaussian AR(1) latent (φ = 0.3;
serial dependence); ``step_drop`` (win rate 5 points lower in every
monitoring window); ``gradual`` (a linear decay reaching −5 points at the end
of each window); ``calibration_break`` (score distribution unchanged, P(win |
score) flattened to the base rate; only the ECE/Brier path can see it) and
``score_shift`` (scores +0.1, outcomes unchanged; only PSI/KS see it).

All vectorised: the windows of one stream are rows of a 2-D array.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from core.analytics.drift.calibration import (
    DEFAULT_CRITICAL_LEVEL,
    DEFAULT_WARNING_LEVEL,
    calibrate_detectors,
    cusum_statistic,
    first_crossing,
    page_hinkley_statistic,
)
from core.errors import ConfigError

__all__ = [
    "SCENARIOS",
    "EvaluationConfig",
    "evaluate_detectors",
    "family_wise_false_alarms",
    "synthetic_stream",
]

SCENARIOS: tuple[str, ...] = (
    "iid",
    "ar1",
    "step_drop",
    "gradual",
    "calibration_break",
    "score_shift",
)


@dataclass(frozen=True)
class EvaluationConfig:
    """Sizes of one evaluation run.

    Attributes
    ----------
    n_trades : int
        Trades per stream (baseline included).
    n_baseline : int
        Leading trades that form the baseline.
    window : int
        Monitoring window, trades.
    seeds : int
        Streams per base rate and scenario.
    base_rates : tuple of float
        Win rates of the in-control stream.
    shift : float
        Win-rate drop of the shifted scenarios (fraction).
    n_paths : int
        Bootstrap paths of the calibration.
    """

    n_trades: int = 300_000
    n_baseline: int = 20_000
    window: int = 2000
    seeds: int = 20
    base_rates: tuple[float, ...] = (0.3, 0.5, 0.7)
    shift: float = 0.05
    n_paths: int = 2000

    def __post_init__(self) -> None:
        if self.n_trades < self.n_baseline + self.window or self.n_baseline < 30:
            raise ConfigError(
                f"EvaluationConfig needs n_baseline >= 30 and n_trades >= n_baseline + window, "
                f"got n_trades={self.n_trades}, n_baseline={self.n_baseline}, "
                f"window={self.window}"
            )


def synthetic_stream(
    n: int,
    *,
    base_rate: float,
    scenario: str = "iid",
    n_baseline: int = 0,
    window: int = 2000,
    shift: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """A seeded trades stream: ``confidence``, ``win``, ``return_pct``.

    Scores are ``Beta`` around the base rate with ``P(win | score) = score``
    (calibrated). After ``n_baseline`` trades the scenario's change (see the
    module docstring) applies to every monitoring window of ``window`` trades.
    Returns are ``±U(0.2, 2)`` percent, signed by the outcome.

    Returns
    -------
    DataFrame, n rows
        With an hourly UTC ``entry_time``.
    """
    if scenario not in SCENARIOS:
        raise ConfigError(f"scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
    rng = np.random.default_rng(seed)
    a = 8.0 * base_rate
    conf = rng.beta(a, 8.0 - a, n)
    p = conf.copy()
    after = np.arange(n) >= n_baseline
    pos = (np.arange(n) - n_baseline) % window
    if scenario == "step_drop":
        p = np.where(after, p - shift, p)
    elif scenario == "gradual":
        p = np.where(after, p - shift * (pos + 1) / window, p)
    elif scenario == "calibration_break":
        p = np.where(after, base_rate, p)
    elif scenario == "score_shift":
        conf = np.where(after, np.clip(conf + 0.1, 0.0, 1.0), conf)
    p = np.clip(p, 0.0, 1.0)
    if scenario == "ar1":
        phi, e = 0.3, rng.standard_normal(n)
        lat = np.empty(n)
        lat[0] = e[0]
        scale = math.sqrt(1.0 - phi**2)
        for i in range(1, n):  # an AR(1) recursion: sequential by definition
            lat[i] = phi * lat[i - 1] + scale * e[i]
        u = stats.norm.cdf(lat)
    else:
        u = rng.random(n)
    win = u < p
    ret = np.where(win, 1.0, -1.0) * rng.uniform(0.2, 2.0, n)
    return pd.DataFrame(
        {
            "entry_time": pd.date_range("2000-01-01", periods=n, freq="h", tz="UTC"),
            "confidence": conf,
            "return_pct": ret,
            "win": win,
        }
    )


def _windows(x: np.ndarray, n_baseline: int, window: int) -> np.ndarray:
    body = x[n_baseline:]
    m = body.size // window
    return body[: m * window].reshape(m, window)


def _textbook_cusum_first(z: np.ndarray) -> np.ndarray:
    return first_crossing(cusum_statistic(z, k=0.5), 5.0)


def _river_ph_first(x: np.ndarray) -> np.ndarray:
    """First alarm of river's default PageHinkley (mode both) on raw values."""
    down = page_hinkley_statistic(x, delta=0.005, prior_weight=0.0, alpha=1 - 0.0001)
    up = page_hinkley_statistic(x, delta=0.005, prior_weight=0.0, alpha=1 - 0.0001, mode="up")
    return first_crossing(np.maximum(down, up), 50.0)


def _summary(first: np.ndarray, crit: np.ndarray | None) -> dict[str, float]:
    hit = first >= 0
    return {
        "alarm_rate": float(hit.mean()),
        "critical_rate": math.nan if crit is None else float((crit >= 0).mean()),
        "median_delay": float(np.median(first[hit]) + 1) if hit.any() else math.nan,
    }


def evaluate_detectors(
    config: EvaluationConfig | None = None,
    *,
    scenarios: Sequence[str] = SCENARIOS,
    seed: int = 0,
) -> pd.DataFrame:
    """False-alarm rate, power and delay per scenario, base rate and detector.

    Parameters
    ----------
    config : EvaluationConfig, optional
        Sizes; the full run (300k trades, 20 seeds, base rates 0.3/0.5/0.7) when
        omitted. Tests pass a small one.
    scenarios : sequence of str
        Subset of :data:`SCENARIOS` (the detectors watch outcomes, so
        ``calibration_break``/``score_shift`` mostly show that they stay quiet).
    seed : int, default 0
        Stream ``i`` of base rate ``j`` uses seed ``seed + 1000 j + i``.

    Returns
    -------
    DataFrame
        One row per (scenario, base_rate, detector, settings): ``windows``,
        ``alarm_rate`` (share of windows with any warning-level alarm: the
        false-alarm rate per window on ``iid``/``ar1``, the power on shifted
        scenarios), ``critical_rate``, ``seeds_with_critical`` (share of streams
        with any critical alarm), ``median_delay`` (trades from the window start
        to the first alarm, over alarmed windows) and, for the calibrated
        detectors, the mean calibrated thresholds and the bootstrap FAR.
    """
    cfg = EvaluationConfig() if config is None else config
    bad = [s for s in scenarios if s not in SCENARIOS]
    if bad:
        raise ConfigError(f"unknown scenario(s) {bad}; choose from {', '.join(SCENARIOS)}")
    rows = []
    # the streams of every scenario but ar1 share their baseline (same draws):
    # calibrate once per (base rate, seed)
    cache: dict[tuple[int, bool], dict] = {}
    for scenario in scenarios:
        for j, rate in enumerate(cfg.base_rates):
            acc: dict[tuple[str, str], dict[str, list]] = {}
            for i in range(cfg.seeds):
                s = seed + 1000 * j + i
                f = synthetic_stream(
                    cfg.n_trades, base_rate=rate, scenario=scenario, n_baseline=cfg.n_baseline,
                    window=cfg.window, shift=cfg.shift, seed=s,
                )  # fmt: skip
                win = f["win"].to_numpy()
                ret = f["return_pct"].to_numpy()
                bw, br = win[: cfg.n_baseline], ret[: cfg.n_baseline]
                mu = float(bw.mean())
                sd = math.sqrt(mu * (1.0 - mu))
                xw = _windows(win.astype(np.float64), cfg.n_baseline, cfg.window)
                z = (xw - mu) / sd
                ck = (s, scenario == "ar1")
                if ck not in cache:
                    cache[ck] = calibrate_detectors(
                        bw, br, window=cfg.window, n_paths=cfg.n_paths, seed=s
                    )
                cal = cache[ck]
                results = {
                    ("page_hinkley", "calibrated"): (
                        page_hinkley_statistic(
                            z,
                            delta=cal["page_hinkley"].allowance,
                            prior_weight=cal["page_hinkley"].prior_weight,
                        ),
                        cal["page_hinkley"],
                    ),
                    ("cusum", "calibrated"): (
                        cusum_statistic(z, k=cal["cusum"].allowance),
                        cal["cusum"],
                    ),
                }
                for key, (stat, c) in results.items():
                    d = acc.setdefault(key, {"first": [], "crit": [], "h": [], "far": []})
                    d["first"].append(first_crossing(stat, c.warning_threshold))
                    d["crit"].append(first_crossing(stat, c.critical_threshold))
                    d["h"].append(c.warning_threshold)
                    d["far"].append(c.warning_far)
                for key, first in (
                    (("page_hinkley", "river default"), _river_ph_first(xw)),
                    (("cusum", "textbook k=0.5 h=5"), _textbook_cusum_first(z)),
                ):
                    d = acc.setdefault(key, {"first": [], "crit": [], "h": [], "far": []})
                    d["first"].append(first)
            for (det, settings), d in acc.items():
                first = np.concatenate(d["first"])
                crit = np.concatenate(d["crit"]) if d["crit"] else None
                row = {
                    "scenario": scenario,
                    "base_rate": rate,
                    "detector": det,
                    "settings": settings,
                    "seeds": cfg.seeds,
                    "windows": int(first.size),
                    "window": cfg.window,
                    **_summary(first, crit),
                    "seeds_with_critical": (
                        float(np.mean([(c >= 0).any() for c in d["crit"]]))
                        if d["crit"]
                        else math.nan
                    ),
                    "warning_level": DEFAULT_WARNING_LEVEL if d["h"] else math.nan,
                    "critical_level": DEFAULT_CRITICAL_LEVEL if d["h"] else math.nan,
                    "mean_threshold": float(np.mean(d["h"])) if d["h"] else math.nan,
                    "bootstrap_far": float(np.mean(d["far"])) if d["far"] else math.nan,
                }
                rows.append(row)
    return pd.DataFrame(rows)


def family_wise_false_alarms(
    config: EvaluationConfig | None = None,
    *,
    scenario: str = "iid",
    max_windows: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Share of whole checks with any warning/critical finding, per base rate.

    On ``iid`` (the default) that is the family-wise false-alarm rate of one check;
    on a shifted ``scenario`` (every window after the baseline carries the shift) it
    is the power of a whole check, and ``by_metric`` says which tests found it (a
    ``calibration_break`` should be found by the ECE/Brier path).

    Each monitoring window is checked against the stream's baseline with
    :func:`~core.analytics.drift.check.check_against_baseline` (every test,
    the PSI and the calibrated detectors), and the worst severity recorded.

    Parameters
    ----------
    config : EvaluationConfig, optional
    scenario : str, default "iid"
        One of :data:`SCENARIOS`.
    max_windows : int, optional
        Windows checked per stream (all when omitted).
    seed : int, default 0

    Returns
    -------
    DataFrame
        One row per base rate: ``windows``, ``any_warning`` (share of checks with
        any alert), ``any_critical``, ``seeds_with_warning`` / ``seeds_with_critical``
        (share of streams with at least one), and ``by_metric`` (alert share per metric).
    """
    from core.analytics.drift.baseline import baseline_from_trades
    from core.analytics.drift.check import check_against_baseline

    cfg = EvaluationConfig() if config is None else config
    rows = []
    for j, rate in enumerate(cfg.base_rates):
        sev: list[str] = []
        per_metric: dict[str, int] = {}
        critical_metric: dict[str, int] = {}
        seed_warn = seed_crit = 0
        for i in range(cfg.seeds):
            s = seed + 1000 * j + i
            f = synthetic_stream(
                cfg.n_trades, base_rate=rate, scenario=scenario, n_baseline=cfg.n_baseline,
                window=cfg.window, shift=cfg.shift, seed=s,
            )  # fmt: skip
            base = baseline_from_trades(
                f.iloc[: cfg.n_baseline], calibrate=("win",), monitor_window=cfg.window,
                calibration_paths=cfg.n_paths, seed=s,
            )  # fmt: skip
            m = (cfg.n_trades - cfg.n_baseline) // cfg.window
            m = m if max_windows is None else min(m, max_windows)
            stream: list[str] = []
            for k in range(m):
                lo = cfg.n_baseline + k * cfg.window
                report = check_against_baseline(base, f.iloc[lo : lo + cfg.window])
                stream.append(report.severity)
                for a in report.alerts:
                    per_metric[a.metric] = per_metric.get(a.metric, 0) + 1
                    if a.severity == "critical":
                        critical_metric[a.metric] = critical_metric.get(a.metric, 0) + 1
            sev.extend(stream)
            seed_warn += any(x != "ok" for x in stream)
            seed_crit += any(x == "critical" for x in stream)
        n = len(sev)
        rows.append(
            {
                "base_rate": rate,
                "seeds": cfg.seeds,
                "windows": n,
                "any_warning": float(np.mean([x != "ok" for x in sev])),
                "any_critical": float(np.mean([x == "critical" for x in sev])),
                "seeds_with_warning": seed_warn / cfg.seeds,
                "seeds_with_critical": seed_crit / cfg.seeds,
                "scenario": scenario,
                "by_metric": {k: v / n for k, v in sorted(per_metric.items())},
                "critical_by_metric": {k: v / n for k, v in sorted(critical_metric.items())},
            }
        )
    return pd.DataFrame(rows)
