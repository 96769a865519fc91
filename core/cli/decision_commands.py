"""``signal-lab size | segments | decay | open-book``: turning a calibrated confidence into decisions.

- ``size``: bet sizes from the calibrated win probability (fixed, Kelly fraction, López de
  Prado's probability map) against the best fixed threshold, walk-forward, out of sample;
- ``segments``: calibration per volatility regime, symbol, side, agreeing models, year or
  feature, with the segments that are off (Holm-corrected);
- ``decay``: the confidence's information (rank IC, win-rate spread) at 1–20 day horizons;
- ``open-book``: the expected win rate of the newest signals, and whether it came true.

``signal-lab models compare NAME A B`` (two calibrator versions) lives with the registry
commands. :mod:`core.decisions` (plotly, SciPy, scikit-learn) is imported by each handler, not
while the parser is built.
"""

from __future__ import annotations

import argparse

import pandas as pd

from core.cli.choices import SEGMENTS
from core.cli.common import add_common_options, emit, open_store, print_table

__all__ = ["register"]


def _run_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", metavar="RUN_ID", help="run to analyse (see `signal-lab runs`)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``size``, ``segments``, ``decay`` and ``open-book`` commands."""
    p = subparsers.add_parser(
        "size", help="bet sizing from the calibrated probability vs the best fixed threshold",
        description=(
            "Size every signal from its calibrated win probability and the payoff ratio "
            "(fixed; Kelly fraction with a cap; López de Prado's probability map), with the "
            "calibrator and payoff fitted walk-forward on earlier trades only, and compare the "
            "books with the best fixed threshold on the same out-of-sample trades: return, "
            "Sharpe, drawdown, turnover, with bootstrap bands."
        ),
    )  # fmt: skip
    _run_argument(p)
    p.add_argument("--calibrator", default="platt", help="platt, isotonic, beta or histogram")
    p.add_argument("--kelly-fraction", type=float, default=0.5, help="fraction of full Kelly")
    p.add_argument("--cap", type=float, default=1.0, help="largest position size")
    p.add_argument("--cost-bps", type=float, default=0.0, help="cost per unit of turnover")
    p.add_argument("--windows", type=int, default=6, help="walk-forward test windows")
    p.add_argument("--seed", type=int, default=0)
    add_common_options(p).set_defaults(handler=_size)

    p = subparsers.add_parser(
        "segments", help="calibration by regime and segment, with the segments that are off",
    )  # fmt: skip
    _run_argument(p)
    p.add_argument(
        "--by", default="volatility",
        help=f"one of {', '.join(SEGMENTS)}, or a feature column of the run",
    )  # fmt: skip
    p.add_argument("--calibrator", default="platt", help="walk-forward calibrator of the key")
    p.add_argument("--seed", type=int, default=0)
    add_common_options(p).set_defaults(handler=_segments)

    p = subparsers.add_parser(
        "decay", help="how long the edge lasts: the confidence's information at 1-20 days",
    )  # fmt: skip
    _run_argument(p)
    p.add_argument(
        "--prices", default=None,
        help="daily bars (CSV/Parquet file or folder) of an imported log's symbols",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    add_common_options(p).set_defaults(handler=_decay)

    p = subparsers.add_parser(
        "open-book", help="expected win rate of the newest signals, then the check",
    )  # fmt: skip
    _run_argument(p)
    p.add_argument(
        "--n-open",
        type=int,
        default=None,
        help="treat the newest N closed signals as open and check the forecast against their "
        "outcomes (default: the run's signals without an outcome, if it has any)",
    )
    p.add_argument("--calibrator", default="platt")
    add_common_options(p).set_defaults(handler=_open_book)


def _fmt(frame: pd.DataFrame) -> str:
    return print_table(frame.round(4).reset_index())


def _size(args: argparse.Namespace) -> int:
    from core.decisions import sizing_view

    with open_store(args) as store:
        trades = store.trades_frame(store.get_run(args.run_id).id)
    view = sizing_view(
        trades, calibrator=args.calibrator, kelly_fraction=args.kelly_fraction, cap=args.cap,
        cost_bps=args.cost_bps, n_windows=args.windows, seed=args.seed,
    )  # fmt: skip
    cols = ["n_trades", "mean_size", "total_return", "sharpe", "sharpe_low", "sharpe_high",
            "max_drawdown", "turnover"]  # fmt: skip
    table = view.result.table
    emit(args, view, f"{_fmt(table[[c for c in cols if c in table]])}\n{view.note}")
    return 0


def _segments(args: argparse.Namespace) -> int:
    from core.decisions import segment_view

    with open_store(args) as store:
        trades = store.trades_frame(store.get_run(args.run_id).id)
    view = segment_view(trades, by=args.by, method=args.calibrator, seed=args.seed)
    cols = ["n", "win_rate", "mean_predicted", "ece", "ece_low", "ece_high", "p_adjusted",
            "flagged"]  # fmt: skip
    table = view.result.table
    flagged = ", ".join(map(str, view.result.flagged)) or "none"
    text = f"{_fmt(table[[c for c in cols if c in table]])}\nflagged: {flagged}\n{view.note}"
    emit(args, view, text)
    return 0


def _decay(args: argparse.Namespace) -> int:
    from core.decisions import decay_view

    with open_store(args) as store:
        run = store.get_run(args.run_id)
        trades = store.trades_frame(run.id)
    view = decay_view(run, trades, prices=args.prices, seed=args.seed)
    cols = ["n", "ic", "ic_low", "ic_high", "spread", "spread_low", "spread_high"]
    table = view.result.table
    emit(args, view, f"{_fmt(table[[c for c in cols if c in table]])}\n{view.note}")
    return 0


def _open_book(args: argparse.Namespace) -> int:
    from core.decisions import open_book_view

    with open_store(args) as store:
        run_id = store.get_run(args.run_id).id
        trades = store.trades_frame(run_id)
        pending = store.open_signals(run_id) if args.n_open is None else None
    view = open_book_view(trades, open_signals=pending, n_open=args.n_open, method=args.calibrator)
    forecast, check = view.result
    text = (
        f"open signals: {forecast.n}; expected win rate {forecast.expected_win_rate:.1%} "
        f"({forecast.level:.0%} band {forecast.win_rate_low:.1%} - {forecast.win_rate_high:.1%})\n"
        + (
            "realised: outcomes not known yet"
            if check is None
            else f"realised: {check.realised_win_rate:.1%} ({check.realised_wins} wins), p = "
            f"{check.p_value:.3g}; {'DRIFT' if check.drift else 'within the forecast'}"
        )
        + f"\n{view.note}"
    )
    emit(args, view, text)
    return 0
