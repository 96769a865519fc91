"""The event store: the only code in Signal Lab that speaks SQL.

One SQLite file (WAL journal, a busy timeout) holds events and runs. Every
thread gets its own connection (Streamlit serves each session on a thread of
its own), so readers never block each other and one writer at a time holds
the write lock. Writes go through :meth:`Store.write`, which takes the lock up
front (``BEGIN IMMEDIATE``) and retries while another process holds it.

Bulk events are written by :meth:`Store.insert_event_rows` with
``executemany`` on the raw connection (sqlite-utils' ``insert_all`` caps a
batch at 999 variables and measured about 0.35 of plain ``executemany``);
schema and queries use sqlite-utils.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlite_utils import Database

from core import __version__
from core.errors import RunNotFoundError, StoreError
from core.events import EVENT_COLUMNS, EventType, LearningEvent, new_id, to_utc
from core.store.schema import SCHEMA_VERSION, apply_migrations, schema_version
from core.trades import CORE_COLUMNS

__all__ = ["DB_FILENAME", "RunInfo", "Store", "default_data_dir"]

DB_FILENAME = "signal_lab.db"
_INSERT_SQL = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})"
)
_RUN_KINDS = ("backtest", "import")
_RUN_STATUSES = ("running", "completed", "failed")


def default_data_dir() -> Path:
    """``$SIGNAL_LAB_DATA_DIR`` when set, else ``artifacts/learning_engine``."""
    env = os.environ.get("SIGNAL_LAB_DATA_DIR")
    return Path(env) if env else Path("artifacts") / "learning_engine"


def _now_iso() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat()


@dataclass(frozen=True)
class RunInfo:
    """One row of the ``runs`` table."""

    id: str
    kind: str
    status: str
    name: str | None
    created: str
    finished: str | None
    config: dict[str, Any]
    config_hash: str | None
    data_fingerprint: str | None
    package_version: str | None
    seed: int | None
    synthetic: bool
    source: str | None
    feature_keys: tuple[str, ...]
    n_signals: int
    n_outcomes: int
    n_events: int
    error: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunInfo:
        values = dict(row)
        values["config"] = json.loads(values["config"] or "{}")
        values["feature_keys"] = tuple(json.loads(values["feature_keys"] or "[]"))
        values["synthetic"] = bool(values["synthetic"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["feature_keys"] = list(self.feature_keys)
        return out


class Store:
    """A Signal Lab database: events, runs and (later migrations) the registry.

    Parameters
    ----------
    data_dir : str or Path, optional
        Folder of the database file (``signal_lab.db``); created when missing.
        Defaults to :func:`default_data_dir`.
    timeout : float, default 30.0
        Seconds a writer waits for another writer's lock before failing.

    Notes
    -----
    Safe to share across threads: each thread opens its own connection on
    first use. Safe across processes: SQLite's WAL lets readers go on while
    one writer writes; :meth:`write` waits for and retries the write lock.
    """

    def __init__(self, data_dir: str | Path | None = None, *, timeout: float = 30.0) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.timeout = float(timeout)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the data directory {self.data_dir}: {exc.strerror}; "
                "pass --data-dir (or set SIGNAL_LAB_DATA_DIR) to a writable folder"
            ) from None
        self.path = self.data_dir / DB_FILENAME
        self._local = threading.local()
        self._all_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    # ----------------------------------------------------------------- connections

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(str(self.path), timeout=self.timeout, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            # Switching a new file to WAL needs an exclusive lock and does not wait on the
            # busy handler: when several processes open a new store at once, retry.
            self._retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open {self.path} as a SQLite database ({exc}); "
                "point --data-dir at another folder or move the file away"
            ) from None
        with self._lock:
            self._all_connections.append(conn)
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    @property
    def db(self) -> Database:
        """This thread's sqlite-utils ``Database`` over :attr:`conn`."""
        db = getattr(self._local, "db", None)
        if db is None or db.conn is not self.conn:
            db = Database(self.conn, execute_plugins=False)
            self._local.db = db
        return db

    def _retry_locked(self, action: Callable[[], Any]) -> Any:
        """Run ``action``, retrying with back-off while SQLite says the file is locked."""
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"{self.path} stayed locked for {self.timeout:.0f} s; try again, "
                        "or raise the store's timeout"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def _migrate(self) -> None:
        # Inside one write transaction: two processes opening a new store at once
        # migrate one after the other (sqlite-utils nests each migration in a savepoint).
        try:
            with self.write():
                apply_migrations(self.db)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot migrate {self.path}: {exc}") from None

    def close(self) -> None:
        """Close every connection this store opened (idempotent)."""
        with self._lock:
            conns, self._all_connections = self._all_connections, []
        for conn in conns:
            with contextlib.suppress(sqlite3.ProgrammingError):
                conn.close()
        self._local = threading.local()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: ``BEGIN IMMEDIATE``, commit, or roll back on error.

        Waits up to ``timeout`` seconds for another writer (thread or process),
        retrying the lock with a short back-off; everything inside commits
        together or not at all.
        """
        conn = self.conn
        if conn.in_transaction:  # nested: join the outer transaction
            yield conn
            return
        try:
            self._retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"))
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot write to {self.path}: {exc}") from None
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    # ----------------------------------------------------------------- health

    def schema_version(self) -> int:
        """How many migrations the database has applied."""
        return schema_version(self.db)

    @property
    def latest_schema_version(self) -> int:
        """How many migrations this code knows."""
        return SCHEMA_VERSION

    def size_bytes(self) -> int:
        """Size of the database file and its WAL on disk, in bytes."""
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())

    def check_writable(self) -> None:
        """Raise :class:`StoreError` unless a write transaction can be opened and committed."""
        with self.write() as conn:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS _probe (x)")
            conn.execute("DROP TABLE temp._probe")

    # ----------------------------------------------------------------- runs

    def create_run(
        self,
        *,
        kind: str,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        config_hash: str | None = None,
        data_fingerprint: str | None = None,
        seed: int | None = None,
        synthetic: bool = False,
        source: str | None = None,
        feature_keys: Iterable[str] = (),
        run_id: str | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> str:
        """Insert a run in status ``running`` and return its id."""
        if kind not in _RUN_KINDS:
            raise StoreError(f"kind must be one of {', '.join(_RUN_KINDS)}, got {kind!r}")
        run_id = run_id or f"run-{new_id()}"
        row = (
            run_id, kind, "running", name, _now_iso(),
            json.dumps(dict(config or {}), sort_keys=True, default=str), config_hash,
            data_fingerprint, __version__, seed, int(bool(synthetic)), source,
            json.dumps(list(feature_keys)),
        )  # fmt: skip
        sql = (
            "INSERT INTO runs (id, kind, status, name, created, config, config_hash, "
            "data_fingerprint, package_version, seed, synthetic, source, feature_keys) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        if conn is not None:
            conn.execute(sql, row)
        else:
            with self.write() as c:
                c.execute(sql, row)
        return run_id

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        error: str | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        """Mark a run ``completed`` or ``failed`` and record its event counts."""
        if status not in _RUN_STATUSES[1:]:
            raise StoreError(f"status must be 'completed' or 'failed', got {status!r}")
        sql = """
            UPDATE runs SET status = ?, finished = ?, error = ?,
              n_signals = (SELECT count(*) FROM events WHERE run_id = ?1 AND type = 'SIGNAL_GENERATED'),
              n_outcomes = (SELECT count(*) FROM events WHERE run_id = ?1 AND type = 'SIGNAL_ACCURACY'),
              n_events = (SELECT count(*) FROM events WHERE run_id = ?1)
            WHERE id = ?1
        """
        # Positional ?1 is the run id; rebuild the statement with explicit numbering.
        sql = sql.replace("status = ?,", "status = ?2,").replace("finished = ?,", "finished = ?3,")
        sql = sql.replace("error = ?,", "error = ?4,")
        params = (run_id, status, _now_iso(), error)
        if conn is not None:
            cur = conn.execute(sql, params)
        else:
            with self.write() as c:
                cur = c.execute(sql, params)
        if cur.rowcount == 0:
            raise RunNotFoundError(
                f"no run {run_id!r} in {self.path}; list runs with `signal-lab runs`"
            )
        if conn is None:  # committed: materialise the trades frame for fast reads
            self.refresh_snapshot(run_id)

    def get_run(self, run_id: str) -> RunInfo:
        """The run ``run_id``; raises :class:`RunNotFoundError` when absent."""
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        if not rows:
            raise RunNotFoundError(
                f"no run {run_id!r} in {self.path}; list runs with `signal-lab runs`"
            )
        return RunInfo.from_row(rows[0])

    def list_runs(self, *, limit: int | None = None) -> list[RunInfo]:
        """Runs, newest first."""
        sql = "SELECT * FROM runs ORDER BY created DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [RunInfo.from_row(r) for r in self.db.query(sql)]

    def runs_frame(self) -> pd.DataFrame:
        """Runs as a DataFrame (newest first) for tables."""
        runs = self.list_runs()
        cols = [
            "id", "kind", "status", "name", "source", "synthetic", "created", "finished",
            "n_signals", "n_outcomes", "n_events", "seed", "data_fingerprint", "error",
        ]  # fmt: skip
        return pd.DataFrame([{c: getattr(r, c) for c in cols} for r in runs], columns=cols)

    def latest_run_id(self, *, status: str = "completed") -> str | None:
        """Id of the newest run with ``status``, or None when there is none."""
        rows = list(
            self.db.query(
                "SELECT id FROM runs WHERE status = ? ORDER BY created DESC, id DESC LIMIT 1",
                [status],
            )
        )
        return rows[0]["id"] if rows else None

    def mark_stale_runs_failed(self, *, older_than_seconds: float = 0.0) -> int:
        """Mark runs left ``running`` (by a process that died) as failed; returns how many."""
        cutoff = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(seconds=older_than_seconds)).isoformat()
        with self.write() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = 'failed', finished = ?, "
                "error = 'interrupted: the process recording this run stopped before it finished' "
                "WHERE status = 'running' AND created <= ?",
                (_now_iso(), cutoff),
            )
        return cur.rowcount

    def delete_run(self, run_id: str) -> None:
        """Delete a run and its events in one transaction."""
        self.get_run(run_id)
        with self.write() as conn:
            conn.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    # ----------------------------------------------------------------- events: write

    def insert_event_rows(
        self, rows: Iterable[tuple], *, conn: sqlite3.Connection | None = None
    ) -> int:
        """Insert event rows (``EVENT_COLUMNS`` order) in one transaction; returns the count.

        This is the single bulk-write path: the learning engine's flush, the
        importer and the backtest all end here.
        """
        if conn is not None:
            return conn.executemany(_INSERT_SQL, rows).rowcount
        with self.write() as c:
            return c.executemany(_INSERT_SQL, rows).rowcount

    def insert_events(self, events: Iterable[LearningEvent]) -> int:
        """Insert :class:`LearningEvent` objects in one transaction."""
        return self.insert_event_rows(e.row for e in events)

    # ----------------------------------------------------------------- events: read

    def query_events(
        self,
        *,
        event_type: EventType | str | None = None,
        run_id: str | None = None,
        symbol: str | None = None,
        since: Any = None,
        until: Any = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[LearningEvent]:
        """Events matching every filter given, in time order.

        ``since`` / ``until`` bound the event time (inclusive / exclusive).
        """
        sql, params = self._select_events(
            "*", event_type, run_id, symbol, since, until, limit=limit, offset=offset
        )
        return [LearningEvent.from_row(r) for r in self.db.query(sql, params)]

    def events_frame(
        self,
        *,
        event_type: EventType | str | None = None,
        run_id: str | None = None,
        symbol: str | None = None,
        since: Any = None,
        until: Any = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> pd.DataFrame:
        """Raw event rows as a DataFrame (times as UTC datetimes), for browsing and CSV."""
        sql, params = self._select_events(
            ", ".join(EVENT_COLUMNS), event_type, run_id, symbol, since, until,
            limit=limit, offset=offset,
        )  # fmt: skip
        frame = pd.read_sql_query(sql, self.conn, params=params)
        for col in ("ts", "recorded_at"):
            frame[col] = pd.to_datetime(frame[col].astype("int64"), utc=True)
        return frame

    def count_events(
        self,
        *,
        event_type: EventType | str | None = None,
        run_id: str | None = None,
        symbol: str | None = None,
        since: Any = None,
        until: Any = None,
    ) -> int:
        """How many events match the filters."""
        where, params = self._event_filter(event_type, run_id, symbol, since, until)
        return int(self.conn.execute(f"SELECT count(*) FROM events{where}", params).fetchone()[0])

    def event_counts_by_type(self) -> dict[str, int]:
        """Persisted events per type."""
        rows = self.conn.execute("SELECT type, count(*) FROM events GROUP BY type").fetchall()
        return {t: int(n) for t, n in rows}

    @classmethod
    def _select_events(
        cls,
        columns: str,
        event_type: EventType | str | None,
        run_id: str | None,
        symbol: str | None,
        since: Any,
        until: Any,
        *,
        limit: int | None,
        offset: int,
    ) -> tuple[str, list[Any]]:
        """``SELECT columns`` of the matching events in time order, paged."""
        where, params = cls._event_filter(event_type, run_id, symbol, since, until)
        sql = f"SELECT {columns} FROM events{where} ORDER BY ts, id"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return sql, params

    @staticmethod
    def _event_filter(
        event_type: EventType | str | None,
        run_id: str | None,
        symbol: str | None,
        since: Any,
        until: Any,
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if event_type is not None:
            clauses.append("type = ?")
            params.append(EventType(event_type).value)
        if run_id is not None:
            clauses.append("run_id = ?")
            params.append(run_id)
        if symbol is not None:
            clauses.append("symbol = ?")
            params.append(symbol)
        if since is not None:
            clauses.append("ts >= ?")
            params.append(int(to_utc(since, field_name="since").value))
        if until is not None:
            clauses.append("ts < ?")
            params.append(int(to_utc(until, field_name="until").value))
        return (" WHERE " + " AND ".join(clauses) if clauses else "", params)

    def trades_frame(self, run_id: str) -> pd.DataFrame:
        """One row per signal of ``run_id`` joined to its outcome (the trades frame).

        Signals without an outcome yet are left out. See :mod:`core.trades`
        for the columns, dtypes and units. A finished run is served from its
        snapshot (built once by :meth:`finish_run`) while its event count is
        unchanged; otherwise the frame is built from the events.

        Raises
        ------
        RunNotFoundError
            No such run.
        """
        info = self.get_run(run_id)
        if info.status != "running":
            n_events = self.count_events(run_id=run_id)
            row = self.conn.execute(
                "SELECT parquet FROM trade_snapshots WHERE run_id = ? AND n_events = ?",
                (run_id, n_events),
            ).fetchone()
            if row is not None:
                return _arrow_to_frame(pq.read_table(io.BytesIO(row[0])), run_id, info.feature_keys)
            table = self._build_snapshot(run_id, info.feature_keys, n_events)
        else:
            table = _read_trades_arrow(self.conn, run_id, info.feature_keys)
        return _arrow_to_frame(table, run_id, info.feature_keys)

    def _build_snapshot(
        self, run_id: str, feature_keys: tuple[str, ...], n_events: int
    ) -> pa.Table:
        table = _read_trades_arrow(self.conn, run_id, feature_keys)
        self.write_snapshot(run_id, table, n_events=n_events)
        return table

    def write_snapshot(
        self,
        run_id: str,
        table: pa.Table,
        *,
        n_events: int,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        """Store a run's trades (as :func:`trades_table` builds them) as its snapshot.

        ``n_events`` is the run's event count the snapshot stands for; a later
        change of that count makes :meth:`trades_frame` rebuild it from the events.
        Pass ``conn`` to write inside an open transaction (an import writes its
        events and their snapshot together).
        """
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="lz4")
        row = (run_id, n_events, table.num_rows, _now_iso(), buffer.getvalue())
        sql = (
            "INSERT OR REPLACE INTO trade_snapshots (run_id, n_events, n_trades, built, parquet) "
            "VALUES (?, ?, ?, ?, ?)"
        )
        if conn is not None:
            conn.execute(sql, row)
        else:
            with self.write() as c:
                c.execute(sql, row)

    def refresh_snapshot(self, run_id: str) -> None:
        """Build (or rebuild) the trades snapshot of a finished run."""
        info = self.get_run(run_id)
        self._build_snapshot(run_id, info.feature_keys, self.count_events(run_id=run_id))


_TRADES_SQL = """
SELECT s.signal_id, s.ts AS entry_ns, o.ts AS exit_ns, s.symbol, s.side, s.confidence,
       s.calibrated_probability, s.num_agreeing_models, s.market_volatility,
       s.signal_strength, s.holding_days, s.applied_threshold, o.return_pct, o.win{extra}
