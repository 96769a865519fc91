"""Figures of "is the confidence informative and calibrated?".

Pure functions: each takes an analytics result (or a trades frame) and returns
a :class:`plotly.graph_objects.Figure`; nothing is computed here that the
analytics do not already give, except the histogram and time blocks of the
raw scores. Probabilities are drawn on a 0-1 scale, rates and returns in
percent; every trace has a hover template with its numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.analytics.calibration import ReliabilityCurve
from core.analytics.confidence import BinTable
from core.errors import ConfigError
from core.figures._style import (
    BAND,
    BLUE,
    GREEN,
    GREY,
    ORANGE,
    PALETTE,
    RED,
    finish,
    finite_or_nan,
    key_label,
)
from core.trades import validate_trades

__all__ = [
    "calibrator_comparison",
    "confidence_over_time",
    "decile_bars",
    "reliability_diagram",
]


def _diagonal(name: str = "Perfect calibration") -> go.Scatter:
    return go.Scatter(
        x=[0.0, 1.0],
        y=[0.0, 1.0],
        mode="lines",
        name=name,
        line={"color": GREY, "dash": "dash", "width": 1.5},
        hoverinfo="skip",
    )


def reliability_diagram(
    curve: ReliabilityCurve,
    *,
    histogram_of: Any = None,
    key: str = "confidence",
    hist_bins: int = 40,
    title: str | None = None,
) -> go.Figure:
    """Reliability diagram with a Wilson band, the diagonal and a histogram below.

    Parameters
    ----------
    curve : ReliabilityCurve
        From :func:`core.analytics.calibration.reliability_curve` (empty bins
        are skipped).
    histogram_of : array_like, shape (n,), optional
        The scores (probabilities in [0, 1]) to histogram in the lower panel,
        in ``hist_bins`` equal-width bins. Without it the lower panel shows the
        trade count of each bin of ``curve``.
    key : str, default "confidence"
        Name of the score, for the labels.
    hist_bins : int, default 40
    title : str, optional

    Returns
    -------
    Figure
        Row 1: the diagonal, the Wilson band (upper edge, then lower edge
        filled to it), the observed win rate per bin. Row 2: trades per score
        bin. Traces in that order.
    """
    label = key_label(key)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.74, 0.26], vertical_spacing=0.05
    )
    ok = curve.nonempty
    x = curve.mean_predicted[ok]
    y = curve.observed_frequency[ok]
    low, high = curve.win_low[ok], curve.win_high[ok]
    count = curve.count[ok]
    level = f"{curve.level:.0%}"
    fig.add_trace(_diagonal(), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=x, y=high, mode="lines", line={"width": 0}, showlegend=False,
                   name=f"{level} upper bound", hoverinfo="skip"),
        row=1, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=x, y=low, mode="lines", line={"width": 0}, fill="tonexty", fillcolor=BAND,
                   name=f"{level} Wilson interval", hoverinfo="skip"),
        row=1, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="lines+markers",
            name="Observed win rate",
            line={"color": BLUE, "width": 2},
            marker={"size": 7},
            customdata=np.column_stack(
                [count, low, high, curve.edges[:-1][ok], curve.edges[1:][ok]]
            ),
            hovertemplate=(
                f"<b>bin %{{customdata[3]:.2f}}–%{{customdata[4]:.2f}}</b><br>"
                f"mean {label.lower()}: %{{x:.3f}}<br>"
                f"observed win rate: %{{y:.3f}} ({level} CI %{{customdata[1]:.3f}}–%{{customdata[2]:.3f}})<br>"
                "trades: %{customdata[0]:,}<extra></extra>"
            ),
        ),
        row=1,
        col=1,
    )
    if histogram_of is not None:
        scores = np.asarray(histogram_of, dtype=np.float64)
        scores = scores[~np.isnan(scores)]
        counts, edges = np.histogram(scores, bins=hist_bins, range=(0.0, 1.0))
        total = max(int(counts.sum()), 1)
    else:
        counts = curve.count
        edges = curve.edges
        total = max(int(curve.n), 1)
    centres = (edges[:-1] + edges[1:]) / 2.0
    fig.add_trace(
        go.Bar(
            x=centres,
            y=counts,
            width=np.diff(edges),
            name=f"Trades per {label.lower()} bin",
            marker={"color": GREY, "line": {"width": 0}},
            customdata=np.column_stack([edges[:-1], edges[1:], 100.0 * counts / total]),
            hovertemplate=(
                f"{label.lower()} %{{customdata[0]:.3f}}–%{{customdata[1]:.3f}}<br>"
                "%{y:,} trades (%{customdata[2]:.1f} %)<extra></extra>"
            ),
        ),
        row=2,
        col=1,
    )
    fig.update_xaxes(range=[0, 1], row=1, col=1)
    fig.update_xaxes(
        range=[0, 1], title_text=f"{label} (predicted probability of a win)", row=2, col=1
    )
    fig.update_yaxes(title_text="Observed win rate (probability)", range=[0, 1], row=1, col=1)
    fig.update_yaxes(title_text="Trades", row=2, col=1)
    fig.update_layout(bargap=0.02, hovermode="closest")
    return finish(fig, title or f"Reliability diagram — {label} ({curve.n:,} trades)", height=560)


def _bin_labels(t: pd.DataFrame, prefix: str) -> list[str]:
    return [
        f"{prefix}{int(b) + 1}<br>{lo:.2f}–{hi:.2f}"
        for b, lo, hi in zip(t["bin"], t["bin_low"], t["bin_high"], strict=True)
    ]


def decile_bars(bin_table: BinTable, *, title: str | None = None) -> go.Figure:
    """Win rate and mean return per bin of the score, with their intervals.

    Parameters
    ----------
    bin_table : BinTable
        From :func:`core.analytics.confidence.quantile_table` (deciles) or
        :func:`~core.analytics.confidence.fixed_bin_table`; empty bins are
        skipped.
    title : str, optional

    Returns
    -------
    Figure
        Row 1: win rate (%) per bin with its Wilson interval and the overall
        win rate (dashed). Row 2: mean return per trade (%) with its interval
        (bootstrap or analytic, as the table says) and the overall mean.
    """
    t = bin_table.table[bin_table.table["count"] > 0]
    quantile = bin_table.strategy == "quantile"
    what = "decile" if quantile and bin_table.n_bins == 10 else "bin"
    labels = _bin_labels(t, "D" if what == "decile" else "B")
    label = key_label(bin_table.key)
    level = f"{bin_table.level:.0%}"
    count = t["count"].to_numpy()
    win = 100.0 * t["win_rate"].to_numpy()
    win_lo = 100.0 * t["win_low"].to_numpy()
    win_hi = 100.0 * t["win_high"].to_numpy()
    mean = t["mean_return"].to_numpy()
    m_lo = t["mean_return_low"].to_numpy()
    m_hi = t["mean_return_high"].to_numpy()
    total = max(int(count.sum()), 1)
    overall_win = float((t["win_rate"] * t["count"]).sum() / total) * 100.0
    overall_mean = float((t["mean_return"] * t["count"]).sum() / total)
    custom = np.column_stack(
        [
            count,
            t["conf_mean"].to_numpy(),
            win_lo,
            win_hi,
            m_lo,
            m_hi,
            finite_or_nan(t["sharpe"].to_numpy()),
            finite_or_nan(t["profit_factor"].to_numpy()),
            win,
            mean,
        ]
    )
    head = (
        "<b>%{x}</b><br>trades: %{customdata[0]:,}<br>"
        f"mean {label.lower()}: %{{customdata[1]:.3f}}<br>"
    )
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    fig.add_trace(
        go.Bar(
            x=labels,
            y=win,
            name="Win rate (%)",
            marker={"color": BLUE},
            error_y={"type": "data", "symmetric": False, "array": win_hi - win,
                     "arrayminus": win - win_lo, "color": "#444", "thickness": 1.2},
            customdata=custom,
            hovertemplate=head + f"win rate: %{{y:.1f}} % ({level} CI %{{customdata[2]:.1f}}–%{{customdata[3]:.1f}} %)<extra></extra>",
        ),
        row=1, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=[labels[0], labels[-1]], y=[overall_win, overall_win], mode="lines",
                   name=f"All trades: {overall_win:.1f} %", line={"color": GREY, "dash": "dash"},
                   hovertemplate=f"all trades: {overall_win:.1f} %<extra></extra>"),
        row=1, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Bar(
            x=labels,
            y=mean,
            name="Mean return per trade (%)",
            marker={"color": [GREEN if v >= 0 else RED for v in mean]},
            error_y={"type": "data", "symmetric": False, "array": m_hi - mean,
                     "arrayminus": mean - m_lo, "color": "#444", "thickness": 1.2},
            customdata=custom,
            hovertemplate=head + (
                f"mean return: %{{y:.3f}} % ({level} CI %{{customdata[4]:.3f}}–%{{customdata[5]:.3f}} %)<br>"
                "Sharpe per trade: %{customdata[6]:.3f}<br>profit factor: %{customdata[7]:.2f}"
                "<extra></extra>"
            ),
        ),
        row=2, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=[labels[0], labels[-1]], y=[overall_mean, overall_mean], mode="lines",
                   name=f"All trades: {overall_mean:.3f} %", line={"color": GREY, "dash": "dot"},
                   hovertemplate=f"all trades: {overall_mean:.3f} %<extra></extra>"),
        row=2, col=1,
    )  # fmt: skip
    kind = "equal-count" if quantile else "equal-width"
    fig.update_xaxes(title_text=f"{label} {what} ({kind} bins; score range)", row=2, col=1)
    fig.update_yaxes(title_text="Win rate (%)", row=1, col=1)
    fig.update_yaxes(title_text="Mean return per trade (%)", row=2, col=1)
    fig.update_layout(hovermode="closest", bargap=0.25)
    noun = "decile" if what == "decile" else f"{kind} bin"
    return finish(fig, title or f"Win rate and mean return by {label.lower()} {noun}", height=600)


def calibrator_comparison(
    curves: Mapping[str, ReliabilityCurve],
    *,
    title: str | None = None,
) -> go.Figure:
    """Reliability curves of several calibrators (and the raw score) on one chart.

    Parameters
    ----------
    curves : mapping of str to ReliabilityCurve
        Name -> curve, drawn in order; a curve named ``"raw"`` is drawn grey and
        dotted. Use out-of-sample probabilities (walk-forward), e.g. from
        :func:`core.analytics.report.calibrator_curves`.
    title : str, optional

    Returns
    -------
    Figure
        The diagonal, then one line per curve with Wilson error bars.
    """
    if not curves:
        raise ConfigError("curves is empty; pass at least one name -> ReliabilityCurve")
    fig = go.Figure()
    fig.add_trace(_diagonal())
    colours = iter(PALETTE)
    for name, curve in curves.items():
        ok = curve.nonempty
        x = curve.mean_predicted[ok]
        y = curve.observed_frequency[ok]
        raw = name == "raw"
        colour = GREY if raw else next(colours, BLUE)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines+markers",
                name="Raw confidence" if raw else name,
                line={"color": colour, "dash": "dot" if raw else "solid", "width": 2},
                marker={"size": 6},
                error_y={"type": "data", "symmetric": False,
                         "array": curve.win_high[ok] - y, "arrayminus": y - curve.win_low[ok],
                         "color": colour, "thickness": 1, "width": 3},
                customdata=np.column_stack([curve.count[ok], curve.win_low[ok], curve.win_high[ok]]),
                hovertemplate=(
                    f"<b>{name}</b><br>predicted: %{{x:.3f}}<br>observed win rate: %{{y:.3f}} "
                    f"({curve.level:.0%} CI %{{customdata[1]:.3f}}–%{{customdata[2]:.3f}})<br>"
                    "trades: %{customdata[0]:,}<extra></extra>"
                ),
            )
        )  # fmt: skip
    fig.update_xaxes(title_text="Predicted probability of a win", range=[0, 1])
    fig.update_yaxes(title_text="Observed win rate (probability)", range=[0, 1])
    fig.update_layout(hovermode="closest")
    return finish(fig, title or "Calibrators compared (out-of-sample reliability)", height=520)


def confidence_over_time(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    n_points: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """Mean and spread of the score over time, with the win rate.

    The scored trades, in ``entry_time`` order, are cut into ``n_points``
    consecutive blocks of (nearly) equal count; each point is one block,
    placed at its last entry time.

    Parameters
    ----------
    trades : DataFrame
        A trades frame with ``entry_time``, ``key`` and ``win``.
    key : str, default "confidence"
    n_points : int, optional
        Number of blocks; default ``n // 50`` clipped to [1, 100], so a block
        holds at least 50 trades when there are fewer than 5,000 (a win rate
        of 13 trades is noise).
    title : str, optional

    Returns
    -------
    Figure
        The 10th-90th percentile band of the score (upper edge, lower edge
        filled), the block mean, and the block win rate (%) on the right axis.
    """
    if n_points is not None and (
        isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 1
    ):
        raise ConfigError(f"n_points must be a positive integer, got {n_points!r}; use 100")
    usable = validate_trades(trades, key=key, min_rows=1, columns=("win",))
    if "entry_time" not in usable.columns:
        raise ConfigError("trades has no entry_time column; the chart needs the entry times")
    entry = pd.to_datetime(usable["entry_time"], utc=True)
    order = np.argsort(entry.to_numpy(), kind="stable")
    score = usable[key].to_numpy(dtype=np.float64)[order]
    win = usable["win"].to_numpy().astype(np.float64)[order]
    times = entry.iloc[order].reset_index(drop=True)
    n = score.size
    k = min(n_points if n_points is not None else max(1, min(100, n // 50)), n)
    block = (np.arange(n) * k) // n
    frame = pd.DataFrame({"block": block, "score": score, "win": win})
    g = frame.groupby("block", sort=True)
    stats = pd.DataFrame(
        {
            "mean": g["score"].mean(),
            "q10": g["score"].quantile(0.10),
            "q90": g["score"].quantile(0.90),
            "win": g["win"].mean() * 100.0,
            "trades": g["score"].size(),
        }
    )
    starts = np.searchsorted(block, np.arange(k), side="left")
    ends = np.searchsorted(block, np.arange(k), side="right") - 1
    x = times.iloc[ends].to_numpy()
    first = times.iloc[starts].dt.strftime("%Y-%m-%d").to_numpy()
    last = times.iloc[ends].dt.strftime("%Y-%m-%d").to_numpy()
    label = key_label(key)
    # An object array keeps the numbers numeric next to the date strings.
    custom = np.empty((k, 5), dtype=object)
    custom[:, 0] = stats["trades"].to_numpy()
    custom[:, 1] = stats["q10"].to_numpy()
    custom[:, 2] = stats["q90"].to_numpy()
    custom[:, 3] = first
    custom[:, 4] = last
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(x=x, y=stats["q90"], mode="lines", line={"width": 0}, showlegend=False,
                   name="90th percentile", hoverinfo="skip"),
        secondary_y=False,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=x, y=stats["q10"], mode="lines", line={"width": 0}, fill="tonexty",
                   fillcolor=BAND, name=f"{label}: 10th–90th percentile", hoverinfo="skip"),
        secondary_y=False,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=x,
            y=stats["mean"],
            mode="lines",
            name=f"Mean {label.lower()}",
            line={"color": BLUE, "width": 2},
            customdata=custom,
            hovertemplate=(
                "<b>%{customdata[3]} → %{customdata[4]}</b> (%{customdata[0]:,} trades)<br>"
                f"mean {label.lower()}: %{{y:.3f}}<br>"
                "10th–90th percentile: %{customdata[1]:.3f}–%{customdata[2]:.3f}<extra></extra>"
            ),
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=stats["win"],
            mode="lines",
            name="Win rate (%)",
            line={"color": ORANGE, "width": 1.5, "dash": "dot"},
            customdata=custom,
            hovertemplate=(
                "<b>%{customdata[3]} → %{customdata[4]}</b><br>win rate: %{y:.1f} %<extra></extra>"
            ),
        ),
        secondary_y=True,
    )
    fig.update_xaxes(title_text="Entry time (UTC)")
    fig.update_yaxes(title_text=f"{label} (probability)", range=[0, 1], secondary_y=False)
    fig.update_yaxes(title_text="Win rate (%)", range=[0, 100], secondary_y=True, showgrid=False)
    fig.update_layout(hovermode="x unified")
    per = int(np.ceil(n / k))
    return finish(fig, title or f"{label} over time (blocks of about {per:,} trades)", height=460)
