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
from core.columns import (
    EVENT_COLUMNS,
    RUN,
    SNAPSHOT_SCHEMA,
    TRADES_COLUMNS,
    TRADES_SQL,
    Column,
    Kind,
)
from core.errors import RunNotFoundError, StoreError, ValidationError
from core.events import EventType, LearningEvent, new_id, to_utc
from core.jsonsafe import json_safe
from core.store.schema import SCHEMA_VERSION, apply_migrations, schema_version

__all__ = [
    "DB_FILENAME",
    "MAX_SIGNAL_NAME",
    "EventFilter",
    "RunInfo",
    "Store",
    "check_signal_name",
    "default_data_dir",
]

DB_FILENAME = "signal_lab.db"
_INSERT_SQL = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})"
)
_RUN_KINDS = ("backtest", "import")
_S, _O = EventType.SIGNAL_GENERATED.value, EventType.SIGNAL_ACCURACY.value
#: Trades-frame columns a snapshot stores (the run id is the same on every row).
SNAPSHOT_COLUMNS: tuple[Column, ...] = tuple(c for c in TRADES_COLUMNS if c.trades != RUN)
_RUN_STATUSES = ("running", "completed", "failed")


#: Longest signal name accepted (characters).
MAX_SIGNAL_NAME = 100


def check_signal_name(value: Any) -> str:
    """A signal name, stripped; refused when empty, too long or holding control characters.

    Raises
    ------
    StoreError
        With the value and the fix.
    """
    if not isinstance(value, str) or not value.strip():
        raise StoreError(
            f"signal must be a non-empty name, got {value!r}; name the strategy or model the "
            "run belongs to (CLI: --signal NAME)"
        )
    name = value.strip()
    if len(name) > MAX_SIGNAL_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise StoreError(
            f"signal name {name[:40]!r}... is not usable: at most {MAX_SIGNAL_NAME} printable "
            "characters; choose a shorter plain name"
            if len(name) > MAX_SIGNAL_NAME
            else f"signal name {name!r} holds control characters; use plain printable text"
        )
    return name


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
    signal: str = ""

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


