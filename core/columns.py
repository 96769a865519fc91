"""The one column table: every typed field of an event and of the trades frame.

Each :class:`Column` says, once, what a field is: its name, its kind (and so
its dtype, SQL type and Arrow type), its bounds, the events column that
stores it, which event types carry it and whether they require it, where the
trades frame takes it from, and the fix a validation message suggests. In
the manner of scikit-learn's ``_parameter_constraints``, everything else is
generated from :data:`COLUMNS`:

- the columns of the ``events`` table (:data:`EVENT_COLUMNS`),
- the payload schema of every event type (``core.events.PAYLOAD_SCHEMAS``)
  and its per-value check (:meth:`Column.check`),
- the whole-column checks (:meth:`Column.violations`, boolean masks; a
  message is built only for the first bad row) used by
  ``core.events.signal_rows`` / ``outcome_rows``, the importer and
  ``core.trades.validate_trades``,
- the trades frame's columns and dtypes (:data:`TRADES_COLUMNS`), the Arrow
  schema of its snapshot (:data:`SNAPSHOT_SCHEMA`) and the SQL that reads it from
  the store's ``trades`` table (:data:`TRADES_SQL`).

The ``events`` table itself is created by migration ``m001`` (applied
migrations are never edited); a test checks that it and this table agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa

from core.errors import PayloadError
from core.jsonsafe import json_safe

__all__ = [
    "COLUMNS",
    "ENVELOPE",
    "EVENT_COLUMNS",
    "RUN",
    "SNAPSHOT_SCHEMA",
    "TRADES_COLUMNS",
    "TRADES_SQL",
    "Column",
    "Kind",
    "carried_by",
]


class Kind(StrEnum):
    """What a column holds; fixes its dtype, SQL type, Arrow type and base check."""

    TEXT = "text"  #: a non-empty string
    FLOAT = "float"  #: a finite float (NaN only as "unknown" where optional)
    COUNT = "count"  #: a whole number (stored as INTEGER, a float64 in the trades frame)
    SIDE = "side"  #: +1 long, -1 short
    BOOL = "bool"  #: true or false (INTEGER 0/1 in SQLite)
    TIME = "time"  #: a UTC time (INTEGER ns since the epoch in SQLite)
    METRICS = "metrics"  #: a mapping of metric name -> number (JSON payload only)


_SQL_TYPES = {Kind.TEXT: "TEXT", Kind.FLOAT: "REAL", Kind.COUNT: "INTEGER", Kind.SIDE: "INTEGER",
              Kind.BOOL: "INTEGER", Kind.TIME: "INTEGER"}  # fmt: skip
#: Arrow type of each kind in a trades snapshot (times as int64 ns, side/win as int8).
_ARROW_TYPES = {Kind.TEXT: pa.string(), Kind.FLOAT: pa.float64(), Kind.COUNT: pa.float64(),
                Kind.SIDE: pa.int8(), Kind.BOOL: pa.int8(), Kind.TIME: pa.int64()}  # fmt: skip
#: dtype of each kind in the trades frame.
_FRAME_DTYPES = {Kind.TEXT: "object", Kind.FLOAT: "float64", Kind.COUNT: "float64",
                 Kind.SIDE: "int8", Kind.BOOL: "bool", Kind.TIME: "datetime64[ns, UTC]"}  # fmt: skip

#: Pseudo event type of ``Column.trades`` for the run id (one value for the whole frame).
RUN = "RUN"
_S, _O, _M = "SIGNAL_GENERATED", "SIGNAL_ACCURACY", "METRIC_RECORDED"
_MODEL_EVENTS = ("MODEL_REGISTERED", "MODEL_EVALUATED", "MODEL_STAGE_CHANGED")
_SIDE_WORDS = {"long": 1, "buy": 1, "short": -1, "sell": -1}


@dataclass(frozen=True)
class Column:
    """One typed field, declared once.

    Parameters
    ----------
    name : str
        Field name in payloads and frames (``ts`` times are named
        ``entry_time`` / ``exit_time`` in the trades frame).
    kind : Kind
        What it holds.
    low, high : float, optional
        Inclusive bounds (``low`` exclusive when ``low_open``).
    noun : str
        What a good value is, for messages ("a probability", "a number").
    fix : str
        What to do about a bad value; ends every validation message.
    sql : str, optional
        The ``events`` column that stores it (None: kept in the JSON payload).
    carried : mapping of str to bool
        Event type -> whether that type requires the field.
    trades : str, optional
        Event type the trades frame takes the value from (``"RUN"`` for the
        run id); None when the field is not a trades-frame column.
    doc : str
        Meaning and unit, for documentation.
    """

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    noun: str = "a number"
    fix: str = ""
    sql: str | None = None
    carried: Mapping[str, bool] = field(default_factory=dict)
    trades: str | None = None
    doc: str = ""

    # ---------------------------------------------------------------- derived texts

    @property
    def bounds(self) -> str:
        """The bounds as messages show them: ``[0, 1]``, ``>= 0``, ``> 0`` or ``""``."""
        if self.low is not None and self.high is not None:
            return f"[{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"<= {self.high:g}"
        return ""

    @property
    def expected(self) -> str:
        """A good value in words: "a probability in [0, 1]", "a number > 0"."""
        if self.kind is Kind.SIDE:
            return "1 (long) or -1 (short)"
        if not self.bounds:
            return self.noun
        joiner = " in " if self.low is not None and self.high is not None else " "
        return f"{self.noun}{joiner}{self.bounds}"

    @property
    def sql_type(self) -> str:
        """SQLite column type."""
        return _SQL_TYPES[self.kind]

    @property
    def arrow_type(self) -> pa.DataType:
        """Arrow type in a trades snapshot."""
        return _ARROW_TYPES[self.kind]

    @property
    def dtype(self) -> str:
        """dtype in the trades frame."""
        return _FRAME_DTYPES[self.kind]

    @property
    def snapshot_name(self) -> str:
        """Name in a trades snapshot and the SQL join (times as ``*_ns`` integers)."""
        return self.name.removesuffix("_time") + "_ns" if self.kind is Kind.TIME else self.name

    def _fail(self, text: str) -> PayloadError:
        return PayloadError(f"{self.name}: {text}" + (f"; {self.fix}" if self.fix else ""))

    # ---------------------------------------------------------------- one value

    def check(self, value: Any, *, name: str | None = None) -> Any:
        """Validate one payload value and return it as stored (Python types).

        Raises
        ------
        PayloadError
            Naming the field, the value and the fix.
        """
        column = self if name is None or name == self.name else _renamed(self, name)
        return _SCALAR_CHECKS[self.kind](column, value)

    def in_bounds(self, x: float) -> bool:
        """Whether a finite ``x`` lies within the bounds."""
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            return False
        return self.high is None or x <= self.high

    def from_sql(self, value: Any) -> Any:
        """A value read from its SQL column back as the payload holds it."""
        if value is None:
            return None
        if self.kind is Kind.BOOL:
            return bool(value)
        if self.kind in (Kind.COUNT, Kind.SIDE):
            return int(value)
        return value

    # ---------------------------------------------------------------- whole columns

    def out_of_bounds(self, values: np.ndarray) -> np.ndarray:
        """Mask of values outside the bounds (NaN is never out of bounds)."""
        bad = np.zeros(values.shape, dtype=bool)
        if self.low is not None:
            bad |= values <= self.low if self.low_open else values < self.low
        if self.high is not None:
            bad |= values > self.high
        return bad

    def violations(
        self, values: np.ndarray, *, required: bool
    ) -> Iterator[tuple[str, str, np.ndarray]]:
        """The rules a float column breaks, lazily, as ``(code, rule, mask)``.

        Parameters
        ----------
        values : ndarray of float64, shape (n,)
            The column, NaN where a value is missing.
        required : bool
            Whether a missing value is a violation.

        Yields
        ------
        code : str
            ``"missing"``, ``"not_finite"``, ``"not_whole"`` or ``"bounds"``.
        rule : str
            The rule in words ("a value is required", "expected [0, 1]" ...).
        mask : ndarray of bool, shape (n,)
            The rows that break it (possibly none). Masks are computed one at
            a time, so a caller that stops at the first bad rule pays for no more.
        """
        if required:
            yield "missing", "a value is required", np.isnan(values)
        yield "not_finite", "expected a finite number", np.isinf(values)
        if self.kind is Kind.COUNT:
            with np.errstate(invalid="ignore"):
                yield (
                    "not_whole",
                    "expected a whole number",
                    np.isfinite(values) & (values != np.floor(values)),
                )
        if self.bounds:
            yield (
                "bounds",
                f"expected {self.bounds}",
                self.out_of_bounds(values) & ~np.isinf(values),
            )


def _renamed(column: Column, name: str) -> Column:
    """``column`` under another name (for nested or aliased messages)."""
    return Column(name, column.kind, column.low, column.high, column.low_open, column.noun,
                  column.fix)  # fmt: skip


# --------------------------------------------------------------------------- scalar checks


def _number(column: Column, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise column._fail(f"expected a number, got {type(value).__name__} {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise PayloadError(
            f"{column.name}: expected a finite number, got {value!r}; "
            "leave the field out when unknown"
        )
    return x


def _bounded(column: Column, x: float, value: Any) -> None:
    if not column.in_bounds(x):
        raise column._fail(f"expected {column.expected}, got {value!r}")


def _check_float(column: Column, value: Any) -> float:
    x = _number(column, value)
    _bounded(column, x, value)
    return x


def _check_count(column: Column, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if not (isinstance(value, float | np.floating) and float(value).is_integer()):
            raise column._fail(f"expected a whole number, got {type(value).__name__} {value!r}")
    _bounded(column, float(value), value)
    return int(value)


def _check_side(column: Column, value: Any) -> int:
    if isinstance(value, str) and value.lower() in _SIDE_WORDS:
        return _SIDE_WORDS[value.lower()]
    number = not isinstance(value, bool) and isinstance(
        value, int | np.integer | float | np.floating
    )
    if number and value in (1, -1):
        return int(value)
    raise column._fail(f"expected {column.expected}, got {value!r}")


def _check_bool(column: Column, value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer) and value in (0, 1):
        return bool(value)
    raise column._fail(f"expected true or false, got {type(value).__name__} {value!r}")


def _check_text(column: Column, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise column._fail(f"expected a non-empty string, got {value!r}")
    return value


def _check_time(column: Column, value: Any) -> Any:
    raise column._fail("times are part of the event envelope, not of its payload")


def _check_metrics(column: Column, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise column._fail(f"expected a mapping of metric name to number, got {value!r}")
    for key, v in value.items():
        if not (v is None or isinstance(v, str | bool | int | float | np.integer | np.floating)):
            raise PayloadError(
                f"{column.name}.{key}: expected a number, got {type(v).__name__} {v!r}"
            )
    # Infinite metrics (a profit factor without losses) travel as "inf", never as null.
    return json_safe(value)


_SCALAR_CHECKS = {Kind.FLOAT: _check_float, Kind.COUNT: _check_count, Kind.SIDE: _check_side,
                  Kind.BOOL: _check_bool, Kind.TEXT: _check_text, Kind.TIME: _check_time,
                  Kind.METRICS: _check_metrics}  # fmt: skip


# --------------------------------------------------------------------------- the table

_PROB = dict(kind=Kind.FLOAT, low=0.0, high=1.0, noun="a probability",
             fix="rescale the score to a probability")  # fmt: skip
_LEDGER_EVENTS = ("TRIAL_RECORDED", "LEDGER_RESET", "THRESHOLD_SELECTED")
_MODEL = {t: True for t in (*_MODEL_EVENTS, "DRIFT_BASELINE_SET", "DRIFT_ALERT",
                            "TRAINING_JOB_UPDATED")}  # fmt: skip


def _table(*columns: Column) -> Mapping[str, Column]:
    names = [c.name for c in columns]
    if len(set(names)) != len(names):  # a programming error in this module, caught at import
        raise RuntimeError(f"column names repeat in the column table: {names}")
    return MappingProxyType({c.name: c for c in columns})


#: Every typed field, in trades-frame order first. Name -> :class:`Column`.
COLUMNS: Mapping[str, Column] = _table(
    # ---- the trades frame, in its column order
    Column("signal_id", Kind.TEXT, sql="signal_id", carried={_S: True, _O: True}, trades=_S,
           doc="str; unique within its run"),
    Column("run_id", Kind.TEXT, sql="run_id", trades=RUN, doc="str"),
    Column("entry_time", Kind.TIME, sql="ts", trades=_S,
           doc="when the signal was generated (market time of the signal bar's close)"),
    Column("exit_time", Kind.TIME, sql="ts", trades=_O,
           doc="when the outcome became known; NaT when unknown"),
    Column("symbol", Kind.TEXT, sql="symbol", carried={_S: True, _O: False}, trades=_S, doc="str"),
    Column("side", Kind.SIDE, sql="side", carried={_S: True}, trades=_S,
           fix="use 1 (or long/buy) and -1 (or short/sell)", doc="+1 long, -1 short"),
    Column("confidence", **_PROB, sql="confidence", carried={_S: True}, trades=_S,
           doc="the model's raw confidence"),
    Column("calibrated_probability", **_PROB, sql="calibrated_probability", carried={_S: False},
           trades=_S, doc="NaN where no calibrator applied"),
    Column("num_agreeing_models", Kind.COUNT, low=0.0, noun="a whole number",
           sql="num_agreeing_models", carried={_S: False}, trades=_S, doc="NaN when unknown"),
    Column("market_volatility", Kind.FLOAT, low=0.0, sql="market_volatility",
           carried={_S: False}, trades=_S,
           doc="annualised volatility at the signal, a fraction (0.2 = 20 %)"),
    Column("signal_strength", Kind.FLOAT, sql="signal_strength", carried={_S: False}, trades=_S),
    Column("holding_days", Kind.FLOAT, low=0.0, low_open=True, sql="holding_days",
           carried={_S: False}, trades=_S, doc="bars held"),
    Column("applied_threshold", **{**_PROB, "fix": "thresholds are probabilities"},
           sql="applied_threshold", carried={_S: False, _O: False, _M: False}, trades=_S,
           doc="the threshold in force in the run (NaN: none)"),
    Column("return_pct", Kind.FLOAT, sql="return_pct", carried={_O: True}, trades=_O,
           fix="give the return in percent, net of costs (1.5 for +1.5 %)",
           doc="the trade's return net of costs, in percent, signed for the side"),
    Column("win", Kind.BOOL, sql="win", carried={_O: True}, trades=_O, doc="return_pct > 0"),
    # ---- event fields outside the trades frame
    Column("calibrated", Kind.BOOL, sql="calibrated", carried={_S: False, _O: False}),
    Column("confidence_used", **_PROB, sql="confidence", carried={_O: False},
           doc="the score the trade was taken on"),
    Column("outcome", Kind.TEXT, carried={_O: False}, doc="win, loss or flat"),
    Column("baseline", Kind.METRICS, carried={_M: True}),
    Column("filtered", Kind.METRICS, carried={_M: True}),
    Column("improvement", Kind.METRICS, carried={_M: True}),
    Column("confidence_key", Kind.TEXT, carried={_M: False}),
    Column("use_calibration", Kind.BOOL, sql="calibrated", carried={_M: False}),
    Column("model_name", Kind.TEXT, carried=_MODEL),
    Column("version", Kind.COUNT, low=1.0, noun="a whole number", fix="versions start at 1",
           carried={t: True for t in _MODEL_EVENTS}),
    Column("model_type", Kind.TEXT, carried={"MODEL_REGISTERED": True}),
    Column("passed", Kind.BOOL, carried={"MODEL_EVALUATED": True}),
    Column("from_stage", Kind.TEXT, carried={"MODEL_STAGE_CHANGED": True}),
    Column("to_stage", Kind.TEXT, carried={"MODEL_STAGE_CHANGED": True}),
    Column("reason", Kind.TEXT, carried={"MODEL_STAGE_CHANGED": False, "LEDGER_RESET": True,
                                         "THRESHOLD_SELECTED": True}),
    Column("forced", Kind.BOOL, carried={"MODEL_STAGE_CHANGED": False}),
    Column("metric", Kind.TEXT, carried={"DRIFT_ALERT": True}),
    Column("severity", Kind.TEXT, carried={"DRIFT_ALERT": True}),
    Column("job_id", Kind.TEXT, carried={"TRAINING_JOB_UPDATED": True}),
    Column("state", Kind.TEXT, carried={"TRAINING_JOB_UPDATED": True}),
    # ---- the trial ledger (core.lifecycle.ledger)
    Column("signal", Kind.TEXT, carried=dict.fromkeys(_LEDGER_EVENTS, True),
           doc="the signal (strategy) a ledger entry belongs to"),
    Column("kind", Kind.TEXT, carried={"TRIAL_RECORDED": True},
           doc="sweep, grid, rerun, calibrator comparison, parameter change, ..."),
    Column("n_trials", Kind.COUNT, low=0.0, noun="a whole number", carried={"TRIAL_RECORDED": True},
           fix="count the configurations the step evaluated", doc="trials the entry adds"),
)  # fmt: skip


def carried_by(event_type: str) -> dict[str, Column]:
    """The fields ``event_type`` carries, in table order (name -> column)."""
    return {name: c for name, c in COLUMNS.items() if event_type in c.carried}


# --------------------------------------------------------------------------- generated

#: Columns of the ``events`` table every event fills the same way (``id`` is the rowid).
ENVELOPE: tuple[str, ...] = ("event_id", "run_id", "type", "ts", "recorded_at")

#: Columns of the ``events`` table in row order: envelope, typed hot columns, JSON payload.
EVENT_COLUMNS: tuple[str, ...] = (
    *ENVELOPE,
    *dict.fromkeys(c.sql for c in COLUMNS.values() if c.sql and c.sql not in ENVELOPE),
    "payload",
)

#: The trades frame's columns, in order (``core.trades.CORE_COLUMNS`` is their names).
TRADES_COLUMNS: tuple[Column, ...] = tuple(c for c in COLUMNS.values() if c.trades is not None)

_SNAPSHOT_COLUMNS = tuple(c for c in TRADES_COLUMNS if c.trades != RUN)

#: Arrow schema of a trades snapshot (before extra feature columns, all float64).
SNAPSHOT_SCHEMA: pa.Schema = pa.schema([(c.snapshot_name, c.arrow_type) for c in _SNAPSHOT_COLUMNS])

#: Where the ``trades`` table keeps an outcome field whose events column a signal field
#: also uses (``win`` is not stored: it is ``return_pct > 0``).
_TRADES_TABLE_SQL = {"exit_time": "t.exit_ts", "win": "(t.return_pct > 0)"}


def _trades_select(c: Column) -> str:
    expr = _TRADES_TABLE_SQL.get(c.name, f"t.{c.sql}")
    return expr + (f" AS {c.snapshot_name}" if expr != f"t.{c.snapshot_name}" else "")


#: A run's closed trades from the store's ``trades`` table (one row per signal and its
#: outcome), in snapshot column order; ``{extra}`` takes the feature columns, the one
#: parameter the run id.
TRADES_SQL: str = f"""
SELECT {", ".join(_trades_select(c) for c in _SNAPSHOT_COLUMNS)}{{extra}}
FROM trades AS t JOIN runs AS r ON r.key = t.run
WHERE r.id = ? AND t.ts IS NOT NULL AND t.o_id IS NOT NULL
ORDER BY t.ts, t.signal_id
"""
