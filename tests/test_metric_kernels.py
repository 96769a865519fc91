"""One metrics function: every per-trade metric path agrees with ``performance_metrics``.

The threshold sweep (suffix sums), its bootstrap, the walk-forward selection's
books, the dashboard's ``book_stats``/``filtered_book`` and the analytics engine
all apply the kernels of :mod:`core.metrics`. These tests hold them to the
scalar function (property tests over random books) and check that equal
returns -- zero dispersion -- give a NaN Sharpe through every path.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.analytics.overfitting import sharpe_moments
from core.analytics.selection import _book, walk_forward_threshold
from core.analytics.sweep import apply_threshold, threshold_sweep
from core.dashboard.runs import book_stats
from core.dashboard.slider import filtered_book
from core.engines.analytics import calibration_summary
from core.errors import InsufficientDataError
from core.metrics import (
    is_win,
    performance_metrics,
    profit_factor,
    return_std,
    sharpe_ratio,
    win_rate,
)

ROOT = Path(__file__).resolve().parents[1]

#: Returns that are equal but not representable in binary: np.std leaves ~1e-17.
EQUAL_RETURNS = [0.1, 0.1, 0.1]


def make_trades(scores, returns) -> pd.DataFrame:
    returns = np.asarray(returns, dtype=np.float64)
    n = returns.size
    entry = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    return pd.DataFrame(
        {
            "entry_time": entry,
            "exit_time": entry + pd.Timedelta(minutes=30),
            "confidence": np.asarray(scores, dtype=np.float64),
            "return_pct": returns,
            "win": returns > 0,
        }
    )


# --------------------------------------------------------------------------- kernels


def brute_profit_factor(r: np.ndarray) -> float:
    gains, losses = r[r > 0].sum(), -r[r < 0].sum()
    if losses > 0:
        return gains / losses
    return math.inf if gains > 0 else math.nan


@pytest.mark.parametrize(
    ("gains", "losses", "expected"),
    [(5.0, 1.0, 5.0), (5.0, 0.0, math.inf), (0.0, 0.0, math.nan), (0.0, 2.0, 0.0)],
)
def test_profit_factor_kernel_table(gains, losses, expected):
    got = profit_factor(gains, losses)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, nan_ok=True)


def test_kernels_broadcast_over_arrays():
    np.testing.assert_array_equal(
        profit_factor(np.array([5.0, 5.0, 0.0]), np.array([1.0, 0.0, 0.0])),
        [5.0, math.inf, math.nan],
    )
    np.testing.assert_array_equal(
        win_rate(np.array([1, 0, 2]), np.array([2, 0, 2])), [0.5, math.nan, 1.0]
    )
    np.testing.assert_array_equal(
        sharpe_ratio(np.array([1.0, 0.1, 1.0]), np.array([2.0, 1e-17, np.nan])),
        [0.5, math.nan, math.nan],
    )
    np.testing.assert_array_equal(is_win([1.0, 0.0, -1.0]), [True, False, False])


@pytest.mark.parametrize(
    ("returns", "expected"),
    [
        ([], math.nan),
        ([1.5], math.nan),
        (EQUAL_RETURNS, 0.0),
        ([0.0, 0.0], 0.0),
        ([1.0, 3.0], math.sqrt(2.0)),
    ],
)
def test_return_std_table(returns, expected):
    assert return_std(returns) == pytest.approx(expected, nan_ok=True)


# --------------------------------------------------------------------------- one function


books = st.lists(st.integers(-500, 500).map(lambda c: c / 100), min_size=0, max_size=40)


@given(books)
def test_kernels_reproduce_brute_force(values):
    r = np.asarray(values, dtype=np.float64)
    m = performance_metrics(r)
    assert m.win_rate == pytest.approx((r > 0).mean() if r.size else math.nan, nan_ok=True)
    assert m.profit_factor == pytest.approx(brute_profit_factor(r), nan_ok=True)
    if r.size >= 2 and np.ptp(r) > 0:
        assert m.sharpe_per_trade == pytest.approx(r.mean() / r.std(ddof=1), rel=1e-12)
    else:
        assert math.isnan(m.sharpe_per_trade)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10).map(lambda i: i / 10), st.integers(-300, 300).map(lambda c: c / 100)
        ),
        min_size=1,
        max_size=50,
    ),
    st.lists(st.integers(0, 11).map(lambda i: i / 10), min_size=1, max_size=6),
)
def test_every_path_equals_performance_metrics_of_the_kept_trades(rows, grid):
    scores, returns = zip(*rows, strict=True)
    trades = make_trades(scores, returns)
    table = threshold_sweep(trades, thresholds=grid).table
    for _, row in table.iterrows():
        kept = apply_threshold(trades, row["threshold"])["return_pct"].to_numpy()
        m = performance_metrics(kept)
        book = _book(kept)
        stats = book_stats(kept)
        for got_win, got_mean, got_sharpe, got_pf in (
            (row["win_rate"], row["mean_return"], row["sharpe"], row["profit_factor"]),
            (book["win_rate"], book["mean_return"], book["sharpe"], book["profit_factor"]),
            (
                stats["win_rate"],
                stats["mean_return_pct"],
                stats["sharpe_per_trade"],
                stats["profit_factor"],
            ),
        ):
            assert got_win == pytest.approx(m.win_rate, nan_ok=True)
            assert got_mean == pytest.approx(m.mean_return_pct, rel=1e-9, abs=1e-12, nan_ok=True)
            assert got_sharpe == pytest.approx(m.sharpe_per_trade, rel=1e-9, nan_ok=True)
            assert got_pf == pytest.approx(m.profit_factor, rel=1e-12, nan_ok=True)
        assert book["std_return"] == pytest.approx(
            row["std_return"], rel=1e-9, abs=1e-12, nan_ok=True
        )


# --------------------------------------------------------------------------- zero dispersion


def test_equal_returns_give_nan_sharpe_in_performance_metrics():
    m = performance_metrics(EQUAL_RETURNS)
    assert math.isnan(m.sharpe_per_trade)  # was 5.9e15 before the shared kernel
    assert any("same" in note for note in m.notes)


def test_constant_daily_growth_gives_nan_daily_sharpe():
    equity = 1.001 ** np.arange(20)  # every daily return 0.001: no dispersion
    assert math.isnan(performance_metrics([], equity).sharpe_daily)


def test_equal_returns_give_nan_sharpe_in_book_stats_and_the_slider():
    stats = book_stats(np.array(EQUAL_RETURNS))
    assert math.isnan(stats["sharpe_per_trade"])
    book = filtered_book(make_trades([0.7, 0.8, 0.9, 0.2], [*EQUAL_RETURNS, -1.0]), threshold=0.5)
    assert book.value("n_trades") == 3
    assert math.isnan(book.value("sharpe_per_trade"))
    assert not math.isnan(book.value("sharpe_per_trade", "baseline"))


def test_equal_returns_give_nan_sharpe_in_the_sweep_row_and_its_bands():
    trades = make_trades(np.linspace(0.1, 0.9, 30), [0.1] * 30)
    table = threshold_sweep(trades, thresholds=[0.0, 0.5], bands=True, n_boot=20).table
    assert (table["std_return"] == 0.0).all()
    assert table["sharpe"].isna().all()
    assert table["sharpe_low"].isna().all() and table["sharpe_high"].isna().all()


def test_equal_returns_give_nan_sharpe_in_the_selection_book():
    book = _book(np.array(EQUAL_RETURNS))
    assert book["std_return"] == 0.0
    assert math.isnan(book["sharpe"])
    with pytest.raises(InsufficientDataError, match="no dispersion"):
        sharpe_moments([0.1] * 6)


def test_equal_returns_give_nan_sharpe_in_a_walk_forward():
    n = 60
    trades = make_trades(np.linspace(0.0, 1.0, n), [0.1] * n)
    result = walk_forward_threshold(trades, objective="win_rate", min_trades=2, n_windows=2)
    assert result.summary["sharpe"].isna().all()
    assert result.windows["out_of_sample_sharpe"].isna().all()


def test_engine_win_rate_is_the_kernel():
    summary = calibration_summary(
        np.array([0.2, 0.5, np.nan, 0.9]),
        np.array([1.0, 0.0, 2.0, -1.0]),
        confidence_key="confidence",
    )
    assert summary.n == 3
    assert summary.win_rate == pytest.approx(1 / 3)  # the flat trade is not a win


# --------------------------------------------------------------------------- layering


ANALYTICS = (
    "core.analytics.stats",
    "core.analytics.sweep",
    "core.analytics.overfitting",
    "core.analytics.selection",
)


def _core_imports(module: str) -> set[str]:
    """Every ``core`` module ``module`` imports, at any depth of its code
    (inside functions and ``if TYPE_CHECKING:`` blocks too)."""
    path = ROOT / (module.replace(".", "/") + ".py")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("core"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(
                    full if (ROOT / (full.replace(".", "/") + ".py")).exists() else node.module
                )
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("core")}
    return found


def test_metrics_imports_only_errors():
    assert _core_imports("core.metrics") <= {"core.errors"}


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("core.analytics.stats", set(ANALYTICS) - {"core.analytics.stats"}),
        ("core.analytics.sweep", {"core.analytics.selection", "core.analytics.overfitting"}),
        ("core.analytics.overfitting", {"core.analytics.selection"}),
    ],
)
def test_threshold_analytics_import_one_way(module, forbidden):
    # stats <- sweep <- overfitting <- selection: data flows one way, no cycle.
    assert _core_imports(module) & forbidden == set()
