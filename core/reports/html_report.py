"""A self-contained HTML report of a run, and :func:`build_report` for every format.

The HTML page opens offline: plotly.js is embedded once, inline, in the page
head, and every chart is an interactive plotly div. It shows the run (config,
data fingerprint, a prominent "SYNTHETIC DATA" banner when the market was
synthetic), the run's headline numbers, the confidence statistics and
calibration, the threshold sweep and choice, and in-sample against
out-of-sample figures side by side, each labelled.

The page is rendered from the jinja2 template ``templates/report.html.j2``
with autoescaping on. This module only turns the analysis into plain strings
(formatted numbers, dates, labels) gathered in small view objects; the
template escapes every one of them. The only HTML not escaped there is what
plotly writes: its library and each chart's div (plotly encodes ``<``, ``>``
and ``/`` inside the chart JSON, so a title cannot close its script).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.offline
from markupsafe import Markup

from core import __version__
from core.analytics.calibration import json_safe
from core.analytics.report import calibration_totals
from core.decisions import (
    available_segments,
    decay_view,
    open_book_view,
    segment_view,
    sizing_view,
)
from core.errors import ConfigError, SignalLabError
from core.figures import (
    calibrator_comparison,
    confidence_over_time,
    decile_bars,
    equity_curves,
    reliability_diagram,
    sample_comparison_chart,
    sweep_chart,
)
from core.figures.thresholds import SAMPLE_LABELS
from core.reports.json_report import reports_dir
from core.reports.tables import (
    RunAnalysis,
    analyze_stored_run,
    atomic_write,
    write_tables_csv,
    write_tables_json,
)
from core.store import Store

__all__ = ["REPORT_FORMATS", "build_report", "render_html", "report_figures", "write_html_report"]

#: Formats :func:`build_report` writes.
REPORT_FORMATS: tuple[str, ...] = ("html", "json", "csv")

#: Most rows of a table printed in the page (the CSV export has every row).
MAX_TABLE_ROWS = 120

#: The page template, in ``core/reports/templates/`` (shipped as package data).
TEMPLATE = "report.html.j2"


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """The template environment: autoescaping on, undefined names an error.

    Built once per process and never changed afterwards (jinja2 environments
    are safe to share between threads once configured).
    """
    return jinja2.Environment(
        loader=jinja2.PackageLoader("core.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


# --------------------------------------------------------------------------- view objects


@dataclass(frozen=True)
class _Cell:
    """One table cell: its text (plain, escaped by the template) and CSS class."""

    text: str
    css: str = ""


@dataclass(frozen=True)
class _Table:
    """A table for the template: header cells, rows of cells, an optional note."""

    columns: tuple[_Cell, ...]
    rows: tuple[tuple[_Cell, ...], ...]
    caption: str | None = None
    scroll: bool = False
    note: str | None = None


@dataclass(frozen=True)
class _Panel:
    """One side of an in-sample / out-of-sample pair: a table, or a note without one."""

    title: str
    table: _Table | None = None
    note: str | None = None


@dataclass(frozen=True)
class _SideBySide:
    left: _Panel
    right: _Panel


# --------------------------------------------------------------------------- formatting


def _fmt(value: Any) -> str:
    """One table cell as plain text: numbers to 4 significant digits, times as ISO dates."""
    if value is None:
        return "—"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        x = float(value)
        if math.isnan(x):
            return "—"
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-4):
            return f"{x:.3e}"
        if float(x).is_integer() and abs(x) < 1e6:
            return f"{x:,.0f}"
        return f"{x:,.4g}" if abs(x) >= 1 else f"{x:.4g}"
    if isinstance(value, pd.Timestamp):
        if pd.isna(value):
            return "—"
        midnight = value == value.normalize()
        return value.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M")
    if value is pd.NaT:
        return "—"
    return str(value)


def _table(
    frame: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    index: bool = False,
    scroll: bool = False,
    caption: str | None = None,
) -> _Table:
    """The view of ``frame`` as a table (long tables thinned to :data:`MAX_TABLE_ROWS`)."""
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    if index:
        frame = frame.reset_index()
    note = None
    if len(frame) > MAX_TABLE_ROWS:
        step = math.ceil(len(frame) / MAX_TABLE_ROWS)
        note = (
            f"Every {step}th of {len(frame):,} rows shown; the CSV and JSON exports have them all."
        )
        frame = frame.iloc[::step]
    head = tuple(
        _Cell(str(c), "" if pd.api.types.is_numeric_dtype(frame[c]) else "text")
        for c in frame.columns
    )
    rows = tuple(
        tuple(
            _Cell(
                _fmt(value),
                "" if isinstance(value, int | float | np.number | bool | np.bool_) else "text",
            )
            for value in row
        )
        for row in frame.itertuples(index=False)
    )
    return _Table(columns=head, rows=rows, caption=caption, scroll=scroll, note=note)


def _pairs(pairs: Sequence[tuple[str, Any]]) -> tuple[tuple[str, str], ...]:
    """Label -> formatted value rows of a two-column table."""
    return tuple((str(k), _fmt(v)) for k, v in pairs)


def _metric_unit(name: str) -> str:
    """Unit of a :mod:`core.metrics` field, by its naming convention."""
    if name.startswith("n_"):
        return "count"
    if name.endswith("_pct"):
        return "% per trade"
    if name in ("win_rate", "total_return", "cagr", "volatility_daily", "max_drawdown", "exposure"):
        return "fraction"
    return "ratio"


# --------------------------------------------------------------------------- figures


def report_figures(analysis: RunAnalysis) -> dict[str, go.Figure]:
    """Every chart of the report, by id, in page order.

    Ids: ``confidence_over_time``, ``deciles``, ``reliability``,
    ``calibrators`` (when a calibrator could be fitted), ``calibration_samples``
    (when the walk-forward evaluated a window), ``sweep_sharpe`` and
    ``sweep_win_rate`` and ``threshold_samples`` (when a threshold analysis
    exists; the last needs its walk-forward), ``equity``, then the decision charts
    ``sizing_0``, ``sizing_1``, ``segments_0``, ``decay_0``, ``open_book_0`` (those the
    run allows; see :mod:`core.decisions`).
    """
    a = analysis
    key = a.key
    scores = a.trades[key].to_numpy(dtype=np.float64, na_value=np.nan)
    figs: dict[str, go.Figure] = {
        "confidence_over_time": confidence_over_time(a.trades, key=key),
        "deciles": decile_bars(a.confidence.deciles),
        "reliability": reliability_diagram(a.confidence.reliability, histogram_of=scores, key=key),
    }
    if a.calibrator_curves:
        figs["calibrators"] = calibrator_comparison(
            a.calibrator_curves,
            title="Calibrators compared out of sample (walk-forward reliability)",
        )
    if a.calibration is not None and a.calibration.out_of_sample is not None:
        figs["calibration_samples"] = sample_comparison_chart(
            calibration_totals(a.calibration),
            metrics=("ece", "brier", "log_loss"),
            title=f"Calibration ({a.calibration.method}): raw score, in sample, out of sample",
        )
    t = a.thresholds
    if t is not None:
        figs["sweep_sharpe"] = sweep_chart(
            t.sweep, metric="sharpe", choice=t.choice, oos=t.walk_forward
        )
        figs["sweep_win_rate"] = sweep_chart(
            t.sweep, metric="win_rate", choice=t.choice, oos=t.walk_forward
        )
        if t.walk_forward is not None:
            figs["threshold_samples"] = sample_comparison_chart(
                t.sample_comparison(),
                metrics=("trades", "win_rate", "mean_return", "sharpe", "profit_factor",
                         "total_return"),
                title="Chosen threshold: in sample against out of sample (walk-forward)",
            )  # fmt: skip
    if a.equity is not None and len(a.equity):
        figs["equity"] = equity_curves(
            a.equity,
            kind="growth" if a.equity_kind == "growth" else "summed_pct",
            title=(
                "Equity — baseline against the filtered book"
                if a.equity_kind == "growth"
                else "Summed trade returns — every trade against the run's threshold"
            ),
        )
    for key, _title, view in _decision_views(a):
        if not isinstance(view, str):
            figs.update({f"{key}_{j}": fig for j, fig in enumerate(view.figures)})
    return figs


def _figure_div(fig: go.Figure, div_id: str) -> Markup:
    """A chart as HTML, trusted as it is: plotly writes it and escapes its own JSON."""
    height = fig.layout.height or 460
    body = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"fig-{div_id}",
        config={"displaylogo": False, "responsive": True},
        default_width="100%",
        default_height=f"{int(height)}px",
    )
    # div_id is one of report_figures' fixed ids; escape it all the same.
    return (
        Markup('<div class="chart" data-chart="{}">').format(div_id)
        + Markup(body)
        + Markup("</div>")
    )


# --------------------------------------------------------------------------- page


def _run_pairs(a: RunAnalysis) -> tuple[tuple[str, str], ...]:
    r = a.run
    return _pairs(
        [
            ("Run id", r.id),
            ("Name", r.name or "—"),
            ("Kind", r.kind),
            ("Status", r.status),
            ("Created (UTC)", r.created),
            ("Finished (UTC)", r.finished or "—"),
            ("Data source", r.source or "—"),
            ("Synthetic data", bool(r.synthetic)),
            ("Seed", r.seed if r.seed is not None else "—"),
            ("Package version", r.package_version or "—"),
            ("Config hash", r.config_hash or "—"),
            ("Data fingerprint", r.data_fingerprint or "—"),
            ("Trades analysed", a.confidence.n_trades),
            ("Score mapping", a.mapping_label),
            ("Score column", a.key),
            ("Run threshold", a.threshold if a.threshold is not None else "—"),
        ]
    )


def _run_report_view(a: RunAnalysis) -> dict[str, Any] | None:
    """The headline numbers: source, validation, metrics with units, recorded calibration."""
    if a.run_report is None:
        return None
    metrics = a.run_metrics()
    metrics.insert(1, "unit", [_metric_unit(m) for m in metrics["metric"]])
    extra: list[tuple[str, Any]] = [("Source of these numbers", a.run_report_source)]
    for k in ("validation_passed", "validation_rule", "n_signals", "n_trades", "dropped_trades"):
        if k in a.run_report:
            label = k.replace("_", " ").capitalize()
            if k == "validation_passed":
                label += " (in sample, before deflation: see the verdict above)"
            extra.append((label, a.run_report[k]))
    calibration = a.run_report.get("calibration_metrics") or a.run_report.get("calibration")
    recorded: tuple[tuple[str, str], ...] = ()
    if isinstance(calibration, Mapping) and calibration:
        recorded = _pairs(
            [(k, v) for k, v in calibration.items() if not isinstance(v, Mapping | list)]
        )
    return {"pairs": _pairs(extra), "metrics": _table(metrics), "calibration": recorded}


def _calibration_samples(a: RunAnalysis) -> _SideBySide | None:
    c = a.calibration
    if c is None or c.out_of_sample is None:
        return None
    totals = calibration_totals(c)
    rows = [
        r for r in ("n", "base_rate", "ece", "mce", "ace", "brier", "log_loss") if r in totals.index
    ]
    left = totals.loc[rows, [k for k in ("raw", "in_sample") if k in totals.columns]]
    right = totals.loc[rows, [k for k in ("raw", "out_of_sample") if k in totals.columns]]
    names = {k: SAMPLE_LABELS.get(k, k) for k in totals.columns}
    return _SideBySide(
        _Panel(
            f"In sample: {c.method} fitted on every trade and scored on the same trades "
            "(optimistic)",
            _table(left.rename(columns=names), index=True),
        ),
        _Panel(
            f"Out of sample: {c.method} fitted walk-forward ({c.n_windows} windows), each "
            "window scored by a calibrator fitted on earlier trades only",
            _table(right.rename(columns=names), index=True),
        ),
    )


def _threshold_view(a: RunAnalysis) -> dict[str, Any] | None:
    t = a.thresholds
    if t is None:
        return None
    sel = t.selection()
    choice = t.choice
    dsr = a.dsr() or {}
    source = (
        f"the signal's trial ledger ({a.ledger_count} trials since its last reset)"
        if dsr.get("n_source") == "ledger"
        else f"the thresholds tried (the ledger holds {a.ledger_count or 0})"
    )
    pairs: list[tuple[str, Any]] = [
        ("Score mapping", a.mapping_label),
        ("Objective", t.objective),
        ("Mode", t.mode),
        ("Minimum trades", t.min_trades),
        ("Chosen threshold (in sample)", choice.threshold),
        ("Score cut-off", choice.score_cutoff),
        ("Thresholds tried", dsr.get("n_thresholds")),
        ("Trials counted by the DSR (N)", f"{dsr.get('n_trials')}, from {source}"),
        ("Effective independent trials (N_eff)", dsr.get("n_effective")),
        ("Null variance of the trials' Sharpe ratios (V)", dsr.get("sharpe_variance")),
        ("Benchmark method", dsr.get("method") or "—"),
        ("Eligible thresholds", choice.n_eligible),
        ("PSR (Sharpe > 0)", sel.get("psr")),
        ("Deflated Sharpe ratio", sel.get("dsr")),
        ("Expected max Sharpe of the trials (SR*)", sel.get("dsr_sr_star")),
        ("DSR significant (≥ 0.95)", sel.get("dsr_significant")),
        ("PBO (probability of backtest overfitting)", sel.get("pbo")),
    ]
    comp = t.sample_comparison()
    metrics = ["trades", "win_rate", "mean_return", "sharpe", "profit_factor", "total_return"]
    names = {k: SAMPLE_LABELS.get(k, k) for k in comp.columns}
    left = comp.loc[
        metrics,
        ["in_sample"] + (["walk_forward_in_sample"] if "walk_forward_in_sample" in comp else []),
    ]
    windows: _Table | None = None
    if t.walk_forward is not None:
        right = comp.loc[metrics, ["out_of_sample", "baseline_out_of_sample"]]
        right_panel = _Panel(
            f"Out of sample: the threshold chosen on earlier trades, applied to the next window "
            f"({t.walk_forward.n_windows} windows, {t.walk_forward.scheme}, pooled)",
            _table(right.rename(columns=names), index=True),
        )
        cols = ["window", "test_start", "test_end", "train_trades", "test_trades", "threshold",
                "in_sample_sharpe", "out_of_sample_sharpe", "in_sample_win_rate",
                "out_of_sample_win_rate", "out_of_sample_trades", "baseline_sharpe"]  # fmt: skip
        windows = _table(t.walk_forward.windows, columns=cols, scroll=True)
    else:
        right_panel = _Panel("Out of sample", note="Not enough trades for a walk-forward.")
    sweep_cols = ["threshold", "score_cutoff", "trades", "coverage", "win_rate", "win_low",
                  "win_high", "mean_return", "mean_return_low", "mean_return_high", "sharpe",
                  "sharpe_low", "sharpe_high", "profit_factor", "total_return"]  # fmt: skip
    return {
        "pairs": _pairs(pairs),
        "comparison": _SideBySide(
            _Panel(
                f"In sample: the threshold chosen on all trades, scored on the same trades "
                f"(optimistic; threshold {choice.threshold:g})",
                _table(left.rename(columns=names), index=True),
            ),
            right_panel,
        ),
        "windows": windows,
        "sweep": _table(t.sweep.table, columns=sweep_cols, scroll=True),
    }


@functools.lru_cache(maxsize=4)
def _decision_views(a: RunAnalysis) -> tuple[tuple[str, str, Any], ...]:
    """Beyond the peers for the report: (id, title, view or the reason there is none).

    Bet sizing, calibration by regime, signal decay and the open book, each fitted
    walk-forward on earlier trades (see :mod:`core.decisions`); computed once per
    analysis (the figures and the page share them).
    """
    trades = a.trades
    segments = available_segments(trades)
    by = "volatility" if "volatility" in segments else next(iter(segments), None)
    builders: list[tuple[str, str, Any]] = [
        ("sizing", "Bet sizing from the calibrated probability", lambda: sizing_view(trades)),
        (
            "segments",
            f"Calibration by {segments[by]}" if by else "Calibration by segment",
            (lambda: segment_view(trades, by=by)) if by else None,
        ),
        ("decay", "How long does the edge last?", lambda: decay_view(a.run, trades)),
        ("open_book", "Expected win rate of the newest signals", lambda: open_book_view(trades)),
        (
            "versions",
            "Version against version: the signal's newest two calibrators",
            lambda: a.versions if a.versions is not None else "not computed",
        ),
    ]
    out: list[tuple[str, str, Any]] = []
    for key, title, build in builders:
        if build is None:
            out.append((key, title, "this run records no attribute to segment by"))
            continue
        try:
            out.append((key, title, build()))
        except SignalLabError as exc:
            out.append((key, title, str(exc).split("\n", 1)[0]))
    return tuple(out)


def _decisions(a: RunAnalysis, charts: dict[str, Markup]) -> tuple[dict[str, Any], ...]:
    """The decision sections of the page: title, note, chart divs, table."""
    sections = []
    for key, title, view in _decision_views(a):
        if isinstance(view, str):
            sections.append({"title": title, "note": view, "charts": (), "table": None})
            continue
        result = view.result[0] if isinstance(view.result, tuple) else view.result
        table = getattr(result, "table", None)
        sections.append(
            {
                "title": title,
                "note": view.note,
                "charts": tuple(
                    charts[f"{key}_{j}"] for j in range(len(view.figures)) if f"{key}_{j}" in charts
                ),
                "table": None if table is None else _table(table, index=True, scroll=True),
            }
        )
    return tuple(sections)


def render_html(analysis: RunAnalysis, *, title: str | None = None) -> str:
    """The report page of ``analysis`` as one self-contained HTML string.

    Rendered from ``templates/report.html.j2`` with autoescaping: every string
    from the run or its data (name, source, symbols, column names, notes,
    config values) is HTML-escaped.

    Parameters
    ----------
    analysis : RunAnalysis
        From :func:`core.reports.tables.analyze_stored_run`.
    title : str, optional
        Page title (default: the run's name or id).

    Returns
    -------
    str
        A complete HTML document with plotly.js inline (about 5 MB).
    """
    a = analysis
    r = a.run
    c = a.confidence
    charts = {k: _figure_div(f, k) for k, f in report_figures(a).items()}
    context: dict[str, Any] = {
        "name": title or r.name or r.id,
        "run": r,
        "key": a.mapping_label,
        "verdict": a.verdict(),
        "n_scored": f"{c.n_scored:,}",
        "run_pairs": _run_pairs(a),
        "run_report": _run_report_view(a),
        "distribution": _table(pd.DataFrame([c.summary.to_dict()])),
        "correlations": _table(c.correlations.to_frame()),
        "deciles": _table(c.deciles.table, scroll=True),
        "fixed_bins": _table(c.fixed_bins.table, scroll=True),
        "calibration_summary": _table(pd.DataFrame([c.calibration.to_dict()])),
        "calibrator_table": _table(a.calibrator_table()) if a.calibrators else None,
        "calibration_samples": _calibration_samples(a),
        "thresholds": _threshold_view(a),
        "decisions": _decisions(a, charts),
        "equity_kind": a.equity_kind,
        "config_pairs": _pairs(
            [
                ("Data fingerprint", r.data_fingerprint or "—"),
                ("Config hash", r.config_hash or "—"),
                ("Seed", r.seed if r.seed is not None else "—"),
            ]
        ),
        "config_json": json.dumps(json_safe(r.config), indent=2, sort_keys=True),
        "notes": tuple(str(n) for n in a.notes),
        "version": __version__,
        "generated": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC"),
        "charts": charts,
        # plotly.min.js, inline so the page opens offline; our own code, not data.
        "plotly_js": Markup(plotly.offline.get_plotlyjs()),
    }
    return _environment().get_template(TEMPLATE).render(context)


def write_html_report(analysis: RunAnalysis, out: str | Path, *, overwrite: bool = True) -> Path:
    """Render the report of ``analysis`` and write it to ``out`` atomically."""
    return atomic_write(out, render_html(analysis), overwrite=overwrite)


def _default_out(store: Store, run_id: str, fmt: str) -> Path:
    base = reports_dir(store.data_dir)
    return (
        base
        / {
            "html": f"{run_id}.html",
            "json": f"{run_id}-analysis.json",
            "csv": f"{run_id}-tables.zip",
        }[fmt]
    )


def build_report(
    store: Store,
    run_id: str,
    *,
    format: Literal["html", "json", "csv"] = "html",
    out: str | Path | None = None,
    key: str | None = None,
    equity: pd.DataFrame | None = None,
    overwrite: bool | None = None,
    **options: Any,
) -> Path:
    """Analyse a stored run and write its report.

    Parameters
    ----------
    store : Store
    run_id : str
    format : {"html", "json", "csv"}, default "html"
        ``html``: the self-contained page; ``json``: every result and table in
        one file; ``csv``: one CSV per table, in a zip (``out`` ending in
        ``.zip``) or a folder (any other ``out``).
    out : str or Path, optional
        Target; default in :func:`core.reports.json_report.reports_dir`:
        ``<run_id>.html``,
        ``<run_id>-analysis.json`` (beside the backtest's own
        ``<run_id>.json``) or ``<run_id>-tables.zip``.
    key : str, optional
        Confidence key (default the run's own).
    equity : DataFrame, optional
        Daily equity per book (e.g. ``BacktestResult.equity``); default the
        summed trade returns.
    overwrite : bool, optional
        Replace an existing target. Default: yes in the default reports folder
        (Signal Lab's own files), no for an ``out`` the caller chose (the CLI's
        ``--force``). Links and non-regular files are never replaced.
    **options
        Passed to :func:`core.reports.tables.analyze_stored_run` (``n_bins``,
        ``method``, ``objective``, ``min_trades`` ...).

    Returns
    -------
    Path
        The file (or folder) written.

    Raises
    ------
    ConfigError
        Unknown format.
    RunNotFoundError, InsufficientDataError, StoreError
        From the analysis or the write.
    """
    if format not in REPORT_FORMATS:
        raise ConfigError(f"format must be one of {', '.join(REPORT_FORMATS)}, got {format!r}")
    analysis = analyze_stored_run(store, run_id, key=key, equity=equity, **options)
    target = Path(out) if out is not None else _default_out(store, run_id, format)
    replace = (out is None) if overwrite is None else bool(overwrite)
    if format == "html":
        return write_html_report(analysis, target, overwrite=replace)
    if format == "json":
        return write_tables_json(analysis.to_dict(), target, overwrite=replace)
    return write_tables_csv(analysis.tables(), target, overwrite=replace)
