"""SQL of the model registry: versions, stage transitions and evaluations.

:class:`RegistryTables` reads and writes these tables of one :class:`~core.store.Store`
(migration ``m003_model_lifecycle``); its one user is :class:`core.lifecycle.registry.ModelRegistry`. Every change
that has a lifecycle event writes the event in the same transaction
(``BEGIN IMMEDIATE`` through :meth:`Store.write`), so table and event log never
disagree. Row types: :class:`ModelVersion`, :class:`StageChange` and :class:`EvaluationRecord`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.errors import ModelNotFoundError, StoreError
from core.events import EventType
from core.store._tables import _dumps, _event_row, _now_ns, _Tables, _to_dict, _ts

#: Stages of a model version, in promotion order (``archived`` last).
MODEL_STAGES: tuple[str, ...] = ("development", "staging", "production", "archived")


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


#: Called inside a promotion's transaction with the version as stored and its
#: last evaluation (None when never evaluated); raise to refuse.
PromotionGuard = Callable[[ModelVersion, "EvaluationRecord | None"], None]


class RegistryTables(_Tables):
    """The registry tables: model versions, stage changes, evaluations."""

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
        if to_stage not in MODEL_STAGES:
            raise StoreError(f"stage must be one of {', '.join(MODEL_STAGES)}, got {to_stage!r}")
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
