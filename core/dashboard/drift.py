"""The Drift page: the baseline of the run's signal, windows against it, checks and alerts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from core import figures
from core.analytics.drift import DriftBaseline, DriftThresholds, rolling_drift
from core.dashboard._common import md_text
from core.dashboard.labels import KEY_LABELS
from core.errors import DriftError
from core.learning import LearningEngine
from core.lifecycle.drift import BaselineStatus, DriftCheck
from core.store.drift import BaselineRecord
from core.trades import validate_trades

__all__ = [
    "DriftThresholds",
    "DriftTimeline",
    "acknowledge_alert",
    "alerts_table",
    "baseline_record",
    "baseline_status",
    "check_window",
    "default_window",
    "describe_baseline",
    "drift_figure",
    "drift_table",
    "drift_timeline",
    "set_baseline",
]


def baseline_status(engine: LearningEngine, run_id: str) -> BaselineStatus:
    """Which baseline the run is checked against (its own signal's), or why none."""
    return engine.drift.status(run_id)


def set_baseline(
    engine: LearningEngine,
    *,
    run_id: str,
    trades: pd.DataFrame,
    months: int | None = None,
    share: float | None = None,
    key: str = "confidence",
    thresholds: DriftThresholds | None = None,
) -> BaselineRecord:
    """Make the run's first ``months`` (or ``share`` of its trades) its signal's baseline."""
    usable = validate_trades(trades, key=key)
    return engine.drift.set_baseline_from_run(
        run_id, months=months, share=share, key=key, trades=usable, thresholds=thresholds
    )


def baseline_record(engine: LearningEngine, signal: str) -> BaselineRecord | None:
    """The active baseline record of ``signal``, or None when it has none."""
    try:
        return engine.drift.baseline_record(signal)
    except DriftError:
        return None


def describe_baseline(status: BaselineStatus, *, run_label: str | None = None) -> str:
    """The baseline in force, for the top of the Drift page (Markdown, user strings escaped)."""
    record = status.record
    if record is None:
        return md_text(status.reason)
    when = ""
    if record.window_start is not None and record.window_end is not None:
        when = f", {record.window_start:%Y-%m-%d} → {record.window_end:%Y-%m-%d}"
    source = md_text(run_label) if run_label else md_text(record.run_id)
    return (
        f"Baseline in force: signal **{md_text(status.signal)}** (#{record.id}) — "
        f"{record.n:,} trades of run {source}{when}, on "
        f"{KEY_LABELS.get(record.key, record.key).lower()}; set {record.created:%Y-%m-%d %H:%M} UTC."
    )


def default_window(n_trades: int) -> int:
    """Trades per drift window: an eighth of the run, between 100 and 2,000, a multiple of 10.

    Fewer than about 100 trades make the PSI of 10 bins noise.
    """
    return int(min(max(round(n_trades / 8, -1), 100), 2000))


@dataclass(frozen=True, eq=False)
class DriftTimeline:
    """Drift statistics of a run, window by window, against one baseline.

    ``frame`` is :func:`~core.analytics.drift.rolling_drift`'s output;
    ``baseline_end`` the last entry time of the baseline when it comes from
    the same run (drawn as a line), else None.
    """

    baseline: DriftBaseline
    frame: pd.DataFrame
    thresholds: DriftThresholds
    baseline_end: pd.Timestamp | None = None


def drift_timeline(
    trades: pd.DataFrame,
    record: Any,
    *,
    window: int | str = 500,
    thresholds: DriftThresholds | None = None,
    run_id: str | None = None,
    min_trades: int = 30,
) -> DriftTimeline:
    """The run's windows against a stored baseline (:func:`rolling_drift`)."""
    baseline = DriftBaseline.from_dict(record.baseline)
    t = thresholds if thresholds is not None else DriftThresholds.from_dict(record.thresholds)
    frame = rolling_drift(
        trades, baseline, window=window, key=baseline.key, thresholds=t, min_trades=min_trades
    )
    same = run_id is not None and run_id == record.run_id
    return DriftTimeline(
        baseline=baseline, frame=frame, thresholds=t, baseline_end=baseline.end if same else None
    )


def drift_table(timeline: DriftTimeline) -> pd.DataFrame:
    """The per-window statistics worth a table (win rate in %)."""
    f = timeline.frame
    cols = ["window_start", "window_end", "n_trades", "partial", "in_baseline", "psi", "ks_p",
            "win_rate", "brier", "ece", "mean_return", "sharpe", "severity"]  # fmt: skip
    out = f[[c for c in cols if c in f]].copy()
    if "win_rate" in out:
        out["win_rate"] = out["win_rate"] * 100.0
    return out


def check_window(
    engine: LearningEngine,
    *,
    run_id: str,
    start: Any,
    end: Any,
    trades: pd.DataFrame | None = None,
    thresholds: DriftThresholds | None = None,
) -> tuple[DriftCheck, pd.DataFrame]:
    """Check a run's window ``[start, end)`` against its signal's baseline; store alerts.

    Returns the :class:`~core.lifecycle.drift.DriftCheck` and its findings as a
    table (metric, baseline, current, statistic, p-value, severity, message).
    """
    check = engine.drift.check_run(
        run_id, window=(start, end), trades=trades, thresholds=thresholds
    )
    findings = check.report.to_frame()
    keep = ["metric", "baseline_value", "current_value", "statistic", "p_value", "severity",
            "message"]  # fmt: skip
    return check, findings[[c for c in keep if c in findings]]


_ALERT_COLUMNS = ("id", "created", "model_name", "metric", "severity", "message", "run_id",
                  "window_start", "window_end", "acknowledged")  # fmt: skip


def alerts_table(
    engine: LearningEngine, *, signal: str | None = None, limit: int | None = None
) -> pd.DataFrame:
    """Stored drift alerts (of one ``signal`` when given), newest first."""
    frame = engine.drift.alerts(signal, limit=limit)
    return frame[[c for c in _ALERT_COLUMNS if c in frame]]


def acknowledge_alert(engine: LearningEngine, alert_id: Any) -> Any:
    """Mark a stored alert acknowledged."""
    return engine.drift.acknowledge(int(alert_id))


def drift_figure(timeline: DriftTimeline) -> go.Figure:
    """:func:`core.figures.drift_chart` of a timeline: PSI, KS p-value, win rate, Brier, ECE."""
    return figures.drift_chart(
        timeline.frame,
        timeline.baseline,
        timeline.thresholds,
        baseline_end=timeline.baseline_end,
    )
