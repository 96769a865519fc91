"""Figures of the decision analytics: sizing, segments, decay, open book, versions.

Pure functions: each takes a result of :mod:`core.analytics.sizing`,
:mod:`~core.analytics.segments`, :mod:`~core.analytics.decay`,
:mod:`~core.analytics.open_book` or :mod:`~core.analytics.compare` and
returns a :class:`plotly.graph_objects.Figure`; nothing is computed here
beyond unit conversion (fractions to percent) and the equity curves the
result itself provides.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.analytics.calibration import ReliabilityCurve
from core.analytics.compare import VersionComparison
from core.analytics.decay import DecayResult
from core.analytics.open_book import OpenBookCheck, OpenBookForecast
from core.analytics.segments import SegmentCalibration
from core.analytics.sizing import SIZING_METRICS, SizingResult
from core.figures._style import (
    BAND,
    BLUE,
    GREY,
    ORANGE,
    PALETTE,
    RED,
    finish,
    finite_or_nan,
    key_label,
    thin,
)

__all__ = [
    "decay_chart",
    "open_book_chart",
    "segment_reliability",
    "sizing_chart",
    "sizing_equity",
    "version_reliability",
]

_SIZING_LABELS = {
    "total_return": ("Total return", "%", 100.0),
    "sharpe": ("Sharpe per trade", "", 1.0),
    "max_drawdown": ("Max drawdown", "%", 100.0),
    "turnover": ("Turnover", "unit positions", 1.0),
}


def _diagonal() -> go.Scatter:
    return go.Scatter(
        x=[0.0, 1.0],
        y=[0.0, 1.0],
        mode="lines",
        name="Perfect calibration",
        line={"color": GREY, "dash": "dash", "width": 1.5},
        hoverinfo="skip",
    )


def _curve_trace(curve: ReliabilityCurve, name: str, color: str, *, dash: str = "solid"):
    ok = curve.nonempty
    low, high = curve.win_low[ok], curve.win_high[ok]
    y = curve.observed_frequency[ok]
    return go.Scatter(
        x=curve.mean_predicted[ok],
        y=y,
        mode="lines+markers",
        name=name,
        line={"color": color, "width": 2, "dash": dash},
        error_y={"type": "data", "array": high - y, "arrayminus": y - low, "thickness": 1},
        customdata=np.column_stack([curve.count[ok], low, high]),
        hovertemplate=(
            f"<b>{name}</b><br>predicted %{{x:.3f}}<br>observed %{{y:.3f}} "
            "[%{customdata[1]:.3f}, %{customdata[2]:.3f}]<br>trades %{customdata[0]}"
            "<extra></extra>"
        ),
    )


def sizing_chart(result: SizingResult, *, title: str | None = None) -> go.Figure:
    """Out-of-sample metrics of every sizing rule, bars with bootstrap bands.

    Parameters
    ----------
    result : SizingResult
        From :func:`core.analytics.sizing.walk_forward_sizing`.
    title : str, optional

    Returns
    -------
    Figure
        One subplot per metric of :data:`SIZING_METRICS` (total return and max
        drawdown in percent, Sharpe per trade, turnover); one bar trace per
        metric, x = the rules, y = the value, error bars to the band.
    """
    metrics = list(SIZING_METRICS)
    fig = make_subplots(
        rows=1, cols=len(metrics), subplot_titles=[_SIZING_LABELS[m][0] for m in metrics]
    )
    methods = list(result.table.index)
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(methods))]
    for j, m in enumerate(metrics, start=1):
        label, unit, scale = _SIZING_LABELS[m]
        y = finite_or_nan(result.table[m].to_numpy() * scale)
        low = finite_or_nan(result.table[f"{m}_low"].to_numpy() * scale)
        high = finite_or_nan(result.table[f"{m}_high"].to_numpy() * scale)
        fig.add_trace(
            go.Bar(
                x=methods,
                y=y,
                name=label,
                marker={"color": colors},
                showlegend=False,
                error_y={"type": "data", "array": high - y, "arrayminus": y - low},
                customdata=np.column_stack([low, high]),
                hovertemplate=(
                    f"<b>%{{x}}</b><br>{label} %{{y:.3f}} {unit}<br>"
                    f"{result.level:.0%} band [%{{customdata[0]:.3f}}, %{{customdata[1]:.3f}}]"
                    "<extra>out of sample</extra>"
                ),
            ),
            row=1,
            col=j,
        )
        fig.update_yaxes(title_text=f"{label} ({unit})" if unit else label, row=1, col=j)
    return finish(
        fig,
        title
        or f"Bet sizing, out of sample ({len(result.sizes)} trades, "
        f"{key_label(result.key)} calibrated by {result.calibrator})",
    )


def sizing_equity(result: SizingResult, *, title: str | None = None) -> go.Figure:
    """Compounded out-of-sample equity of every sizing rule, one line each.

    Returns
    -------
    Figure
        One trace per rule (name = rule), x = entry times of the
        out-of-sample trades, y = :meth:`SizingResult.equity` (starts at 1 before
        the first trade; thinned to at most 5,000 points).
    """
    eq = result.equity()
    keep = thin(len(eq))
    fig = go.Figure()
    for i, m in enumerate(eq.columns):
        fig.add_trace(
            go.Scatter(
                x=eq.index[keep],
                y=eq[m].to_numpy()[keep],
                mode="lines",
                name=str(m),
                line={"color": PALETTE[i % len(PALETTE)], "width": 2},
                hovertemplate=f"<b>{m}</b><br>%{{x|%Y-%m-%d}}<br>equity %{{y:.3f}}<extra></extra>",
            )
        )
    fig.update_xaxes(title_text="Entry time")
    fig.update_yaxes(title_text="Equity (start = 1)")
    return finish(fig, title or "Bet sizing: out-of-sample equity by rule")


def segment_reliability(result: SegmentCalibration, *, title: str | None = None) -> go.Figure:
    """Reliability curves of every segment overlaid, flagged segments dashed.

    Returns
    -------
    Figure
        The diagonal, then one trace per segment (name ``"<segment> (n=…)"``,
        with ``" – flagged"`` appended when flagged), x = mean predicted
        probability, y = observed win rate with Wilson error bars.
    """
    fig = go.Figure()
    fig.add_trace(_diagonal())
    flagged = set(result.flagged)
    for i, (seg, curve) in enumerate(result.curves.items()):
        is_flagged = seg in flagged
        name = f"{seg} (n={curve.n})" + (" – flagged" if is_flagged else "")
        color = RED if is_flagged else PALETTE[i % len(PALETTE)]
        fig.add_trace(_curve_trace(curve, name, color, dash="dash" if is_flagged else "solid"))
    fig.update_xaxes(title_text=f"Mean predicted ({key_label(result.key)})", range=[0, 1])
    fig.update_yaxes(title_text="Observed win rate", range=[0, 1])
    return finish(
        fig,
        title
        or f"Calibration by {result.by} ({result.correction}-adjusted test, α = {result.alpha:g})",
    )


def decay_chart(result: DecayResult, *, title: str | None = None) -> go.Figure:
    """Rank IC and top-minus-bottom win-rate spread against the horizon, with bands.

    Returns
    -------
    Figure
        Row 1: IC band (upper edge, lower edge filled), IC line; row 2: spread
        band (upper, lower), spread line (percentage points). x = horizon in
        trading days. Traces in that order.
    """
    t = result.table
    h = t.index.to_numpy()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=["Rank IC (Spearman)", "Win-rate spread, top − bottom"])  # fmt: skip
    for row, (col, scale, color, label) in enumerate(
        (("ic", 1.0, BLUE, "Rank IC"), ("spread", 100.0, ORANGE, "Spread (pp)")), start=1
    ):
        y = finite_or_nan(t[col].to_numpy() * scale)
        lo = finite_or_nan(t[f"{col}_low"].to_numpy() * scale)
        hi = finite_or_nan(t[f"{col}_high"].to_numpy() * scale)
        fig.add_trace(go.Scatter(x=h, y=hi, mode="lines", line={"width": 0}, showlegend=False,
                                 name=f"{label} upper", hoverinfo="skip"), row=row, col=1)  # fmt: skip
        fig.add_trace(
            go.Scatter(x=h, y=lo, mode="lines", line={"width": 0}, fill="tonexty",
                       fillcolor=BAND, name=f"{result.level:.0%} band", hoverinfo="skip",
                       showlegend=row == 1),
            row=row, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=h,
                y=y,
                mode="lines+markers",
                name=label,
                line={"color": color, "width": 2},
                customdata=np.column_stack([lo, hi, t["n"].to_numpy()]),
                hovertemplate=(
                    f"<b>%{{x}} days</b><br>{label} %{{y:.3f}} "
                    "[%{customdata[0]:.3f}, %{customdata[1]:.3f}]<br>signals %{customdata[2]}"
                    "<extra></extra>"
                ),
            ),
            row=row,
            col=1,
        )
        fig.add_hline(y=0.0, line={"color": GREY, "width": 1}, row=row, col=1)
    fig.update_xaxes(title_text="Horizon (trading days)", type="log", row=2, col=1)
    fig.update_yaxes(title_text="IC", row=1, col=1)
    fig.update_yaxes(title_text="Percentage points", row=2, col=1)
    return finish(
        fig,
        title or f"Signal decay of {key_label(result.key)} ({result.kind} forward returns)",
        height=560,
    )


def open_book_chart(
    forecast: OpenBookForecast,
    *,
    check: OpenBookCheck | None = None,
    title: str | None = None,
) -> go.Figure:
    """Distribution of the open signals' win rate, its band and the realised rate.

    Returns
    -------
    Figure
        Bar trace ``"Probability"``: x = win rate in percent (``100 k / n``), y =
        Poisson-binomial probability of ``k`` wins; bars inside the band in
        blue, outside in grey. A vertical line at the expected win rate, and
        with ``check`` a marker trace ``"Realised"`` at the realised rate.
    """
    n = max(forecast.n, 1)
    k = np.arange(forecast.n + 1)
    inside = (k >= forecast.wins_low) & (k <= forecast.wins_high)
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=100.0 * k / n,
            y=forecast.pmf,
            name="Probability",
            marker={"color": np.where(inside, BLUE, GREY).tolist()},
            customdata=k,
            hovertemplate=(
                "<b>%{customdata} wins</b> (%{x:.1f} %)<br>probability %{y:.4f}<extra></extra>"
            ),
        )
    )
    fig.add_vline(
        x=100.0 * forecast.expected_win_rate,
        line={"color": ORANGE, "dash": "dash"},
        annotation_text=f"expected {forecast.expected_win_rate:.1%}",
    )
    if check is not None:
        fig.add_trace(
            go.Scatter(
                x=[100.0 * check.realised_win_rate],
                y=[float(forecast.pmf[check.realised_wins])],
                mode="markers",
                name="Realised",
                marker={"color": RED if check.drift else ORANGE, "size": 12, "symbol": "diamond"},
                hovertemplate=(
                    f"realised {check.realised_wins} wins ({check.realised_win_rate:.1%})<br>"
                    f"p-value {check.p_value:.3g}<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(title_text="Win rate of the open signals (%)")
    fig.update_yaxes(title_text="Probability")
    return finish(
        fig,
        title
        or f"Open signals: expected win rate {forecast.expected_win_rate:.1%} "
        f"({forecast.level:.0%} band {forecast.win_rate_low:.1%}–{forecast.win_rate_high:.1%})",
    )


def version_reliability(result: VersionComparison, *, title: str | None = None) -> go.Figure:
    """Reliability curves of two versions overlaid, the verdict in the title.

    Returns
    -------
    Figure
        The diagonal, then version A's curve (name ``names[0]``) and version
        B's (``names[1]``), each with Wilson error bars.
    """
    fig = go.Figure()
    fig.add_trace(_diagonal())
    fig.add_trace(_curve_trace(result.curve_a, result.names[0], BLUE))
    fig.add_trace(_curve_trace(result.curve_b, result.names[1], ORANGE, dash="dot"))
    fig.update_xaxes(title_text="Mean predicted probability", range=[0, 1])
    fig.update_yaxes(title_text="Observed win rate", range=[0, 1])
    return finish(fig, title or result.verdict)
