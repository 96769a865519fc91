"""Event store: ingestion through the engine vs plain executemany, and trades-frame loads."""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

from core.events import EVENT_COLUMNS, LearningEvent
from core.learning import LearningEngine, LearningEngineConfig
from core.store import Store
from core.store.db import _INSERT_SQL


def _frames(n_trades: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2000-01-03", periods=n_trades, freq="min", tz="UTC")
    ret = rng.normal(0.05, 2.0, n_trades)
    signals = pd.DataFrame({
        "signal_id": [f"{i:09d}" for i in range(n_trades)], "ts": ts,
        "symbol": rng.choice(["AAPL", "MSFT", "IBM", "GOOG"], n_trades),
        "side": rng.choice([1, -1], n_trades), "confidence": rng.random(n_trades),
        "num_agreeing_models": rng.integers(1, 6, n_trades),
        "market_volatility": rng.uniform(0.1, 0.5, n_trades), "signal_strength": rng.random(n_trades),
        "holding_days": np.full(n_trades, 5.0), "applied_threshold": np.full(n_trades, 0.6),
    })  # fmt: skip
    outcomes = pd.DataFrame({
        "signal_id": signals["signal_id"], "ts": ts + pd.Timedelta(days=7),
        "symbol": signals["symbol"], "return_pct": ret, "confidence_used": signals["confidence"],
    })  # fmt: skip
    return signals, outcomes


def _events(signals: pd.DataFrame, outcomes: pd.DataFrame, run_id: str) -> list[LearningEvent]:
    events = []
    for s, o in zip(signals.itertuples(index=False), outcomes.itertuples(index=False), strict=True):
        events.append(LearningEvent.signal(
            run_id=run_id, ts=s.ts, signal_id=s.signal_id, symbol=s.symbol, side=int(s.side),
            confidence=s.confidence, num_agreeing_models=int(s.num_agreeing_models),
            market_volatility=s.market_volatility, signal_strength=s.signal_strength,
            holding_days=s.holding_days, applied_threshold=s.applied_threshold))  # fmt: skip
        events.append(LearningEvent.outcome(
            run_id=run_id, ts=o.ts, signal_id=o.signal_id, symbol=o.symbol,
            return_pct=o.return_pct, win=o.return_pct > 0, confidence_used=o.confidence_used))  # fmt: skip
    return events


def _plain_executemany(directory: Path, rows: list[tuple]) -> float:
    """The reference: one executemany in one transaction, same schema, same rows."""
    with Store(directory):
        pass  # create the identical schema (tables and indexes) with our migrations
    conn = sqlite3.connect(directory / "signal_lab.db")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    start = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(_INSERT_SQL, rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    conn.close()
    return seconds


def run(quick: bool) -> list[dict]:
    n_events = 100_000 if quick else 1_000_000
    n_trades = n_events // 2
    out = []
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        signals, outcomes = _frames(n_trades)
        start = time.perf_counter()
        events = _events(signals, outcomes, "run-bench")
        build = time.perf_counter() - start
        rows = [e.row for e in events]
        assert len(rows[0]) == len(EVENT_COLUMNS)

        # Alternate engine and reference, keep the best of two each (noisy shared machine).
        engine_times, reference_times = [], []
        for i in range(2):
            reference_times.append(_plain_executemany(work / f"ref{i}", rows))
            config = LearningEngineConfig(data_dir=work / f"eng{i}")
            with LearningEngine(config) as engine:
                start = time.perf_counter()
                engine.record_events(events)
                engine.flush()
                engine_times.append(time.perf_counter() - start)
        out.append(record(
            "ingest_events_engine", n_events, min(engine_times),
            reference="sqlite3_executemany_one_transaction", reference_seconds=min(reference_times),
            target_ratio_max=1 / 0.75,
            note="LearningEngine.record_events + flush (default bound 20000: flushes in batches)",
        ))  # fmt: skip
        out.append(
            record(
                "build_events_validated",
                n_events,
                build,
                note="constructing + validating LearningEvent objects (caller side)",
            )
        )

        # Columnar path (backtests, imports): validation + rows + insert, end to end.
        config = LearningEngineConfig(data_dir=work / "columnar")
        with LearningEngine(config) as engine:
            run_id = engine.start_run(signal="test-signal", kind="backtest")
            start = time.perf_counter()
            engine.record_trades(run_id, signals, outcomes)
            columnar = time.perf_counter() - start
            start = time.perf_counter()
            engine.finish_run(run_id)
            finish = time.perf_counter() - start
            store = engine.store
            loads = []
            for _ in range(3):
                start = time.perf_counter()
                trades = store.trades_frame(run_id)
                loads.append(time.perf_counter() - start)
            assert len(trades) == n_trades
            with store.write() as conn:
                conn.execute("DELETE FROM trade_snapshots")
            start = time.perf_counter()
            store.trades_frame(run_id)
            cold = time.perf_counter() - start
            start = time.perf_counter()
            pd.read_sql_query(
                "SELECT s.*, o.return_pct, o.win FROM events s JOIN events o ON o.run_id = s.run_id "
                "AND o.type = 'SIGNAL_ACCURACY' AND o.signal_id = s.signal_id "
                "WHERE s.run_id = ? AND s.type = 'SIGNAL_GENERATED'",
                store.conn,
                params=(run_id,),
            )
            read_sql = time.perf_counter() - start
        reference_one = min(reference_times)
        out.append(record(
            "ingest_trades_columnar", n_events, columnar,
            reference="sqlite3_executemany_one_transaction", reference_seconds=reference_one,
            note="record_trades: validates whole columns, builds rows, inserts (end to end)",
        ))  # fmt: skip
        out.append(
            record(
                "finish_run_snapshot",
                n_trades,
                finish,
                note="finish_run: counts + materialise the trades frame once",
            )
        )
        out.append(record("trades_frame_load", n_trades, min(loads),
                          reference="pandas_read_sql_join", reference_seconds=read_sql,
                          target_seconds=1.5,
                          note=f"{n_trades:,} trades from the run's snapshot"))  # fmt: skip
        out.append(
            record(
                "trades_frame_cold",
                n_trades,
                cold,
                note="no snapshot: join in SQLite, typed columns, then snapshot built",
            )
        )
        if not quick:
            out.extend(_million_trades(work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _million_trades(work: Path) -> list[dict]:
    """The issue's figure: 1,000,000 trades (2,000,000 events) loaded as a trades frame."""
    signals, outcomes = _frames(1_000_000, seed=1)
    with LearningEngine(LearningEngineConfig(data_dir=work / "million")) as engine:
        run_id = engine.start_run(signal="test-signal", kind="backtest")
        engine.record_trades(run_id, signals, outcomes)
        engine.finish_run(run_id)
        loads = []
        for _ in range(3):
            start = time.perf_counter()
            trades = engine.store.trades_frame(run_id)
            loads.append(time.perf_counter() - start)
    assert len(trades) == 1_000_000
    return [
        record(
            "trades_frame_load_1m",
            1_000_000,
            min(loads),
            target_seconds=1.5,
            note="1,000,000 trades from the run's snapshot (median of 3 would be similar)",
        )
    ]
