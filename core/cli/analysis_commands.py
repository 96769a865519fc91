"""``signal-lab analyze | calibrate | sweep | report``: confidence analytics of a run.

- ``analyze``: is the confidence informative? Distribution, correlations with
  returns and wins, decile table and calibration metrics.
- ``calibrate``: what would calibrate it? A calibrator fitted on earlier
  trades and scored on later ones, in-sample figures beside out-of-sample
  ones. Nothing is written to the store.
- ``sweep``: which threshold? Every threshold's figures, the in-sample choice,
  its deflated Sharpe ratio and PBO, and the walk-forward out-of-sample result.
- ``report``: the run's report as a self-contained HTML page, one JSON file or
  CSV tables.

``--key`` chooses the score mapping (:mod:`core.reports.keys`): ``raw``, a
calibrator fitted walk-forward (``platt``, ``isotonic``, ``beta``,
``histogram``) or ``production`` (the signal's production calibrator, applied
only after its training window); ``confidence`` and ``calibrated_probability``
stay accepted. Every command prints the mapping's label. ``sweep`` and
``calibrate`` record their trials in the signal's trial ledger, and the sweep's
deflated Sharpe ratio counts every trial there.

Every command reads the run's trades from the store (``--data-dir``) and
prints readable tables, or the full result as JSON with ``--json``. The analytics
(scikit-learn, SciPy, plotly, jinja2) are imported by the handler that needs them,
never while the parser is built (:mod:`core.cli.choices`).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.cli.choices import (
    CALIBRATION_METHODS,
    KEY_ALIASES,
    KEY_CHOICES,
    OBJECTIVES,
    REPORT_FORMATS,
)
from core.cli.common import add_common_options, emit, open_store, print_table
from core.errors import InsufficientDataError
from core.store import RunInfo, Store

if TYPE_CHECKING:
    from core.analytics.guarantee import GuaranteeResult
    from core.analytics.stability import ThresholdStability
    from core.reports.keys import MappedTrades

#: What ``--key`` accepts: the mappings, then the old column names.
KEY_OPTIONS: tuple[str, ...] = (*KEY_CHOICES, *KEY_ALIASES)

__all__ = ["register"]

_DECILE_COLUMNS = (
    "bin", "bin_low", "bin_high", "count", "conf_mean", "win_rate", "win_low", "win_high",
    "mean_return", "mean_return_low", "mean_return_high", "sharpe", "profit_factor",
)  # fmt: skip
_SWEEP_COLUMNS = (
    "threshold", "score_cutoff", "trades", "coverage", "win_rate", "win_low", "win_high",
    "mean_return", "sharpe", "profit_factor", "total_return",
)  # fmt: skip
_BAND_COLUMNS = ("mean_return_low", "mean_return_high", "sharpe_low", "sharpe_high")
_CALIBRATION_ROWS = (
    "n", "base_rate", "ece", "ece_low", "ece_high", "mce", "ace", "brier", "rel", "res", "unc",
    "log_loss", "spiegelhalter_z", "spiegelhalter_p",
)  # fmt: skip
_WINDOW_COLUMNS = (
    "window", "status", "n_train", "n_purged", "n_test", "out_of_sample_ece_raw",
    "out_of_sample_ece_calibrated", "out_of_sample_brier_raw", "out_of_sample_brier_calibrated",
)  # fmt: skip
_SELECTION_ROWS = (
    "threshold", "score_cutoff", "trades", "coverage", "win_rate", "mean_return", "sharpe",
    "profit_factor", "n_trials", "n_eligible", "psr", "dsr", "dsr_sr_star", "dsr_significant",
    "pbo",
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``analyze``, ``calibrate``, ``sweep`` and ``report`` commands."""
    p = subparsers.add_parser(
        "analyze",
        help="is the confidence informative? statistics, correlations, deciles, calibration",
        description=(
            "Distribution of the confidence, its correlations with return and with winning "
            "(Fisher-z 95 % intervals), win rate and mean return per decile (Wilson and "
            "bootstrap intervals) and calibration metrics (ECE with a bootstrap interval, "
            "MCE, Brier score, log loss). Returns in percent, net of costs."
        ),
    )
    p.add_argument("run_id", metavar="RUN_ID", help="run id (see `signal-lab runs`)")
    _key_options(p)
    p.add_argument("--bins", type=int, default=10, help="bins of the tables (default 10: deciles)")
    add_common_options(p).set_defaults(handler=_analyze)

    p = subparsers.add_parser(
        "calibrate",
        help="fit a calibrator on earlier trades, score it on later ones (writes nothing)",
        description=(
            "Fit a calibrator of the raw confidence and compare calibration metrics in sample "
            "(fitted and scored on the same trades: optimistic) and out of sample. By default "
            "one chronological split: fitted on the first half of the trades, scored on the "
            "second. With --walk-forward, the trades are cut into --windows windows and each "
            "is scored by a calibrator fitted on the trades resolved before it. Nothing is "
            "written to the store."
        ),
    )
    p.add_argument("run_id", metavar="RUN_ID", help="run id (see `signal-lab runs`)")
    p.add_argument("--method", "--key", dest="method",
                   choices=(*CALIBRATION_METHODS, "calibrated_probability"), default="isotonic",
                   help="calibrator (default isotonic; --key is the same option, "
                   "calibrated_probability meaning isotonic)")  # fmt: skip
    p.add_argument("--walk-forward", action="store_true",
                   help="walk-forward over --windows windows instead of one split")  # fmt: skip
    p.add_argument("--windows", type=int, default=12, help="walk-forward windows (default 12)")
    p.add_argument("--min-train", type=int, default=200,
                   help="fewest training trades to fit a window (default 200)")  # fmt: skip
    p.add_argument("--bins", type=int, default=10, help="uniform bins of the ECE (default 10)")
    add_common_options(p).set_defaults(handler=_calibrate)

    p = subparsers.add_parser(
        "sweep",
        help="which threshold? sweep, in-sample choice, deflated Sharpe, walk-forward",
        description=(
            "Win rate, mean return, per-trade Sharpe, profit factor and trades kept at every "
            "threshold (0.00 to 1.00, or the top 1 % to 100 % of trades with --percentile); "
            "the threshold that maximises --objective among those keeping --min-trades (in "
            "sample), its probabilistic and deflated Sharpe ratios (every threshold counted as "
            "a trial), the probability of backtest overfitting, and the same choice made "
            "walk-forward on earlier trades only and judged on the next window (out of sample)."
        ),
    )
    p.add_argument("run_id", metavar="RUN_ID", help="run id (see `signal-lab runs`)")
    _key_options(p)
    p.add_argument("--percentile", action="store_true",
                   help="thresholds are the top %% of trades kept, not scores")  # fmt: skip
    p.add_argument("--objective", choices=OBJECTIVES, default="sharpe",
                   help="what the choice maximises (default sharpe)")  # fmt: skip
    p.add_argument("--min-trades", type=int, default=30,
                   help="fewest trades a threshold must keep to be chosen (default 30)")  # fmt: skip
    p.add_argument("--bands", action="store_true",
                   help="bootstrap bands of mean return and Sharpe (200 replicates)")  # fmt: skip
    p.add_argument("--windows", type=int, default=6,
                   help="walk-forward test windows of the threshold choice (default 6)")  # fmt: skip
    p.add_argument("--cost-bps", type=float, default=0.0,
                   help="extra round-trip cost per trade, basis points (default 0)")  # fmt: skip
    p.add_argument("--guarantee", type=float, default=None, metavar="WIN_RATE",
                   help="also find the threshold whose kept trades win at least WIN_RATE "
                   "(e.g. 0.55) with 1 - --delta confidence, checked out of sample")  # fmt: skip
    p.add_argument("--delta", type=float, default=0.1,
                   help="1 - confidence of --guarantee (default 0.1: 90 %%)")  # fmt: skip
    add_common_options(p).set_defaults(handler=_sweep)

    p = subparsers.add_parser(
        "report",
        help="write the run's report: self-contained HTML, JSON or CSV tables",
        description=(
            "Analyse the run and write its report. html: one page that opens offline (plotly.js "
            "embedded) with every chart and table, in-sample and out-of-sample figures side by "
            "side, the config and data fingerprint. json: every result and table in one file. "
            "csv: one CSV per table, in a zip (--out ending in .zip) or a folder. Default "
            "--out: the 'reports' folder next to --data-dir."
        ),
    )
    p.add_argument("run_id", metavar="RUN_ID", help="run id (see `signal-lab runs`)")
    p.add_argument("--format", choices=REPORT_FORMATS, default="html", dest="fmt",
                   help="html (default), json or csv")  # fmt: skip
    p.add_argument("--out", type=Path, default=None, help="file (or folder for csv) to write")
    p.add_argument(
        "--force", action="store_true", help="replace --out if it exists (never a link or device)"
    )
    p.add_argument("--key", choices=KEY_OPTIONS, default=None,
                   help="score mapping: raw, platt, isotonic, beta, histogram (walk-forward) or "
                   "production (default: the run's own key)")  # fmt: skip
    add_common_options(p).set_defaults(handler=_report)


