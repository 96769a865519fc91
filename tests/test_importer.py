"""Importing signal logs: good, bad and mixed files; nothing partial."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from core.errors import ImportFileError
from core.importer import import_signal_log
from core.store import Store

GOOD = """timestamp,symbol,confidence,return_pct,side,holding_days,momentum
2020-01-02,AAPL,0.70,1.5,long,5,0.3
2020-01-03,MSFT,0.40,-0.5,short,5,-0.1
2020-01-06,IBM,0.55,0.0,long,3,0.0
"""


def _write(tmp_path, text, name="log.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_csv(tmp_path, store):
    result = import_signal_log(_write(tmp_path, GOOD), store=store)
    assert (result.n_rows, result.n_imported, result.n_skipped) == (3, 3, 0)
    assert result.features == ("momentum",)
    trades = store.trades_frame(result.run_id)
    assert list(trades["symbol"]) == ["AAPL", "MSFT", "IBM"]
    assert list(trades["side"]) == [1, -1, 1]
    np.testing.assert_array_equal(trades["return_pct"], [1.5, -0.5, 0.0])
    assert list(trades["win"]) == [True, False, False]
    np.testing.assert_array_equal(trades["momentum"], [0.3, -0.1, 0.0])
    # Outcome time = entry + holding_days business days (2020-01-02 is a Thursday).
    assert trades["exit_time"].iloc[0] == pd.Timestamp("2020-01-09", tz="UTC")
    info = store.get_run(result.run_id)
    assert (info.kind, info.status, info.n_signals) == ("import", "completed", 3)


def test_prices_and_aliases(tmp_path, store):
    text = "Date,Ticker,Score,Entry Price,Exit Price,Direction,Exit Date\n" \
           "2021-05-03,AAPL,0.9,100,110,buy,2021-05-10\n" \
           "2021-05-04,AAPL,0.2,100,110,sell,2021-05-11\n"  # fmt: skip
    result = import_signal_log(_write(tmp_path, text), store=store)
    trades = store.trades_frame(result.run_id)
    np.testing.assert_allclose(trades["return_pct"], [10.0, -10.0])
    assert trades["exit_time"].iloc[1] == pd.Timestamp("2021-05-11", tz="UTC")


def test_parquet(tmp_path, store):
    frame = pd.read_csv(_write(tmp_path, GOOD))
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    result = import_signal_log(path, store=store)
    assert result.n_imported == 3


BAD_ROWS = [
    ("2020-13-45,AAPL,0.5,1.0", r"row 2: timestamp '2020-13-45' is not a date/time"),
    ("2020-01-02,,0.5,1.0", "row 2: symbol is empty"),
    ("2020-01-02,AAPL,high,1.0", "row 2: confidence 'high' is not a number"),
    ("2020-01-02,AAPL,1.5,1.0", r"row 2: confidence 1.5 is outside \[0, 1\]"),
    (
        "2020-01-02,AAPL,0.5,abc",
        r"row 2: return_pct 'abc' is not a number; give the return in percent",
    ),
    ("2020-01-02,AAPL,0.5,inf", "row 2: return_pct inf is not a finite number"),
]


@pytest.mark.parametrize(("line", "message"), BAD_ROWS)
def test_bad_rows_are_named_and_nothing_is_imported(tmp_path, store, line, message):
    path = _write(tmp_path, "timestamp,symbol,confidence,return_pct\n" + line + "\n")
    with pytest.raises(ImportFileError, match=message) as info:
        import_signal_log(path, store=store)
    assert info.value.row_errors[0].row == 2
    assert store.list_runs() == [] and store.count_events() == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("symbol,confidence,return_pct\nA,0.5,1\n", "missing required column.*timestamp"),
        ("timestamp,symbol,confidence\n2020-01-01,A,0.5\n", r"return_pct \(or entry_price and exit_price\)"),
        ("timestamp,symbol,confidence,entry_price,exit_price,side\n2020-01-01,A,0.5,0,1,long\n", "row 2: prices must be positive"),
        ("timestamp,symbol,confidence,return_pct,side\n2020-01-01,A,0.5,1,up\n", "row 2: side 'up' is not a side"),
        ("timestamp,symbol,confidence,return_pct,signal_id\n2020-01-01,A,0.5,1,x\n2020-01-02,A,0.5,1,x\n", "row 3: signal_id 'x' repeats"),
    ],
)  # fmt: skip
def test_file_level_errors(tmp_path, store, text, message):
    with pytest.raises(ImportFileError, match=message):
        import_signal_log(_write(tmp_path, text), store=store)


def test_mixed_file_with_skip_bad_rows(tmp_path, store):
    text = GOOD + "2020-01-07,AAPL,7,1.0,long,5,0.1\nnot-a-date,AAPL,0.5,1.0,long,5,0.1\n"
    with pytest.raises(ImportFileError) as info:
        import_signal_log(_write(tmp_path, text), store=store)
    assert [e.row for e in info.value.row_errors] == [5, 6]
    result = import_signal_log(_write(tmp_path, text), store=store, skip_bad_rows=True)
    assert (result.n_imported, result.n_skipped) == (3, 2)
    assert [e.row for e in result.row_errors] == [5, 6]
    assert store.get_run(result.run_id).n_signals == 3


def test_dry_run_writes_nothing(tmp_path, store):
    result = import_signal_log(_write(tmp_path, GOOD), store=store, dry_run=True)
    assert result.run_id is None and len(result.preview) == 3
    assert store.list_runs() == []


def test_missing_and_unsupported_files(tmp_path, store):
    with pytest.raises(ImportFileError, match="no such file"):
        import_signal_log(tmp_path / "nope.csv", store=store)
    with pytest.raises(ImportFileError, match="unsupported file type '.xlsx'"):
        import_signal_log(_write(tmp_path, "x", "a.xlsx"), store=store)


def test_a_failure_mid_import_leaves_no_half_run(tmp_path, store):
    # A real SQLite failure after the first chunk is written: a trigger refuses the second.
    with store.write() as conn:
        conn.execute(
            "CREATE TRIGGER refuse_second_chunk BEFORE INSERT ON trades "
            "WHEN (SELECT count(*) FROM trades) >= 1 "
            "BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END"
        )
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        import_signal_log(_write(tmp_path, GOOD), store=store, chunk_rows=1)
    assert store.list_runs() == []
    assert store.count_events() == 0


def test_a_large_import_round_trips(tmp_path, data_dir):
    rng = np.random.default_rng(1)
    n = 20_000
    frame = pd.DataFrame({
        "timestamp": pd.date_range("2015-01-01", periods=n, freq="h"),
        "symbol": rng.choice(["A", "B", "C"], n), "confidence": rng.random(n),
        "return_pct": rng.normal(0, 1, n), "feat": rng.normal(size=n),
    })  # fmt: skip
    path = tmp_path / "big.parquet"
    frame.to_parquet(path)
    with Store(data_dir) as store:
        result = import_signal_log(path, store=store)
        trades = store.trades_frame(result.run_id)
    assert len(trades) == n
    np.testing.assert_allclose(trades["return_pct"], frame["return_pct"])
    np.testing.assert_allclose(trades["feat"], frame["feat"])


def test_the_import_snapshot_equals_a_read_from_the_events(tmp_path, store):
    text = GOOD + "2020-01-06,AAPL,0.61,2.0,short,,0.5\n"  # a tie on time; no holding days
    result = import_signal_log(_write(tmp_path, text), store=store)
    snapshot = store.trades_frame(result.run_id)
    with store.write() as conn:
        conn.execute("DELETE FROM trade_snapshots")
    from_events = store.trades_frame(result.run_id)
    pd.testing.assert_frame_equal(snapshot, from_events)
