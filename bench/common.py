"""Helpers shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_of(
    fn: Callable[[], Any], *, repeat: int = 3, setup: Callable[[], Any] | None = None
) -> float:
    """Fastest wall-clock time of ``repeat`` calls (seconds); ``setup`` runs untimed before each."""
    best = float("inf")
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


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