def _key_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", choices=KEY_OPTIONS, default="raw",
                   help="score mapping: raw (default), platt, isotonic, beta, histogram "
                   "(each fitted walk-forward) or production (the signal's production "
                   "calibrator, only after its training window); confidence and "
                   "calibrated_probability are aliases of raw and isotonic")  # fmt: skip
    p.add_argument("--calibration-windows", type=int, default=12,
                   help="walk-forward windows of the calibrator mappings (default 12)")  # fmt: skip
    p.add_argument("--method", choices=CALIBRATION_METHODS, default=None,
                   help="with --key calibrated_probability: the calibrator fitted walk-forward "
                   "(the same as --key METHOD)")  # fmt: skip


# --------------------------------------------------------------------------- helpers


def _header(info: RunInfo, n: int, extra: str = "") -> str:
    flag = "  [SYNTHETIC DATA]" if info.synthetic else ""
    name = f" {info.name!r}" if info.name else ""
    return f"run {info.id} ({info.kind}{name}; {n:,} trades){extra}{flag}"


def _load(args: argparse.Namespace, store: Store) -> tuple[RunInfo, MappedTrades]:
    """The run and its trades under the ``--key`` mapping."""
    from core.reports.keys import map_key

    info = store.get_run(args.run_id)
    trades = store.trades_frame(args.run_id)
    key = args.key
    if key == "calibrated_probability" and getattr(args, "method", None):
        key = args.method
    mapped = map_key(store, info, trades, key, n_windows=args.calibration_windows)
    return info, mapped


