"""The lifecycle wired into the learning engine and the backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.backtest import BacktestConfig, run_backtest
from core.events import EventType, LearningEvent
from core.learning import LearningEngine, LearningEngineConfig
from tests.conftest import make_signals


def _outcome(i: int) -> LearningEvent:
    return LearningEvent.outcome(run_id="stream", ts=pd.Timestamp("2022-01-03", tz="UTC")
                                 + pd.Timedelta(hours=i), signal_id=f"o{i}",
                                 return_pct=1.0 if i % 3 else -1.0, win=bool(i % 3))  # fmt: skip


def test_flushes_submit_auto_training_once_per_thousand_outcomes(data_dir):
    config = LearningEngineConfig(data_dir=data_dir, max_events_memory=100, executor="thread")
    with LearningEngine(config) as engine:
        signals, outcomes = make_signals(400)
        with engine.run(signal="test-signal", kind="import") as run_id:
            engine.record_trades(run_id, signals, outcomes)
        engine.jobs.enable_auto_training("auto", {"run_id": run_id, "method": "platt"})
        # 400 outcomes were recorded before the trigger existed; they do not count.
        engine.record_events(_outcome(i) for i in range(2_500))  # 25 flushes of 100
        jobs = engine.jobs.frame()
        assert len(jobs) == 2  # at 1,000 and 2,000 outcomes: once each, not once per event
        assert set(jobs["trigger"]) == {"auto"}
        for job_id in jobs["id"]:
            assert engine.jobs.wait(job_id, timeout=60).state == "succeeded"
        assert engine.registry.get("auto").version == 2
        assert engine.jobs.pending_events("auto") == 500


def test_backtest_uses_the_production_calibrator(data_dir):
    base = BacktestConfig(source="synthetic", n_symbols=15, n_days=700, threshold=0.5,
                          data_dir=str(data_dir))  # fmt: skip
    config = LearningEngineConfig(data_dir=data_dir, executor="thread")
    with LearningEngine(config) as engine:
        first = run_backtest(base, engine=engine)
        engine.registry.register_calibrator("cal", first.trades, method="platt")
        engine.promote_model("cal", 1, reason="wiring test", force=True)
        second = run_backtest(
            base.replace(calibrator="cal", confidence_key="calibrated_probability"),
            engine=engine,
        )
        trades = engine.trades_frame(second.run_id)
        info = engine.store.get_run(second.run_id)
        calibrated = engine.query_events(event_type=EventType.SIGNAL_GENERATED,
                                         run_id=second.run_id, limit=5)  # fmt: skip
        stored = engine.registry.load("cal", version=1)
        first_hash = engine.store.get_run(first.run_id).config_hash
    expected = stored.predict(trades["confidence"].to_numpy())
    np.testing.assert_allclose(trades["calibrated_probability"], expected)
    assert all(e.payload["calibrated"] for e in calibrated)
    assert info.config["calibration_model"] == {"name": "cal", "version": 1, "stage": "production"}
    assert info.config_hash != first_hash
