"""Tests of core.lifecycle.ledger: the trial ledger and the recorded threshold decision."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.analytics.selection import select_threshold
from core.errors import ConfigError, StoreError
from core.events import EventType
from core.lifecycle.ledger import TrialLedger, current_decision, record_threshold_choice
from core.store import Store


def test_count_sums_the_trials_since_the_last_reset(store):
    ledger = TrialLedger(store)
    assert ledger.count("momo") == 0
    ledger.record("momo", run_id="run-1", kind="sweep", params={"key": "confidence"}, n_trials=101)
    ledger.record("momo", run_id="run-1", kind="rerun", params={"threshold": 0.62}, n_trials=1)
    ledger.record("other", run_id=None, kind="grid", params={"cells": 12}, n_trials=12)
    assert ledger.count("momo") == 102 and ledger.count("other") == 12
    reset = ledger.reset("momo", reason="new data from 2025-01")
    assert reset.payload["reason"] == "new data from 2025-01"
    assert ledger.count("momo") == 0 and ledger.count("other") == 12
    ledger.record("momo", run_id=None, kind="calibrator_comparison",
                  params={"methods": ["platt", "isotonic"]}, n_trials=2)  # fmt: skip
    assert ledger.count("momo") == 2
    frame = ledger.frame("momo")
    assert list(frame["kind"]) == ["calibrator_comparison"]
    assert frame["params"].iloc[0] == {"methods": ["platt", "isotonic"]}
    everything = ledger.frame("momo", since_reset=False)
    assert list(everything["n_trials"]) == [101, 1, 2]
    assert everything["run_id"].tolist()[:2] == ["run-1", "run-1"]
    assert pd.isna(everything["run_id"].iloc[2])
    assert store.count_events(event_type=EventType.TRIAL_RECORDED) == 4


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda led: led.record("s", run_id=None, kind="guess", n_trials=1), ConfigError, "kind"),
        (
            lambda led: led.record("s", run_id=None, kind="sweep", n_trials=-1),
            ConfigError,
            "n_trials",
        ),
        (
            lambda led: led.record("s", run_id=None, kind="sweep", n_trials=2.5),
            ConfigError,
            "n_trials",
        ),
        (lambda led: led.record(" ", run_id=None, kind="sweep", n_trials=1), StoreError, "signal"),
        (lambda led: led.reset("s", reason=""), ConfigError, "reason is required"),
    ],
)
def test_ledger_errors(store, call, error, match):
    with pytest.raises(error, match=match):
        call(TrialLedger(store))


def test_the_ledger_count_deflates_the_choice(store):
    rng = np.random.default_rng(3)
    n = 2000
    conf = rng.random(n)
    ret = rng.standard_normal(n) + np.where(conf > 0.9, 0.3, 0.0)
    trades = pd.DataFrame({"confidence": conf, "return_pct": ret, "win": ret > 0})
    ledger = TrialLedger(store)
    for _ in range(5):  # five sweeps of 101 thresholds
        ledger.record("momo", run_id=None, kind="sweep", n_trials=101)
    alone = select_threshold(trades)
    counted = select_threshold(trades, n_trials=ledger.count("momo"))
    assert counted.threshold == alone.threshold
    assert counted.n_trials == 505 and alone.n_trials == 101
    assert counted.n_effective == pytest.approx(5 * alone.n_effective)
    assert counted.deflated.sr_star > alone.deflated.sr_star
    assert counted.deflated.dsr < alone.deflated.dsr


def test_threshold_decision_round_trip(store):
    assert current_decision(store, "momo") is None
    first = record_threshold_choice(
        store, signal="momo", run_id="run-1", key="raw confidence", mode="absolute",
        threshold=0.6, in_sample={"sharpe": 0.2, "profit_factor": float("inf")},
        out_of_sample={"sharpe": 0.1, "trades": 300}, dsr=0.97, pbo=0.2, ledger_count=101,
        reason="walk-forward median choice",
    )  # fmt: skip
    second = record_threshold_choice(
        store, signal="momo", run_id="run-2", key="isotonic, walk-forward, 12 windows",
        mode="percentile", threshold=20.0, in_sample={}, out_of_sample={"sharpe": float("nan")},
        dsr=None, pbo=None, ledger_count=202, reason="recalibrated",
    )  # fmt: skip
    got = current_decision(store, "momo")
    assert got == second and got != first
    assert got.out_of_sample == {"sharpe": None}
    assert first.in_sample["profit_factor"] == "inf"
    json.dumps(got.to_dict(), allow_nan=False)
    with pytest.raises(ConfigError, match="reason is required"):
        record_threshold_choice(
            store, signal="momo", run_id=None, key="raw", mode="absolute", threshold=0.5,
            in_sample={}, out_of_sample={}, dsr=None, pbo=None, ledger_count=0, reason=" ",
        )  # fmt: skip


def test_cli_backtests_and_grid_cells_are_trials_of_their_signal(tmp_path, capsys):
    from core.cli import main

    d = ["--data-dir", str(tmp_path / "data")]
    small = ["--source", "synthetic", "--n-symbols", "3", "--n-days", "300", "--quiet"]
    assert main(["backtest", *small, *d]) == 0
    assert main(["grid", "--threshold", "0.5", "0.6", "--source", "synthetic", "--n-symbols", "3",
                 "--n-days", "300", "--executor", "thread", "--quiet", *d]) == 0  # fmt: skip
    capsys.readouterr()
    with Store(tmp_path / "data") as store:
        ledger = TrialLedger(store)
        assert ledger.count("ensemble-agree3-hold5") == 1 + 2
        kinds = list(ledger.frame("ensemble-agree3-hold5")["kind"])
        assert kinds == ["rerun", "grid"]
