"""``signal-lab models | jobs | drift | grid``: the model lifecycle, headless.

- ``models list|show|evaluate|promote``: the registry (versions, stages,
  out-of-sample evaluation against gates, promotion with its history);
- ``jobs submit|list|show``: training jobs (a calibrator fitted on a run's
  window, registered in ``development`` with out-of-sample metrics);
- ``drift baseline|check|alerts``: a model's drift baseline, checks that
  store alerts, and the alert list (``--ack ID`` acknowledges one);
- ``grid``: one recorded backtest per combination of parameters, on the local
  process pool or a Dask cluster (``--executor dask://HOST:PORT``).

The lifecycle services and the analytics behind them are imported by the handlers
(``open_engine`` imports the learning engine), not while the parser is built.
"""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from core.cli.choices import EVALUATION_METRICS
from core.cli.common import add_common_options, emit, open_engine, open_store, print_table, stderr
from core.store.registry import MODEL_STAGES

__all__ = ["register"]


def _window(args: argparse.Namespace) -> tuple[str | None, str | None] | None:
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    return None if start is None and end is None else (start, end)


def _window_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--run", dest="run_id", help="run id (default: the newest completed run)")
    p.add_argument("--start", default=None, help=f"first entry time of the {what} (ISO 8601)")
    p.add_argument("--end", default=None, help="entry times before this (ISO 8601)")


