"""``core.metrics.performance_metrics``: hand-computed values and empyrical-style references."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.errors import ValidationError
from core.metrics import HIGHER_IS_BETTER, PerformanceMetrics, improvement, performance_metrics


def test_trade_statistics_by_hand():
    m = performance_metrics([2.0, -1.0, 3.0, 0.0])
    assert m.n_trades == 4
    assert m.win_rate == 0.5  # the flat trade is not a win
    assert m.mean_return_pct == 1.0
    assert m.median_return_pct == 1.0
    assert m.avg_win_pct == 2.5
    assert m.avg_loss_pct == -0.5  # mean of -1 and 0
    assert m.expectancy_pct == pytest.approx(0.5 * 2.5 + 0.5 * -0.5)
    # deviations 1, -2, 2, -1 -> sum of squares 10 -> var 10/3 (ddof=1)
    assert m.sharpe_per_trade == pytest.approx(1.0 / math.sqrt(10 / 3))
    # downside deviation sqrt(mean([0, 1, 0, 0])) = 0.5
    assert m.sortino_per_trade == pytest.approx(2.0)
    assert m.profit_factor == 5.0  # gains 5 / losses 1
    assert math.isnan(m.sharpe_daily) and m.n_days == 0


def test_equity_statistics_by_hand():
    equity = pd.Series([1.0, 1.1, 0.99, 1.089])
    m = performance_metrics([1.0], equity, open_positions=[0, 1, 1, 0])
    d = np.array([0.1, -0.1, 0.1])
    assert m.total_return == pytest.approx(0.089)
    assert m.max_drawdown == pytest.approx(0.1)  # 0.99 is 10 % below the 1.1 peak
    assert m.sharpe_daily == pytest.approx(d.mean() / d.std(ddof=1) * math.sqrt(252))
    assert m.sortino_daily == pytest.approx(d.mean() / math.sqrt(0.01 / 3) * math.sqrt(252))
    assert m.volatility_daily == pytest.approx(d.std(ddof=1) * math.sqrt(252))
    assert m.cagr == pytest.approx(1.089 ** (252 / 3) - 1)
    assert m.exposure == 0.5
    assert m.n_days == 4


def test_flat_equity_has_no_drawdown_and_undefined_sharpe():
    m = performance_metrics([], np.ones(10), open_positions=np.zeros(10))
    assert m.max_drawdown == 0.0
    assert m.total_return == 0.0
    assert math.isnan(m.sharpe_daily)
    assert m.exposure == 0.0
    assert m.n_trades == 0 and math.isnan(m.win_rate)
    assert "no trades" in m.notes


def test_degenerate_trades():
    single = performance_metrics([1.5])
    assert single.win_rate == 1.0 and math.isnan(single.sharpe_per_trade)
    only_wins = performance_metrics([1.0, 2.0])
    assert only_wins.profit_factor == math.inf
    assert any("profit_factor is inf" in note for note in only_wins.notes)
    assert math.isnan(only_wins.sortino_per_trade)  # no downside: undefined, not inf
    same = performance_metrics([1.0, 1.0, 1.0])
    assert math.isnan(same.sharpe_per_trade)
    assert any("same" in note for note in same.notes)
    flat = performance_metrics([0.0, 0.0])
    assert math.isnan(flat.profit_factor) and flat.win_rate == 0.0


# --------------------------------------------------------------------------- empyrical-style


def _empyrical_reference(returns: np.ndarray, ppy: int = 252) -> dict[str, float]:
    """The definitions of empyrical 0.5 (written out; empyrical itself is not installed).

    - sharpe_ratio = mean(r) / std(r, ddof=1) * sqrt(ppy)
    - downside_risk = sqrt(mean(min(r, 0)^2)) * sqrt(ppy); sortino = mean(r) * ppy / downside_risk
    - max_drawdown = min(cum / running_max(cum) - 1)  (a negative number)
    - cagr = prod(1 + r) ** (1 / (len(r) / ppy)) - 1
    """
    cum = np.cumprod(1 + returns)
    peak = np.maximum.accumulate(np.concatenate([[1.0], cum]))[1:]
    return {
        "sharpe": returns.mean() / returns.std(ddof=1) * math.sqrt(ppy),
        "sortino": returns.mean()
        * ppy
        / (math.sqrt(np.mean(np.minimum(returns, 0) ** 2)) * math.sqrt(ppy)),
        "max_drawdown": float(np.min(cum / peak - 1)),
        "cagr": cum[-1] ** (1 / (len(returns) / ppy)) - 1,
        "volatility": returns.std(ddof=1) * math.sqrt(ppy),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_daily_statistics_match_empyrical_definitions(seed):
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0004, 0.01, 600)
    equity = np.concatenate([[1.0], np.cumprod(1 + returns)])  # starting capital first
    m = performance_metrics([], equity)
    ref = _empyrical_reference(returns)
    assert m.sharpe_daily == pytest.approx(ref["sharpe"], rel=1e-10)
    assert m.sortino_daily == pytest.approx(ref["sortino"], rel=1e-10)
    assert m.volatility_daily == pytest.approx(ref["volatility"], rel=1e-10)
    # empyrical reports the drawdown negative; we report its magnitude
    assert m.max_drawdown == pytest.approx(-ref["max_drawdown"], rel=1e-10)
    assert m.cagr == pytest.approx(ref["cagr"], rel=1e-10)


def test_per_trade_sharpe_is_not_annualised():
    r = np.array([1.0, -0.5, 2.0, 0.3, -1.2])
    assert performance_metrics(r).sharpe_per_trade == pytest.approx(r.mean() / r.std(ddof=1))


# --------------------------------------------------------------------------- improvement


def test_improvement_is_a_difference_per_metric():
    base = performance_metrics([1.0, -1.0, 2.0, -2.0])
    filt = performance_metrics([2.0, -1.0, 3.0])
    diff = improvement(filt, base)
    assert set(diff) == set(base.numeric())
    assert diff["win_rate"] == pytest.approx(2 / 3 - 0.5)
    assert diff["mean_return_pct"] == pytest.approx(4 / 3 - 0.0)
    assert diff["n_trades"] == -1


def test_improvement_of_two_infinite_profit_factors_is_undefined():
    a, b = performance_metrics([1.0]), performance_metrics([2.0, 3.0])
    assert math.isnan(improvement(a, b)["profit_factor"])
    assert improvement(a, performance_metrics([1.0, -1.0]))["profit_factor"] == math.inf


def test_higher_is_better_covers_every_rate_and_ratio():
    names = set(performance_metrics([1.0]).numeric()) - {"n_trades", "n_days"}
    assert names == set(HIGHER_IS_BETTER)


def test_to_dict_round_trip():
    m = performance_metrics([1.0, 2.0])
    d = m.to_dict()
    assert d["notes"] == list(m.notes)
    assert PerformanceMetrics(**{**d, "notes": tuple(d["notes"])}) == m


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("returns", "equity", "match"),
    [
        ([1.0, np.nan], None, "finite"),
        ([[1.0, 2.0]], None, "one-dimensional"),
        (["a"], None, "numbers"),
        ([1.0], [1.0, 0.0, 1.0], "positive"),
        ([1.0], [1.0, np.inf], "finite and positive"),
    ],
)
def test_bad_inputs_name_the_problem(returns, equity, match):
    with pytest.raises(ValidationError, match=match):
        performance_metrics(returns, equity)


def test_open_positions_must_align_with_equity():
    with pytest.raises(ValidationError, match="open_positions"):
        performance_metrics([1.0], np.ones(5), open_positions=np.ones(4))
