"""Figures of "which threshold should I trade at, and does it hold up?".

Pure functions of sweep, selection and walk-forward results (and of an equity
frame); no computation beyond unit scaling. Rates are drawn in percent,
returns in percent, Sharpe ratios per trade (not annualised).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.analytics.selection import ThresholdChoice, WalkForwardThresholdResult
from core.analytics.sweep import SweepResult
from core.errors import ConfigError
from core.figures._style import (
    BAND,
    BLUE,
    GREEN,
    GREY,
    ORANGE,
    PALETTE,
    finish,
    finite_or_nan,
    key_label,
    thin,
)

__all__ = [
    "SAMPLE_LABELS",
    "SWEEP_METRICS",
    "equity_curves",
    "sample_comparison_chart",
    "sweep_chart",
]


class _Metric(NamedTuple):
    label: str
    scale: float
    fmt: str
    low: str | None
    high: str | None
    window_column: str | None
    summary_column: str | None


#: Metrics :func:`sweep_chart` can draw: label with unit, scale to the unit,
#: hover format, band columns, walk-forward window column and summary column.
SWEEP_METRICS: dict[str, _Metric] = {
    "sharpe": _Metric("Sharpe ratio per trade", 1.0, ".3f", "sharpe_low", "sharpe_high",
                      "out_of_sample_sharpe", "sharpe"),
    "mean_return": _Metric("Mean return per trade (%)", 1.0, ".3f", "mean_return_low",
                           "mean_return_high", "out_of_sample_mean_return", "mean_return"),
    "win_rate": _Metric("Win rate (%)", 100.0, ".1f", "win_low", "win_high",
                        "out_of_sample_win_rate", "win_rate"),
    "profit_factor": _Metric("Profit factor", 1.0, ".2f", "profit_factor_low",
                             "profit_factor_high", "out_of_sample_profit_factor", "profit_factor"),
    "total_return": _Metric("Total return (% of one position, summed)", 1.0, ",.1f", None, None,
                            None, "total_return"),
    "coverage": _Metric("Coverage (% of trades kept)", 100.0, ".1f", None, None,
                        "out_of_sample_coverage", None),
}  # fmt: skip

#: Display names of the samples of a side-by-side comparison.
SAMPLE_LABELS: dict[str, str] = {
    "raw": "Raw score",
    "in_sample": "In sample",
    "walk_forward_in_sample": "Walk-forward, in sample",
    "out_of_sample": "Out of sample",
    "baseline_out_of_sample": "Every trade, out of sample",
}

_SAMPLE_COLOURS: dict[str, str] = {
    "raw": GREY,
    "in_sample": BLUE,
    "walk_forward_in_sample": "#6ea8fe",
    "out_of_sample": ORANGE,
    "baseline_out_of_sample": GREY,
}

#: Label, scale and hover format of the metrics of a side-by-side comparison.
_COMPARISON_METRICS: dict[str, tuple[str, float, str]] = {
    "trades": ("Trades", 1.0, ",.0f"),
    "n": ("Trades", 1.0, ",.0f"),
    "win_rate": ("Win rate (%)", 100.0, ".1f"),
    "base_rate": ("Win rate (%)", 100.0, ".1f"),
    "mean_return": ("Mean return per trade (%)", 1.0, ".3f"),
    "sharpe": ("Sharpe per trade", 1.0, ".3f"),
    "profit_factor": ("Profit factor", 1.0, ".2f"),
    "total_return": ("Total return (%)", 1.0, ",.1f"),
    "ece": ("ECE (probability)", 1.0, ".4f"),
    "mce": ("MCE (probability)", 1.0, ".4f"),
    "ace": ("ACE (probability)", 1.0, ".4f"),
    "brier": ("Brier score", 1.0, ".4f"),
    "log_loss": ("Log loss (nats)", 1.0, ".4f"),
    "rel": ("Brier reliability", 1.0, ".5f"),
    "res": ("Brier resolution", 1.0, ".5f"),
}


def _metric(metric: str) -> _Metric:
    if metric not in SWEEP_METRICS:
        raise ConfigError(
            f"metric must be one of {', '.join(SWEEP_METRICS)}, got {metric!r}; use 'sharpe'"
        )
    return SWEEP_METRICS[metric]


def _threshold_title(sweep: SweepResult) -> str:
    if sweep.mode == "percentile":
        return "Threshold: top % of trades kept (by score)"
    return f"Threshold on {key_label(sweep.key).lower()} (trade when score ≥ threshold)"


def sweep_chart(
    sweep: SweepResult,
    *,
    metric: str = "sharpe",
    choice: ThresholdChoice | None = None,
    oos: WalkForwardThresholdResult | float | None = None,
    min_trades: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """A metric of the trades kept against the threshold, with its band and count.

    Parameters
    ----------
    sweep : SweepResult
        From :func:`core.analytics.sweep.threshold_sweep`; the band is drawn
        when the table has it (bootstrap bands for Sharpe, mean return and
        profit factor need ``bands=True``; the win rate always has its Wilson
        interval).
    metric : {"sharpe", "mean_return", "win_rate", "profit_factor", "total_return", "coverage"}
        What to draw (see :data:`SWEEP_METRICS`); an infinite profit factor is
        left out of the line.
    choice : ThresholdChoice, optional
        The in-sample choice, marked with a star and a vertical line.
    oos : WalkForwardThresholdResult or float, optional
        The out-of-sample result: with a walk-forward result, each window's
        threshold (chosen on earlier trades) at its out-of-sample value, and
        the pooled out-of-sample value as a horizontal line; with a number,
        just the line.
    min_trades : int, optional
        Thresholds keeping fewer trades are left out of the metric line and
        its band (their figures are noise: a Sharpe ratio of 3 trades); default
        ``choice.min_trades`` with a choice, else 10. The trade count is drawn
        everywhere.
    title : str, optional

    Returns
    -------
    Figure
        Traces in order: band upper and lower edge (when there is a band), the
        metric, the trades kept (right axis), then the choice and the
        out-of-sample markers.
    """
    m = _metric(metric)
    t = sweep.table
    x = t["threshold"].to_numpy(dtype=np.float64)
    y = finite_or_nan(t[metric].to_numpy(dtype=np.float64)) * m.scale
    trades = t["trades"].to_numpy()
    floor = min_trades if min_trades is not None else (choice.min_trades if choice else 10)
    if isinstance(floor, bool) or not isinstance(floor, int | np.integer) or floor < 0:
        raise ConfigError(f"min_trades must be an integer >= 0, got {min_trades!r}")
    few = trades < floor
    y_all = y.copy()
    y[few] = np.nan
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    has_band = m.low is not None and m.low in t.columns and m.high in t.columns
    if has_band:
        lo = finite_or_nan(t[m.low].to_numpy(dtype=np.float64)) * m.scale
        hi = finite_or_nan(t[m.high].to_numpy(dtype=np.float64)) * m.scale
        lo[few] = np.nan
        hi[few] = np.nan
        kind = "Wilson" if metric == "win_rate" else "bootstrap"
        fig.add_trace(
            go.Scatter(x=x, y=hi, mode="lines", line={"width": 0}, showlegend=False,
                       name="band upper", hoverinfo="skip", connectgaps=False),
            secondary_y=False,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=x, y=lo, mode="lines", line={"width": 0}, fill="tonexty",
                       fillcolor=BAND, name=f"{sweep.level:.0%} {kind} band", hoverinfo="skip"),
            secondary_y=False,
        )  # fmt: skip
    else:
        lo = hi = np.full(x.size, np.nan)
    custom = np.column_stack([trades, 100.0 * t["coverage"].to_numpy(), lo, hi])
    band_text = f"<br>{sweep.level:.0%} band: %{{customdata[2]:{m.fmt}}}–%{{customdata[3]:{m.fmt}}}"
    x_fmt = ".0f" if sweep.mode == "percentile" else ".3f"
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="lines",
            name=f"{m.label}, thresholds keeping ≥ {floor:,} trades" if floor > 1 else m.label,
            line={"color": BLUE, "width": 2},
            customdata=custom,
            hovertemplate=(
                f"<b>threshold %{{x:{x_fmt}}}</b><br>{m.label}: %{{y:{m.fmt}}}"
                + (band_text if has_band else "")
                + "<br>trades kept: %{customdata[0]:,} (%{customdata[1]:.1f} %)<extra></extra>"
            ),
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=trades,
            mode="lines",
            name="Trades kept (right axis)",
            line={"color": GREY, "width": 1.2, "dash": "dot"},
            hovertemplate=f"threshold %{{x:{x_fmt}}}<br>trades kept: %{{y:,}}<extra></extra>",
        ),
        secondary_y=True,
    )
    if choice is not None:
        at = np.flatnonzero(np.isclose(x, choice.threshold))
        value = float(y_all[at[0]]) if at.size else float("nan")
        fig.add_trace(
            go.Scatter(
                x=[choice.threshold],
                y=[value],
                mode="markers",
                name=f"In-sample choice ({choice.objective}): {choice.threshold:g}",
                marker={
                    "symbol": "star",
                    "size": 16,
                    "color": GREEN,
                    "line": {"color": "white", "width": 1},
                },
                customdata=[[choice.trades, choice.n_trials, choice.n_eligible]],
                hovertemplate=(
                    f"<b>in-sample choice</b><br>threshold %{{x:{x_fmt}}}<br>{m.label}: "
                    f"%{{y:{m.fmt}}}<br>trades: %{{customdata[0]:,}}<br>chosen among "
                    "%{customdata[2]:,} eligible of %{customdata[1]:,} thresholds<extra></extra>"
                ),
            ),
            secondary_y=False,
        )
        fig.add_vline(x=choice.threshold, line={"color": GREEN, "dash": "dash", "width": 1})
    if isinstance(oos, WalkForwardThresholdResult):
        w = oos.windows
        if m.window_column is not None and m.window_column in w.columns:
            wy = finite_or_nan(w[m.window_column].to_numpy(dtype=np.float64)) * m.scale
            custom_w = np.empty((len(w), 4), dtype=object)
            custom_w[:, 0] = w["window"].to_numpy()
            custom_w[:, 1] = w["test_start"].dt.strftime("%Y-%m-%d").to_numpy()
            custom_w[:, 2] = w["test_end"].dt.strftime("%Y-%m-%d").to_numpy()
            custom_w[:, 3] = w["out_of_sample_trades"].to_numpy()
            fig.add_trace(
                go.Scatter(
                    x=w["threshold"].to_numpy(dtype=np.float64),
                    y=wy,
                    mode="markers",
                    name="Out of sample, per walk-forward window",
                    marker={
                        "symbol": "diamond",
                        "size": 10,
                        "color": ORANGE,
                        "line": {"color": "white", "width": 1},
                    },
                    customdata=custom_w,
                    hovertemplate=(
                        "<b>window %{customdata[0]}</b> (%{customdata[1]} → %{customdata[2]})<br>"
                        f"threshold chosen on earlier trades: %{{x:{x_fmt}}}<br>"
                        f"{m.label} out of sample: %{{y:{m.fmt}}}<br>"
                        "trades kept: %{customdata[3]:,}<extra></extra>"
                    ),
                ),
                secondary_y=False,
            )
        pooled = (
            float(oos.summary.loc["out_of_sample", m.summary_column])
            if m.summary_column is not None
            else float("nan")
        )
    elif oos is not None:
        pooled = float(oos)
    else:
        pooled = float("nan")
    if np.isfinite(pooled):
        value = pooled * m.scale
        fig.add_trace(
            go.Scatter(
                x=[float(np.nanmin(x)), float(np.nanmax(x))],
                y=[value, value],
                mode="lines",
                name=f"Out of sample, pooled walk-forward: {value:{m.fmt}}",
                line={"color": ORANGE, "dash": "dash", "width": 1.5},
                hovertemplate=f"out of sample (pooled): {value:{m.fmt}}<extra></extra>",
            ),
            secondary_y=False,
        )
    fig.update_xaxes(title_text=_threshold_title(sweep))
    fig.update_yaxes(title_text=m.label, secondary_y=False)
    fig.update_yaxes(title_text="Trades kept", secondary_y=True, showgrid=False, rangemode="tozero")
    fig.update_layout(hovermode="closest")
    name = m.label.split(" (")[0]
    return finish(
        fig,
        title or f"Threshold sweep — {name} of the trades kept ({key_label(sweep.key)})",
        height=500,
    )


_BOOK_LABELS: dict[str, str] = {
    "baseline": "Baseline (every signal)",
    "filtered": "Filtered (above the threshold)",
}


def equity_curves(
    equity: pd.DataFrame,
    *,
    kind: Literal["growth", "summed_pct"] = "growth",
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Equity of each book (baseline against filtered) over time.

    Parameters
    ----------
    equity : DataFrame, shape (n_dates, n_books)
        Date index (datetime-like, UTC); one column per book, e.g.
        ``"baseline"`` and ``"filtered"``. Series longer than 5,000 points are
        thinned evenly for drawing.
    kind : {"growth", "summed_pct"}, default "growth"
        ``"growth"``: compounded equity starting at 1 (a fraction of the
        initial capital; hover shows the change in %). ``"summed_pct"``: the
        running sum of ``return_pct`` (percent of one position).
    labels : mapping, optional
        Display name per column (defaults name ``baseline`` and ``filtered``).
    title : str, optional

    Returns
    -------
    Figure
        One line per column.
    """
    if not isinstance(equity, pd.DataFrame) or equity.shape[1] == 0:
        raise ConfigError("equity must be a DataFrame with one column per book (and rows)")
    if kind not in ("growth", "summed_pct"):
        raise ConfigError(f"kind must be 'growth' or 'summed_pct', got {kind!r}")
    try:
        index = pd.DatetimeIndex(pd.to_datetime(equity.index, utc=True))
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"equity must have a date index, got {equity.index.dtype} ({exc})"
        ) from exc
    names = {**_BOOK_LABELS, **dict(labels or {})}
    keep = thin(len(equity))
    dates = _iso_utc(index[keep])
    fig = go.Figure()
    colours = {"baseline": GREY, "filtered": BLUE}
    spare = iter(PALETTE[1:])
    for column in equity.columns:
        values = equity[column].to_numpy(dtype=np.float64)[keep]
        name = names.get(str(column), str(column))
        colour = colours.get(str(column)) or next(spare, ORANGE)
        if kind == "growth":
            start = values[np.isfinite(values)][0] if np.isfinite(values).any() else np.nan
            if np.isfinite(start) and start != 0:
                change = (values / start - 1.0) * 100.0
            else:  # no finite, non-zero start: a change since start is undefined
                change = np.full(values.size, np.nan)
            hover = (
                f"<b>{name}</b><br>%{{x|%Y-%m-%d}}<br>equity: %{{y:.4f}} "
                "(%{customdata:+.2f} % since start)<extra></extra>"
            )
        else:
            change = values
            hover = (
                f"<b>{name}</b><br>%{{x|%Y-%m-%d}}<br>summed return: %{{y:,.2f}} %<extra></extra>"
            )
        fig.add_trace(
            go.Scatter(
                x=dates,
                y=values,
                mode="lines",
                name=name,
                line={"color": colour, "width": 2 if str(column) == "filtered" else 1.5},
                customdata=change,
                hovertemplate=hover,
            )
        )
    fig.update_xaxes(title_text="Date (UTC)")
    if kind == "growth":
        fig.update_yaxes(title_text="Equity (growth of 1)")
    else:
        fig.update_yaxes(title_text="Summed return (% of one position)")
    fig.update_layout(hovermode="x unified")
    return finish(fig, title or "Equity — baseline against the filtered book", height=440)


