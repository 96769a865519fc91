"""Three integration scenarios through the public API, on the real sample market.

One backtest of the default configuration (the five-model ensemble on the
bundled AAPL/IBM/MSFT/GOOG/FB bars) is run once for the module and shared:

1. basic operations: record events, query them by type, stats, health;
2. a backtest recorded as events, with its ``METRIC_RECORDED`` summary;
3. the model lifecycle: register a calibrator trained on the first part of the
   run, evaluate it on the later part (passes), promote it, backtest with it,
   set a drift baseline on an early window, check a normal window (no alert)
   and a degraded one built from the same real trades (alerts, once).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.analytics.calibrators import make_calibrator
from core.backtest import BacktestConfig, run_backtest
from core.events import EventType, LearningEvent
from core.learning import LearningEngine, LearningEngineConfig
from core.lifecycle.gates import Gate

CUT = "2007-01-01"  # training / baseline window: entries before; evaluation: from here
NORMAL = ("2010-01-01", None)
MODEL = "ensemble-calibrator"
GATES = (
    Gate("n_trades", ">=", 200),
    Gate("brier_gain_vs_production", ">=", 0.0),
    Gate("ece_upper", "<=", 0.08),
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The learning engine, the default sample backtest and its trades (run once)."""
    data_dir = tmp_path_factory.mktemp("sample")
    engine = LearningEngine(LearningEngineConfig(data_dir=data_dir, max_events_memory=50))
    result = run_backtest(BacktestConfig(data_dir=str(data_dir)), engine=engine)
    yield engine, result, engine.trades_frame(result.run_id)
    engine.shutdown()


# --------------------------------------------------------------------------- 1


def test_scenario_basic_operations(sample):
    engine, _, _ = sample
    before = engine.get_stats().persisted
    with engine.run(signal="test-signal", kind="import", name="hand-recorded") as run_id:
        for i in range(120):  # more than max_events_memory: flushes on the way
            engine.record_event(LearningEvent.signal(
                run_id=run_id, ts=pd.Timestamp("2021-01-04", tz="UTC") + pd.Timedelta(days=i),
                signal_id=f"h{i}", symbol="AAPL", side=1, confidence=0.5 + i / 500))  # fmt: skip
            engine.record_event(LearningEvent.outcome(
                run_id=run_id, ts=pd.Timestamp("2021-01-11", tz="UTC") + pd.Timedelta(days=i),
                signal_id=f"h{i}", return_pct=(-1) ** i * 0.5, win=i % 2 == 0))  # fmt: skip
    signals = engine.query_events(EventType.SIGNAL_GENERATED, run_id=run_id)
    outcomes = engine.query_events(EventType.SIGNAL_ACCURACY, run_id=run_id)
    assert len(signals) == len(outcomes) == 120
    assert signals[0].payload["confidence"] == pytest.approx(0.5)
    assert [e.ts for e in signals] == sorted(e.ts for e in signals)
    stats = engine.get_stats()
    assert stats.persisted == before + 240 and stats.buffered == 0
    assert stats.persisted_by_type["SIGNAL_GENERATED"] >= 120
    health = engine.health_check()
    assert health.ok and health.checks["schema_version"] == health.checks["latest_schema_version"]
    trades = engine.trades_frame(run_id)
    assert len(trades) == 120 and trades["win"].sum() == 60


# --------------------------------------------------------------------------- 2


def test_scenario_backtest_recorded_as_events(sample):
    engine, result, trades = sample
    run_id = result.run_id
    info = engine.store.get_run(run_id)
    assert info.status == "completed" and info.source == "sample" and not info.synthetic
    assert info.n_signals == result.n_signals and info.n_outcomes == result.n_trades
    assert engine.store.count_events(run_id=run_id, event_type=EventType.SIGNAL_GENERATED) == (
        result.n_signals
    )
    [summary] = engine.query_events(EventType.METRIC_RECORDED, run_id=run_id)
    payload = summary.payload
    assert {"baseline", "filtered", "improvement"} <= set(payload)
    assert payload["filtered"]["n_trades"] == result.filtered.n_trades
    assert payload["baseline"]["win_rate"] == pytest.approx(result.baseline.win_rate)
    assert payload["applied_threshold"] == pytest.approx(result.config.threshold)
    assert len(trades) == result.n_trades > 1000
    assert set(trades["symbol"]) <= {"AAPL", "IBM", "MSFT", "GOOG", "FB"}


# --------------------------------------------------------------------------- 3


