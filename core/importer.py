"""Import a researcher's own signal log (CSV or Parquet) as a run of events.

The file needs, per row, a timestamp, a symbol, a confidence in [0, 1] and
either ``return_pct`` or an entry and an exit price; a row whose return and exit
price are both empty is an open signal (recorded without an outcome). Optional: ``side``
(long/short, buy/sell, 1/-1; long by default), ``holding_days``, ``exit_time``,
``signal_id``. Any other numeric column is kept as a feature (at most
:data:`MAX_FEATURES`). Column names are matched case-insensitively, with common
aliases (``date``, ``ticker``, ``return``, ``entry_price`` ...).

Every bad row is reported with its row number as a spreadsheet shows it (the
header is row 1) and the reason. A file with bad rows imports nothing unless
``skip_bad_rows=True``. The file is read, validated and written in chunks of
:data:`CHUNK_ROWS` rows (memory does not grow with the file), but the import is one
transaction: the run and all its events are committed together, or nothing is (a
crash, SIGTERM or Ctrl-C included).

Edges, each a clear error rather than a guess: timestamps outside what nanosecond
times hold (1677-09-22 .. 2262-04-10) are bad rows; numbers as timestamps are refused
unless ``time_unit`` says what they count; only an empty cell is missing (``NA``,
``NULL`` and ``N/A`` are text: a ticker may be called NA); ``|return_pct|`` above
:data:`MAX_ABS_RETURN_PCT` is a bad row; a file that is not UTF-8 text (or the
``encoding`` given), is binary or compressed, or whose first line names no column of
a signal log is refused without echoing its content; the CSV delimiter is detected;
the columns (:data:`MAX_COLUMNS`), the header line and each field
(:data:`MAX_FIELD_CHARS`) are capped so a hostile file fails fast.
"""

from __future__ import annotations

import csv
import itertools
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.columns import COLUMNS, Column
from core.errors import ImportFileError, RowError
from core.events import feature_payloads, python_values
from core.store import Store
from core.store.db import snapshot_table

