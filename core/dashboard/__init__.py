"""What the dashboard pages ask of ``core``: small pure functions, no Streamlit.

Each page of the dashboard reads its widgets, calls a function of this package
(which calls the analytics, the figures, the store and the lifecycle) and draws
what comes back. Nothing here imports Streamlit; everything returns frozen
dataclasses, DataFrames or plotly figures, so the same calls can be timed
(``bench/bench_dashboard.py``) and tested without a browser. Every name below
is importable from ``core.dashboard`` itself (``from core import dashboard as
dash`` in the pages); the modules say where it lives:

==========================  ===========================================================
module                      holds
==========================  ===========================================================
:mod:`.labels`              how keys, metrics, books, stages and objectives read on screen
:mod:`.runs`                run labels and tables, re-runs, confidence keys, book
                            metrics, a run's overview
:mod:`.slider`              the Thresholds slider: :class:`BookArrays`,
                            :func:`filtered_book`, its equity figure
:mod:`.calibration`         the Calibration page: analysis, bin tables, calibrators compared
:mod:`.thresholds`          the Thresholds page: sweep, choice, walk-forward, sweep figure
:mod:`.drift`               the Drift page: baselines, timelines, checks, alerts
:mod:`.models`              the Models page: versions, evaluations, stages, jobs
:mod:`.events`              the Events page, imports of signal logs, a synthetic log
:mod:`.reports`             the Reports page: report files in memory
(``core.reports.keys``)     the score mapping the sidebar chooses (:func:`map_key`)
:mod:`._common`             what several modules share (threshold mode, error text)
==========================  ===========================================================

The slider of the Thresholds page is the hot path: :func:`book_arrays` turns a
trades frame into NumPy arrays once (the page caches them), and
:func:`filtered_book` answers any threshold with a few vectorised passes over
them (no Python loop over trades).

Units follow ``docs/architecture.md``: ``return_pct`` in percent net of costs,
win rates and coverage as fractions, per-trade Sharpe = mean / std (ddof=1), not
annualised. The equity of a book here is the running *sum* of ``return_pct`` at
each trade's exit (the P&L, in percent of one position, of a book staking one
unit per trade), as :func:`core.reports.tables.summed_equity` defines it.
"""

from core.dashboard._common import Mode, describe_errors, md_text
from core.dashboard.calibration import (
    BIN_TABLE_FORMATS,
    CALIBRATION_METHODS,
    CalibrationView,
    CalibratorComparison,
    bin_table_display,
    calibration_view,
    compare_calibrators,
)
from core.dashboard.drift import (
    DriftThresholds,
    DriftTimeline,
    acknowledge_alert,
    alerts_table,
    baseline_record,
    baseline_status,
    check_window,
    default_window,
    describe_baseline,
    drift_figure,
    drift_table,
    drift_timeline,
    set_baseline,
)
from core.dashboard.events import (
    ImportPreview,
    events_csv,
    events_page,
    import_upload,
    preview_upload,
    synthetic_signal_log,
)
from core.dashboard.labels import (
    BOOK_NAMES,
    DEFAULT_GATE_TEXT,
    KEY_LABELS,
    METRIC_LABELS,
    OBJECTIVE_LABELS,
    STAGE_LABELS,
    SWEEP_METRICS,
    fmt_number,
    format_p_value,
    readable_p_values,
)
from core.dashboard.models import (
    VersionDetail,
    change_stage,
    evaluate_version,
    jobs_table,
    models_table,
    register_calibrator,
    submit_job,
    version_detail,
)
from core.dashboard.reports import REPORT_FILES, report_bytes
from core.dashboard.runs import (
    RunOverview,
    book_stats,
    metric_value,
    metrics_markdown,
    metrics_rows,
    metrics_table,
    overall_progress,
    prepare_key,
    rerun_config,
    rows_markdown,
    run_and_report,
    run_label,
    run_overview,
    run_table,
)
from core.dashboard.server import (
    ServerSettings,
    UploadSpace,
    available_stores,
    server_settings,
    store_exists,
)
from core.dashboard.slider import (
    BookArrays,
    FilteredBook,
    book_arrays,
    equity_figure,
    filtered_book,
)
from core.dashboard.thresholds import (
    OBJECTIVES,
    LedgerView,
    ThresholdDecision,
    ThresholdView,
    current_decision,
    guarantee_view,
    keep_threshold,
    ledger_view,
    record_comparison_trial,
    record_sweep_trial,
    reset_ledger,
    sweep_figure,
    threshold_view,
)
from core.decisions import (
    SEGMENTS,
    DecisionView,
    available_segments,
    decay_view,
    open_book_view,
    out_of_sample_probability,
    segment_view,
    sizing_view,
    version_view,
)
from core.reports.keys import (
    KEY_CHOICES,
    MappedTrades,
    choice_label,
    map_key,
    mapping_token,
    normalize_choice,
)

__all__ = [
    "BIN_TABLE_FORMATS",
    "BOOK_NAMES",
    "CALIBRATION_METHODS",
    "DEFAULT_GATE_TEXT",
    "KEY_CHOICES",
    "KEY_LABELS",
    "METRIC_LABELS",
    "OBJECTIVES",
    "OBJECTIVE_LABELS",
    "REPORT_FILES",
    "SEGMENTS",
    "STAGE_LABELS",
    "SWEEP_METRICS",
    "BookArrays",
    "CalibrationView",
    "CalibratorComparison",
    "DecisionView",
    "DriftThresholds",
    "DriftTimeline",
    "FilteredBook",
    "ImportPreview",
    "LedgerView",
    "MappedTrades",
    "Mode",
    "RunOverview",
    "ServerSettings",
    "ThresholdDecision",
    "ThresholdView",
    "UploadSpace",
    "VersionDetail",
    "acknowledge_alert",
    "alerts_table",
    "available_segments",
    "available_stores",
    "baseline_record",
    "baseline_status",
    "bin_table_display",
    "book_arrays",
    "book_stats",
    "calibration_view",
    "change_stage",
    "check_window",
    "choice_label",
    "compare_calibrators",
    "current_decision",
    "decay_view",
    "default_window",
    "describe_baseline",
    "describe_errors",
    "drift_figure",
    "drift_table",
    "drift_timeline",
    "equity_figure",
    "evaluate_version",
    "events_csv",
    "events_page",
    "filtered_book",
    "fmt_number",
    "format_p_value",
    "guarantee_view",
    "import_upload",
    "jobs_table",
    "keep_threshold",
    "ledger_view",
    "map_key",
    "mapping_token",
    "md_text",
    "metric_value",
    "metrics_markdown",
    "metrics_rows",
    "metrics_table",
    "models_table",
    "normalize_choice",
    "open_book_view",
    "out_of_sample_probability",
    "overall_progress",
    "prepare_key",
    "preview_upload",
    "readable_p_values",
    "record_comparison_trial",
    "record_sweep_trial",
    "register_calibrator",
    "report_bytes",
    "rerun_config",
    "reset_ledger",
    "rows_markdown",
    "run_and_report",
    "run_label",
    "run_overview",
    "run_table",
    "segment_view",
    "server_settings",
    "set_baseline",
    "sizing_view",
    "store_exists",
    "submit_job",
    "sweep_figure",
    "synthetic_signal_log",
    "threshold_view",
    "version_detail",
    "version_view",
]