@dataclass(frozen=True)
class EventFilter:
    """Which events to read: every field given must match; validated once, when built.

    Parameters
    ----------
    event_type : EventType or str, optional
        Only events of this type.
    run_id : str, optional
        Only events of this run.
    symbol : str, optional
        Only events on this symbol.
    since, until : datetime-like, optional
        Event (market) time bounds, UTC: ``since <= ts < until``. Naive values are UTC.
    limit : int, optional
        At most this many events (>= 0); all when None.
    offset : int, default 0
        Skip this many matching events first (>= 0; used with ``limit``).

    Raises
    ------
    ValidationError
        An unknown event type, a time that cannot be read, or a negative
        ``limit`` / ``offset``; the message names the field and the fix.
    """

    event_type: EventType | None = None
    run_id: str | None = None
    symbol: str | None = None
    since: pd.Timestamp | None = None
    until: pd.Timestamp | None = None
    limit: int | None = None
    offset: int = 0

    def __post_init__(self) -> None:
        if self.event_type is not None:
            try:
                object.__setattr__(self, "event_type", EventType(self.event_type))
            except ValueError:
                raise ValidationError(
                    f"event_type: unknown event type {self.event_type!r}; "
                    f"one of {', '.join(t.value for t in EventType)}"
                ) from None
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, to_utc(value, field_name=name))
        for name, value in (("limit", self.limit), ("offset", self.offset)):
            if value is None and name == "limit":
                continue
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ValidationError(f"{name}: expected a whole number >= 0, got {value!r}")
            object.__setattr__(self, name, int(value))

    @classmethod
    def of(cls, given: EventFilter | None, fields: Mapping[str, Any]) -> EventFilter:
        """``given``, or a filter built from keyword ``fields`` (not both).

        Raises
        ------
        ValidationError
            Both given, or a keyword that is not a filter field (with the fields there are).
        """
        if given is not None:
            if fields:
                raise ValidationError(
                    f"pass an EventFilter or filter keywords, not both (got {', '.join(fields)})"
                )
            if not isinstance(given, EventFilter):
                raise ValidationError(
                    f"filter: expected an EventFilter, got {type(given).__name__}; "
                    "pass filters as keywords, e.g. run_id='run-...'"
                )
            return given
        unknown = sorted(set(fields) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValidationError(
                f"unknown event filter(s) {', '.join(unknown)}; "
                f"use {', '.join(cls.__dataclass_fields__)}"
            )
        return cls(**fields)

    def where(self) -> tuple[str, list[Any]]:
        """The ``WHERE`` clause (empty when nothing is filtered) and its parameters."""
        tests = (
            ("type = ?", None if self.event_type is None else self.event_type.value),
            ("run_id = ?", self.run_id),
            ("symbol = ?", self.symbol),
            ("ts >= ?", None if self.since is None else int(self.since.value)),
            ("ts < ?", None if self.until is None else int(self.until.value)),
        )
        given = [(clause, value) for clause, value in tests if value is not None]
        where = " WHERE " + " AND ".join(c for c, _ in given) if given else ""
        return where, [v for _, v in given]

    def select(self, columns: str) -> tuple[str, list[Any]]:
        """``SELECT columns`` of the matching events in time order, paged."""
        where, params = self.where()
        sql = f"SELECT {columns} FROM events{where} ORDER BY ts, id"
        if self.limit is not None:
            sql += f" LIMIT {self.limit} OFFSET {self.offset}"
        elif self.offset:
            sql += f" LIMIT -1 OFFSET {self.offset}"
        return sql, params


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
        signal: str,
        run_id: str | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> str:
        """Insert a run of ``signal`` in status ``running`` and return its id."""
        if kind not in _RUN_KINDS:
            raise StoreError(f"kind must be one of {', '.join(_RUN_KINDS)}, got {kind!r}")
        signal = check_signal_name(signal)
        run_id = run_id or f"run-{new_id()}"
        row = (
            run_id, kind, "running", name, _now_iso(),
            json.dumps(json_safe(dict(config or {})), sort_keys=True, default=str), config_hash,
            data_fingerprint, __version__, seed, int(bool(synthetic)), source,
            json.dumps(list(feature_keys)), signal,
        )  # fmt: skip
        sql = (
            "INSERT INTO runs (id, kind, status, name, created, config, config_hash, "
            "data_fingerprint, package_version, seed, synthetic, source, feature_keys, signal) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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

    def list_runs(self, *, limit: int | None = None, signal: str | None = None) -> list[RunInfo]:
        """Runs (of one ``signal`` when given), newest first."""
        where, params = ("WHERE signal = ? ", [signal]) if signal is not None else ("", [])
        sql = f"SELECT * FROM runs {where}ORDER BY created DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [RunInfo.from_row(r) for r in self.db.query(sql, params)]

    def signals_frame(self) -> pd.DataFrame:
        """One row per signal: ``signal``, ``runs``, ``completed``, ``last_run`` (created), newest first."""
        rows = self.db.query(
            "SELECT signal, COUNT(*) AS runs, SUM(status = 'completed') AS completed, "
            "MAX(created) AS last_run FROM runs GROUP BY signal ORDER BY last_run DESC"
        )
        return pd.DataFrame(list(rows), columns=["signal", "runs", "completed", "last_run"])

    def runs_frame(self) -> pd.DataFrame:
        """Runs as a DataFrame (newest first) for tables."""
        runs = self.list_runs()
        cols = [
            "id", "signal", "kind", "status", "name", "source", "synthetic", "created", "finished",
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
        self, filter: EventFilter | None = None, /, **filters: Any
    ) -> list[LearningEvent]:
        """Events matching ``filter`` (an :class:`EventFilter`, or its fields as keywords),
        in time order."""
        sql, params = EventFilter.of(filter, filters).select("*")
        return [LearningEvent.from_row(r) for r in self.db.query(sql, params)]

    def events_frame(self, filter: EventFilter | None = None, /, **filters: Any) -> pd.DataFrame:
        """Raw event rows matching ``filter`` as a DataFrame (times as UTC datetimes),
        for browsing and CSV; columns in :data:`~core.columns.EVENT_COLUMNS` order."""
        sql, params = EventFilter.of(filter, filters).select(", ".join(EVENT_COLUMNS))
        frame = pd.read_sql_query(sql, self.conn, params=params)
        for col in ("ts", "recorded_at"):
            frame[col] = pd.to_datetime(frame[col].astype("int64"), utc=True)
        return frame

    def count_events(self, filter: EventFilter | None = None, /, **filters: Any) -> int:
        """How many events match ``filter`` (its ``limit`` and ``offset`` are ignored)."""
        where, params = EventFilter.of(filter, filters).where()
        return int(self.conn.execute(f"SELECT count(*) FROM events{where}", params).fetchone()[0])

    def event_counts_by_type(self) -> dict[str, int]:
        """Persisted events per type."""
        rows = self.conn.execute("SELECT type, count(*) FROM events GROUP BY type").fetchall()
        return {t: int(n) for t, n in rows}

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
    rows = conn.execute(TRADES_SQL.format(extra=extra), (run_id,)).fetchall()
    schema = _snapshot_schema(feature_keys)
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in schema.names]
    return pa.table(
        [pa.array(col, type=f.type) for f, col in zip(schema, cols, strict=True)], schema=schema
    )


def _snapshot_schema(feature_keys: tuple[str, ...]) -> pa.Schema:
    """:data:`~core.columns.SNAPSHOT_SCHEMA` plus one float64 column per feature."""
    return pa.schema([*SNAPSHOT_SCHEMA, *((k, pa.float64()) for k in feature_keys)])


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
    outcome_cols = [c.name for c in SNAPSHOT_COLUMNS if c.trades == _O and c.kind is Kind.FLOAT]
    joined = signals.merge(
        outcomes[["signal_id", "ts", *[c for c in outcome_cols if c in outcomes]]].rename(
            columns={"ts": "exit_ts"}
        ),
        on="signal_id",
        how="inner",
        validate="one_to_one",
        suffixes=("_signal", ""),
    )
    entry = _epoch_ns(joined["ts"])
    order = np.lexsort((joined["signal_id"].astype(str).to_numpy(), entry))
    joined = joined.iloc[order]
    returns = joined["return_pct"].to_numpy(dtype=np.float64)

    def array(c: Column | str, kind: Kind = Kind.FLOAT) -> pa.Array:
        name, kind = (c.name, c.kind) if isinstance(c, Column) else (c, kind)
        if kind is Kind.TIME:
            ts = joined["ts"] if name == "entry_time" else joined["exit_ts"]
            return pa.array(entry[order] if name == "entry_time" else _epoch_ns(ts), pa.int64())
        if kind is Kind.TEXT:
            return pa.array(joined[name].astype(str).to_numpy(), type=pa.string())
        if kind is Kind.SIDE:
            return pa.array(joined[name].to_numpy(dtype=np.int8), type=pa.int8())
        if kind is Kind.BOOL:  # win: derived from the return, as the outcome rows store it
            return pa.array((returns > 0).astype(np.int8), type=pa.int8())
        if name not in joined:
            return pa.array(np.full(len(joined), np.nan), type=pa.float64())
        values = pd.to_numeric(joined[name], errors="coerce").to_numpy(dtype=np.float64)
        return pa.array(values, type=pa.float64(), from_pandas=True)

    return pa.table(
        [*(array(c) for c in SNAPSHOT_COLUMNS), *(array(k) for k in feature_keys)],
        schema=_snapshot_schema(feature_keys),
    )


def _arrow_to_frame(table: pa.Table, run_id: str, feature_keys: tuple[str, ...]) -> pd.DataFrame:
    """A snapshot (or the cold join) as the trades frame: :data:`TRADES_COLUMNS` + features."""

    def column(c: Column) -> Any:
        if c.trades == RUN:
            return pd.Series(run_id, index=range(table.num_rows), dtype="str")
        values = table.column(c.snapshot_name)
        if c.kind is Kind.TIME:
            return _utc(values)
        if c.kind is Kind.TEXT:
            return values.to_pandas()
        raw = values.to_numpy(zero_copy_only=False)
        return raw.astype(c.dtype, copy=False)

    frame = pd.DataFrame({c.name: column(c) for c in TRADES_COLUMNS})
    for key in feature_keys:
        frame[key] = table.column(key).to_numpy(zero_copy_only=False).astype(np.float64)
    return frame


def _utc(column: pa.ChunkedArray) -> pd.DatetimeIndex:
    """int64 ns since the epoch -> tz-aware UTC times, without per-element parsing."""
    ns = column.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