__all__ = [
    "ALIASES",
    "CHUNK_ROWS",
    "MAX_ABS_RETURN_PCT",
    "MAX_COLUMNS",
    "MAX_FEATURES",
    "MAX_FIELD_CHARS",
    "TIME_UNITS",
    "ImportResult",
    "import_signal_log",
    "read_signal_log",
]

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
        Signals imported: closed trades (each with its outcome) and open signals.
    n_skipped : int
        Bad rows skipped (only with ``skip_bad_rows``).
    row_errors : tuple of RowError
        Every bad row found.
    features : tuple of str
        Extra numeric columns kept as features.
    ignored_columns : tuple of str
        Non-numeric extra columns that were not kept.
    preview : DataFrame
        The first normalised rows (at most :data:`PREVIEW_ROWS`) that were (or would
        be) imported; ``exit_time`` and ``return_pct`` are empty for open signals.
    n_open : int
        Open signals among ``n_imported``: rows without a return (nor an exit price),
        recorded as signals without an outcome.
    """

    run_id: str | None
    n_rows: int
    n_imported: int
    n_skipped: int
    row_errors: tuple[RowError, ...]
    features: tuple[str, ...]
    ignored_columns: tuple[str, ...]
    preview: pd.DataFrame = field(repr=False, compare=False)
    n_open: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "n_rows": self.n_rows,
            "n_imported": self.n_imported,
            "n_skipped": self.n_skipped,
            "n_open": self.n_open,
            "row_errors": [{"row": e.row, "reason": e.reason} for e in self.row_errors],
            "features": list(self.features),
            "ignored_columns": list(self.ignored_columns),
        }


#: Units ``time_unit`` accepts for numeric timestamps (time since 1970-01-01 UTC).
TIME_UNITS: tuple[str, ...] = ("s", "ms", "us", "ns")
_NS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
#: Most feature (extra numeric) columns one run keeps.
MAX_FEATURES = 200
#: Most columns a signal log may have (the known ones plus features plus a few ignored).
MAX_COLUMNS = 256
#: Longest field (characters) and longest header line (bytes) read.
MAX_FIELD_CHARS = 1_000
MAX_HEADER_BYTES = 64 * 1024
#: Largest |return_pct| accepted, in percent (a 100-fold gain is +9,900 %).
MAX_ABS_RETURN_PCT = 10_000.0
#: Longest holding period accepted, in business days (about 40 years).
MAX_HOLDING_DAYS = 10_000.0
#: Times a nanosecond timestamp holds, in whole days: [TIME_LOW, TIME_HIGH].
TIME_LOW = pd.Timestamp("1677-09-22", tz="UTC")
TIME_HIGH = pd.Timestamp("2262-04-10", tz="UTC")
_RANGE = "the supported range 1677-09-22 .. 2262-04-10"
_DELIMITERS = ",;\t|"
_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_REQUIRED_HINT = "timestamp, symbol, confidence, return_pct (or entry_price and exit_price)"


def _fail(path: Path, message: str) -> ImportFileError:
    return ImportFileError(f"{path.name}: {message}")


def _check_path(path: Path) -> None:
    """Refuse what is not a readable regular file, with the reason and the fix."""
    if not path.exists():
        if path.is_symlink():
            raise _fail(path, "is a broken link (its target does not exist); check the path")
        raise _fail(path, "no such file; check the path")
    if path.is_dir():
        raise _fail(path, "is a folder, not a file; give the path of a CSV or Parquet signal log")
    if not stat.S_ISREG(path.stat().st_mode):
        raise _fail(
            path, "is not a regular file (a device, pipe or socket); save the log to a file first"
        )
    if not os.access(path, os.R_OK):
        raise _fail(path, "permission denied; make the file readable (chmod u+r) and try again")


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_HEADER_BYTES + 1)
    except PermissionError:
        raise _fail(
            path, "permission denied; make the file readable (chmod u+r) and try again"
        ) from None
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror}); check the file") from None


def _refuse_binary(path: Path, head: bytes, encoding: str) -> None:
    """Refuse compressed, binary and spreadsheet files by their first bytes."""
    kinds = (
        (b"\x1f\x8b", "a gzip-compressed file; decompress it first (gunzip)"),
        (b"PK\x03\x04", "a zip archive (or an Excel workbook); export the sheet as CSV"),
        (b"PAR1", "a Parquet file; give it the .parquet suffix"),
        (b"SQLite format 3\x00", "a SQLite database, not a signal log"),
        (b"BZh", "a bzip2-compressed file; decompress it first"),
        (b"\xfd7zXZ", "an xz-compressed file; decompress it first"),
    )
    for magic, what in kinds:
        if head.startswith(magic):
            raise _fail(path, f"is {what}")
    utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    if b"\x00" in head and not (utf16 or encoding.lower().replace("-", "").startswith("utf16")):
        raise _fail(path, "is a binary file, not CSV text; export your signal log as CSV")
    if utf16 and not encoding.lower().replace("-", "").startswith("utf16"):
        raise _fail(path, "is UTF-16 text; save the file as UTF-8 (or pass --encoding utf-16)")


def _decode(path: Path, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except LookupError:
        raise _fail(
            path, f"unknown encoding {encoding!r}; use e.g. utf-8, latin-1, cp1252 or utf-16"
        ) from None
    except UnicodeDecodeError as exc:
        raise _not_text(path, exc, encoding) from None


def _not_text(path: Path, exc: UnicodeDecodeError, encoding: str) -> ImportFileError:
    byte = exc.object[exc.start : exc.start + 1].hex() if exc.object else "?"
    encoding = "UTF-8" if encoding.lower() in ("utf-8-sig", "utf-8", "utf8") else encoding
    return _fail(
        path,
        f"is not {encoding} text (byte 0x{byte} at offset {exc.start:,} of a chunk cannot be "
        f"decoded); save the file as UTF-8 (or pass --encoding, e.g. --encoding latin-1)",
    )


def _delimiter(path: Path, sample: str, header: str) -> str:
    """The delimiter ``csv.Sniffer`` finds in the first lines, else the one that splits
    the header into most fields (``,`` on a tie; tab for a .tsv file)."""
    try:
        found = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
        if found in _DELIMITERS:
            return found
    except csv.Error:
        pass
    default = "\t" if path.suffix.lower() == ".tsv" else ","
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: (counts[d], d == default))
    return best if counts[best] > counts[default] else default


def _header(path: Path, encoding: str) -> tuple[list[str], str, str]:
    """The column names, the delimiter and the codec of a CSV file, from its first bytes.

    Raises
    ------
    ImportFileError
        Empty, binary, compressed, not decodable, a header line longer than
        :data:`MAX_HEADER_BYTES`, more than :data:`MAX_COLUMNS` columns, or duplicate
        column names. File content is never echoed here.
    """
    head = _read_head(path)
    if not head.strip():
        raise _fail(
            path, f"is empty; a signal log needs a header line ({_REQUIRED_HINT}) and one row "
            "per signal",
        )  # fmt: skip
    _refuse_binary(path, head, encoding)
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    whole = len(head) <= MAX_HEADER_BYTES
    cut = head if whole else head[: head.rfind(b"\n") + 1]
    if not cut.strip():
        raise _fail(
            path, f"its first line is longer than {MAX_HEADER_BYTES // 1024} KiB: not the header "
            f"of a signal log (at most {MAX_COLUMNS} columns)",
        )  # fmt: skip
    if len(cut) % 2 and "16" in codec and not whole:  # keep UTF-16 code units whole
        cut = head[: len(cut) + 1]
    text = _decode(path, cut, codec).lstrip("\ufeff")
    lines = text.splitlines()
    header = lines[0] if lines else ""
    delimiter = _delimiter(path, "\n".join(lines[:20]), header)
    n_fields = header.count(delimiter) + 1
    if n_fields > MAX_COLUMNS:
        raise _fail(
            path, f"has {n_fields:,} columns; a signal log may have at most {MAX_COLUMNS} "
            f"({_REQUIRED_HINT}, optional ones and up to {MAX_FEATURES} features) - drop the "
            "columns you do not need",
        )  # fmt: skip
    names = next(csv.reader([header], delimiter=delimiter), [])
    return [n.strip() for n in names], delimiter, codec


def _check_names(path: Path, names: list[str]) -> None:
    """Refuse duplicate (same name up to case, spaces, ``_`` and ``-``) or overlong names."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if not name:
            continue
        if len(name) > 200:
            raise _fail(
                path, f"column {i} has a name of {len(name):,} characters; use names of at "
                "most 200 characters",
            )  # fmt: skip
        key = _norm(name)
        if key in seen:
            raise _fail(
                path, f"column {_clip(name)!r} appears more than once (columns {seen[key]} and "
                f"{i}); keep one of them or rename the other",
            )  # fmt: skip
        seen[key] = i


#: Rows read, validated and written at a time: memory stays bounded whatever the file's size.
CHUNK_ROWS = 100_000
#: Rows of the normalised preview an import (or a dry run) returns.
PREVIEW_ROWS = 1_000
#: An import writes its run's trades snapshot in its own transaction up to this many
#: trades; a bigger run gets its snapshot when it is first read (memory stays bounded).
SNAPSHOT_MAX_TRADES = 2_000_000


