"""Dashboard: the server-side work of one move of the Thresholds slider on 1M trades.

A synthetic signal log of 1,000,000 trades (100,000 with ``--quick``) is
imported through :func:`core.importer.import_signal_log`; its trades frame is
read and prepared once (:func:`core.dashboard.book_arrays`, what the page
caches). A slider move then costs what the page's fragment does on a rerun:

- ``dashboard_slider_move``: :func:`core.dashboard.filtered_book` (mask,
  metrics, summed equity) plus what the page's panel is sent on a move (the
  kept trades' curve, :func:`core.dashboard.kept_trace_update`, the marker's
  CSS and the metrics table's rows, serialised to JSON), against the
  numpy floor on the same prepared arrays, with no per-run preparation in it: a
  mask, the kept returns' count, wins, mean, std, Sharpe and profit factor, and the
  kept equity at the drawn points. Medians of 5 alternating rounds over 7
  thresholds.
- ``dashboard_slider_rerun``: the same move end to end through Streamlit's
  AppTest (the whole app script: sidebar, cache hits, figures serialised);
  the browser's view is in ``bench_browser.py``.
- ``dashboard_import_log`` / ``dashboard_load_trades``: the import and the
  trades-frame load, each in a fresh process with its peak memory (resident
  set), the load against the pyarrow floor: reading the same snapshot blob
  (an Arrow IPC file; Parquet in older stores) with pyarrow and ``.to_pandas()``.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import alternate, in_subprocess, record

from core.dashboard import (
    book_arrays,
    filtered_book,
    metrics_rows,
    synthetic_signal_log,
    threshold_view,
)
from core.dashboard import slider as slider_figures
from core.dashboard import thresholds as threshold_figures
from core.store import Store

THRESHOLDS = (0.3, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8)


def _median(fn, values) -> float:
    times = []
    for v in values:
        start = time.perf_counter()
        fn(v)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def numpy_floor(score: np.ndarray, returns: np.ndarray, idx: np.ndarray, t: float) -> tuple:
    """The floor of a move on prepared arrays: mask, six figures, the kept equity drawn."""
    keep = score >= t
    kept = returns[keep]
    k = kept.size
    mean = kept.mean()
    std = kept.std(ddof=1)
    gains = kept[kept > 0].sum()
    losses = -kept[kept < 0].sum()
    equity = np.cumsum(np.where(keep, returns, 0.0))[idx]
    return k, int((kept > 0).sum()), mean, std, mean / std, gains / losses, equity


def run(quick: bool) -> list[dict]:

    n = 100_000 if quick else 1_000_000
    out: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    try:
        log = work / "signals.parquet"
        synthetic_signal_log(n, seed=0).to_parquet(log, index=False)
        imported = in_subprocess(f"""
            from core.importer import import_signal_log
            from core.store import Store
            store = Store({str(work / "data")!r})
            # --- timed
            result = import_signal_log({str(log)!r}, store=store, name="bench").run_id
            store.close()
        """)
        run_id = imported["result"]
        out.append(record("dashboard_import_log", n, imported["seconds"],
                          peak_rss_gb=imported["peak_rss_gb"], base_rss_gb=imported["base_rss_gb"],
                          note="import_signal_log of a parquet log, fresh process (setup)"))  # fmt: skip
        with Store(work / "data") as store:
            store.trades_frame(run_id)  # the snapshot exists after the import; make sure
        load = {}
        for name, body in (
            ("ours", f"s = Store({str(work / 'data')!r})\n# --- timed\n"
                     f"result = len(s.trades_frame({run_id!r}))"),
            ("pyarrow", "import sqlite3, pyarrow as pa, pyarrow.parquet as pq\n"
                        f"c = sqlite3.connect({str(work / 'data' / 'signal_lab.db')!r})\n"
                        "# --- timed\n"
                        "blob = c.execute('SELECT parquet FROM trade_snapshots WHERE run_id = ?', "
                        f"({run_id!r},)).fetchone()[0]\n"
                        # the blob is an Arrow IPC file (Parquet in stores written before)
                        "t = (pa.ipc.open_file(pa.py_buffer(blob)).read_all() "
                        "if blob[:6] == b'ARROW1' else pq.read_table(pa.BufferReader(blob)))\n"
                        "result = len(t.to_pandas())"),
        ):  # fmt: skip
            runs = [in_subprocess("from core.store import Store\n" + body) for _ in range(5)]
            load[name] = runs
        med = {k: statistics.median(r["seconds"] for r in v) for k, v in load.items()}
        out.append(record("dashboard_load_trades", n, med["ours"],
                          reference="pyarrow read of the same snapshot blob (Arrow IPC) .to_pandas()",
                          reference_seconds=med["pyarrow"],
                          peak_rss_gb=max(r["peak_rss_gb"] for r in load["ours"]),
                          reference_peak_rss_gb=max(r["peak_rss_gb"] for r in load["pyarrow"]),
                          note="Store.trades_frame from the snapshot, fresh process each, "
                               "median of 5 (cached by the page)"))  # fmt: skip
        with Store(work / "data") as store:
            trades = store.trades_frame(run_id)

        start = time.perf_counter()
        book = book_arrays(trades, key="confidence")
        out.append(record("dashboard_prepare_book", n, time.perf_counter() - start,
                          note="book_arrays once per (run, key) (cached by the page)"))  # fmt: skip

        view = threshold_view(trades)
        sweep_spec = threshold_figures.sweep_figure_spec(view)
        template = slider_figures.equity_template(filtered_book(book, threshold=0.0))
        idx = np.searchsorted(book.time_ns, template.times.view(np.int64))

        def ours() -> None:  # the page's fragment: the panel's light data on a move
            for t in THRESHOLDS:
                filtered = filtered_book(book, threshold=t)
                json.dumps({
                    "marker_css": threshold_figures.sweep_marker_css(
                        sweep_spec, t, selector=".signal-lab-sweep"),
                    "kept": slider_figures.kept_trace_update(template, filtered),
                    "table": metrics_rows(filtered.metrics),
                })  # fmt: skip

        def floor() -> None:
            for t in THRESHOLDS:
                numpy_floor(book.score, book.returns, idx, t)

        med = alternate({"ours": ours, "floor": floor}, repeat=5)
        per = len(THRESHOLDS)
        out.append(record("dashboard_slider_move", n, med["ours"] / per,
                          reference="numpy floor on the prepared arrays (mask, 6 figures, "
                                    "kept equity at the drawn points)",
                          reference_seconds=med["floor"] / per, target_seconds=0.25,
                          note="filtered_book + the kept trades' curve + the marker's CSS + "
                               "the metrics table's rows, as JSON (what the slider's panel is sent "
                               "on a move), per move; "
                               "median of 5 alternating rounds of 7 thresholds"))  # fmt: skip
        assert np.isfinite(book.returns).all()
        out.append(_apptest_rerun(work / "data", n))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _apptest_rerun(data_dir: Path, n: int) -> dict:
    """Median wall time of a slider move through the whole app (AppTest), analysis cached."""
    import os

    from streamlit.logger import set_log_level
    from streamlit.runtime import pages_manager
    from streamlit.testing.v1 import AppTest

    set_log_level("error")  # AppTest warns about the missing browser session on every call

    original = pages_manager.PagesManager.__init__

    def init(self, *args, **kwargs):  # route through st.navigation, as the server does
        original(self, *args, **kwargs)
        pages_manager.PagesManager.uses_pages_directory = False

    pages_manager.PagesManager.__init__ = init
    os.environ["SIGNAL_LAB_DATA_DIR"] = str(data_dir)
    try:
        at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"),
                               default_timeout=900)  # fmt: skip
        at.run()
        at.switch_page("pages/thresholds.py").run()  # computes and caches the analysis
        times = []
        for t in THRESHOLDS:
            start = time.perf_counter()
            at.slider(key="thr_slider_absolute").set_value(t).run()
            times.append(time.perf_counter() - start)
        if at.exception or at.error:
            raise RuntimeError(f"the Thresholds page failed: {at.exception or at.error}")
    finally:
        pages_manager.PagesManager.__init__ = original
        os.environ.pop("SIGNAL_LAB_DATA_DIR", None)
    return record("dashboard_slider_rerun", n, statistics.median(times), target_seconds=0.3,
                  note="AppTest: whole app rerun on a slider move, median over thresholds")  # fmt: skip


if __name__ == "__main__":
    import json

    for line in run("--quick" in sys.argv):
        print(json.dumps(line))
