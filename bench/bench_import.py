"""Import of a signal log, as a user runs it: ``signal-lab import`` in its own process.

Records (JSON lines, see ``bench/run.py``):

- ``import_parquet``: a synthetic 1M-row Parquet log imported by ``python -m core.cli
  import`` in a subprocess, wall time and the process's peak RSS, against the floor: a
  subprocess that reads the same file with pyarrow and ``executemany``-s the same narrow
  rows (one per signal) into a fresh SQLite file with the store's pragmas (WAL,
  ``synchronous=NORMAL``), in one transaction. Medians of alternating runs. Peak RSS is
  each process's own (``ru_maxrss`` of a child forked from a small launcher, see
  :data:`_LAUNCH`; forked from the bench itself it inherited the bench's high-water mark).
- ``import_dry_run_csv``: ``--dry-run`` of a ~200 MB CSV (4.3M rows), against
  ``pyarrow.csv.read_csv`` of the same file in a subprocess (peak memory is the target).
- ``trades_frame_snapshot``: ``Store.trades_frame`` of the imported 1M-trade run (its
  snapshot, an Arrow IPC file with lz4 buffers since 2026-12-02) against two references,
  medians of 7 alternating runs in one process:

  (a) ``reference_seconds``: pyarrow reading the snapshot blob already in hand
      (``pyarrow.ipc.open_file(...).read_all()``; before: ``pyarrow.parquet.read_table`` of
      the lz4 Parquet blob, printed as ``parquet_lz4_read_seconds`` for the same trades).
      It leaves out fetching the 45 MB blob from SQLite and building the frame, which is
      most of the work: with the IPC encoding reading the blob costs 0.015-0.02 s, so this
      ratio is 4.7-6.3 (2026-12-02, load 3-5) while ours got faster (0.18 -> 0.09 s).
  (b) ``same_work_seconds``: the same work with ``sqlite3`` and pyarrow alone, each with
      its fastest call (:func:`_same_work`): fetch the blob (incremental blob I/O over a
      memory map, as ours; ``select_blob_seconds`` is a plain ``SELECT``), read it, cast
      the times and ``win`` to the frame's dtypes, add the run id, ``to_pandas()``. The
      target (<= 1.5) is on this ratio: it is the floor for producing the frame from the
      bytes stored, and what ours adds (the run's row, the count check) shows in it
      (0.82-1.01 on 2026-12-02).
- ``import_parquet_10m`` (only with ``SIGNAL_LAB_BENCH_10M=1``): 10M rows, run once.
- ``layout_*`` (only with ``SIGNAL_LAB_BENCH_LAYOUTS=1``): the storage layouts compared in
  ``docs/architecture.md`` (Decisions), plain ``executemany`` of the same trades.

``--quick`` (via ``bench/run.py --quick``) uses 100k rows and a 20 MB CSV.
Usage alone: ``python bench/bench_import.py [--quick]``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from core.store import Store
from core.store.db import read_snapshot

_FLOOR = """
import sqlite3, sys, pyarrow.parquet as pq
path, db = sys.argv[1], sys.argv[2]
table = pq.read_table(path)
ts = table.column("timestamp").cast("int64").to_pylist()
cols = [table.column(c).to_pylist() for c in
        ("symbol", "side", "confidence", "return_pct", "holding_days")]
conn = sqlite3.connect(db)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("PRAGMA synchronous = NORMAL")
conn.execute("CREATE TABLE t (ts INTEGER, symbol TEXT, side INTEGER, confidence REAL, "
             "return_pct REAL, holding_days REAL)")
conn.execute("BEGIN")
conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", zip(ts, *cols))
conn.execute("COMMIT")
conn.close()
"""

_CSV_READ = """
import sys, pyarrow.csv as pc
pc.read_csv(sys.argv[1])
"""


def synthetic_log(n: int, *, seed: int = 0) -> pd.DataFrame:
    """A synthetic signal log (the dashboard's generator's columns), built with numpy."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2015-01-02", tz="UTC").value
    ts = start + np.arange(n, dtype=np.int64) * 60 * 10**9  # a signal a minute
    confidence = rng.beta(2.5, 2.5, n)
    win = rng.random(n) < 0.42 + 0.2 * confidence
    size = rng.gamma(2.0, 0.6, n) + 0.01
    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(ts.view("datetime64[ns]")).tz_localize("UTC"),
            "symbol": rng.choice(np.array(["SYN000", "SYN001", "SYN002", "SYN003"]), n),
            "side": rng.choice(np.array([1, -1]), n),
            "confidence": confidence.round(6),
            "return_pct": np.where(win, size, -size * 0.95).round(6),
            "holding_days": np.full(n, 5.0),
        }
    )


