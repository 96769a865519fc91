"""Shared look of every Signal Lab figure: colours, labels, layout, downsampling."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

#: Colours (colour-blind safe pairs: blue/orange, green/red only with a shape or sign).
BLUE = "#1f6feb"
ORANGE = "#e8590c"
GREY = "#8c959f"
GREEN = "#2da44e"
RED = "#cf222e"
PURPLE = "#8250df"
AMBER = "#bf8700"
PALETTE: tuple[str, ...] = (BLUE, ORANGE, GREEN, PURPLE, RED, AMBER, "#1b7c83")
BAND = "rgba(31,111,235,0.16)"

#: How the confidence keys read on a chart.
KEY_LABELS: dict[str, str] = {
    "confidence": "Confidence",
    "calibrated_probability": "Calibrated probability",
}

#: Most points a line trace carries (longer series are thinned evenly).
MAX_POINTS = 5_000


def key_label(key: str) -> str:
    """Chart label of a confidence key (the key itself when unknown)."""
    return KEY_LABELS.get(key, key)


def finish(fig: go.Figure, title: str, *, height: int = 460) -> go.Figure:
    """Title (left, as SVG ``.gtitle``), white template, legend below, margins."""
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left"},
        template="plotly_white",
        height=height,
        margin={"l": 70, "r": 70, "t": 60, "b": 60},
        legend={"orientation": "h", "yanchor": "top", "y": -0.16, "x": 0.0},
        hoverlabel={"namelength": -1},
    )
    return fig


def thin(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spaced rows of ``n``, first and last kept."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def finite_or_nan(values: np.ndarray) -> np.ndarray:
    """``values`` as float64 with +/-inf replaced by NaN (plotly cannot draw inf)."""
    a = np.asarray(values, dtype=np.float64).copy()
    a[~np.isfinite(a)] = np.nan
    return a
