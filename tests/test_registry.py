"""Model registry: versions, stages, out-of-sample evaluation gates, promotion, loading."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
import threading

import numpy as np
import pandas as pd
import pytest

from core.analytics.calibration import brier_score
from core.analytics.calibrators import make_calibrator
from core.cli import main
from core.errors import ConfigError, ModelNotFoundError, PromotionRefusedError
from core.events import EventType, outcome_rows, signal_rows
from core.lifecycle.gates import DEFAULT_GATES, Gate, score_model
from core.lifecycle.registry import ModelRegistry
from core.signals.calibrated import CalibratedSignalEngine
from core.store import Store


def record_run(
    store: Store, n: int = 1200, *, seed: int = 0, slope: float = 0.5, signal: str = "test-signal"
) -> str:
    """A finished run whose confidence is informative but miscalibrated.

    P(win) = 0.5 + slope * (confidence - 0.5) * 0.6, confidence ~ Beta(4, 4);
    one trade a day from 2015-01-01, held five days.
    """
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2015-01-01", periods=n, freq="D", tz="UTC")
    conf = rng.beta(4, 4, n)
    win = rng.random(n) < 0.5 + slope * (conf - 0.5) * 0.6
    ret = np.where(win, 1.0, -1.0) * rng.uniform(0.2, 2.0, n)
    ids = [f"s{i:06d}" for i in range(n)]
    signals = pd.DataFrame(
        {"signal_id": ids, "ts": ts, "symbol": "AAA", "side": 1, "confidence": conf,
         "holding_days": 5.0}
    )  # fmt: skip
    outcomes = pd.DataFrame({"signal_id": ids, "ts": ts + pd.Timedelta(days=5), "return_pct": ret})
    run_id = store.create_run(signal=signal, kind="backtest", name=f"synthetic {seed}", seed=seed)
    store.insert_event_rows([*signal_rows(run_id, signals), *outcome_rows(run_id, outcomes)])
    store.finish_run(run_id, status="completed")
    return run_id


@pytest.fixture
def registry(store):
    return ModelRegistry(store)


@pytest.fixture
def run_id(store):
    return record_run(store)


@pytest.fixture
def trades(store, run_id):
    return store.trades_frame(run_id)


def _first_half(trades):
    return trades.iloc[: len(trades) // 2]


# --------------------------------------------------------------------------- register


def test_versions_number_themselves_per_name(registry, trades):
    a1 = registry.register_calibrator("a", _first_half(trades))
    a2 = registry.register_calibrator("a", _first_half(trades), method="isotonic")
    b1 = registry.register("b", model_type="signal", params={"min_agree": 3})
    assert (a1.version, a2.version, b1.version) == (1, 2, 1)
    assert a1.stage == a2.stage == "development"
    assert a2.method == "isotonic" and b1.params == {"min_agree": 3}
    assert a1.train_start == trades["entry_time"].iloc[0]
    assert a1.train_end == _first_half(trades)["entry_time"].iloc[-1]
    assert a1.training_run_id == trades["run_id"].iloc[0]


def test_concurrent_registration_gives_distinct_consecutive_versions(registry):
    cal = make_calibrator("platt").fit(np.linspace(0, 1, 40), np.arange(40) % 3 == 0)
    barrier = threading.Barrier(6)
    versions: list[int] = []
    lock = threading.Lock()

    def register() -> None:
        barrier.wait()
        for _ in range(5):
            v = registry.register("race", model_type="calibrator", calibrator=cal)
            with lock:
                versions.append(v.version)

    threads = [threading.Thread(target=register) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(versions) == list(range(1, 31))
    events = registry.store.count_events(event_type=EventType.MODEL_REGISTERED)
    assert events == 30


def test_registration_writes_a_model_registered_event(registry, trades):
    v = registry.register_calibrator("cal", _first_half(trades), note="first try")
    [event] = registry.store.query_events(event_type=EventType.MODEL_REGISTERED)
    assert event.payload["model_name"] == "cal" and event.payload["version"] == v.version
    assert event.payload["model_type"] == "calibrator"
    assert v.note == "first try" and v.metrics["n_train"] == len(_first_half(trades))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model_type": "calibrator"}, "needs a fitted calibrator"),
        ({"model_type": ""}, "model_type must be a non-empty string"),
        ({"model_type": "signal", "window": ("2020-01-01",)}, "pair"),
        ({"model_type": "calibrator", "params": {"calibrator": {"method": "plat"}}},
         "did you mean 'platt'"),
    ],
)  # fmt: skip
def test_register_refuses_bad_input(registry, kwargs, match):
    with pytest.raises(Exception, match=match):
        registry.register("m", **kwargs)


# --------------------------------------------------------------------------- gates


@pytest.mark.parametrize(
    ("text", "gate"),
    [
        ("ece_upper<=0.05", Gate("ece_upper", "<=", 0.05)),
        (" brier_gain_vs_production >= 0.001 ", Gate("brier_gain_vs_production", ">=", 0.001)),
        ("n_trades>200", Gate("n_trades", ">", 200)),
        ("dsr >= 0.95", Gate("dsr", ">=", 0.95)),
    ],
)
def test_gate_parse(text, gate):
    assert Gate.parse(text) == gate
    assert Gate.from_dict(gate.to_dict()) == gate


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Gate("ece_uper", "<=", 0.05), "did you mean 'ece_upper'"),
        (lambda: Gate("ece", "=<", 0.05), "operator must be one of"),
        (lambda: Gate("ece", "<=", float("nan")), "NaN"),
        (lambda: Gate("ece", "<=", "0.05"), "must be a number"),
        (lambda: Gate.parse("ece is small"), "write METRIC OP VALUE"),
    ],
)
def test_gate_errors(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_gate_check_treats_missing_values_as_failing():
    gate = Gate("dsr", ">=", 0.5)
    assert gate.check(0.7) and not gate.check(0.4)
    assert not gate.check(None) and not gate.check(float("nan"))


# --------------------------------------------------------------------------- evaluate


def test_evaluate_scores_only_trades_outside_the_training_window(registry, trades, run_id):
    v = registry.register_calibrator("cal", _first_half(trades), method="platt")
    ev = registry.evaluate("cal", v.version, run_id, gates=["n_trades>=100"])
    later = trades.iloc[len(trades) // 2 :]
    assert ev.n_trades == len(later) == ev.metrics["n_trades"]
    assert ev.window_start == later["entry_time"].iloc[0]
    cal = registry.load("cal", version=v.version)
    prob = cal.predict(later["confidence"].to_numpy())
    assert ev.metrics["brier"] == pytest.approx(brier_score(prob, later["win"].to_numpy()))
    assert ev.metrics["baseline_brier"] == pytest.approx(
        brier_score(later["confidence"].to_numpy(), later["win"].to_numpy())
    )
    # No production version: the production gain is the gain over the raw confidence.
    assert ev.production_version is None
    assert ev.metrics["brier_gain_vs_production"] == ev.metrics["brier_gain_vs_baseline"]


def test_evaluate_compares_with_the_production_version(registry, trades, run_id):
    v1 = registry.register_calibrator("cal", trades.iloc[:400], method="platt")
    registry.evaluate("cal", 1, run_id, gates=["n_trades>=10"])
    registry.promote("cal", 1)
    v2 = registry.register_calibrator("cal", trades.iloc[:600], method="beta")
    ev = registry.evaluate("cal", v2.version, run_id, gates=["brier_gain_vs_production>=-1"])
    assert ev.production_version == v1.version
    later = trades.iloc[600:]
    p1 = registry.load("cal", version=1).predict(later["confidence"].to_numpy())
    assert ev.metrics["production_brier"] == pytest.approx(brier_score(p1, later["win"].to_numpy()))
    gain = ev.metrics["production_brier"] - ev.metrics["brier"]
    assert ev.metrics["brier_gain_vs_production"] == pytest.approx(gain)


def test_evaluation_is_stored_with_every_gate_and_an_event(registry, trades, run_id):
    registry.register_calibrator("cal", _first_half(trades))
    gates = [Gate("n_trades", ">=", 100), Gate("ece_upper", "<=", 0.0001)]
    ev = registry.evaluate("cal", 1, run_id, gates)
    assert not ev.passed
    assert [g.passed for g in ev.gates] == [True, False]
    assert ev.gates[1].observed == pytest.approx(ev.metrics["ece_upper"])
    assert ev.failed_gates == (ev.gates[1],)
    [stored] = registry.evaluations("cal", 1)
    assert stored == ev
    [event] = registry.store.query_events(event_type=EventType.MODEL_EVALUATED)
    assert event.payload["passed"] is False and event.payload["evaluation_id"] == ev.id
    assert "FAIL" in ev.summary() and "ece_upper" in ev.summary()


def test_default_gates_are_used_when_none_given(registry, trades, run_id):
    registry.register_calibrator("cal", _first_half(trades))
    ev = registry.evaluate("cal", 1, run_id)
    assert tuple(g.gate for g in ev.gates) == DEFAULT_GATES


def test_evaluate_refuses_when_every_trade_was_trained_on(registry, trades, run_id):
    registry.register_calibrator("cal", trades)
    with pytest.raises(Exception, match="outside its training window"):
        registry.evaluate("cal", 1, run_id)


def test_score_model_on_a_signal_model_uses_the_raw_score(registry, trades):
    v = registry.register("sig", model_type="signal", params={})
    metrics = score_model(v, trades)
    assert metrics["brier"] == metrics["baseline_brier"]
    assert metrics["brier_gain_vs_baseline"] == 0.0


# --------------------------------------------------------------------------- promote


def _evaluated(registry, trades, run_id, name="cal", *, passing=True, n=400):
    v = registry.register_calibrator(name, trades.iloc[:n])
    gate = "n_trades>=1" if passing else "n_trades>=1000000"
    registry.evaluate(name, v.version, run_id, [gate])
    return v


def test_promotion_needs_a_passed_last_evaluation(registry, trades, run_id):
    v = registry.register_calibrator("cal", trades.iloc[:400])
    with pytest.raises(PromotionRefusedError, match="never been evaluated.*force=True"):
        registry.promote("cal", v.version)
    registry.evaluate("cal", v.version, run_id, ["n_trades>=1000000"])
    with pytest.raises(
        PromotionRefusedError, match=r"failed its last evaluation.*n_trades >= 1e\+06"
    ):
        registry.promote("cal", v.version, to_stage="staging")
    with pytest.raises(PromotionRefusedError, match="--force --reason"):
        registry.promote("cal", v.version)
    registry.evaluate("cal", v.version, run_id, ["n_trades>=1"])  # the last one counts
    [change] = registry.promote("cal", v.version)
    assert (change.from_stage, change.to_stage, change.forced) == (
        "development",
        "production",
        False,
    )
    assert registry.get("cal", stage="production").version == v.version


def test_development_and_archived_need_no_evaluation(registry, trades):
    v = registry.register_calibrator("cal", trades.iloc[:400])
    registry.promote("cal", v.version, to_stage="archived", reason="not needed")
    registry.promote("cal", v.version, to_stage="development")
    assert [c.to_stage for c in registry.history("cal")] == ["archived", "development"]


def test_forced_promotion_records_its_reason(registry, trades, run_id):
    v = _evaluated(registry, trades, run_id, passing=False)
    with pytest.raises(PromotionRefusedError, match="needs a reason"):
        registry.promote("cal", v.version, force=True)
    [change] = registry.promote("cal", v.version, force=True, reason="hotfix: old one broke")
    assert change.forced and change.reason == "hotfix: old one broke"
    [event] = registry.store.query_events(event_type=EventType.MODEL_STAGE_CHANGED)
    assert event.payload["forced"] is True
    assert event.payload["reason"] == "hotfix: old one broke"
    assert event.payload["from_stage"] == "development"


def test_promoting_archives_the_previous_production_version(registry, trades, run_id):
    v1 = _evaluated(registry, trades, run_id, n=300)
    v2 = _evaluated(registry, trades, run_id, n=400)
    registry.promote("cal", v1.version)
    changes = registry.promote("cal", v2.version, reason="better brier")
    assert [(c.version, c.from_stage, c.to_stage) for c in changes] == [
        (1, "production", "archived"),
        (2, "development", "production"),
    ]
    assert changes[0].reason == "superseded by v2"
    assert registry.get("cal", 1).stage == "archived"
    assert registry.store.count_events(event_type=EventType.MODEL_STAGE_CHANGED) == 3
    with pytest.raises(PromotionRefusedError, match="already in 'production'"):
        registry.promote("cal", v2.version)


def test_the_database_allows_one_production_version_per_name(registry, trades, run_id):
    _evaluated(registry, trades, run_id)
    _evaluated(registry, trades, run_id)
    registry.promote("cal", 1)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"), registry.store.write() as conn:
        conn.execute("UPDATE model_versions SET stage = 'production' WHERE version = 2")


def test_concurrent_promotions_by_threads_leave_one_production(registry, trades, run_id):
    for _ in range(6):
        _evaluated(registry, trades, run_id)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def promote(version: int) -> None:
        barrier.wait()
        try:
            registry.promote("cal", version, reason=f"thread {version}")
        except PromotionRefusedError as exc:  # already superseded: fine
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(v,)) for v in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stages = [v.stage for v in registry.versions("cal")]
    assert stages.count("production") == 1 and stages.count("archived") == 5
    assert errors == []


def _promote_in_process(data_dir: str, version: int, barrier) -> None:
    with Store(data_dir) as store:
        barrier.wait()
        ModelRegistry(store).promote("cal", version, reason=f"process {version}")


def test_concurrent_promotions_by_processes_leave_one_production(
    data_dir, registry, trades, run_id
):
    for _ in range(3):
        _evaluated(registry, trades, run_id)
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_promote_in_process, args=(str(data_dir), v, barrier))
             for v in (1, 2, 3)]  # fmt: skip
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    stages = [v.stage for v in registry.versions("cal")]
    assert stages.count("production") == 1
    assert len(registry.history("cal")) == 3 + 2  # three promotions, two archivings


# --------------------------------------------------------------------------- load / apply


def test_load_model_returns_a_usable_calibrator(registry, trades, run_id):
    v = _evaluated(registry, trades, run_id)
    with pytest.raises(ModelNotFoundError, match="no version in 'production'.*models promote"):
        registry.load("cal")
    registry.promote("cal", v.version)
    cal = registry.load("cal")
    direct = make_calibrator("platt").fit(
        trades.iloc[:400]["confidence"].to_numpy(), trades.iloc[:400]["win"].to_numpy()
    )
    x = np.linspace(0.05, 0.95, 7)
    np.testing.assert_allclose(cal.predict(x), direct.predict(x), rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda r: r.get("nope"), ModelNotFoundError, "no model named 'nope'"),
        (lambda r: r.get("cal", 9), ModelNotFoundError, "versions of 'cal': 1"),
        (lambda r: r.get("cal", stage="prod"), ConfigError, "did you mean 'production'"),
        (lambda r: r.load("sig", version=1), ConfigError, "not a calibrator"),
    ],
)
def test_lookup_errors_name_the_fix(registry, trades, call, error, match):
    registry.register_calibrator("cal", trades.iloc[:400])
    registry.register("sig", model_type="signal")
    with pytest.raises(error, match=match):
        call(registry)


def test_apply_production_calibrator(registry, trades, run_id):
    v = _evaluated(registry, trades, run_id)
    registry.promote("cal", v.version)
    frame = trades.head(5).copy()
    frame.loc[frame.index[2], "confidence"] = np.nan
    before = frame.copy()
    out = registry.apply_production_calibrator(frame, "cal")
    pd.testing.assert_frame_equal(frame, before)  # the caller's frame is not mutated
    expected = registry.load("cal").predict(frame["confidence"].dropna().to_numpy())
    np.testing.assert_allclose(out["calibrated_probability"].dropna().to_numpy(), expected)
    assert np.isnan(out["calibrated_probability"].iloc[2])
    assert out.attrs["calibrator"]["version"] == v.version


def test_calibrated_signal_engine_fills_the_probability(registry, trades, run_id):
    v = _evaluated(registry, trades, run_id)
    registry.promote("cal", v.version)

    class Inner:
        def generate(self, data):
            return pd.DataFrame({"symbol": ["A", "B"], "confidence": [0.3, 0.8]})

    engine = registry.calibrated_signal_engine("cal", Inner())
    assert isinstance(engine, CalibratedSignalEngine) and engine.model == ("cal", 1)
    out = engine.generate(None)
    np.testing.assert_allclose(
        out["calibrated_probability"], registry.load("cal").predict([0.3, 0.8])
    )


# --------------------------------------------------------------------------- frames and CLI


def test_frames_for_tables(registry, trades, run_id):
    v = _evaluated(registry, trades, run_id)
    registry.promote("cal", v.version, reason="go")
    models = registry.models_frame()
    assert models.loc[0, "name"] == "cal" and models.loc[0, "production_version"] == 1
    versions = registry.versions_frame()
    assert versions.loc[0, "last_evaluation_passed"] == True  # noqa: E712 - numpy bool
    history = registry.history_frame("cal")
    assert list(history["to_stage"]) == ["production"] and history.loc[0, "reason"] == "go"


def test_models_cli(data_dir, store, trades, run_id, capsys):
    ModelRegistry(store).register_calibrator("cal", trades.iloc[:400])
    d = ["--data-dir", str(data_dir)]
    assert (
        main(["models", "evaluate", "cal", "1", "--run", run_id, "--gate", "n_trades>=1e6", *d])
        == 1
    )
    assert main(["models", "promote", "cal", "1", *d]) == 2
    assert "force" in capsys.readouterr().err
    assert main(["models", "promote", "cal", "1", "--force", "--reason", "trial", *d]) == 0
    capsys.readouterr()
    assert main(["models", "show", "cal", "--json", *d]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["versions"][0]["stage"] == "production"
    assert shown["history"][0]["forced"] is True and shown["history"][0]["reason"] == "trial"
    assert main(["models", "list", "--json", *d]) == 0
    assert json.loads(capsys.readouterr().out)[0]["production_version"] == 1
    assert main(["models", "show", "nope", *d]) == 2
