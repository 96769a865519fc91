"""The SQLite schema, created and upgraded by sqlite-utils migrations.

Each migration is a registered function; ``apply_migrations`` runs the ones
a database has not seen yet, each in its own transaction. Add new tables by
appending a migration here, never by editing an applied one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLES_BY_MIGRATION",
    "apply_migrations",
    "backtest_signal_name",
    "expected_tables",
    "schema_version",
]

#: ``PRAGMA application_id`` of every Signal Lab store ("SGLB" in ASCII). A SQLite file
#: with another id, or with none and without our tables, is not ours and is never migrated.
APPLICATION_ID = 0x53474C42

_ENSEMBLE = "core.signals.ensemble.EnsembleSignalEngine"


def backtest_signal_name(config: Mapping[str, Any]) -> str:
    """The default signal name of a backtest, from what defines its signals.

    The built-in ensemble is named by its agreement rule and holding period
    (``ensemble-agree3-hold5``); a custom signal engine by its class name. The
    threshold, costs and market are not part of the name: they are decisions about
    a signal, or where it is tried, not a different signal.
    """
    engine = str(config.get("signal_engine") or _ENSEMBLE)
    engine = re.sub(r"\[.*\]$", "", engine)  # a calibrated engine keeps its inner name
    if engine == _ENSEMBLE:
        return f"ensemble-agree{config.get('min_agree', 3)}-hold{config.get('holding_days', 5)}"
    return engine.rsplit(".", 1)[-1].lower()


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


@MIGRATIONS()
def m003_model_lifecycle(db: Database) -> None:
    """Model registry, evaluations, stage history, training jobs, drift baselines and alerts.

    Times are INTEGER nanoseconds since the epoch, UTC. JSON columns hold
    parameters, metrics, gate results and drift baselines.
    """
    db.execute(
        """
        CREATE TABLE model_versions (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            model_type TEXT NOT NULL,
            method TEXT,
            stage TEXT NOT NULL DEFAULT 'development'
                CHECK (stage IN ('development', 'staging', 'production', 'archived')),
            params TEXT NOT NULL DEFAULT '{}',
            key TEXT NOT NULL DEFAULT 'confidence',
            training_run_id TEXT,
            train_start INTEGER,
            train_end INTEGER,
            metrics TEXT NOT NULL DEFAULT '{}',
            note TEXT,
            job_id TEXT,
            created INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            UNIQUE (name, version)
        )
        """
    )
    # At most one production version per model name, whatever the code does.
    db.execute(
        "CREATE UNIQUE INDEX ux_model_versions_production ON model_versions (name) "
        "WHERE stage = 'production'"
    )
    db.execute(
        """
        CREATE TABLE model_stage_changes (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            from_stage TEXT NOT NULL,
            to_stage TEXT NOT NULL,
            reason TEXT,
            forced INTEGER NOT NULL DEFAULT 0,
            at INTEGER NOT NULL,
            FOREIGN KEY (name, version) REFERENCES model_versions (name, version)
                ON DELETE CASCADE
        )
        """
    )
    db.execute("CREATE INDEX ix_model_stage_changes_model ON model_stage_changes (name, version)")
    db.execute(
        """
        CREATE TABLE model_evaluations (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            run_id TEXT,
            passed INTEGER NOT NULL,
            gates TEXT NOT NULL DEFAULT '[]',
            metrics TEXT NOT NULL DEFAULT '{}',
            production_version INTEGER,
            n_trades INTEGER NOT NULL DEFAULT 0,
            window_start INTEGER,
            window_end INTEGER,
            at INTEGER NOT NULL,
            FOREIGN KEY (name, version) REFERENCES model_versions (name, version)
                ON DELETE CASCADE
        )
        """
    )
    db.execute("CREATE INDEX ix_model_evaluations_model ON model_evaluations (name, version, id)")
    db.execute(
        """
        CREATE TABLE training_jobs (
            id TEXT PRIMARY KEY,
            model_name TEXT NOT NULL,
            model_type TEXT NOT NULL,
            config TEXT NOT NULL DEFAULT '{}',
            state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
            trigger TEXT NOT NULL DEFAULT 'manual',
            error TEXT,
            version INTEGER,
            owner_pid INTEGER,
            owner_host TEXT,
            worker TEXT,
            created INTEGER NOT NULL,
            started INTEGER,
            finished INTEGER
        )
        """
    )
    db.execute("CREATE INDEX ix_training_jobs_state ON training_jobs (state)")
    db.execute("CREATE INDEX ix_training_jobs_model ON training_jobs (model_name, created)")
    db.execute(
        """
        CREATE TABLE training_triggers (
            model_name TEXT PRIMARY KEY,
            model_type TEXT NOT NULL,
            config TEXT NOT NULL DEFAULT '{}',
            every INTEGER NOT NULL CHECK (every >= 1),
            event_type TEXT,
            last_event_id INTEGER NOT NULL DEFAULT 0,
            enabled INTEGER NOT NULL DEFAULT 1,
            created INTEGER NOT NULL,
            updated INTEGER NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE drift_baselines (
            id INTEGER PRIMARY KEY,
            model_name TEXT NOT NULL,
            key TEXT NOT NULL,
            run_id TEXT,
            window_start INTEGER,
            window_end INTEGER,
            n INTEGER NOT NULL,
            baseline TEXT NOT NULL,
            thresholds TEXT NOT NULL DEFAULT '{}',
            active INTEGER NOT NULL DEFAULT 1,
            created INTEGER NOT NULL
        )
        """
    )
    db.execute(
        "CREATE UNIQUE INDEX ux_drift_baselines_active ON drift_baselines (model_name) "
        "WHERE active = 1"
    )
    db.execute(
        """
        CREATE TABLE drift_alerts (
            id INTEGER PRIMARY KEY,
            model_name TEXT NOT NULL,
            baseline_id INTEGER NOT NULL REFERENCES drift_baselines (id) ON DELETE CASCADE,
            metric TEXT NOT NULL,
            severity TEXT NOT NULL CHECK (severity IN ('warning', 'critical')),
            baseline_value REAL,
            current_value REAL,
            statistic REAL,
            p_value REAL,
            message TEXT,
            run_id TEXT,
            window_start INTEGER NOT NULL,
            window_end INTEGER NOT NULL,
            n_current INTEGER,
            created INTEGER NOT NULL,
            acknowledged INTEGER NOT NULL DEFAULT 0,
            acknowledged_at INTEGER,
            UNIQUE (model_name, metric, window_start, window_end, baseline_id)
        )
        """
    )
    db.execute("CREATE INDEX ix_drift_alerts_model ON drift_alerts (model_name, acknowledged)")


@MIGRATIONS()
def m004_signals(db: Database) -> None:
    """Every run belongs to a named signal (a strategy or model): ``runs.signal``.

    Runs recorded before are named here: a backtest by :func:`backtest_signal_name`
    of its recorded config, an imported log by its run name (the file's name by
    default).
    """
    db.execute("ALTER TABLE runs ADD COLUMN signal TEXT NOT NULL DEFAULT ''")
    rows = db.execute("SELECT id, kind, name, config FROM runs").fetchall()
    for run_id, kind, name, config in rows:
        if kind == "backtest":
            signal = backtest_signal_name(json.loads(config or "{}"))
        else:
            signal = name or "imported"
        db.execute("UPDATE runs SET signal = ? WHERE id = ?", [signal, run_id])
    db.execute("CREATE INDEX ix_runs_signal ON runs (signal, created)")


@MIGRATIONS()
def m005_run_owners(db: Database) -> None:
    """Who runs a run: process id, its start time (clock ticks since boot) and host.

    A ``running`` run whose owner process is gone (or whose pid now names another
    process, told apart by the start time) is marked ``failed`` when a store opens.
    """
    db.execute("ALTER TABLE runs ADD COLUMN owner_pid INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN owner_start INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN owner_host TEXT")
    db.execute("CREATE INDEX ix_runs_status ON runs (status)")


#: Columns of ``event_log`` (and of the ``events`` view), in order after ``id``.
_EVENT_COLUMNS = (
    "event_id", "run_id", "type", "ts", "recorded_at", "symbol", "signal_id", "side",
    "confidence", "calibrated_probability", "num_agreeing_models", "market_volatility",
    "signal_strength", "holding_days", "applied_threshold", "calibrated", "return_pct", "win",
    "payload",
)  # fmt: skip
_SIGNAL_FIELDS = (
    "symbol", "side", "confidence", "calibrated_probability", "num_agreeing_models",
    "market_volatility", "signal_strength", "holding_days", "applied_threshold",
)  # fmt: skip

#: The ``events`` view: the event log, then every trade row as its signal event and (when
#: it has one) its outcome event. Bulk rows carry no event id: one is made from their id.
EVENTS_VIEW = f"""
CREATE VIEW events (id, {", ".join(_EVENT_COLUMNS)}) AS
SELECT id, {", ".join(_EVENT_COLUMNS)} FROM event_log
UNION ALL
SELECT t.id, coalesce(t.event_id, 'bulk-' || t.id), r.id, 'SIGNAL_GENERATED', t.ts,
       t.recorded_at, t.symbol, t.signal_id, t.side, t.confidence, t.calibrated_probability,
       t.num_agreeing_models, t.market_volatility, t.signal_strength, t.holding_days,
       t.applied_threshold, coalesce(t.calibrated, 0), NULL, NULL, coalesce(t.payload, '{{}}')
FROM trades AS t JOIN runs AS r ON r.key = t.run
WHERE t.ts IS NOT NULL
UNION ALL
SELECT t.o_id, coalesce(t.o_event_id, 'bulk-' || t.o_id), r.id, 'SIGNAL_ACCURACY', t.exit_ts,
       coalesce(t.o_recorded_at, t.recorded_at), t.o_symbol, t.signal_id, NULL,
       t.confidence_used, NULL, NULL, NULL, NULL, NULL, t.o_applied_threshold,
       coalesce(t.o_calibrated, 0), t.return_pct, t.return_pct > 0, coalesce(t.o_payload, '{{}}')
FROM trades AS t JOIN runs AS r ON r.key = t.run
WHERE t.o_id IS NOT NULL
"""

_NEXT = "(SELECT next FROM event_seq)"
_RUN_KEY = "(SELECT key FROM runs WHERE id = NEW.run_id)"
_BULK = f"NEW.type IN ('SIGNAL_GENERATED', 'SIGNAL_ACCURACY') AND {_RUN_KEY} IS NOT NULL"

#: Writing to the ``events`` view: lifecycle events (and signals of no known run) go to
#: the event log; a signal becomes a trade row (or completes the row its outcome opened),
#: an outcome completes its signal's row (or opens one). Every event takes the next id.
EVENTS_INSERT_TRIGGER = f"""
CREATE TRIGGER events_insert INSTEAD OF INSERT ON events
BEGIN
  INSERT INTO event_log (id, {", ".join(_EVENT_COLUMNS)})
  SELECT {_NEXT}, {", ".join("NEW." + c for c in _EVENT_COLUMNS)}
  WHERE NOT ({_BULK});

  INSERT INTO trades (id, run, signal_id, ts, recorded_at, {", ".join(_SIGNAL_FIELDS)},
                      calibrated, payload, event_id)
  SELECT {_NEXT}, {_RUN_KEY}, NEW.signal_id, NEW.ts, NEW.recorded_at,
         {", ".join("NEW." + c for c in _SIGNAL_FIELDS)}, NEW.calibrated, NEW.payload,
         NEW.event_id
  WHERE NEW.type = 'SIGNAL_GENERATED' AND {_RUN_KEY} IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM trades WHERE run = {_RUN_KEY} AND signal_id IS NEW.signal_id AND ts IS NULL);
  UPDATE trades SET id = {_NEXT}, ts = NEW.ts, recorded_at = NEW.recorded_at,
         {", ".join(f"{c} = NEW.{c}" for c in _SIGNAL_FIELDS)}, calibrated = NEW.calibrated,
         payload = NEW.payload, event_id = NEW.event_id
  WHERE NEW.type = 'SIGNAL_GENERATED' AND id = (
    SELECT id FROM trades WHERE run = {_RUN_KEY} AND signal_id IS NEW.signal_id AND ts IS NULL
    ORDER BY o_id LIMIT 1);

  INSERT INTO trades (id, run, signal_id, o_id, exit_ts, o_recorded_at, o_symbol,
                      confidence_used, o_applied_threshold, o_calibrated, return_pct, o_payload,
                      o_event_id)
  SELECT -{_NEXT}, {_RUN_KEY}, NEW.signal_id, {_NEXT}, NEW.ts, NEW.recorded_at, NEW.symbol,
         NEW.confidence, NEW.applied_threshold, NEW.calibrated, NEW.return_pct, NEW.payload,
         NEW.event_id
  WHERE NEW.type = 'SIGNAL_ACCURACY' AND {_RUN_KEY} IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM trades WHERE run = {_RUN_KEY} AND signal_id IS NEW.signal_id
    AND ts IS NOT NULL AND o_id IS NULL);
  UPDATE trades SET o_id = {_NEXT}, exit_ts = NEW.ts, o_recorded_at = NEW.recorded_at,
         o_symbol = NEW.symbol, confidence_used = NEW.confidence,
         o_applied_threshold = NEW.applied_threshold, o_calibrated = NEW.calibrated,
         return_pct = NEW.return_pct, o_payload = NEW.payload, o_event_id = NEW.event_id
  WHERE NEW.type = 'SIGNAL_ACCURACY' AND id = (
    SELECT id FROM trades WHERE run = {_RUN_KEY} AND signal_id IS NEW.signal_id
    AND ts IS NOT NULL AND o_id IS NULL ORDER BY id LIMIT 1);

  UPDATE event_seq SET next = next + 1;
