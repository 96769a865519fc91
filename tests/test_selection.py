"""Tests of core.analytics.selection: in-sample choice, walk-forward honesty, policies."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from core.analytics.selection import (
    ThresholdChoice,
    WalkForwardThresholdResult,
    objective_values,
    percentile_policy,
    select_threshold,
    walk_forward_threshold,
)
from core.analytics.sweep import threshold_sweep
from core.errors import ConfigError, InsufficientDataError, TradesFrameError, ValidationError


def synthetic_trades(n: int, *, informative: bool, seed: int) -> pd.DataFrame:
    """Seeded trades: returns +/- Exp(1) %, P(win) = 0.5 or 0.35 + 0.3 * confidence.

    Trades are spread over five years in time order and held three days.
    """
    rng = np.random.default_rng(seed)
    confidence = rng.random(n)
    p_win = 0.35 + 0.3 * confidence if informative else np.full(n, 0.5)
    win = rng.random(n) < p_win
    size = np.maximum(np.round(rng.exponential(1.0, n), 4), 0.0001)
    ret = np.where(win, size, -size)
    seconds = np.sort(rng.integers(0, 86_400 * 365 * 5, n))
    entry = pd.Timestamp("2019-01-01", tz="UTC") + pd.to_timedelta(seconds, unit="s")
    return pd.DataFrame(
        {
            "signal_id": [f"s{i}" for i in range(n)],
            "entry_time": entry,
            "exit_time": entry + pd.Timedelta(days=3),
            "confidence": confidence,
            "holding_days": 3.0,
            "return_pct": ret,
            "win": ret > 0,
        }
    )


@pytest.fixture(scope="module")
def noise() -> pd.DataFrame:
    return synthetic_trades(20_000, informative=False, seed=0)


@pytest.fixture(scope="module")
def signal() -> pd.DataFrame:
    return synthetic_trades(20_000, informative=True, seed=0)


def difference_z(result: WalkForwardThresholdResult) -> float:
    """z of (OOS filtered mean - OOS baseline mean); the filtered set is a subset."""
    oos = result.summary.loc["out_of_sample"]
    base = result.summary.loc["baseline_out_of_sample"]
    se = base["std_return"] * math.sqrt(1.0 / oos["trades"] - 1.0 / base["trades"])
    return (oos["mean_return"] - base["mean_return"]) / se


# ----------------------------------------------------------------------------
# select_threshold


def small_frame() -> pd.DataFrame:
    conf = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    ret = np.array([-1.0, 2.0, -3.0, 1.0, 1.0, -0.5, 2.0, 1.0])
    return pd.DataFrame({"confidence": conf, "return_pct": ret, "win": ret > 0})


@pytest.mark.parametrize(
    "objective", ["sharpe", "profit_factor", "win_rate", "expectancy_x_trades"]
)
def test_select_threshold_maximises_the_objective(objective):
    sweep = threshold_sweep(small_frame(), thresholds=np.arange(1, 9) / 10)
    choice = select_threshold(sweep, objective=objective, min_trades=3)
    table = sweep.table[sweep.table["trades"] >= 3]
    values = objective_values(table, objective)
    assert choice.value == pytest.approx(np.nanmax(values))
    assert choice.trades >= 3
    assert choice.n_trials == 8 and choice.n_eligible == len(table)
    assert choice.deflated is None  # a sweep carries no returns


def test_select_threshold_by_hand():
    # Thresholds keep the suffixes of the returns below (sorted by confidence):
    #   t=0.5: [1, -0.5, 2, 1]   total 3.5, PF 4/0.5 = 8, win rate 3/4
    #   t=0.6: [-0.5, 2, 1]      total 2.5, PF 3/0.5 = 6
    #   t=0.7: [2, 1]            total 3.0, PF inf (not eligible with min_trades=3)
    sweep = threshold_sweep(small_frame(), thresholds=[0.5, 0.6, 0.7])
    pf = select_threshold(sweep, objective="profit_factor", min_trades=3)
    assert (pf.threshold, pf.value, pf.trades) == (0.5, 8.0, 4)
    total = select_threshold(sweep, objective="expectancy_x_trades", min_trades=2)
    assert (total.threshold, total.value) == (0.5, 3.5)
    inf_pf = select_threshold(sweep, objective="profit_factor", min_trades=2)
    assert inf_pf.threshold == 0.7 and inf_pf.value == math.inf
    assert json.loads(json.dumps(inf_pf.to_dict(), allow_nan=False))["value"] == "inf"


def test_ties_go_to_more_trades_then_lower_threshold():
    ret = np.array([1.0, 1.0, 1.0, 1.0])
    frame = pd.DataFrame({"confidence": [0.1, 0.2, 0.3, 0.4], "return_pct": ret, "win": True})
    # Win rate is 1 everywhere: the threshold keeping the most trades wins; 0.0 and 0.1
    # keep the same four trades, so the lower threshold is taken.
    choice = select_threshold(frame, objective="win_rate", min_trades=1, thresholds=[0.3, 0.1, 0])
    assert choice.threshold == 0.0 and choice.trades == 4


def test_select_threshold_from_trades_reports_the_deflated_sharpe(signal):
    choice = select_threshold(signal, objective="sharpe", min_trades=100)
    assert isinstance(choice, ThresholdChoice)
    assert choice.deflated is not None
    # One rule everywhere: N = every threshold tried, N_eff from the eligible ones' correlation.
    assert choice.deflated.n_trials == choice.n_trials == 101
    assert choice.deflated.n_effective == pytest.approx(choice.n_effective)
    assert choice.n_eligible > choice.n_effective > 1.0
    assert choice.deflated.sr == pytest.approx(choice.sharpe, rel=1e-9)
    assert choice.deflated.n == choice.trades
    assert choice.deflated.sharpe_variance == pytest.approx(choice.sharpe_variance)
    # A real edge over 20k trades survives the deflation.
    assert choice.deflated.dsr > 0.5 and choice.deflated.psr > 0.99
    json.dumps(choice.to_dict(), allow_nan=False)


def test_select_threshold_percentile_mode(signal):
    choice = select_threshold(signal, objective="sharpe", min_trades=200, mode="percentile")
    assert choice.mode == "percentile" and 0 < choice.threshold <= 100
    assert choice.trades == math.ceil(round(choice.threshold * len(signal) / 100, 9))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"min_trades": 100}, InsufficientDataError, "no threshold keeps 100"),
        ({"objective": "sortino"}, ConfigError, "objective must be one of"),
        ({"min_trades": 0}, ConfigError, "min_trades"),
        ({"min_trades": 2.5}, ConfigError, "min_trades"),
    ],
)
def test_select_threshold_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        select_threshold(small_frame(), **kwargs)


def test_select_threshold_rejects_other_inputs():
    with pytest.raises(TradesFrameError, match="SweepResult or a trades DataFrame"):
        select_threshold([1, 2, 3])  # type: ignore[arg-type]


# ----------------------------------------------------------------------------
# percentile_policy


def test_percentile_policy_is_numpy_percentile():
    values = np.random.default_rng(3).random(501)
    assert percentile_policy(values) == np.percentile(values, 80)
    assert percentile_policy(values, q=50) == np.median(values)
    assert percentile_policy([0.4]) == 0.4


@pytest.mark.parametrize(
    ("values", "q", "error", "match"),
    [
        ([], 80, InsufficientDataError, "at least one"),
        ([0.1, np.nan], 80, ValidationError, "finite"),
        ([0.1], 120, ConfigError, "q must be"),
    ],
)
def test_percentile_policy_errors(values, q, error, match):
    with pytest.raises(error, match=match):
        percentile_policy(values, q=q)


# ----------------------------------------------------------------------------
# walk_forward_threshold


def test_pure_noise_shows_no_out_of_sample_edge(noise):
    result = walk_forward_threshold(noise, objective="sharpe", min_trades=30, n_windows=6)
    summary = result.summary
    assert list(summary.index) == ["in_sample", "out_of_sample", "baseline_out_of_sample"]
    # Filtering on an uninformative score: OOS mean within 3 standard errors of baseline.
    assert abs(difference_z(result)) < 3.0
    oos, base = summary.loc["out_of_sample"], summary.loc["baseline_out_of_sample"]
    sharpe_se = 1.0 / math.sqrt(oos["trades"])
    assert abs(oos["sharpe"] - base["sharpe"]) < 3.0 * sharpe_se
    # In sample the chosen threshold looks better than it is out of sample.
    assert summary.loc["in_sample", "sharpe"] > oos["sharpe"]
    # The in-sample choice on the full history is not significant once deflated.
    choice = select_threshold(noise, objective="sharpe", min_trades=30)
    assert choice.deflated is not None
    assert choice.deflated.dsr < 0.95
    assert result.n_trials == 101


def test_planted_signal_is_found_out_of_sample(signal):
    result = walk_forward_threshold(signal, objective="sharpe", min_trades=30, n_windows=6)
    oos = result.summary.loc["out_of_sample"]
    base = result.summary.loc["baseline_out_of_sample"]
    assert difference_z(result) > 3.0
    assert oos["sharpe"] > base["sharpe"] + 0.05
    assert oos["win_rate"] > base["win_rate"]
    assert (result.windows["score_cutoff"] > 0.3).all()
    assert len(result.oos_index) == oos["trades"]
    assert signal.loc[result.oos_index, "return_pct"].mean() == pytest.approx(oos["mean_return"])


def test_percentile_policy_in_walk_forward(signal):
    result = walk_forward_threshold(signal, policy="percentile", q=80, n_windows=3)
    assert result.n_trials == 1
    ordered = signal.sort_values("entry_time")
    for row in result.windows.itertuples():
        train = ordered[(ordered["entry_time"] <= row.train_end)]
        train = train[train["exit_time"] < row.test_start]
        assert row.threshold == pytest.approx(np.percentile(train["confidence"], 80))
        # about 20 % of the next window trades above last window's 80th percentile
        assert 0.15 < row.out_of_sample_coverage < 0.25


def test_windows_never_look_ahead(signal):
    # Scrambling the returns of the last block changes no choice: it is only ever tested on.
    base = walk_forward_threshold(signal, n_windows=4)
    last_start = base.windows["test_start"].iloc[-1]
    changed = signal.copy()
    late = changed["entry_time"] >= last_start
    changed.loc[late, "return_pct"] = -changed.loc[late, "return_pct"]
    changed["win"] = changed["return_pct"] > 0
    other = walk_forward_threshold(changed, n_windows=4)
    pd.testing.assert_series_equal(base.windows["threshold"], other.windows["threshold"])
    assert base.windows["out_of_sample_mean_return"].iloc[-1] == pytest.approx(
        -other.windows["out_of_sample_mean_return"].iloc[-1]
    )


def test_window_layout_expanding_and_rolling(noise):
    expanding = walk_forward_threshold(noise, n_windows=4, purge=False).windows
    rolling = walk_forward_threshold(noise, n_windows=4, purge=False, scheme="rolling").windows
    block = len(noise) // 5
    assert expanding["test_trades"].sum() == len(noise) - block
    assert expanding["train_trades"].tolist() == [block * w for w in range(1, 5)]
    assert rolling["train_trades"].tolist() == [block] * 4
    assert (expanding["train_end"] < expanding["test_start"]).all()
    assert (rolling["train_start"].iloc[1:] > rolling["train_start"].iloc[0]).all()
    assert (expanding["purged"] == 0).all()


def test_purging_drops_training_trades_still_open():
    # 14 daily trades held 10 days; with 1 window the test starts at trade 7. Trades
    # 0..6 enter on days 0..6 and exit on days 10..16, all at or after day 7: all
    # open at the test start -> nothing left to learn from.
    frame = synthetic_trades(14, informative=False, seed=1)
    frame["entry_time"] = pd.date_range("2024-01-01", periods=14, freq="D", tz="UTC")
    frame["exit_time"] = frame["entry_time"] + pd.Timedelta(days=10)
    with pytest.raises(InsufficientDataError, match="still open"):
        walk_forward_threshold(frame, n_windows=1, min_trades=1)
    # Held 2 days: trades 0..4 exit on days 2..6 (< day 7) and stay; 5 and 6 are purged.
    frame["exit_time"] = frame["entry_time"] + pd.Timedelta(days=2)
    row = walk_forward_threshold(frame, n_windows=1, min_trades=1).windows.iloc[0]
    assert (row["train_trades"], row["purged"], row["test_trades"]) == (5, 2, 7)


def test_missing_exit_time_uses_business_days():
    # Daily entries from Mon 2024-01-01, exit NaT, holding 3 business days. The test
    # window starts at trade 7 (Mon 01-08 00:00). Training entries Mon..Sun exit:
    # Mon->Thu 01-04, Tue->Fri 01-05 (kept); Wed->Mon 01-08, Thu->Tue 01-09,
    # Fri->Wed 01-10, Sat and Sun (rolled forward to Mon) -> Thu 01-11 (5 purged).
    frame = synthetic_trades(14, informative=False, seed=2)
    frame["entry_time"] = pd.date_range("2024-01-01", periods=14, freq="D", tz="UTC")
    frame["exit_time"] = pd.NaT
    frame["holding_days"] = 3.0
    row = walk_forward_threshold(frame, n_windows=1, min_trades=1).windows.iloc[0]
    assert (row["train_trades"], row["purged"]) == (2, 5)


def test_unknown_exits_warn_and_are_not_purged():
    frame = synthetic_trades(40, informative=False, seed=3)
    frame["exit_time"] = pd.NaT
    frame["holding_days"] = np.nan
    with pytest.warns(UserWarning, match="neither exit_time nor holding_days"):
        result = walk_forward_threshold(frame, n_windows=2, min_trades=2)
    assert result.n_exit_imputed == 40
    assert (result.windows["purged"] == 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        walk_forward_threshold(frame, n_windows=2, min_trades=2, purge=False)


def test_percentile_mode_carries_the_training_cutoff(signal):
    result = walk_forward_threshold(signal, mode="percentile", n_windows=3, min_trades=50)
    windows = result.windows
    assert ((windows["threshold"] > 0) & (windows["threshold"] <= 100)).all()
    assert (windows["score_cutoff"].between(0, 1)).all()
    # OOS keeps score >= the training cutoff; in sample keeps exactly the top q %.
    ordered = signal.sort_values("entry_time")
    for row in windows.itertuples():
        test = ordered[
            (ordered["entry_time"] >= row.test_start) & (ordered["entry_time"] <= row.test_end)
        ]
        assert row.out_of_sample_trades == (test["confidence"] >= row.score_cutoff).sum()
        assert row.in_sample_trades == math.ceil(round(row.threshold * row.train_trades / 100, 9))


def test_cost_bps_lowers_every_return(signal):
    free = walk_forward_threshold(signal, n_windows=2, policy="percentile")
    costly = walk_forward_threshold(signal, n_windows=2, policy="percentile", cost_bps=20)
    diff = (
        free.summary.loc["baseline_out_of_sample", "mean_return"]
        - costly.summary.loc["baseline_out_of_sample", "mean_return"]
    )
    assert diff == pytest.approx(0.2)


def test_to_dict_is_json_safe(signal):
    result = walk_forward_threshold(signal, n_windows=2)
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert payload["n_trials"] == 101 and len(payload["windows"]) == 2
    assert set(payload["summary"]) == {"in_sample", "out_of_sample", "baseline_out_of_sample"}
    assert payload["windows"][0]["test_start"].startswith("20")


@pytest.mark.parametrize(
    ("change", "kwargs", "error", "match"),
    [
        (lambda f: f.drop(columns="entry_time"), {}, TradesFrameError, "entry_time"),
        (lambda f: f.assign(entry_time=pd.NaT), {}, TradesFrameError, "NaT"),
        (lambda f: f.head(5), {}, InsufficientDataError, "at least 14"),
        (lambda f: f, {"min_trades": 10_000}, InsufficientDataError, "window 1"),
        (lambda f: f, {"n_windows": 0}, ConfigError, "n_windows"),
        (lambda f: f, {"scheme": "sliding"}, ConfigError, "scheme"),
        (lambda f: f, {"policy": "best"}, ConfigError, "policy"),
        (lambda f: f, {"q": -1}, ConfigError, "q must be"),
        (lambda f: f, {"objective": "calmar"}, ConfigError, "objective"),
        (
            lambda f: f.assign(entry_time=pd.Timestamp("2024-01-01", tz="UTC")),
            {},
            InsufficientDataError,
            "share an entry time",
        ),
    ],
)
def test_walk_forward_errors(change, kwargs, error, match):
    frame = change(synthetic_trades(400, informative=True, seed=5))
    with pytest.raises(error, match=match):
        walk_forward_threshold(frame, **kwargs)


@pytest.mark.parametrize(
    "returns",
    [
        [],
        [1.5],
        [0.1, 0.1, 0.1],
        [2.0, -1.0, 3.0, 0.0],
        [1.0, 2.0],
        [-1.0, -2.0, 0.0],
        list(np.random.default_rng(3).normal(0.05, 1.0, 5_001)),
    ],
)
def test_book_equals_performance_metrics(returns):
    """The walk-forward's books use performance_metrics' formulas through the kernels."""
    from core.analytics.selection import _book
    from core.metrics import performance_metrics

    r = np.asarray(returns, dtype=np.float64)
    book, m = _book(r), performance_metrics(r)
    for ours, theirs in (
        (book["win_rate"], m.win_rate),
        (book["mean_return"], m.mean_return_pct),
        (book["sharpe"], m.sharpe_per_trade),
        (book["profit_factor"], m.profit_factor),
    ):
        assert (math.isnan(ours) and math.isnan(theirs)) or ours == theirs
    assert book["trades"] == m.n_trades
