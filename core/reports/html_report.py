"""A self-contained HTML report of a run, and :func:`build_report` for every format.

The HTML page opens offline: plotly.js is embedded once, inline, in the page
head, and every chart is an interactive plotly div. It shows the run (config,
data fingerprint, a prominent "SYNTHETIC DATA" banner when the market was
synthetic), the run report's headline numbers, the confidence statistics and
calibration, the threshold sweep and choice, and in-sample against
out-of-sample figures side by side, each labelled. Every string that comes
from the user or the data (run name, source, config values, notes, table
cells) is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from core import __version__
from core.analytics.calibration import json_safe
from core.analytics.report import calibration_totals
from core.errors import ConfigError
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

_CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#f6f8fa; --blue:#1f6feb;
        --orange:#e8590c; --red:#cf222e; }
* { box-sizing: border-box; }
body { font: 14px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg);
       margin: 0; background: white; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 8px; }
p.meta, p.note, .muted { color: var(--muted); }
.banner { margin: 14px 0; padding: 12px 16px; border-radius: 6px; font-weight: 700; font-size: 18px; }
.banner.synthetic { background: #fff1e5; border: 2px solid var(--orange); color: #953800;
                    letter-spacing: 0.04em; }
.banner.real { background: #ddf4ff; border: 1px solid #54aeff; color: #0a3069; font-size: 14px; }
table { border-collapse: collapse; margin: 6px 0 14px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: var(--bg); font-weight: 600; }
td.text, th.text { text-align: left; }
td.wrap, th.wrap { white-space: normal; }
.scroll { max-height: 460px; overflow: auto; border: 1px solid var(--line); margin-bottom: 14px; }
.scroll table { margin: 0; }
.side-by-side { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; align-items: start; }
.side-by-side > section { border: 1px solid var(--line); border-radius: 6px; padding: 4px 14px 10px; }
.side-by-side > section.in-sample { border-top: 4px solid var(--blue); }
.side-by-side > section.out-of-sample { border-top: 4px solid var(--orange); }
.chart { margin: 10px 0 18px; border: 1px solid var(--line); border-radius: 6px; padding: 4px; }
pre { background: var(--bg); padding: 10px 12px; border-radius: 6px; overflow: auto; font-size: 12px; }
ul.notes li { margin: 3px 0; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


# --------------------------------------------------------------------------- formatting


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    """One table cell, escaped: numbers to 4 significant digits, times as ISO dates."""
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
        return _esc(value.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M"))
    if value is pd.NaT:
        return "—"
    return _esc(value)


def _table(
    frame: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    index: bool = False,
    scroll: bool = False,
    caption: str | None = None,
) -> str:
    """An HTML table of ``frame`` (every cell escaped; long tables thinned)."""
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    if index:
        frame = frame.reset_index()
    note = ""
    if len(frame) > MAX_TABLE_ROWS:
        step = math.ceil(len(frame) / MAX_TABLE_ROWS)
        note = (
            f'<p class="note">Every {step}th of {len(frame):,} rows shown; the CSV and JSON '
            "exports have them all.</p>"
        )
        frame = frame.iloc[::step]
    head = "".join(
        f'<th class="{"text" if not pd.api.types.is_numeric_dtype(frame[c]) else ""}">{_esc(c)}</th>'
        for c in frame.columns
    )
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            cls = "" if isinstance(value, int | float | np.number | bool | np.bool_) else "text"
            cells.append(f'<td class="{cls}">{_fmt(value)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    table = f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if scroll:
        table = f'<div class="scroll">{table}</div>'
    return table + note


def _metric_unit(name: str) -> str:
    """Unit of a :mod:`core.metrics` field, by its naming convention."""
    if name.startswith("n_"):
        return "count"
    if name.endswith("_pct"):
        return "% per trade"
    if name in ("win_rate", "total_return", "cagr", "volatility_daily", "max_drawdown", "exposure"):
        return "fraction"
    return "ratio"


def _kv_table(pairs: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(
        f'<tr><th class="text">{_esc(k)}</th><td class="text wrap">{_fmt(v)}</td></tr>'
        for k, v in pairs
    )
    return f"<table><tbody>{rows}</tbody></table>"


# --------------------------------------------------------------------------- figures


def report_figures(analysis: RunAnalysis) -> dict[str, go.Figure]:
    """Every chart of the report, by id, in page order.

    Ids: ``confidence_over_time``, ``deciles``, ``reliability``,
    ``calibrators`` (when a calibrator could be fitted), ``calibration_samples``
    (when the walk-forward evaluated a window), ``sweep_sharpe`` and
    ``sweep_win_rate`` and ``threshold_samples`` (when a threshold analysis
    exists; the last needs its walk-forward), ``equity``.
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
    return figs


