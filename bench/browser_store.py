"""Prepare the data directory the browser benchmark serves: the sample backtest and a 1M run.

``python bench/browser_store.py DIR [--n N]`` (or :func:`prepare`) records the
default sample backtest (:class:`core.backtest.BacktestConfig`, five real US
stocks) and imports a synthetic signal log of ``N`` trades
(:func:`core.dashboard.synthetic_signal_log` -> :func:`core.importer.import_signal_log`)
into ``DIR``. A directory prepared before (same ``N``) is reused as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.backtest import BacktestConfig, run_backtest
from core.dashboard import synthetic_signal_log
from core.importer import import_signal_log
from core.learning import LearningEngine, LearningEngineConfig

MANIFEST = "bench_browser.json"


def prepare(data_dir: Path, *, n: int) -> dict:
    """Record the sample backtest and an ``n``-trade import in ``data_dir``; their run ids.

    Returns ``{"sample": run_id, "large": run_id, "n": n, "seconds": {...}}``; the
    manifest is kept in ``data_dir`` so a second call with the same ``n`` reuses it.
    """
    data_dir = Path(data_dir)
    manifest = data_dir / MANIFEST
    if manifest.exists():
        held = json.loads(manifest.read_text())
        if held.get("n") == n:
            return held
        raise FileExistsError(f"{data_dir} holds a {held.get('n')}-trade run; use a new folder")
    seconds: dict[str, float] = {}
    with LearningEngine(LearningEngineConfig(data_dir=data_dir)) as engine:
        start = time.perf_counter()
        sample = run_backtest(BacktestConfig(), engine=engine).run_id
        seconds["sample_backtest"] = time.perf_counter() - start
        with tempfile.TemporaryDirectory(prefix="bench-browser-log-") as tmp:
            log = Path(tmp) / "synthetic_1m.parquet"
            synthetic_signal_log(n, seed=0).to_parquet(log, index=False)
            start = time.perf_counter()
            large = import_signal_log(log, store=engine.store, name=f"synthetic {n:,}").run_id
            seconds["import"] = time.perf_counter() - start
        start = time.perf_counter()
        engine.store.trades_frame(large)  # the snapshot, as a finished import leaves it
        seconds["first_trades_read"] = time.perf_counter() - start
    held = {"sample": sample, "large": large, "n": n, "seconds": seconds}
    manifest.write_text(json.dumps(held, indent=1))
    return held


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    print(json.dumps(prepare(args.data_dir, n=args.n)))
