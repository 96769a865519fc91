"""Walk-forward calibration: planted miscalibration, purging, alignment, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import core.analytics.walkforward as wf
from core.analytics.calibration import CalibrationMetrics, expected_calibration_error
from core.analytics.walkforward import (
    WINDOW_COLUMNS,
    WalkForwardResult,
    outcome_times,
    walk_forward_calibrate,
)
from core.errors import CalibrationError, ConfigError, TradesFrameError
from core.trades import empty_trades_frame


def make_trades(
    n: int,
    *,
    a: float = 4.0,
    b: float = -2.5,
    seed: int = 0,
    max_hold_days: float = 3.0,
    freq: str = "h",
) -> pd.DataFrame:
    """Trades with the contract columns; P(win) = sigmoid(a c + b), c ~ U(0, 1)."""
    rng = np.random.default_rng(seed)
    c = rng.random(n)
    win = rng.random(n) < expit(a * c + b)
    mag = rng.exponential(1.0, n) + 0.01
    entry = pd.date_range("2020-01-06", periods=n, freq=freq, tz="UTC", unit="ns")
    hold = rng.uniform(0.0, max_hold_days, n)
    frame = pd.DataFrame(
        {
            "signal_id": [f"s{i:07d}" for i in range(n)],
            "run_id": ["run"] * n,
            "entry_time": entry,
            "exit_time": entry + pd.to_timedelta(hold, unit="D"),
            "symbol": ["AAA"] * n,
            "side": np.ones(n, dtype=np.int8),
            "confidence": c,
            "calibrated_probability": np.full(n, np.nan),
            "num_agreeing_models": np.full(n, np.nan),
            "market_volatility": np.full(n, np.nan),
            "signal_strength": np.full(n, np.nan),
            "holding_days": np.ceil(hold),
            "applied_threshold": np.full(n, np.nan),
            "return_pct": np.where(win, mag, -mag),
            "win": win,
        }
    )
    return frame.astype(empty_trades_frame().dtypes.to_dict())


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return make_trades(30_000, seed=42)


# --------------------------------------------------------------------------- planted miscalibration


def test_platt_walk_forward_fixes_planted_miscalibration(planted):
    res = walk_forward_calibrate(planted, method="platt", n_windows=12)
    assert isinstance(res, WalkForwardResult)
    assert res.raw.ece > 0.08  # raw confidence is far from calibrated
    assert res.out_of_sample.ece < 0.02
    assert res.in_sample.ece < 0.02
    assert res.full_calibrator.a == pytest.approx(4.0, abs=0.15)
    assert res.full_calibrator.b == pytest.approx(-2.5, abs=0.1)
    # totals agree with recomputation on the evaluated trades
    ok = res.calibrated_probability.notna()
    assert res.out_of_sample.ece == pytest.approx(
        expected_calibration_error(res.calibrated_probability[ok], planted["win"][ok])
    )
    assert res.raw.ece == pytest.approx(
        expected_calibration_error(planted["confidence"][ok], planted["win"][ok])
    )
    assert res.n_evaluated == ok.sum() == 30_000 - 2500
    totals = res.totals()
    assert list(totals.columns) == ["raw", "in_sample", "out_of_sample"]
    assert totals.loc["ece", "out_of_sample"] == res.out_of_sample.ece
    assert "strategy" not in totals.index and "ece_high" not in totals.index
    assert (totals.dtypes == np.float64).all()


@pytest.mark.parametrize("method", ["isotonic", "beta", "histogram"])
def test_other_methods_improve_out_of_sample(planted, method):
    res = walk_forward_calibrate(planted, method=method, n_windows=6)
    assert res.out_of_sample.ece < res.raw.ece / 2
    assert res.out_of_sample.brier < res.raw.brier


def test_window_table(planted):
    res = walk_forward_calibrate(planted, method="platt", n_windows=12)
    w = res.windows
    assert list(w.columns) == list(WINDOW_COLUMNS) and len(w) == 12
    assert w.loc[0, "status"] == "insufficient history" and w.loc[0, "n_train"] == 0
    assert (w.loc[1:, "status"] == "ok").all()
    assert w["n_test"].sum() == 30_000
    assert (w.loc[1:, "train_end"] < w.loc[1:, "test_start"]).all()
    assert (w["test_start"].iloc[1:].to_numpy() > w["test_end"].iloc[:-1].to_numpy()).all()
    assert (w.loc[2:, "out_of_sample_ece_calibrated"] < w.loc[2:, "out_of_sample_ece_raw"]).all()
    assert (w.loc[1:, "in_sample_log_loss_calibrated"] < w.loc[1:, "in_sample_log_loss_raw"]).all()
    # the last window's calibrator is the one that scored it
    last = w.iloc[-1]
    test = planted.iloc[-int(last["n_test"]) :]
    np.testing.assert_allclose(
        res.last_calibrator.predict(test["confidence"]),
        res.calibrated_probability.iloc[-len(test) :],
    )


# --------------------------------------------------------------------------- purging


class Recorder:
    """Wraps make_calibrator to record every training set."""

    def __init__(self) -> None:
        self.fits: list[np.ndarray] = []
        self.original = wf.make_calibrator

    def __call__(self, method, **options):
        cal = self.original(method, **options)
        fit = cal.fit

        def recording_fit(confidence, win):
            self.fits.append(np.asarray(confidence).copy())
            return fit(confidence, win)

        cal.fit = recording_fit
        return cal


@pytest.mark.parametrize("scheme", ["expanding", "rolling"])
def test_no_training_outcome_passes_the_test_start(monkeypatch, scheme):
    trades = make_trades(3000, seed=3, max_hold_days=20.0)
    recorder = Recorder()
    monkeypatch.setattr(wf, "make_calibrator", recorder)
    res = walk_forward_calibrate(
        trades, method="platt", n_windows=10, min_train=100, scheme=scheme, train_windows=2
    )
    ok = res.windows[res.windows["status"] == "ok"]
    fits = recorder.fits[: len(ok)]  # the last fit is the full-sample calibrator
    assert len(ok) >= 5 and len(recorder.fits) == len(ok) + 1
    row_of = pd.Series(np.arange(len(trades)), index=trades["confidence"].to_numpy())
    for (_, window), trained_on in zip(ok.iterrows(), fits, strict=True):
        rows = trades.iloc[row_of.loc[trained_on].to_numpy()]
        start = window["test_start"]
        assert (rows["exit_time"] <= start).all()
        assert (rows["entry_time"] < start).all()
        # ... and nothing eligible was left out (expanding) / outside the look-back (rolling)
        eligible = (trades["entry_time"] < start) & (trades["exit_time"] <= start)
        if scheme == "rolling":
            k = int(window["window"])
            first = res.windows.loc[max(0, k - 2), "test_start"]
            eligible &= trades["entry_time"] >= first
        assert len(rows) == eligible.sum() == window["n_train"]
        entered = (trades["entry_time"] < start) & ~eligible
        if scheme == "expanding":
            assert window["n_purged"] == entered.sum()
    assert ok["n_purged"].sum() > 0


def test_outcome_times_business_days_and_purge():
    trades = make_trades(4, seed=0)
    trades["entry_time"] = pd.to_datetime(
        ["2021-01-08 15:30", "2021-01-08 15:30", "2021-01-09 10:00", "2021-01-11 09:00"], utc=True
    )
    trades["exit_time"] = pd.Series(pd.NaT, index=trades.index, dtype="datetime64[ns, UTC]")
    trades.loc[3, "exit_time"] = pd.Timestamp("2021-01-12 09:00", tz="UTC")
    trades["holding_days"] = [1.0, 2.5, 1.0, np.nan]
    got = pd.to_datetime(outcome_times(trades), utc=True)
    expected = pd.to_datetime(
        [
            "2021-01-11 15:30",  # Friday + 1 business day -> Monday
            "2021-01-13 15:30",  # 2.5 bars -> 3 business days
            "2021-01-12 10:00",  # Saturday rolls to Monday, + 1 -> Tuesday
            "2021-01-12 09:00",  # exit time known
        ],
        utc=True,
    )
    assert list(got) == list(expected)
    embargoed = pd.to_datetime(outcome_times(trades, purge=pd.Timedelta(days=2)), utc=True)
    assert embargoed[0] == expected[0] and embargoed[3] == pd.Timestamp(
        "2021-01-13 09:00", tz="UTC"
    )
    trades.loc[3, "exit_time"] = pd.NaT
    with pytest.raises(TradesFrameError, match=r"row 3 .* pass purge=pandas.Timedelta"):
        outcome_times(trades)
    assert pd.Timestamp(
        outcome_times(trades, purge=pd.Timedelta("1D"))[3], tz="UTC"
    ) == pd.Timestamp("2021-01-12 09:00", tz="UTC")


def test_purge_embargo_reduces_training(planted):
    base = walk_forward_calibrate(planted, method="platt", n_windows=4)
    embargoed = walk_forward_calibrate(planted, method="platt", n_windows=4, purge="30D")
    assert (embargoed.windows.loc[1:, "n_train"] < base.windows.loc[1:, "n_train"]).all()
    assert embargoed.purge == pd.Timedelta(days=30)


# --------------------------------------------------------------------------- alignment


def test_output_aligned_to_input_order_and_nan_scores():
    trades = make_trades(2000, seed=5)
    trades.loc[[3, 1500], "confidence"] = np.nan
    res = walk_forward_calibrate(trades, method="isotonic", n_windows=4, min_train=100)
    cp = res.calibrated_probability
    assert cp.index.equals(trades.index) and cp.name == "calibrated_probability"
    assert np.isnan(cp[3]) and np.isnan(cp[1500]) and not np.isnan(cp[1501])
    shuffled = trades.sample(frac=1.0, random_state=1).set_index(trades.index[::-1])
    res2 = walk_forward_calibrate(shuffled, method="isotonic", n_windows=4, min_train=100)
    back = pd.Series(res2.calibrated_probability.to_numpy(), index=shuffled["signal_id"])
    forward = pd.Series(cp.to_numpy(), index=trades["signal_id"])
    pd.testing.assert_series_equal(back.loc[forward.index], forward, check_names=False)
    applied = res.apply(trades)
    assert applied["calibrated_probability"].equals(cp.rename("calibrated_probability"))
    assert trades["calibrated_probability"].isna().all()  # input untouched
    with pytest.raises(TradesFrameError, match="different index"):
        res.apply(trades.iloc[:10])


def test_equal_entry_times_are_not_split():
    trades = make_trades(1200, seed=6, freq="D")
    trades["entry_time"] = trades["entry_time"].dt.floor("7D")  # weekly clumps of trades
    trades["exit_time"] = trades["entry_time"] + pd.Timedelta(days=1)
    res = walk_forward_calibrate(trades, method="histogram", n_windows=5, min_train=50)
    w = res.windows[res.windows["n_test"] > 0]
    assert (w["test_start"].iloc[1:].to_numpy() > w["test_end"].iloc[:-1].to_numpy()).all()
    assert w["n_test"].sum() == 1200


def test_rolling_uses_only_recent_windows(planted):
    res = walk_forward_calibrate(planted, method="platt", scheme="rolling", train_windows=2)
    w = res.windows
    assert (w.loc[3:, "n_train"] <= 2 * 2500).all()
    assert (w.loc[3:, "train_start"] >= w["test_start"].shift(2).loc[3:]).all()


def test_insufficient_history_everywhere():
    res = walk_forward_calibrate(make_trades(300, seed=7), n_windows=3, min_train=1000)
    assert (res.windows["status"] == "insufficient history").all()
    assert res.raw is None and res.out_of_sample is None and res.full_calibrator is None
    assert res.calibrated_probability.isna().all() and res.totals().empty
    json.dumps(res.to_dict())


def test_to_dict_is_json(planted):
    res = walk_forward_calibrate(planted.iloc[:5000], method="platt", n_windows=3, purge="1D")
    d = json.loads(json.dumps(res.to_dict()))
    assert d["method"] == "platt" and d["purge"] == "P1DT0H0M0S"
    assert d["last_calibrator"]["method"] == "platt" and len(d["windows"]) == 3
    assert d["windows"][0]["out_of_sample_ece_raw"] is None
    assert isinstance(res.out_of_sample, CalibrationMetrics)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_windows": 0}, ConfigError, "n_windows must be an integer >= 1"),
        ({"min_train": 0}, ConfigError, "min_train must be an integer >= 1"),
        ({"train_windows": 1.5}, ConfigError, "train_windows must be an integer"),
        ({"scheme": "sliding"}, ConfigError, "scheme must be 'expanding' or 'rolling'"),
        ({"purge": "soon"}, ConfigError, "purge must be a pandas.Timedelta"),
        ({"purge": "-1D"}, ConfigError, "purge must be a non-negative Timedelta"),
        ({"method": "isotonc"}, CalibrationError, "did you mean 'isotonic'"),
        ({"options": {"bins": 3}}, CalibrationError, "has no option 'bins'"),
        ({"key": "score"}, TradesFrameError, "no column 'score'"),
    ],
)
def test_invalid_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        walk_forward_calibrate(make_trades(50), **kwargs)


def test_missing_entry_time_and_unknown_outcomes():
    trades = make_trades(50)
    with pytest.raises(TradesFrameError, match="no column 'entry_time'"):
        walk_forward_calibrate(trades.drop(columns="entry_time"))
    no_exit = trades.assign(exit_time=pd.NaT, holding_days=np.nan)
    with pytest.raises(TradesFrameError, match="pass purge="):
        walk_forward_calibrate(no_exit)
    res = walk_forward_calibrate(no_exit, purge="1h", n_windows=2, min_train=10)
    assert res.windows.loc[1, "status"] == "ok" and res.windows.loc[1, "n_train"] == 25
    res = walk_forward_calibrate(no_exit, purge="5D", n_windows=2, min_train=10)
    assert res.windows.loc[1, "status"] == "insufficient history"
    assert res.windows.loc[1, "n_purged"] == 25
