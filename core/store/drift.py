"""SQL of drift monitoring: baselines and alerts.

:class:`DriftTables` reads and writes these tables of one :class:`~core.store.Store`
(migration ``m003_model_lifecycle``); its one user is :class:`core.lifecycle.drift.DriftMonitor`. Every change
that has a lifecycle event writes the event in the same transaction
(``BEGIN IMMEDIATE`` through :meth:`Store.write`), so table and event log never
disagree. Row types: :class:`BaselineRecord` and :class:`AlertRecord`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd

from core.errors import ModelNotFoundError
from core.events import EventType
from core.store._tables import (
    _dumps,
    _event_row,
    _finite_or_none,
    _iso,
    _now_ns,
    _Tables,
    _to_dict,
    _ts,
)

# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class BaselineRecord:
    """A stored drift baseline (a row of ``drift_baselines``).

    ``baseline`` is the JSON of a :class:`core.analytics.drift.DriftBaseline`
    and ``thresholds`` that of the :class:`~core.analytics.drift.DriftThresholds`
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


class DriftTables(_Tables):
    """The drift baseline and alert tables."""

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
