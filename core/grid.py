"""Parameter grids: one recorded backtest per combination, run on an executor.

:func:`run_grid` expands ``{"holding_days": [3, 5], "min_agree": [2, 3],
"threshold": [0.6, 0.7]}`` into every combination, submits one backtest per
combination to an executor (:func:`core.lifecycle.executors.make_executor`: a
local process pool by default, a Dask cluster's executor when given) and
returns a summary: the parameters, key metrics of the baseline and filtered
books, and the ``run_id`` of each backtest recorded in the store.

Each worker runs :func:`run_grid_point`, a top-level function of plain data
(the backtest config as a dict, with ``data_dir``): it opens its own store on
the same SQLite file, whose write transactions serialise concurrent writers.
Every combination is an ordinary recorded run, so every page and command
works on it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core.backtest import BacktestConfig, run_backtest
from core.errors import ConfigError
from core.lifecycle.executors import ExecutorSpec, describe, make_executor

__all__ = ["GRID_METRICS", "GridResult", "expand_grid", "run_grid", "run_grid_point"]

#: Metrics of each book reported per combination (columns ``baseline_<m>``, ``filtered_<m>``).
GRID_METRICS: tuple[str, ...] = (
    "n_trades",
    "win_rate",
    "mean_return_pct",
    "sharpe_per_trade",
    "profit_factor",
    "sharpe_daily",
    "max_drawdown",
    "total_return",
)

_PROGRESS = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class GridResult:
    """What :func:`run_grid` returns.

    Attributes
    ----------
    summary : DataFrame, shape (n_combinations, ...)
        One row per combination in grid order: the parameters, ``run_id``,
        ``n_signals``, ``validation_passed``, ``baseline_<m>`` and ``filtered_<m>``
        for every metric of :data:`GRID_METRICS`, ``seconds`` and ``error``
        (None when the backtest ran).
    params : tuple of str
        The grid's parameter names (the first columns of ``summary``).
    executor : str
        Where the backtests ran.
    seconds : float
        Wall-clock time of the whole grid.
    """

    summary: pd.DataFrame
    params: tuple[str, ...]
    executor: str
    seconds: float

    @property
    def run_ids(self) -> list[str]:
        """Run ids of the combinations that ran."""
        return [r for r in self.summary["run_id"] if isinstance(r, str)]

    @property
    def n_failed(self) -> int:
        return int(self.summary["error"].notna().sum())

    def best(self, metric: str = "filtered_sharpe_per_trade") -> pd.Series:
        """The row with the largest ``metric`` among the combinations that ran."""
        if metric not in self.summary.columns:
            raise ConfigError(
                f"no column {metric!r} in the grid summary; one of {', '.join(self.summary.columns)}"
            )
        ok = self.summary[self.summary["error"].isna()]
        if ok.empty or ok[metric].isna().all():
            raise ConfigError(f"no combination has a value of {metric!r}")
        return ok.loc[ok[metric].idxmax()]

    def to_dict(self) -> dict[str, Any]:
        records = self.summary.astype(object).where(self.summary.notna(), None)
        return {
            "params": list(self.params),
            "executor": self.executor,
            "seconds": self.seconds,
            "n_failed": self.n_failed,
            "rows": records.to_dict(orient="records"),
        }


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of ``grid`` (first key varies slowest), as dicts.

    Raises
    ------
    ConfigError
        A parameter with no values, or values that are not a list.
    """
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError(
            "grid must be a non-empty mapping of parameter to list of values, e.g. "
            "{'holding_days': [3, 5], 'threshold': [0.6, 0.7]}"
        )
    names = list(grid)
    values = []
    for name in names:
        v = grid[name]
        if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) == 0:
            raise ConfigError(f"grid[{name!r}] must be a non-empty list of values, got {v!r}")
        values.append(list(v))
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def run_grid_point(config: dict[str, Any]) -> dict[str, Any]:
    """Run and record one backtest from a config dict; plain data in and out.

    The work each executor worker runs. ``config`` holds
    :class:`core.backtest.BacktestConfig` fields, including ``data_dir``.
    """
    started = time.perf_counter()
    result = run_backtest(BacktestConfig.from_dict(config))
    baseline, filtered = result.baseline.numeric(), result.filtered.numeric()
    row: dict[str, Any] = {
        "run_id": result.run_id,
        "n_signals": int(result.n_signals),
        "validation_passed": bool(result.validation_passed),
    }
    for m in GRID_METRICS:
        row[f"baseline_{m}"] = baseline[m]
        row[f"filtered_{m}"] = filtered[m]
    row["seconds"] = time.perf_counter() - started
    return row


def run_grid(
    base_config: Any,
    grid: Mapping[str, Sequence[Any]],
    *,
    executor: ExecutorSpec = None,
    data_dir: str | Path,
    progress: _PROGRESS | None = None,
) -> GridResult:
    """Run one recorded backtest per combination of ``grid`` and summarise them.

    Parameters
    ----------
    base_config : BacktestConfig or mapping
        Settings shared by every combination.
    grid : mapping of str to list
        :class:`~core.backtest.BacktestConfig` field to the values to try, e.g.
        ``{"holding_days": [3, 5], "min_agree": [2, 3], "threshold": [0.6, 0.7]}``.
    executor : str, Executor or None
        Where the backtests run (see :func:`~core.lifecycle.executors.make_executor`);
        the local process pool by default. An executor passed in is left running.
    data_dir : str or Path
        The store every backtest is recorded in (each worker opens it itself).
    progress : callable, optional
        ``progress(done, total)`` after each combination finishes.

    Returns
    -------
    GridResult

    Raises
    ------
    ConfigError
        An unknown parameter (with a "did you mean") or a bad value, before
        anything runs.
    """
    base = base_config if isinstance(base_config, BacktestConfig) else (
        BacktestConfig.from_dict(dict(base_config or {}))
    )  # fmt: skip
    if not base.use_learning_engine:
        raise ConfigError("a grid records every backtest; set use_learning_engine=True")
    combos = expand_grid(grid)
    params = tuple(grid)
    data_dir = str(Path(data_dir))
    configs = []
    for combo in combos:
        label = ", ".join(f"{k}={v}" for k, v in combo.items())
        # Validated here, in the caller: a bad value fails before any work is submitted.
        cfg = base.replace(**combo, data_dir=data_dir, name=f"grid: {label}")
        configs.append(cfg.to_dict())
    owned = not isinstance(executor, Executor)
    pool = make_executor(executor)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    try:
        futures: list[Future] = [pool.submit(run_grid_point, c) for c in configs]
        for i, (combo, future) in enumerate(zip(combos, futures, strict=True)):
            row: dict[str, Any] = dict(combo)
            try:
                row.update(future.result())
                row["error"] = None
            except Exception as exc:  # one failed combination is reported, not fatal
                row.update(run_id=None, error=f"{type(exc).__name__}: {exc}")
            rows.append(row)
            if progress is not None:
                progress(i + 1, len(futures))
    finally:
        if owned:
            pool.shutdown(wait=True)
    columns = [*params, "run_id", "n_signals", "validation_passed",
               *(f"{book}_{m}" for book in ("baseline", "filtered") for m in GRID_METRICS),
               "seconds", "error"]  # fmt: skip
    summary = pd.DataFrame(rows).reindex(columns=columns)
    return GridResult(
        summary=summary,
        params=params,
        executor=describe(pool),
        seconds=time.perf_counter() - started,
    )
