"""The event store: the only code in Signal Lab that speaks SQL.

One SQLite file (WAL journal, a busy timeout) holds events and runs. Every
thread gets its own connection (Streamlit serves each session on a thread of
its own), so readers never block each other and one writer at a time holds
the write lock. Writes go through :meth:`Store.write`, which takes the lock up
front (``BEGIN IMMEDIATE``) and retries while another process holds it.

A run's signals and outcomes live in the ``trades`` table, one narrow row per
signal and its outcome (migration m006); ``events`` is a view that reads them
back as events beside ``event_log`` (lifecycle and metric events). Bulk trades
are written by :meth:`Store.insert_trade_frames`, single events by
:meth:`Store.insert_event_rows` (the view's insert trigger routes them), both
with ``executemany`` on the raw connection (sqlite-utils' ``insert_all`` caps a
batch at 999 variables and measured about 0.35 of plain ``executemany``);
schema and queries use sqlite-utils.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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
from core.errors import OutputError, RunNotFoundError, StoreError, ValidationError
from core.events import (
    EventType,
    LearningEvent,
    TradeColumns,
    new_id,
    outcome_rows,
    signal_rows,
    to_utc,
    trade_columns,
)
from core.jsonsafe import json_safe
from core.outputs import check_output_path, new_file_mode
from core.store.schema import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    apply_migrations,
    expected_tables,
    migration_names,
    schema_version,
)

__all__ = [
    "DAMAGED_FIX",
    "DB_FILENAME",
    "MAX_SIGNAL_NAME",
    "READ_ONLY_FIX",
    "EventFilter",
    "RunInfo",
    "Store",
    "check_signal_name",
    "default_data_dir",
    "explain_database_error",
    "owner_alive",
    "process_start",
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
#: What to do about a store Signal Lab may read but not write.
READ_ONLY_FIX = "copy it somewhere writable (and pass --data-dir there) or fix its permissions"
#: What to do about a damaged store.
DAMAGED_FIX = (
    "restore it from a backup (`signal-lab backup DEST` makes one: copy it over signal_lab.db "
    "while nothing uses the store), or salvage what is readable with `sqlite3 signal_lab.db "
    ".recover`; `signal-lab health` runs SQLite's check"
)
#: Mark a run finished and record its event counts: ?1 run id, ?2 status, ?3 time, ?4 error.
#: One pass over the run's ``trades`` index entries, not one a count (1M trades: 0.7 -> 0.3 s).
_FINISH_SQL = """
    UPDATE runs SET status = ?2, finished = ?3, error = ?4,
      (n_signals, n_outcomes, n_events) = (
        SELECT t.s + e.s, t.o + e.o, t.s + t.o + e.n
        FROM (SELECT count(ts) AS s, count(o_id) AS o FROM trades
              WHERE run = (SELECT key FROM runs WHERE id = ?1)) AS t,
             (SELECT count(*) AS n, coalesce(sum(type = 'SIGNAL_GENERATED'), 0) AS s,
                     coalesce(sum(type = 'SIGNAL_ACCURACY'), 0) AS o
              FROM event_log WHERE run_id = ?1) AS e)
    WHERE id = ?1"""
#: A run's closed trades (signal and outcome: the rows of its snapshot); the ``trades``
#: index covers it.
_CLOSED_SQL = """
    SELECT count(*) FROM trades
    WHERE run = (SELECT key FROM runs WHERE id = ?) AND ts IS NOT NULL AND o_id IS NOT NULL"""
#: Trades an own run keeps in memory for its snapshot at most (memory stays bounded; a
#: bigger run gets its snapshot from SQLite, as an import's does).
KEPT_TRADES_MAX = 2_000_000
#: A run's events by kind, straight from the tables (the ``trades`` index covers it).
_RUN_COUNTS_SQL = """
    SELECT count(t.ts), count(t.o_id) FROM trades AS t
    WHERE t.run = (SELECT key FROM runs WHERE id = ?)"""


#: ``trades`` columns that belong to a trade's outcome (NULL for an open signal).
_OUTCOME_PART = frozenset(("exit_ts", "o_recorded_at", "o_symbol", "confidence_used",
                           "o_applied_threshold", "o_calibrated", "return_pct", "o_payload",
                           "o_event_id"))  # fmt: skip


def _trades_insert(
    columns: Mapping[str, Sequence[Any]],
    *,
    run_key: int,
    recorded_at: int,
    o_ids: list[Any] | None,
) -> tuple[str, list[Sequence[Any]]]:
    """The ``INSERT INTO trades`` of :meth:`Store.insert_trade_columns` and the sequences it
    binds after the ids (``?1``): constants as literals, the outcome id as ``?1 + 1`` when
    ``o_ids`` is None (every signal closed), a sequence given twice bound once."""
    names = ["id", "run", "recorded_at", "o_id"]
    exprs = ["?1", str(int(run_key)), str(int(recorded_at)), "?1 + 1" if o_ids is None else "?2"]
    bound: list[Sequence[Any]] = [] if o_ids is None else [o_ids]
    slots: dict[int, int] = {}
    for name, values in columns.items():
        slot = slots.get(id(values))
        if slot is None:
            bound.append(values)
            slot = slots[id(values)] = len(bound) + 1
            expr = f"?{slot}"
        elif o_ids is not None and name in _OUTCOME_PART:
            expr = f"CASE WHEN ?2 IS NOT NULL THEN ?{slot} END"
        else:
            expr = f"?{slot}"
        names.append(name)
        exprs.append(expr)
    sql = f"INSERT INTO trades ({', '.join(names)}) VALUES ({', '.join(exprs)})"
    return sql, bound


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, ``/proc/<pid>/stat`` field 22),
    or None when that cannot be read. With the pid it names a process uniquely: a pid the
    kernel reuses gets another start time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])  # fields after the name start at field 3
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil  # optional: where /proc is missing
    except ImportError:
        return None
    try:
        return int(psutil.Process(pid).create_time() * 1000)
    except (psutil.Error, OSError):
        return None


def owner_alive(pid: int | None, start: int | None) -> bool:
    """Whether the process that ``pid`` and ``start`` (see :func:`process_start`) recorded
    still runs on this host. A zombie, or a pid now held by a process started at
    another time, counts as gone; no pid at all (an older store's run) counts as gone."""
    if pid is None:
        return False
    pid = int(pid)
    if pid == os.getpid():
        return start is None or process_start(pid) in (None, start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
    except (OSError, IndexError):
        pass
    if start is not None:
        now = process_start(pid)
        if now is not None and now != int(start):
            return False
    return True


def _writable(folder: Path, path: Path) -> bool:
    """Whether this process may write the store file (or create it) and its WAL files."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    return not path.exists() or os.access(path, os.W_OK)


def explain_database_error(
    exc: BaseException, path: str | Path, *, doing: str = "read", timeout: float = 30.0
) -> StoreError:
    """A :class:`StoreError` that says what a SQLite error means for the store ``path``
    and what to do: damaged, not a database, read-only, locked, disk full ...

    Parameters
    ----------
    exc : sqlite3.DatabaseError or pandas.errors.DatabaseError
    path : str or Path
        The store file.
    doing : str, default "read"
        What was being done ("read", "write", "migrate", "open"), for the message.
    timeout : float, default 30.0
        The lock timeout, for a "locked" message.
    """
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    low = text.lower()
    if "readonly" in low or "read-only" in low or "read only" in low:
        return StoreError(f"the store {path} is read-only: {READ_ONLY_FIX}")
    if "not a database" in low or "file is encrypted" in low:
        return StoreError(
            f"{path} is not a Signal Lab store (not a SQLite database: {text}); "
            "it was left untouched. Point --data-dir (or SIGNAL_LAB_DATA_DIR) at another folder"
        )
    if "malformed" in low or "corrupt" in low or "no such table" in low or "no such column" in low:
        return StoreError(f"the store {path} is damaged ({text}); {DAMAGED_FIX}")
    if "unable to open" in low:
        return StoreError(
            f"cannot open the store {path} ({text}); check that the folder exists "
            "and that you may read it"
        )
    if "disk is full" in low or "disk i/o" in low:
        return StoreError(
            f"cannot {doing} the store {path} ({text}); free disk space or check "
            "the disk, then try again"
        )
    if "locked" in low or "busy" in low:
        return StoreError(
            f"{path} stayed locked for {timeout:.0f} s; try again, or raise the store's timeout"
        )
    return StoreError(
        f"cannot {doing} the store {path} ({text}); run `signal-lab health` to check it"
    )


@dataclass(frozen=True)
class _Probe:
    """What :meth:`Store._inspect` found in the file."""

    new: bool
    app_id: int
    applied: tuple[str, ...]

    @property
    def version(self) -> int:
        return len(self.applied)

    @property
    def needs_migration(self) -> bool:
        return self.new or self.app_id != APPLICATION_ID or self.version < SCHEMA_VERSION


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a SQLite error inside a :class:`Store` method into a :class:`StoreError` with
    the fix (a damaged page, a dropped table, a read-only file ...). Constraint errors
    (``IntegrityError``) pass through: callers handle them."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.IntegrityError:
            raise
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
            raise self.explain(exc) from None

    return wrapper


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
    owner_pid: int | None = None
    owner_start: int | None = None
    owner_host: str | None = None

    @property
    def incomplete(self) -> bool:
        """True unless the run completed: a ``failed`` run (stopped by an error, a signal
        or a killed process) keeps the events written before it stopped, and analyses of
        it should be labelled "incomplete run"; a ``running`` one is not finished yet."""
        return self.status != "completed"

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunInfo:
        values = dict(row)
        values.pop("key", None)  # the run's integer key, internal to the store
        values["config"] = json.loads(values["config"] or "{}")
        values["feature_keys"] = tuple(json.loads(values["feature_keys"] or "[]"))
        values["synthetic"] = bool(values["synthetic"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["feature_keys"] = list(self.feature_keys)
        out["incomplete"] = self.incomplete
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

    def where(self, *, extra: tuple[str, Sequence[Any]] | None = None) -> tuple[str, list[Any]]:
        """The ``WHERE`` clause (empty when nothing is filtered) and its parameters.

        ``extra`` is one more ``(clause, parameters)`` to AND in (the store's rule that
        hides the events of unfinished runs).
        """
        tests = (
            ("type = ?", None if self.event_type is None else self.event_type.value),
            ("run_id = ?", self.run_id),
            ("symbol = ?", self.symbol),
            ("ts >= ?", None if self.since is None else int(self.since.value)),
            ("ts < ?", None if self.until is None else int(self.until.value)),
        )
        given = [(clause, [value]) for clause, value in tests if value is not None]
        if extra is not None:
            given.append((extra[0], list(extra[1])))
        where = " WHERE " + " AND ".join(c for c, _ in given) if given else ""
        return where, [v for _, values in given for v in values]

    def select(
        self, columns: str, *, extra: tuple[str, Sequence[Any]] | None = None
    ) -> tuple[str, list[Any]]:
        """``SELECT columns`` of the matching events in time order, paged."""
        where, params = self.where(extra=extra)
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
    read_only : bool, optional
        Open without ever writing. Default: read-only exactly when the file or its
        folder is not writable (reads work; a write raises :class:`StoreError`
        saying how to get a writable copy).

    Raises
    ------
    StoreError
        The file is not a Signal Lab store (a foreign SQLite file is never touched),
        was written by a newer Signal Lab, is damaged, or cannot be created; the
        message says what to do.

    Notes
    -----
    Opening takes no lock when the schema is current: the version is read first,
    and only a store that is new or behind is migrated, under the write lock. A
    writable open then marks ``failed`` the runs whose owner process has stopped
    (without waiting: when another process is writing, the next open does it).
    Events of a run still ``running`` are hidden from every reader but the
    :class:`Store` object that writes them, until :meth:`finish_run`.

    Safe to share across threads: each thread opens its own connection on
    first use. Safe across processes: SQLite's WAL lets readers go on while
    one writer writes; :meth:`write` waits for and retries the write lock.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        timeout: float = 30.0,
        read_only: bool | None = None,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.timeout = float(timeout)
        self.path = self.data_dir / DB_FILENAME
        if not self.data_dir.exists() and read_only is not True:
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the data directory {self.data_dir}: {exc.strerror}; "
                    "pass --data-dir (or set SIGNAL_LAB_DATA_DIR) to a writable folder"
                ) from None
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise StoreError(
                f"{self.data_dir} is a file, not a folder; pass --data-dir (or set "
                "SIGNAL_LAB_DATA_DIR) to the folder that holds (or will hold) signal_lab.db"
            )
        if self.path.exists() and not self.path.is_file():
            raise StoreError(
                f"{self.path} is not a regular file; a Signal Lab store is one SQLite file - "
                "point --data-dir at another folder"
            )
        self.read_only = (
            bool(read_only) if read_only is not None else not _writable(self.data_dir, self.path)
        )
        self._local = threading.local()
        self._all_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        #: Runs this object created and has not finished: their events are visible to it.
        self._own_runs: set[str] = set()
        #: Closed trades of own runs written by :meth:`insert_trade_frames`, kept to become
        #: the run's snapshot at :meth:`finish_run` (see :meth:`_write_kept_snapshot`).
        self._kept_trades: dict[str, list[dict[str, Any]]] = {}
        #: Ids of the runs marked failed at this open because their process had stopped.
        self.interrupted_runs: tuple[str, ...] = ()
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------------- opening

    def _prepare(self) -> None:
        """Check the file is ours and current; create or migrate it only when needed."""
        probe = self._inspect()
        if probe.needs_migration:
            if self.read_only:
                raise StoreError(
                    f"the store {self.path} is read-only and "
                    + (
                        "does not exist yet"
                        if probe.new
                        else f"needs an upgrade (schema {probe.version} < {SCHEMA_VERSION})"
                    )
                    + f": {READ_ONLY_FIX}"
                )
            self._migrate()
        if not self.read_only:
            self._fail_orphaned_runs()

    def _inspect(self, conn: sqlite3.Connection | None = None) -> _Probe:
        """Read (never write) what the file is: new, ours (current, behind, legacy) or not ours.

        Raises
        ------
        StoreError
            A foreign SQLite file, a file that is no database, a newer schema, or
            tables missing that the applied migrations created.
        """
        if conn is None and (not self.path.exists() or self.path.stat().st_size == 0):
            return _Probe(new=True, app_id=0, applied=())
        own = conn is None
        try:
            if own:
                conn = self._connect(read_only=True)
            app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
            tables = {  # the ``events`` view counts: it stands where the table was
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
                )
            }
            applied: tuple[str, ...] = ()
            if "_sqlite_migrations" in tables:
                applied = tuple(
                    r[0]
                    for r in conn.execute(
                        "SELECT name FROM _sqlite_migrations WHERE migration_set = ? "
                        "ORDER BY rowid",
                        ("signal_lab",),
                    )
                )
        except sqlite3.DatabaseError as exc:
            raise self.explain(exc) from None
        finally:
            if own and conn is not None:
                conn.close()
        if app_id == 0 and not tables:
            return _Probe(new=True, app_id=0, applied=())
        ours = app_id == APPLICATION_ID or (
            app_id == 0 and "runs" in tables and "events" in tables and bool(applied)
        )
        if not ours:
            raise StoreError(
                f"{self.path} is not a Signal Lab store: it is a SQLite database that Signal "
                "Lab did not create"
                + (f" (application_id {app_id:#x})" if app_id else "")
                + "; it was left untouched. Point --data-dir (or SIGNAL_LAB_DATA_DIR) at "
                "another folder"
            )
        known = migration_names()
        if len(applied) > len(known) or any(name not in known for name in applied):
            raise StoreError(
                f"the store {self.path} was written by a newer Signal Lab (schema "
                f"{len(applied)} > {SCHEMA_VERSION}); upgrade Signal Lab "
                "(pip install -U signal-lab) to open it"
            )
        missing = sorted(expected_tables(applied) - tables)
        if missing:
            raise StoreError(
                f"the store {self.path} is damaged: table(s) {', '.join(missing)} are missing "
                f"(changed outside Signal Lab?); {DAMAGED_FIX}"
            )
        return _Probe(new=False, app_id=app_id, applied=applied)

    def _migrate(self) -> None:
        """Create or upgrade the schema and mark the file ours, under the write lock."""
        conn = self.conn
        try:
            # Switching a new file to WAL needs an exclusive lock and does not wait on the
            # busy handler: when several processes open a new store at once, retry.
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                self._retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            with self.write() as c:
                # Two processes may have raced here: look again, under the lock.
                probe = self._inspect(c)
                if probe.app_id != APPLICATION_ID:
                    c.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                if probe.needs_migration:
                    apply_migrations(self.db)
        except sqlite3.DatabaseError as exc:
            raise self.explain(exc, doing="migrate") from None

    def _fail_orphaned_runs(self) -> None:
        """Mark ``failed`` the running runs whose owner process (on this host) has stopped.

        Reads first and writes only when there is something to mark; never waits for
        another writer (the next open retries).
        """
        try:
            rows = self.conn.execute(
                "SELECT id, owner_pid, owner_start, owner_host FROM runs WHERE status = 'running'"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self.explain(exc) from None
        host = socket.gethostname()
        gone = [
            (run_id, pid)
            for run_id, pid, start, owner_host in rows
            if (owner_host is None or owner_host == host) and not owner_alive(pid, start)
        ]
        if not gone:
            return
        marked: list[str] = []
        with self._write_now() as conn:
            if conn is None:  # another process is writing: the next open does it
                return
            for run_id, pid in gone:
                error = (
                    f"interrupted: the process that ran it stopped (pid {pid})"
                    if pid is not None
                    else "interrupted: the process that ran it stopped (pid not recorded by "
                    "the Signal Lab version that started it)"
                )
                cur = conn.execute(
                    _FINISH_SQL + " AND status = 'running'", (run_id, "failed", _now_iso(), error)
                )
                if cur.rowcount:
                    marked.append(run_id)
        self.interrupted_runs = tuple(marked)

    def explain(self, exc: BaseException, *, doing: str = "read") -> StoreError:
        """A :class:`StoreError` that says what a SQLite error means for this store and the fix
        (see :func:`explain_database_error`)."""
        return explain_database_error(exc, self.path, doing=doing, timeout=self.timeout)

    # ----------------------------------------------------------------- connections

    def _connect(self, *, read_only: bool) -> sqlite3.Connection:
        """A new connection: read-write, or read-only (``mode=ro``; ``immutable`` when even
        SQLite's shared-memory file cannot be created next to a WAL store)."""
        if not read_only:
            return sqlite3.connect(str(self.path), timeout=self.timeout, check_same_thread=False)
        uri = self.path.resolve().as_uri()
        conn = sqlite3.connect(
            f"{uri}?mode=ro", uri=True, timeout=self.timeout, check_same_thread=False
        )
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            if "unable to open" not in str(exc) and "readonly" not in str(exc):
                raise
            conn.close()  # a WAL store in a folder we may not write: read it as it is
            conn = sqlite3.connect(
                f"{uri}?immutable=1", uri=True, timeout=self.timeout, check_same_thread=False
            )
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            conn = self._connect(read_only=self.read_only)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if self.read_only:
                conn.execute("PRAGMA query_only = ON")
            else:
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise self.explain(exc, doing="open") from None
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

        Raises
        ------
        StoreError
            The store is read-only, or stayed locked for ``timeout`` seconds.
        """
        if self.read_only:
            raise StoreError(f"the store {self.path} is read-only: {READ_ONLY_FIX}")
        conn = self.conn
        if conn.in_transaction:  # nested: join the outer transaction
            yield conn
            return
        try:
            self._retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"))
        except sqlite3.DatabaseError as exc:
            raise self.explain(exc, doing="write") from None
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def _write_now(self) -> Iterator[sqlite3.Connection | None]:
        """Like :meth:`write`, but yields None instead of waiting when another writer holds
        the lock (for housekeeping a reader does in passing: it must never wait)."""
        if self.read_only:
            yield None
            return
        conn = self.conn
        if conn.in_transaction:
            yield conn
            return
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
            began = True
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise self.explain(exc, doing="write") from None
            began = False
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        if not began:
            yield None
            return
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    # ----------------------------------------------------------------- health

    @_guarded
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

    @_guarded
    def check_writable(self) -> None:
        """Raise :class:`StoreError` unless a write transaction can be opened and committed."""
        with self.write() as conn:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS _probe (x)")
            conn.execute("DROP TABLE temp._probe")

    def quick_check(self, *, max_errors: int = 10) -> list[str]:
        """SQLite's ``PRAGMA quick_check``: the problems found (empty when the file is sound).

        Reads every page of the file (about a second per GB); takes no lock.
        Damage so bad that the check itself cannot run is returned as one problem.
        """
        try:
            rows = self.conn.execute(f"PRAGMA quick_check({int(max_errors)})").fetchall()
        except sqlite3.DatabaseError as exc:
            return [str(exc)]
        problems = [str(r[0]) for r in rows]
        return [] if problems == ["ok"] else problems

    def backup(self, dest: str | Path, *, overwrite: bool = False) -> Path:
        """Copy the store to ``dest`` with SQLite's online backup (consistent while others write).

        Parameters
        ----------
        dest : str or Path
            The backup file, or an existing folder (the copy is then ``dest/signal_lab.db``).
        overwrite : bool, default False
            Replace an existing regular file (the CLI's ``--force``).

        Returns
        -------
        Path
            The backup written. It is a complete store: restore it by copying it over
            ``signal_lab.db`` while nothing uses the store, or open it with ``--data-dir``.

        Raises
        ------
        OutputError
            ``dest`` exists (without ``overwrite``), is a link or not a regular file, or is
            the store itself.
        StoreError
            The store cannot be read (damaged: the backup stops and nothing is left behind).
        """
        target = Path(dest)
        if target.is_dir() and not target.is_symlink():
            target = target / DB_FILENAME
        target = check_output_path(target, overwrite=overwrite)
        if target.exists() and target.resolve() == self.path.resolve():
            raise OutputError(f"{target} is the store itself; choose another backup path")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(fd)
        except OSError as exc:
            raise OutputError(
                f"cannot write {target}: {exc.strerror}; choose a writable folder"
            ) from None
        try:
            copy = sqlite3.connect(tmp)
            try:
                self.conn.backup(copy)
                copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            finally:
                copy.close()
            os.chmod(tmp, new_file_mode())
            check_output_path(target, overwrite=overwrite)  # nothing swapped in meanwhile
            os.replace(tmp, target)
        except sqlite3.DatabaseError as exc:
            raise self.explain(exc) from None
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror}") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return target

    # ----------------------------------------------------------------- runs

    @_guarded
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
        """Insert a run of ``signal`` in status ``running`` and return its id.

        The run records its owner (this process's pid, start time and host): a later
        open marks it ``failed`` if the process stops without finishing it. Until
        :meth:`finish_run`, its events are visible only through this object.
        """
        if kind not in _RUN_KINDS:
            raise StoreError(f"kind must be one of {', '.join(_RUN_KINDS)}, got {kind!r}")
        signal = check_signal_name(signal)
        run_id = run_id or f"run-{new_id()}"
        pid = os.getpid()
        row = (
            run_id, kind, "running", name, _now_iso(),
            json.dumps(json_safe(dict(config or {})), sort_keys=True, default=str), config_hash,
            data_fingerprint, __version__, seed, int(bool(synthetic)), source,
            json.dumps(list(feature_keys)), signal, pid, process_start(pid), socket.gethostname(),
        )  # fmt: skip
        sql = (
            "INSERT INTO runs (id, kind, status, name, created, config, config_hash, "
            "data_fingerprint, package_version, seed, synthetic, source, feature_keys, signal, "
            "owner_pid, owner_start, owner_host, key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "(SELECT coalesce(max(key), 0) + 1 FROM runs))"
        )
        self._own_runs.add(run_id)
        if conn is not None:
            conn.execute(sql, row)
        else:
            with self.write() as c:
                c.execute(sql, row)
        return run_id

    @_guarded
    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        error: str | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        """Mark a run ``completed`` or ``failed`` and record its event counts.

        Without ``conn``, the run's trades snapshot is written too: in the same transaction
        from the trades :meth:`insert_trade_frames` kept in memory when they are all of the
        run's closed trades, else read back from SQLite after the commit.
        """
        if status not in _RUN_STATUSES[1:]:
            raise StoreError(f"status must be 'completed' or 'failed', got {status!r}")
        params = (run_id, status, _now_iso(), error)
        kept = self._kept_trades.pop(run_id, None)
        snapshot_written = False
        if conn is not None:
            cur = conn.execute(_FINISH_SQL, params)
        else:
            with self.write() as c:
                cur = c.execute(_FINISH_SQL, params)
                if cur.rowcount and kept is not None:
                    snapshot_written = self._write_kept_snapshot(c, run_id, kept)
        if cur.rowcount == 0:
            raise RunNotFoundError(
                f"no run {run_id!r} in {self.path}; list runs with `signal-lab runs`"
            )
        self._own_runs.discard(run_id)
        if conn is None and not snapshot_written:  # materialise the trades frame
            self.refresh_snapshot(run_id)

    def _keep_trades(self, run_id: str, built: TradeColumns) -> None:
        """Keep the closed trades of ``built`` (written to the own, running ``run_id``) for
        its snapshot; beyond :data:`KEPT_TRADES_MAX` trades, keep none of the run's."""
        kept = self._kept_trades.get(run_id, [])
        n_closed = int(built.closed.sum())
        if n_closed + sum(len(part["signal_id"]) for part in kept) > KEPT_TRADES_MAX:
            self._kept_trades.pop(run_id, None)
            return
        closed = None if built.closed.all() else np.flatnonzero(built.closed)
        part: dict[str, Any] = {}
        for name, values in built.arrays.items():
            if isinstance(values, list):  # text, as validated
                values = pa.array(values, type=pa.string())
                part[name] = values if closed is None else values.take(closed)
            else:
                part[name] = values if closed is None else values[closed]
        kept.append(part)
        self._kept_trades[run_id] = kept

    def _write_kept_snapshot(
        self, conn: sqlite3.Connection, run_id: str, kept: list[dict[str, Any]]
    ) -> bool:
        """Write the snapshot of a run being finished in ``conn`` from its kept trades, if
        they are all of its closed trades; returns whether it did.

        Written trades rows are never changed, only completed (an open signal gets its
        outcome, an outcome its signal), so the run's closed trades are the kept ones
        exactly when there are as many: nothing was added or completed beside them.
        """
        n_kept = sum(len(part["signal_id"]) for part in kept)
        (n_closed,) = conn.execute(_CLOSED_SQL, (run_id,)).fetchone()
        if int(n_closed) != n_kept:
            return False
        n_events, keys = conn.execute(
            "SELECT n_events, feature_keys FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        feature_keys = tuple(json.loads(keys or "[]"))
        table = pa.concat_tables(snapshot_table(part, feature_keys) for part in kept)
        table = table.sort_by([("entry_ns", "ascending"), ("signal_id", "ascending")])
        self.write_snapshot(run_id, table, n_events=int(n_events), conn=conn)
        return True

    @_guarded
    def get_run(self, run_id: str) -> RunInfo:
        """The run ``run_id``; raises :class:`RunNotFoundError` when absent."""
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        if not rows:
            raise RunNotFoundError(
                f"no run {run_id!r} in {self.path}; list runs with `signal-lab runs`"
            )
        return RunInfo.from_row(rows[0])

    @_guarded
    def list_runs(self, *, limit: int | None = None, signal: str | None = None) -> list[RunInfo]:
        """Runs (of one ``signal`` when given), newest first."""
        where, params = ("WHERE signal = ? ", [signal]) if signal is not None else ("", [])
        sql = f"SELECT * FROM runs {where}ORDER BY created DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [RunInfo.from_row(r) for r in self.db.query(sql, params)]

    @_guarded
    def signals_frame(self) -> pd.DataFrame:
        """One row per signal: ``signal``, ``runs``, ``completed``, ``last_run`` (created), newest first."""
        rows = self.db.query(
            "SELECT signal, COUNT(*) AS runs, SUM(status = 'completed') AS completed, "
            "MAX(created) AS last_run FROM runs GROUP BY signal ORDER BY last_run DESC"
        )
        return pd.DataFrame(list(rows), columns=["signal", "runs", "completed", "last_run"])

    @_guarded
    def runs_frame(self) -> pd.DataFrame:
        """Runs as a DataFrame (newest first) for tables."""
        runs = self.list_runs()
        cols = [
            "id", "signal", "kind", "status", "name", "source", "synthetic", "created", "finished",
            "n_signals", "n_outcomes", "n_events", "seed", "data_fingerprint", "error",
        ]  # fmt: skip
        return pd.DataFrame([{c: getattr(r, c) for c in cols} for r in runs], columns=cols)

    @_guarded
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

    @_guarded
    def insert_event_rows(
        self, rows: Iterable[tuple], *, conn: sqlite3.Connection | None = None
    ) -> int:
        """Insert event rows (``EVENT_COLUMNS`` order) in one transaction; returns the count.

        The path of single events (the learning engine's flush, lifecycle services):
        the ``events`` view's trigger stores lifecycle events in ``event_log`` and
        signals/outcomes of a known run as ``trades`` rows. Frames of a run's trades
        go faster through :meth:`insert_trade_frames`.
        """
        if conn is not None:
            return conn.executemany(_INSERT_SQL, rows).rowcount
        with self.write() as c:
            return c.executemany(_INSERT_SQL, rows).rowcount

    def insert_events(self, events: Iterable[LearningEvent]) -> int:
        """Insert :class:`LearningEvent` objects in one transaction."""
        return self.insert_event_rows(e.row for e in events)

    @_guarded
    def insert_trade_frames(
        self,
        run_id: str,
        signals: pd.DataFrame,
        outcomes: pd.DataFrame,
        *,
        extra_columns: tuple[str, ...] = (),
        recorded_at: pd.Timestamp | None = None,
        signal_index: np.ndarray | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> int:
        """Insert a run's signals and their outcomes, one ``trades`` row per signal.

        The bulk path (imports, backtests): both frames are validated whole
        (:func:`core.events.trade_columns`) and written with one ``executemany`` of
        narrow rows, columns the frames lack left out. A signal without an outcome is an
        open signal. When outcomes do not pair one to one with signals (an id repeats or
        names no signal) they are written as events instead, with the same result.
        ``signal_index`` gives each outcome's row in ``signals`` when the caller knows it
        (see :func:`core.events.trade_columns`): no join by id.

        Written without ``conn`` to a run this object created and has not finished, the
        closed trades are also kept in memory, to become the run's snapshot at
        :meth:`finish_run` without reading them back.

        Returns
        -------
        int
            Events written (signals + outcomes).
        """
        built = trade_columns(
            signals, outcomes, extra_columns=extra_columns, signal_index=signal_index
        )
        if built is None:
            return self.insert_event_rows(
                [*signal_rows(run_id, signals, recorded_at=recorded_at,
                              extra_columns=extra_columns),
                 *outcome_rows(run_id, outcomes, recorded_at=recorded_at)],
                conn=conn,
            )  # fmt: skip
        written = self.insert_trade_columns(
            run_id, built.columns, built.closed, recorded_at=recorded_at, conn=conn
        )
        if conn is None and run_id in self._own_runs:  # committed here: keep them
            self._keep_trades(run_id, built)
        return written

    @_guarded
    def insert_trade_columns(
        self,
        run_id: str,
        columns: Mapping[str, Sequence[Any]],
        closed: np.ndarray,
        *,
        recorded_at: pd.Timestamp | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> int:
        """Insert a run's trades given as validated columns of the ``trades`` table.

        The write behind :meth:`insert_trade_frames`, for callers that validated the
        values themselves with the rules of :mod:`core.columns` (the importer does, row by
        row with messages): ``columns`` maps ``trades`` columns to one Python value a
        signal (None where unknown; outcome columns None for an open signal), as
        :func:`core.events.trade_columns` builds them. A column that *is* another column's
        sequence (the importer's ``o_symbol`` is its ``symbol``) is bound once and stored
        in both (an open signal's outcome columns stay NULL): binding a value costs more
        than storing it twice. The run's key and the recording time are written as
        literals, and with every signal closed the outcome id as ``id + 1``.

        Parameters
        ----------
        run_id : str
        columns : mapping of str to sequence, each of length n
        closed : ndarray of bool, shape (n,)
            True where the signal has its outcome.

        Returns
        -------
        int
            Events written (signals + outcomes).
        """
        n = len(closed)
        if n == 0:
            return 0
        rec = int((recorded_at or pd.Timestamp.now(tz="UTC")).value)

        def write(c: sqlite3.Connection) -> int:
            row = c.execute("SELECT key FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFoundError(
                    f"no run {run_id!r} in {self.path}; create it first (Store.create_run)"
                )
            base = int(c.execute("SELECT next FROM event_seq").fetchone()[0])
            c.execute("UPDATE event_seq SET next = next + ?", (2 * n,))
            o_ids = None
            if not closed.all():
                o_ids = np.where(closed, np.arange(base + 1, base + 2 * n, 2), None).tolist()
            sql, bound = _trades_insert(columns, run_key=int(row[0]), recorded_at=rec,
                                        o_ids=o_ids)  # fmt: skip
            c.executemany(sql, zip(range(base, base + 2 * n, 2), *bound, strict=True))
            n_closed = int(closed.sum())
            c.execute(  # a finished run's counts stay current (see migration m007)
                "UPDATE runs SET n_events = n_events + ?, n_signals = n_signals + ?, "
                "n_outcomes = n_outcomes + ? WHERE id = ? AND status != 'running'",
                (n + n_closed, n, n_closed, run_id),
            )
            return n + n_closed

        if conn is not None:
            return write(conn)
        with self.write() as c:
            return write(c)

    @_guarded
    def open_signals(self, run_id: str) -> pd.DataFrame:
        """The run's open signals: signals without an outcome (yet), in time order.

        Columns: the trades frame's signal columns (``signal_id``, ``run_id``,
        ``entry_time`` (UTC), ``symbol``, ``side``, ``confidence``, ...) and the run's
        features; no exit time, return or win.

        Raises
        ------
        RunNotFoundError
            No such run.
        StoreError
            The run is still running in another process.
        """
        info = self.get_run(run_id)
        if info.status == "running" and run_id not in self._own_runs:
            raise StoreError(
                f"run {run_id} is still running (pid {info.owner_pid} on {info.owner_host}); "
                "its open signals can be read when it finishes - pick a finished run"
            )
        signal_cols = [c for c in TRADES_COLUMNS if c.trades == _S]
        extra = "".join(
            f", CAST(json_extract(t.payload, '$.\"{k}\"') AS REAL)" for k in info.feature_keys
        )
        select = ", ".join(f"t.{c.sql}" for c in signal_cols)
        rows = self.conn.execute(
            f"SELECT {select}{extra} FROM trades AS t JOIN runs AS r ON r.key = t.run "
            "WHERE r.id = ? AND t.ts IS NOT NULL AND t.o_id IS NULL ORDER BY t.ts, t.signal_id",
            (run_id,),
        ).fetchall()
        names = [c.name for c in signal_cols] + list(info.feature_keys)
        frame = pd.DataFrame.from_records(rows, columns=names)
        for c in signal_cols:
            if c.kind is Kind.TIME:
                frame[c.name] = pd.to_datetime(frame[c.name].astype("int64"), utc=True)
            elif c.kind is not Kind.TEXT:
                frame[c.name] = pd.to_numeric(frame[c.name]).astype(c.dtype)
        frame.insert(1, "run_id", pd.Series(run_id, index=frame.index, dtype="str"))
        for key in info.feature_keys:
            frame[key] = frame[key].astype(np.float64)
        return frame

    def insert_signal_frame(
        self,
        run_id: str,
        frame: pd.DataFrame,
        *,
        extra_columns: tuple[str, ...] = (),
        conn: sqlite3.Connection | None = None,
    ) -> int:
        """Insert a frame of signals of ``run_id`` (validated whole, columns as
        :func:`core.events.signal_rows` takes them); returns the count."""
        return self.insert_event_rows(
            signal_rows(run_id, frame, extra_columns=extra_columns), conn=conn
        )

    def insert_outcome_frame(
        self, run_id: str, frame: pd.DataFrame, *, conn: sqlite3.Connection | None = None
    ) -> int:
        """Insert a frame of outcomes of ``run_id`` (validated whole, columns as
        :func:`core.events.outcome_rows` takes them); returns the count."""
        return self.insert_event_rows(outcome_rows(run_id, frame), conn=conn)

    # ----------------------------------------------------------------- events: read

    @_guarded
    def query_events(
        self, filter: EventFilter | None = None, /, **filters: Any
    ) -> list[LearningEvent]:
        """Events matching ``filter`` (an :class:`EventFilter`, or its fields as keywords),
        in time order."""
        sql, params = EventFilter.of(filter, filters).select("*", extra=self._finished_only())
        return [LearningEvent.from_row(r) for r in self.db.query(sql, params)]

    @_guarded
    def events_frame(self, filter: EventFilter | None = None, /, **filters: Any) -> pd.DataFrame:
        """Raw event rows matching ``filter`` as a DataFrame (times as UTC datetimes),
        for browsing and CSV; columns in :data:`~core.columns.EVENT_COLUMNS` order."""
        sql, params = EventFilter.of(filter, filters).select(
            ", ".join(EVENT_COLUMNS), extra=self._finished_only()
        )
        frame = pd.read_sql_query(sql, self.conn, params=params)
        for col in ("ts", "recorded_at"):
            frame[col] = pd.to_datetime(frame[col].astype("int64"), utc=True)
        return frame

    @_guarded
    def count_events(self, filter: EventFilter | None = None, /, **filters: Any) -> int:
        """How many events match ``filter`` (its ``limit`` and ``offset`` are ignored)."""
        given = EventFilter.of(filter, filters)
        if given.run_id is not None and (given.symbol, given.since, given.until) == (None,) * 3:
            return self._count_run(given.run_id, given.event_type)
        where, params = given.where(extra=self._finished_only())
        return int(self.conn.execute(f"SELECT count(*) FROM events{where}", params).fetchone()[0])

    def _count_run(self, run_id: str, event_type: EventType | None) -> int:
        """Events of one run (of one type), counted on the tables rather than the view."""
        status = self.conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if status is not None and status[0] == "running" and run_id not in self._own_runs:
            return 0
        log_sql = "SELECT count(*) FROM event_log WHERE run_id = ?"
        log_params: list[Any] = [run_id]
        if event_type is not None:
            log_sql += " AND type = ?"
            log_params.append(event_type.value)
        n = int(self.conn.execute(log_sql, log_params).fetchone()[0])
        if status is None or event_type not in (
            None,
            EventType.SIGNAL_GENERATED,
            EventType.SIGNAL_ACCURACY,
        ):
            return n
        signals, outcomes = self.conn.execute(_RUN_COUNTS_SQL, (run_id,)).fetchone()
        if event_type is EventType.SIGNAL_GENERATED:
            return n + int(signals)
        if event_type is EventType.SIGNAL_ACCURACY:
            return n + int(outcomes)
        return n + int(signals) + int(outcomes)

    @_guarded
    def event_counts_by_type(self) -> dict[str, int]:
        """Persisted events per type (events of unfinished runs left out).

        The ``events`` view's counts without going through it: the event log grouped by
        type, plus the trade rows' signals (``ts``) and outcomes (``o_id``) counted on
        their covering index ``ix_trades_run`` (1M trades: 11 s through the view, which
        builds every row, against about 0.1 s).
        """
        clause, params = self._finished_only()
        counts = {
            t: int(n)
            for t, n in self.conn.execute(
                f"SELECT type, count(*) FROM event_log WHERE {clause} GROUP BY type", params
            )
        }
        own = sorted(self._own_runs)
        mine = f" OR id IN ({', '.join('?' for _ in own)})" if own else ""
        signals, outcomes = self.conn.execute(
            "SELECT count(ts), count(o_id) FROM trades INDEXED BY ix_trades_run "
            f"WHERE run IN (SELECT key FROM runs WHERE status != 'running'{mine})",
            own,
        ).fetchone()
        for kind, n in (("SIGNAL_GENERATED", signals), ("SIGNAL_ACCURACY", outcomes)):
            if n:
                counts[kind] = counts.get(kind, 0) + int(n)
        return counts

    def _finished_only(self) -> tuple[str, list[str]]:
        """The clause that hides events of runs still ``running``, except this object's own.

        A run's events become visible with its :meth:`finish_run` (``completed`` or
        ``failed``); a run whose process died is failed at the next writable open.
        """
        own = sorted(self._own_runs)
        mine = f" AND id NOT IN ({', '.join('?' for _ in own)})" if own else ""
        return (
            "(run_id IS NULL OR run_id NOT IN "
            f"(SELECT id FROM runs WHERE status = 'running'{mine}))",
            own,
        )

    @_guarded
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
        if info.status == "running" and run_id not in self._own_runs:
            raise StoreError(
                f"run {run_id} is still running (pid {info.owner_pid} on {info.owner_host}); "
                "its trades can be read when it finishes - pick a finished run"
            )
        if info.status != "running":
            n_events = info.n_events  # kept current by every write (migration m007)
            blob = _snapshot_blob(self.conn, run_id, n_events)
            if blob is not None:
                return _arrow_to_frame(read_snapshot(blob), run_id, info.feature_keys)
            table = self._build_snapshot(run_id, info.feature_keys, n_events)
        else:
            table = _read_trades_arrow(self.conn, run_id, info.feature_keys)
        return _arrow_to_frame(table, run_id, info.feature_keys)

    def _build_snapshot(
        self, run_id: str, feature_keys: tuple[str, ...], n_events: int
    ) -> pa.Table:
        """Read a run's trades from its events and store them as its snapshot, when the
        write lock is free (a reader never waits for a writer: the next read stores it)."""
        table = _read_trades_arrow(self.conn, run_id, feature_keys)
        with self._write_now() as conn:
            if conn is not None:
                self.write_snapshot(run_id, table, n_events=n_events, conn=conn)
        return table

    @_guarded
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
        row = (run_id, n_events, table.num_rows, _now_iso(), encode_snapshot(table))
        sql = (
            "INSERT OR REPLACE INTO trade_snapshots (run_id, n_events, n_trades, built, parquet) "
            "VALUES (?, ?, ?, ?, ?)"
        )
        if conn is not None:
            conn.execute(sql, row)
        else:
            with self.write() as c:
                c.execute(sql, row)

    @_guarded
    def refresh_snapshot(self, run_id: str) -> None:
        """Build (or rebuild) the trades snapshot of a finished run."""
        info = self.get_run(run_id)
        self._build_snapshot(run_id, info.feature_keys, info.n_events)


#: How a snapshot blob starts: an Arrow IPC file (written since 2026-12-02; lz4 buffers) or,
#: in older stores, a Parquet file (``PAR1``). Both are read; see :func:`read_snapshot`.
_IPC_MAGIC = b"ARROW1"
#: Bytes SQLite may map while a snapshot blob is read (see :func:`_snapshot_blob`).
_SNAPSHOT_MMAP = 1 << 31


def encode_snapshot(table: pa.Table) -> memoryview:
    """A trades snapshot as stored: an Arrow IPC file with lz4-compressed buffers.

    Measured on 1M trades (``bench/bench_import.py``, 2026-12-02): 45 MB, written in
    0.11 s and read in 0.02 s, against 36 MB, 0.33 s and 0.09 s for the lz4 Parquet stored
    before (uncompressed IPC: 104 MB, read without a copy, but twice the bytes to fetch from
    SQLite; zstd IPC: 32 MB, read in 0.07 s).
    """
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with pa.ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return memoryview(sink.getvalue())


def read_snapshot(blob: bytes) -> pa.Table:
    """A stored trades snapshot back as an Arrow table, whichever encoding wrote it: an
    Arrow IPC file (:func:`encode_snapshot`) or the Parquet file older stores hold."""
    if blob[: len(_IPC_MAGIC)] == _IPC_MAGIC:
        return pa.ipc.open_file(pa.py_buffer(blob)).read_all()
    return pq.read_table(pa.BufferReader(blob))


def _snapshot_blob(conn: sqlite3.Connection, run_id: str, n_events: int) -> bytes | None:
    """The snapshot blob of ``run_id`` built for ``n_events`` events, or None.

    Read with SQLite's incremental blob I/O over a memory map of the file (about half the
    time of a ``SELECT`` of the blob through the page cache), in one read transaction so the
    row cannot change between finding it and reading it. The map is dropped afterwards.
    """
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        row = conn.execute(
            "SELECT rowid FROM trade_snapshots WHERE run_id = ? AND n_events = ?",
            (run_id, n_events),
        ).fetchone()
        if row is None:
            return None
        conn.execute(f"PRAGMA mmap_size = {_SNAPSHOT_MMAP}")
        try:
            with conn.blobopen("trade_snapshots", "parquet", row[0], readonly=True) as blob:
                return blob.read()
        finally:
            conn.execute("PRAGMA mmap_size = 0")
    finally:
        if own and conn.in_transaction:
            conn.execute("COMMIT")


def _read_trades_arrow(
    conn: sqlite3.Connection, run_id: str, feature_keys: tuple[str, ...]
) -> pa.Table:
    """Read a run's closed trades (``trades`` rows with both parts) as typed Arrow columns.

    This is the cold path: finished runs are
    read from their snapshot instead. It uses the thread's ``sqlite3``
    connection on purpose: a second SQLite library in the same process (as
    ADBC bundles) would break the WAL file's POSIX locks.
    """
    extra = "".join(f", CAST(json_extract(t.payload, '$.\"{k}\"') AS REAL)" for k in feature_keys)
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
    kept = outcomes[["signal_id", "ts", *[c for c in outcome_cols if c in outcomes]]].rename(
        columns={"ts": "exit_ts"}
    )
    if len(signals) == len(outcomes) and np.array_equal(
        signals["signal_id"].to_numpy(), kept["signal_id"].to_numpy()
    ):  # already paired row by row (an import's chunk): no join needed
        joined = signals.drop(columns=[c for c in kept if c in signals and c != "signal_id"])
        joined = joined.reset_index(drop=True).assign(
            **{c: kept[c].array for c in kept if c != "signal_id"}
        )
    else:
        joined = signals.merge(
            kept, on="signal_id", how="inner", validate="one_to_one", suffixes=("_signal", "")
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


def snapshot_table(values: Mapping[str, Any], feature_keys: tuple[str, ...] = ()) -> pa.Table:
    """A trades snapshot from its columns, already in (entry time, signal id) order.

    ``values`` maps snapshot column names (:data:`~core.columns.SNAPSHOT_SCHEMA`:
    ``entry_ns``, ``exit_ns``, ...) and the features to arrays (numpy or Arrow) of one
    closed trade each; NaN is null, a float column not given all null and ``win`` derived
    from ``return_pct``, as the store reads them back (:func:`_read_trades_arrow`, which
    also reads a stored -0.0 as 0.0). Nothing goes through pandas.
    """
    n = len(values["signal_id"])
    returns = np.asarray(values["return_pct"], dtype=np.float64)

    def array(name: str, kind: Kind) -> pa.Array:
        if kind is Kind.BOOL:  # win
            return pa.array((returns > 0).astype(np.int8), type=pa.int8())
        given = values.get(name)
        if given is None:  # as SQL reads a column never written: NULL
            return pa.nulls(n, type=pa.float64())
        if isinstance(given, pa.Array | pa.ChunkedArray):
            return given.cast(_ARROW_KINDS[kind])
        given = np.asarray(given)
        if kind is Kind.SIDE:
            given = given.astype(np.int8)
        elif kind in (Kind.FLOAT, Kind.COUNT):  # + 0.0: -0.0 reads back from SQLite as 0.0
            given = given.astype(np.float64, copy=False) + 0.0
        return pa.array(given, type=_ARROW_KINDS[kind], from_pandas=True)

    return pa.table(
        [*(array(c.snapshot_name, c.kind) for c in SNAPSHOT_COLUMNS),
         *(array(k, Kind.FLOAT) for k in feature_keys)],
        schema=_snapshot_schema(feature_keys),
    )  # fmt: skip


_ARROW_KINDS = {Kind.TEXT: pa.string(), Kind.FLOAT: pa.float64(), Kind.COUNT: pa.float64(),
                Kind.SIDE: pa.int8(), Kind.BOOL: pa.int8(), Kind.TIME: pa.int64()}  # fmt: skip


def _arrow_to_frame(table: pa.Table, run_id: str, feature_keys: tuple[str, ...]) -> pd.DataFrame:
    """A snapshot (or the cold join) as the trades frame: :data:`TRADES_COLUMNS` + features.

    One ``to_pandas`` of the columns in their frame types: times cast (without a copy) from
    int64 nanoseconds to UTC timestamps, ``win`` from int8 to bool, text straight to
    pandas' Arrow-backed ``str``, and the run id (the same on every row) built from two
    buffers instead of a million Python strings.
    """
    n = table.num_rows
    arrays: list[pa.ChunkedArray | pa.Array] = []
    for c in TRADES_COLUMNS:
        if c.trades == RUN:
            arrays.append(_repeated_text(run_id, n))
            continue
        values = table.column(c.snapshot_name)
        if c.kind is Kind.TIME:
            values = values.cast(pa.timestamp("ns", tz="UTC"))
        elif c.kind is Kind.BOOL:
            values = pc.not_equal(values, 0)
        elif c.kind is not Kind.TEXT:
            values = values.cast(_FRAME_ARROW[c.dtype])
        arrays.append(values)
    arrays += [table.column(k).cast(pa.float64()) for k in feature_keys]
    names = [c.name for c in TRADES_COLUMNS] + list(feature_keys)
    return pa.table(arrays, names=names).to_pandas()


#: Arrow type of each numeric trades-frame dtype (``to_pandas`` turns it into that dtype).
_FRAME_ARROW = {"float64": pa.float64(), "int8": pa.int8()}


def _repeated_text(text: str, n: int) -> pa.Array:
    """``n`` copies of ``text`` as one Arrow string array, built from its buffers."""
    data = text.encode()
    offsets = np.arange(n + 1, dtype=np.int64) * len(data)
    return pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data * n)]
    )