FROM events AS s
JOIN events AS o
  ON o.run_id = s.run_id AND o.type = 'SIGNAL_ACCURACY' AND o.signal_id = s.signal_id
WHERE s.run_id = ? AND s.type = 'SIGNAL_GENERATED'
ORDER BY s.ts, s.signal_id
"""
_FLOAT_COLUMNS = (
    "confidence",
    "calibrated_probability",
    "num_agreeing_models",
    "market_volatility",
    "signal_strength",
    "holding_days",
    "applied_threshold",
    "return_pct",
)


def _read_trades_arrow(
    conn: sqlite3.Connection, run_id: str, feature_keys: tuple[str, ...]
) -> pa.Table:
    """Join a run's signals to their outcomes in SQLite and return typed Arrow columns.

    This is the cold path (about 2-3 s per million trades): finished runs are
    read from their snapshot instead. It uses the thread's ``sqlite3``
    connection on purpose: a second SQLite library in the same process (as
    ADBC bundles) would break the WAL file's POSIX locks.
    """
    extra = "".join(f", CAST(json_extract(s.payload, '$.\"{k}\"') AS REAL)" for k in feature_keys)
    rows = conn.execute(_TRADES_SQL.format(extra=extra), (run_id,)).fetchall()
    names = ("signal_id", "entry_ns", "exit_ns", "symbol", "side", *_FLOAT_COLUMNS, "win",
             *feature_keys)  # fmt: skip
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    kinds = {"signal_id": pa.string(), "symbol": pa.string(), "entry_ns": pa.int64(),
             "exit_ns": pa.int64(), "side": pa.int8(), "win": pa.int8()}  # fmt: skip
    return pa.table(
        {
            name: pa.array(col, type=kinds.get(name, pa.float64()))
            for name, col in zip(names, cols, strict=True)
        }
    )


def _epoch_ns(times: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch, whatever resolution pandas parsed the times at."""
    return pd.to_datetime(times, utc=True).astype("datetime64[ns, UTC]").array.asi8


