"""The Thresholds page's analysis: sweep, choice, walk-forward judgement, and its chart.

The sweep chart depends on the analysis and the metric shown, not on the slider:
:func:`sweep_figure_spec` draws it once (through :func:`core.figures.sweep_chart`)
as a plain dict, and :func:`light_sweep_figure` adds the slider's marker on each
move without plotly's validation (which took 60-120 ms a move; this takes about
2 ms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from core import figures
from core.analytics.report import ThresholdAnalysis, analyze_thresholds
from core.analytics.selection import OBJECTIVES
from core.dashboard._common import Mode
from core.dashboard.labels import SWEEP_METRICS
from core.figures.thresholds import SAMPLE_LABELS

__all__ = [
    "OBJECTIVES",
    "ThresholdView",
    "light_sweep_figure",
    "sweep_figure",
    "sweep_figure_spec",
    "threshold_view",
]

#: The slider's marker on the sweep chart (a dotted orange line, labelled at the top).
_MARKER_LINE = {"color": "#e8590c", "dash": "dot", "width": 2}


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
            line=_MARKER_LINE,
            annotation_text=f"slider {current:g}",
            annotation_position="top left",
        )
    return fig


def sweep_figure_spec(view: ThresholdView, *, metric: str = "sharpe") -> dict[str, Any]:
    """:func:`sweep_figure` without a marker, as plotly JSON types (``data``, ``layout``).

    Draw it once per (analysis, metric); :func:`light_sweep_figure` marks the
    slider on it. The returned dict is meant to be cached and never mutated.
    """
    spec = sweep_figure(view, metric=metric).to_plotly_json()
    return {"data": spec["data"], "layout": spec["layout"]}


def light_sweep_figure(spec: dict[str, Any], *, current: float | None = None) -> go.Figure:
    """The sweep chart of :func:`sweep_figure_spec` with the slider's threshold marked.

    The same figure as ``sweep_figure(view, metric=..., current=current)`` (the
    vertical line and its label on the first x axis), built from plain dicts
    with ``_validate=False``; ``spec`` is not modified.
    """
    layout = dict(spec["layout"])
    if current is not None and math.isfinite(current):
        x = float(current)
        line = {"type": "line", "line": _MARKER_LINE, "x0": x, "x1": x, "xref": "x",
                "y0": 0, "y1": 1, "yref": "y domain"}  # fmt: skip
        note = {"showarrow": False, "text": f"slider {current:g}", "x": x, "xanchor": "right",
                "xref": "x", "y": 1, "yanchor": "top", "yref": "y domain"}  # fmt: skip
        layout["shapes"] = [*layout.get("shapes", ()), line]
        layout["annotations"] = [*layout.get("annotations", ()), note]
    return go.Figure({"data": spec["data"], "layout": layout}, _validate=False)
