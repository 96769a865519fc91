"""The ``trades`` layout: bulk signals and outcomes as one narrow row per signal, events as a view.

Covers the migration of a store written by the previous layout (schema 5), the equality
of the bulk path and the event path, streaming imports (chunked = one shot) and open
signals.
"""

from __future__ import annotations

import io
import sqlite3

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from core.columns import EVENT_COLUMNS
from core.errors import StoreError
from core.events import EventType, LearningEvent, outcome_rows, signal_rows
from core.importer import import_signal_log
from core.store import Store
from core.store.db import DB_FILENAME, read_snapshot
from core.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

_OLD_INSERT = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})"
)


def _frames(n: int, *, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC")
    signals = pd.DataFrame({
        "signal_id": [f"s{i}" for i in range(n)], "ts": ts, "symbol": rng.choice(["A", "B"], n),
        "side": rng.choice([1, -1], n), "confidence": rng.random(n),
        "holding_days": np.full(n, 5.0), "feature": rng.normal(size=n),
    })  # fmt: skip
    outcomes = pd.DataFrame({
        "signal_id": signals["signal_id"], "ts": ts + pd.Timedelta(days=5),
        "symbol": signals["symbol"], "return_pct": rng.normal(0, 2, n),
        "confidence_used": signals["confidence"],
    })  # fmt: skip
    return signals, outcomes


def _old_store(folder) -> None:
    """A store at schema 5, as the previous Signal Lab created it (migrations m001-m005)."""
    folder.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(folder / DB_FILENAME)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    old = Migrations("signal_lab")
    for migration in MIGRATIONS._migrations[:5]:
        old(name=migration.name)(migration.fn)
    old.apply(Database(conn))
    conn.commit()
    conn.close()


def _old_run(conn: sqlite3.Connection, run_id: str) -> None:
    conn.execute(
        "INSERT INTO runs (id, kind, status, name, created, signal, feature_keys) "
        "VALUES (?, 'import', 'completed', ?, '2026-11-01T00:00:00+00:00', 'old', '[\"feature\"]')",
        (run_id, run_id),
    )


def _all_events(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(f"SELECT id, {', '.join(EVENT_COLUMNS)} FROM events ORDER BY id").fetchall()


def test_a_store_of_the_previous_layout_is_migrated_with_every_event_kept(tmp_path):
    _old_store(tmp_path)
    signals, outcomes = _frames(40)
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    with conn:
        _old_run(conn, "run-a")
        _old_run(conn, "run-b")
        rows = [*signal_rows("run-a", signals, extra_columns=("feature",)),
                *outcome_rows("run-a", outcomes.iloc[:30])]  # 10 open signals  # fmt: skip
        conn.executemany(_OLD_INSERT, rows)
        twice = signals.iloc[:3].assign(signal_id="dup")  # an id that repeats, with 2 outcomes
        conn.executemany(_OLD_INSERT, signal_rows("run-b", twice))
        conn.executemany(
            _OLD_INSERT, outcome_rows("run-b", outcomes.iloc[:2].assign(signal_id="dup"))
        )
        orphan = outcomes.iloc[5:6].assign(signal_id="no-signal")  # an outcome without signal
        conn.executemany(_OLD_INSERT, outcome_rows("run-b", orphan))
        conn.executemany(_OLD_INSERT, signal_rows("not-a-run", signals.iloc[:2]))
        metric = LearningEvent("METRIC_RECORDED", "run-a", "2020-03-01",
                               {"baseline": {"n": 1}, "filtered": {"n": 1}, "improvement": {}})  # fmt: skip
        conn.execute(_OLD_INSERT, metric.row)
    before = _all_events(conn)
    conn.close()

    with Store(tmp_path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        after = _all_events(store.conn)
        assert after == before  # same ids, event ids, values and payloads
        moved = store.conn.execute("SELECT count(*) FROM trades").fetchone()[0]
        assert moved == 40 + 3 + 1  # run-a's signals, run-b's three, the orphan outcome
        left = store.conn.execute("SELECT type, run_id FROM event_log ORDER BY id").fetchall()
        assert left == [("SIGNAL_GENERATED", "not-a-run")] * 2 + [("METRIC_RECORDED", "run-a")]
        info = store.get_run("run-a")  # counted again by the migration
        assert (info.n_signals, info.n_outcomes, info.n_events) == (40, 30, 71)
        trades = store.trades_frame("run-a")
        assert len(trades) == 30 and list(trades["signal_id"]) == list(outcomes["signal_id"][:30])
        np.testing.assert_allclose(trades["feature"], signals["feature"][:30])
        assert list(store.open_signals("run-a")["signal_id"]) == [f"s{i}" for i in range(30, 40)]
        assert len(store.trades_frame("run-b")) == 2  # each outcome of "dup" paired with a signal
        # New events go on from the old ids.
        store.insert_events([LearningEvent.signal(run_id="run-a", ts="2021-01-01", signal_id="new",
                                                  symbol="A", side=1, confidence=0.5)])  # fmt: skip
        newest = store.query_events(run_id="run-a", event_type="SIGNAL_GENERATED")[-1]
        assert newest.payload["signal_id"] == "new"
        assert store.conn.execute("SELECT max(id) FROM events").fetchone()[0] > before[-1][0]


def test_the_bulk_path_and_the_event_path_read_back_the_same(tmp_path):
    signals, outcomes = _frames(25)
    outcomes = outcomes.iloc[:20]
    frames = {}
    for path in ("bulk", "events"):
        with Store(tmp_path / path) as store:
            run_id = store.create_run(kind="backtest", signal="s", feature_keys=["feature"])
            if path == "bulk":
                store.insert_trade_frames(run_id, signals, outcomes, extra_columns=("feature",))
            else:
                store.insert_event_rows([*signal_rows(run_id, signals, extra_columns=("feature",)),
                                         *outcome_rows(run_id, outcomes)])  # fmt: skip
            store.finish_run(run_id, status="completed")
            events = store.events_frame(run_id=run_id).drop(
                columns=["event_id", "run_id", "recorded_at"]
            )
            frames[path] = (
                events.sort_values(["type", "signal_id"]).reset_index(drop=True),
                store.trades_frame(run_id).drop(columns="run_id"),
                store.open_signals(run_id).drop(columns="run_id"),
                store.get_run(run_id).n_events,
            )
    for a, b in zip(frames["bulk"], frames["events"], strict=True):
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b)
        else:
            assert a == b == 45


def test_outcomes_before_their_signals_pair_up(store):
    run_id = store.create_run(kind="backtest", signal="s")
    outcome = LearningEvent.outcome(run_id=run_id, ts="2020-01-09", signal_id="x", return_pct=1.0,
                                    win=True)  # fmt: skip
    signal = LearningEvent.signal(run_id=run_id, ts="2020-01-02", signal_id="x", symbol="A",
                                  side=1, confidence=0.7)  # fmt: skip
    store.insert_events([outcome])
    store.insert_events([signal])
    store.finish_run(run_id, status="completed")
    back = {e.event_id: e for e in store.query_events(run_id=run_id)}
    assert back[signal.event_id].row == signal.row and back[outcome.event_id].row == outcome.row
    trades = store.trades_frame(run_id)
    assert list(trades["signal_id"]) == ["x"] and trades["return_pct"].iloc[0] == 1.0
    assert store.open_signals(run_id).empty


def _log(n: int, *, seed: int = 3, open_every: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "timestamp": pd.Timestamp("2015-01-01", tz="UTC")
        + pd.to_timedelta(rng.integers(0, 10**6, n), unit="min"),
        "symbol": rng.choice(["A", "B", "C"], n), "confidence": rng.random(n).round(3),
        "return_pct": rng.normal(0, 1, n).round(4), "holding_days": rng.integers(1, 9, n),
        "feat": rng.normal(size=n).round(3),
    })  # fmt: skip
    if open_every:
        frame.loc[frame.index[::open_every], "return_pct"] = np.nan
    return frame


@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_chunked_import_equals_a_one_shot_import(tmp_path, suffix, ordered):
    frame = _log(1_000, open_every=9)
    if ordered:  # chunks then arrive in time order: the snapshot needs no sort
        frame = frame.sort_values("timestamp", kind="stable", ignore_index=True)
    path = tmp_path / f"log.{suffix}"
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
    seen = {}
    for chunk_rows in (37, 100_000):
        progress: list[tuple[int, int | None]] = []
        with Store(tmp_path / f"d{chunk_rows}") as store:
            result = import_signal_log(
                path, store=store, chunk_rows=chunk_rows,
                on_rows=lambda done, total, seen=progress: seen.append((done, total)),
            )  # fmt: skip
            events = store.events_frame(run_id=result.run_id).drop(
                columns=["event_id", "run_id", "recorded_at"]
            )
            snapshot = store.trades_frame(result.run_id)  # written by the import
            store.conn.execute("DELETE FROM trade_snapshots")
            store.conn.commit()
            pd.testing.assert_frame_equal(snapshot, store.trades_frame(result.run_id))  # cold
            seen[chunk_rows] = (
                result.to_dict() | {"run_id": None},
                snapshot.drop(columns="run_id"),
                store.open_signals(result.run_id).drop(columns="run_id"),
                events.sort_values(["type", "signal_id"]).reset_index(drop=True),
            )
        assert progress[-1][0] == 1_000
        assert progress[-1][1] == (1_000 if suffix == "parquet" else None)
        assert len(progress) == -(-1_000 // chunk_rows)
    small, big = seen[37], seen[100_000]
    assert small[0] == big[0]
    assert small[0]["n_open"] == len(range(0, 1_000, 9)) and small[0]["n_imported"] == 1_000
    for a, b in zip(small[1:], big[1:], strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_a_chunked_import_finds_ids_repeated_across_chunks(tmp_path, store):
    text = "timestamp,symbol,confidence,return_pct,signal_id\n" + "".join(
        f"2020-01-{d:02d},A,0.5,1,{'x' if d in (2, 9) else d}\n" for d in range(1, 11)
    )
    path = tmp_path / "log.csv"
    path.write_text(text)
    result = import_signal_log(path, store=store, chunk_rows=3, skip_bad_rows=True)
    assert [(e.row, e.reason.split(";")[0]) for e in result.row_errors] == [
        (10, "signal_id 'x' repeats an earlier row")
    ]
    assert result.n_imported == 9


def test_open_signals_import_without_an_outcome(tmp_path, store):
    path = tmp_path / "log.csv"
    path.write_text(
        "timestamp,symbol,confidence,return_pct,holding_days\n"
        "2020-01-02,AAPL,0.7,1.5,5\n"
        "2020-01-03,MSFT,0.6,,5\n"
        "2020-01-06,IBM,0.8,-0.5,\n"
        "2020-01-07,AAPL,0.9,,\n"
    )
    result = import_signal_log(path, store=store)
    assert (result.n_imported, result.n_open, result.row_errors) == (4, 2, ())
    assert result.to_dict()["n_open"] == 2
    assert result.preview["return_pct"].isna().tolist() == [False, True, False, True]
    open_ = store.open_signals(result.run_id)
    assert list(open_["symbol"]) == ["MSFT", "AAPL"]
    assert list(open_["confidence"]) == [0.6, 0.9]
    assert open_["entry_time"].tolist() == [pd.Timestamp("2020-01-03", tz="UTC"),
                                            pd.Timestamp("2020-01-07", tz="UTC")]  # fmt: skip
    assert "return_pct" not in open_ and "exit_time" not in open_
    trades = store.trades_frame(result.run_id)
    assert list(trades["symbol"]) == ["AAPL", "IBM"]  # closed trades only
    assert store.event_counts_by_type() == {"SIGNAL_GENERATED": 4, "SIGNAL_ACCURACY": 2}
    info = store.get_run(result.run_id)
    assert (info.n_signals, info.n_outcomes, info.n_events) == (4, 2, 6)


def test_open_signals_from_prices_are_rows_without_an_exit_price(tmp_path, store):
    path = tmp_path / "log.csv"
    path.write_text(
        "timestamp,symbol,confidence,entry_price,exit_price\n"
        "2020-01-02,AAPL,0.7,100,101\n"
        "2020-01-03,MSFT,0.6,50,\n"
    )
    result = import_signal_log(path, store=store)
    assert (result.n_imported, result.n_open) == (2, 1)
    assert list(store.open_signals(result.run_id)["symbol"]) == ["MSFT"]
    assert store.trades_frame(result.run_id)["return_pct"].round(6).tolist() == [1.0]


def test_a_log_of_open_signals_only_imports(tmp_path, store):
    path = tmp_path / "log.csv"
    path.write_text("timestamp,symbol,confidence,return_pct\n2020-01-02,AAPL,0.7,\n")
    result = import_signal_log(path, store=store)
    assert (result.n_imported, result.n_open) == (1, 1)
    assert store.trades_frame(result.run_id).empty
    assert len(store.open_signals(result.run_id)) == 1


def test_a_dry_run_streams_and_writes_nothing(tmp_path, store):
    frame = _log(2_500, open_every=5)
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    lines: list[str] = []
    result = import_signal_log(path, store=store, dry_run=True, chunk_rows=1_000,
                               on_progress=lines.append)  # fmt: skip
    assert result.run_id is None and result.n_rows == 2_500 and result.n_open == 500
    assert len(result.preview) == 1_000  # the first rows only
    assert [line.split(" ")[0] for line in lines] == ["reading"] + ["validating"] * 3
    assert store.list_runs() == [] and store.count_events() == 0


def test_open_signals_of_a_run_still_running_elsewhere_are_refused(data_dir):
    with Store(data_dir) as writer:
        run_id = writer.create_run(kind="backtest", signal="s")
        with Store(data_dir) as reader, pytest.raises(StoreError, match="still running"):
            reader.open_signals(run_id)
        assert writer.open_signals(run_id).empty


@pytest.mark.parametrize("path", ["bulk", "events"])
def test_writes_to_a_finished_run_keep_its_counts_and_refresh_its_snapshot(store, path):
    signals, outcomes = _frames(12)
    run_id = store.create_run(kind="backtest", signal="s")
    store.insert_trade_frames(run_id, signals.iloc[:8], outcomes.iloc[:8])
    store.finish_run(run_id, status="completed")
    assert len(store.trades_frame(run_id)) == 8
    late_s, late_o = signals.iloc[8:], outcomes.iloc[8:10]  # two closed, two open
    if path == "bulk":
        store.insert_trade_frames(run_id, late_s, late_o)
    else:
        store.insert_event_rows([*signal_rows(run_id, late_s), *outcome_rows(run_id, late_o)])
    info = store.get_run(run_id)
    assert (info.n_signals, info.n_outcomes, info.n_events) == (12, 10, 22)
    assert info.n_events == store.count_events(run_id=run_id)
    assert len(store.trades_frame(run_id)) == 10 and len(store.open_signals(run_id)) == 2


def test_an_import_binds_the_outcome_symbol_once_and_reads_back_as_events(tmp_path, store):
    path = tmp_path / "log.csv"
    path.write_text(
        "timestamp,symbol,confidence,return_pct,holding_days\n"
        "2020-01-02,AAPL,0.7,1.5,5\n"
        "2020-01-03,MSFT,0.6,,5\n"
        "2020-01-06,IBM,0.8,-0.5,\n"
    )
    result = import_signal_log(path, store=store, chunk_rows=2)
    rows = store.conn.execute(
        "SELECT symbol, confidence, o_id - id, exit_ts IS NULL, o_symbol, confidence_used, "
        "return_pct FROM trades ORDER BY ts"
    ).fetchall()
    assert rows == [("AAPL", 0.7, 1, 0, "AAPL", 0.7, 1.5),
                    ("MSFT", 0.6, None, 1, None, None, None),  # open: no outcome part
                    ("IBM", 0.8, 1, 0, "IBM", 0.8, -0.5)]  # fmt: skip
    outcomes = store.events_frame(run_id=result.run_id, event_type="SIGNAL_ACCURACY")
    assert sorted(outcomes[["symbol", "confidence", "return_pct"]].values.tolist()) == [
        ["AAPL", 0.7, 1.5], ["IBM", 0.8, -0.5]]  # fmt: skip


def test_a_parquet_snapshot_of_an_older_store_still_loads(store):
    signals, outcomes = _frames(30)
    run_id = store.create_run(kind="backtest", signal="s", feature_keys=["feature"])
    store.insert_trade_frames(run_id, signals, outcomes.iloc[:25], extra_columns=("feature",))
    store.finish_run(run_id, status="completed")
    (blob,) = store.conn.execute("SELECT parquet FROM trade_snapshots").fetchone()
    assert blob[:6] == b"ARROW1"  # written as an Arrow IPC file now
    frame = store.trades_frame(run_id)
    assert len(frame) == 25 and str(frame["run_id"].dtype) == "str"
    assert frame.dtypes.astype(str).tolist()[:6] == [
        "str", "str", "datetime64[ns, UTC]", "datetime64[ns, UTC]", "str", "int8"]  # fmt: skip
    # What the previous version stored: the same table as lz4 Parquet.
    older = io.BytesIO()
    pq.write_table(read_snapshot(blob), older, compression="lz4")
    with store.write() as conn:
        conn.execute("UPDATE trade_snapshots SET parquet = ?", (older.getvalue(),))
    pd.testing.assert_frame_equal(store.trades_frame(run_id), frame)
    with store.write() as conn:
        conn.execute("DELETE FROM trade_snapshots")
    pd.testing.assert_frame_equal(store.trades_frame(run_id), frame)  # rebuilt from the rows


def _cold_and_kept(store: Store, run_id: str):
    """The run's stored snapshot and the table the cold SQL join builds."""
    from core.store.db import _read_trades_arrow, _snapshot_blob

    info = store.get_run(run_id)
    blob = _snapshot_blob(store.conn, run_id, info.n_events)
    kept = None if blob is None else read_snapshot(blob)
    return kept, _read_trades_arrow(store.conn, run_id, info.feature_keys)


def test_paired_by_position_reads_back_as_paired_by_id_and_as_events(tmp_path):
    signals, outcomes = _frames(30, seed=4)
    signals["ts"] = signals["ts"].where(signals.index % 3 > 0, signals["ts"].iloc[0])  # ties
    signals["holding_days"] = signals["holding_days"].where(signals.index != 2, np.nan)
    signals.loc[3, "feature"] = np.nan
    outcomes.loc[4, "return_pct"] = -0.0  # SQLite stores it as 0.0
    at = np.array([*range(0, 10), *range(15, 30)])  # signals 10-14 stay open
    outcomes = outcomes.iloc[at].reset_index(drop=True)
    frames = {}
    for path in ("position", "id", "events"):
        with Store(tmp_path / path) as store:
            run_id = store.create_run(kind="backtest", signal="s", feature_keys=["feature"])
            if path == "events":
                store.insert_event_rows([*signal_rows(run_id, signals, extra_columns=("feature",)),
                                         *outcome_rows(run_id, outcomes)])  # fmt: skip
            else:
                store.insert_trade_frames(run_id, signals, outcomes, extra_columns=("feature",),
                                          signal_index=at if path == "position" else None)  # fmt: skip
            store.finish_run(run_id, status="completed")
            kept, cold = _cold_and_kept(store, run_id)
            assert kept is not None and kept.equals(cold)
            events = store.events_frame(run_id=run_id).drop(
                columns=["event_id", "run_id", "recorded_at"]
            )
            frames[path] = (
                events.sort_values(["type", "signal_id"]).reset_index(drop=True),
                store.trades_frame(run_id).drop(columns="run_id"),
                store.open_signals(run_id).drop(columns="run_id"),
            )
    for path in ("id", "events"):
        for a, b in zip(frames["position"], frames[path], strict=True):
            pd.testing.assert_frame_equal(a, b)
    assert len(frames["position"][1]) == 25 and len(frames["position"][2]) == 5


@pytest.mark.parametrize(
    "at", [np.arange(1, 11), np.array([0, 0, 1]), np.array([0, 30])], ids=["ids", "twice", "range"]
)
def test_a_signal_index_that_disagrees_falls_back_to_events(store, at):
    signals, outcomes = _frames(30)
    outcomes = outcomes.iloc[: len(at)]  # outcome k names signal k, not signal at[k]
    run_id = store.create_run(kind="backtest", signal="s")
    store.insert_trade_frames(run_id, signals, outcomes, signal_index=at)
    store.finish_run(run_id, status="completed")
    trades = store.trades_frame(run_id)
    assert list(trades["signal_id"]) == list(outcomes["signal_id"])


def test_trades_completed_beside_the_kept_ones_are_read_back_for_the_snapshot(store):
    signals, outcomes = _frames(12)
    run_id = store.create_run(kind="backtest", signal="s")
    store.insert_trade_frames(run_id, signals, outcomes.iloc[:8], signal_index=np.arange(8))
    store.insert_event_rows(outcome_rows(run_id, outcomes.iloc[8:9]))  # closes one more
    store.finish_run(run_id, status="completed")
    kept, cold = _cold_and_kept(store, run_id)
    assert cold.num_rows == 9 and kept is not None and kept.equals(cold)


def _counts_through_the_view(store: Store) -> dict[str, int]:
    """The reference: events per type counted on the ``events`` view itself."""
    clause, params = store._finished_only()
    rows = store.conn.execute(
        f"SELECT type, count(*) FROM events WHERE {clause} GROUP BY type", params
    ).fetchall()
    return {t: int(n) for t, n in rows}


def test_event_counts_by_type_equal_the_views(tmp_path):
    signals, outcomes = _frames(30)
    with Store(tmp_path / "mine") as store:
        done = store.create_run(kind="backtest", signal="s", feature_keys=["feature"])
        store.insert_trade_frames(done, signals, outcomes.iloc[:18], extra_columns=("feature",))
        store.finish_run(done, status="completed")
        # A later outcome on the finished run, a lifecycle event, a signal of no known run.
        store.insert_events([LearningEvent.outcome(run_id=done, ts="2021-06-01",
                                                   signal_id=signals["signal_id"].iloc[20],
                                                   return_pct=-0.5, win=False)])  # fmt: skip
        store.insert_events([
            LearningEvent(EventType.THRESHOLD_SELECTED, None, "2021-06-02",
                          {"signal": "s", "reason": "by hand", "threshold": 0.6}),
            LearningEvent.signal(run_id=None, ts="2020-01-02", signal_id="z", symbol="A",
                                 side=1, confidence=0.7),
        ])  # fmt: skip
        # This object's own running run counts; another process's running run does not.
        mine = store.create_run(kind="backtest", signal="s")
        store.insert_trade_frames(mine, signals.iloc[:5], outcomes.iloc[:3])
        expected = _counts_through_the_view(store)
        assert store.event_counts_by_type() == expected
        assert expected["SIGNAL_GENERATED"] >= 35 and expected["SIGNAL_ACCURACY"] == 22
    with Store(tmp_path / "mine") as reader:  # `mine` is someone else's running run now
        expected = _counts_through_the_view(reader)
        assert reader.event_counts_by_type() == expected
        assert expected["SIGNAL_ACCURACY"] == 19
