"""Private helpers shared by the registry, jobs and drift table classes: times, JSON, events, rows.

Times are UTC; in SQLite INTEGER nanoseconds since the epoch, in Python
``pandas.Timestamp`` (tz-aware).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import pandas as pd

from core.events import EventType, LearningEvent
from core.jsonsafe import json_safe as _json_safe
from core.store.db import Store


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


class _Tables:
    """Base of a table family: holds the :class:`Store` and two row helpers.

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
