"""The Thresholds page's analysis: sweep, choice, walk-forward judgement, and its chart."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from core import figures
from core.analytics.report import ThresholdAnalysis, analyze_thresholds
from core.analytics.selection import OBJECTIVES
from core.dashboard._common import Mode
from core.dashboard.labels import SWEEP_METRICS
from core.figures.thresholds import SAMPLE_LABELS

__all__ = ["OBJECTIVES", "ThresholdView", "sweep_figure", "threshold_view"]


@dataclass(frozen=True, eq=False)
class ThresholdView:
    """The Thresholds page's analysis (:class:`~core.analytics.report.ThresholdAnalysis`)."""

    analysis: ThresholdAnalysis

    def comparison(self) -> pd.DataFrame:
        """In-sample against out-of-sample figures: one row per sample."""
        frame = self.analysis.sample_comparison().T
        frame.index = [SAMPLE_LABELS.get(i, i) for i in frame.index]
        return frame


def threshold_view(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    mode: Mode = "absolute",
    objective: str = "sharpe",
    min_trades: int = 30,
    cost_bps: float = 0.0,
) -> ThresholdView:
    """Sweep, in-sample choice, walk-forward judgement, PSR, DSR and PBO.

    :func:`core.analytics.report.analyze_thresholds` with bootstrap bands
    (50 replicates above 200,000 trades, 200 below).
    """
    n_boot = 200 if len(trades) <= 200_000 else 50
    return ThresholdView(
        analyze_thresholds(
            trades,
            key=key,
            mode=mode,
            objective=objective,
            min_trades=min_trades,  # type: ignore[arg-type]
            cost_bps=cost_bps,
            n_boot=n_boot,
        )
    )


def sweep_figure(
    view: ThresholdView, *, metric: str = "sharpe", current: float | None = None
) -> go.Figure:
    """:func:`core.figures.sweep_chart` with the slider's threshold marked."""
    a = view.analysis
    fig = figures.sweep_chart(
        a.sweep,
        metric=metric,
        choice=a.choice,
        oos=a.walk_forward,
        title=f"Threshold sweep: {SWEEP_METRICS.get(metric, metric)}",
    )
    if current is not None and math.isfinite(current):
        fig.add_vline(
            x=current,
            line={"color": "#e8590c", "dash": "dot", "width": 2},
            annotation_text=f"slider {current:g}",
            annotation_position="top left",
        )
    return fig