def write_parquet(path: Path, n: int, *, chunk: int = 1_000_000) -> None:
    """Write an ``n``-row synthetic log in row groups (bounded memory for 10M rows)."""
    writer = None
    for i, start in enumerate(range(0, n, chunk)):
        frame = synthetic_log(min(chunk, n - start), seed=i)
        frame["timestamp"] += pd.Timedelta(minutes=start)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=100_000)
    if writer is not None:
        writer.close()


def write_csv(path: Path, n: int, *, chunk: int = 500_000) -> None:
    for i, start in enumerate(range(0, n, chunk)):
        frame = synthetic_log(min(chunk, n - start), seed=i)
        frame["timestamp"] += pd.Timedelta(minutes=start)
        frame.to_csv(path, mode="a" if i else "w", header=i == 0, index=False)


#: Runs ``argv[1:]`` and prints its wall seconds, peak RSS (MB) and exit code. The measured
#: process is forked from this small launcher: Linux keeps a process's RSS high-water mark
#: across fork and exec, so a child forked from the bench itself (which holds a 1M-row frame
#: by then) reported the bench's peak, not its own.
_LAUNCH = """
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
seconds = time.perf_counter() - start
print(json.dumps([seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)]))
"""


def timed_process(args: list[str]) -> tuple[float, float]:
    """Run ``args`` and return (wall seconds, peak RSS in MB) of that process alone."""
    done = subprocess.run([sys.executable, "-c", _LAUNCH, *args], cwd=ROOT, capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"launcher failed ({done.returncode}):\n{done.stderr[-2000:]}")
    seconds, peak, code = json.loads(done.stdout.strip().splitlines()[-1])
    if code != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed ({code}):\n{done.stderr[-2000:]}")
    return seconds, peak


def _import_args(path: Path, data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "core.cli", "import", str(path), "--data-dir", str(data),
            *extra]  # fmt: skip


def _alternate(work: Path, runs: dict[str, callable], repeat: int) -> dict[str, list]:
    out: dict[str, list] = {name: [] for name in runs}
    for i in range(repeat):
        for name, run in runs.items():
            target = work / f"{name}-{i}"
            out[name].append(run(target))
            shutil.rmtree(target, ignore_errors=True)
    return out