@dataclass
class _Part:
    """One validated chunk: its good rows as columns, sorted by time and id, and its bad rows.

    ``sid`` and ``symbol`` are Arrow string arrays, the rest numpy arrays of the good rows;
    ``closed`` marks the rows with a return (the others are open signals, whose ``exit_ns``
    and ``ret`` mean nothing).
    """

    sid: pa.Array
    entry_ns: np.ndarray
    symbol: pa.Array
    side: np.ndarray
    conf: np.ndarray
    holding: np.ndarray
    features: dict[str, np.ndarray]
    exit_ns: np.ndarray
    ret: np.ndarray
    closed: np.ndarray
    errors: list[RowError]
    n_rows: int
    n_bad: int

    @property
    def n_good(self) -> int:
        return len(self.closed)

    @property
    def n_closed(self) -> int:
        return int(self.closed.sum())

    def columns(self) -> dict[str, list[Any]]:
        """The good rows as ``trades`` columns (:meth:`Store.insert_trade_columns`): Python
        values, None where unknown; the outcome's symbol and confidence are the signal's
        (the same lists, bound once)."""
        symbol = _py(self.symbol)
        conf = self.conf.tolist()
        out: dict[str, list[Any]] = {
            "signal_id": _py(self.sid), "ts": self.entry_ns.tolist(), "symbol": symbol,
            "side": self.side.tolist(), "confidence": conf,
            "holding_days": python_values(self.holding, np.isnan(self.holding)),
        }  # fmt: skip
        if self.features:
            out["payload"] = feature_payloads(self.features)
        open_ = ~self.closed
        out["exit_ts"] = python_values(self.exit_ns, open_)
        out["o_symbol"] = symbol
        out["confidence_used"] = conf
        out["return_pct"] = python_values(self.ret, open_)
        return out

    def trades(self, features: tuple[str, ...]) -> pa.Table:
        """The chunk's closed trades as their snapshot (:func:`snapshot_table`)."""
        keep = None if self.closed.all() else np.flatnonzero(self.closed)

        def pick(values: Any) -> Any:
            if keep is None:
                return values
            return values.take(pa.array(keep)) if isinstance(values, pa.Array) else values[keep]

        return snapshot_table(
            {"signal_id": pick(self.sid), "entry_ns": pick(self.entry_ns),
             "exit_ns": pick(self.exit_ns), "symbol": pick(self.symbol),
             "side": pick(self.side), "confidence": pick(self.conf),
             "holding_days": pick(self.holding), "return_pct": pick(self.ret),
             **{f: pick(self.features[f]) for f in features}},
            features,
        )  # fmt: skip

    def preview(self, limit: int) -> pd.DataFrame:
        """The first ``limit`` good rows, normalised (open signals without exit and return)."""
        k = min(limit, self.n_good)
        closed = self.closed[:k]
        frame = pd.DataFrame({
            "signal_id": _py(self.sid[:k]),
            "ts": pd.to_datetime(self.entry_ns[:k], unit="ns", utc=True),
            "symbol": _py(self.symbol[:k]), "side": self.side[:k].astype(np.int64),
            "confidence": self.conf[:k], "holding_days": self.holding[:k],
            **{f: v[:k] for f, v in self.features.items()},
        })  # fmt: skip
        exit_ns = np.where(closed, self.exit_ns[:k], np.iinfo(np.int64).min)
        frame["exit_time"] = pd.to_datetime(exit_ns, unit="ns", utc=True)
        frame["return_pct"] = np.where(closed, self.ret[:k], np.nan)
        return frame


def _py(values: pa.Array) -> list[Any]:
    """An Arrow array as a list of Python values (through numpy: faster than ``to_pylist``)."""
    return values.to_numpy(zero_copy_only=False).tolist()


