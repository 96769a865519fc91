"""Helpers shared by the benchmarks: medians of alternating runs, records, peak memory."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def best_of(
    fn: Callable[[], Any], *, repeat: int = 3, setup: Callable[[], Any] | None = None
) -> float:
    """Fastest wall-clock time of ``repeat`` calls (seconds); ``setup`` runs untimed before each.

    Kept for one-off setup figures only: a figure compared with a reference comes from
    :func:`alternate` (medians of alternating runs), never a minimum against a
    reference timed once.
    """
    best = float("inf")
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def alternate(
    fns: Mapping[str, Callable[[], Any]], *, repeat: int = 5, warmup: int = 1
) -> dict[str, float]:
    """Median wall-clock seconds of each callable, run in turn ``repeat`` times.

    Round ``i`` runs every callable once, in the mapping's order (A, B, C, A, B, C,
    ...), so a noisy neighbour on the shared machine hits them alike. ``warmup``
    untimed rounds come first (imports, caches, JIT).
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(warmup + repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def record(
    bench: str,
    n: int,
    seconds: float,
    *,
    reference: str | None = None,
    reference_seconds: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One benchmark line; ``ratio`` = seconds / reference_seconds when there is a reference."""
    out: dict[str, Any] = {"bench": bench, "n": n, "seconds": seconds}
    if reference is not None and reference_seconds:
        out.update(
            reference=reference,
            reference_seconds=reference_seconds,
            ratio=seconds / reference_seconds,
        )
    out.update(extra)
    return out


def in_subprocess(code: str, *, timeout: float = 1800.0) -> dict[str, Any]:
    """Run ``code`` in a fresh Python and measure it: wall seconds and peak memory.

    ``code`` runs after ``import`` of whatever it needs; the timer starts at the
    marker line ``# --- timed`` (everything above it is setup) and stops at its end.
    Returns ``{"seconds", "peak_rss_gb", "base_rss_gb", "result"}``: the process's
    peak resident set (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), the resident
    set when the timed part began, and the value the code left in ``result``.
    """
    setup, _, timed = textwrap.dedent(code).partition("# --- timed")
    script = "\n".join([
        "import json, resource, sys, time",
        f"sys.path.insert(0, {str(ROOT)!r})",
        "result = None",
        setup,
        "def _rss():",
        "    with open('/proc/self/statm') as f:",
        "        return int(f.read().split()[1]) * resource.getpagesize()",
        "_base = _rss()",
        "_start = time.perf_counter()",
        timed,
        "_seconds = time.perf_counter() - _start",
        # VmHWM, not ru_maxrss: on Linux ru_maxrss survives fork + exec, so a child
        # started by a big benchmark process would report its parent's peak.
        "_peak = next(int(line.split()[1]) * 1024 for line in open('/proc/self/status')"
        " if line.startswith('VmHWM:'))",
        "print('BENCH-RESULT ' + json.dumps({'seconds': _seconds, 'peak_rss_gb': _peak / 1e9,"
        " 'base_rss_gb': _base / 1e9, 'result': result}))",
    ])  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line.removeprefix("BENCH-RESULT "))
    raise RuntimeError(f"benchmark subprocess failed:\n{proc.stderr[-3000:]}")
