"""The Events page and the import of signal logs (plus a synthetic log for demos)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.csvsafe import csv_bytes
from core.dashboard._common import describe_errors
from core.dashboard.server import UploadSpace
from core.errors import ImportFileError, ValidationError
from core.importer import ImportResult, import_signal_log
from core.store import Store

__all__ = [
    "ImportPreview",
    "events_csv",
    "events_page",
    "import_upload",
    "preview_upload",
    "synthetic_signal_log",
]


# --------------------------------------------------------------------------- events


def events_page(
    store: Store,
    *,
    run_id: str | None = None,
    event_type: str | None = None,
    symbol: str | None = None,
    since: Any = None,
    until: Any = None,
    page: int = 1,
    page_size: int = 100,
) -> tuple[pd.DataFrame, int]:
    """One page of raw events matching the filters, and how many match in all.

    ``page`` is 1-based (clamped to the pages there are); columns empty on the
    page are dropped.
    """
    if page_size < 1:
        raise ValidationError(f"page size must be >= 1, got {page_size!r}")
    filters = {"run_id": run_id, "event_type": event_type, "symbol": symbol or None,
               "since": since, "until": until}  # fmt: skip
    total = store.count_events(**filters)
    n_pages = max(math.ceil(total / page_size), 1)
    page = min(max(int(page), 1), n_pages)
    frame = store.events_frame(**filters, limit=page_size, offset=(page - 1) * page_size)
    first = [c for c in _EVENT_ORDER if c in frame.columns]
    ordered = first + [c for c in frame.columns if c not in first]
    keep = [c for c in ordered if c in ("ts", "type", "run_id") or frame[c].notna().any()]
    return frame[keep], total


#: Columns of the events table worth reading first.
_EVENT_ORDER = ("ts", "type", "symbol", "signal_id", "side", "confidence",
                "calibrated_probability", "return_pct", "win", "applied_threshold")  # fmt: skip


def events_csv(
    store: Store,
    *,
    run_id: str | None = None,
    event_type: str | None = None,
    symbol: str | None = None,
    since: Any = None,
    until: Any = None,
) -> bytes:
    """Every event matching the filters as UTF-8 CSV (times ISO 8601, UTC).

    Text cells that a spreadsheet would read as a formula are neutralised
    (:func:`core.csvsafe.csv_bytes`).
    """
    frame = store.events_frame(
        run_id=run_id, event_type=event_type, symbol=symbol or None, since=since, until=until
    )
    return csv_bytes(frame)


# --------------------------------------------------------------------------- import


@dataclass(frozen=True)
class ImportPreview:
    """What importing an uploaded file would do, before anything is written.

    ``result`` is the dry run when some rows can be imported (None otherwise);
    ``row_errors`` lists every bad row (row numbers as a spreadsheet shows
    them); ``error`` is the message when nothing would be imported.
    """

    path: Path
    result: ImportResult | None
    row_errors: pd.DataFrame
    error: str | None

    @property
    def importable(self) -> bool:
        return self.result is not None and self.result.n_imported > 0


def _row_error_frame(errors: Sequence[Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {"row": [e.row for e in errors], "reason": [e.reason for e in errors]},
        columns=["row", "reason"],
    )


def preview_upload(
    store: Store, name: str, content: bytes, *, space: UploadSpace, skip_bad_rows: bool = False
) -> ImportPreview:
    """Dry-run an uploaded signal log: the normalised rows and every bad row; nothing written.

    The file is saved in the session's own ``space`` under a unique name; the caller
    discards it (:meth:`UploadSpace.discard`) when the preview is superseded, and
    :func:`import_upload` deletes it after the import.
    """
    path = space.save(name, content)
    try:
        result = import_signal_log(path, store=store, skip_bad_rows=skip_bad_rows, dry_run=True)
    except ImportFileError as exc:
        return ImportPreview(path, None, _row_error_frame(exc.row_errors), describe_errors(exc))
    return ImportPreview(path, result, _row_error_frame(result.row_errors), None)


def import_upload(
    store: Store,
    path: str | Path,
    *,
    space: UploadSpace,
    skip_bad_rows: bool = False,
    name: str | None = None,
    signal: str | None = None,
) -> ImportResult:
    """Import a previewed upload as a new run of ``signal`` (one transaction); the file is deleted after."""
    try:
        return import_signal_log(
            path, store=store, skip_bad_rows=skip_bad_rows, name=name, signal=signal
        )
    finally:
        space.discard(path)


def synthetic_signal_log(n: int, *, seed: int = 0, start: str = "2015-01-02") -> pd.DataFrame:
    """A seeded, *synthetic* signal log whose confidence carries some information.

    One row per signal (``timestamp``, ``symbol``, ``side``, ``confidence``,
    ``return_pct``, ``holding_days``): the win probability rises from 0.42 to
    0.62 across the confidence range (so the raw score is over-confident), and
    two thirds of the way through the edge halves, so the drift page has
    something to find. For demos, tests and benchmarks only.
    """
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.arange(n) * 37, unit="min")
    confidence = rng.beta(2.5, 2.5, n)
    p_win = 0.42 + 0.2 * confidence
    late = np.arange(n) >= (2 * n) // 3
    p_win = np.where(late, 0.5 + (p_win - 0.5) * 0.5, p_win)
    win = rng.random(n) < p_win
    size = rng.gamma(2.0, 0.6, n) + 0.01
    returns = np.where(win, size, -size * 0.95).round(6)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "symbol": rng.choice(["SYN000", "SYN001", "SYN002", "SYN003"], n),
            "side": rng.choice(np.array([1, -1]), n),
            "confidence": confidence.round(6),
            "return_pct": returns,
            "holding_days": np.full(n, 5.0),
        }
    )
