"""``run_backtest`` end to end: recording, reports, reproducibility, failures, the CLI."""

from __future__ import annotations

import asyncio
import json
import math

import numpy as np
import pandas as pd
import pytest

from core.backtest import BacktestConfig, run_backtest
from core.cli import main
from core.data import load_market_data
from core.engines import STAGES, OrchestrationEngine
from core.errors import ConfigError, StoreError
from core.events import EventType
from core.learning import LearningEngine, LearningEngineConfig
from core.reports.json_report import REPORT_KEYS, read_json_report, write_backtest_report
from core.store import DB_FILENAME, Store
from core.trades import CORE_COLUMNS, validate_trades

SMALL = {"source": "synthetic", "n_symbols": 6, "n_days": 400, "seed": 3}


def small(data_dir, **changes) -> BacktestConfig:
    return BacktestConfig.from_dict({**SMALL, "data_dir": str(data_dir), **changes})


class EveryTenthBar:
    """A user's own signal engine: long every symbol every 10th bar, confidence by bar parity."""

    def generate(self, data):
        rows = []
        for bar in range(20, len(data.dates), 10):
            for symbol in data.symbols:
                rows.append(
                    {
                        "symbol": symbol,
                        "ts": data.dates[bar],
                        "side": 1,
                        "confidence": 0.9 if bar % 20 == 0 else 0.3,
                    }
                )
        return pd.DataFrame(rows)


class Broken:
    def generate(self, data):
        raise RuntimeError("model file is corrupt")


# ----------------------------------------------------------------------------- recording


def test_backtest_records_signals_outcomes_and_metric(data_dir):
    stages: list[tuple[str, float]] = []
    result = run_backtest(small(data_dir), progress=lambda s, f: stages.append((s, f)))
    assert [s for s, f in stages if f == 1.0] == list(STAGES)
    assert [s for s, f in stages if f == 0.0] == list(STAGES)
    with Store(data_dir) as store:
        run = store.get_run(result.run_id)
        assert (run.kind, run.status, run.synthetic, run.source) == (
            "backtest", "completed", True, "synthetic",
        )  # fmt: skip
        assert run.config_hash == result.config_hash
        assert run.data_fingerprint == result.data_fingerprint
        assert run.seed == 3 and run.config["threshold"] == 0.6
        assert run.n_signals == result.n_signals > 0
        assert run.n_outcomes == result.n_trades == result.n_signals - result.n_dropped
        assert result.events_recorded == run.n_events == run.n_signals + run.n_outcomes + 1
        stored = store.trades_frame(result.run_id)
        metric = store.query_events(event_type=EventType.METRIC_RECORDED, run_id=result.run_id)
        outcomes = store.events_frame(event_type="SIGNAL_ACCURACY", run_id=result.run_id)
    pd.testing.assert_frame_equal(stored, result.trades, check_dtype=False)
    assert list(result.trades.columns) == list(CORE_COLUMNS)
    validate_trades(result.trades)
    # signal ids count up in time order
    assert result.trades["signal_id"].is_monotonic_increasing
    assert (result.trades["entry_time"] < result.trades["exit_time"]).all()
    # outcome events are dated at the exit and carry the score used
    merged = outcomes.merge(result.trades, on="signal_id")
    assert (merged["ts"] == merged["exit_time"]).all()
    np.testing.assert_allclose(merged["confidence_x"], merged["confidence_y"])
    (event,) = metric
    payload = event.payload
    assert payload["applied_threshold"] == 0.6
    assert payload["confidence_key"] == "confidence"
    assert payload["use_calibration"] is False
    assert payload["baseline"]["n_trades"] == result.baseline.n_trades
    assert payload["improvement"]["win_rate"] == pytest.approx(result.improvement["win_rate"])


def test_a_backtest_writes_nothing_outside_its_data_dir(tmp_path):
    data_dir = tmp_path / "chosen"
    result = run_backtest(small(data_dir))
    assert [p.name for p in tmp_path.iterdir()] == ["chosen"]
    assert not (data_dir / "reports").exists()  # the engine writes only the store
    path = write_backtest_report(result)
    assert path == data_dir.resolve() / "reports" / f"{result.run_id}.json"
    assert [p.name for p in tmp_path.iterdir()] == ["chosen"]