def _mapping_line(mapped: MappedTrades) -> str:
    m = mapped.mapping
    return f"key mapping: {m.label} ({m.n_scored:,} of {m.n_total:,} trades scored)"


def _metric_frame(values: dict[str, Any], name: str = "value") -> pd.DataFrame:
    return pd.DataFrame({"metric": list(values), name: list(values.values())})


def _section(title: str, body: str) -> str:
    return f"\n{title}\n{'-' * len(title)}\n{body}"


# --------------------------------------------------------------------------- handlers


def _analyze(args: argparse.Namespace) -> int:
    from core.analytics.report import analyze_run
    from core.analytics.stats import format_p_value

    with open_store(args) as store:
        info, mapped = _load(args, store)
    trades, key = mapped.trades, mapped.column
    result = analyze_run(trades, key=key, n_bins=args.bins)
    summary = result.summary.to_dict()
    calibration = result.calibration.to_dict()
    m = result.calibration
    ece = f"ECE {m.ece:.4f}" + (
        f" (95 % CI {m.ece_low:.4f} - {m.ece_high:.4f})"
        if m.ece_low is not None and m.ece_high is not None
        else " (no interval: too few trades)"
    )
    spiegel = (
        f"Spiegelhalter z {m.spiegelhalter_z:.2f}, p {format_p_value(m.spiegelhalter_p)}"
        if math.isfinite(m.spiegelhalter_z)
        else "Spiegelhalter test undefined"
    )
    lines = [
        _header(info, len(trades), f"; {result.n_scored:,} scored"),
        _mapping_line(mapped),
        f"calibration: {ece}; {spiegel}",
        _section("Distribution", print_table(pd.DataFrame([summary]).drop(columns=["key"]))),
        _section(
            f"Correlations ({result.correlations.level:.0%} Fisher-z intervals)",
            print_table(
                result.correlations.to_frame()[
                    ["target", "method", "estimate", "ci_low", "ci_high", "p_value", "n"]
                ]
            ),
        ),
        _section(
            f"Deciles of {key} (returns in %, {result.deciles.interval} intervals)",
            print_table(result.deciles.table[list(_DECILE_COLUMNS)]),
        ),
        _section(
            f"Calibration ({calibration['n_bins']} {calibration['strategy']} bins)",
            print_table(_metric_frame({k: calibration[k] for k in _CALIBRATION_ROWS})),
        ),
    ]
    payload = {"run_id": info.id, "synthetic": info.synthetic, "mapping": mapped.mapping.to_dict(),
               "notes": [], **result.to_dict()}  # fmt: skip
    emit(args, payload, "\n".join(lines))
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from core.analytics.report import calibration_totals
    from core.analytics.walkforward import walk_forward_calibrate
    from core.lifecycle.ledger import TrialLedger

    if args.method == "calibrated_probability":
        args.method = "isotonic"
    with open_store(args) as store:
        info = store.get_run(args.run_id)
        trades = store.trades_frame(args.run_id)
        TrialLedger(store).record(
            info.signal, run_id=info.id, kind="calibrator_comparison", n_trials=1,
            params={"method": args.method, "walk_forward": bool(args.walk_forward),
                    "windows": args.windows, "source": "cli"},
        )  # fmt: skip
    n_windows = args.windows if args.walk_forward else 2
    result = walk_forward_calibrate(
        trades, method=args.method, n_windows=n_windows, min_train=args.min_train,
        n_bins=args.bins,
    )  # fmt: skip
    if args.walk_forward:
        how = (
            f"walk-forward, {n_windows} windows: each window scored by the {args.method} "
            "calibrator fitted on the trades resolved before it"
        )
    else:
        how = (
            f"one chronological split: {args.method} fitted on the first half of the trades "
            "(resolved before the second half starts), scored on the second half"
        )
    label = (
        f"{args.method}, walk-forward, {n_windows} windows"
        if args.walk_forward
        else f"{args.method}, one chronological split"
    )
    lines = [_header(info, len(trades)), f"key mapping: {label}", f"calibration: {how}"]
    if result.out_of_sample is None:
        lines.append(
            f"no window had {args.min_train} earlier trades with known outcomes: nothing scored "
            "out of sample; lower --min-train or use fewer --windows"
        )
    else:
        totals = calibration_totals(result).reset_index()
        lines.append(
            _section(
                f"In sample vs out of sample ({result.n_evaluated:,} trades scored out of sample)",
                print_table(totals)
                + "\n\nraw: the uncalibrated confidence; in_sample: a calibrator fitted on every "
                "trade, scored on the same trades (optimistic); out_of_sample: fitted on earlier "
                "trades only (the honest figure).",
            )
        )
        windows = result.windows[list(_WINDOW_COLUMNS)]
        lines.append(_section("Windows", print_table(windows)))
    lines.append(
        f"\nrecorded one calibrator comparison in the trial ledger of {info.signal}; "
        "nothing else was written to the store."
    )
    payload = {"run_id": info.id, "synthetic": info.synthetic, "walk_forward": args.walk_forward,
               "mapping": label, **result.to_dict()}  # fmt: skip
    emit(args, payload, "\n".join(lines))
    return 0


