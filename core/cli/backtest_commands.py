"""``signal-lab backtest``: run a backtest, record it, write its report.

With no arguments it backtests the five-model ensemble on the real sample
market (AAPL, FB, GOOG, IBM, MSFT, 2000-2013), records every signal and
outcome in the store under ``--data-dir``, writes the JSON report to its
``reports`` folder and prints baseline vs filtered metrics.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.cli.choices import DEFAULT_THRESHOLD, SIZING_METHODS, SOURCES
from core.cli.common import add_common_options, emit, print_table, set_stage, stderr
from core.errors import Interrupted
from core.store import Store
from core.store.db import process_start
from core.trades import CONFIDENCE_KEYS

if TYPE_CHECKING:
    from core.backtest import BacktestConfig

__all__ = ["register"]

#: Metrics shown in the summary table, with how to format them.
_SHOWN: tuple[tuple[str, str], ...] = (
    ("n_trades", "{:,.0f}"),
    ("win_rate", "{:.1%}"),
    ("mean_return_pct", "{:+.3f}"),
    ("median_return_pct", "{:+.3f}"),
    ("sharpe_per_trade", "{:+.4f}"),
    ("sortino_per_trade", "{:+.4f}"),
    ("profit_factor", "{:.3f}"),
    ("sharpe_daily", "{:+.3f}"),
    ("sortino_daily", "{:+.3f}"),
    ("max_drawdown", "{:.1%}"),
    ("exposure", "{:.1%}"),
    ("total_return", "{:+.1%}"),
    ("cagr", "{:+.2%}"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``backtest`` command."""
    p = subparsers.add_parser(
        "backtest",
        help="run a backtest of the signal ensemble and record it",
        description=(
            "Backtest the five-model ensemble: every signal trades in the baseline book, signals "
            "whose confidence passes --threshold in the filtered book. Trades enter at the next "
            "bar's open and exit at the open --holding-days bars later (or at a stop). Every "
            "signal and outcome is recorded in the store; the JSON report goes to the 'reports' "
            "folder next to --data-dir. Defaults: the real sample market, threshold "
            f"{DEFAULT_THRESHOLD}, 5-day holding, 1 + 2 bps costs per side."
        ),
    )
    p.add_argument("--source", choices=SOURCES, default=None, help="market data (default sample)")
    p.add_argument(
        "--symbols", nargs="+", default=None, metavar="SYM",
        help="symbols to trade (space- or comma-separated; default all)",
    )  # fmt: skip
    p.add_argument("--path", default=None, help="CSV/Parquet file or folder (csv/parquet sources)")
    p.add_argument("--start", default=None, help="first date, e.g. 2005-01-01")
    p.add_argument("--end", default=None, help="last date")
    p.add_argument(
        "--threshold", type=float, default=None,
        help=f"confidence threshold of the filtered book (default {DEFAULT_THRESHOLD})",
    )  # fmt: skip
    p.add_argument("--confidence-key", choices=CONFIDENCE_KEYS, default=None)
    p.add_argument("--holding-days", type=int, default=None, help="bars held (default 5)")
    p.add_argument("--min-agree", type=int, default=None, help="models that must agree (default 3)")
    p.add_argument(
        "--max-positions", type=int, default=None,
        help="most open positions per book (default 10; 0 for no limit)",
    )  # fmt: skip
    p.add_argument("--sizing", choices=SIZING_METHODS, default=None)
    p.add_argument("--position-fraction", type=float, default=None, help="equity per trade")
    p.add_argument("--commission-bps", type=float, default=None, help="per side (default 1)")
    p.add_argument("--slippage-bps", type=float, default=None, help="per side (default 2)")
    p.add_argument("--stop-loss-pct", type=float, default=None)
    p.add_argument("--take-profit-pct", type=float, default=None)
    p.add_argument("--n-symbols", type=int, default=None, help="synthetic symbols (default 50)")
    p.add_argument("--n-days", type=int, default=None, help="synthetic days (default 2520)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--name", default=None, help="a label for the run")
    p.add_argument(
        "--signal",
        default=None,
        help="the signal the run belongs to (default: from the ensemble's settings, "
        "e.g. ensemble-agree3-hold5)",
    )
    p.add_argument(
        "--no-learning-engine", action="store_true",
        help="record nothing in the store (the report is still written)",
    )  # fmt: skip
    p.add_argument(
        "--check", action="store_true",
        help="exit with status 1 when the filtered book does not validate",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_common_options(p).set_defaults(handler=_backtest)


def _config(args: argparse.Namespace) -> BacktestConfig:
    from core.backtest import BacktestConfig  # imports the engines: only when a backtest runs

    names = (
        "source", "path", "start", "end", "threshold", "confidence_key", "holding_days",
        "min_agree", "sizing", "position_fraction", "commission_bps", "slippage_bps",
        "stop_loss_pct", "take_profit_pct", "n_symbols", "n_days", "seed", "name", "signal",
    )  # fmt: skip
    values: dict[str, Any] = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    if args.symbols:
        values["symbols"] = [s for item in args.symbols for s in item.split(",") if s.strip()]
    if args.max_positions is not None:
        values["max_positions"] = None if args.max_positions == 0 else args.max_positions
    if args.data_dir is not None:
        values["data_dir"] = str(args.data_dir)
    if args.no_learning_engine:
        values["use_learning_engine"] = False
    return BacktestConfig.from_dict(values)


def _fmt(value: float, pattern: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return pattern.format(value)


def _summary(result: Any, report_path: Path) -> str:
    base, filt = result.baseline.numeric(), result.filtered.numeric()
    rows = []
    for key, pattern in _SHOWN:
        diff = result.improvement[key]
        diff_pattern = pattern.replace("{:", "{:+") if "+" not in pattern else pattern
        rows.append(
            {
                "metric": key,
                "baseline": _fmt(base[key], pattern),
                "filtered": _fmt(filt[key], pattern),
                "improvement": _fmt(diff, diff_pattern),
            }
        )
    table = print_table(pd.DataFrame(rows))
    cal = result.calibration
    verdict = "PASSED" if result.validation_passed else "not passed"
    lines = [
        f"run {result.run_id}  ({result.source}{', synthetic' if result.synthetic else ''}; "
        f"threshold {result.config.threshold:g} on {result.config.confidence_key})",
        f"signals {result.n_signals:,}  trades {result.n_trades:,}  dropped {result.n_dropped:,}"
        + (f"  events recorded {result.events_recorded:,}" if result.events_recorded else ""),
        "",
        table,
        "",
        f"confidence vs outcome: corr(return) {_fmt(cal.pearson_return, '{:+.3f}')}, "
        f"corr(win) {_fmt(cal.pearson_win, '{:+.3f}')}, Brier {_fmt(cal.brier, '{:.4f}')}",
        f"validation {verdict}: {result.validation_rule}",
        f"report: {report_path}",
    ]
    return "\n".join(lines)


def _backtest(args: argparse.Namespace) -> int:
    from core.backtest import run_backtest
    from core.lifecycle.ledger import TrialLedger
    from core.reports.json_report import write_backtest_report

    config = _config(args)
    started = time.perf_counter()

    def progress(stage: str, fraction: float) -> None:
        if fraction < 1.0:
            set_stage(args, stage)
        if not args.quiet and fraction >= 1.0:
            stderr(f"  {stage:<10} done  ({time.perf_counter() - started:6.2f} s)")

    if not args.quiet:
        stderr(f"backtest on {config.source} data ...")
    set_stage(args, "data")
    try:
        result = run_backtest(config, progress=progress)
    except Interrupted as exc:
        if exc.outcome is None:  # no run was open: before it started, or after it ended
            exc.outcome = _interrupted_outside_run(config, exc)
        raise
    try:
        report_path = write_backtest_report(result)
    except Interrupted as exc:
        exc.outcome = (
            f"interrupted by {exc.signal_name} while writing the report; run {result.run_id} "
            f"was recorded in full ({result.events_recorded:,} events), the report was not "
            "written (see `signal-lab report`)"
        )
        raise
    if config.use_learning_engine:  # every backtest of a signal is a trial of it
        with Store(result.data_dir) as store:
            TrialLedger(store).record(
                store.get_run(result.run_id).signal, run_id=result.run_id, kind="rerun",
                n_trials=1, params={"config": config.to_dict()},
            )  # fmt: skip
    payload = {**result.to_dict(), "report_path": str(report_path)}
    emit(args, payload, _summary(result, report_path))
    if args.check and not result.validation_passed:
        print("validation did not pass", file=sys.stderr)
        return 1
    return 0


def _interrupted_outside_run(config: BacktestConfig, exc: Interrupted) -> str:
    """What an interruption outside the run's recording kept (it opens no store if the
    backtest records nothing)."""
    where = f" during the {exc.stage} stage" if exc.stage else ""
    if config.use_learning_engine and exc.stage in ("report", "learning"):
        with Store(config.resolved_data_dir()) as store:
            me = (os.getpid(), process_start(os.getpid()))
            mine = [r for r in store.list_runs() if (r.owner_pid, r.owner_start) == me]
        if mine and mine[0].status == "completed":  # this process's newest run
            run = mine[0]
            return (
                f"interrupted by {exc.signal_name}{where}; run {run.id} was recorded in full "
                f"({run.n_events:,} events), the report was not written"
            )
    return f"interrupted by {exc.signal_name}{where}; nothing was written"
