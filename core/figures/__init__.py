"""Plotly figure builders: pure functions of analytics results (no Streamlit).

Every builder returns a :class:`plotly.graph_objects.Figure` with a title,
axis titles with units and hover text carrying the numbers. The dashboard
pages and the HTML report draw the same figures.

=================================  ==================================================
builder                            input
=================================  ==================================================
:func:`reliability_diagram`        ``ReliabilityCurve`` (+ the scores to histogram)
:func:`decile_bars`                ``BinTable`` (deciles or fixed bins)
:func:`calibrator_comparison`      ``{name: ReliabilityCurve}``
:func:`confidence_over_time`       a trades frame
:func:`sweep_chart`                ``SweepResult`` (+ ``ThresholdChoice``, walk-forward)
:func:`equity_curves`              equity per book, date index
:func:`sample_comparison_chart`    in-sample / out-of-sample table
:func:`drift_chart`                ``rolling_drift`` frame, its baseline and thresholds
=================================  ==================================================
"""

from core.figures.confidence import (
    calibrator_comparison,
    confidence_over_time,
    decile_bars,
    reliability_diagram,
)
from core.figures.drift import drift_chart
from core.figures.thresholds import (
    SWEEP_METRICS,
    equity_curves,
    sample_comparison_chart,
    sweep_chart,
)

__all__ = [
    "SWEEP_METRICS",
    "calibrator_comparison",
    "confidence_over_time",
    "decile_bars",
    "drift_chart",
    "equity_curves",
    "reliability_diagram",
    "sample_comparison_chart",
    "sweep_chart",
]