class _Validator:
    """Validates a signal log chunk by chunk, with whole-column masks.

    State carried across chunks: the feature columns (chosen from the first chunk),
    the signal ids seen (as sorted 64-bit hashes, 8 bytes a row) and the running row
    count that numbers rows without an id.
    """

    def __init__(self, cols: dict[str, str], *, time_unit: str | None, source: str) -> None:
        self.cols = cols
        self.time_unit = time_unit
        self.source = source
        self.features: tuple[str, ...] = ()
        self.ignored: tuple[str, ...] = ()
        self._seen = np.empty(0, dtype=np.uint64)
        self._counter = 0

    def choose_features(self, raw: pd.DataFrame) -> None:
        """Keep as features the extra columns whose non-empty cells in ``raw`` (the first
        chunk) are all numbers; later chunks must hold numbers (or nothing) there too.

        Raises
        ------
        ImportFileError
            More than :data:`MAX_FEATURES` of them, or a name with quotes or control
            characters.
        """
        known = set(self.cols.values())
        features: list[str] = []
        ignored: list[str] = []
        for column in raw.columns:
            if column in known:
                continue
            blank = _blank(raw[column])
            values = _numeric(raw[column])
            if (~blank).any() and not np.isnan(values[~blank]).any():
                features.append(str(column))
            else:
                ignored.append(str(column))
        if len(features) > MAX_FEATURES:
            raise ImportFileError(
                f"{self.source}: {len(features):,} numeric extra columns (features); a run keeps "
                f"at most {MAX_FEATURES} - drop the columns you do not need, nothing was imported"
            )
        odd = [f for f in features if any(ch in f for ch in "\"'\\") or not f.isprintable()]
        if odd:
            raise ImportFileError(
                f"{self.source}: feature column name {_clip(odd[0])!r} holds a quote, backslash "
                "or control character; rename it (letters, digits, spaces, _ and -)"
            )
        self.features, self.ignored = tuple(features), tuple(ignored)

    def validate(self, raw: pd.DataFrame) -> _Part:
        """Check every row of the chunk ``raw`` (entirely empty rows already dropped)."""
        cols, time_unit = self.cols, self.time_unit
        n = len(raw)
        rows = raw.index.to_numpy() + 2  # spreadsheet row numbers (the header is row 1)
        problems: dict[int, list[str]] = {}

        def flag(mask: np.ndarray, reason: str | Callable[[int], str]) -> None:
            for i in np.flatnonzero(mask):
                problems.setdefault(int(i), []).append(reason(i) if callable(reason) else reason)

        def check(
            column: Column, name: str, values: np.ndarray, *, present: np.ndarray | None = None
        ) -> None:
            """Flag the rows of file column ``name`` that break ``column``'s rules."""
            for code, _rule, bad in column.violations(values, required=True):
                if code == "missing" and present is not None:
                    bad = bad & present
                flag(bad, lambda i, code=code: f"{name} {_show(raw[name].iloc[i])} "
                     f"{_problem(column, code)}" + (f"; {column.fix}" if column.fix else ""))  # fmt: skip

        for column in raw.columns:
            if raw[column].dtype == object or pd.api.types.is_string_dtype(raw[column].dtype):
                lengths = raw[column].astype("string").str.len().fillna(0).to_numpy()
                flag(lengths > MAX_FIELD_CHARS, lambda i, c=column, ln=lengths: (
                    f"{_clip(str(c))} is {int(ln[i]):,} characters long, over the limit of "
                    f"{MAX_FIELD_CHARS:,}; a signal log's fields are short"))  # fmt: skip

        ts = _parse_times(raw[cols["timestamp"]], cols["timestamp"], time_unit, flag)
        flag(
            _blank(raw[cols["timestamp"]]), f"{cols['timestamp']} is empty; every row needs a time"
        )
        symbol = _text(raw[cols["symbol"]])
        flag((symbol == "").to_numpy(dtype=bool), f"{cols['symbol']} is empty; every row needs a "
             "symbol (NA, NULL and N/A are read as tickers, only an empty cell is missing)")  # fmt: skip
        conf = _numeric(raw[cols["confidence"]])
        check(COLUMNS["confidence"], cols["confidence"], conf)

        if "side" in cols:
            side_raw = raw[cols["side"]]
            if pd.api.types.is_numeric_dtype(side_raw.dtype) and not pd.api.types.is_bool_dtype(
                side_raw.dtype
            ):  # numbers (a Parquet column): 1 and -1 are sides, as their text is in _SIDES
                values = side_raw.to_numpy(dtype=np.float64, na_value=np.nan)
                side = np.where((values == 1.0) | (values == -1.0), values, np.nan)
            else:
                side_text = _text(side_raw).str.lower()
                side = side_text.map(_SIDES).to_numpy(dtype=np.float64, na_value=np.nan)
            flag(np.isnan(side), lambda i: f"{cols['side']} {_show(raw[cols['side']].iloc[i])} "
                 "is not a side; use long/short, buy/sell or 1/-1")  # fmt: skip
        else:
            side = np.ones(n)

        # An open signal: no return and no exit price yet. It imports as a signal only.
        prices = "entry_price" in cols and "exit_price" in cols
        open_ = np.ones(n, dtype=bool)
        ret = np.full(n, np.nan)
        ret_name = "the return from the prices"
        if "return_pct" in cols:
            ret = _numeric(raw[cols["return_pct"]])
            given = ~_blank(raw[cols["return_pct"]])
            check(COLUMNS["return_pct"], cols["return_pct"], ret, present=given)
            ret_name = cols["return_pct"]
            open_ &= ~given
        if prices:
            exit_given = ~_blank(raw[cols["exit_price"]])
            from_prices = exit_given & open_  # a return column, when given, wins
            open_ &= ~exit_given
            if from_prices.any():
                entry = _numeric(raw[cols["entry_price"]])
                exit_ = _numeric(raw[cols["exit_price"]])
                bad_price = from_prices & ~(
                    np.isfinite(entry) & np.isfinite(exit_) & (entry > 0) & (exit_ > 0)
                )
                flag(bad_price, lambda i: f"prices must be positive numbers; got entry "
                     f"{_show(raw[cols['entry_price']].iloc[i])}, exit {_show(raw[cols['exit_price']].iloc[i])}")  # fmt: skip
                with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                    priced = side * (exit_ / entry - 1.0) * 100.0
                ret = np.where(from_prices & ~bad_price, priced, ret)
                if "return_pct" not in cols:
                    ret_name = "the return from the prices"
        with np.errstate(invalid="ignore"):
            too_big = np.isfinite(ret) & (np.abs(ret) > MAX_ABS_RETURN_PCT)
        flag(too_big, lambda i: f"{ret_name} {ret[i]:.6g} is beyond ±{MAX_ABS_RETURN_PCT:,.0f} %; "
             "return_pct is in percent (1.5 = +1.5 %) - check its units")  # fmt: skip

        holding = np.full(n, np.nan)
        if "holding_days" in cols:
            holding = _numeric(raw[cols["holding_days"]])
            present = ~_blank(raw[cols["holding_days"]])
            check(COLUMNS["holding_days"], cols["holding_days"], holding, present=present)
            with np.errstate(invalid="ignore"):
                long_hold = np.isfinite(holding) & (holding > MAX_HOLDING_DAYS)
            flag(long_hold, lambda i: f"{cols['holding_days']} {_show(raw[cols['holding_days']].iloc[i])} "
                 f"is over {MAX_HOLDING_DAYS:,.0f} business days; check its units (days)")  # fmt: skip
            holding = np.where(long_hold | ~np.isfinite(holding) | (holding <= 0), np.nan, holding)

        if "exit_time" in cols:
            exit_ts = _parse_times(raw[cols["exit_time"]], cols["exit_time"], time_unit, flag)
            flag((exit_ts < ts).fillna(False).to_numpy(dtype=bool),
                 f"{cols['exit_time']} is before the timestamp; the exit comes after the entry")  # fmt: skip
        else:
            exit_ts = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")

        by_holding, late = _add_business_days(ts, holding)
        flag(late & ~open_, f"the timestamp + {cols.get('holding_days', 'holding_days')} business "
             f"days falls after 2262-04-10, outside {_RANGE}")  # fmt: skip

        if "signal_id" in cols:
            ids = _text(raw[cols["signal_id"]])
            empty = (ids == "").to_numpy(dtype=bool)
            flag(self._repeated(ids, empty), lambda i: f"{cols['signal_id']} {_show(ids.iloc[i])} "
                 "repeats an earlier row; ids must be unique")  # fmt: skip
            flag(empty, f"{cols['signal_id']} is empty; give every row an id, or drop the column "
                 "to number the rows")  # fmt: skip
            all_ids = pa.array(ids, type=pa.string())
        else:
            numbers = pa.array(np.arange(self._counter, self._counter + n)).cast(pa.string())
            all_ids = pc.utf8_lpad(numbers, 8, "0")  # f"{i:08d}", built in Arrow
        self._counter += n

        feature_values = {f: _numeric(raw[f]) for f in self.features}
        for f in self.features:
            flag(np.isinf(feature_values[f]), f"feature {f} is infinite; use a finite number or "
                 "leave the cell empty")  # fmt: skip
            words = np.isnan(feature_values[f]) & ~_blank(raw[f])
            flag(words, lambda i, f=f: f"feature {f} {_show(raw[f].iloc[i])} is not a number "
                 "(earlier rows made it a numeric feature); use a number or leave the cell empty")  # fmt: skip

        bad = np.zeros(n, dtype=bool)
        bad[list(problems)] = True
        errors = [RowError(int(rows[i]), "; ".join(problems[i])) for i in sorted(problems)]
        keep = np.flatnonzero(~bad)
        entry = ts.array.asi8[keep]
        sid = all_ids.take(pa.array(keep))
        if len(entry) > 1 and not (entry[1:] > entry[:-1]).all():  # else already in order
            order = pc.sort_indices(
                pa.table({"t": entry, "s": sid}), sort_keys=[("t", "ascending"), ("s", "ascending")]
            ).to_numpy()
            keep, entry, sid = keep[order], entry[order], sid.take(pa.array(order))
        outcome_ts = exit_ts.where(exit_ts.notna(), by_holding.set_axis(raw.index))
        return _Part(
            sid=sid, entry_ns=entry,
            symbol=pa.array(symbol, type=pa.string()).take(pa.array(keep)),
            side=side[keep].astype(np.int8), conf=conf[keep], holding=holding[keep],
            features={f: feature_values[f][keep] for f in self.features},
            exit_ns=outcome_ts.astype("datetime64[ns, UTC]").array.asi8[keep], ret=ret[keep],
            closed=~open_[keep], errors=errors, n_rows=n, n_bad=int(bad.sum()),
        )  # fmt: skip

    def _repeated(self, ids: pd.Series, empty: np.ndarray) -> np.ndarray:
        """Rows whose id repeats an earlier row's (in this chunk or an earlier one).

        Ids seen are kept as sorted 64-bit hashes (8 bytes a row); two different ids
        share a hash with a probability near n² / 2⁶⁵ (about 3e-6 for 10 million rows).
        """
        hashes = pd.util.hash_array(ids.to_numpy(dtype=object))
        repeated = ids.duplicated(keep="first").to_numpy(dtype=bool) & ~empty
        if self._seen.size:
            pos = np.minimum(np.searchsorted(self._seen, hashes), self._seen.size - 1)
            repeated |= (self._seen[pos] == hashes) & ~empty
        new = np.unique(hashes[~empty])
        merged = np.concatenate([self._seen, new])
        merged.sort(kind="stable")  # two sorted runs: a linear merge
        self._seen = merged
        return repeated