def _record_sweep(store: Store, info: RunInfo, params: dict[str, Any], n: int) -> int:
    """Record the sweep in the signal's ledger (once per identical settings); the count."""
    from core.lifecycle.ledger import TrialLedger

    ledger = TrialLedger(store)
    seen = any(
        e.payload.get("kind") == "sweep" and e.payload.get("params") == params
        for e in ledger.entries(info.signal)
    )
    if not seen:
        ledger.record(info.signal, run_id=info.id, kind="sweep", params=params, n_trials=n)
    return ledger.count(info.signal)


def _guarantee_text(g: GuaranteeResult) -> str:
    conf = f"{(1 - g.delta) * 100:g} %"
    if g.threshold is None:
        return g.statement
    check = (
        "no test trade kept"
        if g.oos_met is None
        else f"{g.oos_kept:,} kept, win rate {g.oos_win_rate:.1%}: "
        + ("target met" if g.oos_met else "target MISSED")
    )
    return (
        f"keep trades above {g.threshold:g}; with {conf} confidence the win rate of kept trades "
        f"is >= {g.target_win_rate:.0%} (fitted on {g.fit_trades:,} trades: {g.fit_kept:,} kept, "
        f"win rate {g.fit_win_rate:.1%}, lower bound {g.fit_lower_bound:.1%})\n"
        f"out-of-sample check on the later {g.test_trades:,} trades: {check}"
    )


def _stability_text(st: ThresholdStability) -> str:
    where = "inside" if st.median_in_stable_region else "outside"
    return (
        f"windows' choices: {', '.join(f'{t:g}' for t in st.window_thresholds)} "
        f"(range {st.low:g} - {st.high:g}, spread {st.spread:g})\n"
        f"median choice {st.median:g} out of sample: {st.median_oos['trades']:,.0f} trades, "
        f"win rate {st.median_oos['win_rate']:.1%}, Sharpe / trade {st.median_oos['sharpe']:.3f}\n"
        f"stable region {st.stable_low:g} - {st.stable_high:g}: thresholds whose out-of-sample "
        f"{st.objective} is within the {st.level:.0%} bootstrap band of the best "
        f"({st.best_threshold:g}: {st.best_value:.3f}, band {st.band_low:.3f} - "
        f"{st.band_high:.3f}); the median choice lies {where} it"
    )