def _iso_utc(index: pd.DatetimeIndex) -> np.ndarray:
    """UTC times as the ISO-8601 strings plotly writes for them (``...T00:00:00+00:00``).

    Given as strings, not tz-aware ``Timestamp`` objects: plotly deep-copies an
    object array element by element when it builds and exports a figure (0.2 s for
    an equity chart of 4,000 dates, redrawn on every slider move).
    """
    naive = index.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[ns]")
    return np.char.add(np.datetime_as_string(naive, unit="s"), "+00:00")


def sample_comparison_chart(
    table: pd.DataFrame,
    *,
    metrics: tuple[str, ...] | None = None,
    title: str | None = None,
) -> go.Figure:
    """In-sample against out-of-sample figures, one small panel per metric.

    Parameters
    ----------
    table : DataFrame
        Index: metric names; columns: samples (e.g. ``in_sample``,
        ``out_of_sample``, ``baseline_out_of_sample`` from
        :meth:`core.analytics.report.ThresholdAnalysis.sample_comparison`, or
        ``raw``, ``in_sample``, ``out_of_sample`` from
        :meth:`core.analytics.walkforward.WalkForwardResult.totals`).
    metrics : tuple of str, optional
        Which rows to draw, in order (default: every row with a known label).
    title : str, optional

    Returns
    -------
    Figure
        One bar trace per sample (shown once in the legend), one panel per
        metric; rates in %.
    """
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ConfigError("table must be a non-empty DataFrame (index: metric, columns: samples)")
    rows = (
        list(metrics)
        if metrics is not None
        else [r for r in table.index if r in _COMPARISON_METRICS]
    )
    missing = [r for r in rows if r not in table.index]
    if missing or not rows:
        raise ConfigError(
            f"metrics {missing or rows} not in the table; rows present: {list(table.index)}"
        )
    n = len(rows)
    cols = min(n, 3)
    n_rows = int(np.ceil(n / cols))
    fig = make_subplots(
        rows=n_rows,
        cols=cols,
        subplot_titles=[_COMPARISON_METRICS.get(r, (r, 1.0, ".3g"))[0] for r in rows],
        vertical_spacing=0.22 if n_rows > 1 else 0.1,
        horizontal_spacing=0.1,
    )
    samples = list(table.columns)
    for i, metric in enumerate(rows):
        label, scale, fmt = _COMPARISON_METRICS.get(metric, (metric, 1.0, ".3g"))
        r, c = divmod(i, cols)
        for sample in samples:
            value = table.loc[metric, sample]
            v = float(value) if value is not None and pd.notna(value) else float("nan")
            v = v * scale if np.isfinite(v) else float("nan")
            name = SAMPLE_LABELS.get(str(sample), str(sample))
            fig.add_trace(
                go.Bar(
                    x=[name],
                    y=[v],
                    name=name,
                    legendgroup=str(sample),
                    showlegend=i == 0,
                    marker={"color": _SAMPLE_COLOURS.get(str(sample), PALETTE[0])},
                    text=[f"{v:{fmt}}" if np.isfinite(v) else "n/a"],
                    textposition="outside",
                    cliponaxis=False,
                    hovertemplate=f"<b>{name}</b><br>{label}: %{{y:{fmt}}}<extra></extra>",
                ),
                row=r + 1,
                col=c + 1,
            )
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(bargap=0.3, hovermode="closest")
    return finish(
        fig, title or "In sample against out of sample", height=300 + 220 * (n_rows - 1) + 60
    )