@dataclass
class _Log:
    """An open signal log: its column names, its row count when known, and its chunks.

    ``chunks`` yields raw frames of at most ``chunk_rows`` rows whose index is the row's
    position among the file's data rows (index + 2 is the row a spreadsheet shows);
    entirely empty rows are still there (:func:`_drop_blank_rows`).
    """

    path: Path
    columns: list[str]
    total: int | None
    chunks: Iterator[pd.DataFrame]


def _open_log(path: Path, *, encoding: str, chunk_rows: int) -> _Log:
    """Check ``path`` and open it for chunked reading (nothing but the header read yet)."""
    _check_path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return _open_parquet(path, chunk_rows)
    if suffix not in (".csv", ".txt", ".tsv"):
        raise _fail(
            path, f"unsupported file type {suffix or '(no suffix)'!r}; use .csv or .parquet"
        )
    names, delimiter, codec = _header(path, encoding)
    _check_names(path, names)
    return _Log(path, names, None, _csv_chunks(path, delimiter, codec, encoding, chunk_rows))


def _csv_chunks(
    path: Path, delimiter: str, codec: str, encoding: str, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """Raw text chunks of a CSV file (every cell a string; only an empty cell is missing)."""
    try:
        reader = pd.read_csv(
            path, sep=delimiter, dtype=str, keep_default_na=False, na_filter=False,
            encoding=codec, skip_blank_lines=False, engine="c", chunksize=chunk_rows,
        )  # fmt: skip
        with reader:
            yield from reader
    except UnicodeDecodeError as exc:
        raise _not_text(path, exc, encoding) from None
    except pd.errors.EmptyDataError:
        raise _fail(
            path, f"is empty; a signal log needs a header line ({_REQUIRED_HINT})"
        ) from None
    except pd.errors.ParserError as exc:
        where = re.search(r"line (\d+)", str(exc))
        raise _fail(
            path, "cannot be read as CSV"
            + (f": line {where.group(1)} has more fields than the header" if where else "")
            + f" (delimiter {delimiter!r}); quote fields that contain the delimiter",
        ) from None  # fmt: skip
    except (ValueError, OSError) as exc:
        raise _fail(
            path, f"cannot be read as CSV ({type(exc).__name__}); is it a CSV file?"
        ) from None


def _drop_blank_rows(raw: pd.DataFrame) -> pd.DataFrame:
    blank = np.ones(len(raw), dtype=bool)
    for column in raw.columns:
        blank &= _blank(raw[column])
    return raw.loc[~blank] if blank.any() else raw


def _parquet_failure(path: Path) -> ImportFileError:
    return _fail(
        path, "is not a readable Parquet file; write it with pandas.DataFrame.to_parquet, "
        "or save the log as CSV",
    )  # fmt: skip


def _open_parquet(path: Path, chunk_rows: int) -> _Log:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
        schema = handle.schema_arrow
        total = handle.metadata.num_rows
    except (pa.ArrowException, OSError, ValueError):
        raise _parquet_failure(path) from None
    names = [str(n) for n in schema.names]
    if len(names) > MAX_COLUMNS:
        raise _fail(
            path, f"has {len(names):,} columns; a signal log may have at most "
            f"{MAX_COLUMNS} - drop the columns you do not need",
        )  # fmt: skip
    _check_names(path, names)

    def chunks() -> Iterator[pd.DataFrame]:
        done = 0
        try:
            with handle:
                for batch in handle.iter_batches(batch_size=chunk_rows):
                    raw = batch.to_pandas()
                    raw.columns = names
                    raw.index = pd.RangeIndex(done, done + len(raw))
                    done += len(raw)
                    yield raw
        except (pa.ArrowException, OSError, ValueError):
            raise _parquet_failure(path) from None

    return _Log(path, names, total, chunks())


def read_signal_log(path: str | Path, *, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a CSV or Parquet signal log as raw values (no validation of the rows yet).

    A CSV file is read as text (every cell a string; only an empty cell is missing),
    with its delimiter detected; a Parquet file keeps its column types. Rows that are
    entirely empty are dropped, keeping the others' row numbers (index + 2 is the row
    a spreadsheet shows). The whole file is read into memory: an import streams it in
    chunks instead (:func:`import_signal_log`).

    Parameters
    ----------
    path : str or Path
    encoding : str, default "utf-8"
        Text encoding of a CSV file (a UTF-8 byte-order mark is skipped).

    Raises
    ------
    ImportFileError
        Missing, a folder, not a regular or readable file, binary or compressed, not
        decodable, too many columns, duplicate columns, an unreadable Parquet file,
        an unsupported suffix, no rows; the message names the file and the fix, never
        its content.
    """
    log = _open_log(Path(path), encoding=encoding, chunk_rows=CHUNK_ROWS)
    parts = [_drop_blank_rows(raw) for raw in log.chunks]
    raw = pd.concat(parts) if parts else pd.DataFrame(columns=log.columns)
    if raw.empty:
        raise _fail(log.path, "has a header but no rows; add one row per signal")
    return raw


def _blank(series: pd.Series) -> np.ndarray:
    """Missing cells: NA/None/NaN in a typed column, empty (after stripping) in text."""
    missing = series.isna().to_numpy(dtype=bool, copy=True)
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        text = series.astype("string").str.strip()
        missing = missing | (text == "").fillna(True).to_numpy(dtype=bool)
    return missing


def _text(series: pd.Series) -> pd.Series:
    """Cells as stripped text ("" when missing)."""
    return series.astype("string").fillna("").str.strip()


def _map_columns(columns: list[str], source: str) -> dict[str, str]:
    """Canonical name -> column among ``columns``; raises when a required one is missing.

    A header that names none of a signal log's columns is refused without listing
    its content (it may be any file: a link to /etc/passwd, say).
    """
    by_norm: dict[str, str] = {}
    for column in columns:
        by_norm.setdefault(_norm(column), column)
    found: dict[str, str] = {}
    for canonical, aliases in ALIASES.items():
        for alias in aliases:
            if _norm(alias) in by_norm:
                found[canonical] = by_norm[_norm(alias)]
                break
    missing = [c for c in ("timestamp", "symbol", "confidence") if c not in found]
    has_return = "return_pct" in found or ("entry_price" in found and "exit_price" in found)
    if not found:
        raise ImportFileError(
            f"{source}: not a signal log - its first line names none of the columns a signal "
            f"log needs ({_REQUIRED_HINT}); give the header line those names (aliases accepted: "
            "date/time, ticker, score, return)"
        )
    if missing or not has_return:
        need = missing + ([] if has_return else ["return_pct (or entry_price and exit_price)"])
        shown = ", ".join(_clip(str(c)) for c in list(columns)[:30])
        more = f" and {len(columns) - 30} more" if len(columns) > 30 else ""
        raise ImportFileError(
            f"{source}: missing required column(s): {', '.join(need)}. "
            f"Columns found: {shown}{more}. Rename them (aliases accepted: "
            "date/time for timestamp, ticker for symbol, score for confidence, return for return_pct)"
        )
    return found


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _show(value: Any) -> str:
    """A cell's value as a user would recognise it in the file (at most 40 characters)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "(empty)"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return "(empty)"
        try:
            float(text)  # numbers (inf and nan included) as they are written
        except ValueError:
            return repr(_clip(text))
        return _clip(text)
    return _clip(repr(value))


def _problem(column: Column, code: str) -> str:
    """A rule of :meth:`Column.violations` as a row of a file breaks it."""
    if code == "bounds":
        two_sided = column.low is not None and column.high is not None
        return f"is outside {column.bounds}" if two_sided else f"must be {column.expected}"
    return {"missing": "is not a number", "not_finite": "is not a finite number",
            "not_whole": "is not a whole number"}[code]  # fmt: skip


def _numeric(series: pd.Series) -> np.ndarray:
    """Cells as float64 (NaN where empty or not a number)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return np.full(len(series), np.nan)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    text = _text(series)
    return pd.to_numeric(text.where(text != ""), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )


def _unit_guess(text: str) -> str:
    digits = len(text.lstrip("+-").split(".")[0])
    return "s" if digits <= 11 else "ms" if digits <= 14 else "us" if digits <= 17 else "ns"


def _parse_times(
    series: pd.Series, name: str, time_unit: str | None, flag: Callable[..., None]
) -> pd.Series:
    """A column of times as UTC nanoseconds (NaT where bad or empty), flagging bad rows.

    Text is read as ISO 8601 (then any format pandas knows); naive times are UTC.
    Numbers are refused unless ``time_unit`` says what they count. Times outside
    [:data:`TIME_LOW`, :data:`TIME_HIGH`] are bad rows, never a crash.
    """
    n = len(series)
    out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        ts = series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
        numeric = np.zeros(n, dtype=bool)
        text = None
    else:
        text = _text(series)
        numeric = (
            np.ones(n, dtype=bool) & ~_blank(series)
            if pd.api.types.is_numeric_dtype(series.dtype)
            else text.str.match(_NUMBER).fillna(False).to_numpy(dtype=bool)
        )
        ts = pd.Series(pd.NaT, index=series.index, dtype="datetime64[us, UTC]")
        words = ~numeric & (text != "").to_numpy(dtype=bool)
        if words.any():
            parsed = pd.to_datetime(text[words], utc=True, errors="coerce", format="ISO8601")
            retry = parsed.isna()
            if retry.any():
                parsed[retry] = pd.to_datetime(
                    text[words][retry], utc=True, errors="coerce", format="mixed"
                )
            ts = ts.astype(parsed.dtype) if parsed.dtype != ts.dtype else ts
            ts[words] = parsed
    if numeric.any():
        if time_unit is None:
            flag(numeric, lambda i: f"{name} {_show(series.iloc[i])} is a number, not a "
                 "date/time; if it counts time since 1970-01-01 UTC pass --time-unit s|ms|us|ns "
                 f"(time_unit=...; this one looks like --time-unit {_unit_guess(text.iloc[i])}), "
                 "if it is a date write it as 2020-01-31")  # fmt: skip
        else:
            values = pd.to_numeric(
                (text if text is not None else series)[numeric], errors="coerce"
            ).to_numpy(dtype=np.float64)
            ns = values * _NS_PER_UNIT[time_unit]
            ok = np.isfinite(ns) & (ns >= TIME_LOW.value) & (ns <= TIME_HIGH.value + 86_399e9)
            flag(_scatter(numeric, ~ok), lambda i: f"{name} {_show(series.iloc[i])} "
                 f"{time_unit} since 1970 is outside {_RANGE}")  # fmt: skip
            good = _scatter(numeric, ok)
            out[good] = pd.to_datetime(ns[ok].astype(np.int64), unit="ns", utc=True)
    known = ts.notna().to_numpy(dtype=bool)
    in_range = (
        known
        & (ts >= TIME_LOW).to_numpy(dtype=bool)
        & (ts < TIME_HIGH + pd.Timedelta(days=1)).to_numpy(dtype=bool)
    )
    flag(known & ~in_range, lambda i: f"{name} {_show(series.iloc[i])} is outside {_RANGE}; "
         "check the year")  # fmt: skip
    if in_range.any():
        out[in_range] = ts[in_range].astype("datetime64[ns, UTC]")
    unread = ~known & ~numeric & ~_blank(series)
    flag(unread, lambda i: f"{name} {_show(series.iloc[i])} is not a date/time; use ISO 8601 "
         "like 2020-01-31 or 2020-01-31T15:30:00Z")  # fmt: skip
    return out


def _scatter(where: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A full-length mask: ``values`` at the positions where ``where`` is True."""
    out = np.zeros(where.shape, dtype=bool)
    out[where] = values
    return out


def import_signal_log(
    path: str | Path,
    *,
    store: Store,
    skip_bad_rows: bool = False,
    name: str | None = None,
    signal: str | None = None,
    dry_run: bool = False,
    on_progress: Callable[[str], None] | None = None,
    on_rows: Callable[[int, int | None], None] | None = None,
    time_unit: str | None = None,
    encoding: str = "utf-8",
    chunk_rows: int = CHUNK_ROWS,
) -> ImportResult:
    """Validate a signal log and record it as one run of events, streaming it in chunks.

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
        Validate and return the preview, the counts and the row errors; write nothing.
    on_progress : callable, optional
        Receives short status lines, each starting with its stage: ``reading``, then per
        chunk ``validating`` (and ``writing`` unless a dry run), last ``imported``.
    on_rows : callable, optional
        ``on_rows(done_rows, total_rows)`` after each chunk: rows read so far, and the
        file's row count when known beforehand (Parquet) or None (CSV), for a progress bar.
    time_unit : {"s", "ms", "us", "ns"}, optional
        Read numeric timestamps (and exit times) as time since 1970-01-01 UTC in this
        unit. Without it a number in a time column is a bad row (1577836800 is not
        silently read as nanoseconds in 1970).
    encoding : str, default "utf-8"
        Text encoding of a CSV file.
    chunk_rows : int, default CHUNK_ROWS
        Rows read, validated and written at a time; memory grows with it, not with the file.

    Returns
    -------
    ImportResult

    Raises
    ------
    ImportFileError
        The file cannot be read, lacks a required column, has bad rows (and
        ``skip_bad_rows`` is False), or has no good row at all. Its
        ``row_errors`` lists every bad row. Nothing is written then.

    Notes
    -----
    ``return_pct`` is taken as the trade's return in percent, net of costs, and
    must be within ±:data:`MAX_ABS_RETURN_PCT`. From prices it is
    ``side * (exit / entry - 1) * 100``. A row with neither (an empty ``return_pct``
    and no exit price) is an *open signal*: it is recorded as a signal without an
    outcome (:meth:`Store.open_signals`), counted in ``n_open``, and left out of the
    trades frame. The outcome's time is ``exit_time`` when given, else entry time +
    ``holding_days`` business days, else the entry time itself (then the walk-forward
    purge cannot know when the outcome was realised: give one of the two if you can).

    The whole import is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``): chunks are
    written as they are validated, and any error (a bad row without
    ``skip_bad_rows``, a crash, SIGTERM, Ctrl-C) rolls every chunk back. After the first
    bad row nothing more is written, but the rest of the file is still checked so the
    error lists every bad row.
    """
    path = Path(path)
    if time_unit is not None and time_unit not in TIME_UNITS:
        raise ImportFileError(
            f"time_unit must be one of {', '.join(TIME_UNITS)} (seconds, milliseconds, "
            f"microseconds, nanoseconds since 1970), got {time_unit!r}"
        )
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ImportFileError(f"chunk_rows must be a whole number >= 1, got {chunk_rows!r}")
    say = on_progress or (lambda _msg: None)
    say(f"reading {path.name}")
    log = _open_log(path, encoding=encoding, chunk_rows=chunk_rows)
    source = path.name
    cols = _map_columns(log.columns, source)
    checker = _Validator(cols, time_unit=time_unit, source=source)
    chunks = _rows_of(log)
    first = next(chunks)
    checker.choose_features(first)
    tally = _Tally(source, skip_bad_rows=skip_bad_rows, total=log.total, say=say, on_rows=on_rows)
    stream = itertools.chain([first], chunks)
    if dry_run:
        for raw in stream:
            tally.starting(len(raw))
            tally.add(checker.validate(raw))
        tally.check()
        return tally.result(None, checker)

    with store.write() as conn:
        run_id = store.create_run(
            kind="import", name=name or source, source=str(path.resolve()),
            signal=signal if signal is not None else path.stem,
            config={"file": str(path.resolve()), "skip_bad_rows": skip_bad_rows,
                    "columns": cols, "n_skipped": 0},
            feature_keys=checker.features, conn=conn,
        )  # fmt: skip
        snapshot: list[pa.Table] | None = []
        for raw in stream:
            tally.starting(len(raw))
            part = checker.validate(raw)
            if tally.writable(part):
                store.insert_trade_columns(run_id, part.columns(), part.closed, conn=conn)
                if snapshot is not None and tally.n_closed + part.n_closed <= SNAPSHOT_MAX_TRADES:
                    snapshot.append(part.trades(checker.features))
                else:
                    snapshot = None
            tally.add(part)
            tally.say(f"writing {tally.n_rows:,}{tally.of} rows")
        tally.check()
        conn.execute(
            "UPDATE runs SET config = json_set(config, '$.n_skipped', ?) WHERE id = ?",
            (tally.n_bad, run_id),
        )
        store.finish_run(run_id, status="completed", conn=conn)
        if snapshot is not None:  # the trades are in memory: snapshot them in this transaction
            table = _in_order(snapshot)
            store.write_snapshot(run_id, table, n_events=tally.n_good + tally.n_closed, conn=conn)
    say(f"imported run {run_id}")
    return tally.result(run_id, checker)


def _in_order(parts: list[pa.Table]) -> pa.Table:
    """The chunks' trades as one table in (entry time, signal id) order; each chunk is sorted,
    so a file already in time order needs no sort (and no copy)."""
    table = pa.concat_tables(parts)
    keys = [(p.column("entry_ns"), p.column("signal_id")) for p in parts if p.num_rows]
    ordered = all(
        (a[0][-1].as_py(), a[1][-1].as_py()) <= (b[0][0].as_py(), b[1][0].as_py())
        for a, b in itertools.pairwise(keys)
    )
    if ordered:
        return table
    return table.sort_by([("entry_ns", "ascending"), ("signal_id", "ascending")])


def _rows_of(log: _Log) -> Iterator[pd.DataFrame]:
    """The log's chunks without their entirely empty rows (empty chunks skipped).

    Raises
    ------
    ImportFileError
        The file has no row that is not empty (raised before the first chunk).
    """
    seen = 0
    any_rows = False
    for raw in log.chunks:
        seen += len(raw)
        kept = _drop_blank_rows(raw)
        if len(kept):
            any_rows = True
            kept.columns = log.columns
            yield kept
    if not any_rows:
        if seen:
            raise _fail(
                log.path, "has a header but no rows (only empty lines); add one row per signal"
            )
        what = "columns" if log.total is not None else "a header"
        raise _fail(log.path, f"has {what} but no rows; add one row per signal")


@dataclass
class _Tally:
    """Counts, row errors and the preview of an import as its chunks go by."""

    source: str
    skip_bad_rows: bool
    total: int | None
    say: Callable[[str], None]
    on_rows: Callable[[int, int | None], None] | None
    n_rows: int = 0
    n_good: int = 0
    n_bad: int = 0
    n_closed: int = 0
    errors: list[RowError] = field(default_factory=list)
    previews: list[pd.DataFrame] = field(default_factory=list)

    def writable(self, part: _Part) -> bool:
        """Whether ``part`` is to be written: none of it (nor any earlier chunk) is bad,
        or bad rows are skipped."""
        return self.skip_bad_rows or not (self.errors or part.errors)

    @property
    def of(self) -> str:
        return f" of {self.total:,}" if self.total is not None else ""

    def starting(self, n: int) -> None:
        """Say that the next ``n`` rows are being validated."""
        self.say(f"validating rows {self.n_rows + 1:,}-{self.n_rows + n:,}{self.of}")

    def add(self, part: _Part) -> None:
        self.n_rows += part.n_rows
        self.n_bad += part.n_bad
        self.n_good += part.n_good
        self.n_closed += part.n_closed
        self.errors.extend(part.errors)
        shown = sum(len(p) for p in self.previews)
        if shown < PREVIEW_ROWS:
            self.previews.append(part.preview(PREVIEW_ROWS - shown))
        if self.on_rows is not None:
            self.on_rows(self.n_rows, self.total)

    def check(self) -> None:
        """Raise when a bad row stops the import, or no row is good."""
        errors = tuple(self.errors)
        if errors and not self.skip_bad_rows:
            raise ImportFileError(
                f"{self.source}: {len(errors)} of {self.n_rows} row(s) are bad, so nothing was "
                "imported. Fix them, or pass --skip-bad-rows to import the good rows only",
                row_errors=errors,
            )
        if not self.n_good:
            raise ImportFileError(
                f"{self.source}: no good rows to import ({self.n_rows} row(s) in the file)",
                row_errors=errors,
            )

    def result(self, run_id: str | None, checker: _Validator) -> ImportResult:
        return ImportResult(
            run_id=run_id, n_rows=self.n_rows, n_imported=self.n_good, n_skipped=self.n_bad,
            row_errors=tuple(self.errors), features=checker.features,
            ignored_columns=checker.ignored, preview=pd.concat(self.previews, ignore_index=True),
            n_open=self.n_good - self.n_closed,
        )  # fmt: skip


def _add_business_days(entry: pd.Series, days: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """``entry`` + ``days`` business days (time of day kept) and the mask of rows that would
    land after :data:`TIME_HIGH` (left as NaT). NaN days or NaT entries stay as they are."""
    known = entry.notna().to_numpy(dtype=bool) & ~np.isnan(days)
    out = entry.reset_index(drop=True).copy()
    late = np.zeros(len(entry), dtype=bool)
    if not known.any():
        return out, late
    naive = entry[known].dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
    whole = naive.astype("datetime64[D]")
    steps = np.round(days[known]).astype(np.int64)
    shifted = np.busday_offset(whole, steps, roll="forward")
    over = shifted > np.datetime64(TIME_HIGH.date(), "D")
    late[np.flatnonzero(known)[over]] = True
    moved = shifted.astype("datetime64[ns]") + (naive - whole.astype("datetime64[ns]"))
    fine = np.flatnonzero(known)[~over]
    out.iloc[fine] = pd.DatetimeIndex(moved[~over]).tz_localize("UTC")
    return out, late