END
"""

#: m007: the same routing, and a finished run's counts kept current by every later write.
EVENTS_INSERT_TRIGGER_COUNTED = EVENTS_INSERT_TRIGGER.replace(
    "  UPDATE event_seq SET next = next + 1;\nEND",
    """  UPDATE runs SET n_events = n_events + 1,
         n_signals = n_signals + (NEW.type = 'SIGNAL_GENERATED'),
         n_outcomes = n_outcomes + (NEW.type = 'SIGNAL_ACCURACY')
  WHERE id = NEW.run_id AND status != 'running';

  UPDATE event_seq SET next = next + 1;
END""",
)


@MIGRATIONS()
def m006_trades_layout(db: Database) -> None:
    """Bulk signals and outcomes move to ``trades``: one narrow row per signal and its outcome.

    The ``events`` table becomes ``event_log`` (lifecycle and metric events), and
    ``events`` a view over both that reads exactly as the table did. Runs get an
    INTEGER ``key`` (trade rows carry it instead of the run's text id); bulk rows carry no
    text event id (the view makes one from the row's id); ids stay one sequence
    (``event_seq``) across both tables, so "events after id N" still works. Every existing
    signal and outcome of a known run moves (its id and event id kept); an outcome is
    paired with the signal of its id (in order, when ids repeat) or kept on a row of its own.
    """
    db.execute("ALTER TABLE events RENAME TO event_log")
    db.execute("ALTER TABLE runs ADD COLUMN key INTEGER")
    db.execute("UPDATE runs SET key = rowid")
    db.execute("CREATE UNIQUE INDEX ux_runs_key ON runs (key)")
    db.execute(
        """
        CREATE TABLE trades (
            id INTEGER PRIMARY KEY,     -- the signal's event id (negative: no signal yet)
            run INTEGER NOT NULL,       -- runs.key
            signal_id TEXT,
            ts INTEGER,                 -- entry (signal) time, ns since epoch, UTC; NULL: no signal
            recorded_at INTEGER,
            symbol TEXT,
            side INTEGER,
            confidence REAL,
            calibrated_probability REAL,
            num_agreeing_models INTEGER,
            market_volatility REAL,
            signal_strength REAL,
            holding_days REAL,
            applied_threshold REAL,
            calibrated INTEGER,         -- NULL: 0
            payload TEXT,               -- NULL: {}
            event_id TEXT,              -- NULL: 'bulk-' || id
            o_id INTEGER,               -- the outcome's event id; NULL: an open signal
            exit_ts INTEGER,
            o_recorded_at INTEGER,      -- NULL: recorded_at
            o_symbol TEXT,
            confidence_used REAL,
            o_applied_threshold REAL,
            o_calibrated INTEGER,       -- NULL: 0
            return_pct REAL,
            o_payload TEXT,             -- NULL: {}
            o_event_id TEXT             -- NULL: 'bulk-' || o_id
        )
        """
    )
    db.execute("CREATE TABLE event_seq (next INTEGER NOT NULL)")
    db.execute("INSERT INTO event_seq SELECT coalesce(max(id), 0) + 1 FROM event_log")
    sig = ", ".join(_SIGNAL_FIELDS)
    db.execute(
        f"""
        INSERT INTO trades (id, run, signal_id, ts, recorded_at, {sig}, calibrated, payload,
                            event_id)
        SELECT e.id, r.key, e.signal_id, e.ts, e.recorded_at, {", ".join("e." + c for c in _SIGNAL_FIELDS)},
               e.calibrated, e.payload, e.event_id
        FROM event_log AS e JOIN runs AS r ON r.id = e.run_id
        WHERE e.type = 'SIGNAL_GENERATED'
        """
    )
    # Pair the n-th outcome of an id with the n-th signal of that id (rank by event id).
    db.execute(
        """
        CREATE TEMP TABLE _pairs AS
        WITH s AS (SELECT id, run, signal_id,
                          row_number() OVER (PARTITION BY run, signal_id ORDER BY id) AS k
                   FROM trades),
             o AS (SELECT e.*, r.key AS run,
                          row_number() OVER (PARTITION BY r.key, e.signal_id ORDER BY e.id) AS k
                   FROM event_log AS e JOIN runs AS r ON r.id = e.run_id
                   WHERE e.type = 'SIGNAL_ACCURACY')
        SELECT o.*, s.id AS trade FROM o LEFT JOIN s
          ON s.run = o.run AND s.signal_id IS o.signal_id AND s.k = o.k
        """
    )
    db.execute(
        """
        UPDATE trades SET o_id = p.id, exit_ts = p.ts, o_recorded_at = p.recorded_at,
               o_symbol = p.symbol, confidence_used = p.confidence,
               o_applied_threshold = p.applied_threshold, o_calibrated = p.calibrated,
               return_pct = p.return_pct, o_payload = p.payload, o_event_id = p.event_id
        FROM temp._pairs AS p WHERE p.trade = trades.id
        """
    )
    db.execute(
        """
        INSERT INTO trades (id, run, signal_id, o_id, exit_ts, o_recorded_at, o_symbol,
                            confidence_used, o_applied_threshold, o_calibrated, return_pct,
                            o_payload, o_event_id)
        SELECT -p.id, p.run, p.signal_id, p.id, p.ts, p.recorded_at, p.symbol, p.confidence,
               p.applied_threshold, p.calibrated, p.return_pct, p.payload, p.event_id
        FROM temp._pairs AS p WHERE p.trade IS NULL
        """
    )
    db.execute("DROP TABLE temp._pairs")
    db.execute(
        "DELETE FROM event_log WHERE type IN ('SIGNAL_GENERATED', 'SIGNAL_ACCURACY') "
        "AND run_id IN (SELECT id FROM runs)"
    )
    # Indexes after the move (a bulk load builds them once).
    db.execute("CREATE INDEX ix_trades_run ON trades (run, signal_id, ts, o_id)")
    db.execute("CREATE UNIQUE INDEX ux_trades_outcome ON trades (o_id) WHERE o_id IS NOT NULL")
    db.execute(EVENTS_VIEW)
    db.execute(EVENTS_INSERT_TRIGGER)


@MIGRATIONS()
def m007_run_counts_kept(db: Database) -> None:
    """A finished run's ``n_signals`` / ``n_outcomes`` / ``n_events`` stay current: every
    later write adds to them (the ``events`` trigger, and the bulk path in the store), so a
    reader checks its trades snapshot against the run's row instead of counting events.
    Counts of finished runs are recomputed here once."""
    db.execute("DROP TRIGGER events_insert")
    db.execute(EVENTS_INSERT_TRIGGER_COUNTED)
    db.execute(
        """
        UPDATE runs SET
          n_signals = (SELECT count(ts) FROM trades WHERE run = runs.key)
            + (SELECT count(*) FROM event_log WHERE run_id = runs.id
               AND type = 'SIGNAL_GENERATED'),
          n_outcomes = (SELECT count(o_id) FROM trades WHERE run = runs.key)
            + (SELECT count(*) FROM event_log WHERE run_id = runs.id
               AND type = 'SIGNAL_ACCURACY'),
          n_events = (SELECT count(ts) + count(o_id) FROM trades WHERE run = runs.key)
            + (SELECT count(*) FROM event_log WHERE run_id = runs.id)
        WHERE status != 'running'
        """
    )


#: Tables each migration creates: a store that has applied a migration but lacks one of
#: its tables was changed outside Signal Lab (or damaged).
TABLES_BY_MIGRATION: dict[str, tuple[str, ...]] = {
    "m001_events_and_runs": ("events", "runs"),
    "m002_trade_snapshots": ("trade_snapshots",),
    "m003_model_lifecycle": (
        "model_versions", "model_stage_changes", "model_evaluations", "training_jobs",
        "training_triggers", "drift_baselines", "drift_alerts",
    ),
    "m004_signals": (),
    "m005_run_owners": (),
    "m006_trades_layout": ("event_log", "trades", "event_seq"),
    "m007_run_counts_kept": (),
}  # fmt: skip


def expected_tables(applied: list[str] | tuple[str, ...]) -> set[str]:
    """The tables a store that has applied the migrations named ``applied`` must hold."""
    return {t for name in applied for t in TABLES_BY_MIGRATION.get(name, ())}


def migration_names() -> tuple[str, ...]:
    """Names of the migrations this code knows, in order."""
    return tuple(m.name for m in MIGRATIONS._migrations)


#: Number of migrations this code knows; a database at this version is current.
SCHEMA_VERSION = len(MIGRATIONS._migrations)


def apply_migrations(db: Database) -> None:
    """Bring ``db`` up to :data:`SCHEMA_VERSION` (idempotent)."""
    MIGRATIONS.apply(db)


def schema_version(db: Database) -> int:
    """How many of our migrations ``db`` has applied."""
    return len(MIGRATIONS.applied(db))
