"""Decision figures carry the numbers of their results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.analytics.compare import compare_versions
from core.analytics.decay import signal_decay
from core.analytics.open_book import check_open_book, open_book_forecast
from core.analytics.segments import calibration_by_segment
from core.analytics.sizing import walk_forward_sizing
from core.figures.decisions import (
    decay_chart,
    open_book_chart,
    segment_reliability,
    sizing_chart,
    sizing_equity,
    version_reliability,
)


@pytest.fixture(scope="module")
def trades():
    rng = np.random.default_rng(0)
    n = 700
    entry = pd.bdate_range("2016-01-01", periods=n, tz="UTC")
    conf = rng.uniform(0.3, 0.8, n)
    win = rng.uniform(size=n) < 0.1 + 0.8 * conf
    ret = np.where(win, rng.uniform(0.2, 3, n), -rng.uniform(0.2, 3, n))
    return pd.DataFrame(
        {
            "entry_time": entry,
            "exit_time": entry + pd.Timedelta(days=3),
            "symbol": rng.choice(["A", "B"], n),
            "side": rng.choice([-1, 1], n).astype(np.int8),
            "confidence": conf,
            "return_pct": ret,
            "win": ret > 0,
            "market_volatility": rng.lognormal(-1.5, 0.4, n),
        }
    )


def test_sizing_chart_bars(trades):
    res = walk_forward_sizing(trades, n_boot=30, min_train=50)
    fig = sizing_chart(res)
    assert [t.name for t in fig.data] == ["Total return", "Sharpe per trade", "Max drawdown",
                                          "Turnover"]  # fmt: skip
    sharpe = fig.data[1]
    assert list(sharpe.x) == list(res.table.index)
    np.testing.assert_allclose(sharpe.y, res.table["sharpe"])
    np.testing.assert_allclose(np.asarray(sharpe.y) + sharpe.error_y.array,
                               res.table["sharpe_high"])  # fmt: skip
    np.testing.assert_allclose(fig.data[0].y, 100 * res.table["total_return"])
    eq = sizing_equity(res)
    assert [t.name for t in eq.data] == list(res.table.index)
    np.testing.assert_allclose(eq.data[0].y, res.equity()["fixed"].to_numpy())


def test_segment_reliability_traces(trades):
    res = calibration_by_segment(trades, "volatility", n_boot=10)
    fig = segment_reliability(res)
    assert len(fig.data) == 1 + len(res.curves)
    for trace, (seg, curve) in zip(fig.data[1:], res.curves.items(), strict=True):
        assert trace.name.startswith(f"{seg} (n={curve.n})")
        np.testing.assert_allclose(trace.y, curve.observed_frequency[curve.nonempty])
        assert trace.name.endswith("flagged") == (seg in res.flagged)


def test_decay_chart_traces(trades):
    dates = pd.bdate_range("2015-12-01", periods=800, tz="UTC")
    rng = np.random.default_rng(1)
    close = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (800, 2)), axis=0)),
                         index=dates, columns=["A", "B"])  # fmt: skip
    res = signal_decay(trades, close, n_boot=20)
    fig = decay_chart(res)
    ic, spread = fig.data[2], fig.data[5]
    np.testing.assert_allclose(ic.x, res.table.index)
    np.testing.assert_allclose(ic.y, res.table["ic"])
    np.testing.assert_allclose(fig.data[1].y, res.table["ic_low"])
    np.testing.assert_allclose(spread.y, 100 * res.table["spread"])


def test_open_book_chart():
    f = open_book_forecast(np.full(20, 0.6), level=0.8)
    c = check_open_book(f, np.arange(20) < 9)
    fig = open_book_chart(f, check=c)
    bars, realised = fig.data
    np.testing.assert_allclose(bars.x, 100 * np.arange(21) / 20)
    np.testing.assert_allclose(bars.y, f.pmf)
    assert realised.x[0] == pytest.approx(45.0)
    assert realised.y[0] == pytest.approx(f.pmf[9])


def test_version_reliability():
    rng = np.random.default_rng(2)
    p = rng.uniform(0.2, 0.8, 400)
    win = rng.uniform(size=400) < p
    res = compare_versions(p, np.clip(p + 0.1, 0, 1), win, names=("v1", "v2"), n_boot=20)
    fig = version_reliability(res)
    assert [t.name for t in fig.data] == ["Perfect calibration", "v1", "v2"]
    np.testing.assert_allclose(fig.data[2].x, res.curve_b.mean_predicted[res.curve_b.nonempty])