def test_report_has_every_key_and_lives_in_the_data_dir(data_dir):
    result = run_backtest(small(data_dir))
    report = read_json_report(write_backtest_report(result))
    assert set(REPORT_KEYS) <= set(report)
    assert report["use_learning_engine"] is True
    assert report["learning_events_recorded"] == result.events_recorded
    assert report["learning_data_dir"] == str(data_dir.resolve())
    assert report["validation_passed"] == result.validation_passed
    assert "win_rate" in report["validation_rule"]
    cal = report["calibration_metrics"]
    assert set(cal) >= {"pearson_return", "pearson_win", "brier"}
    trades = result.trades
    assert cal["pearson_return"] == pytest.approx(
        np.corrcoef(trades["confidence"], trades["return_pct"])[0, 1]
    )
    assert cal["brier"] == pytest.approx(
        np.mean((trades["confidence"] - trades["win"].astype(float)) ** 2)
    )
    assert report["synthetic"] is True and report["seed"] == 3
    # the books' equity curves: one row per date, starting at 1
    assert list(result.equity.columns) == ["baseline", "filtered"]
    assert (result.equity.iloc[0] == 1.0).all()
    assert result.baseline.n_trades >= result.filtered.n_trades


def test_same_config_and_data_give_the_same_events_and_report(data_dir):
    config = small(data_dir)
    first, second = run_backtest(config), run_backtest(config)
    assert first.run_id != second.run_id
    assert first.config_hash == second.config_hash
    pd.testing.assert_frame_equal(
        first.trades.drop(columns="run_id"), second.trades.drop(columns="run_id")
    )
    pd.testing.assert_frame_equal(first.executions, second.executions)
    pd.testing.assert_frame_equal(first.equity, second.equity)
    ignore = ["event_id", "run_id", "recorded_at"]
    with Store(data_dir) as store:
        events = [store.events_frame(run_id=r.run_id).drop(columns=ignore) for r in (first, second)]
    pd.testing.assert_frame_equal(*events)
    reports = [read_json_report(write_backtest_report(r)) for r in (first, second)]
    for report in reports:
        del report["run_id"], report["timestamp"]
    assert reports[0] == reports[1]


def test_config_hash_tracks_what_is_computed(data_dir):
    fingerprint = "f" * 64
    config = small(data_dir)
    assert config.config_hash(fingerprint) == small(data_dir / "other").config_hash(fingerprint)
    assert config.config_hash(fingerprint) != config.replace(threshold=0.7).config_hash(fingerprint)
    assert config.config_hash(fingerprint) != config.config_hash("e" * 64)
    assert config.config_hash(fingerprint) != config.config_hash(fingerprint, signal_engine="x.Y")


def test_without_the_learning_engine_nothing_is_recorded(data_dir):
    result = run_backtest(small(data_dir, use_learning_engine=False))
    assert result.events_recorded == 0
    assert not (data_dir / DB_FILENAME).exists()
    report = read_json_report(write_backtest_report(result))
    assert report["use_learning_engine"] is False
    assert report["learning_events_recorded"] == 0
    assert report["learning_data_dir"] is None
    assert result.n_trades > 0


def test_a_given_engine_is_used_and_left_open(data_dir):
    with LearningEngine(LearningEngineConfig(data_dir=data_dir)) as engine:
        result = run_backtest(small(data_dir / "ignored"), engine=engine)
        assert engine.store.get_run(result.run_id).status == "completed"
        assert engine.health_check().ok


# ----------------------------------------------------------------------------- pluggable engine


def test_a_custom_signal_engine_plugs_in(data_dir):
    result = run_backtest(small(data_dir), signal_engine=EveryTenthBar())
    n_bars = len(range(20, 400, 10))
    assert result.n_signals == 6 * n_bars
    assert set(result.trades["confidence"]) == {0.9, 0.3}
    # the filtered book holds only confident signals
    conf = result.executions.loc[result.executions["in_filtered"], "score"]
    assert (conf == 0.9).all()
    # holding_days defaults to the config's for engines that do not say
    assert (result.executions["exit_bar"] - result.executions["entry_bar"] == 5).all()
    with Store(data_dir) as store:
        assert store.get_run(result.run_id).config["signal_engine"].endswith("EveryTenthBar")


