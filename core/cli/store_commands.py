"""``signal-lab import | runs | events | health | backup``: the store and the learning engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli.common import add_common_options, emit, open_store, print_table, set_stage, stderr
from core.csvsafe import csv_bytes
from core.errors import ImportFileError, Interrupted
from core.importer import MAX_ABS_RETURN_PCT, MAX_FEATURES, TIME_UNITS, import_signal_log
from core.outputs import write_output
from core.store import Store

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import",
        help="import your own signal log (CSV/Parquet) as a run",
        description=(
            "Import a signal log: columns timestamp, symbol, confidence and either return_pct or "
            "entry_price and exit_price; optional side, holding_days, exit_time, signal_id; other "
            f"numeric columns are kept as features (at most {MAX_FEATURES}). Bad rows are listed "
            "with their row numbers (a timestamp outside 1677-09-22..2262-04-10, |return_pct| "
            f"above {MAX_ABS_RETURN_PCT:,.0f} %, ...); nothing is imported unless "
            "--skip-bad-rows is given. The CSV delimiter (, ; tab |) is detected. The import "
            "is one transaction: interrupted, it writes nothing."
        ),
    )
    p.add_argument("file", type=Path, help="CSV or Parquet file")
    p.add_argument(
        "--time-unit",
        choices=TIME_UNITS,
        default=None,
        help="read numeric timestamps as time since 1970-01-01 UTC in seconds, milliseconds, "
        "microseconds or nanoseconds (without it numbers are refused, not guessed)",
    )
    p.add_argument(
        "--encoding",
        default="utf-8",
        help="text encoding of a CSV file (default utf-8; e.g. latin-1, cp1252, utf-16)",
    )
    p.add_argument("--skip-bad-rows", action="store_true", help="import the good rows only")
    p.add_argument("--name", help="run name (default: the file name)")
    p.add_argument(
        "--signal",
        help="the signal (strategy or model) the log belongs to; baselines, calibrators and "
        "drift checks are per signal (default: the file name without its suffix)",
    )
    p.add_argument("--dry-run", action="store_true", help="validate only; write nothing")
    add_common_options(p).set_defaults(handler=_import)

    p = subparsers.add_parser("runs", help="list runs (backtests and imports)")
    p.add_argument("--limit", type=int, default=None, help="show at most this many runs")
    add_common_options(p).set_defaults(handler=_runs)

    p = subparsers.add_parser("events", help="list raw events, filtered")
    p.add_argument("--run", dest="run_id", help="run id")
    p.add_argument("--type", dest="event_type", help="event type, e.g. SIGNAL_GENERATED")
    p.add_argument("--symbol")
    p.add_argument("--since", help="event time >= this (ISO 8601)")
    p.add_argument("--until", help="event time < this (ISO 8601)")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument(
        "--csv",
        type=Path,
        help="write the matching events to this CSV file (formula cells neutralised)",
    )
    p.add_argument("--force", action="store_true", help="replace the --csv file if it exists")
    add_common_options(p).set_defaults(handler=_events)

    p = subparsers.add_parser(
        "health", help="store health (SQLite's quick check included) and statistics"
    )
    add_common_options(p).set_defaults(handler=_health)

    p = subparsers.add_parser(
        "backup",
        help="copy the store to a file, consistently, even while it is in use",
        description=(
            "Copy the store with SQLite's online backup: a complete, consistent store file "
            "even while other commands write. DEST is a file, or a folder (the copy is then "
            "DEST/signal_lab.db). To restore, copy the backup over signal_lab.db in the data "
            "directory while nothing uses the store, or point --data-dir at its folder."
        ),
    )
    p.add_argument("dest", type=Path, help="backup file (or existing folder)")
    p.add_argument("--force", action="store_true", help="replace DEST if it exists")
    add_common_options(p).set_defaults(handler=_backup)


def _import(args: argparse.Namespace) -> int:
    set_stage(args, "open")
    with open_store(args) as store:
        before = {r.id for r in store.list_runs()}

        def progress(line: str) -> None:
            set_stage(args, line.split(" ", 1)[0])  # "reading ...", "validating ...", "writing ..."
            if not args.json:
                stderr(line)

        try:
            result = import_signal_log(
                args.file, store=store, skip_bad_rows=args.skip_bad_rows, name=args.name,
                signal=args.signal, dry_run=args.dry_run, on_progress=progress,
                time_unit=args.time_unit, encoding=args.encoding,
            )  # fmt: skip
        except Interrupted as exc:
            exc.outcome = _import_interrupted(store, exc, before)
            raise
        except ImportFileError as exc:
            if args.json:
                emit(args, {"error": str(exc).splitlines()[0],
                            "row_errors": [{"row": e.row, "reason": e.reason} for e in exc.row_errors]})  # fmt: skip
                return 2
            raise
    lines = [
        f"run: {result.run_id or '(dry run: nothing written)'}",
        f"rows in file: {result.n_rows:,}; imported: {result.n_imported:,}; "
        f"skipped: {result.n_skipped:,}",
    ]
    if result.features:
        lines.append(f"features kept: {', '.join(result.features)}")
    if result.ignored_columns:
        lines.append(f"non-numeric columns ignored: {', '.join(result.ignored_columns)}")
    if result.row_errors:
        lines.append("skipped rows:")
        lines += [f"  {e}" for e in result.row_errors[:50]]
        if len(result.row_errors) > 50:
            lines.append(f"  ... and {len(result.row_errors) - 50} more")
    emit(args, result, "\n".join(lines))
    return 0


def _import_interrupted(store: Store, exc: Interrupted, before: set[str]) -> str:
    """What an interrupted import kept: nothing (one transaction), or all of it when the
    signal came after the commit."""
    where = f" while {exc.stage}" if exc.stage and exc.stage != "open" else ""
    new = [r for r in store.list_runs() if r.id not in before and r.kind == "import"]
    if new:
        run = new[0]
        return (
            f"interrupted by {exc.signal_name} after the import committed; run {run.id} was "
            f"imported in full ({run.n_events:,} events)"
        )
    return (
        f"interrupted by {exc.signal_name}{where}; nothing was written "
        "(an import is one transaction)"
    )


def _runs(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        frame = store.runs_frame()
    if args.limit is not None:
        frame = frame.head(args.limit)
    shown = frame[
        [
            "id",
            "signal",
            "kind",
            "status",
            "name",
            "created",
            "n_signals",
            "n_outcomes",
            "synthetic",
        ]
    ]
    emit(args, frame, print_table(shown))
    return 0


def _events(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        filters = dict(
            event_type=args.event_type, run_id=args.run_id, symbol=args.symbol,
            since=args.since, until=args.until,
        )  # fmt: skip
        if args.csv is not None:
            frame = store.events_frame(**filters)
            write_output(args.csv, csv_bytes(frame), overwrite=args.force)
            print(f"wrote {len(frame):,} events to {args.csv}", file=sys.stderr)
            return 0
        frame = store.events_frame(**filters, limit=args.limit, offset=args.offset)
        total = store.count_events(**filters)
    text = (
        print_table(frame.drop(columns=["recorded_at"])) + f"\n({len(frame)} of {total:,} events)"
    )
    emit(args, frame, text)
    return 0


def _health(args: argparse.Namespace) -> int:
    from core.learning import LearningEngine, LearningEngineConfig  # not on import's path

    config = LearningEngineConfig(data_dir=args.data_dir)
    with LearningEngine(config) as engine:
        report = engine.health_check()
        stats = engine.get_stats()
    payload = {"health": report.to_dict(), "stats": stats.to_dict()}
    interrupted = report.checks.get("interrupted_runs") or []
    running = report.checks.get("running_runs") or []
    text = "\n".join(
        [
            f"status: {report.status}",
            *[f"  - {r}" for r in report.reasons],
            f"integrity: {'ok' if report.checks.get('integrity') == 'ok' else 'DAMAGED'}",
            f"database: {stats.db_path} ({stats.db_size_bytes / 1e6:.1f} MB)",
            f"runs: {stats.runs}; events: {stats.persisted:,}",
            *[f"  {t}: {n:,}" for t, n in sorted(stats.persisted_by_type.items())],
            *(
                [f"runs marked failed now (their process had stopped): {', '.join(interrupted)}"]
                if interrupted
                else []
            ),
            *([f"runs still running: {', '.join(running)}"] if running else []),
        ]
    )
    emit(args, payload, text)
    return 0 if report.status != "unhealthy" else 1


def _backup(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        target = store.backup(args.dest, overwrite=args.force)
        size = target.stat().st_size
    emit(
        args,
        {"backup": str(target), "bytes": size},
        f"backed up {store.path} to {target} ({size / 1e6:.1f} MB)",
    )
    return 0
