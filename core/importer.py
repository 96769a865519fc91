"""Import a researcher's own signal log (CSV or Parquet) as a run of events.

The file needs, per row, a timestamp, a symbol, a confidence in [0, 1] and
either ``return_pct`` or an entry and an exit price. Optional: ``side``
(long/short, buy/sell, 1/-1; long by default), ``holding_days``, ``exit_time``,
``signal_id``. Any other numeric column is kept as a feature. Column names are
matched case-insensitively, with common aliases (``date``, ``ticker``,
``return``, ``entry_price`` ...).

Every bad row is reported with its row number as a spreadsheet shows it (the
header is row 1) and the reason. A file with bad rows imports nothing unless
``skip_bad_rows=True``. The import is one transaction: the run and all its
events are committed together, or nothing is (a crash or Ctrl-C included).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.columns import COLUMNS, Column
from core.errors import ImportFileError, RowError
from core.events import outcome_rows, signal_rows
from core.store import Store
from core.store.db import trades_table

__all__ = ["ALIASES", "ImportResult", "import_signal_log", "read_signal_log"]

#: Canonical column -> accepted spellings (compared lower-case, without spaces/_/-).
ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "ts", "time", "date", "datetime", "entry_time", "entrytime",
                  "entry_date", "signal_time"),
    "symbol": ("symbol", "ticker", "asset", "instrument"),
    "confidence": ("confidence", "score", "conf", "signal_confidence"),
    "return_pct": ("return_pct", "returnpct", "return", "ret", "return_percent", "pnl_pct"),
    "entry_price": ("entry_price", "entryprice", "entry", "price_in"),
    "exit_price": ("exit_price", "exitprice", "exit", "price_out"),
    "side": ("side", "direction", "position"),
    "holding_days": ("holding_days", "holdingdays", "hold_days", "holding_period", "days_held"),
    "exit_time": ("exit_time", "exittime", "exit_date", "exit_timestamp", "closed_at"),
    "signal_id": ("signal_id", "signalid", "id"),
}  # fmt: skip
_SIDES = {"long": 1, "buy": 1, "1": 1, "+1": 1, "1.0": 1, "short": -1, "sell": -1, "-1": -1,
          "-1.0": -1}  # fmt: skip


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(name).strip().lower())


@dataclass(frozen=True)
class ImportResult:
    """What an import did.

    Attributes
    ----------
    run_id : str or None
        The new run (None when ``dry_run``).
    n_rows : int
        Data rows in the file.
    n_imported : int
        Signals imported (each with its outcome).
    n_skipped : int
        Bad rows skipped (only with ``skip_bad_rows``).
    row_errors : tuple of RowError
        Every bad row found.
    features : tuple of str
        Extra numeric columns kept as features.
    ignored_columns : tuple of str
        Non-numeric extra columns that were not kept.
    preview : DataFrame
        The normalised rows that were (or would be) imported.
    """

    run_id: str | None
    n_rows: int
    n_imported: int
    n_skipped: int
    row_errors: tuple[RowError, ...]
    features: tuple[str, ...]
    ignored_columns: tuple[str, ...]
    preview: pd.DataFrame = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "n_rows": self.n_rows,
            "n_imported": self.n_imported,
            "n_skipped": self.n_skipped,
            "row_errors": [{"row": e.row, "reason": e.reason} for e in self.row_errors],
            "features": list(self.features),
            "ignored_columns": list(self.ignored_columns),
        }


def read_signal_log(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file as raw strings/values (no validation yet)."""
    path = Path(path)
    if not path.exists():
        raise ImportFileError(f"{path}: no such file; check the path")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".tsv"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ImportFileError(
            f"{path}: cannot read the file ({exc}); is it a valid {suffix[1:]} file?"
        ) from None
    raise ImportFileError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")