def _figure_div(fig: go.Figure, div_id: str) -> str:
    height = fig.layout.height or 460
    body = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"fig-{div_id}",
        config={"displaylogo": False, "responsive": True},
        default_width="100%",
        default_height=f"{int(height)}px",
    )
    return f'<div class="chart" data-chart="{_esc(div_id)}">{body}</div>'


# --------------------------------------------------------------------------- page


def _run_section(a: RunAnalysis) -> str:
    r = a.run
    pairs: list[tuple[str, Any]] = [
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
        ("Confidence key", a.key),
        ("Run threshold", a.threshold if a.threshold is not None else "—"),
    ]
    return _kv_table(pairs)


def _run_report_section(a: RunAnalysis) -> str:
    if a.run_report is None:
        return (
            '<p class="note">This run has no report of its own (an imported signal log): '
            "the figures below are computed from its trades.</p>"
        )
    metrics = a.run_metrics()
    metrics.insert(1, "unit", [_metric_unit(m) for m in metrics["metric"]])
    extra: list[tuple[str, Any]] = [("Source of these numbers", a.run_report_source)]
    for k in ("validation_passed", "validation_rule", "n_signals", "n_trades", "dropped_trades"):
        if k in a.run_report:
            extra.append((k.replace("_", " ").capitalize(), a.run_report[k]))
    calibration = a.run_report.get("calibration_metrics") or a.run_report.get("calibration")
    out = _kv_table(extra) + _table(metrics)
    if isinstance(calibration, Mapping) and calibration:
        out += "<h3>Calibration recorded by the run</h3>" + _kv_table(
            [(k, v) for k, v in calibration.items() if not isinstance(v, Mapping | list)]
        )
    return out


def _side_by_side(left_title: str, left: str, right_title: str, right: str) -> str:
    return (
        '<div class="side-by-side">'
        f'<section class="in-sample"><h3>{_esc(left_title)}</h3>{left}</section>'
        f'<section class="out-of-sample"><h3>{_esc(right_title)}</h3>{right}</section>'
        "</div>"
    )


def _calibration_samples(a: RunAnalysis) -> str:
    c = a.calibration
    if c is None or c.out_of_sample is None:
        return ""
    totals = calibration_totals(c)
    rows = [
        r for r in ("n", "base_rate", "ece", "mce", "ace", "brier", "log_loss") if r in totals.index
    ]
    left = totals.loc[rows, [k for k in ("raw", "in_sample") if k in totals.columns]]
    right = totals.loc[rows, [k for k in ("raw", "out_of_sample") if k in totals.columns]]
    names = {k: SAMPLE_LABELS.get(k, k) for k in totals.columns}
    return _side_by_side(
        f"In sample: {c.method} fitted on every trade and scored on the same trades (optimistic)",
        _table(left.rename(columns=names), index=True),
        f"Out of sample: {c.method} fitted walk-forward ({c.n_windows} windows), each window "
        "scored by a calibrator fitted on earlier trades only",
        _table(right.rename(columns=names), index=True),
    )


