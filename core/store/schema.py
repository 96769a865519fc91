"""The SQLite schema, created and upgraded by sqlite-utils migrations.

Each migration is a registered function; ``apply_migrations`` runs the ones
a database has not seen yet, each in its own transaction. Add new tables by
appending a migration here, never by editing an applied one.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "apply_migrations", "schema_version"]

MIGRATIONS = Migrations("signal_lab")


@MIGRATIONS()
def m001_events_and_runs(db: Database) -> None:
    """Events (typed hot columns + JSON payload) and runs."""
    db.execute(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            run_id TEXT,
            type TEXT NOT NULL,
            ts INTEGER NOT NULL,            -- market time, ns since epoch, UTC
            recorded_at INTEGER NOT NULL,   -- wall-clock time, ns since epoch, UTC
            symbol TEXT,
            signal_id TEXT,
            side INTEGER,
            confidence REAL,
            calibrated_probability REAL,
            num_agreeing_models INTEGER,
            market_volatility REAL,
            signal_strength REAL,
            holding_days REAL,
            applied_threshold REAL,
            calibrated INTEGER,
            return_pct REAL,
            win INTEGER,
            payload TEXT NOT NULL DEFAULT '{}'
        )
        """
    )
    db.execute("CREATE INDEX ix_events_run_type_signal ON events (run_id, type, signal_id)")
    db.execute("CREATE INDEX ix_events_type_ts ON events (type, ts)")
    db.execute(
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('backtest', 'import')),
            status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
            name TEXT,
            created TEXT NOT NULL,
            finished TEXT,
            config TEXT NOT NULL DEFAULT '{}',
            config_hash TEXT,
            data_fingerprint TEXT,
            package_version TEXT,
            seed INTEGER,
            synthetic INTEGER NOT NULL DEFAULT 0,
            source TEXT,
            feature_keys TEXT NOT NULL DEFAULT '[]',
            n_signals INTEGER NOT NULL DEFAULT 0,
            n_outcomes INTEGER NOT NULL DEFAULT 0,
            n_events INTEGER NOT NULL DEFAULT 0,
            error TEXT
        )
        """
    )
    db.execute("CREATE INDEX ix_runs_created ON runs (created)")


@MIGRATIONS()
def m002_trade_snapshots(db: Database) -> None:
    """Materialised trades frames of finished runs (Parquet bytes).

    The events stay the source of truth: a snapshot records how many events
    its run had when it was built and is ignored (and rebuilt) when that
    count no longer matches.
    """
    db.execute(
        """
        CREATE TABLE trade_snapshots (
            run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
            n_events INTEGER NOT NULL,
            n_trades INTEGER NOT NULL,
            built TEXT NOT NULL,
            parquet BLOB NOT NULL
        )
        """
    )


#: Number of migrations this code knows; a database at this version is current.
SCHEMA_VERSION = len(MIGRATIONS._migrations)


def apply_migrations(db: Database) -> None:
    """Bring ``db`` up to :data:`SCHEMA_VERSION` (idempotent)."""
    MIGRATIONS.apply(db)


def schema_version(db: Database) -> int:
    """How many of our migrations ``db`` has applied."""
    return len(MIGRATIONS.applied(db))
