"""Drift checks: current trades against a stored baseline, or two windows compared.

:func:`check_against_baseline` and :func:`compare_windows` build a
:class:`~core.analytics.drift.report.DriftReport` from the performance
findings (PSI, KS, win rate, Brier, ECE, mean return, Sharpe) and the streaming
detectors' findings (:func:`default_detectors` unless given).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from core.analytics.calibration import brier_score, expected_calibration_error
from core.errors import ConfigError, DriftError
from core.analytics.drift.detectors import CUSUM, DriftDetector, PageHinkley, detect_changes
from core.analytics.drift._common import _f, _sharpe, _time
from core.analytics.drift.baseline import (
    DriftBaseline,
    _baseline_from_window,
    _calibration_map_test,
)
from core.analytics.drift.distribution import ks_test, population_stability_index
from core.analytics.drift.report import DriftFinding, DriftReport
from core.analytics.drift.significance import _welch_less, win_rate_change
from core.analytics.drift.thresholds import DriftThresholds
from core.analytics.drift.windows import (
    DEFAULT_MIN_TRADES,
    _check_min_trades,
    _Window,
    _window,
)


def default_detectors() -> dict[str, DriftDetector]:
    """Detectors run by :func:`check_against_baseline` when none are given.

    They see the outcome standardised by the baseline, ``z = (x − μ_b) / σ_b``
    (for wins ``σ_b = sqrt(p_b (1 − p_b))``), so settings are in standard
    deviations: both watch for a drop, with a reference value of 0 (the baseline).
    ``k = δ = 0.1`` and ``h = λ = 30`` target a shift of 0.2 σ (a win rate falling
    from 0.55 to 0.45), found after about 260 trades on average, with an
    in-control average run length of about 25 000 trades (Siegmund's approximation
    for normal data; an estimated baseline mean shortens it).

    Returns
    -------
    dict of str to DriftDetector
        ``{"page_hinkley": PageHinkley(...), "cusum": CUSUM(...)}``.
    """
    return {
        "page_hinkley": PageHinkley(delta=0.1, threshold=30.0, mode="down"),
        "cusum": CUSUM(k=0.1, h=30.0, mode="down"),
    }


def _seeded(detector: DriftDetector, *, n_baseline: int) -> DriftDetector:
    """A fresh copy of ``detector`` with its unset reference taken from the baseline."""
    if not isinstance(detector, DriftDetector):
        raise ConfigError(
            f"detectors must map names to DriftDetector instances, got {type(detector).__name__}"
        )
    settings = detector.to_dict()
    if isinstance(detector, PageHinkley) and detector.prior_mean is None:
        settings.update(prior_mean=0.0, prior_weight=float(n_baseline))
    if isinstance(detector, CUSUM):
        settings.update(
            target=0.0 if detector.target is None else detector.target,
            sigma=1.0 if detector.sigma is None else detector.sigma,
        )
    return type(detector).from_dict(settings)


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f} %"


def _p(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.3g}"


def _performance_findings(
    baseline: DriftBaseline,
    w: _Window,
    t: DriftThresholds,
    *,
    raw_baseline: np.ndarray | None,
) -> list[DriftFinding]:
    key, n_b = baseline.key, baseline.n
    mean_b, mean_c = baseline.distribution.mean, float(w.conf.mean())

    psi = population_stability_index(baseline.distribution, w.conf)
    psi_msg = (
        f"PSI of {key} = {psi:.3f} (warning >= {t.psi_warning:g}, critical >= "
        f"{t.psi_critical:g}); mean {key} {mean_b:.3f} -> {mean_c:.3f}"
    )
    ks = ks_test(baseline.distribution if raw_baseline is None else raw_baseline, w.conf)
    ks_msg = f"KS distance of {key} = {ks.statistic:.3f}, p = {_p(ks.p_value)}" + (
        " (from the stored quantiles)" if ks.approximate else ""
    )

    wr = win_rate_change(round(baseline.win_rate * n_b), n_b, int(w.win.sum()), w.n)
    wr_msg = (
        f"win rate {_pct(wr.baseline_rate)} -> {_pct(wr.current_rate)} "
        f"({100 * wr.difference:+.1f} pts), one-sided {wr.method} test p = {_p(wr.p_value)}"
    )

    sq = (w.conf - w.win) ** 2
    brier = float(brier_score(w.conf, w.win))
    # a rise in Brier is a drop in -Brier: test "baseline < current" as "-current < -baseline"
    _, p_brier = _welch_less(-brier, float(sq.std(ddof=1)), w.n, -baseline.brier,
                             baseline.brier_std, n_b)  # fmt: skip
    d_brier = brier - baseline.brier
    brier_msg = (
        f"Brier score of {key} {baseline.brier:.4f} -> {brier:.4f} ({d_brier:+.4f}), "
        f"one-sided Welch t-test p = {_p(p_brier)}"
    )
    ece = float(expected_calibration_error(w.conf, w.win, n_bins=baseline.ece_bins))
    d_ece = ece - baseline.ece
    # The plug-in ECE is biased upwards on small windows, so a window drawn like the
    # baseline would often show a higher ECE. An ECE rise alerts only when the
    # calibration map itself changed significantly: the current window's wins per
    # bin are tested against the baseline's win rate per bin (a chi-square test).
    chi2, p_ece = _calibration_map_test(baseline, w)
    ece_msg = (
        f"ECE ({baseline.ece_bins} bins) of {key} {baseline.ece:.4f} -> {ece:.4f} ({d_ece:+.4f}); "
        f"calibration-map change chi-square {chi2:.1f}, p = {_p(p_ece)}"
    )

    mean_r, std_r = float(w.ret.mean()), float(w.ret.std(ddof=1))
    t_ret, p_ret = _welch_less(mean_r, std_r, w.n, baseline.mean_return, baseline.return_std, n_b)
    ret_msg = (
        f"mean return {baseline.mean_return:+.3f} % -> {mean_r:+.3f} %, one-sided Welch "
        f"t-test p = {_p(p_ret)}"
    )

    s_b, s_c = baseline.sharpe, _sharpe(mean_r, std_r)
    z_s = p_s = math.nan
    sharpe_msg = "per-trade Sharpe undefined (constant returns in a window)"
    if math.isfinite(s_b) and math.isfinite(s_c):
        se = math.sqrt((1.0 + 0.5 * s_b**2) / n_b + (1.0 + 0.5 * s_c**2) / w.n)
        z_s = (s_c - s_b) / se
        p_s = float(stats.norm.cdf(z_s))
        sharpe_msg = f"per-trade Sharpe {s_b:.3f} -> {s_c:.3f}, one-sided z-test p = {_p(p_s)}"

    rows = [
        ("psi", mean_b, mean_c, psi, None, t.severity("psi", psi), psi_msg),
        ("ks", mean_b, mean_c, ks.statistic, ks.p_value, t.severity("ks", ks.p_value), ks_msg),
        ("win_rate", wr.baseline_rate, wr.current_rate, wr.statistic, wr.p_value,
         t.severity("win_rate", wr.p_value, drop=-wr.difference), wr_msg),
        ("brier", baseline.brier, brier, d_brier, p_brier,
         t.severity("brier", d_brier, p_value=_f(p_brier)), brier_msg),
        ("ece", baseline.ece, ece, d_ece, p_ece,
         t.severity("ece", d_ece, p_value=_f(p_ece)), ece_msg),
        ("mean_return", baseline.mean_return, mean_r, t_ret, p_ret,
         t.severity("mean_return", p_ret, drop=baseline.mean_return - mean_r), ret_msg),
        ("sharpe", s_b, s_c, z_s, p_s, t.severity("sharpe", p_s, drop=s_b - s_c), sharpe_msg),
    ]  # fmt: skip
    return [
        DriftFinding(m, _f(b), _f(c), _f(st), _f(p), sev, msg) for m, b, c, st, p, sev, msg in rows
    ]


def _detector_findings(
    baseline: DriftBaseline,
    w: _Window,
    t: DriftThresholds,
    detectors: Mapping[str, DriftDetector],
    outcome: str,
) -> list[DriftFinding]:
    if outcome == "win":
        mu = baseline.win_rate
        sd = math.sqrt(mu * (1.0 - mu))
        x = w.win.astype(np.float64)
        suffix = "win"
    else:
        mu, sd = baseline.mean_return, baseline.return_std
        x = w.ret
        suffix = "return"
    current_mean = float(x.mean())
    out: list[DriftFinding] = []
    for name, template in detectors.items():
        metric = f"{name}_{suffix}"
        detector = _seeded(template, n_baseline=baseline.n)
        if not sd > 0:
            msg = f"{name} not run: the baseline {outcome} has no variation to standardise by"
            out.append(DriftFinding(metric, mu, current_mean, None, None, "ok", msg))
            continue
        hits = detect_changes(detector, (x - mu) / sd)
        sev = t.severity("detector", len(hits))
        first = hits[0] if hits else None
        when = _time(w.times[first]) if first is not None and w.times is not None else None
        msg = (
            f"{name} found no change in {outcome} over {w.n} trades"
            if not hits
            else f"{name} signalled a change in {outcome} {len(hits)} time(s); first at trade "
            f"{first}" + (f" ({when.isoformat()})" if when is not None else "")
        )
        out.append(
            DriftFinding(metric, mu, current_mean, float(len(hits)), None, sev, msg, first, when)
        )
    return out


def _check(
    baseline: DriftBaseline,
    w: _Window,
    *,
    thresholds: DriftThresholds,
    detectors: Mapping[str, DriftDetector] | None,
    outcome: str,
    raw_baseline: np.ndarray | None,
    run_detectors: bool = True,
) -> DriftReport:
    if not isinstance(thresholds, DriftThresholds):
        raise ConfigError(f"thresholds must be a DriftThresholds, got {type(thresholds).__name__}")
    if outcome not in ("win", "return_pct"):
        raise ConfigError(f"outcome must be 'win' or 'return_pct', got {outcome!r}")
    findings = _performance_findings(baseline, w, thresholds, raw_baseline=raw_baseline)
    if run_detectors:
        dets = default_detectors() if detectors is None else detectors
        if not isinstance(dets, Mapping):
            raise ConfigError(
                "detectors must be a mapping of name to DriftDetector, e.g. "
                "{'page_hinkley': PageHinkley(mode='down')}, or None for the defaults"
            )
        findings += _detector_findings(baseline, w, thresholds, dets, outcome)
    return DriftReport(
        key=baseline.key,
        n_baseline=baseline.n,
        n_current=w.n,
        findings=tuple(findings),
        current_start=_time(w.times[0]) if w.times is not None else None,
        current_end=_time(w.times[-1]) if w.times is not None else None,
        thresholds=thresholds,
    )


def check_against_baseline(
    baseline: DriftBaseline,
    current_trades: pd.DataFrame,
    *,
    key: str | None = None,
    thresholds: DriftThresholds | None = None,
    detectors: Mapping[str, DriftDetector] | None = None,
    outcome: Literal["win", "return_pct"] = "win",
    min_trades: int = DEFAULT_MIN_TRADES,
) -> DriftReport:
    """Check current trades against a stored baseline.

    Findings, in order:

    ``psi``, ``ks``
        The current ``key`` values against the stored distribution (KS from the
        stored quantiles; see :func:`ks_test`).
    ``win_rate``
        :func:`win_rate_change`, one-sided for a drop.
    ``brier``, ``ece``
        Increase of the Brier score (with the p-value of a one-sided Welch t-test
        on the per-trade squared errors) and of the ECE (same bins as the baseline).
    ``mean_return``
        One-sided Welch t-test for a drop in mean ``return_pct`` (from the stored
        mean, standard deviation and count).
    ``sharpe``
        One-sided z-test for a drop in per-trade Sharpe with the iid standard
        error ``sqrt((1 + S²/2) / n)`` of each window (Lo 2002).
    ``<detector>_win`` (or ``_return``)
        Each streaming detector run over the current window in time order on
        the outcome standardised by the baseline (``z = (x − μ_b)/σ_b``); a
        Page-Hinkley without a prior gets the baseline mean (0) with the baseline's
        size as weight, a CUSUM without target/sigma gets 0 and 1. The statistic is
        the number of detections; ``detected_at``/``detected_time`` the first.

    Parameters
    ----------
    baseline : DriftBaseline
        From :func:`baseline_from_trades` (or :meth:`DriftBaseline.from_dict`).
    current_trades : DataFrame
        Trades frame of the current window.
    key : str, optional
        Must equal ``baseline.key`` if given (a baseline summarises one column).
    thresholds : DriftThresholds, optional
        Severity levels; the documented defaults when omitted.
    detectors : mapping of str to DriftDetector, optional
        Templates (copied, never mutated); :func:`default_detectors` when omitted,
        ``{}`` for none.
    outcome : {"win", "return_pct"}, default "win"
        Per-trade series the detectors watch.
    min_trades : int, default 30
        Fewest usable current trades accepted.

    Returns
    -------
    DriftReport

    Raises
    ------
    DriftError
        ``baseline`` is not a DriftBaseline or ``key`` differs from its key.
    TradesFrameError, InsufficientDataError
        The current trades are unusable or too few.

    References
    ----------
    A. W. Lo, "The statistics of Sharpe ratios", Financial Analysts Journal 58
    (2002) 36-52. B. L. Welch, "The generalization of Student's problem when
    several different population variances are involved", Biometrika 34 (1947) 28-35.
    """
    if not isinstance(baseline, DriftBaseline):
        raise DriftError(
            f"baseline must be a DriftBaseline, got {type(baseline).__name__}; build one "
            "with baseline_from_trades() or DriftBaseline.from_dict()"
        )
    if key is not None and key != baseline.key:
        raise DriftError(
            f"the baseline summarises {baseline.key!r}, not {key!r}; set a baseline for "
            f"{key!r} or check with key={baseline.key!r}"
        )
    min_trades = _check_min_trades(min_trades)
    w = _window(current_trades, key=baseline.key, min_trades=min_trades, label="current")
    return _check(
        baseline,
        w,
        thresholds=DriftThresholds() if thresholds is None else thresholds,
        detectors=detectors,
        outcome=outcome,
        raw_baseline=None,
    )


def compare_windows(
    baseline_trades: pd.DataFrame,
    current_trades: pd.DataFrame,
    *,
    key: str = "confidence",
    thresholds: DriftThresholds | None = None,
    detectors: Mapping[str, DriftDetector] | None = None,
    outcome: Literal["win", "return_pct"] = "win",
    min_trades: int = DEFAULT_MIN_TRADES,
) -> DriftReport:
    """Compare two trades frames: a baseline window and a current window.

    The same as ``check_against_baseline(baseline_from_trades(baseline_trades,
    key=key), current_trades, ...)`` except that the KS test uses the raw
    baseline values (:func:`scipy.stats.ks_2samp`) instead of stored quantiles.

    Parameters
    ----------
    baseline_trades, current_trades : DataFrame
        Trades frames (:mod:`core.trades`).
    key, thresholds, detectors, outcome, min_trades
        As :func:`check_against_baseline`.

    Returns
    -------
    DriftReport

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> def trades(n, p_win):
    ...     win = rng.random(n) < p_win
    ...     ret = np.where(win, 1.0, -1.0) * rng.uniform(0.5, 1.5, n)
    ...     return pd.DataFrame({"confidence": rng.beta(2, 5, n), "return_pct": ret,
    ...                          "win": ret > 0})
    >>> report = compare_windows(trades(2000, 0.55), trades(1000, 0.45))
    >>> [f.metric for f in report.alerts]  # doctest: +NORMALIZE_WHITESPACE
    ['win_rate', 'mean_return', 'sharpe', 'page_hinkley_win', 'cusum_win']
    >>> report.finding("cusum_win").detected_at  # position in the current window
    111
    """
    min_trades = _check_min_trades(min_trades)
    wb = _window(baseline_trades, key=key, min_trades=min_trades, label="baseline")
    wc = _window(current_trades, key=key, min_trades=min_trades, label="current")
    baseline = _baseline_from_window(wb, key=key, bins=10, n_quantiles=1001, ece_bins=10)
    return _check(
        baseline,
        wc,
        thresholds=DriftThresholds() if thresholds is None else thresholds,
        detectors=detectors,
        outcome=outcome,
        raw_baseline=wb.conf,
    )