def _threshold_section(a: RunAnalysis, divs: Mapping[str, str]) -> str:
    t = a.thresholds
    if t is None:
        return '<p class="note">No threshold analysis (see the notes below).</p>'
    sel = t.selection()
    choice = t.choice
    pairs: list[tuple[str, Any]] = [
        ("Objective", t.objective),
        ("Mode", t.mode),
        ("Minimum trades", t.min_trades),
        ("Chosen threshold (in sample)", choice.threshold),
        ("Score cut-off", choice.score_cutoff),
        ("Thresholds tried (trials)", choice.n_trials),
        ("Eligible thresholds", choice.n_eligible),
        ("PSR (Sharpe > 0)", sel.get("psr")),
        ("Deflated Sharpe ratio (all thresholds as trials)", sel.get("dsr")),
        ("Expected max Sharpe of the trials (SR*)", sel.get("dsr_sr_star")),
        ("DSR significant (≥ 0.95)", sel.get("dsr_significant")),
        ("PBO (probability of backtest overfitting)", sel.get("pbo")),
    ]
    parts = [_kv_table(pairs)]
    parts += [divs[k] for k in ("sweep_sharpe", "sweep_win_rate") if k in divs]
    comp = t.sample_comparison()
    metrics = ["trades", "win_rate", "mean_return", "sharpe", "profit_factor", "total_return"]
    names = {k: SAMPLE_LABELS.get(k, k) for k in comp.columns}
    left = comp.loc[
        metrics,
        ["in_sample"] + (["walk_forward_in_sample"] if "walk_forward_in_sample" in comp else []),
    ]
    if t.walk_forward is not None:
        right = comp.loc[metrics, ["out_of_sample", "baseline_out_of_sample"]]
        right_html = _table(right.rename(columns=names), index=True)
        right_title = (
            f"Out of sample: the threshold chosen on earlier trades, applied to the next window "
            f"({t.walk_forward.n_windows} windows, {t.walk_forward.scheme}, pooled)"
        )
    else:
        right_html = '<p class="note">Not enough trades for a walk-forward.</p>'
        right_title = "Out of sample"
    parts.append("<h3>In sample against out of sample</h3>")
    parts.append(
        _side_by_side(
            f"In sample: the threshold chosen on all trades, scored on the same trades "
            f"(optimistic; threshold {choice.threshold:g})",
            _table(left.rename(columns=names), index=True),
            right_title,
            right_html,
        )
    )
    if "threshold_samples" in divs:
        parts.append(divs["threshold_samples"])
    if t.walk_forward is not None:
        w = t.walk_forward.windows
        cols = ["window", "test_start", "test_end", "train_trades", "test_trades", "threshold",
                "in_sample_sharpe", "out_of_sample_sharpe", "in_sample_win_rate",
                "out_of_sample_win_rate", "out_of_sample_trades", "baseline_sharpe"]  # fmt: skip
        parts.append("<h3>Walk-forward windows</h3>" + _table(w, columns=cols, scroll=True))
    sweep_cols = ["threshold", "score_cutoff", "trades", "coverage", "win_rate", "win_low",
                  "win_high", "mean_return", "mean_return_low", "mean_return_high", "sharpe",
                  "sharpe_low", "sharpe_high", "profit_factor", "total_return"]  # fmt: skip
    parts.append("<h3>Sweep table</h3>" + _table(t.sweep.table, columns=sweep_cols, scroll=True))
    return "".join(parts)


