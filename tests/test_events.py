"""Events: payload validation, row round trips through SQLite, columnar rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import PayloadError
from core.events import EventType, LearningEvent, outcome_rows, signal_rows
from core.store import Store

SIGNAL = dict(signal_id="s1", symbol="AAPL", side=1, confidence=0.7)
OUTCOME = dict(signal_id="s1", return_pct=1.25, win=True)

EXAMPLES = {
    EventType.SIGNAL_GENERATED: {
        **SIGNAL, "num_agreeing_models": 4, "market_volatility": 0.21, "signal_strength": 0.4,
        "holding_days": 5, "applied_threshold": 0.6, "calibrated": True,
        "calibrated_probability": 0.55, "momentum_z": 1.5,
    },
    EventType.SIGNAL_ACCURACY: {**OUTCOME, "symbol": "AAPL", "confidence_used": 0.7,
                                "applied_threshold": 0.6, "calibrated": False},
    EventType.METRIC_RECORDED: {
        "baseline": {"win_rate": 0.51, "sharpe": 0.1},
        "filtered": {"win_rate": 0.56, "sharpe": 0.2, "profit_factor": float("inf")},
        "improvement": {"win_rate": 0.05}, "applied_threshold": 0.6,
        "confidence_key": "confidence", "use_calibration": False,
    },
    EventType.MODEL_REGISTERED: {"model_name": "cal", "version": 1, "model_type": "calibrator"},
    EventType.MODEL_EVALUATED: {"model_name": "cal", "version": 1, "passed": True,
                                "gates": [{"metric": "brier", "value": 0.2}]},
    EventType.MODEL_STAGE_CHANGED: {"model_name": "cal", "version": 1, "from_stage": "staging",
                                    "to_stage": "production", "reason": "passed", "forced": False},
    EventType.DRIFT_BASELINE_SET: {"model_name": "cal", "n": 500},
    EventType.DRIFT_ALERT: {"model_name": "cal", "metric": "psi", "severity": "warning",
                            "current_value": 0.15},
    EventType.TRAINING_JOB_UPDATED: {"job_id": "j1", "model_name": "cal", "state": "running"},
    EventType.TRIAL_RECORDED: {"signal": "momo", "kind": "sweep", "n_trials": 101,
                               "params": {"key": "confidence", "mode": "absolute"}},
    EventType.LEDGER_RESET: {"signal": "momo", "reason": "new data from 2024"},
    EventType.THRESHOLD_SELECTED: {"signal": "momo", "reason": "best OOS", "threshold": 0.62,
                                   "key": "raw", "dsr": 0.97, "ledger_count": 303},
}  # fmt: skip


def test_every_event_type_has_an_example():
    assert set(EXAMPLES) == set(EventType)


@pytest.mark.parametrize("event_type", list(EventType))
def test_round_trip_of_every_event_type(store, event_type):
    event = LearningEvent(event_type, "run-1", "2021-03-04T15:30:00Z", EXAMPLES[event_type])
    store.insert_events([event])
    (back,) = store.query_events(event_type=event_type)
    assert back == event
    assert dict(back.payload) == dict(event.payload)
    assert back.ts == pd.Timestamp("2021-03-04 15:30", tz="UTC")


def test_infinite_metric_travels_as_a_string():
    event = LearningEvent(EventType.METRIC_RECORDED, "r", "2021-01-01",
                          EXAMPLES[EventType.METRIC_RECORDED])  # fmt: skip
    assert event.payload["filtered"]["profit_factor"] == "inf"


def test_defaults_are_filled_in():
    event = LearningEvent.outcome(run_id="r", ts="2021-01-01", signal_id="a", return_pct=-0.5,
                                  win=False)  # fmt: skip
    assert event.payload["outcome"] == "loss"
    assert event.payload["calibrated"] is False


BAD = [
    (EventType.SIGNAL_GENERATED, {**SIGNAL, "confidence": float("nan")}, "confidence: expected a finite number"),
    (EventType.SIGNAL_GENERATED, {**SIGNAL, "confidence": 1.2}, r"confidence: expected a probability in \[0, 1\], got 1.2"),
    (EventType.SIGNAL_GENERATED, {**SIGNAL, "confidence": -0.1}, r"confidence: expected a probability"),
    (EventType.SIGNAL_GENERATED, {**SIGNAL, "confidence": "high"}, "confidence: expected a number, got str 'high'"),
    (EventType.SIGNAL_GENERATED, {**SIGNAL, "side": 0}, r"side: expected 1 \(long\) or -1 \(short\), got 0"),
    (EventType.SIGNAL_GENERATED, {**SIGNAL, "num_agreeing_models": 2.5}, "num_agreeing_models: expected a whole number"),
    (EventType.SIGNAL_GENERATED, {**SIGNAL, "holding_days": 0}, "holding_days: expected a number > 0"),
    (EventType.SIGNAL_GENERATED, {**SIGNAL, "market_volatility": -1}, "market_volatility: expected a number >= 0"),
    (EventType.SIGNAL_GENERATED, {**SIGNAL, "calibrated": "yes"}, "calibrated: expected true or false"),
    (EventType.SIGNAL_GENERATED, {"symbol": "A", "side": 1, "confidence": 0.5}, "missing required field.*signal_id"),
    (EventType.SIGNAL_GENERATED, {**SIGNAL, "extra": float("inf")}, "extra: expected a finite number"),
    (EventType.SIGNAL_GENERATED, {**SIGNAL, "extra": object()}, "extra: cannot store a object"),
    (EventType.SIGNAL_ACCURACY, {**OUTCOME, "win": False}, "win: False contradicts return_pct 1.25"),
    (EventType.SIGNAL_ACCURACY, {**OUTCOME, "return_pct": 0.0, "win": True}, "win: True contradicts return_pct 0.0"),
    (EventType.SIGNAL_ACCURACY, {**OUTCOME, "return_pct": float("inf")}, "return_pct: expected a finite number"),
    (EventType.SIGNAL_ACCURACY, {**OUTCOME, "outcome": "loss"}, "outcome: 'loss' contradicts return_pct"),
    (EventType.METRIC_RECORDED, {"baseline": {}, "filtered": {}, "improvement": {"x": [1]}}, r"improvement.x: expected a number"),
    (EventType.MODEL_REGISTERED, {"model_name": "m", "version": 0, "model_type": "c"}, r"version: expected a whole number >= 1, got 0; versions start at 1"),
]  # fmt: skip


@pytest.mark.parametrize(("event_type", "payload", "message"), BAD)
def test_bad_payloads_name_the_field(event_type, payload, message):
    with pytest.raises(PayloadError, match=message):
        LearningEvent(event_type, "r", "2021-01-01", payload)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": "NOPE"}, "type: unknown event type 'NOPE'"),
        ({"ts": "not a time"}, "ts: cannot read 'not a time' as a time"),
        ({"ts": pd.NaT}, "ts: missing time"),
        ({"run_id": 5}, "run_id: expected a string or None"),
    ],
)
def test_bad_envelope(kwargs, message):
    base = dict(type=EventType.SIGNAL_GENERATED, run_id="r", ts="2021-01-01", payload=SIGNAL)
    with pytest.raises(PayloadError, match=message):
        LearningEvent(**{**base, **kwargs})


def test_naive_times_are_utc_and_aware_times_are_converted():
    naive = LearningEvent.signal(run_id="r", ts="2021-01-01 10:00", **SIGNAL)
    aware = LearningEvent.signal(run_id="r", ts="2021-01-01 11:00+01:00", **SIGNAL)
    assert naive.ts == aware.ts == pd.Timestamp("2021-01-01 10:00", tz="UTC")


def test_columnar_rows_equal_event_rows():
    signals = pd.DataFrame({"signal_id": ["a"], "ts": [pd.Timestamp("2021-01-01", tz="UTC")],
                            "symbol": ["X"], "side": [-1], "confidence": [0.25],
                            "holding_days": [3.0], "f1": [2.5]})  # fmt: skip
    (row,) = list(signal_rows("r", signals, extra_columns=("f1",)))
    event = LearningEvent.signal(run_id="r", ts="2021-01-01", signal_id="a", symbol="X", side=-1,
                                 confidence=0.25, holding_days=3.0, f1=2.5)  # fmt: skip
    # Same row apart from the generated event id and recording time.
    assert row[1:4] == event.row[1:4] and row[5:] == event.row[5:]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("confidence", 1.5, r"confidence: expected \[0, 1\]; row 1 has 1.5"),
        ("confidence", np.nan, "confidence: a value is required; row 1"),
        ("side", 2, "side: expected 1 or -1; row 1"),
        ("ts", None, "ts: expected a time; row 1"),
        ("market_volatility", -0.1, "market_volatility: expected >= 0; row 1"),
    ],
)
def test_columnar_validation_names_column_and_row(column, value, message):
    frame = pd.DataFrame({"signal_id": ["a", "b"], "ts": pd.to_datetime(["2021-01-01"] * 2),
                          "symbol": ["X", "Y"], "side": [1, 1], "confidence": [0.5, 0.5],
                          "market_volatility": [0.2, 0.2]})  # fmt: skip
    frame[column] = frame[column].astype(object)
    frame.loc[1, column] = value
    with pytest.raises(PayloadError, match=message):
        signal_rows("r", frame)


def test_outcome_rows_reject_a_contradictory_win():
    frame = pd.DataFrame({"signal_id": ["a"], "ts": ["2021-01-01"], "return_pct": [-1.0],
                          "win": [True]})  # fmt: skip
    with pytest.raises(PayloadError, match="win: contradicts the sign of return_pct"):
        outcome_rows("r", frame)


# ---------------------------------------------------------------- property: round trip

finite = st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e12, max_value=1e12)
prob = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
times = st.datetimes(min_value=pd.Timestamp("1990-01-01").to_pydatetime(),
                     max_value=pd.Timestamp("2100-01-01").to_pydatetime())  # fmt: skip
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)

signal_payloads = st.fixed_dictionaries(
    {"signal_id": text, "symbol": text, "side": st.sampled_from([1, -1]), "confidence": prob},
    optional={
        "calibrated_probability": prob, "num_agreeing_models": st.integers(0, 50),
        "market_volatility": st.floats(0, 10), "signal_strength": finite,
        "holding_days": st.floats(0.5, 100), "applied_threshold": prob,
        "calibrated": st.booleans(), "feature_x": finite, "note": text,
    },
)  # fmt: skip


@st.composite
def outcome_payloads(draw):
    ret = draw(finite)
    payload = {"signal_id": draw(text), "return_pct": ret, "win": ret > 0}
    if draw(st.booleans()):
        payload["confidence_used"] = draw(prob)
    return payload


events = st.one_of(
    st.tuples(text, times, signal_payloads).map(
        lambda t: LearningEvent(EventType.SIGNAL_GENERATED, t[0], t[1], t[2])
    ),
    st.tuples(text, times, outcome_payloads()).map(
        lambda t: LearningEvent(EventType.SIGNAL_ACCURACY, t[0], t[1], t[2])
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(events, min_size=1, max_size=20))
def test_any_valid_batch_round_trips_unchanged(tmp_path_factory, batch):
    with Store(tmp_path_factory.mktemp("rt")) as store:
        store.insert_events(batch)
        back = {e.event_id: e for e in store.query_events()}
    assert len(back) == len(batch)
    for event in batch:
        got = back[event.event_id]
        assert got == event  # dataclass equality: type, run, times, payload, ids
        assert dict(got.payload) == dict(event.payload)
