"""Drift detectors: false alarms, power and delay, calibrated vs river/textbook defaults.

``run(quick)`` returns JSON-ready dicts (one per scenario × base rate × detector,
then one per base rate for the family-wise false-alarm rate of a whole check).
Full run: 300k trades per stream (20,000-trade baseline, windows of 2,000),
20 seeds per base rate 0.3/0.5/0.7; ``--quick``: 30k trades, 3 seeds.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import record

from core.analytics.drift.evaluate import (
    EvaluationConfig,
    evaluate_detectors,
    family_wise_false_alarms,
)


def run(quick: bool) -> list[dict]:
    cfg = (
        EvaluationConfig(n_trades=30_000, n_baseline=10_000, seeds=3, n_paths=1000)
        if quick
        else EvaluationConfig()
    )
    out: list[dict] = []
    start = time.perf_counter()
    frame = evaluate_detectors(cfg)
    seconds = time.perf_counter() - start
    for row in frame.to_dict("records"):
        out.append(record("drift_detectors", cfg.n_trades, seconds, **row))
    start = time.perf_counter()
    fw = family_wise_false_alarms(cfg, max_windows=3 if quick else None)
    seconds = time.perf_counter() - start
    for row in fw.to_dict("records"):
        out.append(record("drift_family_wise", cfg.n_trades, seconds, **row))
    # the power of a whole check (every test and both detectors) on planted shifts
    for scenario in ("step_drop", "calibration_break", "score_shift"):
        start = time.perf_counter()
        power = family_wise_false_alarms(cfg, scenario=scenario, max_windows=3 if quick else 10)
        seconds = time.perf_counter() - start
        for row in power.to_dict("records"):
            out.append(record("drift_check_power", cfg.n_trades, seconds, **row))
    return out