def render_html(analysis: RunAnalysis, *, title: str | None = None) -> str:
    """The report page of ``analysis`` as one self-contained HTML string.

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
    figs = report_figures(a)
    divs = {k: _figure_div(f, k) for k, f in figs.items()}
    name = title or r.name or r.id
    if r.synthetic:
        banner = (
            '<div class="banner synthetic" id="synthetic-banner">SYNTHETIC DATA — this run '
            "used a simulated market, not real prices. Its numbers say nothing about real "
            "trading.</div>"
        )
    else:
        banner = (
            f'<div class="banner real">Data: {_esc(r.source or "unknown source")} '
            f"({_esc(r.kind)})</div>"
        )
    c = a.confidence
    notes = "".join(f"<li>{_esc(n)}</li>" for n in a.notes)
    calibrator_table = ""
    if a.calibrators:
        calibrator_table = "<h3>Calibrators, out of sample</h3>" + _table(a.calibrator_table())
    config = json.dumps(json_safe(r.config), indent=2, sort_keys=True)
    sections = [
        f"<h1>Signal Lab report — {_esc(name)}</h1>",
        f'<p class="meta">Run {_esc(r.id)} · {_esc(r.kind)} · created {_esc(r.created)} · '
        f"key {_esc(a.key)} · {c.n_scored:,} scored trades</p>",
        banner,
        "<h2>Run</h2>",
        _run_section(a),
        "<h2>Headline numbers (run report)</h2>",
        _run_report_section(a),
        "<h2>Is the confidence informative?</h2>",
        "<h3>Distribution</h3>",
        _table(pd.DataFrame([c.summary.to_dict()])),
        "<h3>Correlations (Fisher-z intervals)</h3>",
        _table(c.correlations.to_frame()),
        divs["confidence_over_time"],
        divs["deciles"],
        "<h3>Decile table</h3>",
        _table(c.deciles.table, scroll=True),
        "<h3>Fixed bins</h3>",
        _table(c.fixed_bins.table, scroll=True),
        "<h2>Is it calibrated?</h2>",
        _table(pd.DataFrame([c.calibration.to_dict()])),
        divs["reliability"],
        divs.get("calibrators", ""),
        calibrator_table,
        "<h3>In sample against out of sample</h3>" if "calibration_samples" in divs else "",
        _calibration_samples(a),
        divs.get("calibration_samples", ""),
        "<h2>Which threshold should I trade at?</h2>",
        _threshold_section(a, divs),
        "<h2>Equity</h2>",
        (
            '<p class="note">Rebuilt from the stored trades: the running sum of each '
            "trade's return in percent of one position, at its exit.</p>"
            if a.equity_kind == "summed_pct"
            else ""
        ),
        divs.get("equity", '<p class="note">No equity.</p>'),
        "<h2>Configuration</h2>",
        _kv_table(
            [
                ("Data fingerprint", r.data_fingerprint or "—"),
                ("Config hash", r.config_hash or "—"),
                ("Seed", r.seed if r.seed is not None else "—"),
            ]
        ),
        f'<pre id="config">{_esc(config)}</pre>',
        "<h2>Notes</h2>",
        f'<ul class="notes">{notes}</ul>' if notes else '<p class="note">None.</p>',
        f"<footer>Signal Lab {_esc(__version__)} · generated "
        f"{_esc(pd.Timestamp.now(tz='UTC').strftime('%Y-%m-%d %H:%M UTC'))} · "
        f"{len(figs)} charts · opens offline (plotly.js embedded)</footer>",
    ]
    plotly_js = plotly.offline.get_plotlyjs()
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(name)} — Signal Lab report</title>"
        f"<style>{_CSS}</style>"
        f'<script type="text/javascript">{plotly_js}</script>'
        f'</head><body><main data-charts="{len(figs)}">'
        + "\n".join(sections)
        + "</main></body></html>\n"
    )


def write_html_report(analysis: RunAnalysis, out: str | Path) -> Path:
    """Render the report of ``analysis`` and write it to ``out`` atomically."""
    return atomic_write(out, render_html(analysis))


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
        Target; default in ``<data_dir>/../reports/``: ``<run_id>.html``,
        ``<run_id>-analysis.json`` (beside the backtest's own
        ``<run_id>.json``) or ``<run_id>-tables.zip``.
    key : str, optional
        Confidence key (default the run's own).
    equity : DataFrame, optional
        Daily equity per book (e.g. ``BacktestResult.equity``); default the
        summed trade returns.
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
    if format == "html":
        return write_html_report(analysis, target)
    if format == "json":
        return write_tables_json(analysis.to_dict(), target)
    return write_tables_csv(analysis.tables(), target)
