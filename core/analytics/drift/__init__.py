"""Is the signal still working? Drift between a baseline window and a current window.

Three kinds of drift are measured, all from trades frames (see :mod:`core.trades`):

- the **confidence distribution** (population stability index, two-sample
  Kolmogorov-Smirnov test) — the model scores differently;
- **realised performance** (win rate, mean return, per-trade Sharpe, each with a
  one-sided test for a drop) and **calibration** (Brier score, ECE) — the scores
  mean something else now;
- **streaming detectors** (Page-Hinkley, CUSUM from :mod:`core.analytics.drift.detectors`)
  run over the current window's outcomes in time order — *when* it went wrong.

A baseline is stored compactly as a :class:`DriftBaseline` (a
:class:`DistributionSummary` of the confidence plus performance figures; JSON
through ``to_dict``/``from_dict``) so a later check needs only the current trades:
:func:`baseline_from_trades` then :func:`check_against_baseline`.
:func:`compare_windows` does both at once from two trades frames (and runs the KS
test on the raw baseline values). :func:`rolling_drift` walks a run window by
window for the dashboard's time series.

Each statistic becomes a :class:`DriftFinding` with a severity (``"ok"``,
``"warning"``, ``"critical"``) set by :class:`DriftThresholds`; a
:class:`DriftReport` holds them and lists the ``alerts`` (severity not ``"ok"``).

Units: ``return_pct`` in percent; win rates, PSI, Brier and ECE as fractions;
Sharpe per trade, not annualised (docs/architecture.md).

Modules (everything public is re-exported here):

- :mod:`~core.analytics.drift.distribution` — :class:`DistributionSummary`,
  :func:`summarize_distribution`, :func:`confidence_histogram`,
  :func:`population_stability_index`, :func:`ks_test`;
- :mod:`~core.analytics.drift.significance` — :func:`win_rate_change` and the
  one-sided Welch t-test;
- :mod:`~core.analytics.drift.thresholds` — :data:`METRICS`,
  :class:`DriftThresholds` and its ``severity``;
- :mod:`~core.analytics.drift.report` — :class:`DriftFinding`, :class:`DriftReport`;
- :mod:`~core.analytics.drift.windows` — validated trades windows,
  ``DEFAULT_MIN_TRADES``;
- :mod:`~core.analytics.drift.baseline` — :class:`DriftBaseline`,
  :func:`baseline_from_trades`, the per-bin calibration map;
- :mod:`~core.analytics.drift.check` — :func:`check_against_baseline`,
  :func:`compare_windows`, :func:`default_detectors`;
- :mod:`~core.analytics.drift.rolling` — :func:`rolling_drift`.
"""

from __future__ import annotations

from core.analytics.drift.baseline import DriftBaseline, baseline_from_trades
from core.analytics.drift.check import (
    check_against_baseline,
    compare_windows,
    default_detectors,
)
from core.analytics.drift.distribution import (
    DistributionSummary,
    KSResult,
    confidence_histogram,
    ks_test,
    population_stability_index,
    summarize_distribution,
)
from core.analytics.drift.report import DriftFinding, DriftReport
from core.analytics.drift.rolling import rolling_drift
from core.analytics.drift.significance import WinRateChange, win_rate_change
from core.analytics.drift.thresholds import METRICS, DriftThresholds
from core.analytics.drift.thresholds import Severity as Severity
from core.analytics.drift.windows import DEFAULT_MIN_TRADES as DEFAULT_MIN_TRADES

__all__ = [
    "METRICS",
    "DistributionSummary",
    "DriftBaseline",
    "DriftFinding",
    "DriftReport",
    "DriftThresholds",
    "KSResult",
    "WinRateChange",
    "baseline_from_trades",
    "check_against_baseline",
    "compare_windows",
    "confidence_histogram",
    "default_detectors",
    "ks_test",
    "population_stability_index",
    "rolling_drift",
    "summarize_distribution",
    "win_rate_change",
]
