"""Learning events: what a run records, one row each in SQLite.

An event is a small frozen dataclass with a type, a run, a market time and a
payload validated against the schema of its type (:data:`PAYLOAD_SCHEMAS`).
Hot payload fields live in typed SQLite columns (:data:`EVENT_COLUMNS`); the
rest of the payload is stored as JSON.

Each event is validated and turned into its database row once, when it is
built (:meth:`LearningEvent.row`); writers never serialise again. Large
batches (a backtest's signals, an imported file) skip the objects entirely:
:func:`signal_rows` and :func:`outcome_rows` validate whole columns at once
and yield the same rows.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from core.errors import PayloadError

__all__ = [
    "EVENT_COLUMNS",
    "PAYLOAD_SCHEMAS",
    "EventType",
    "FieldSpec",
    "LearningEvent",
    "new_id",
    "outcome_rows",
    "signal_rows",
    "to_utc",
]


class EventType(StrEnum):
    """Kinds of event a run or the model lifecycle records."""

    SIGNAL_GENERATED = "SIGNAL_GENERATED"
    SIGNAL_ACCURACY = "SIGNAL_ACCURACY"
    METRIC_RECORDED = "METRIC_RECORDED"
    MODEL_REGISTERED = "MODEL_REGISTERED"
    MODEL_EVALUATED = "MODEL_EVALUATED"
    MODEL_STAGE_CHANGED = "MODEL_STAGE_CHANGED"
    DRIFT_BASELINE_SET = "DRIFT_BASELINE_SET"
    DRIFT_ALERT = "DRIFT_ALERT"
    TRAINING_JOB_UPDATED = "TRAINING_JOB_UPDATED"


#: Columns of the ``events`` table in row order (``id`` is SQLite's rowid).
EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "run_id",
    "type",
    "ts",
    "recorded_at",
    "symbol",
    "signal_id",
    "side",
    "confidence",
    "calibrated_probability",
    "num_agreeing_models",
    "market_volatility",
    "signal_strength",
    "holding_days",
    "applied_threshold",
    "calibrated",
    "return_pct",
    "win",
    "payload",
)
_COLUMN_INDEX = {name: i for i, name in enumerate(EVENT_COLUMNS)}


def new_id() -> str:
    """A 24-hex-digit id that sorts by creation time (ns clock + 32 random bits)."""
    return f"{time.time_ns():016x}{os.urandom(4).hex()}"


def to_utc(value: Any, *, field_name: str = "ts") -> pd.Timestamp:
    """Convert a datetime-like value to a tz-aware UTC ``Timestamp``.

    Naive values are taken as UTC. Raises :class:`PayloadError` naming
    ``field_name`` when the value cannot be read as a time.
    """
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise PayloadError(
            f"{field_name}: cannot read {value!r} as a time ({exc}); "
            "pass a datetime, a pandas Timestamp or an ISO 8601 string"
        ) from None
    if stamp is pd.NaT:
        raise PayloadError(f"{field_name}: missing time (NaT); every event needs a time")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


# --------------------------------------------------------------------------- schemas


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise PayloadError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise PayloadError(
            f"{name}: expected a finite number, got {value!r}; leave the field out when unknown"
        )
    return x


def _prob(name: str, value: Any) -> float:
    x = _finite(name, value)
    if not 0.0 <= x <= 1.0:
        raise PayloadError(
            f"{name}: expected a probability in [0, 1], got {value!r}; rescale the score"
        )
    return x


def _nonneg(name: str, value: Any) -> float:
    x = _finite(name, value)
    if x < 0:
        raise PayloadError(f"{name}: expected a number >= 0, got {value!r}")
    return x


def _positive(name: str, value: Any) -> float:
    x = _finite(name, value)
    if x <= 0:
        raise PayloadError(f"{name}: expected a number > 0, got {value!r}")
    return x


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise PayloadError(
                f"{name}: expected a whole number, got {type(value).__name__} {value!r}"
            )
    if value < 0:
        raise PayloadError(f"{name}: expected a whole number >= 0, got {value!r}")
    return int(value)


def _side(name: str, value: Any) -> int:
    if isinstance(value, str):
        lookup = {"long": 1, "buy": 1, "short": -1, "sell": -1}
        if value.lower() in lookup:
            return lookup[value.lower()]
    if not isinstance(value, bool) and isinstance(value, (int, np.integer, float, np.floating)):
        if value in (1, -1):
            return int(value)
    raise PayloadError(f"{name}: expected 1 (long) or -1 (short), got {value!r}")


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise PayloadError(f"{name}: expected true or false, got {type(value).__name__} {value!r}")


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{name}: expected a non-empty string, got {value!r}")
    return value


def _version(name: str, value: Any) -> int:
    v = _count(name, value)
    if v < 1:
        raise PayloadError(f"{name}: versions start at 1, got {value!r}")
    return v


def _metrics(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(f"{name}: expected a mapping of metric name to number, got {value!r}")
    out: dict[str, Any] = {}
    for key, v in value.items():
        if v is None or isinstance(v, (str, bool)):
            out[str(key)] = v
        elif isinstance(v, (int, float, np.integer, np.floating)):
            x = float(v)
            # JSON has no inf/nan: infinite metrics (a profit factor without losses)
            # travel as strings so they are never silently turned into null.
            out[str(key)] = (
                x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else None)
            )
        else:
            raise PayloadError(f"{name}.{key}: expected a number, got {type(v).__name__} {v!r}")
    return out


@dataclass(frozen=True)
class FieldSpec:
    """One payload field: its check, whether it is required, and its column."""

    check: Callable[[str, Any], Any]
    required: bool = False
    column: str | None = None


_SIGNAL = {
    "signal_id": FieldSpec(_text, True, "signal_id"),
    "symbol": FieldSpec(_text, True, "symbol"),
    "side": FieldSpec(_side, True, "side"),
    "confidence": FieldSpec(_prob, True, "confidence"),
    "calibrated_probability": FieldSpec(_prob, False, "calibrated_probability"),
    "num_agreeing_models": FieldSpec(_count, False, "num_agreeing_models"),
    "market_volatility": FieldSpec(_nonneg, False, "market_volatility"),
    "signal_strength": FieldSpec(_finite, False, "signal_strength"),
    "holding_days": FieldSpec(_positive, False, "holding_days"),
    "applied_threshold": FieldSpec(_prob, False, "applied_threshold"),
    "calibrated": FieldSpec(_boolean, False, "calibrated"),
}
_OUTCOME = {
    "signal_id": FieldSpec(_text, True, "signal_id"),
    "symbol": FieldSpec(_text, False, "symbol"),
    "return_pct": FieldSpec(_finite, True, "return_pct"),
    "win": FieldSpec(_boolean, True, "win"),
    "confidence_used": FieldSpec(_prob, False, "confidence"),
    "applied_threshold": FieldSpec(_prob, False, "applied_threshold"),
    "calibrated": FieldSpec(_boolean, False, "calibrated"),
    "outcome": FieldSpec(_text, False, None),
}
_MODEL = {
    "model_name": FieldSpec(_text, True),
    "version": FieldSpec(_version, True),
}

#: Payload schema of every event type: field -> :class:`FieldSpec`.
#: Fields not named here are kept as JSON (numbers, strings, lists, mappings).
PAYLOAD_SCHEMAS: Mapping[EventType, Mapping[str, FieldSpec]] = MappingProxyType(
    {
        EventType.SIGNAL_GENERATED: _SIGNAL,
        EventType.SIGNAL_ACCURACY: _OUTCOME,
        EventType.METRIC_RECORDED: {
            "baseline": FieldSpec(_metrics, True),
            "filtered": FieldSpec(_metrics, True),
            "improvement": FieldSpec(_metrics, True),
            "applied_threshold": FieldSpec(_prob, False, "applied_threshold"),
            "confidence_key": FieldSpec(_text, False),
            "use_calibration": FieldSpec(_boolean, False, "calibrated"),
        },
        EventType.MODEL_REGISTERED: {**_MODEL, "model_type": FieldSpec(_text, True)},
        EventType.MODEL_EVALUATED: {**_MODEL, "passed": FieldSpec(_boolean, True)},
        EventType.MODEL_STAGE_CHANGED: {
            **_MODEL,
            "from_stage": FieldSpec(_text, True),
            "to_stage": FieldSpec(_text, True),
            "reason": FieldSpec(_text, False),
            "forced": FieldSpec(_boolean, False),
        },
        EventType.DRIFT_BASELINE_SET: {"model_name": FieldSpec(_text, True)},
        EventType.DRIFT_ALERT: {
            "model_name": FieldSpec(_text, True),
            "metric": FieldSpec(_text, True),
            "severity": FieldSpec(_text, True),
        },
        EventType.TRAINING_JOB_UPDATED: {
            "job_id": FieldSpec(_text, True),
            "model_name": FieldSpec(_text, True),
            "state": FieldSpec(_text, True),
        },
    }
)

_OUTCOMES = ("win", "loss", "flat")


def _outcome_label(return_pct: float) -> str:
    return "win" if return_pct > 0 else "loss" if return_pct < 0 else "flat"


def _json_value(name: str, value: Any) -> Any:
    """Normalise an extra payload value to plain JSON types (no NaN/inf)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if not math.isfinite(x):
            raise PayloadError(
                f"{name}: expected a finite number, got {value!r}; leave the field out when unknown"
            )
        return x
    if isinstance(value, Mapping):
        return {str(k): _json_value(f"{name}.{k}", v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(f"{name}[{i}]", v) for i, v in enumerate(value)]
    raise PayloadError(
        f"{name}: cannot store a {type(value).__name__} in an event; "
        "use numbers, strings, booleans, lists or mappings"
    )


def _validate_payload(event_type: EventType, payload: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise PayloadError(f"payload: expected a mapping, got {type(payload).__name__}")
    schema = PAYLOAD_SCHEMAS[event_type]
    missing = [k for k, spec in schema.items() if spec.required and payload.get(k) is None]
    if missing:
        raise PayloadError(
            f"{event_type.value}: missing required field(s) {', '.join(missing)}; "
            f"required: {', '.join(k for k, s in schema.items() if s.required)}"
        )
    clean: dict[str, Any] = {}
    for key, value in payload.items():
        spec = schema.get(key)
        if spec is None:
            clean[key] = _json_value(key, value)
        elif value is not None:
            clean[key] = spec.check(key, value)
    if event_type is EventType.SIGNAL_GENERATED:
        clean.setdefault("calibrated", False)
    elif event_type is EventType.SIGNAL_ACCURACY:
        clean.setdefault("calibrated", False)
        ret, win = clean["return_pct"], clean["win"]
        if win != (ret > 0):
            raise PayloadError(
                f"win: {win} contradicts return_pct {ret!r}; win must be return_pct > 0"
            )
        expected = _outcome_label(ret)
        if clean.setdefault("outcome", expected) != expected:
            raise PayloadError(
                f"outcome: {clean['outcome']!r} contradicts return_pct {ret!r}; "
                f"expected {expected!r} (one of {', '.join(_OUTCOMES)})"
            )
    return clean


# --------------------------------------------------------------------------- the event


def _ns(stamp: pd.Timestamp) -> int:
    return int(stamp.value)


@dataclass(frozen=True, slots=True)
class LearningEvent:
    """One recorded event.

    Parameters
    ----------
    type : EventType or str
        What happened.
    run_id : str or None
        The run it belongs to (None for lifecycle events outside a run).
    ts : datetime-like
        Event time in *market* time, converted to UTC (naive values are UTC).
        For ``SIGNAL_GENERATED`` the signal bar; for ``SIGNAL_ACCURACY`` the
        exit (when the outcome became known).
    payload : mapping
        Validated against ``PAYLOAD_SCHEMAS[type]``; defaults are filled in
        (``calibrated=False``; ``outcome`` derived from ``return_pct``).
    event_id : str, optional
        Generated when not given.
    recorded_at : datetime-like, optional
        Wall-clock time of recording (UTC); now when not given.

    Raises
    ------
    PayloadError
        A field is missing, mistyped or out of range; the message names it.
    """

    type: EventType
    run_id: str | None
    ts: pd.Timestamp
    payload: Mapping[str, Any]
    event_id: str = field(default_factory=new_id)
    recorded_at: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))
    _row: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            event_type = EventType(self.type)
        except ValueError:
            raise PayloadError(
                f"type: unknown event type {self.type!r}; "
                f"one of {', '.join(t.value for t in EventType)}"
            ) from None
        if self.run_id is not None and not isinstance(self.run_id, str):
            raise PayloadError(f"run_id: expected a string or None, got {self.run_id!r}")
        ts = to_utc(self.ts, field_name="ts")
        recorded = to_utc(self.recorded_at, field_name="recorded_at")
        payload = _validate_payload(event_type, self.payload)
        object.__setattr__(self, "type", event_type)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "recorded_at", recorded)
        object.__setattr__(self, "payload", MappingProxyType(payload))
        object.__setattr__(self, "_row", self._build_row(event_type, payload, ts, recorded))

    def _build_row(
        self,
        event_type: EventType,
        payload: dict[str, Any],
        ts: pd.Timestamp,
        recorded: pd.Timestamp,
    ) -> tuple:
        row: list[Any] = [None] * len(EVENT_COLUMNS)
        row[0], row[1], row[2] = self.event_id, self.run_id, event_type.value
        row[3], row[4] = _ns(ts), _ns(recorded)
        schema = PAYLOAD_SCHEMAS[event_type]
        extras: dict[str, Any] = {}
        for key, value in payload.items():
            spec = schema.get(key)
            if spec is not None and spec.column is not None:
                row[_COLUMN_INDEX[spec.column]] = int(value) if isinstance(value, bool) else value
            elif not (event_type is EventType.SIGNAL_ACCURACY and key == "outcome"):
                extras[key] = value
        row[-1] = json.dumps(extras, separators=(",", ":")) if extras else "{}"
        return tuple(row)

    @property
    def row(self) -> tuple:
        """The database row, in :data:`EVENT_COLUMNS` order."""
        return self._row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LearningEvent:
        """Rebuild an event from a database row (a mapping of column -> value)."""
        event_type = EventType(row["type"])
        payload: dict[str, Any] = dict(json.loads(row["payload"] or "{}"))
        for key, spec in PAYLOAD_SCHEMAS[event_type].items():
            if spec.column is None:
                continue
            value = row[spec.column]
            if value is None:
                continue
            if spec.check in (_boolean,):
                value = bool(value)
            elif spec.check in (_count, _side, _version):
                value = int(value)
            payload[key] = value
        return cls(
            type=event_type,
            run_id=row["run_id"],
            ts=pd.Timestamp(int(row["ts"]), tz="UTC"),
            payload=payload,
            event_id=row["event_id"],
            recorded_at=pd.Timestamp(int(row["recorded_at"]), tz="UTC"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (times as ISO 8601 strings)."""
        return {
            "event_id": self.event_id,
            "run_id": self.run_id,
            "type": self.type.value,
            "ts": self.ts.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "payload": dict(self.payload),
        }

    # Convenience constructors for the two high-volume types --------------------------

    @classmethod
    def signal(cls, *, run_id: str | None, ts: Any, **payload: Any) -> LearningEvent:
        """A ``SIGNAL_GENERATED`` event (fields as keyword arguments)."""
        return cls(EventType.SIGNAL_GENERATED, run_id, ts, payload)

    @classmethod
    def outcome(cls, *, run_id: str | None, ts: Any, **payload: Any) -> LearningEvent:
        """A ``SIGNAL_ACCURACY`` event (fields as keyword arguments)."""
        return cls(EventType.SIGNAL_ACCURACY, run_id, ts, payload)


# --------------------------------------------------------------------------- columnar rows


def _column(frame: pd.DataFrame, name: str, *, required: bool) -> np.ndarray | None:
    if name not in frame.columns:
        if required:
            raise PayloadError(
                f"{name}: column missing; columns present: {', '.join(frame.columns)}"
            )
        return None
    return frame[name].to_numpy()


def _check_rows(bad: np.ndarray, frame: pd.DataFrame, name: str, values: np.ndarray, rule: str):
    idx = np.flatnonzero(bad)
    if idx.size:
        i = idx[0]
        value = values[i].item() if isinstance(values[i], np.generic) else values[i]
        raise PayloadError(
            f"{name}: {rule}; row {frame.index[i]!r} has {value!r} ({idx.size} such row(s))"
        )


def _float_column(
    frame: pd.DataFrame,
    name: str,
    *,
    required: bool,
    low: float | None = None,
    high: float | None = None,
    rule: str = "",
) -> list[Any] | None:
    raw = _column(frame, name, required=required)
    if raw is None:
        return None
    try:
        values = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise PayloadError(f"{name}: expected numbers; fix the non-numeric values") from None
    missing = np.isnan(values)
    if required:
        _check_rows(missing, frame, name, values, "a value is required")
    _check_rows(np.isinf(values), frame, name, values, "expected a finite number")
    ok = values[~missing]
    if low is not None or high is not None:
        bad = np.zeros(values.shape, dtype=bool)
        if low is not None:
            bad |= values < low
        if high is not None:
            bad |= values > high
        _check_rows(bad & ~missing, frame, name, values, rule)
    del ok
    out = values.astype(object)
    out[missing] = None
    return out.tolist()


def _ns_column(frame: pd.DataFrame, name: str) -> list[int]:
    if name not in frame.columns:
        raise PayloadError(f"{name}: column missing; columns present: {', '.join(frame.columns)}")
    raw = frame[name]
    stamps = pd.to_datetime(raw, utc=True, errors="coerce")
    missing = stamps.isna().to_numpy()
    if missing.any():  # only then build the object array the message needs
        _check_rows(missing, frame, name, raw.to_numpy(dtype=object), "expected a time")
    return stamps.astype("datetime64[ns, UTC]").array.asi8.tolist()


def _ids(prefix: str, n: int) -> list[str]:
    """``n`` event ids that share a time prefix and count up (index-friendly)."""
    base = f"{time.time_ns():016x}{os.urandom(3).hex()}{prefix}"
    return [f"{base}{i:08x}" for i in range(n)]


def signal_rows(
    run_id: str,
    frame: pd.DataFrame,
    *,
    recorded_at: pd.Timestamp | None = None,
    extra_columns: tuple[str, ...] = (),
) -> Iterator[tuple]:
    """Rows of ``SIGNAL_GENERATED`` events from a frame, validated by column.

    Parameters
    ----------
    run_id : str
        Run the signals belong to.
    frame : DataFrame, shape (n_signals, ...)
        Columns ``signal_id``, ``ts``, ``symbol``, ``side`` (+1/-1), ``confidence``
        (in [0, 1]) and, optionally, ``calibrated_probability``,
        ``num_agreeing_models``, ``market_volatility``, ``signal_strength``,
        ``holding_days``, ``applied_threshold``, ``calibrated``.
    recorded_at : Timestamp, optional
        Recording time for every row (now by default).
    extra_columns : tuple of str
        Numeric columns to keep in the JSON payload as features.

    Returns
    -------
    iterator of tuple
        Rows in :data:`EVENT_COLUMNS` order, the same as ``LearningEvent.row``.

    Raises
    ------
    PayloadError
        The first bad value of the first bad column, with its row label.
    """
    n = len(frame)
    ts = _ns_column(frame, "ts")
    ids = [str(v) for v in _column(frame, "signal_id", required=True)]
    symbols = [str(v) for v in _column(frame, "symbol", required=True)]
    side_raw = np.asarray(_column(frame, "side", required=True), dtype=np.float64)
    _check_rows(~np.isin(side_raw, (1.0, -1.0)), frame, "side", side_raw, "expected 1 or -1")
    side = side_raw.astype(np.int64).tolist()
    conf = _float_column(frame, "confidence", required=True, low=0, high=1, rule="expected [0, 1]")
    nan_col = [None] * n
    cal = (
        _float_column(
            frame, "calibrated_probability", required=False, low=0, high=1, rule="expected [0, 1]"
        )
        or nan_col
    )
    agree = (
        _float_column(frame, "num_agreeing_models", required=False, low=0, rule="expected >= 0")
        or nan_col
    )
    agree = [None if v is None else int(v) for v in agree]
    vol = (
        _float_column(frame, "market_volatility", required=False, low=0, rule="expected >= 0")
        or nan_col
    )
    strength = _float_column(frame, "signal_strength", required=False) or nan_col
    hold = (
        _float_column(frame, "holding_days", required=False, low=1e-12, rule="expected > 0")
        or nan_col
    )
    thr = (
        _float_column(
            frame, "applied_threshold", required=False, low=0, high=1, rule="expected [0, 1]"
        )
        or nan_col
    )
    calibrated_raw = _column(frame, "calibrated", required=False)
    calibrated = (
        [0] * n if calibrated_raw is None else np.asarray(calibrated_raw, bool).astype(int).tolist()
    )
    if extra_columns:
        extras = {c: _float_column(frame, c, required=True) for c in extra_columns}
        payloads = [
            json.dumps({c: extras[c][i] for c in extra_columns}, separators=(",", ":"))
            for i in range(n)
        ]
    else:
        payloads = ["{}"] * n
    rec = [_ns(recorded_at if recorded_at is not None else pd.Timestamp.now(tz="UTC"))] * n
    none = [None] * n
    return zip(
        _ids("s", n), [run_id] * n, ["SIGNAL_GENERATED"] * n, ts, rec, symbols, ids, side, conf,
        cal, agree, vol, strength, hold, thr, calibrated, none, none, payloads, strict=True,
    )  # fmt: skip


def outcome_rows(
    run_id: str,
    frame: pd.DataFrame,
    *,
    recorded_at: pd.Timestamp | None = None,
) -> Iterator[tuple]:
    """Rows of ``SIGNAL_ACCURACY`` events from a frame, validated by column.

    Parameters
    ----------
    run_id : str
        Run the outcomes belong to.
    frame : DataFrame, shape (n_outcomes, ...)
        Columns ``signal_id``, ``ts`` (the exit time), ``return_pct`` (percent,
        finite) and optionally ``win`` (must equal ``return_pct > 0``; derived
        when absent), ``symbol``, ``confidence_used``, ``applied_threshold``,
        ``calibrated``.
    recorded_at : Timestamp, optional
        Recording time for every row (now by default).

    Returns
    -------
    iterator of tuple
        Rows in :data:`EVENT_COLUMNS` order.
    """
    n = len(frame)
    ts = _ns_column(frame, "ts")
    ids = [str(v) for v in _column(frame, "signal_id", required=True)]
    sym_raw = _column(frame, "symbol", required=False)
    symbols = [None] * n if sym_raw is None else [str(v) for v in sym_raw]
    ret = _float_column(frame, "return_pct", required=True)
    ret_arr = np.asarray(ret, dtype=np.float64)
    win_raw = _column(frame, "win", required=False)
    derived = ret_arr > 0
    if win_raw is not None:
        win_arr = np.asarray(win_raw, dtype=bool)
        _check_rows(
            win_arr != derived,
            frame,
            "win",
            win_arr,
            "contradicts the sign of return_pct (win must be return_pct > 0)",
        )
    win = derived.astype(int).tolist()
    nan_col = [None] * n
    used = (
        _float_column(
            frame, "confidence_used", required=False, low=0, high=1, rule="expected [0, 1]"
        )
        or nan_col
    )
    thr = (
        _float_column(
            frame, "applied_threshold", required=False, low=0, high=1, rule="expected [0, 1]"
        )
        or nan_col
    )
    calibrated_raw = _column(frame, "calibrated", required=False)
    calibrated = (
        [0] * n if calibrated_raw is None else np.asarray(calibrated_raw, bool).astype(int).tolist()
    )
    rec = [_ns(recorded_at if recorded_at is not None else pd.Timestamp.now(tz="UTC"))] * n
    none = [None] * n
    return zip(
        _ids("o", n), [run_id] * n, ["SIGNAL_ACCURACY"] * n, ts, rec, symbols, ids, none, used,
        none, none, none, none, none, thr, calibrated, ret, win, ["{}"] * n, strict=True,
    )  # fmt: skip


def datetime_to_ns(value: datetime | pd.Timestamp | str) -> int:
    """Nanoseconds since the epoch (UTC) of a datetime-like value."""
    return _ns(to_utc(value))
