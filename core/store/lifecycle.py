"""SQL of the model lifecycle: registry, evaluations, stages, jobs, triggers, drift.

:class:`LifecycleStore` wraps a :class:`~core.store.db.Store` and is the only
code that reads or writes the lifecycle tables (migration
``m003_model_lifecycle``). Every change that has a lifecycle event writes the
event in the *same* transaction (``BEGIN IMMEDIATE`` through
:meth:`Store.write`), so the table and the event log never disagree, and
everything that must be atomic (numbering versions, one production version,
claiming a due training trigger, deduplicating alerts) happens inside one
transaction.

Policy (which promotions are allowed, what a gate means) lives in
:mod:`core.lifecycle`; it reaches in through small ``guard`` callbacks that
run inside the transaction.

Times are UTC; in SQLite INTEGER nanoseconds since the epoch, in Python
``pandas.Timestamp`` (tz-aware).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd

from core.errors import JobError, ModelNotFoundError, StoreError
from core.events import EventType, LearningEvent
from core.jsonsafe import json_safe as _json_safe
from core.store.db import Store

__all__ = [
    "JOB_STATES",
    "STAGES",
    "AlertRecord",
    "BaselineRecord",
    "EvaluationRecord",
    "JobRecord",
    "LifecycleStore",
    "ModelVersion",
    "StageChange",
    "TriggerRecord",
]

#: Stages of a model version, in promotion order (``archived`` last).
STAGES: tuple[str, ...] = ("development", "staging", "production", "archived")
#: States of a training job; ``succeeded`` and ``failed`` are final.
JOB_STATES: tuple[str, ...] = ("queued", "running", "succeeded", "failed")
FINAL_JOB_STATES: tuple[str, ...] = ("succeeded", "failed")


# --------------------------------------------------------------------------- helpers


def _now_ns() -> int:
    return pd.Timestamp.now(tz="UTC").value


def _ts(ns: int | None) -> pd.Timestamp | None:
    return None if ns is None else pd.Timestamp(int(ns), tz="UTC")


def _iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else ts.isoformat()


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _dumps(value: Any) -> str:
    return json.dumps(_json_safe(value), sort_keys=True, separators=(",", ":"), allow_nan=False)


def _event_row(
    event_type: EventType, payload: Mapping[str, Any], *, ts_ns: int | None = None
) -> tuple:
    ts = pd.Timestamp(ts_ns if ts_ns is not None else _now_ns(), tz="UTC")
    return LearningEvent(event_type, None, ts, _json_safe(payload)).row


def _to_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        out[f.name] = _iso(v) if isinstance(v, pd.Timestamp) else _json_safe(v)
    return out


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model (a row of ``model_versions``).

    Attributes
    ----------
    name : str
        Model name (versions number themselves per name).
    version : int
        1, 2, ... in registration order.
    model_type : str
        ``"calibrator"``, ``"signal"``, ...
    method : str or None
        E.g. ``"platt"``, ``"isotonic"``.
    stage : {"development", "staging", "production", "archived"}
    params : dict
        What is needed to use the model (a calibrator's ``to_dict()`` under
        ``"calibrator"``) and the options it was trained with.
    key : str
        Confidence column the model reads.
    training_run_id : str or None
    train_start, train_end : Timestamp or None
        First and last ``entry_time`` of the trades it was fitted on.
    metrics : dict
        Figures from training (out of sample where the job could).
    note : str or None
        Free text from whoever registered it.
    job_id : str or None
        The training job that produced it.
    created, updated : Timestamp
    """

    name: str
    version: int
    model_type: str
    method: str | None
    stage: str
    params: dict[str, Any]
    key: str
    training_run_id: str | None
    train_start: pd.Timestamp | None
    train_end: pd.Timestamp | None
    metrics: dict[str, Any]
    note: str | None
    job_id: str | None
    created: pd.Timestamp
    updated: pd.Timestamp

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ModelVersion:
        return cls(
            name=row["name"],
            version=int(row["version"]),
            model_type=row["model_type"],
            method=row["method"],
            stage=row["stage"],
            params=json.loads(row["params"] or "{}"),
            key=row["key"],
            training_run_id=row["training_run_id"],
            train_start=_ts(row["train_start"]),
            train_end=_ts(row["train_end"]),
            metrics=json.loads(row["metrics"] or "{}"),
            note=row["note"],
            job_id=row["job_id"],
            created=_ts(row["created"]),
            updated=_ts(row["updated"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (times as ISO 8601)."""
        return _to_dict(self)


@dataclass(frozen=True)
class StageChange:
    """One stage transition of a model version (a row of ``model_stage_changes``)."""

    id: int
    name: str
    version: int
    from_stage: str
    to_stage: str
    reason: str | None
    forced: bool
    at: pd.Timestamp

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StageChange:
        return cls(
            id=int(row["id"]),
            name=row["name"],
            version=int(row["version"]),
            from_stage=row["from_stage"],
            to_stage=row["to_stage"],
            reason=row["reason"],
            forced=bool(row["forced"]),
            at=_ts(row["at"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


@dataclass(frozen=True)
class EvaluationRecord:
    """One stored evaluation of a model version (a row of ``model_evaluations``).

    ``gates`` holds one mapping per gate: ``metric``, ``op``, ``value``
    (the threshold), ``observed`` and ``passed``.
    """

    id: int
    name: str
    version: int
    run_id: str | None
    passed: bool
    gates: tuple[dict[str, Any], ...]
    metrics: dict[str, Any]
    production_version: int | None
    n_trades: int
    window_start: pd.Timestamp | None
    window_end: pd.Timestamp | None
    at: pd.Timestamp

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EvaluationRecord:
        pv = row["production_version"]
        return cls(
            id=int(row["id"]),
            name=row["name"],
            version=int(row["version"]),
            run_id=row["run_id"],
            passed=bool(row["passed"]),
            gates=tuple(json.loads(row["gates"] or "[]")),
            metrics=json.loads(row["metrics"] or "{}"),
            production_version=None if pv is None else int(pv),
            n_trades=int(row["n_trades"]),
            window_start=_ts(row["window_start"]),
            window_end=_ts(row["window_end"]),
            at=_ts(row["at"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


@dataclass(frozen=True)
class JobRecord:
    """One training job (a row of ``training_jobs``).

    Attributes
    ----------
    id : str
    model_name, model_type : str
    config : dict
        What to train (method, run_id, window, key, ...).
    state : {"queued", "running", "succeeded", "failed"}
    trigger : str
        ``"manual"`` or ``"auto"`` (the event-count trigger).
    error : str or None
        Why it failed.
    version : int or None
        The version it registered, once succeeded.
    owner_pid, owner_host : int, str
        The process that submitted it (a job whose owner died is failed on restart).
    worker : str or None
        Where it ran (``host:pid``).
    created, started, finished : Timestamp or None
    """

    id: str
    model_name: str
    model_type: str
    config: dict[str, Any]
    state: str
    trigger: str
    error: str | None
    version: int | None
    owner_pid: int | None
    owner_host: str | None
    worker: str | None
    created: pd.Timestamp
    started: pd.Timestamp | None
    finished: pd.Timestamp | None

    @property
    def done(self) -> bool:
        """Whether the job reached a final state."""
        return self.state in FINAL_JOB_STATES

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> JobRecord:
        return cls(
            id=row["id"],
            model_name=row["model_name"],
            model_type=row["model_type"],
            config=json.loads(row["config"] or "{}"),
            state=row["state"],
            trigger=row["trigger"],
            error=row["error"],
            version=None if row["version"] is None else int(row["version"]),
            owner_pid=None if row["owner_pid"] is None else int(row["owner_pid"]),
            owner_host=row["owner_host"],
            worker=row["worker"],
            created=_ts(row["created"]),
            started=_ts(row["started"]),
            finished=_ts(row["finished"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


@dataclass(frozen=True)
class TriggerRecord:
    """An automatic training trigger (a row of ``training_triggers``)."""

    model_name: str
    model_type: str
    config: dict[str, Any]
    every: int
    event_type: str | None
    last_event_id: int
    enabled: bool

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TriggerRecord:
        return cls(
            model_name=row["model_name"],
            model_type=row["model_type"],
            config=json.loads(row["config"] or "{}"),
            every=int(row["every"]),
            event_type=row["event_type"],
            last_event_id=int(row["last_event_id"]),
            enabled=bool(row["enabled"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


@dataclass(frozen=True)
class BaselineRecord:
    """A stored drift baseline (a row of ``drift_baselines``).

    ``baseline`` is the JSON of a :class:`core.lifecycle.drift_stats.DriftBaseline`
    and ``thresholds`` that of the :class:`~core.lifecycle.drift_stats.DriftThresholds`
    checks use by default (``{}``: the documented defaults).
    """

    id: int
    model_name: str
    key: str
    run_id: str | None
    window_start: pd.Timestamp | None
    window_end: pd.Timestamp | None
    n: int
    baseline: dict[str, Any]
    thresholds: dict[str, Any]
    active: bool
    created: pd.Timestamp

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> BaselineRecord:
        return cls(
            id=int(row["id"]),
            model_name=row["model_name"],
            key=row["key"],
            run_id=row["run_id"],
            window_start=_ts(row["window_start"]),
            window_end=_ts(row["window_end"]),
            n=int(row["n"]),
            baseline=json.loads(row["baseline"]),
            thresholds=json.loads(row["thresholds"] or "{}"),
            active=bool(row["active"]),
            created=_ts(row["created"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


@dataclass(frozen=True)
class AlertRecord:
    """One drift alert (a row of ``drift_alerts``)."""

    id: int
    model_name: str
    baseline_id: int
    metric: str
    severity: str
    baseline_value: float | None
    current_value: float | None
    statistic: float | None
    p_value: float | None
    message: str | None
    run_id: str | None
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    n_current: int | None
    created: pd.Timestamp
    acknowledged: bool
    acknowledged_at: pd.Timestamp | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AlertRecord:
        return cls(
            id=int(row["id"]),
            model_name=row["model_name"],
            baseline_id=int(row["baseline_id"]),
            metric=row["metric"],
            severity=row["severity"],
            baseline_value=row["baseline_value"],
            current_value=row["current_value"],
            statistic=row["statistic"],
            p_value=row["p_value"],
            message=row["message"],
            run_id=row["run_id"],
            window_start=_ts(row["window_start"]),
            window_end=_ts(row["window_end"]),
            n_current=row["n_current"],
            created=_ts(row["created"]),
            acknowledged=bool(row["acknowledged"]),
            acknowledged_at=_ts(row["acknowledged_at"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


ALERT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(AlertRecord))

#: Called inside a promotion's transaction with the version as stored and its
#: last evaluation (None when never evaluated); raise to refuse.
PromotionGuard = Callable[[ModelVersion, "EvaluationRecord | None"], None]


# --------------------------------------------------------------------------- the store


class LifecycleStore:
    """Reads and writes the lifecycle tables of one :class:`Store`.

    Parameters
    ----------
    store : Store
        An open store (migrated to at least ``m003_model_lifecycle``).

    Notes
    -----
    Stateless apart from ``store``: safe to share across threads (each thread
    uses its own connection) and to build anew in each process.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.store.db.query(sql, list(params))]

    @staticmethod
    def _fetch(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[dict]:
        cur = conn.execute(sql, tuple(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # ----------------------------------------------------------------- registry

    def register_version(
        self,
        *,
        name: str,
        model_type: str,
        method: str | None,
        params: Mapping[str, Any],
        key: str,
        training_run_id: str | None,
        train_start: pd.Timestamp | None,
        train_end: pd.Timestamp | None,
        metrics: Mapping[str, Any],
        note: str | None,
        job_id: str | None = None,
    ) -> ModelVersion:
        """Insert the next version of ``name`` in ``development`` (+ ``MODEL_REGISTERED``).

        The version number is ``max(version) + 1`` read and written in one
        ``BEGIN IMMEDIATE`` transaction, so concurrent registrations (threads
        or processes) get distinct, consecutive numbers.
        """
        now = _now_ns()
        with self.store.write() as conn:
            (version,) = conn.execute(
                "SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE name = ?",
                (name,),
            ).fetchone()
            conn.execute(
                "INSERT INTO model_versions (name, version, model_type, method, stage, params, "
                "key, training_run_id, train_start, train_end, metrics, note, job_id, created, "
                "updated) VALUES (?, ?, ?, ?, 'development', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name, version, model_type, method, _dumps(params), key, training_run_id,
                    None if train_start is None else train_start.value,
                    None if train_end is None else train_end.value,
                    _dumps(metrics), note, job_id, now, now,
                ),
            )  # fmt: skip
            payload = {
                "model_name": name,
                "version": version,
                "model_type": model_type,
                "method": method,
                "training_run_id": training_run_id,
                "job_id": job_id,
                "metrics": dict(metrics),
            }
            self.store.insert_event_rows(
                [_event_row(EventType.MODEL_REGISTERED, payload, ts_ns=now)], conn=conn
            )
        return self.get_version(name, version)

    def get_version(self, name: str, version: int) -> ModelVersion:
        """Version ``version`` of ``name``; :class:`ModelNotFoundError` when absent."""
        rows = self._rows(
            "SELECT * FROM model_versions WHERE name = ? AND version = ?", (name, int(version))
        )
        if not rows:
            known = self.versions_of(name)
            hint = (
                f"versions of {name!r}: {', '.join(str(v.version) for v in known)}"
                if known
                else f"no model named {name!r}; list models with `signal-lab models list`"
            )
            raise ModelNotFoundError(f"no version {version} of model {name!r}; {hint}")
        return ModelVersion.from_row(rows[0])

    def version_at_stage(self, name: str, stage: str) -> ModelVersion | None:
        """The newest version of ``name`` in ``stage`` (None when there is none)."""
        rows = self._rows(
            "SELECT * FROM model_versions WHERE name = ? AND stage = ? "
            "ORDER BY version DESC LIMIT 1",
            (name, stage),
        )
        return ModelVersion.from_row(rows[0]) if rows else None

    def versions_of(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first."""
        rows = self._rows("SELECT * FROM model_versions WHERE name = ? ORDER BY version", (name,))
        return [ModelVersion.from_row(r) for r in rows]

    def list_versions(
        self, *, name: str | None = None, stage: str | None = None, model_type: str | None = None
    ) -> list[ModelVersion]:
        """Versions matching every filter given, by name then version."""
        clauses, params = [], []
        for column, value in (("name", name), ("stage", stage), ("model_type", model_type)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        rows = self._rows(f"SELECT * FROM model_versions{where} ORDER BY name, version", params)
        return [ModelVersion.from_row(r) for r in rows]

    def change_stage(
        self,
        name: str,
        version: int,
        to_stage: str,
        *,
        reason: str | None,
        forced: bool,
        guard: PromotionGuard | None = None,
    ) -> list[StageChange]:
        """Move a version to ``to_stage`` in one transaction; returns the changes recorded.

        Moving to ``production`` first archives the current production version
        of ``name`` (its own recorded change, reason ``"superseded by vN"``).
        Each change is a ``model_stage_changes`` row and a
        ``MODEL_STAGE_CHANGED`` event. ``guard`` runs inside the transaction
        (after the write lock is held) and may raise to refuse.
        """
        if to_stage not in STAGES:
            raise StoreError(f"stage must be one of {', '.join(STAGES)}, got {to_stage!r}")
        now = _now_ns()
        changes: list[tuple[int, str, str, str | None, bool]] = []
        with self.store.write() as conn:
            rows = self._fetch(
                conn,
                "SELECT * FROM model_versions WHERE name = ? AND version = ?",
                (name, int(version)),
            )
            if not rows:
                raise ModelNotFoundError(
                    f"no version {version} of model {name!r}; list them with "
                    f"`signal-lab models show {name}`"
                )
            current = ModelVersion.from_row(rows[0])
            if guard is not None:
                evals = self._fetch(
                    conn,
                    "SELECT * FROM model_evaluations WHERE name = ? AND version = ? "
                    "ORDER BY id DESC LIMIT 1",
                    (name, int(version)),
                )
                guard(current, EvaluationRecord.from_row(evals[0]) if evals else None)
            if to_stage == "production":
                for old in self._fetch(
                    conn,
                    "SELECT version FROM model_versions WHERE name = ? AND stage = 'production' "
                    "AND version != ?",
                    (name, int(version)),
                ):
                    conn.execute(
                        "UPDATE model_versions SET stage = 'archived', updated = ? "
                        "WHERE name = ? AND version = ?",
                        (now, name, old["version"]),
                    )
                    changes.append(
                        (old["version"], "production", "archived", f"superseded by v{version}",
                         False)
                    )  # fmt: skip
            conn.execute(
                "UPDATE model_versions SET stage = ?, updated = ? WHERE name = ? AND version = ?",
                (to_stage, now, name, int(version)),
            )
            changes.append((int(version), current.stage, to_stage, reason, bool(forced)))
            event_rows = []
            change_ids = []
            for v, src, dst, why, was_forced in changes:
                cur = conn.execute(
                    "INSERT INTO model_stage_changes (name, version, from_stage, to_stage, "
                    "reason, forced, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (name, v, src, dst, why, int(was_forced), now),
                )
                change_ids.append(int(cur.lastrowid))
                payload = {"model_name": name, "version": v, "from_stage": src,
                           "to_stage": dst, "forced": was_forced}  # fmt: skip
                if why:
                    payload["reason"] = why
                event_rows.append(_event_row(EventType.MODEL_STAGE_CHANGED, payload, ts_ns=now))
            self.store.insert_event_rows(event_rows, conn=conn)
        return [c for c in self.stage_history(name) if c.id in change_ids]

    def stage_history(self, name: str, version: int | None = None) -> list[StageChange]:
        """Recorded stage changes of ``name`` (of one version when given), oldest first."""
        if version is None:
            rows = self._rows(
                "SELECT * FROM model_stage_changes WHERE name = ? ORDER BY id", (name,)
            )
        else:
            rows = self._rows(
                "SELECT * FROM model_stage_changes WHERE name = ? AND version = ? ORDER BY id",
                (name, int(version)),
            )
        return [StageChange.from_row(r) for r in rows]

    def models_frame(self) -> pd.DataFrame:
        """One row per model name: versions, the production and newest versions, last change."""
        rows = self._rows(
            """
            SELECT name, model_type, count(*) AS versions, max(version) AS latest_version,
                   max(CASE WHEN stage = 'production' THEN version END) AS production_version,
                   sum(stage = 'staging') AS staging, sum(stage = 'development') AS development,
                   sum(stage = 'archived') AS archived, max(updated) AS updated
            FROM model_versions GROUP BY name ORDER BY name
            """
        )
        cols = ["name", "model_type", "versions", "latest_version", "production_version",
                "staging", "development", "archived", "updated"]  # fmt: skip
        frame = pd.DataFrame(rows, columns=cols)
        frame["updated"] = pd.to_datetime(frame["updated"].astype("Int64"), utc=True)
        frame["production_version"] = frame["production_version"].astype("Int64")
        return frame

    # ----------------------------------------------------------------- evaluations

    def record_evaluation(
        self,
        *,
        name: str,
        version: int,
        run_id: str | None,
        passed: bool,
        gates: Sequence[Mapping[str, Any]],
        metrics: Mapping[str, Any],
        production_version: int | None,
        n_trades: int,
        window_start: pd.Timestamp | None,
        window_end: pd.Timestamp | None,
    ) -> EvaluationRecord:
        """Store an evaluation and its ``MODEL_EVALUATED`` event in one transaction."""
        now = _now_ns()
        with self.store.write() as conn:
            cur = conn.execute(
                "INSERT INTO model_evaluations (name, version, run_id, passed, gates, metrics, "
                "production_version, n_trades, window_start, window_end, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name, int(version), run_id, int(bool(passed)), _dumps(list(gates)),
                    _dumps(metrics), production_version, int(n_trades),
                    None if window_start is None else window_start.value,
                    None if window_end is None else window_end.value, now,
                ),
            )  # fmt: skip
            eval_id = cur.lastrowid
            payload = {
                "model_name": name,
                "version": int(version),
                "passed": bool(passed),
                "evaluation_id": eval_id,
                "run_id": run_id,
                "production_version": production_version,
                "n_trades": int(n_trades),
                "gates": list(gates),
            }
            self.store.insert_event_rows(
                [_event_row(EventType.MODEL_EVALUATED, payload, ts_ns=now)], conn=conn
            )
        return self.get_evaluation(eval_id)

    def get_evaluation(self, evaluation_id: int) -> EvaluationRecord:
        rows = self._rows("SELECT * FROM model_evaluations WHERE id = ?", (int(evaluation_id),))
        if not rows:
            raise ModelNotFoundError(f"no evaluation {evaluation_id}")
        return EvaluationRecord.from_row(rows[0])

    def evaluations_of(self, name: str, version: int | None = None) -> list[EvaluationRecord]:
        """Evaluations of ``name`` (of one version when given), oldest first."""
        if version is None:
            rows = self._rows("SELECT * FROM model_evaluations WHERE name = ? ORDER BY id", (name,))
        else:
            rows = self._rows(
                "SELECT * FROM model_evaluations WHERE name = ? AND version = ? ORDER BY id",
                (name, int(version)),
            )
        return [EvaluationRecord.from_row(r) for r in rows]

    # ----------------------------------------------------------------- training jobs

    def create_job(
        self,
        *,
        job_id: str,
        model_name: str,
        model_type: str,
        config: Mapping[str, Any],
        trigger: str,
        owner_pid: int,
        owner_host: str,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        """Insert a ``queued`` job (+ event) and move the model's trigger watermark."""
        if conn is None:
            with self.store.write() as c:
                self.create_job(
                    job_id=job_id, model_name=model_name, model_type=model_type, config=config,
                    trigger=trigger, owner_pid=owner_pid, owner_host=owner_host, conn=c,
                )  # fmt: skip
            return
        now = _now_ns()
        conn.execute(
            "INSERT INTO training_jobs (id, model_name, model_type, config, state, trigger, "
            "owner_pid, owner_host, created) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
            (job_id, model_name, model_type, _dumps(config), trigger, owner_pid, owner_host, now),
        )
        # Any training of the model restarts its automatic trigger's count.
        conn.execute(
            "UPDATE training_triggers SET last_event_id = "
            "(SELECT coalesce(max(id), 0) FROM events), updated = ? WHERE model_name = ?",
            (now, model_name),
        )
        payload = {"job_id": job_id, "model_name": model_name, "state": "queued",
                   "trigger": trigger}  # fmt: skip
        self.store.insert_event_rows(
            [_event_row(EventType.TRAINING_JOB_UPDATED, payload, ts_ns=now)], conn=conn
        )

    def set_job_state(
        self,
        job_id: str,
        state: str,
        *,
        from_states: Iterable[str],
        error: str | None = None,
        version: int | None = None,
        worker: str | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> bool:
        """Move a job to ``state`` if it is in one of ``from_states`` (+ event).

        Returns False (and writes nothing) when the job is elsewhere, e.g.
        already failed by a restart: a state never moves backwards.
        """
        if state not in JOB_STATES:
            raise JobError(f"job state must be one of {', '.join(JOB_STATES)}, got {state!r}")
        if conn is None:
            with self.store.write() as c:
                return self.set_job_state(
                    job_id, state, from_states=from_states, error=error, version=version,
                    worker=worker, conn=c,
                )  # fmt: skip
        now = _now_ns()
        allowed = tuple(from_states)
        marks = ", ".join("?" for _ in allowed)
        time_column = "started" if state == "running" else "finished"
        cur = conn.execute(
            f"UPDATE training_jobs SET state = ?, error = coalesce(?, error), "
            f"version = coalesce(?, version), worker = coalesce(?, worker), {time_column} = ? "
            f"WHERE id = ? AND state IN ({marks})",
            (state, error, version, worker, now, job_id, *allowed),
        )
        if cur.rowcount == 0:
            if not conn.execute("SELECT 1 FROM training_jobs WHERE id = ?", (job_id,)).fetchone():
                raise JobError(f"no training job {job_id!r}; list jobs with `signal-lab jobs list`")
            return False
        (model_name,) = conn.execute(
            "SELECT model_name FROM training_jobs WHERE id = ?", (job_id,)
        ).fetchone()
        payload: dict[str, Any] = {"job_id": job_id, "model_name": model_name, "state": state}
        if error is not None:
            payload["error"] = error
        if version is not None:
            payload["version"] = int(version)
        self.store.insert_event_rows(
            [_event_row(EventType.TRAINING_JOB_UPDATED, payload, ts_ns=now)], conn=conn
        )
        return True

    def get_job(self, job_id: str) -> JobRecord:
        rows = self._rows("SELECT * FROM training_jobs WHERE id = ?", (job_id,))
        if not rows:
            raise JobError(f"no training job {job_id!r}; list jobs with `signal-lab jobs list`")
        return JobRecord.from_row(rows[0])

    def list_jobs(
        self, *, model_name: str | None = None, state: str | None = None, limit: int | None = None
    ) -> list[JobRecord]:
        """Jobs, newest first."""
        clauses, params = [], []
        if model_name is not None:
            clauses.append("model_name = ?")
            params.append(model_name)
        if state is not None:
            clauses.append("state = ?")
            params.append(state)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        sql = f"SELECT * FROM training_jobs{where} ORDER BY created DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [JobRecord.from_row(r) for r in self._rows(sql, params)]

    def fail_orphaned_jobs(self, *, host: str, is_alive: Callable[[int], bool]) -> list[str]:
        """Fail queued/running jobs of ``host`` whose owner process is gone; returns their ids.

        Jobs submitted from another host are left alone (their owner cannot be
        checked from here).
        """
        failed: list[str] = []
        with self.store.write() as conn:
            rows = self._fetch(
                conn,
                "SELECT id, state, owner_pid FROM training_jobs "
                "WHERE state IN ('queued', 'running') AND owner_host = ?",
                (host,),
            )
            for row in rows:
                pid = row["owner_pid"]
                if pid is not None and is_alive(int(pid)):
                    continue
                what = "ran" if row["state"] == "running" else "was queued"
                error = (
                    f"interrupted: the process that {what} this job (pid {pid} on {host}) "
                    "stopped before it finished; submit the job again"
                )
                if self.set_job_state(
                    row["id"], "failed", from_states=("queued", "running"), error=error, conn=conn
                ):
                    failed.append(row["id"])
        return failed

    # ----------------------------------------------------------------- triggers

    def set_trigger(
        self,
        *,
        model_name: str,
        model_type: str,
        config: Mapping[str, Any],
        every: int,
        event_type: str | None,
        enabled: bool = True,
    ) -> TriggerRecord:
        """Create or replace the automatic training trigger of a model.

        A new trigger counts events from now on (its watermark is the newest
        event id); replacing one keeps its watermark.
        """
        now = _now_ns()
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO training_triggers (model_name, model_type, config, every, "
                "event_type, last_event_id, enabled, created, updated) "
                "VALUES (?, ?, ?, ?, ?, (SELECT coalesce(max(id), 0) FROM events), ?, ?, ?) "
                "ON CONFLICT (model_name) DO UPDATE SET model_type = excluded.model_type, "
                "config = excluded.config, every = excluded.every, "
                "event_type = excluded.event_type, enabled = excluded.enabled, "
                "updated = excluded.updated",
                (model_name, model_type, _dumps(config), int(every), event_type, int(enabled),
                 now, now),
            )  # fmt: skip
        return self.get_trigger(model_name)

    def get_trigger(self, model_name: str) -> TriggerRecord:
        rows = self._rows("SELECT * FROM training_triggers WHERE model_name = ?", (model_name,))
        if not rows:
            raise JobError(f"model {model_name!r} has no automatic training trigger")
        return TriggerRecord.from_row(rows[0])

    def list_triggers(self) -> list[TriggerRecord]:
        rows = self._rows("SELECT * FROM training_triggers ORDER BY model_name")
        return [TriggerRecord.from_row(r) for r in rows]

    def events_since(self, last_event_id: int, event_type: str | None) -> int:
        """Events with an id above ``last_event_id`` (of ``event_type`` when given)."""
        if event_type is None:
            sql, params = "SELECT count(*) FROM events WHERE id > ?", (int(last_event_id),)
        else:
            sql = "SELECT count(*) FROM events WHERE id > ? AND type = ?"
            params = (int(last_event_id), event_type)
        return int(self.store.conn.execute(sql, params).fetchone()[0])

    def claim_due_triggers(
        self, *, new_job_id: Callable[[], str], owner_pid: int, owner_host: str
    ) -> list[JobRecord]:
        """Create a queued job for every enabled trigger whose count is reached.

        The count, the job and the watermark move happen in one write
        transaction, so two processes (or a burst of calls) never claim the
        same events twice: a trigger fires once per ``every`` events.
        """
        # Read-only first: the common case (nothing due) never takes the write lock.
        due = [
            t
            for t in (TriggerRecord.from_row(r) for r in self._rows(
                "SELECT * FROM training_triggers WHERE enabled = 1"))
            if self.events_since(t.last_event_id, t.event_type) >= t.every
        ]  # fmt: skip
        if not due:
            return []
        created: list[str] = []
        with self.store.write() as conn:  # count again under the lock: another may have claimed
            triggers = self._fetch(conn, "SELECT * FROM training_triggers WHERE enabled = 1")
            for row in triggers:
                trig = TriggerRecord.from_row(row)
                if trig.event_type is None:
                    sql, params = "SELECT count(*) FROM events WHERE id > ?", (trig.last_event_id,)
                else:
                    sql = "SELECT count(*) FROM events WHERE id > ? AND type = ?"
                    params = (trig.last_event_id, trig.event_type)
                (count,) = conn.execute(sql, params).fetchone()
                if count < trig.every:
                    continue
                job_id = new_job_id()
                self.create_job(
                    job_id=job_id, model_name=trig.model_name, model_type=trig.model_type,
                    config=trig.config, trigger="auto", owner_pid=owner_pid,
                    owner_host=owner_host, conn=conn,
                )  # fmt: skip
                created.append(job_id)
        return [self.get_job(j) for j in created]

    # ----------------------------------------------------------------- drift

    def set_baseline(
        self,
        *,
        model_name: str,
        key: str,
        run_id: str | None,
        window_start: pd.Timestamp | None,
        window_end: pd.Timestamp | None,
        n: int,
        baseline: Mapping[str, Any],
        thresholds: Mapping[str, Any],
    ) -> BaselineRecord:
        """Store a baseline as the model's active one (+ ``DRIFT_BASELINE_SET``)."""
        now = _now_ns()
        with self.store.write() as conn:
            conn.execute(
                "UPDATE drift_baselines SET active = 0 WHERE model_name = ? AND active = 1",
                (model_name,),
            )
            cur = conn.execute(
                "INSERT INTO drift_baselines (model_name, key, run_id, window_start, window_end, "
                "n, baseline, thresholds, active, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                (
                    model_name, key, run_id,
                    None if window_start is None else window_start.value,
                    None if window_end is None else window_end.value,
                    int(n), _dumps(baseline), _dumps(thresholds), now,
                ),
            )  # fmt: skip
            baseline_id = cur.lastrowid
            payload = {
                "model_name": model_name,
                "baseline_id": baseline_id,
                "key": key,
                "run_id": run_id,
                "n": int(n),
                "window_start": _iso(window_start),
                "window_end": _iso(window_end),
            }
            self.store.insert_event_rows(
                [_event_row(EventType.DRIFT_BASELINE_SET, payload, ts_ns=now)], conn=conn
            )
        return self.get_baseline(baseline_id)

    def get_baseline(self, baseline_id: int) -> BaselineRecord:
        rows = self._rows("SELECT * FROM drift_baselines WHERE id = ?", (int(baseline_id),))
        if not rows:
            raise ModelNotFoundError(f"no drift baseline {baseline_id}")
        return BaselineRecord.from_row(rows[0])

    def active_baseline(self, model_name: str) -> BaselineRecord | None:
        rows = self._rows(
            "SELECT * FROM drift_baselines WHERE model_name = ? AND active = 1", (model_name,)
        )
        return BaselineRecord.from_row(rows[0]) if rows else None

    def list_baselines(self, model_name: str | None = None) -> list[BaselineRecord]:
        if model_name is None:
            rows = self._rows("SELECT * FROM drift_baselines ORDER BY id")
        else:
            rows = self._rows(
                "SELECT * FROM drift_baselines WHERE model_name = ? ORDER BY id", (model_name,)
            )
        return [BaselineRecord.from_row(r) for r in rows]

    def insert_alerts(
        self,
        *,
        model_name: str,
        baseline_id: int,
        run_id: str | None,
        window_start: pd.Timestamp,
        window_end: pd.Timestamp,
        n_current: int,
        findings: Sequence[Mapping[str, Any]],
    ) -> tuple[list[int], list[int]]:
        """Insert one alert per finding unless the same one is stored; returns (new, existing) ids.

        An alert is the same when model, metric, window start and end and
        baseline are (the table's UNIQUE key), so checking a window twice adds
        nothing. Each new alert writes a ``DRIFT_ALERT`` event, in the same
        transaction. ``findings`` hold ``metric``, ``severity`` (``warning``
        or ``critical``), ``baseline_value``, ``current_value``, ``statistic``,
        ``p_value`` and ``message``.
        """
        now = _now_ns()
        new: list[int] = []
        existing: list[int] = []
        events = []
        with self.store.write() as conn:
            for f in findings:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO drift_alerts (model_name, baseline_id, metric, "
                    "severity, baseline_value, current_value, statistic, p_value, message, "
                    "run_id, window_start, window_end, n_current, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        model_name, int(baseline_id), f["metric"], f["severity"],
                        _finite_or_none(f.get("baseline_value")),
                        _finite_or_none(f.get("current_value")),
                        _finite_or_none(f.get("statistic")), _finite_or_none(f.get("p_value")),
                        f.get("message"), run_id, window_start.value, window_end.value,
                        int(n_current), now,
                    ),
                )  # fmt: skip
                if cur.rowcount:
                    new.append(int(cur.lastrowid))
                    payload = {
                        "model_name": model_name,
                        "metric": f["metric"],
                        "severity": f["severity"],
                        "alert_id": int(cur.lastrowid),
                        "baseline_id": int(baseline_id),
                        "baseline_value": _finite_or_none(f.get("baseline_value")),
                        "current_value": _finite_or_none(f.get("current_value")),
                        "statistic": _finite_or_none(f.get("statistic")),
                        "p_value": _finite_or_none(f.get("p_value")),
                        "run_id": run_id,
                        "window_start": window_start.isoformat(),
                        "window_end": window_end.isoformat(),
                    }
                    events.append(
                        _event_row(EventType.DRIFT_ALERT, payload, ts_ns=window_end.value)
                    )
                else:
                    (alert_id,) = conn.execute(
                        "SELECT id FROM drift_alerts WHERE model_name = ? AND metric = ? AND "
                        "window_start = ? AND window_end = ? AND baseline_id = ?",
                        (model_name, f["metric"], window_start.value, window_end.value,
                         int(baseline_id)),
                    ).fetchone()  # fmt: skip
                    existing.append(int(alert_id))
            if events:
                self.store.insert_event_rows(events, conn=conn)
        return new, existing

    def acknowledge_alert(self, alert_id: int) -> AlertRecord:
        """Mark an alert acknowledged (idempotent: the first time is kept)."""
        with self.store.write() as conn:
            cur = conn.execute(
                "UPDATE drift_alerts SET acknowledged = 1, "
                "acknowledged_at = coalesce(acknowledged_at, ?) WHERE id = ?",
                (_now_ns(), int(alert_id)),
            )
            if cur.rowcount == 0:
                raise ModelNotFoundError(
                    f"no drift alert {alert_id}; list alerts with `signal-lab drift alerts`"
                )
        return self.get_alert(alert_id)

    def get_alert(self, alert_id: int) -> AlertRecord:
        rows = self._rows("SELECT * FROM drift_alerts WHERE id = ?", (int(alert_id),))
        if not rows:
            raise ModelNotFoundError(
                f"no drift alert {alert_id}; list alerts with `signal-lab drift alerts`"
            )
        return AlertRecord.from_row(rows[0])

    def list_alerts(
        self,
        *,
        model_name: str | None = None,
        severity: str | None = None,
        acknowledged: bool | None = None,
        run_id: str | None = None,
        limit: int | None = None,
    ) -> list[AlertRecord]:
        """Alerts matching every filter given, newest first."""
        clauses, params = [], []
        for column, value in (("model_name", model_name), ("severity", severity),
                              ("run_id", run_id)):  # fmt: skip
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if acknowledged is not None:
            clauses.append("acknowledged = ?")
            params.append(int(bool(acknowledged)))
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        sql = f"SELECT * FROM drift_alerts{where} ORDER BY created DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [AlertRecord.from_row(r) for r in self._rows(sql, params)]
