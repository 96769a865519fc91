"""The one column table: what it generates, its checks, and a store round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.columns import (
    COLUMNS,
    ENVELOPE,
    EVENT_COLUMNS,
    SNAPSHOT_SCHEMA,
    TRADES_COLUMNS,
    TRADES_SQL,
    Column,
    Kind,
)
from core.errors import PayloadError, TradesFrameError
from core.events import PAYLOAD_SCHEMAS, EventType, outcome_rows, signal_rows
from core.store import Store
from core.store.db import _arrow_to_frame, trades_table
from core.trades import CORE_COLUMNS, empty_trades_frame, validate_trades

# ---------------------------------------------------------------- generated artefacts


def test_event_columns_match_the_migrated_table(store):
    view = {r[1] for r in store.conn.execute("PRAGMA table_info(events)")}
    assert set(EVENT_COLUMNS) == view - {"id"}
    info = {r[1]: r[2] for r in store.conn.execute("PRAGMA table_info(event_log)")}
    assert set(EVENT_COLUMNS) == set(info) - {"id"}
    for column in COLUMNS.values():
        if column.sql is not None and column.sql not in ENVELOPE:
            assert info[column.sql] == column.sql_type, column.name


def test_every_carried_field_names_a_real_event_type():
    carried = {t for c in COLUMNS.values() for t in c.carried}
    assert carried == {t.value for t in EventType}
    for event_type, schema in PAYLOAD_SCHEMAS.items():
        for name, spec in schema.items():
            assert spec.column is COLUMNS[name]
            assert spec.required is COLUMNS[name].carried[event_type.value]


def test_trades_frame_columns_and_dtypes_come_from_the_table():
    assert CORE_COLUMNS == tuple(c.name for c in TRADES_COLUMNS)
    assert CORE_COLUMNS[:4] == ("signal_id", "run_id", "entry_time", "exit_time")
    empty = empty_trades_frame()
    assert list(empty.columns) == list(CORE_COLUMNS)
    assert {c: str(t) for c, t in empty.dtypes.items()} == {c.name: c.dtype for c in TRADES_COLUMNS}


def test_snapshot_schema_and_join_agree():
    names = SNAPSHOT_SCHEMA.names
    assert names == [c.snapshot_name for c in TRADES_COLUMNS if c.name != "run_id"]
    select = TRADES_SQL.split("FROM")[0]
    for name in names:
        assert name in select
    assert "t.ts AS entry_ns" in select and "t.exit_ts AS exit_ns" in select
    assert "t.return_pct" in select and "(t.return_pct > 0) AS win" in select


@pytest.mark.parametrize(
    ("column", "bounds", "expected"),
    [
        ("confidence", "[0, 1]", "a probability in [0, 1]"),
        ("market_volatility", ">= 0", "a number >= 0"),
        ("holding_days", "> 0", "a number > 0"),
        ("num_agreeing_models", ">= 0", "a whole number >= 0"),
        ("signal_strength", "", "a number"),
        ("side", "", "1 (long) or -1 (short)"),
    ],
)
def test_bounds_in_words(column, bounds, expected):
    assert (COLUMNS[column].bounds, COLUMNS[column].expected) == (bounds, expected)


# ---------------------------------------------------------------- checks


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("confidence", 1.2, r"confidence: expected a probability in \[0, 1\], got 1.2; rescale"),
        ("confidence", True, "confidence: expected a number, got bool True"),
        ("holding_days", 0.0, "holding_days: expected a number > 0, got 0.0"),
        ("num_agreeing_models", -1, "num_agreeing_models: expected a whole number >= 0, got -1"),
        ("num_agreeing_models", 1.5, "num_agreeing_models: expected a whole number, got float"),
        ("side", "up", r"side: expected 1 \(long\) or -1 \(short\), got 'up'; use 1"),
        ("win", 2, "win: expected true or false, got int 2"),
        ("symbol", "", "symbol: expected a non-empty string, got ''"),
        ("baseline", [1], "baseline: expected a mapping of metric name to number"),
        ("baseline", {"x": "a", "y": [1]}, "baseline.y: expected a number, got list"),
    ],
)
def test_scalar_checks_name_field_value_and_fix(column, value, message):
    with pytest.raises(PayloadError, match=message):
        COLUMNS[column].check(value)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("side", "Short", -1),
        ("side", 1.0, 1),
        ("num_agreeing_models", 3.0, 3),
        ("win", np.bool_(True), True),
        ("baseline", {"pf": np.inf, "n": np.int64(3), "x": np.nan}, {"pf": "inf", "n": 3, "x": None}),
    ],
)  # fmt: skip
def test_scalar_checks_normalise(column, value, expected):
    assert COLUMNS[column].check(value) == expected


def test_violations_stop_where_the_caller_stops():
    values = np.array([0.5, np.nan, np.inf, 2.0])
    seen = [(code, np.flatnonzero(mask).tolist()) for code, _, mask in
            COLUMNS["confidence"].violations(values, required=True)]  # fmt: skip
    assert seen == [("missing", [1]), ("not_finite", [2]), ("bounds", [3])]
    counts = COLUMNS["num_agreeing_models"].violations(np.array([1.0, 2.5]), required=False)
    assert [(c, m.tolist()) for c, _, m in counts] == [
        ("not_finite", [False, False]),
        ("not_whole", [False, True]),
        ("bounds", [False, False]),
    ]


def _signals(**changes) -> pd.DataFrame:
    frame = pd.DataFrame({"signal_id": ["a", "b"], "ts": pd.to_datetime(["2021-01-01"] * 2),
                          "symbol": ["X", "Y"], "side": [1, -1], "confidence": [0.5, 0.5],
                          "num_agreeing_models": [3, 4], "calibrated": [True, False]})  # fmt: skip
    for column, value in changes.items():
        frame[column] = frame[column].astype(object)
        frame.loc[1, column] = value
    return frame


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_agreeing_models": 2.5}, "num_agreeing_models: expected a whole number; row 1 has 2.5"),
        ({"num_agreeing_models": -1}, "num_agreeing_models: expected >= 0; row 1 has -1"),
        ({"calibrated": 2}, "calibrated: expected true or false; row 1 has 2"),
        ({"signal_id": None}, "signal_id: a value is required; row 1 has None"),
        ({"symbol": ""}, "symbol: a value is required; row 1 has ''"),
        ({"confidence": 3.0}, r"confidence: expected \[0, 1\]; row 1 has 3.0 \(1 such row\(s\)\); rescale"),
        ({"confidence": "x"}, "confidence: expected numbers; fix the non-numeric values"),
        ({"side": 0}, "side: expected 1 or -1; row 1 has 0"),
    ],
)  # fmt: skip
def test_columnar_checks_name_column_row_and_fix(changes, message):
    with pytest.raises(PayloadError, match=message):
        list(signal_rows("r", _signals(**changes)))


def test_a_missing_required_column_is_named():
    with pytest.raises(PayloadError, match="confidence: column missing; columns present"):
        signal_rows("r", _signals().drop(columns=["confidence"]))
    with pytest.raises(PayloadError, match="return_pct: column missing"):
        outcome_rows("r", pd.DataFrame({"signal_id": ["a"], "ts": ["2021-01-01"]}))


def test_counts_are_stored_as_whole_numbers_and_features_may_be_unknown():
    frame = _signals().assign(f=[1.5, np.nan])
    rows = list(signal_rows("r", frame, extra_columns=("f",)))
    agree = EVENT_COLUMNS.index("num_agreeing_models")
    assert [r[agree] for r in rows] == [3, 4] and all(type(r[agree]) is int for r in rows)
    assert [r[-1] for r in rows] == ['{"f":1.5}', '{"f":null}']
    with pytest.raises(PayloadError, match="f: expected a finite number; row 1 has inf"):
        list(signal_rows("r", _signals().assign(f=[1.0, np.inf]), extra_columns=("f",)))


def test_validate_trades_takes_the_score_bounds_from_the_table():
    trades = empty_trades_frame()
    trades.loc[0] = ["a", "r", pd.Timestamp("2021-01-01", tz="UTC"), pd.NaT, "X", 1, 1.5,
                     np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 1.0, True]  # fmt: skip
    with pytest.raises(TradesFrameError, match=r"confidence must lie in \[0, 1\]; row 0"):
        validate_trades(trades)


# ---------------------------------------------------------------- property: round trip

_prob_or_nan = st.one_of(st.just(np.nan), st.floats(0.0, 1.0))
_row = st.fixed_dictionaries({
    "ts": st.integers(0, 4_000_000_000) .map(lambda s: pd.Timestamp(s * 10**9 + 123, tz="UTC")),
    "hold": st.integers(0, 10**12),
    "symbol": st.text("ABCXYZ", min_size=1, max_size=4),
    "side": st.sampled_from([1, -1]),
    "confidence": st.floats(0.0, 1.0),
    "calibrated_probability": _prob_or_nan,
    "num_agreeing_models": st.one_of(st.just(np.nan), st.integers(0, 9).map(float)),
    "market_volatility": st.one_of(st.just(np.nan), st.floats(0.0, 5.0)),
    "signal_strength": st.one_of(st.just(np.nan), st.floats(-1e9, 1e9)),
    "holding_days": st.one_of(st.just(np.nan), st.floats(0.01, 500.0)),
    "applied_threshold": _prob_or_nan,
    "return_pct": st.floats(-100.0, 1e6),
    "feature": st.one_of(st.just(np.nan), st.floats(-1e6, 1e6)),
})  # fmt: skip


def _frames(rows: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = pd.DataFrame(rows)
    table["signal_id"] = [f"id{i:03d}" for i in range(len(table))][::-1]
    optional = ["calibrated_probability", "num_agreeing_models", "market_volatility",
                "signal_strength", "holding_days", "applied_threshold"]  # fmt: skip
    signals = table[["signal_id", "ts", "symbol", "side", "confidence", *optional, "feature"]]
    outcomes = pd.DataFrame({
        "signal_id": table["signal_id"],
        "ts": table["ts"] + pd.to_timedelta(table["hold"], unit="ns"),
        "symbol": table["symbol"], "return_pct": table["return_pct"],
        "win": table["return_pct"] > 0, "confidence_used": table["confidence"],
    })  # fmt: skip
    return signals, outcomes


def _expected(run_id: str, signals: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({
        "signal_id": signals["signal_id"], "run_id": run_id, "entry_time": signals["ts"],
        "exit_time": outcomes["ts"], "symbol": signals["symbol"], "side": signals["side"],
    })  # fmt: skip
    for c in TRADES_COLUMNS[6:-2]:
        frame[c.name] = signals[c.name]
    frame["return_pct"] = outcomes["return_pct"]
    frame["win"] = outcomes["return_pct"] > 0
    frame["feature"] = signals["feature"]
    frame = frame.sort_values(["entry_time", "signal_id"]).reset_index(drop=True)
    dtypes = {c.name: c.dtype for c in TRADES_COLUMNS if c.kind is not Kind.TEXT}
    frame = frame.astype({**dtypes, "feature": "float64"})
    return frame.astype({"signal_id": "str", "run_id": "str", "symbol": "str"})


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(_row, min_size=1, max_size=12))
def test_a_valid_frame_round_trips_to_the_same_trades_frame(tmp_path_factory, rows):
    signals, outcomes = _frames(rows)
    with Store(tmp_path_factory.mktemp("cols"), timeout=5) as store:
        run_id = store.create_run(signal="test-signal", kind="backtest", feature_keys=["feature"])
        store.insert_event_rows([*signal_rows(run_id, signals, extra_columns=("feature",)),
                                 *outcome_rows(run_id, outcomes)])  # fmt: skip
        store.finish_run(run_id, status="completed")
        from_store = store.trades_frame(run_id)
    expected = _expected(run_id, signals, outcomes)
    pd.testing.assert_frame_equal(from_store, expected)
    # The importer's path: the snapshot built from the frames in memory is the same frame.
    in_memory = _arrow_to_frame(trades_table(signals, outcomes, ("feature",)), run_id,
                                ("feature",))  # fmt: skip
    pd.testing.assert_frame_equal(in_memory, expected)


def test_a_column_declared_twice_is_refused():
    from core.columns import _table

    with pytest.raises(RuntimeError, match="column names repeat"):
        _table(Column("a", Kind.TEXT), Column("a", Kind.FLOAT))