def _median(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def _load(path: Path) -> str:
    return f"{os.getloadavg()[0]:.2f}"


def layouts(n: int, *, repeat: int = 3) -> list[dict]:
    """The storage layouts the Decisions section compares: ``executemany`` of ``n`` trades
    (signal + outcome) in one transaction, WAL, ``synchronous=NORMAL``, medians of
    alternating runs. Run with ``SIGNAL_LAB_BENCH_LAYOUTS=1``."""
    import sqlite3

    from sqlite_utils import Database

    from core.store.schema import m001_events_and_runs

    rng = np.random.default_rng(0)
    ts = ((1_420_000_000 + np.sort(rng.integers(0, 300_000_000, n))) * 10**9).tolist()
    ex = [t + 5 * 86_400 * 10**9 for t in ts]
    sid = [f"{i:08d}" for i in range(n)]
    sym = rng.choice(np.array(["AAPL", "MSFT", "IBM", "GOOG"]), n).tolist()
    side, conf = [1] * n, rng.random(n).tolist()
    hold, ret = [5.0] * n, rng.normal(0, 2, n).tolist()
    win = [int(r > 0) for r in ret]
    rec, none, zero, empty, one = 1_700_000_000 * 10**9, [None] * n, [0] * n, ["{}"] * n, [1] * n

    def connect(folder: Path) -> sqlite3.Connection:
        folder.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(folder / "x.db")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def timed(conn: sqlite3.Connection, work: callable) -> float:
        start = time.perf_counter()
        conn.execute("BEGIN")
        work()
        conn.execute("COMMIT")
        conn.close()
        return time.perf_counter() - start

    def floor(folder: Path) -> float:
        c = connect(folder)
        c.execute("CREATE TABLE f (ts, symbol, side, confidence, return_pct, holding_days, "
                  "signal_id, exit_ts)")  # fmt: skip
        return timed(c, lambda: c.executemany("INSERT INTO f VALUES (?,?,?,?,?,?,?,?)",
                                              zip(ts, sym, side, conf, ret, hold, sid, ex, strict=False)))  # fmt: skip

    def events(folder: Path) -> float:
        c = connect(folder)
        m001_events_and_runs(Database(c))
        cols = (
            "event_id, run_id, type, ts, recorded_at, symbol, signal_id, side, confidence, "
            "holding_days, calibrated, return_pct, win, payload"
        )
        sql = f"INSERT INTO events ({cols}) VALUES ({','.join('?' * 14)})"

        def work() -> None:
            c.executemany(sql, zip([f"{'e' * 16}s{i:07x}" for i in range(n)], ["run-x"] * n,
                                   ["SIGNAL_GENERATED"] * n, ts, [rec] * n, sym, sid, side, conf,
                                   hold, zero, none, none, empty, strict=False))  # fmt: skip
            c.executemany(sql, zip([f"{'e' * 16}o{i:07x}" for i in range(n)], ["run-x"] * n,
                                   ["SIGNAL_ACCURACY"] * n, ex, [rec] * n, sym, sid, none, conf,
                                   none, zero, ret, win, empty, strict=False))  # fmt: skip

        return timed(c, work)

    def two_tables(folder: Path) -> float:
        c = connect(folder)
        c.execute("CREATE TABLE s (id INTEGER PRIMARY KEY, run INTEGER, signal_id TEXT, ts INTEGER,"
                  " recorded_at INTEGER, symbol TEXT, side INTEGER, confidence REAL, "
                  "holding_days REAL)")  # fmt: skip
        c.execute("CREATE TABLE o (id INTEGER PRIMARY KEY, run INTEGER, signal_id TEXT, ts INTEGER,"
                  " recorded_at INTEGER, return_pct REAL)")  # fmt: skip

        def work() -> None:
            c.executemany("INSERT INTO s (run, signal_id, ts, recorded_at, symbol, side, "
                          "confidence, holding_days) VALUES (?,?,?,?,?,?,?,?)",
                          zip(one, sid, ts, [rec] * n, sym, side, conf, hold, strict=False))  # fmt: skip
            c.executemany("INSERT INTO o (run, signal_id, ts, recorded_at, return_pct) "
                          "VALUES (?,?,?,?,?)", zip(one, sid, ex, [rec] * n, ret, strict=False))  # fmt: skip
            c.execute("CREATE INDEX ixs ON s (run, signal_id)")
            c.execute("CREATE INDEX ixo ON o (run, signal_id)")

        return timed(c, work)

    def one_row(folder: Path, *, index_first: bool) -> float:
        c = connect(folder)
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, run INTEGER, signal_id TEXT, "
                  "ts INTEGER, recorded_at INTEGER, symbol TEXT, side INTEGER, confidence REAL, "
                  "holding_days REAL, o_id INTEGER, exit_ts INTEGER, return_pct REAL)")  # fmt: skip
        index = "CREATE INDEX ixt ON t (run, signal_id, ts, o_id)"
        if index_first:
            c.execute(index)

        def work() -> None:
            c.executemany("INSERT INTO t (run, signal_id, ts, recorded_at, symbol, side, "
                          "confidence, holding_days, o_id, exit_ts, return_pct) "
                          "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                          zip(one, sid, ts, [rec] * n, sym, side, conf, hold,
                              range(n + 1, 2 * n + 1), ex, ret, strict=False))  # fmt: skip
            if not index_first:
                c.execute(index)

        return timed(c, work)

    cases = {
        "floor_one_narrow_row_per_trade": floor,
        "events_table_two_rows_per_trade": events,
        "two_narrow_tables_index_after": two_tables,
        "one_row_per_trade_index_after": lambda f: one_row(f, index_first=False),
        "one_row_per_trade_index_before": lambda f: one_row(f, index_first=True),
    }
    work = Path(tempfile.mkdtemp(prefix="bench-layout-"))
    times: dict[str, list[float]] = {name: [] for name in cases}
    try:
        for i in range(repeat):
            for name, case in cases.items():
                times[name].append(case(work / f"{name}-{i}"))
                shutil.rmtree(work / f"{name}-{i}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ref = statistics.median(times["floor_one_narrow_row_per_trade"])
    return [
        {"bench": f"layout_{name}", "n": n, "seconds": statistics.median(v),
         "reference": "floor_one_narrow_row_per_trade", "reference_seconds": ref,
         "ratio": statistics.median(v) / ref, "runs": v, "load_avg_1m": _load(work)}
        for name, v in times.items()
    ]  # fmt: skip


def _same_work(db: Path, run_id: str) -> pd.DataFrame:
    """Reference (b): what ``Store.trades_frame`` does for a finished run, written with
    ``sqlite3`` and pyarrow alone and their fastest calls: fetch the blob (incremental blob
    I/O over a memory map, as ours), read the Arrow IPC file, cast the times and ``win``
    to the frame's types, add the run id, ``to_pandas()``. No run lookup, no checks."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA mmap_size = 2147483648")
        (rowid,) = conn.execute(
            "SELECT rowid FROM trade_snapshots WHERE run_id = ?", (run_id,)
        ).fetchone()
        with conn.blobopen("trade_snapshots", "parquet", rowid, readonly=True) as handle:
            blob = handle.read()
    finally:
        conn.close()
    table = pa.ipc.open_file(pa.py_buffer(blob)).read_all()
    stamp = pa.timestamp("ns", tz="UTC")
    columns = {name: table.column(name) for name in table.column_names}
    columns["entry_ns"] = columns["entry_ns"].cast(stamp)
    columns["exit_ns"] = columns["exit_ns"].cast(stamp)
    columns["win"] = pc.not_equal(columns["win"], 0)
    columns["run_id"] = pa.array([run_id]).take(pa.array(np.zeros(table.num_rows, np.int32)))
    return pa.table(columns).to_pandas()


def _trades_frame_load(data: Path, n: int, *, repeat: int = 7) -> dict:
    """``Store.trades_frame`` of the imported run against (a) pyarrow reading its snapshot
    blob already in hand and (b) :func:`_same_work`; also the plain ``SELECT`` of the blob
    and pyarrow reading the same trades as the lz4 Parquet stored before. Medians of
    ``repeat`` alternating runs in this process (one open ``Store``, as a page keeps it)."""
    db = data / "signal_lab.db"
    with Store(data) as store:
        (info,) = store.list_runs()
        blob = store.conn.execute(
            "SELECT parquet FROM trade_snapshots WHERE run_id = ?", (info.id,)
        ).fetchone()[0]
    parquet = io.BytesIO()
    pq.write_table(read_snapshot(blob), parquet, compression="lz4")
    parquet = parquet.getvalue()

    store = Store(data)  # opened once, as the dashboard keeps it

    def ours() -> None:
        store.trades_frame(info.id)

    def select() -> None:
        conn = sqlite3.connect(db)
        conn.execute("SELECT parquet FROM trade_snapshots WHERE run_id = ?", (info.id,)).fetchone()
        conn.close()

    cases = {
        "ours": ours,
        "read_blob": lambda: pa.ipc.open_file(pa.py_buffer(blob)).read_all(),
        "same_work": lambda: _same_work(db, info.id),
        "select_blob": select,
        "read_parquet": lambda: pq.read_table(io.BytesIO(parquet)),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for case in cases.values():
        case()  # warm-up: the file in the page cache for every case
    try:
        for _ in range(repeat):
            for name, case in cases.items():
                start = time.perf_counter()
                case()
                times[name].append(time.perf_counter() - start)
    finally:
        store.close()
    med = {name: statistics.median(v) for name, v in times.items()}
    return {
        "bench": "trades_frame_snapshot", "n": n, "seconds": med["ours"],
        "reference": "pyarrow_read_of_the_snapshot_blob_in_hand",
        "reference_seconds": med["read_blob"], "ratio": med["ours"] / med["read_blob"],
        "same_work_reference": "sqlite3_blob_fetch_plus_pyarrow_read_plus_to_pandas_same_dtypes",
        "same_work_seconds": med["same_work"], "same_work_ratio": med["ours"] / med["same_work"],
        "target_ratio_max": 1.5, "select_blob_seconds": med["select_blob"],
        "parquet_lz4_read_seconds": med["read_parquet"], "blob_mb": len(blob) / 1e6,
        "parquet_lz4_mb": len(parquet) / 1e6, "runs": times["ours"],
        "load_avg_1m": _load(data),
    }  # fmt: skip


def run(quick: bool) -> list[dict]:
    n = 100_000 if quick else 1_000_000
    n_csv = 430_000 if quick else 4_300_000
    repeat = 3
    out: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        log = work / "signals.parquet"
        write_parquet(log, n)

        def engine(target: Path) -> tuple[float, float]:
            return timed_process(_import_args(log, target))

        def floor(target: Path) -> tuple[float, float]:
            target.mkdir(parents=True, exist_ok=True)
            return timed_process([sys.executable, "-c", _FLOOR, str(log), str(target / "f.db")])

        load_before = _load(work)
        times = _alternate(work, {"import": engine, "floor": floor}, repeat)
        (seconds, peak), (ref_seconds, ref_peak) = _median(times["import"]), _median(times["floor"])
        out.append({
            "bench": "import_parquet", "n": n, "seconds": seconds,
            "reference": "pyarrow_read_plus_sqlite_executemany_narrow_rows",
            "reference_seconds": ref_seconds, "ratio": seconds / ref_seconds,
            "peak_mb": peak, "reference_peak_mb": ref_peak, "target_ratio_max": 3.0,
            "target_peak_mb_max": 800.0, "runs": times["import"], "reference_runs": times["floor"],
            "load_avg_1m": f"{load_before} -> {_load(work)}",
            "note": "whole `signal-lab import` process (python -m core.cli) vs the floor process",
        })  # fmt: skip

        # Trades-frame load of the imported run: ours against (a) pyarrow reading the blob in
        # hand and (b) the same work done with sqlite3 + pyarrow alone (see the docstring).
        data = work / "kept"
        timed_process(_import_args(log, data))
        out.append(_trades_frame_load(data, n))

        csv = work / "signals.csv"
        write_csv(csv, n_csv)
        size_mb = csv.stat().st_size / 1e6
        times = _alternate(
            work,
            {
                "dry": lambda t: timed_process(_import_args(csv, t, "--dry-run")),
                "read": lambda t: timed_process([sys.executable, "-c", _CSV_READ, str(csv)]),
            },
            repeat,
        )
        (seconds, peak), (ref_seconds, ref_peak) = _median(times["dry"]), _median(times["read"])
        out.append({
            "bench": "import_dry_run_csv", "n": n_csv, "seconds": seconds,
            "reference": "pyarrow_csv_read_csv_same_file", "reference_seconds": ref_seconds,
            "ratio": seconds / ref_seconds, "peak_mb": peak, "reference_peak_mb": ref_peak,
            "target_peak_mb_max": 1500.0, "file_mb": size_mb,
        })  # fmt: skip

        if os.environ.get("SIGNAL_LAB_BENCH_10M") == "1" and not quick:
            big = work / "big.parquet"
            write_parquet(big, 10_000_000)
            seconds, peak = timed_process(_import_args(big, work / "big"))
            out.append({
                "bench": "import_parquet_10m", "n": 10_000_000, "seconds": seconds,
                "peak_mb": peak, "target_peak_mb_max": 1500.0, "note": "one run",
            })  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if os.environ.get("SIGNAL_LAB_BENCH_LAYOUTS") == "1":
        out.extend(layouts(n))
    return out


if __name__ == "__main__":
    for line in run("--quick" in sys.argv):
        print(json.dumps(line), flush=True)