def _map_columns(raw: pd.DataFrame, source: str) -> dict[str, str]:
    """Canonical name -> column in ``raw``; raises when a required one is missing."""
    by_norm: dict[str, str] = {}
    for column in raw.columns:
        by_norm.setdefault(_norm(column), column)
    found: dict[str, str] = {}
    for canonical, aliases in ALIASES.items():
        for alias in aliases:
            if _norm(alias) in by_norm:
                found[canonical] = by_norm[_norm(alias)]
                break
    missing = [c for c in ("timestamp", "symbol", "confidence") if c not in found]
    has_return = "return_pct" in found or ("entry_price" in found and "exit_price" in found)
    if missing or not has_return:
        need = missing + ([] if has_return else ["return_pct (or entry_price and exit_price)"])
        raise ImportFileError(
            f"{source}: missing required column(s): {', '.join(need)}. "
            f"Columns found: {', '.join(map(str, raw.columns))}. Rename them (aliases accepted: "
            "date/time for timestamp, ticker for symbol, score for confidence, return for return_pct)"
        )
    return found


def _show(value: Any) -> str:
    """A cell's value as a user would recognise it in the file."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "(empty)"
    return repr(value.item() if isinstance(value, np.generic) else value)


def _problem(column: Column, code: str) -> str:
    """A rule of :meth:`Column.violations` as a row of a file breaks it."""
    if code == "bounds":
        two_sided = column.low is not None and column.high is not None
        return f"is outside {column.bounds}" if two_sided else f"must be {column.expected}"
    return {"missing": "is not a number", "not_finite": "is not a finite number",
            "not_whole": "is not a whole number"}[code]  # fmt: skip


def _numeric(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def import_signal_log(
    path: str | Path,
    *,
    store: Store,
    skip_bad_rows: bool = False,
    name: str | None = None,
    signal: str | None = None,
    dry_run: bool = False,
    on_progress: Callable[[str], None] | None = None,
) -> ImportResult:
    """Validate a signal log and record it as one run of events.

    Parameters
    ----------
    path : str or Path
        CSV or Parquet file.
    store : Store
        Where to record the run.
    skip_bad_rows : bool, default False
        Import the good rows and report the bad ones, instead of refusing.
    name : str, optional
        Run name (the file name by default).
    signal : str, optional
        The signal (strategy or model) the log belongs to: its baseline, calibrators
        and drift checks are kept per signal. Default: the file's name without its
        suffix (``signals_2024.csv`` -> ``signals_2024``).
    dry_run : bool, default False
        Validate and return the preview and row errors; write nothing.
    on_progress : callable, optional
        Receives short status lines.

    Returns
    -------
    ImportResult

    Raises
    ------
    ImportFileError
        The file cannot be read, lacks a required column, has bad rows (and
        ``skip_bad_rows`` is False), or has no good row at all. Its
        ``row_errors`` lists every bad row.

    Notes
    -----
    ``return_pct`` is taken as the trade's return in percent, net of costs.
    From prices it is ``side * (exit / entry - 1) * 100``. The outcome's time
    is ``exit_time`` when given, else entry time + ``holding_days`` business
    days, else the entry time itself (then the walk-forward purge cannot know
    when the outcome was realised: give one of the two if you can).
    """
    path = Path(path)
    say = on_progress or (lambda _msg: None)
    raw = read_signal_log(path)
    source = path.name
    cols = _map_columns(raw, source)
    n = len(raw)
    rows = np.arange(n) + 2  # spreadsheet row numbers
    reasons: list[list[str]] = [[] for _ in range(n)]

    def flag(mask: np.ndarray, reason: str | Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask):
            reasons[i].append(reason(i) if callable(reason) else reason)

    def check(
        column: Column, name: str, values: np.ndarray, *, present: np.ndarray | None = None
    ) -> None:
        """Flag the rows of file column ``name`` that break ``column``'s rules."""
        for code, _rule, bad in column.violations(values, required=True):
            if code == "missing" and present is not None:
                bad = bad & present
            flag(bad, lambda i, code=code: f"{name} {_show(raw[name].iloc[i])} "
                 f"{_problem(column, code)}" + (f"; {column.fix}" if column.fix else ""))  # fmt: skip

    ts = pd.to_datetime(raw[cols["timestamp"]], utc=True, errors="coerce", format="mixed")
    flag(ts.isna().to_numpy(), lambda i: f"{cols['timestamp']} {_show(raw[cols['timestamp']].iloc[i])} "
         "is not a date/time; use ISO 8601 like 2020-01-31 or 2020-01-31T15:30:00Z")  # fmt: skip
    symbol = raw[cols["symbol"]].astype("string").str.strip()
    flag((symbol.isna() | (symbol == "")).to_numpy(), f"{cols['symbol']} is empty")
    conf = _numeric(raw[cols["confidence"]])
    check(COLUMNS["confidence"], cols["confidence"], conf)

    if "side" in cols:
        side_text = raw[cols["side"]].astype("string").str.strip().str.lower()
        side = side_text.map(_SIDES).to_numpy(dtype=np.float64, na_value=np.nan)
        flag(np.isnan(side), lambda i: f"{cols['side']} {_show(raw[cols['side']].iloc[i])} "
             "is not a side; use long/short, buy/sell or 1/-1")  # fmt: skip
    else:
        side = np.ones(n)

    if "return_pct" in cols:
        ret = _numeric(raw[cols["return_pct"]])
        check(COLUMNS["return_pct"], cols["return_pct"], ret)
    else:
        entry = _numeric(raw[cols["entry_price"]])
        exit_ = _numeric(raw[cols["exit_price"]])
        bad_price = ~(np.isfinite(entry) & np.isfinite(exit_) & (entry > 0) & (exit_ > 0))
        flag(bad_price, lambda i: f"prices must be positive numbers; got entry "
             f"{_show(raw[cols['entry_price']].iloc[i])}, exit {_show(raw[cols['exit_price']].iloc[i])}")  # fmt: skip
        with np.errstate(invalid="ignore", divide="ignore"):
            ret = np.where(bad_price, np.nan, side * (exit_ / entry - 1.0) * 100.0)

    holding = np.full(n, np.nan)
    if "holding_days" in cols:
        holding = _numeric(raw[cols["holding_days"]])
        check(COLUMNS["holding_days"], cols["holding_days"], holding,
              present=raw[cols["holding_days"]].notna().to_numpy())  # fmt: skip

    if "exit_time" in cols:
        exit_ts = pd.to_datetime(raw[cols["exit_time"]], utc=True, errors="coerce", format="mixed")
        present = raw[cols["exit_time"]].notna().to_numpy()
        flag(present & exit_ts.isna().to_numpy(), lambda i: f"{cols['exit_time']} "
             f"{_show(raw[cols['exit_time']].iloc[i])} is not a date/time")  # fmt: skip
        flag((exit_ts < ts).fillna(False).to_numpy(dtype=bool), "exit_time is before the timestamp")
    else:
        exit_ts = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")

    if "signal_id" in cols:
        ids = raw[cols["signal_id"]].astype("string").str.strip()
        dup = ids.duplicated(keep="first").to_numpy(dtype=bool)
        flag(
            dup,
            lambda i: (
                f"{cols['signal_id']} {_show(ids.iloc[i])} repeats an earlier row; ids must be unique"
            ),
        )
        flag(ids.isna().to_numpy(), f"{cols['signal_id']} is empty")
    else:
        ids = pd.Series([f"{i:08d}" for i in range(n)], index=raw.index, dtype="string")

    known = set(cols.values())
    features: list[str] = []
    ignored: list[str] = []
    for column in raw.columns:
        if column in known:
            continue
        values = pd.to_numeric(raw[column], errors="coerce")
        if raw[column].notna().sum() and values.notna().sum() == raw[column].notna().sum():
            features.append(str(column))
        else:
            ignored.append(str(column))
    feature_values = {f: _numeric(raw[f]) for f in features}
    for f in features:
        flag(np.isinf(feature_values[f]), f"feature {f} is infinite")

    errors = tuple(RowError(int(rows[i]), "; ".join(r)) for i, r in enumerate(reasons) if r)
    bad = np.array([bool(r) for r in reasons], dtype=bool) if n else np.zeros(0, dtype=bool)
    if errors and not skip_bad_rows:
        raise ImportFileError(
            f"{source}: {len(errors)} of {n} row(s) are bad, so nothing was imported. Fix them, "
            "or pass --skip-bad-rows to import the good rows only",
            row_errors=errors,
        )
    good = ~bad
    if not good.any():
        raise ImportFileError(f"{source}: no good rows to import ({n} row(s) in the file)",
                              row_errors=errors)  # fmt: skip

    entry_ts = ts[good].reset_index(drop=True)
    exit_known = exit_ts[good].reset_index(drop=True)
    hold_good = holding[good]
    by_holding = _add_business_days(entry_ts, hold_good)
    outcome_ts = exit_known.where(exit_known.notna(), by_holding)

    signals = pd.DataFrame(
        {
            "signal_id": ids[good].astype(str).to_numpy(),
            "ts": entry_ts,
            "symbol": symbol[good].astype(str).to_numpy(),
            "side": side[good].astype(np.int64),
            "confidence": conf[good],
            "holding_days": hold_good,
        }
    )
    for f in features:
        signals[f] = feature_values[f][good]
    order = np.lexsort((signals["signal_id"].to_numpy(), signals["ts"].to_numpy()))
    signals = signals.iloc[order].reset_index(drop=True)
    outcomes = pd.DataFrame(
        {
            "signal_id": ids[good].astype(str).to_numpy()[order],
            "ts": outcome_ts.iloc[order].to_numpy(dtype="datetime64[ns]"),
            "symbol": signals["symbol"].to_numpy(),
            "return_pct": ret[good][order],
            "confidence_used": signals["confidence"].to_numpy(),
        }
    )
    preview = signals.assign(exit_time=outcomes["ts"], return_pct=outcomes["return_pct"])
    # Validate every column before anything touches the store.
    sig_rows = list(signal_rows("pending", signals, extra_columns=tuple(features)))
    out_rows = list(outcome_rows("pending", outcomes))
    result = dict(
        n_rows=n, n_imported=int(good.sum()), n_skipped=int(bad.sum()), row_errors=errors,
        features=tuple(features), ignored_columns=tuple(ignored), preview=preview,
    )  # fmt: skip
    if dry_run:
        return ImportResult(run_id=None, **result)

    say(f"writing {len(sig_rows):,} signals and their outcomes")
    with store.write() as conn:
        run_id = store.create_run(
            kind="import", name=name or source, source=str(path.resolve()),
            signal=signal if signal is not None else path.stem,
            config={"file": str(path.resolve()), "skip_bad_rows": skip_bad_rows,
                    "columns": cols, "n_skipped": int(bad.sum())},
            feature_keys=features, conn=conn,
        )  # fmt: skip
        store.insert_event_rows(_with_run(sig_rows, run_id), conn=conn)
        store.insert_event_rows(_with_run(out_rows, run_id), conn=conn)
        store.finish_run(run_id, status="completed", conn=conn)
        # The trades are in memory: snapshot them in the same transaction.
        table = trades_table(signals, outcomes, tuple(features))
        store.write_snapshot(run_id, table, n_events=len(sig_rows) + len(out_rows), conn=conn)
    say(f"imported run {run_id}")
    return ImportResult(run_id=run_id, **result)


def _add_business_days(entry: pd.Series, days: np.ndarray) -> pd.Series:
    """``entry`` + ``days`` business days (time of day kept); NaN days leave the time as is."""
    naive = entry.dt.tz_convert(None).to_numpy()
    whole = naive.astype("datetime64[D]")
    steps = np.where(np.isnan(days), 0, np.round(days)).astype(np.int64)
    shifted = np.busday_offset(whole, steps, roll="forward").astype("datetime64[ns]")
    moved = np.where(np.isnan(days), naive, shifted + (naive - whole.astype("datetime64[ns]")))
    return pd.Series(pd.DatetimeIndex(moved).tz_localize("UTC"))


def _with_run(rows: list[tuple], run_id: str):
    return ((r[0], run_id, *r[2:]) for r in rows)