def test_orchestrator_runs_a_custom_engine_without_learning():
    data = load_market_data("synthetic", n_symbols=3, n_days=200, seed=1)
    out = OrchestrationEngine(signal_engine=EveryTenthBar()).run(data, run_id="local")
    assert out.n_signals == 3 * len(range(20, 200, 10))
    assert out.events_sent == 0
    assert out.trades_frame["run_id"].eq("local").all()


class Calibrated(EveryTenthBar):
    """Adds a calibrated probability, NaN for the first signals (no calibrator yet)."""

    def generate(self, data):
        frame = super().generate(data)
        frame["calibrated_probability"] = np.where(frame.index < 12, np.nan, 0.55)
        return frame


class Silent:
    def generate(self, data):
        return pd.DataFrame(
            {"symbol": pd.Series([], dtype=str), "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
             "side": pd.Series([], dtype="int8"), "confidence": pd.Series([], dtype=float)}
        )  # fmt: skip


def test_threshold_on_calibrated_probability(data_dir):
    result = run_backtest(
        small(data_dir, confidence_key="calibrated_probability", threshold=0.5),
        signal_engine=Calibrated(),
    )
    executions = result.executions
    # uncalibrated signals never pass; every calibrated one does
    assert executions["passes_threshold"].tolist() == executions["score"].notna().tolist()
    assert result.calibration.n == executions["score"].notna().sum()
    with Store(data_dir) as store:
        (metric,) = store.query_events(event_type="METRIC_RECORDED", run_id=result.run_id)
        trades = store.trades_frame(result.run_id)
    assert metric.payload["use_calibration"] is True
    assert metric.payload["confidence_key"] == "calibrated_probability"
    assert trades["calibrated_probability"].isna().sum() == 12


def test_a_signal_engine_without_signals_gives_an_empty_run(data_dir):
    result = run_backtest(small(data_dir), signal_engine=Silent())
    assert (result.n_signals, result.n_trades, result.events_recorded) == (0, 0, 1)
    assert result.validation_passed is False
    assert (result.equity == 1.0).all().all()


def test_run_backtest_works_inside_a_running_event_loop(data_dir):
    async def inside():
        return run_backtest(small(data_dir))

    result = asyncio.run(inside())
    with Store(data_dir) as store:
        assert store.get_run(result.run_id).n_events == result.events_recorded > 1


# ----------------------------------------------------------------------------- failures


def test_a_failing_signal_engine_marks_the_run_failed(data_dir):
    with pytest.raises(RuntimeError, match="corrupt"):
        run_backtest(small(data_dir), signal_engine=Broken())
    with Store(data_dir) as store:
        (run,) = store.list_runs()
        assert run.status == "failed"
        assert "model file is corrupt" in run.error


def test_a_failure_after_recording_keeps_the_events(tmp_path):
    data_dir = tmp_path / "data"

    def fail_at_the_last_stage(stage: str, fraction: float) -> None:
        if stage == "report":  # after the learning stage recorded every event
            raise StoreError("the report stage failed")

    with pytest.raises(StoreError, match="report stage"):
        run_backtest(small(data_dir), progress=fail_at_the_last_stage)
    with Store(data_dir) as store:
        (run,) = store.list_runs()
        assert run.status == "failed"
        assert run.n_signals > 0 and run.n_events == run.n_signals + run.n_outcomes + 1


