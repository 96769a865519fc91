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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from core.columns import COLUMNS, ENVELOPE, EVENT_COLUMNS, Column, Kind, carried_by
from core.errors import PayloadError
from core.jsonsafe import json_safe

__all__ = [
    "EVENT_COLUMNS",
    "PAYLOAD_SCHEMAS",
    "EventType",
    "FieldSpec",
    "LearningEvent",
    "TradeColumns",
    "feature_payloads",
    "new_id",
    "outcome_rows",
    "python_values",
    "signal_rows",
    "to_utc",
    "trade_columns",
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
    #: A trial of a signal's research (a sweep, a grid cell, a rerun, a comparison) recorded
    #: in the trial ledger (``core.lifecycle.ledger``): signal, kind, params, n_trials.
    TRIAL_RECORDED = "TRIAL_RECORDED"
    #: The signal's trial ledger starts again from zero: signal, reason.
    LEDGER_RESET = "LEDGER_RESET"
    #: A threshold was chosen for a signal: signal, key, mode, threshold, figures, reason.
    THRESHOLD_SELECTED = "THRESHOLD_SELECTED"


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


@dataclass(frozen=True)
class FieldSpec:
    """One payload field of one event type: its :class:`~core.columns.Column`, and
    whether that type requires it (both generated from :data:`core.columns.COLUMNS`)."""

    column: Column
    required: bool = False

    def check(self, name: str, value: Any) -> Any:
        """Validate ``value`` (see :meth:`Column.check`)."""
        return self.column.check(value, name=name)


#: Payload schema of every event type: field -> :class:`FieldSpec`, generated from
#: :data:`core.columns.COLUMNS`. Fields not named here are kept as JSON (numbers,
#: strings, lists, mappings).
PAYLOAD_SCHEMAS: Mapping[EventType, Mapping[str, FieldSpec]] = MappingProxyType(
    {
        t: MappingProxyType(
            {name: FieldSpec(c, c.carried[t.value]) for name, c in carried_by(t.value).items()}
        )
        for t in EventType
    }
)

_OUTCOMES = ("win", "loss", "flat")


def _outcome_label(return_pct: float) -> str:
    return "win" if return_pct > 0 else "loss" if return_pct < 0 else "flat"


def _unstorable(name: str, value: Any) -> str | None:
    """Why an extra payload value cannot be stored (None when it can)."""
    if value is None or isinstance(value, str | bool | np.bool_ | int | np.integer):
        return None
    if isinstance(value, float | np.floating):
        if math.isfinite(value):
            return None
        return f"{name}: expected a finite number, got {value!r}; leave the field out when unknown"
    if isinstance(value, Mapping):
        items = ((f"{name}.{k}", v) for k, v in value.items())
    elif isinstance(value, list | tuple):
        items = ((f"{name}[{i}]", v) for i, v in enumerate(value))
    else:
        return (
            f"{name}: cannot store a {type(value).__name__} in an event; "
            "use numbers, strings, booleans, lists or mappings"
        )
    return next((why for k, v in items if (why := _unstorable(k, v)) is not None), None)


def _json_value(name: str, value: Any) -> Any:
    """An extra payload value as plain JSON types; non-finite numbers are refused."""
    why = _unstorable(name, value)
    if why is not None:
        raise PayloadError(why)
    return json_safe(value)


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
            clean[key] = spec.column.check(value)
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
            if spec is not None and spec.column.sql is not None:
                row[_COLUMN_INDEX[spec.column.sql]] = (
                    int(value) if isinstance(value, bool) else value
                )
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
            if spec.column.sql is not None and row[spec.column.sql] is not None:
                payload[key] = spec.column.from_sql(row[spec.column.sql])
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

_HOT = EVENT_COLUMNS[len(ENVELOPE) : -1]
#: Per event type: for each hot column (in row order), the field that fills it, or None.
_ROW_FIELDS: dict[str, tuple[Column | None, ...]] = {
    t.value: tuple(
        next((c for c in carried_by(t.value).values() if c.sql == sql), None) for sql in _HOT
    )
    for t in (EventType.SIGNAL_GENERATED, EventType.SIGNAL_ACCURACY)
}


def _raw(frame: pd.DataFrame, name: str, *, required: bool) -> pd.Series | None:
    if name not in frame.columns:
        if required:
            raise PayloadError(
                f"{name}: column missing; columns present: {', '.join(map(str, frame.columns))}"
            )
        return None
    return frame[name]


def _raise_rows(
    frame: pd.DataFrame, name: str, rule: str, bad: np.ndarray, values: np.ndarray, fix: str = ""
) -> None:
    """Raise :class:`PayloadError` naming the first row of ``bad`` (when there is one)."""
    idx = np.flatnonzero(bad)
    if idx.size:
        i = idx[0]
        value = values[i].item() if isinstance(values[i], np.generic) else values[i]
        raise PayloadError(
            f"{name}: {rule}; row {frame.index[i]!r} has {value!r} ({idx.size} such row(s))"
            + (f"; {fix}" if fix else "")
        )


def _floats(frame: pd.DataFrame, name: str, series: pd.Series) -> np.ndarray:
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise PayloadError(f"{name}: expected numbers; fix the non-numeric values") from None


def python_values(values: np.ndarray, missing: np.ndarray, *, whole: bool = False) -> list[Any]:
    """``values`` as a list of Python numbers with None where ``missing`` (as SQL binds them)."""
    if whole:
        values = np.where(missing, 0, values).astype(np.int64)
    if not missing.any():
        return values.tolist()
    out = values.astype(object)
    out[missing] = None
    return out.tolist()


def _column_values(frame: pd.DataFrame, column: Column, *, required: bool) -> list[Any]:
    """One validated column of ``frame`` as the SQL column stores it (None when unknown)."""
    if column.kind is Kind.TEXT:
        return _text_values(frame, column, required=required)
    return _sql_values(column, _number_array(frame, column, required=required), len(frame))


def _text_values(frame: pd.DataFrame, column: Column, *, required: bool) -> list[Any]:
    """A validated text column as Python strings (None where unknown; all None when absent)."""
    name = column.name
    series = _raw(frame, name, required=required)
    if series is None:
        return [None] * len(frame)
    missing = (series.isna() | (series == "")).to_numpy(dtype=bool)
    if required and missing.any():
        values = series.to_numpy(dtype=object)
        _raise_rows(frame, name, "a value is required", missing, values, column.fix)
    texts = series.tolist()
    if series.dtype == object:
        already = pd.api.types.infer_dtype(texts, skipna=True) == "string"
    else:
        already = pd.api.types.is_string_dtype(series.dtype)
    if not already:
        texts = [str(v) for v in texts]
    for i in np.flatnonzero(missing):
        texts[i] = None
    return texts


def _number_array(frame: pd.DataFrame, column: Column, *, required: bool) -> np.ndarray | None:
    """A validated numeric column as float64 (NaN where unknown; a side as +-1.0), a
    true/false one as bool; None when ``frame`` has no such (optional) column."""
    name = column.name
    series = _raw(frame, name, required=required)
    if series is None:
        return None
    if column.kind is Kind.BOOL:
        return _booleans(frame, name, series)
    values = _floats(frame, name, series)
    if column.kind is Kind.SIDE:
        _raise_rows(frame, name, "expected 1 or -1", ~np.isin(values, (1.0, -1.0)), values,
                    column.fix)  # fmt: skip
        return values
    for _code, rule, bad in column.violations(values, required=required):
        _raise_rows(frame, name, rule, bad, values, column.fix)
    return values


def _sql_values(column: Column, values: np.ndarray | None, n: int) -> list[Any]:
    """A column from :func:`_number_array` as SQL binds it: Python numbers, None where unknown
    (a missing true/false column is all 0)."""
    if values is None:
        return [0] * n if column.kind is Kind.BOOL else [None] * n
    if column.kind in (Kind.BOOL, Kind.SIDE):
        return values.astype(np.int64).tolist()
    return python_values(values, np.isnan(values), whole=column.kind is Kind.COUNT)


def _booleans(frame: pd.DataFrame, name: str, series: pd.Series) -> np.ndarray:
    """A true/false column (bool, or numbers 0/1) as a bool array."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=bool)
    values = _floats(frame, name, series)
    _raise_rows(frame, name, "expected true or false", ~np.isin(values, (0.0, 1.0)), values)
    return values.astype(bool)


def _ns_column(frame: pd.DataFrame, name: str) -> list[int]:
    return _ns_array(frame, name).tolist()


def _ns_array(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A required time column as int64 nanoseconds since the epoch (UTC)."""
    raw = _raw(frame, name, required=True)
    stamps = pd.to_datetime(raw, utc=True, errors="coerce")
    missing = stamps.isna().to_numpy()
    if missing.any():  # only then build the object array the message needs
        _raise_rows(frame, name, "expected a time", missing, raw.to_numpy(dtype=object))
    return stamps.astype("datetime64[ns, UTC]").array.asi8


def _ids(prefix: str, n: int) -> list[str]:
    """``n`` event ids that share a time prefix and count up (index-friendly)."""
    base = f"{time.time_ns():016x}{os.urandom(3).hex()}{prefix}"
    return [f"{base}{i:08x}" for i in range(n)]


def _event_rows(
    event_type: EventType,
    run_id: str,
    frame: pd.DataFrame,
    *,
    recorded_at: pd.Timestamp | None,
    extra_columns: tuple[str, ...] = (),
    derived: Mapping[str, list[Any]] | None = None,
) -> Iterator[tuple]:
    """Rows of ``event_type`` from a frame: every carried column validated whole."""
    n = len(frame)
    ts = _ns_column(frame, "ts")
    derived = derived or {}
    hot = [
        [None] * n if c is None
        else derived[c.name] if c.name in derived
        else _column_values(frame, c, required=c.carried[event_type.value])
        for c in _ROW_FIELDS[event_type.value]
    ]  # fmt: skip
    if extra_columns:
        payloads = _payloads({c: _extra_values(frame, c) for c in extra_columns}, n)
    else:
        payloads = ["{}"] * n
    rec = _ns(recorded_at if recorded_at is not None else pd.Timestamp.now(tz="UTC"))
    prefix = "s" if event_type is EventType.SIGNAL_GENERATED else "o"
    return zip(_ids(prefix, n), [run_id] * n, [event_type.value] * n, ts, [rec] * n, *hot,
               payloads, strict=True)  # fmt: skip


def _extra_values(frame: pd.DataFrame, name: str) -> list[Any]:
    """A feature column: finite numbers, None where unknown."""
    values = _extra_array(frame, name)
    return python_values(values, np.isnan(values))


def _extra_array(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A feature column as float64: finite numbers, NaN where unknown."""
    values = _floats(frame, name, _raw(frame, name, required=True))
    _raise_rows(frame, name, "expected a finite number", np.isinf(values), values,
                "leave the cell empty when unknown")  # fmt: skip
    return values


def _payloads(extras: Mapping[str, list[Any]], n: int) -> list[str]:
    """One JSON payload a row from feature columns (lists of numbers, None: unknown)."""
    names = list(extras)
    return [json.dumps({c: extras[c][i] for c in names}, separators=(",", ":")) for i in range(n)]


def feature_payloads(features: Mapping[str, np.ndarray]) -> list[str]:
    """The JSON payload of each row from validated float feature columns (NaN: unknown),
    exactly as :func:`signal_rows` and :func:`trade_columns` write it."""
    n = len(next(iter(features.values()))) if features else 0
    return _payloads({c: python_values(v, np.isnan(v)) for c, v in features.items()}, n)


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
        Columns ``ts`` and the fields :data:`core.columns.COLUMNS` declares for
        ``SIGNAL_GENERATED``: ``signal_id``, ``symbol``, ``side`` (+1/-1),
        ``confidence`` (in [0, 1]) and, optionally, ``calibrated_probability``,
        ``num_agreeing_models``, ``market_volatility``, ``signal_strength``,
        ``holding_days``, ``applied_threshold``, ``calibrated``.
    recorded_at : Timestamp, optional
        Recording time for every row (now by default).
    extra_columns : tuple of str
        Numeric columns to keep in the JSON payload as features (NaN: unknown).

    Returns
    -------
    iterator of tuple
        Rows in :data:`EVENT_COLUMNS` order, the same as ``LearningEvent.row``.

    Raises
    ------
    PayloadError
        The first bad value of the first bad column, with its row label and the fix.
    """
    return _event_rows(EventType.SIGNAL_GENERATED, run_id, frame, recorded_at=recorded_at,
                       extra_columns=extra_columns)  # fmt: skip


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

    Raises
    ------
    PayloadError
        The first bad value of the first bad column, with its row label and the fix.
    """
    returns = _column_values(frame, COLUMNS["return_pct"], required=True)
    derived = frame["return_pct"].to_numpy(dtype=np.float64) > 0
    if "win" in frame.columns:
        win = _booleans(frame, "win", frame["win"])
        _raise_rows(frame, "win", "contradicts the sign of return_pct (win must be return_pct > 0)",
                    win != derived, win)  # fmt: skip
    return _event_rows(
        EventType.SIGNAL_ACCURACY, run_id, frame, recorded_at=recorded_at,
        derived={"return_pct": returns, "win": derived.astype(np.int64).tolist()},
    )  # fmt: skip


# --------------------------------------------------------------------------- trade columns

#: Outcome fields and the ``trades`` table column each fills (signal fields keep their
#: ``events`` column name there).
_OUTCOME_SQL = {"ts": "exit_ts", "symbol": "o_symbol", "confidence": "confidence_used",
                "applied_threshold": "o_applied_threshold", "calibrated": "o_calibrated",
                "return_pct": "return_pct"}  # fmt: skip


@dataclass(frozen=True)
class TradeColumns:
    """A run's signals joined to their outcomes, validated (:func:`trade_columns`).

    Attributes
    ----------
    columns : dict of str to list
        ``trades`` column name -> one Python value a signal (None where unknown; outcome
        columns None for an open signal), as :meth:`core.store.Store.insert_trade_columns`
        binds them. An outcome column equal to its signal's (``o_symbol`` and ``symbol``
        ...) is the same list, which the store binds once.
    closed : ndarray of bool, shape (n_signals,)
        True where the signal has its outcome.
    arrays : dict of str to ndarray or list
        The same values by trades-snapshot column name (``signal_id``, ``entry_ns``,
        ``exit_ns``, ``symbol``, ``side``, ``confidence`` ..., ``return_pct`` and the
        features), one a signal: text as lists of str, numbers as numpy arrays (NaN where
        unknown or open). What the store's snapshot of the run is built from.
    """

    columns: dict[str, list[Any]]
    closed: np.ndarray
    arrays: dict[str, Any]


def trade_columns(
    signals: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    extra_columns: tuple[str, ...] = (),
    signal_index: np.ndarray | None = None,
) -> TradeColumns | None:
    """A run's signals joined to their outcomes as columns of the store's ``trades`` table.

    Both frames are validated whole, exactly as :func:`signal_rows` and
    :func:`outcome_rows` validate them. Columns the frames do not have (all unknown)
    are left out, so the store binds nothing for them.

    Parameters
    ----------
    signals, outcomes : DataFrame
        As :func:`signal_rows` and :func:`outcome_rows` take them; every outcome's
        ``signal_id`` must name one signal, and ids must not repeat.
    extra_columns : tuple of str
        Feature columns of ``signals``, kept in the signal's JSON payload.
    signal_index : ndarray of int, shape (n_outcomes,), optional
        The row of ``signals`` each outcome belongs to, when the caller knows it (a
        backtest does): no join by id. The outcomes' ``signal_id`` (if given) must
        still be those signals' ids.

    Returns
    -------
    TradeColumns or None
        None when the outcomes do not pair one to one with signals (repeated or
        unknown ids, or a ``signal_index`` that disagrees): write events then.

    Raises
    ------
    PayloadError
        The first bad value of the first bad column, with its row label and the fix.
    """
    n = len(signals)
    sid = _column_values(signals, COLUMNS["signal_id"], required=True)
    if signal_index is None:
        o_sid = _column_values(outcomes, COLUMNS["signal_id"], required=True)
        index = pd.Index(sid)
        if not index.is_unique or len(set(o_sid)) != len(o_sid):
            return None
        where = index.get_indexer(o_sid)
        if (where < 0).any():
            return None
    else:
        where = np.asarray(signal_index, dtype=np.int64)
        if where.shape != (len(outcomes),) or ((where < 0) | (where >= n)).any():
            return None
        if len(set(sid)) != n:
            return None
        if "signal_id" in outcomes.columns:
            o_sid = _column_values(outcomes, COLUMNS["signal_id"], required=True)
            if np.asarray(sid, dtype=object)[where].tolist() != o_sid:
                return None
    closed = np.zeros(n, dtype=bool)
    closed[where] = True
    if int(closed.sum()) != len(where):  # two outcomes for one signal
        return None
    entry = _ns_array(signals, "ts")
    columns: dict[str, list[Any]] = {"signal_id": sid, "ts": entry.tolist()}
    arrays: dict[str, Any] = {"signal_id": sid, "entry_ns": entry}
    for c in _ROW_FIELDS[_S]:
        if c is None or c.name == "signal_id" or c.name not in signals.columns:
            continue
        if c.kind is Kind.TEXT:
            columns[c.sql] = arrays[c.name] = _text_values(signals, c, required=c.carried[_S])
        else:
            values = _number_array(signals, c, required=c.carried[_S])
            columns[c.sql] = _sql_values(c, values, n)
            arrays[c.name] = values
    if extra_columns:
        features = {c: _extra_array(signals, c) for c in extra_columns}
        columns["payload"] = feature_payloads(features)
        arrays.update(features)
    returns = _number_array(outcomes, COLUMNS["return_pct"], required=True)
    derived = returns > 0
    if "win" in outcomes.columns:
        win = _booleans(outcomes, "win", outcomes["win"])
        _raise_rows(outcomes, "win", "contradicts the sign of return_pct (win must be return_pct "
                    "> 0)", win != derived, win)  # fmt: skip
    found: dict[str, Any] = {"ts": _ns_array(outcomes, "ts"), "return_pct": returns}
    for c in _ROW_FIELDS[_O]:
        if c is not None and c.sql in _OUTCOME_SQL and c.sql not in found:
            if c.name in outcomes.columns:
                if c.kind is Kind.TEXT:
                    found[c.sql] = _text_values(outcomes, c, required=c.carried[_O])
                else:
                    found[c.sql] = _number_array(outcomes, c, required=c.carried[_O])
    identity = len(where) == n and bool((where == np.arange(n)).all())
    for sql, values in found.items():
        name = _OUTCOME_SQL[sql]
        if sql in columns and _same(columns, arrays, sql, values, where, identity):
            # An outcome field equal to its signal's (symbol, confidence ...): the same list,
            # which the store binds once (Store.insert_trade_columns).
            columns[name] = columns[sql]
        elif isinstance(values, list):
            if identity:
                columns[name] = values
            else:
                full = np.full(n, None, dtype=object)
                full[where] = values
                columns[name] = full.tolist()
        else:
            spread = np.zeros(n, dtype=values.dtype)
            spread[where] = values
            if sql == "ts":
                columns[name] = python_values(spread, ~closed)
                arrays["exit_ns"] = spread
            elif values.dtype == bool:
                columns[name] = python_values(spread.astype(np.int64), ~closed)
            else:
                spread[~closed] = np.nan
                columns[name] = python_values(spread, np.isnan(spread))
                if sql == "return_pct":
                    arrays["return_pct"] = spread
    return TradeColumns(columns, closed, arrays)


def _same(
    columns: Mapping[str, list[Any]],
    arrays: Mapping[str, Any],
    sql: str,
    values: list[Any] | np.ndarray,
    where: np.ndarray,
    identity: bool,
) -> bool:
    """Whether an outcome column holds, for each outcome, its signal's value of ``sql``."""
    if isinstance(values, list):
        signal = columns[sql]
        return signal == values if identity else [signal[i] for i in where] == values
    signal = arrays.get(sql)
    if not isinstance(signal, np.ndarray) or signal.dtype != values.dtype:
        return False
    return bool(np.array_equal(signal[where], values, equal_nan=values.dtype != bool))


_S, _O = EventType.SIGNAL_GENERATED.value, EventType.SIGNAL_ACCURACY.value
