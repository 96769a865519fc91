"""Figures of "is the signal still working?": a run's drift, window by window.

Pure functions of :func:`core.analytics.drift.rolling_drift` output and
of the baseline and thresholds it was measured against; nothing is computed
here but the warning and critical levels (a Brier or ECE level is the
baseline's value plus the allowed increase). Win rates are drawn in percent;
PSI, KS p-values, Brier scores and ECE as they are.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.analytics.drift import DriftBaseline, DriftThresholds
from core.errors import ConfigError
from core.figures._style import AMBER, BLUE, GREEN, GREY, RED, finish, finite_or_nan, key_label

__all__ = ["drift_chart"]


class _Panel(NamedTuple):
    title: str
    name: str
    scale: float
    severity: str


#: Panels of :func:`drift_chart`, top to bottom: column of the ``rolling_drift``
#: frame -> subplot title (with unit), hover name, scale to the unit and
#: severity column.
_PANELS: dict[str, _Panel] = {
    "psi": _Panel("PSI of the score (higher: more shift)", "PSI", 1.0, "psi_severity"),
    "ks_p": _Panel("KS test p-value (lower: more shift)", "KS p-value", 1.0, "ks_severity"),
    "win_rate": _Panel("Win rate (%)", "Win rate (%)", 100.0, "win_rate_severity"),
    "brier": _Panel("Brier score", "Brier score", 1.0, "brier_severity"),
    "ece": _Panel("ECE (probability)", "ECE", 1.0, "ece_severity"),
}

_SEVERITY_COLOURS: dict[str, str] = {"ok": BLUE, "warning": AMBER, "critical": RED}


def drift_chart(
    frame: pd.DataFrame,
    baseline: DriftBaseline,
    thresholds: DriftThresholds,
    *,
    baseline_end: pd.Timestamp | None = None,
    title: str | None = None,
) -> go.Figure:
    """PSI, KS p-value, win rate, Brier and ECE per window, with warning/critical lines.

    Parameters
    ----------
    frame : DataFrame
        From :func:`core.analytics.drift.rolling_drift`: one row per
        window with ``window_start``, ``window_end``, ``n``, ``psi``, ``ks_p``,
        ``win_rate``, ``brier``, ``ece`` and, when present, the
        ``<metric>_severity`` columns (a missing one reads ``"ok"``).
    baseline : DriftBaseline
        What the windows were measured against: its win rate, Brier and ECE
        are drawn as dotted lines, and the Brier and ECE levels are relative
        to it.
    thresholds : DriftThresholds
        The warning and critical levels, drawn as dashed lines (amber, red).
    baseline_end : Timestamp, optional
        Last entry time of the baseline when it comes from the same run: a
        dotted vertical line on every panel.
    title : str, optional

    Returns
    -------
    Figure
        One panel per metric sharing the time axis (window end); one line
        trace per panel, its markers coloured by the window's severity (blue
        ok, amber warning, red critical).
    """
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(f"frame must be a rolling_drift DataFrame, got {type(frame).__name__}")
    missing = [c for c in ("window_start", "window_end", "n", *_PANELS) if c not in frame]
    if missing:
        raise ConfigError(f"frame lacks the rolling_drift columns {missing}")
    f = frame
    t = thresholds
    b = baseline
    fig = make_subplots(
        rows=len(_PANELS), cols=1, shared_xaxes=True, vertical_spacing=0.05,
        subplot_titles=[p.title for p in _PANELS.values()],
    )  # fmt: skip
    levels: dict[str, tuple[float, float]] = {
        "psi": (t.psi_warning, t.psi_critical),
        "ks_p": (t.ks_p_warning, t.ks_p_critical),
        "brier": (b.brier + t.brier_warning, b.brier + t.brier_critical),
        "ece": (b.ece + t.ece_warning, b.ece + t.ece_critical),
    }
    base_values = {"win_rate": b.win_rate * 100.0, "brier": b.brier, "ece": b.ece}
    starts = pd.to_datetime(f["window_start"], utc=True).dt.strftime("%Y-%m-%d %H:%M")
    for i, (col, p) in enumerate(_PANELS.items(), start=1):
        sev = f[p.severity] if p.severity in f else pd.Series("ok", index=f.index)
        y = finite_or_nan(f[col].to_numpy(dtype=np.float64)) * p.scale
        custom = np.empty((len(f), 3), dtype=object)
        custom[:, 0] = f["n"].to_numpy()
        custom[:, 1] = sev.to_numpy()
        custom[:, 2] = starts.to_numpy()
        fig.add_trace(
            go.Scatter(
                x=f["window_end"], y=y, mode="lines+markers", name=p.name, showlegend=False,
                line={"color": BLUE},
                marker={"color": [_SEVERITY_COLOURS.get(s, BLUE) for s in sev], "size": 7},
                customdata=custom,
                hovertemplate=(
                    f"<b>{p.name}: %{{y:.4g}}</b><br>"
                    "window %{customdata[2]} → %{x|%Y-%m-%d %H:%M} UTC<br>"
                    "%{customdata[0]:,} trades · %{customdata[1]}<extra></extra>"
                ),
            ),
            row=i, col=1,
        )  # fmt: skip
        if col in levels:
            warn, crit = levels[col]
            fig.add_hline(y=warn, line={"color": AMBER, "dash": "dash", "width": 1}, row=i, col=1)
            fig.add_hline(y=crit, line={"color": RED, "dash": "dash", "width": 1}, row=i, col=1)
        if col in base_values and math.isfinite(base_values[col]):
            fig.add_hline(y=base_values[col], line={"color": GREY, "dash": "dot", "width": 1},
                          row=i, col=1)  # fmt: skip
    if baseline_end is not None:
        for i in range(1, len(_PANELS) + 1):
            fig.add_vline(x=baseline_end, line={"color": GREEN, "dash": "dot"}, row=i, col=1)
    fig.update_xaxes(title_text="Window end (entry time, UTC)", row=len(_PANELS), col=1)
    fig.update_layout(hovermode="closest")
    finish(
        fig,
        title
        or f"Drift against the baseline — {key_label(b.key)} "
        "(dashed: warning / critical; dotted: baseline)",
        height=860,
    )
    # Room for the title above the first panel's own title.
    fig.update_layout(margin={"t": 80})
    return fig
