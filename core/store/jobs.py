"""SQL of training jobs and their automatic triggers.

:class:`JobTables` reads and writes these tables of one :class:`~core.store.Store`
(migration ``m003_model_lifecycle``); its one user is :class:`core.lifecycle.jobs.TrainingJobs`. Every change
that has a lifecycle event writes the event in the same transaction
(``BEGIN IMMEDIATE`` through :meth:`Store.write`), so table and event log never
disagree. Row types: :class:`JobRecord` and :class:`TriggerRecord`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.errors import JobError
from core.events import EventType
from core.store._tables import _dumps, _event_row, _now_ns, _Tables, _to_dict, _ts

#: States of a training job; ``succeeded`` and ``failed`` are final.
JOB_STATES: tuple[str, ...] = ("queued", "running", "succeeded", "failed")
FINAL_JOB_STATES: tuple[str, ...] = ("succeeded", "failed")
#: The newest event id, as a trigger's watermark: one row of ``event_seq`` (every event,
#: in ``event_log`` or ``trades``, takes its id from there) instead of ``max(id)`` over
#: the ``events`` view, which reads every trade. Ids handed out but not used (a bulk write
#: reserves an outcome id for each open signal) lie above every stored event and below
#: every later one, so "events with an id above the watermark" counts the same.
LAST_EVENT_ID_SQL = "(SELECT next - 1 FROM event_seq)"


# --------------------------------------------------------------------------- records


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


class JobTables(_Tables):
    """The training-job and trigger tables."""

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
            f"UPDATE training_triggers SET last_event_id = {LAST_EVENT_ID_SQL}, updated = ? "
            "WHERE model_name = ?",
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
                f"VALUES (?, ?, ?, ?, ?, {LAST_EVENT_ID_SQL}, ?, ?, ?) "
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