def test_calibrated_key_without_calibration_fails_with_the_fix(data_dir):
    with pytest.raises(ConfigError, match="confidence_key='confidence'"):
        run_backtest(small(data_dir, confidence_key="calibrated_probability"))


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"threshhold": 0.5}, "did you mean 'threshold'"),
        ({"holding_day": 3}, "did you mean 'holding_days'"),
        ({"threshold": 1.2}, r"threshold=1.2 is out of range; use \[0, 1\]"),
        ({"holding_days": 0}, r"holding_days=0 is out of range; use \[1, 252\]"),
        ({"min_agree": 2.5}, "min_agree=2.5 must be a whole number"),
        ({"source": "smaple"}, "did you mean 'sample'"),
        ({"confidence_key": "calibrated"}, "did you mean 'calibrated_probability'"),
        ({"source": "csv"}, "needs path"),
        ({"start": "2010-01-01", "end": "2009-01-01"}, "after end"),
        ({"start": "yesterday-ish"}, "not a date"),
        ({"stop_loss_pct": -1}, "stop_loss_pct"),
        ({"symbols": []}, "symbols is empty"),
        ({"use_learning_engine": "yes"}, "use_learning_engine"),
    ],
)
def test_config_errors_name_field_value_and_fix(values, match):
    with pytest.raises(ConfigError, match=match):
        BacktestConfig.from_dict(values)


def test_config_normalises_and_round_trips():
    config = BacktestConfig(symbols="aapl, msft", start="2005-01-03T00:00:00", holding_days=5.0)
    assert config.symbols == ("aapl", "msft")
    assert config.start == "2005-01-03"
    assert config.holding_days == 5 and isinstance(config.holding_days, int)
    assert BacktestConfig.from_dict(config.to_dict()) == config
    json.dumps(config.to_dict())


# ----------------------------------------------------------------------------- CLI


def test_cli_backtest_json_on_a_small_synthetic_market(tmp_path, capsys):
    argv = ["backtest", "--source", "synthetic", "--n-symbols", "5", "--n-days", "300",
            "--threshold", "0.55", "--stop-loss-pct", "5", "--max-positions", "0",
            "--data-dir", str(tmp_path / "data"), "--json"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["config"]["threshold"] == 0.55
    assert payload["config"]["max_positions"] is None
    assert payload["synthetic"] is True
    assert (tmp_path / "data" / "reports" / f"{payload['run_id']}.json").exists()
    assert payload["report_path"].endswith(f"{payload['run_id']}.json")
    assert "signals" in captured.err  # progress per stage on stderr


def test_cli_bad_value_exits_2_with_the_message(tmp_path, capsys):
    argv = ["backtest", "--threshold", "2", "--data-dir", str(tmp_path / "d")]
    assert main(argv) == 2
    assert "threshold=2.0 is out of range" in capsys.readouterr().err


def test_cli_default_runs_on_the_real_sample(tmp_path, capsys):
    assert main(["backtest", "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "baseline" in out and "filtered" in out and "improvement" in out
    with Store(tmp_path / "data") as store:
        (run,) = store.list_runs()
    assert run.source == "sample" and not run.synthetic
    assert run.n_signals >= 1000
    assert str(tmp_path / "data" / "reports") in out
    assert math.isfinite(run.n_outcomes) and run.n_outcomes > 0.9 * run.n_signals


@pytest.mark.parametrize("engine", [None, Calibrated()], ids=["ensemble", "calibrated"])
def test_the_snapshot_is_built_from_the_trades_in_hand_and_equals_the_cold_read(
    data_dir, monkeypatch, engine
):
    import core.store.db as db

    cold_reads = []
    cold = db._read_trades_arrow
    monkeypatch.setattr(db, "_read_trades_arrow", lambda *a: cold_reads.append(a) or cold(*a))
    result = run_backtest(small(data_dir), signal_engine=engine)
    assert cold_reads == []  # written at finish from the columns in hand, never read back
    monkeypatch.undo()
    with Store(data_dir) as store:
        info = store.get_run(result.run_id)
        blob = db._snapshot_blob(store.conn, result.run_id, info.n_events)
        assert blob is not None  # stands for the run's final event count
        kept = db.read_snapshot(blob)
        built = db._read_trades_arrow(store.conn, result.run_id, info.feature_keys)
        assert kept.equals(built)  # same values, nulls, types and order as the SQL join
        frame = db._arrow_to_frame(built, result.run_id, info.feature_keys)
        pd.testing.assert_frame_equal(store.trades_frame(result.run_id), frame)
    assert len(frame) == result.n_trades > 0