def _sweep(args: argparse.Namespace) -> int:
    from core.analytics.guarantee import guaranteed_threshold
    from core.analytics.report import analyze_thresholds
    from core.analytics.stability import threshold_stability
    from core.analytics.sweep import default_thresholds
    from core.reports.verdict import dsr_summary, dsr_text, headline_verdict

    mode = "percentile" if args.percentile else "absolute"
    with open_store(args) as store:
        info, mapped = _load(args, store)
        params = {"run": info.id, "key": mapped.label, "mode": mode, "objective": args.objective,
                  "min_trades": int(args.min_trades), "cost_bps": float(args.cost_bps),
                  "source": "cli"}  # fmt: skip
        n_ledger = _record_sweep(store, info, params, len(default_thresholds(mode)))
    trades, key = mapped.trades, mapped.column
    result = analyze_thresholds(
        trades, key=key, mode=mode, objective=args.objective, min_trades=args.min_trades,
        bands=args.bands, n_windows=args.windows, cost_bps=args.cost_bps, n_trials=n_ledger,
    )  # fmt: skip
    table = result.sweep.table
    columns = list(_SWEEP_COLUMNS) + (
        [c for c in _BAND_COLUMNS if c in table] if args.bands else []
    )
    sel = result.selection()
    dsr = dsr_summary(result, ledger_count=n_ledger)
    verdict = headline_verdict(result, ledger_count=n_ledger)
    unit = "% of trades kept" if mode == "percentile" else f"{key} >= threshold"
    lines = [
        _header(info, len(trades), f"; {mode} thresholds ({unit})"),
        _mapping_line(mapped),
        f"verdict: {verdict}",
        f"deflated Sharpe: {dsr_text(dsr)}",
        f"trial ledger of {info.signal}: {n_ledger} trials since its last reset (a sweep is "
        "recorded once per identical settings; see `signal-lab ledger`)",
        _section("Sweep (returns in %, Sharpe per trade)", print_table(table[columns])),
        _section(
            f"In-sample choice (max {args.objective}, >= {args.min_trades} trades)",
            print_table(_metric_frame({k: sel.get(k) for k in _SELECTION_ROWS})),
        ),
    ]
    stability: ThresholdStability | None = None
    notes = list(result.notes)
    if result.walk_forward is not None:
        comp = result.sample_comparison().reset_index()
        lines.append(
            _section(
                f"In sample vs out of sample (walk-forward, {args.windows} windows)",
                print_table(comp)
                + "\n\nin_sample: the choice on all trades, scored on them (optimistic); "
                "out_of_sample: each window traded at the threshold chosen on earlier trades.",
            )
        )
        try:
            stability = threshold_stability(trades, result.walk_forward)
            lines.append(_section("Threshold stability", _stability_text(stability)))
        except InsufficientDataError as exc:
            notes.append(f"threshold stability not computed: {exc}")
    guarantee = None
    if args.guarantee is not None:
        g = guaranteed_threshold(
            trades, target_win_rate=args.guarantee, delta=args.delta, key=key,
            min_trades=max(10, min(100, int(trades[key].notna().sum()) // 10)),
        )  # fmt: skip
        guarantee = g.to_dict()
        lines.append(_section("Guaranteed win rate", _guarantee_text(g)))
    lines += [f"note: {n}" for n in notes]
    payload = {
        "run_id": info.id,
        "synthetic": info.synthetic,
        "mapping": mapped.mapping.to_dict(),
        "ledger_count": n_ledger,
        "verdict": verdict,
        "dsr": dsr,
        **result.to_dict(),
        "stability": None if stability is None else stability.to_dict(),
        "guarantee": guarantee,
        "notes": notes,
    }
    emit(args, payload, "\n".join(lines))
    return 0


def _report(args: argparse.Namespace) -> int:
    from core.reports.html_report import build_report

    with open_store(args) as store:
        info = store.get_run(args.run_id)
        path = build_report(
            store, args.run_id, format=args.fmt, out=args.out, key=args.key,
            overwrite=True if args.out is None else args.force,
        )  # fmt: skip
    text = f"wrote the {args.fmt} report of run {info.id} to {path}"
    if info.synthetic:
        text += " (SYNTHETIC DATA)"
    emit(args, {"run_id": info.id, "format": args.fmt, "path": str(path)}, text)
    return 0
