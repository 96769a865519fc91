"""The learning engine: buffering, flushing, runs, stats, health, shutdown."""

from __future__ import annotations

import pandas as pd
import pytest

from core.errors import ConfigError, EngineClosedError, PayloadError
from core.events import EventType, LearningEvent
from core.learning import (
    LearningEngine,
    LearningEngineConfig,
    LearningEngineProtocol,
    RunRecord,
)
from core.store import Store
from tests.conftest import make_signals


def _signal(i: int, run_id: str | None = "r") -> LearningEvent:
    return LearningEvent.signal(run_id=run_id, ts=pd.Timestamp("2020-01-01", tz="UTC") +
                                pd.Timedelta(days=i), signal_id=f"{i:06d}", symbol="AAPL",
                                side=1, confidence=0.5)  # fmt: skip


def test_buffer_flushes_at_the_bound(data_dir):
    with LearningEngine(LearningEngineConfig(data_dir=data_dir, max_events_memory=10)) as engine:
        engine.record_events(_signal(i) for i in range(9))
        assert engine.get_stats().buffered == 9 and engine.get_stats().persisted == 0
        engine.record_event(_signal(9))
        stats = engine.get_stats()
        assert stats.buffered == 0 and stats.persisted == 10 and stats.flushes == 1
        engine.record_events(_signal(i) for i in range(10, 25))
        assert engine.get_stats().buffered == 5


def test_shutdown_flushes_and_is_idempotent(data_dir):
    engine = LearningEngine(LearningEngineConfig(data_dir=data_dir, max_events_memory=1000))
    engine.record_events(_signal(i) for i in range(7))
    engine.shutdown()
    engine.shutdown()
    with Store(data_dir) as store:
        assert store.count_events() == 7
    with pytest.raises(EngineClosedError, match="create a new LearningEngine"):
        engine.record_event(_signal(99))


def test_context_manager_flushes(data_dir):
    with LearningEngine(LearningEngineConfig(data_dir=data_dir)) as engine:
        engine.record_event(_signal(1))
    with Store(data_dir) as store:
        assert store.count_events(event_type=EventType.SIGNAL_GENERATED) == 1


def test_crash_inside_a_run_marks_it_failed_and_keeps_events(data_dir):
    with LearningEngine(LearningEngineConfig(data_dir=data_dir, max_events_memory=1000)) as engine:
        with (
            pytest.raises(ZeroDivisionError),
            engine.run(signal="test-signal", kind="backtest") as run_id,
        ):
            engine.record_events(_signal(i, run_id) for i in range(12))
            1 / 0  # noqa: B018 - the crash under test
        info = engine.store.get_run(run_id)
        assert info.status == "failed"
        assert "ZeroDivisionError" in info.error
        assert engine.store.count_events(run_id=run_id) == 12


def test_completed_run_counts(engine):
    with engine.run(signal="test-signal", kind="backtest", name="ok", seed=7) as run_id:
        signals, outcomes = make_signals(25)
        assert engine.record_trades(run_id, signals, outcomes) == 50
    info = engine.store.get_run(run_id)
    assert (info.status, info.n_signals, info.n_outcomes, info.seed) == ("completed", 25, 25, 7)
    assert len(engine.trades_frame(run_id)) == 25


def test_bad_trades_write_nothing(engine):
    run_id = engine.start_run(signal="test-signal", kind="backtest")
    signals, outcomes = make_signals(10)
    outcomes.loc[4, "return_pct"] = float("nan")
    with pytest.raises(PayloadError, match="return_pct: a value is required; row 4"):
        engine.record_trades(run_id, signals, outcomes)
    assert engine.store.count_events(run_id=run_id) == 0


def test_collect_signals_false_drops_signal_events(data_dir):
    config = LearningEngineConfig(data_dir=data_dir, collect_signals=False)
    with LearningEngine(config) as engine:
        engine.record_events(_signal(i) for i in range(3))
        engine.record_event(LearningEvent(EventType.METRIC_RECORDED, "r", "2020-01-01",
                                          {"baseline": {}, "filtered": {}, "improvement": {}}))  # fmt: skip
        signals, outcomes = make_signals(4)
        engine.record_trades("r", signals, outcomes)
        engine.flush()
        stats = engine.get_stats()
    assert stats.dropped_signal_events == 11
    assert stats.persisted_by_type == {"METRIC_RECORDED": 1}
    assert stats.collect_signals is False


def test_query_events_filters(engine):
    engine.record_events(_signal(i, run_id="a" if i % 2 else "b") for i in range(10))
    assert len(engine.query_events(run_id="a")) == 5
    assert len(engine.query_events(event_type="SIGNAL_GENERATED", limit=3)) == 3
    since = engine.query_events(since="2020-01-05", until="2020-01-08")
    assert [e.payload["signal_id"] for e in since] == ["000004", "000005", "000006"]


def test_stats_and_health(engine):
    engine.record_event(_signal(0))
    stats = engine.get_stats()
    assert stats.buffered == 1 and stats.runs == 0 and stats.db_path.endswith("signal_lab.db")
    report = engine.health_check()
    assert report.status == "healthy" and report.ok and report.reasons == ()
    assert report.checks["writable"] and report.checks["schema_version"] >= 2


def test_health_reports_an_unusable_store(data_dir):
    engine = LearningEngine(LearningEngineConfig(data_dir=data_dir))
    engine.shutdown()
    report = engine.health_check()
    assert report.status == "unhealthy"
    assert any("shut down" in r for r in report.reasons)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_events_memory": 0}, "max_events_memory must be a whole number >= 1, got 0"),
     ({"max_events_memory": 2.5}, "max_events_memory"),
     ({"collect_signals": "yes"}, "collect_signals must be true or false")],
)  # fmt: skip
def test_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        LearningEngineConfig(**kwargs)


def test_update_satisfies_the_protocol(engine):
    assert isinstance(engine, LearningEngineProtocol)
    run_id = engine.start_run(signal="test-signal", kind="backtest")
    signals, outcomes = make_signals(8)
    summary = {"baseline": {"win_rate": 0.5}, "filtered": {"win_rate": 0.6},
               "improvement": {"win_rate": 0.1}, "applied_threshold": 0.6}  # fmt: skip
    engine.update(RunRecord(run_id, signals, outcomes, summary, ts="2020-02-01"))
    engine.finish_run(run_id)
    (metric,) = engine.query_events(event_type=EventType.METRIC_RECORDED, run_id=run_id)
    assert metric.payload["filtered"] == {"win_rate": 0.6}
    assert engine.store.get_run(run_id).n_signals == 8


def test_shutdown_marks_open_runs_failed(data_dir):
    engine = LearningEngine(LearningEngineConfig(data_dir=data_dir))
    run_id = engine.start_run(signal="test-signal", kind="backtest")
    engine.shutdown()
    with Store(data_dir) as store:
        assert store.get_run(run_id).status == "failed"


def test_data_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SIGNAL_LAB_DATA_DIR", str(tmp_path / "env"))
    with LearningEngine() as engine:
        assert engine.store.path == tmp_path / "env" / "signal_lab.db"