def test_scenario_model_lifecycle(sample):
    engine, result, trades = sample
    run_id = result.run_id
    early = trades[trades["entry_time"] < pd.Timestamp(CUT, tz="UTC")]
    later = trades[trades["entry_time"] >= pd.Timestamp(CUT, tz="UTC")]

    # Register a calibrator trained on the first part of the run.
    cal = make_calibrator("platt").fit(early["confidence"].to_numpy(), early["win"].to_numpy())
    v1 = engine.register_model(
        MODEL, model_type="calibrator", calibrator=cal, training_run_id=run_id,
        window=(early["entry_time"].iloc[0], early["entry_time"].iloc[-1]),
        note="platt on the sample backtest before 2007",
    )  # fmt: skip
    assert (v1.version, v1.stage) == (1, "development")

    # Evaluate it on the later part: out of sample, better than the raw confidence.
    evaluation = engine.evaluate_model(MODEL, 1, run_id, GATES)
    assert evaluation.passed, evaluation.summary()
    assert evaluation.n_trades == len(later)
    assert evaluation.metrics["brier"] < evaluation.metrics["baseline_brier"]
    assert evaluation.metrics["ece"] < evaluation.metrics["baseline_ece"]

    # Promote to production and use it.
    [change] = engine.promote_model(MODEL, 1, reason="passed the gates on 2007-2013")
    assert (change.from_stage, change.to_stage, change.forced) == (
        "development",
        "production",
        False,
    )
    loaded = engine.load_model(MODEL)
    np.testing.assert_allclose(loaded.predict([0.4, 0.6]), cal.predict([0.4, 0.6]))
    lifecycle = engine  # the services: engine.registry, engine.jobs, engine.drift
    scored = lifecycle.registry.apply_production_calibrator(later, MODEL)
    np.testing.assert_allclose(
        scored["calibrated_probability"], cal.predict(later["confidence"].to_numpy())
    )

    # A backtest that trades on the production calibrator's probability.
    config = BacktestConfig(data_dir=str(engine.store.data_dir), confidence_key="calibrated_probability",
                            threshold=0.55)  # fmt: skip
    calibrated_run = run_backtest(
        config,
        engine=engine,
        signal_engine=lifecycle.registry.calibrated_signal_engine(MODEL, config.signal_engine()),
    )
    ct = engine.trades_frame(calibrated_run.run_id)
    np.testing.assert_allclose(
        ct["calibrated_probability"], cal.predict(ct["confidence"].to_numpy())
    )

    # A training job registers v2 in development; its evaluation is compared with v1.
    job = engine.submit_training_job(
        MODEL, "calibrator", {"method": "beta", "run_id": run_id, "window": [None, CUT]}
    )
    done = lifecycle.jobs.wait(job.id, timeout=60)
    assert done.state == "succeeded", done.error
    v2 = lifecycle.registry.get(MODEL, done.version)
    assert v2.stage == "development" and v2.metrics["mode"] == "walk_forward"
    challenger = engine.evaluate_model(MODEL, v2.version, run_id, GATES)
    assert challenger.production_version == 1
    assert challenger.metrics["production_brier"] == pytest.approx(evaluation.metrics["brier"])

    # Drift: baseline on the early window; a normal later window raises nothing.
    baseline = engine.set_drift_baseline(MODEL, run_id, (None, CUT))
    assert baseline.n == len(early)
    normal = engine.check_drift(MODEL, run_id=run_id, window=NORMAL)
    assert normal.report.n_current > 300 and normal.new_alert_ids == ()
    assert lifecycle.drift.alerts(MODEL).empty

    # The same real trades degraded: the confident half of the signals now loses, and
    # every confidence reads 0.1 higher -> distribution, performance, calibration alerts.
    current = trades[trades["entry_time"] >= pd.Timestamp(NORMAL[0], tz="UTC")].copy()
    confident = current["confidence"] > current["confidence"].median()
    current["return_pct"] = current["return_pct"].where(~confident, -current["return_pct"].abs())
    current["win"] = current["return_pct"] > 0
    current["confidence"] = (current["confidence"] + 0.1).clip(upper=1.0)
    degraded = engine.check_drift(MODEL, current)
    kinds = {lifecycle.drift.sql.get_alert(i).metric for i in degraded.new_alert_ids}
    assert {"psi", "ks", "win_rate", "brier", "mean_return", "sharpe"} <= kinds
    assert degraded.severity == "critical"
    assert engine.check_drift(MODEL, current).new_alert_ids == ()  # no duplicates
    alerts = lifecycle.drift.alerts(MODEL)
    assert len(alerts) == len(degraded.new_alert_ids)
    lifecycle.drift.acknowledge(int(alerts["id"].iloc[0]))
    assert len(lifecycle.drift.alerts(MODEL, acknowledged=False)) == len(alerts) - 1

    rolling = engine.drift.monitor(run_id, model_name=MODEL, window=250)
    assert len(rolling) == -(-len(trades) // 250) and "severity" in rolling.columns
    assert rolling["n_trades"].sum() == len(trades)  # every trade, the newest included
    assert rolling["window_end"].iloc[-1] == trades["entry_time"].max()  # ends at the last trade
    assert bool(rolling["partial"].iloc[-1]) == (len(trades) % 250 != 0)

    # Every lifecycle step left its event.
    counts = engine.get_stats().persisted_by_type
    assert counts["MODEL_REGISTERED"] == 2 and counts["MODEL_EVALUATED"] == 2
    assert counts["MODEL_STAGE_CHANGED"] == 1 and counts["DRIFT_BASELINE_SET"] == 1
    assert counts["DRIFT_ALERT"] == len(degraded.new_alert_ids)
    assert counts["TRAINING_JOB_UPDATED"] == 3