def _frame_text(frame: pd.DataFrame) -> str:
    shown = frame.copy()
    for column in shown.columns:
        if isinstance(shown[column].dtype, pd.DatetimeTZDtype):
            shown[column] = shown[column].dt.strftime("%Y-%m-%d %H:%M")
    return print_table(shown)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models``, ``jobs``, ``drift`` and ``grid`` commands."""
    _register_models(subparsers)
    _register_jobs(subparsers)
    _register_drift(subparsers)
    _register_grid(subparsers)


# --------------------------------------------------------------------------- models


def _register_models(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser(
        "models", help="model registry: versions, evaluation gates, promotion",
        description="List, inspect, evaluate and promote registered model versions.",
    )  # fmt: skip
    sub = models.add_subparsers(dest="models_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("list", help="models and their versions")
    p.add_argument("--versions", action="store_true", help="one row per version")
    p.add_argument("--name", help="only this model")
    add_common_options(p).set_defaults(handler=_models_list)

    p = sub.add_parser("show", help="one model: versions, evaluations, stage history")
    p.add_argument("name")
    p.add_argument("--version", type=int, default=None, help="only this version")
    add_common_options(p).set_defaults(handler=_models_show)

    p = sub.add_parser(
        "evaluate", help="score a version out of sample and apply the gates",
        description=(
            "Score a version on a run's trades outside its training window and compare it with "
            "the production version and the uncalibrated confidence. Gates are METRIC OP VALUE "
            f"with metrics: {', '.join(EVALUATION_METRICS)}. Exit status 1 when a gate fails."
        ),
    )  # fmt: skip
    p.add_argument("name")
    p.add_argument("version", type=int)
    _window_options(p, "trades scored")
    p.add_argument(
        "--gate", action="append", default=None, metavar="GATE",
        help="e.g. 'ece_upper<=0.05' (repeat; default: the registry's default gates)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the ECE bootstrap")
    add_common_options(p).set_defaults(handler=_models_evaluate)

    p = sub.add_parser(
        "promote", help="move a version to another stage",
        description=(
            "Move a version to staging or production (its last evaluation must have passed, "
            "unless --force with --reason), or to development or archived. Promoting to "
            "production archives the current production version."
        ),
    )  # fmt: skip
    p.add_argument("name")
    p.add_argument("version", type=int)
    p.add_argument("--to", dest="to_stage", choices=MODEL_STAGES, default="production")
    p.add_argument("--reason", default=None, help="why (required with --force)")
    p.add_argument("--force", action="store_true", help="promote despite the gates")
    add_common_options(p).set_defaults(handler=_models_promote)

    p = sub.add_parser(
        "compare", help="two calibrator versions side by side on the same out-of-sample trades",
        description=(
            "Score versions A and B of NAME on the trades of --run (default: the newest run) that "
            "come after both training windows: ECE, Brier and log loss with a paired bootstrap "
            "of the difference B - A, and the verdict."
        ),
    )  # fmt: skip
    p.add_argument("name")
    p.add_argument("a", type=int, metavar="A")
    p.add_argument("b", type=int, metavar="B")
    p.add_argument("--run", dest="run_id", help="run whose trades are scored")
    p.add_argument("--seed", type=int, default=0)
    add_common_options(p).set_defaults(handler=_models_compare)


def _models_compare(args: argparse.Namespace) -> int:
    from core.decisions import version_view
    from core.trade_windows import load_trades

    with open_engine(args) as engine:
        run_id = args.run_id or engine.store.latest_run_id()
        trades = load_trades(engine.store, run_id)
        view = version_view(
            engine.registry, args.name, args.a, args.b, trades=trades, seed=args.seed
        )
    table = view.result.table.round(5).reset_index()
    emit(args, view, f"{print_table(table)}\n{view.result.verdict}\n{view.note}")
    return 0


def _models_list(args: argparse.Namespace) -> int:
    with open_engine(args) as engine:
        frame = (
            engine.registry.versions_frame(args.name)
            if args.versions
            else engine.registry.models_frame()
        )
        if args.name and not args.versions:
            frame = frame[frame["name"] == args.name]
    emit(args, frame, _frame_text(frame))
    return 0


def _models_show(args: argparse.Namespace) -> int:
    with open_engine(args) as engine:
        versions = [engine.registry.get(args.name, args.version)] if args.version else (
            engine.registry.versions(args.name)
        )  # fmt: skip
        if not versions:
            engine.registry.get(args.name)  # raises ModelNotFoundError with the fix
        evaluations = engine.registry.evaluations(args.name, args.version)
        history = engine.registry.history(args.name, args.version)
    payload = {
        "name": args.name,
        "versions": [v.to_dict() for v in versions],
        "evaluations": [e.to_dict() for e in evaluations],
        "history": [h.to_dict() for h in history],
    }
    lines = [f"model {args.name}"]
    for v in versions:
        window = (
            f"{v.train_start:%Y-%m-%d} to {v.train_end:%Y-%m-%d}"
            if v.train_start is not None and v.train_end is not None
            else "n/a"
        )
        lines.append(
            f"  v{v.version}  {v.stage:<11}  {v.model_type}/{v.method or '-'}  "
            f"run {v.training_run_id or '-'}  trained on {window}"
            + (f"  ({v.note})" if v.note else "")
        )
    if evaluations:
        lines.append("evaluations:")
        lines += ["  " + e.summary().replace("\n", "\n  ") for e in evaluations]
    if history:
        lines.append("stage history:")
        for h in history:
            lines.append(
                f"  {h.at:%Y-%m-%d %H:%M:%S}  v{h.version}  {h.from_stage} -> {h.to_stage}"
                + ("  FORCED" if h.forced else "")
                + (f"  ({h.reason})" if h.reason else "")
            )
    emit(args, payload, "\n".join(lines))
    return 0


def _models_evaluate(args: argparse.Namespace) -> int:
    from core.lifecycle.gates import Gate

    gates = None if args.gate is None else [Gate.parse(g) for g in args.gate]
    with open_engine(args) as engine:
        result = engine.registry.evaluate(
            args.name, args.version, args.run_id, gates, window=_window(args), seed=args.seed
        )
    emit(args, result, result.summary())
    return 0 if result.passed else 1


def _models_promote(args: argparse.Namespace) -> int:
    with open_engine(args) as engine:
        changes = engine.promote_model(
            args.name, args.version, to_stage=args.to_stage, reason=args.reason,
            force=args.force,
        )  # fmt: skip
    text = "\n".join(
        f"{c.name} v{c.version}: {c.from_stage} -> {c.to_stage}"
        + (" (forced)" if c.forced else "")
        + (f" - {c.reason}" if c.reason else "")
        for c in changes
    )
    emit(args, {"changes": [c.to_dict() for c in changes]}, text)
    return 0


# --------------------------------------------------------------------------- jobs


def _register_jobs(subparsers: argparse._SubParsersAction) -> None:
    jobs = subparsers.add_parser(
        "jobs", help="training jobs: fit a calibrator, register it with out-of-sample metrics",
        description="Submit, list and inspect training jobs.",
    )  # fmt: skip
    sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser(
        "submit", help="train a calibrator on a run's window and register it",
        description=(
            "Fit a calibrator on a run's trades (walk-forward by default, so the metrics are out "
            "of sample), register it as a new development version of MODEL, and wait for it."
        ),
    )  # fmt: skip
    p.add_argument("model", help="model name")
    p.add_argument("--method", default="platt", help="platt, isotonic, beta or histogram")
    _window_options(p, "training trades")
    p.add_argument("--key", default="confidence", help="score column to calibrate")
    p.add_argument("--mode", choices=("walk_forward", "holdout"), default="walk_forward")
    p.add_argument("--n-windows", type=int, default=5, help="walk-forward windows")
    p.add_argument("--min-train", type=int, default=200, help="fewest trades of a fit")
    p.add_argument(
        "--executor", default="thread",
        help="where the job runs: thread (default, in this process), local, dask://HOST:PORT",
    )  # fmt: skip
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait for the job")
    add_common_options(p).set_defaults(handler=_jobs_submit)

    p = sub.add_parser("list", help="training jobs, newest first")
    p.add_argument("--model", default=None)
    p.add_argument("--state", default=None, help="queued, running, succeeded or failed")
    add_common_options(p).set_defaults(handler=_jobs_list)

    p = sub.add_parser("show", help="one training job")
    p.add_argument("job_id")
    add_common_options(p).set_defaults(handler=_jobs_show)


def _job_text(job: Any) -> str:
    lines = [f"job {job.id}: {job.state} ({job.trigger})", f"  model: {job.model_name}"]
    if job.version is not None:
        lines.append(f"  registered: v{job.version} (development)")
    if job.error:
        lines.append(f"  error: {job.error}")
    lines.append(f"  config: {job.config}")
    return "\n".join(lines)


def _jobs_submit(args: argparse.Namespace) -> int:
    window = _window(args)
    config = {
        "method": args.method, "run_id": args.run_id, "key": args.key, "mode": args.mode,
        "n_windows": args.n_windows, "min_train": args.min_train,
        "window": None if window is None else list(window),
    }  # fmt: skip
    with open_engine(args, executor=args.executor) as engine:
        job = engine.submit_training_job(args.model, "calibrator", config)
        if not args.json:
            stderr(f"job {job.id} submitted; waiting for it")
        job = engine.jobs.wait(job.id, args.timeout)
    emit(args, job, _job_text(job))
    return 0 if job.state == "succeeded" else 1


def _jobs_list(args: argparse.Namespace) -> int:
    with open_engine(args) as engine:
        frame = engine.jobs.frame(model_name=args.model, state=args.state)
    emit(args, frame, _frame_text(frame.drop(columns=["worker"])))
    return 0


def _jobs_show(args: argparse.Namespace) -> int:
    with open_engine(args) as engine:
        job = engine.jobs.get(args.job_id)
    emit(args, job, _job_text(job))
    return 0


# --------------------------------------------------------------------------- drift


def _register_drift(subparsers: argparse._SubParsersAction) -> None:
    drift = subparsers.add_parser(
        "drift", help="drift baselines, checks and alerts (per signal)",
        description=(
            "Baselines are kept per signal: a run is checked only against the baseline of the "
            "signal it belongs to, never another signal's."
        ),
    )  # fmt: skip
    sub = drift.add_subparsers(dest="drift_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser(
        "baseline", help="make the first months of a run its signal's drift baseline"
    )
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument(
        "--months", type=int, default=None, help="months from the run's first trade (default 12)"
    )
    p.add_argument("--share", type=float, default=None, help="or: the first share of its trades")
    p.add_argument("--key", default="confidence")
    add_common_options(p).set_defaults(handler=_drift_baseline)

    p = sub.add_parser(
        "check", help="check a run (or a window of it) against its signal's baseline; store alerts",
        description=(
            "Compare a run with its signal's baseline (confidence distribution, win rate, "
            "calibration, returns, calibrated streaming detectors) and say which baseline was "
            "used; warnings and critical findings are stored as alerts, once per window."
        ),
    )  # fmt: skip
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--start", default=None, help="first entry time checked (ISO 8601)")
    p.add_argument("--end", default=None, help="entry times before this (ISO 8601)")
    p.add_argument("--check", action="store_true", help="exit with status 1 on any alert")
    add_common_options(p).set_defaults(handler=_drift_check)

    p = sub.add_parser("alerts", help="stored drift alerts, newest first")
    p.add_argument("--signal", default=None)
    p.add_argument("--severity", choices=("warning", "critical"), default=None)
    p.add_argument("--unacknowledged", action="store_true", help="only alerts not acknowledged")
    p.add_argument("--ack", type=int, action="append", default=None, metavar="ID",
                   help="acknowledge this alert (repeatable)")  # fmt: skip
    p.add_argument("--limit", type=int, default=None)
    add_common_options(p).set_defaults(handler=_drift_alerts)


def _drift_baseline(args: argparse.Namespace) -> int:
    with open_engine(args) as engine:
        engine.drift.set_baseline_from_run(
            args.run_id, months=args.months, share=args.share, key=args.key
        )
        status = engine.drift.status(args.run_id)
    emit(args, status, f"set {status.describe()}")
    return 0


def _drift_check(args: argparse.Namespace) -> int:
    with open_engine(args) as engine:
        status = engine.drift.status(args.run_id)
        result = engine.drift.check_run(args.run_id, window=_window(args))
    report = result.report
    lines = [
        f"run {args.run_id}: {report.n_current} trades ({result.window_start:%Y-%m-%d} to "
        f"{result.window_end:%Y-%m-%d}): {result.severity.upper()}",
        f"against {status.describe()}",
        f"alerts: {len(result.new_alert_ids)} new, {len(result.existing_alert_ids)} already stored",
    ]
    lines += [f"  [{f.severity}] {f.metric}: {f.message}" for f in report.findings]
    emit(args, {"baseline": status.to_dict(), **result.to_dict()}, "\n".join(lines))
    return 1 if args.check and report.alerts else 0


def _drift_alerts(args: argparse.Namespace) -> int:
    with open_engine(args) as engine:
        for alert_id in args.ack or []:
            engine.drift.acknowledge(alert_id)
        frame = engine.drift.alerts(
            args.signal, severity=args.severity,
            acknowledged=False if args.unacknowledged else None, limit=args.limit,
        )  # fmt: skip
    cols = ["id", "model_name", "metric", "severity", "baseline_value", "current_value",
            "statistic", "window_start", "window_end", "acknowledged"]  # fmt: skip
    emit(args, frame, _frame_text(frame[cols]))
    return 0


# --------------------------------------------------------------------------- grid


def _record_grid_trials(args: argparse.Namespace, result: Any) -> None:
    """Every grid cell is a trial of its signal: one ledger entry per signal."""
    from core.lifecycle.ledger import TrialLedger

    with open_store(args) as store:
        ledger = TrialLedger(store)
        per_signal: dict[str, list[str]] = {}
        for run_id in result.run_ids:
            per_signal.setdefault(store.get_run(run_id).signal, []).append(run_id)
        for signal, runs in per_signal.items():
            ledger.record(
                signal, run_id=runs[-1], kind="grid", n_trials=len(runs),
                params={"grid": {k: list(v) for k, v in _grid_spec(result).items()},
                        "runs": runs},
            )  # fmt: skip


def _grid_spec(result: Any) -> dict[str, Any]:
    frame = result.summary
    return {name: sorted(set(frame[name].tolist())) for name in result.params}


def _register_grid(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "grid", help="one recorded backtest per combination of parameters",
        description=(
            "Run a backtest for every combination of --holding-days x --min-agree x --threshold "
            "(each a list) on the local process pool or a Dask cluster, record each as a run, and "
            "print a summary of the filtered book per combination."
        ),
    )  # fmt: skip
    p.add_argument("--holding-days", type=int, nargs="+", default=None, metavar="N")
    p.add_argument("--min-agree", type=int, nargs="+", default=None, metavar="K")
    p.add_argument("--threshold", type=float, nargs="+", default=None, metavar="T")
    p.add_argument(
        "--executor", default=None,
        help="local (process pool, default), thread, or dask://HOST:PORT / tcp://HOST:PORT",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, default=None, help="local pool size (default min(2, cpus))"
    )
    p.add_argument("--source", default=None, help="market data (default sample)")
    p.add_argument("--symbols", nargs="+", default=None, metavar="SYM")
    p.add_argument("--path", default=None, help="CSV/Parquet file or folder")
    p.add_argument("--start", default=None)
    p.add_argument("--end", default=None)
    p.add_argument("--n-symbols", type=int, default=None, help="synthetic symbols")
    p.add_argument("--n-days", type=int, default=None, help="synthetic days")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--confidence-key", default=None)
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_common_options(p).set_defaults(handler=_grid)


_GRID_BASE = ("source", "path", "start", "end", "n_symbols", "n_days", "seed", "confidence_key")


def _grid(args: argparse.Namespace) -> int:
    from core.grid import run_grid
    from core.lifecycle.executors import make_executor  # only when a grid runs

    grid = {
        name: values
        for name, values in (
            ("holding_days", args.holding_days),
            ("min_agree", args.min_agree),
            ("threshold", args.threshold),
        )
        if values
    }
    if not grid:
        grid = {"threshold": [0.6]}
    base: dict[str, Any] = {
        name: getattr(args, name) for name in _GRID_BASE if getattr(args, name) is not None
    }
    if args.symbols:
        base["symbols"] = [s for item in args.symbols for s in item.split(",") if s.strip()]
    executor = make_executor(args.executor, max_workers=args.workers)
    with open_store(args) as store:  # creates and migrates the store before workers open it
        data_dir = store.data_dir
    quiet = args.quiet or args.json
    try:
        result = run_grid(
            base, grid, executor=executor, data_dir=data_dir,
            progress=None if quiet else (lambda done, total: stderr(f"grid: {done}/{total}")),
        )  # fmt: skip
    finally:
        executor.shutdown(wait=True)
    _record_grid_trials(args, result)
    cols = [*result.params, "run_id", "filtered_n_trades", "filtered_win_rate",
            "filtered_mean_return_pct", "filtered_sharpe_per_trade", "filtered_profit_factor",
            "error"]  # fmt: skip
    text = (
        _frame_text(result.summary[cols])
        + f"\n{len(result.summary)} backtests on {result.executor} in {result.seconds:.1f} s"
        + (f"; {result.n_failed} failed" if result.n_failed else "")
    )
    emit(args, result, text)
    return 1 if result.n_failed else 0
