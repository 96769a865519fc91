"""Figure builders: each returns a Figure with the expected traces, titles and hover text."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from core.analytics.calibration import reliability_curve
from core.analytics.confidence import fixed_bin_table, quantile_table
from core.analytics.drift import DriftThresholds, baseline_from_trades, rolling_drift
from core.analytics.report import analyze_thresholds, calibration_totals, calibrator_curves
from core.analytics.sweep import threshold_sweep
from core.errors import ConfigError
from core.figures import (
    SWEEP_METRICS,
    calibrator_comparison,
    confidence_over_time,
    decile_bars,
    drift_chart,
    equity_curves,
    reliability_diagram,
    sample_comparison_chart,
    sweep_chart,
)


def seeded_trades(n: int = 1_500, *, seed: int = 7) -> pd.DataFrame:
    """Trades whose win probability rises with confidence (0.35 + 0.3 c)."""
    rng = np.random.default_rng(seed)
    conf = rng.beta(2.0, 2.0, n)
    win = rng.random(n) < 0.35 + 0.3 * conf
    size = rng.lognormal(0.0, 0.6, n)
    ret = np.where(win, size, -0.9 * size)
    entry = pd.date_range("2018-01-01", periods=n, freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "signal_id": [f"{i:08d}" for i in range(n)],
            "entry_time": entry,
            "exit_time": entry + pd.Timedelta(days=3),
            "symbol": "AAPL",
            "confidence": conf,
            "calibrated_probability": np.nan,
            "holding_days": 3.0,
            "return_pct": ret,
            "win": ret > 0,
        }
    )


@pytest.fixture(scope="module")
def trades() -> pd.DataFrame:
    return seeded_trades()


def title(fig: go.Figure) -> str:
    return fig.layout.title.text


def names(fig: go.Figure) -> list[str]:
    return [t.name for t in fig.data]


def hovered(fig: go.Figure) -> list[go.BaseTraceType]:
    """Traces a user can hover (the band edges and the diagonal skip hover on purpose)."""
    return [t for t in fig.data if t.hoverinfo != "skip"]


def assert_hover(fig: go.Figure) -> None:
    traces = hovered(fig)
    assert traces, "no hoverable trace"
    for t in traces:
        assert t.hovertemplate, f"trace {t.name!r} has no hover template"
        assert "%{" in t.hovertemplate or "<extra>" in t.hovertemplate


def test_reliability_diagram_with_histogram(trades):
    curve = reliability_curve(trades["confidence"], trades["win"], n_bins=10)
    fig = reliability_diagram(curve, histogram_of=trades["confidence"], hist_bins=20)
    assert isinstance(fig, go.Figure)
    assert title(fig) == "Reliability diagram — Confidence (1,500 trades)"
    assert names(fig) == [
        "Perfect calibration",
        "95% upper bound",
        "95% Wilson interval",
        "Observed win rate",
        "Trades per confidence bin",
    ]
    diag, upper, lower, observed, hist = fig.data
    assert list(diag.x) == [0.0, 1.0] and list(diag.y) == [0.0, 1.0]
    ok = curve.nonempty
    np.testing.assert_allclose(upper.y, curve.win_high[ok])
    np.testing.assert_allclose(lower.y, curve.win_low[ok])
    assert lower.fill == "tonexty"
    np.testing.assert_allclose(observed.y, curve.observed_frequency[ok])
    assert hist.type == "bar" and len(hist.x) == 20 and int(np.sum(hist.y)) == len(trades)
    assert hist.yaxis == "y2"  # the histogram sits in the second row
    assert fig.layout.xaxis2.title.text == "Confidence (predicted probability of a win)"
    assert fig.layout.yaxis.title.text == "Observed win rate (probability)"
    assert fig.layout.yaxis2.title.text == "Trades"
    assert "observed win rate" in observed.hovertemplate and "trades" in observed.hovertemplate
    assert_hover(fig)


def test_reliability_diagram_without_histogram_uses_bin_counts(trades):
    curve = reliability_curve(trades["confidence"], trades["win"], n_bins=5)
    fig = reliability_diagram(curve, key="calibrated_probability", title="Custom")
    assert title(fig) == "Custom"
    np.testing.assert_array_equal(fig.data[-1].y, curve.count)
    assert fig.data[-1].name == "Trades per calibrated probability bin"


def test_decile_bars(trades):
    table = quantile_table(trades, n_bins=10, bootstrap=False)
    fig = decile_bars(table)
    assert title(fig) == "Win rate and mean return by confidence decile"
    assert [t.type for t in fig.data] == ["bar", "scatter", "bar", "scatter"]
    win, _, mean, _ = fig.data
    assert win.name == "Win rate (%)" and mean.name == "Mean return per trade (%)"
    np.testing.assert_allclose(win.y, 100 * table.table["win_rate"])
    np.testing.assert_allclose(
        np.asarray(win.error_y.array), 100 * (table.table["win_high"] - table.table["win_rate"])
    )
    np.testing.assert_allclose(mean.y, table.table["mean_return"])
    assert win.x[0].startswith("D1<br>") and win.x[-1].startswith("D10<br>")
    assert fig.layout.yaxis.title.text == "Win rate (%)"
    assert fig.layout.yaxis2.title.text == "Mean return per trade (%)"
    assert "equal-count" in fig.layout.xaxis2.title.text
    assert "95% CI" in win.hovertemplate and "Sharpe" in mean.hovertemplate
    assert_hover(fig)


def test_decile_bars_skip_empty_bins(trades):
    table = fixed_bin_table(trades.assign(confidence=trades["confidence"] * 0.5), n_bins=10)
    fig = decile_bars(table)
    kept = int((table.table["count"] > 0).sum())
    assert kept < 10 and len(fig.data[0].x) == kept
    assert title(fig) == "Win rate and mean return by confidence equal-width bin"
    assert fig.data[0].x[0].startswith("B1<br>0.00")


def test_sweep_chart_with_choice_and_walk_forward(trades):
    analysis = analyze_thresholds(trades, bands=True, n_boot=50, n_windows=3, pbo_splits=4)
    fig = sweep_chart(analysis.sweep, choice=analysis.choice, oos=analysis.walk_forward)
    assert title(fig) == "Threshold sweep — Sharpe ratio per trade of the trades kept (Confidence)"
    assert names(fig) == [
        "band upper",
        "95% bootstrap band",
        "Sharpe ratio per trade, thresholds keeping ≥ 30 trades",
        "Trades kept (right axis)",
        f"In-sample choice (sharpe): {analysis.choice.threshold:g}",
        "Out of sample, per walk-forward window",
        fig.data[6].name,
    ]
    assert fig.data[6].name.startswith("Out of sample, pooled walk-forward: ")
    metric, count = fig.data[2], fig.data[3]
    assert metric.yaxis == "y" and count.yaxis == "y2"  # trade count on the secondary axis
    table = analysis.sweep.table
    few = table["trades"].to_numpy() < 30
    assert np.isnan(np.asarray(metric.y, dtype=float)[few]).all()
    np.testing.assert_allclose(
        np.asarray(metric.y, dtype=float)[~few], table["sharpe"].to_numpy()[~few]
    )
    star = fig.data[4]
    assert star.x[0] == analysis.choice.threshold
    assert star.y[0] == pytest.approx(analysis.choice.sharpe)
    windows = fig.data[5]
    np.testing.assert_allclose(windows.x, analysis.walk_forward.windows["threshold"])
    pooled = analysis.walk_forward.summary.loc["out_of_sample", "sharpe"]
    assert fig.data[6].y[0] == pytest.approx(pooled)
    assert fig.layout.xaxis.title.text.startswith("Threshold on confidence")
    assert fig.layout.yaxis.title.text == "Sharpe ratio per trade"
    assert fig.layout.yaxis2.title.text == "Trades kept"
    assert "band" in metric.hovertemplate and "trades kept" in metric.hovertemplate
    assert_hover(fig)


def test_sweep_chart_win_rate_in_percent_and_percentile_mode(trades):
    sweep = threshold_sweep(trades, mode="percentile")
    fig = sweep_chart(sweep, metric="win_rate", oos=0.55, min_trades=0)
    band_low = fig.data[1]
    assert band_low.name == "95% Wilson band"
    np.testing.assert_allclose(fig.data[2].y, 100 * sweep.table["win_rate"])
    assert fig.data[-1].y[0] == pytest.approx(55.0)  # pooled line, in percent
    assert fig.layout.yaxis.title.text == "Win rate (%)"
    assert fig.layout.xaxis.title.text == "Threshold: top % of trades kept (by score)"


def test_sweep_chart_rejects_unknown_metric(trades):
    sweep = threshold_sweep(trades)
    with pytest.raises(ConfigError, match="metric must be one of"):
        sweep_chart(sweep, metric="sortino")
    assert set(SWEEP_METRICS) >= {"sharpe", "win_rate", "mean_return", "profit_factor"}


def test_sweep_chart_without_bands_has_no_band_traces(trades):
    fig = sweep_chart(threshold_sweep(trades), metric="mean_return")
    assert names(fig)[0].startswith("Mean return per trade (%)")
    assert len(fig.data) == 2


def test_calibrator_comparison(trades):
    curves, _ = calibrator_curves(trades, methods=("platt", "isotonic"), n_windows=4)
    fig = calibrator_comparison(curves)
    assert title(fig) == "Calibrators compared (out-of-sample reliability)"
    assert names(fig) == ["Perfect calibration", "Raw confidence", "platt", "isotonic"]
    assert fig.data[1].line.dash == "dot"
    for trace, curve in zip(fig.data[1:], curves.values(), strict=True):
        np.testing.assert_allclose(trace.y, curve.observed_frequency[curve.nonempty])
        assert trace.error_y.array is not None
    assert fig.layout.xaxis.title.text == "Predicted probability of a win"
    assert_hover(fig)
    with pytest.raises(ConfigError, match="curves is empty"):
        calibrator_comparison({})


def test_equity_curves_growth_and_summed():
    dates = pd.date_range("2020-01-01", periods=50, freq="B", tz="UTC")
    equity = pd.DataFrame(
        {"baseline": np.linspace(1.0, 1.2, 50), "filtered": np.linspace(1.0, 1.1, 50)},
        index=pd.Index(dates, name="date"),
    )
    fig = equity_curves(equity)
    assert title(fig) == "Equity — baseline against the filtered book"
    assert names(fig) == ["Baseline (every signal)", "Filtered (above the threshold)"]
    assert fig.layout.yaxis.title.text == "Equity (growth of 1)"
    assert fig.layout.xaxis.title.text == "Date (UTC)"
    assert fig.data[0].customdata[-1] == pytest.approx(20.0)  # +20 % since start
    assert "since start" in fig.data[0].hovertemplate
    summed = equity_curves(equity.rename(columns={"baseline": "mine"}), kind="summed_pct")
    assert summed.data[0].name == "mine"
    assert summed.layout.yaxis.title.text == "Summed return (% of one position)"
    with pytest.raises(ConfigError, match="date index"):
        equity_curves(pd.DataFrame({"a": [1.0]}, index=["x"]))
    with pytest.raises(ConfigError, match="kind"):
        equity_curves(equity, kind="log")


def test_equity_curves_dates_are_what_plotly_writes_for_utc_timestamps():
    # Another time zone in, UTC out: the JSON plotly writes for tz-aware Timestamps.
    dates = pd.date_range("2020-03-27 18:30", periods=6, freq="D", tz="America/New_York")
    equity = pd.DataFrame({"baseline": np.arange(6.0), "filtered": np.arange(6.0)}, index=dates)
    drawn = json.loads(equity_curves(equity, kind="summed_pct").to_json())["data"][0]["x"]
    reference = go.Scatter(x=dates.tz_convert("UTC"), y=np.arange(6.0)).to_plotly_json()["x"]
    assert drawn == [pd.Timestamp(t).isoformat() for t in reference]
    assert drawn[0] == "2020-03-27T22:30:00+00:00"  # 18:30 EDT


def test_equity_curves_thin_long_series():
    dates = pd.date_range("2000-01-01", periods=12_000, freq="h", tz="UTC")
    fig = equity_curves(pd.DataFrame({"baseline": np.arange(12_000.0)}, index=dates))
    assert np.isnan(fig.data[0].customdata).all()  # no change from a start at 0
    assert len(fig.data[0].x) == 5_000
    assert fig.data[0].y[-1] == 11_999.0


def test_confidence_over_time(trades):
    fig = confidence_over_time(trades, n_points=20)
    assert title(fig) == "Confidence over time (blocks of about 75 trades)"
    assert names(fig) == [
        "90th percentile",
        "Confidence: 10th–90th percentile",
        "Mean confidence",
        "Win rate (%)",
    ]
    mean = fig.data[2]
    assert len(mean.x) == 20
    assert mean.y[0] == pytest.approx(trades["confidence"].iloc[:75].mean())
    assert fig.data[3].yaxis == "y2"
    assert fig.layout.yaxis.title.text == "Confidence (probability)"
    assert fig.layout.yaxis2.title.text == "Win rate (%)"
    assert fig.layout.xaxis.title.text == "Entry time (UTC)"
    assert_hover(fig)
    # the default blocks hold at least 50 trades
    assert len(confidence_over_time(trades).data[2].x) == 30


def test_sample_comparison_chart(trades):
    analysis = analyze_thresholds(trades, n_windows=3, bands=False, pbo_splits=4)
    fig = sample_comparison_chart(analysis.sample_comparison(), metrics=("sharpe", "win_rate"))
    assert title(fig) == "In sample against out of sample"
    assert [a.text for a in fig.layout.annotations] == ["Sharpe per trade", "Win rate (%)"]
    legend = [t.name for t in fig.data if t.showlegend]
    assert legend == [
        "In sample",
        "Walk-forward, in sample",
        "Out of sample",
        "Every trade, out of sample",
    ]
    win = [t for t in fig.data if t.xaxis == "x2"]
    assert win[0].y[0] == pytest.approx(100 * analysis.choice.win_rate)
    assert_hover(fig)
    _, results = calibrator_curves(trades, methods=("platt",), n_windows=4)
    cal = sample_comparison_chart(calibration_totals(results["platt"]), metrics=("ece", "brier"))
    assert [t.name for t in cal.data if t.showlegend] == ["Raw score", "In sample", "Out of sample"]
    with pytest.raises(ConfigError, match="not in the table"):
        sample_comparison_chart(analysis.sample_comparison(), metrics=("nope",))


def test_drift_chart(trades):
    baseline = baseline_from_trades(trades.iloc[:500])
    t = DriftThresholds()
    frame = rolling_drift(trades, baseline, window=250, thresholds=t)
    fig = drift_chart(frame, baseline, t, baseline_end=baseline.end)
    assert title(fig).startswith("Drift against the baseline — Confidence")
    assert names(fig) == ["PSI", "KS p-value", "Win rate (%)", "Brier score", "ECE"]
    assert [a.text for a in fig.layout.annotations][2] == "Win rate (%)"
    np.testing.assert_allclose(fig.data[2].y, frame["win_rate"] * 100.0)
    assert fig.layout.xaxis5.title.text == "Window end (entry time, UTC)"
    # Warning and critical levels on 4 panels, 3 baseline values, the baseline's end on 5.
    dashed = [s for s in fig.layout.shapes if s.line.dash == "dash"]
    assert len(dashed) == 8 and len(fig.layout.shapes) == 8 + 3 + 5
    assert min(s.y0 for s in dashed if s.yref == "y") == t.psi_warning
    assert len(drift_chart(frame, baseline, t).layout.shapes) == 8 + 3
    assert_hover(fig)
    assert "trades" in fig.data[0].hovertemplate and "window" in fig.data[0].hovertemplate
    marked = frame.assign(psi_severity=["critical"] + ["ok"] * (len(frame) - 1))
    colours = drift_chart(marked, baseline, t).data[0].marker.color
    assert colours[0] == "#cf222e" and set(colours[1:]) == {"#1f6feb"}
    assert set(
        drift_chart(frame.drop(columns="ece_severity"), baseline, t).data[4].marker.color
    ) == {"#1f6feb"}
    with pytest.raises(ConfigError, match="psi"):
        drift_chart(frame.drop(columns="psi"), baseline, t)
    assert title(drift_chart(frame, baseline, t, title="Mine")) == "Mine"


def test_figures_serialise_to_json(trades):
    """Every figure is plain JSON (what Streamlit and the HTML report embed)."""
    curve = reliability_curve(trades["confidence"], trades["win"])
    baseline = baseline_from_trades(trades.iloc[:500])
    for fig in (
        reliability_diagram(curve, histogram_of=trades["confidence"]),
        decile_bars(quantile_table(trades, bootstrap=False)),
        confidence_over_time(trades),
        sweep_chart(threshold_sweep(trades), metric="profit_factor"),
        drift_chart(
            rolling_drift(trades, baseline, window=250),
            baseline,
            DriftThresholds(),
            baseline_end=baseline.end,
        ),
    ):
        spec = json.loads(fig.to_json())
        assert spec["layout"]["title"]["text"]