def trades_table(
    signals: pd.DataFrame, outcomes: pd.DataFrame, feature_keys: tuple[str, ...] = ()
) -> pa.Table:
    """The trades of a run as the store would read them back, from the frames written.

    ``signals`` and ``outcomes`` are the frames given to
    :func:`core.events.signal_rows` and :func:`core.events.outcome_rows` (one
    outcome per signal id); the result has the columns, types and order
    (entry time, then signal id) of the join in SQLite, so a run written in one
    go gets its snapshot without reading everything back.
    """
    joined = signals.merge(
        outcomes[["signal_id", "ts", "return_pct"]].rename(columns={"ts": "exit_ts"}),
        on="signal_id",
        how="inner",
        validate="one_to_one",
    )
    entry = _epoch_ns(joined["ts"])
    order = np.lexsort((joined["signal_id"].astype(str).to_numpy(), entry))
    joined = joined.iloc[order]

    def floats(name: str) -> pa.Array:
        if name not in joined:
            return pa.array(np.full(len(joined), np.nan), type=pa.float64())
        values = pd.to_numeric(joined[name], errors="coerce").to_numpy(dtype=np.float64)
        return pa.array(values, type=pa.float64(), from_pandas=True)

    return pa.table(
        {
            "signal_id": pa.array(joined["signal_id"].astype(str).to_numpy(), type=pa.string()),
            "entry_ns": pa.array(entry[order], type=pa.int64()),
            "exit_ns": pa.array(_epoch_ns(joined["exit_ts"]), type=pa.int64()),
            "symbol": pa.array(joined["symbol"].astype(str).to_numpy(), type=pa.string()),
            "side": pa.array(joined["side"].to_numpy(dtype=np.int8), type=pa.int8()),
            **{name: floats(name) for name in _FLOAT_COLUMNS},
            "win": pa.array((joined["return_pct"].to_numpy(dtype=np.float64) > 0).astype(np.int8)),
            **{key: floats(key) for key in feature_keys},
        }
    )


def _arrow_to_frame(table: pa.Table, run_id: str, feature_keys: tuple[str, ...]) -> pd.DataFrame:
    def floats(name: str) -> np.ndarray:
        return table.column(name).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)

    frame = pd.DataFrame(
        {
            "signal_id": table.column("signal_id").to_pandas(),
            "entry_time": _utc(table.column("entry_ns")),
            "exit_time": _utc(table.column("exit_ns")),
            "symbol": table.column("symbol").to_pandas(),
            "side": table.column("side").to_numpy().astype(np.int8),
        }
    )
    frame.insert(1, "run_id", pd.Series(run_id, index=frame.index, dtype="str"))
    for name in (*_FLOAT_COLUMNS, *feature_keys):
        frame[name] = floats(name)
    frame["win"] = table.column("win").to_numpy().astype(bool)
    return frame[list(CORE_COLUMNS) + list(feature_keys)]


def _utc(column: pa.ChunkedArray) -> pd.DatetimeIndex:
    """int64 ns since the epoch -> tz-aware UTC times, without per-element parsing."""
    ns = column.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
