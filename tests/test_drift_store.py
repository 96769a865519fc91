"""Drift monitoring in the store: baselines, checks, alerts (once per window), rolling view."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.analytics.drift import METRICS, DriftBaseline, DriftThresholds
from core.cli import main
from core.errors import ConfigError, DriftError, ModelNotFoundError
from core.events import EventType
from core.lifecycle.drift import DriftMonitor
from tests.test_registry import record_run

ALERT_KINDS = ("psi", "ks", "win_rate", "brier", "ece", "mean_return", "sharpe",
               "page_hinkley_win", "cusum_win")  # fmt: skip


def make_trades(
    n: int, *, shift: float = 0.0, drop: float = 0.0, seed: int = 0, start: str = "2000-01-01"
) -> pd.DataFrame:
    """Calibrated trades (P(win) = confidence); ``shift`` moves the confidences up and
    ``drop`` lowers the win probability: the planted drift."""
    rng = np.random.default_rng(seed)
    conf = np.clip(rng.beta(4, 4, n) + shift, 0.0, 1.0)
    win = rng.random(n) < np.clip(conf - drop, 0.0, 1.0)
    ret = np.where(win, 1.0, -1.0) * rng.uniform(0.2, 2.0, n)
    return pd.DataFrame(
        {
            "run_id": "run-planted",
            "entry_time": pd.date_range(start, periods=n, freq="D", tz="UTC"),
            "confidence": conf,
            "return_pct": ret,
            "win": ret > 0,
        }
    )


@pytest.fixture
def monitor(store):
    return DriftMonitor(store)


@pytest.fixture
def baseline_trades():
    return make_trades(2000, seed=0)


def test_set_baseline_stores_it_with_an_event(monitor, store, baseline_trades):
    record = monitor.set_baseline("cal", trades=baseline_trades)
    assert record.active and record.n == 2000 and record.key == "confidence"
    assert record.run_id == "run-planted"
    assert record.window_start == baseline_trades["entry_time"].iloc[0]
    assert record.window_end == baseline_trades["entry_time"].iloc[-1]
    baseline = monitor.baseline("cal")
    assert isinstance(baseline, DriftBaseline) and baseline.n == 2000
    assert baseline.win_rate == pytest.approx(baseline_trades["win"].mean())
    [event] = store.query_events(event_type=EventType.DRIFT_BASELINE_SET)
    assert event.payload["model_name"] == "cal" and event.payload["baseline_id"] == record.id


def test_a_new_baseline_replaces_the_active_one(monitor, baseline_trades):
    first = monitor.set_baseline("cal", trades=baseline_trades)
    second = monitor.set_baseline("cal", trades=baseline_trades.iloc[:500])
    assert monitor.baseline_record("cal").id == second.id
    assert [b.active for b in monitor.baselines("cal")] == [False, True]
    assert first.id != second.id


def test_baseline_from_a_run_window(store, monitor):
    run_id = record_run(store, 600)
    record = monitor.set_baseline("cal", run_id, ("2015-03-01", "2015-09-01"))
    assert record.run_id == run_id and record.n == 184  # March to August, one trade a day
    assert record.window_start == pd.Timestamp("2015-03-01", tz="UTC")


def test_check_without_a_baseline_says_how_to_set_one(monitor, baseline_trades):
    with pytest.raises(DriftError, match="no drift baseline.*signal-lab drift baseline"):
        monitor.check("cal", baseline_trades)


def test_a_normal_window_raises_no_alert(monitor, store, baseline_trades):
    monitor.set_baseline("cal", trades=baseline_trades)
    result = monitor.check("cal", make_trades(1000, seed=1, start="2010-01-01"))
    assert result.severity == "ok" and result.alert_ids == ()
    assert monitor.alerts().empty
    assert store.count_events(event_type=EventType.DRIFT_ALERT) == 0


def test_every_alert_kind_from_a_planted_shift(monitor, store, baseline_trades):
    monitor.set_baseline("cal", trades=baseline_trades)
    current = make_trades(1000, shift=0.15, drop=0.3, seed=2, start="2010-01-01")
    result = monitor.check("cal", current)
    assert len(result.new_alert_ids) == len(ALERT_KINDS)
    alerts = monitor.alerts("cal")
    assert sorted(alerts["metric"]) == sorted(ALERT_KINDS)
    assert set(alerts["severity"]) == {"critical"}
    assert set(METRICS) - {"detector"} <= set(ALERT_KINDS)  # every statistic can alert
    row = alerts.set_index("metric").loc["win_rate"]
    assert row["baseline_value"] == pytest.approx(baseline_trades["win"].mean())
    assert row["current_value"] == pytest.approx(current["win"].mean())
    assert row["window_start"] == current["entry_time"].iloc[0]
    assert row["window_end"] == current["entry_time"].iloc[-1]
    assert row["run_id"] == "run-planted" and not row["acknowledged"]
    events = store.query_events(event_type=EventType.DRIFT_ALERT)
    assert sorted(e.payload["metric"] for e in events) == sorted(ALERT_KINDS)
    assert {e.payload["severity"] for e in events} == {"critical"}


def test_checking_the_same_window_again_adds_no_alert(monitor, store, baseline_trades):
    monitor.set_baseline("cal", trades=baseline_trades)
    current = make_trades(800, shift=0.15, drop=0.3, seed=3, start="2010-01-01")
    first = monitor.check("cal", current)
    again = monitor.check("cal", current)
    assert first.new_alert_ids and again.new_alert_ids == ()
    assert sorted(again.existing_alert_ids) == sorted(first.new_alert_ids)
    assert len(monitor.alerts()) == len(first.new_alert_ids)
    assert store.count_events(event_type=EventType.DRIFT_ALERT) == len(first.new_alert_ids)
    # Another window, or a new baseline, is a new alert.
    later = make_trades(800, shift=0.15, drop=0.3, seed=3, start="2013-01-01")
    assert len(monitor.check("cal", later).new_alert_ids) == len(first.new_alert_ids)
    monitor.set_baseline("cal", trades=baseline_trades)
    assert len(monitor.check("cal", current).new_alert_ids) == len(first.new_alert_ids)


def test_thresholds_stored_with_the_baseline_are_used(monitor, baseline_trades):
    loose = DriftThresholds(psi_warning=5.0, psi_critical=6.0)
    monitor.set_baseline("cal", trades=baseline_trades, thresholds=loose)
    current = make_trades(1000, shift=0.15, seed=4, start="2010-01-01")
    result = monitor.check("cal", current, detectors={})
    assert result.report.finding("psi").severity == "ok"
    assert result.report.thresholds == loose
    strict = monitor.check("cal", current, thresholds={"psi_warning": 0.01, "psi_critical": 0.02})
    assert strict.report.finding("psi").severity == "critical"


def test_acknowledge_and_filter_alerts(monitor, baseline_trades):
    monitor.set_baseline("cal", trades=baseline_trades)
    result = monitor.check(
        "cal", make_trades(1000, shift=0.15, drop=0.3, seed=2, start="2010-01-01")
    )
    alert_id = result.new_alert_ids[0]
    acked = monitor.acknowledge(alert_id)
    assert acked.acknowledged and acked.acknowledged_at is not None
    assert monitor.acknowledge(alert_id).acknowledged_at == acked.acknowledged_at  # idempotent
    open_alerts = monitor.alerts("cal", acknowledged=False)
    assert alert_id not in set(open_alerts["id"]) and len(open_alerts) == len(ALERT_KINDS) - 1
    assert len(monitor.alerts("cal", acknowledged=True)) == 1
    assert monitor.alerts("other").empty
    assert len(monitor.alerts(limit=2)) == 2
    with pytest.raises(ModelNotFoundError, match="no drift alert 999"):
        monitor.acknowledge(999)
    with pytest.raises(ConfigError, match="severity"):
        monitor.alerts(severity="bad")


def test_monitor_is_rolling_drift_of_a_run(store, monitor):
    run_id = record_run(store, 1000)
    frame = monitor.monitor(run_id, window=250)
    assert len(frame) == 4 and list(frame["n"]) == [250] * 4
    assert frame.loc[0, "psi"] == pytest.approx(0.0, abs=1e-12)  # the first window is the baseline
    monitor.set_baseline("cal", run_id, (None, "2015-07-01"))
    against_model = monitor.monitor(run_id, model_name="cal", window="180D")
    assert {"window_start", "psi", "win_rate", "severity"} <= set(against_model.columns)


def test_drift_cli_works_per_signal_and_names_the_baseline(data_dir, store, capsys):
    run_id = record_run(store, 800)
    d = ["--data-dir", str(data_dir)]
    assert main(["drift", "check", run_id, *d]) == 2
    err = capsys.readouterr().err
    assert "signal 'test-signal' has no drift baseline yet" in err
    assert f"signal-lab drift baseline {run_id} --months 12" in err
    assert main(["drift", "baseline", run_id, "--months", "12", *d]) == 0
    out = capsys.readouterr().out
    assert f"baseline #1 of signal 'test-signal': 365 trades of run {run_id}" in out
    assert "2015-01-01 to 2015-12-31" in out
    assert main(["drift", "check", run_id, "--start", "2016-01-01", "--json", *d]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["baseline_id"] == 1 and "findings" in result["report"]
    assert result["baseline"]["signal"] == "test-signal" and result["baseline"]["usable"]
    assert main(["drift", "alerts", "--signal", "test-signal", "--json", *d]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)


def test_a_new_signal_never_uses_another_signals_baseline(data_dir, store, capsys):
    sample = record_run(store, 800)
    DriftMonitor(store).set_baseline_from_run(sample, months=12)
    imported = record_run(store, 600, seed=3, signal="new-desk")
    monitor = DriftMonitor(store)
    status = monitor.status(imported)
    assert not status.usable and status.record is None
    assert "signal 'new-desk' has no drift baseline yet" in status.reason
    with pytest.raises(DriftError, match="new-desk.*no drift baseline"):
        monitor.check_run(imported)
    # the generic check refuses a baseline whose source run is of another signal
    with pytest.raises(DriftError, match="only against its own signal's baseline"):
        monitor.check("test-signal", run_id=imported)
    assert main(["drift", "check", imported, "--data-dir", str(data_dir)]) == 2
    assert "new-desk" in capsys.readouterr().err
    assert monitor.alerts().empty
