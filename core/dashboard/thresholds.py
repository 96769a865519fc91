"""The Thresholds page's analysis: sweep, choice, walk-forward judgement, and its chart.

The sweep chart depends on the analysis and the metric shown, not on the slider:
:func:`sweep_figure_spec` draws it once (through :func:`core.figures.sweep_chart`)
as a plain dict, and :func:`light_sweep_figure` adds the slider's marker on each
move without plotly's validation (which took 60-120 ms a move; this takes about
2 ms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core import figures
from core.analytics.guarantee import GuaranteeResult, guaranteed_threshold
from core.analytics.report import ThresholdAnalysis, analyze_thresholds
from core.analytics.selection import OBJECTIVES
from core.analytics.stability import ThresholdStability, threshold_stability
from core.analytics.sweep import default_thresholds
from core.dashboard._common import Mode
from core.dashboard.labels import SWEEP_METRICS
from core.errors import InsufficientDataError
from core.figures.thresholds import SAMPLE_LABELS
from core.lifecycle.ledger import (
    ThresholdDecision,
    TrialLedger,
    current_decision,
    record_threshold_choice,
)
from core.reports.verdict import dsr_summary, dsr_text
from core.store import Store
from core.store.db import RunInfo

__all__ = [
    "OBJECTIVES",
    "LedgerView",
    "ThresholdDecision",
    "ThresholdView",
    "current_decision",
    "guarantee_view",
    "keep_threshold",
    "ledger_view",
    "light_sweep_figure",
    "record_comparison_trial",
    "record_sweep_trial",
    "reset_ledger",
    "sweep_figure",
    "sweep_figure_spec",
    "sweep_marker_css",
    "threshold_view",
]

#: The slider's marker on the sweep chart (a dotted orange line, labelled at the top).
_MARKER_LINE = {"color": "#e8590c", "dash": "dot", "width": 2}
#: The sweep chart's margins (px), fixed so that the marker's place is known.
#: The bottom margin holds the axis title and the legend (not expanded by plotly).
_SWEEP_MARGIN = {"l": 80, "r": 80, "t": 60, "b": 180, "autoexpand": False}


@dataclass(frozen=True, eq=False)
class ThresholdView:
    """The Thresholds page's analysis (:class:`~core.analytics.report.ThresholdAnalysis`)."""

    analysis: ThresholdAnalysis
    stability: ThresholdStability | None = None
    stability_note: str | None = None
    ledger_count: int | None = None

    @property
    def recommended(self) -> float:
        """Where the slider starts without a kept decision: the walk-forward recommendation.

        The median of the walk-forward windows' choices (each made on earlier
        trades only); the in-sample choice when there is no walk-forward.
        """
        if self.stability is not None:
            return self.stability.median
        return float(self.analysis.choice.threshold)

    def dsr(self) -> dict[str, Any]:
        """:func:`core.reports.verdict.dsr_summary` of the analysis (N, N_eff, V, method)."""
        return dsr_summary(self.analysis, ledger_count=self.ledger_count)

    def dsr_text(self) -> str:
        """The DSR in one line with N, N_eff, V and the method."""
        return dsr_text(self.dsr())

    def stability_table(self) -> pd.DataFrame:
        """One row per walk-forward window: its threshold (empty without stability)."""
        if self.stability is None:
            return pd.DataFrame(columns=["window", "threshold"])
        return pd.DataFrame(
            {
                "window": range(1, len(self.stability.window_thresholds) + 1),
                "threshold": self.stability.window_thresholds,
            }
        )

    def comparison(self) -> pd.DataFrame:
        """In-sample against out-of-sample figures: one row per sample."""
        frame = self.analysis.sample_comparison().T
        frame.index = [SAMPLE_LABELS.get(i, i) for i in frame.index]
        return frame


def threshold_view(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    mode: Mode = "absolute",
    objective: str = "sharpe",
    min_trades: int = 30,
    cost_bps: float = 0.0,
    n_trials: int | None = None,
) -> ThresholdView:
    """Sweep, in-sample choice, walk-forward judgement, PSR, DSR, PBO and stability.

    :func:`core.analytics.report.analyze_thresholds` with bootstrap bands
    (50 replicates above 200,000 trades, 200 below), and
    :func:`core.analytics.stability.threshold_stability` of its walk-forward.
    ``n_trials`` is the signal's trial ledger count (the DSR counts
    ``max(thresholds tried, n_trials)``).
    """
    n_boot = 200 if len(trades) <= 200_000 else 50
    analysis = analyze_thresholds(
        trades,
        key=key,
        mode=mode,
        objective=objective,  # type: ignore[arg-type]
        min_trades=min_trades,
        cost_bps=cost_bps,
        n_boot=n_boot,
        n_trials=n_trials or None,
    )
    stability, note = None, None
    if analysis.walk_forward is None:
        note = "no walk-forward, so no spread of its choices (see the notes below)"
    else:
        try:
            stability = threshold_stability(trades, analysis.walk_forward, n_boot=n_boot)
        except InsufficientDataError as exc:
            note = str(exc)
    return ThresholdView(analysis, stability, note, n_trials)


# --------------------------------------------------------------------------- the ledger


def _sweep_params(
    *, run_id: str, key: str, mode: str, objective: str, min_trades: int, cost_bps: float
) -> dict[str, Any]:
    return {
        "run": run_id,
        "key": key,
        "mode": mode,
        "objective": objective,
        "min_trades": int(min_trades),
        "cost_bps": float(cost_bps),
        "source": "dashboard",
    }


def record_sweep_trial(
    store: Store,
    run: RunInfo,
    *,
    key: str,
    mode: str,
    objective: str,
    min_trades: int,
    cost_bps: float,
) -> int:
    """Record the sweep of these settings in the signal's ledger once; the ledger's count.

    A sweep with the same (run, key mapping, mode, objective, fewest trades,
    cost) already in the ledger since its last reset is not counted again, so
    a page that redraws (or another session) does not inflate N.

    Returns
    -------
    int
        :meth:`TrialLedger.count` of the run's signal after recording.
    """
    ledger = TrialLedger(store)
    params = _sweep_params(run_id=run.id, key=key, mode=mode, objective=objective,
                           min_trades=min_trades, cost_bps=cost_bps)  # fmt: skip
    seen = any(
        e.payload.get("kind") == "sweep" and e.payload.get("params") == params
        for e in ledger.entries(run.signal)
    )
    if not seen:
        ledger.record(run.signal, run_id=run.id, kind="sweep", params=params,
                      n_trials=len(default_thresholds(mode)))  # type: ignore[arg-type]  # fmt: skip
    return ledger.count(run.signal)


def record_comparison_trial(
    store: Store, run: RunInfo, *, methods: tuple[str, ...], n_windows: int
) -> int:
    """Record a calibrator comparison (one trial per calibrator fitted); the ledger's count."""
    ledger = TrialLedger(store)
    ledger.record(run.signal, run_id=run.id, kind="calibrator_comparison",
                  n_trials=len(methods),
                  params={"methods": list(methods), "windows": int(n_windows),
                          "source": "dashboard"})  # fmt: skip
    return ledger.count(run.signal)


@dataclass(frozen=True, eq=False)
class LedgerView:
    """A signal's trial ledger for the page: the count, the entries, the last reset."""

    signal: str
    count: int
    entries: pd.DataFrame
    reset_reason: str | None
    reset_at: pd.Timestamp | None


def ledger_view(store: Store, signal: str) -> LedgerView:
    """The signal's ledger since its last reset (entries with params as text)."""
    ledger = TrialLedger(store)
    frame = ledger.frame(signal)
    frame = frame.assign(params=[
        ", ".join(f"{k} {v}" for k, v in p.items()) for p in frame["params"]
    ]).drop(columns=["event_id", "signal"])  # fmt: skip
    reset = ledger.last_reset(signal)
    return LedgerView(
        signal=signal,
        count=int(frame["n_trials"].sum()),
        entries=frame,
        reset_reason=None if reset is None else str(reset.payload.get("reason")),
        reset_at=None if reset is None else reset.recorded_at,
    )


def reset_ledger(store: Store, signal: str, *, reason: str) -> None:
    """Start the signal's count again (``reason`` required; see :meth:`TrialLedger.reset`)."""
    TrialLedger(store).reset(signal, reason=reason)


# --------------------------------------------------------------------------- decisions


def keep_threshold(
    store: Store,
    run: RunInfo,
    view: ThresholdView,
    *,
    mapping_label: str,
    mode: str,
    threshold: float,
    in_sample: dict[str, Any],
    reason: str,
) -> ThresholdDecision:
    """Record ``threshold`` as the signal's decision (a ``THRESHOLD_SELECTED`` event).

    ``in_sample`` holds the figures of the kept trades at ``threshold`` on the
    whole run; the out-of-sample figures are the walk-forward result of the
    procedure (each window's threshold chosen on earlier trades), and the DSR,
    PBO and ledger count those shown beside it.
    """
    a = view.analysis
    oos: dict[str, Any] = {}
    if a.walk_forward is not None:
        oos = {k: float(v) for k, v in a.walk_forward.summary.loc["out_of_sample"].items()
               if isinstance(v, int | float)}  # fmt: skip
    if view.stability is not None:
        oos["median_choice"] = view.stability.median_oos
    return record_threshold_choice(
        store,
        signal=run.signal,
        run_id=run.id,
        key=mapping_label,
        mode=mode,
        threshold=float(threshold),
        in_sample=in_sample,
        out_of_sample=oos,
        dsr=None if a.deflated is None else float(a.deflated.dsr),
        pbo=None if a.pbo is None else float(a.pbo.pbo),
        ledger_count=TrialLedger(store).count(run.signal),
        reason=reason,
    )


# --------------------------------------------------------------------------- guarantee


def guarantee_view(
    trades: pd.DataFrame, *, key: str, target_win_rate: float, delta: float = 0.1
) -> GuaranteeResult:
    """:func:`core.analytics.guarantee.guaranteed_threshold` on the first half, checked on the
    second (at most 100 fitting trades per candidate, fewer on a small run)."""
    n = int(trades[key].notna().sum())
    return guaranteed_threshold(
        trades, target_win_rate=target_win_rate, delta=delta, key=key,
        min_trades=max(10, min(100, n // 10)),
    )  # fmt: skip


def sweep_figure(
    view: ThresholdView, *, metric: str = "sharpe", current: float | None = None
) -> go.Figure:
    """:func:`core.figures.sweep_chart` with the slider's threshold marked."""
    a = view.analysis
    fig = figures.sweep_chart(
        a.sweep,
        metric=metric,
        choice=a.choice,
        oos=a.walk_forward,
        title=f"Threshold sweep: {SWEEP_METRICS.get(metric, metric)}",
    )
    # A fixed plot area (x range, margins, no automargin): the slider's marker can be
    # placed over the chart without redrawing it (sweep_marker_css).
    thresholds = np.asarray(a.sweep.table["threshold"], dtype=np.float64)
    thresholds = thresholds[np.isfinite(thresholds)]
    lo, hi = (float(thresholds.min()), float(thresholds.max())) if thresholds.size else (0.0, 1.0)
    pad = (hi - lo) * 0.02 or 0.01
    fig.update_layout(margin=dict(_SWEEP_MARGIN))
    fig.update_xaxes(range=[lo - pad, hi + pad], autorange=False, automargin=False)
    fig.update_yaxes(automargin=False)
    if current is not None and math.isfinite(current):
        fig.add_vline(
            x=current,
            line=_MARKER_LINE,
            annotation_text=f"slider {current:g}",
            annotation_position="top left",
        )
    return fig


def sweep_figure_spec(view: ThresholdView, *, metric: str = "sharpe") -> dict[str, Any]:
    """:func:`sweep_figure` without a marker, as plotly JSON types (``data``, ``layout``).

    Draw it once per (analysis, metric); :func:`light_sweep_figure` marks the
    slider on it. The returned dict is meant to be cached and never mutated.
    """
    spec = sweep_figure(view, metric=metric).to_plotly_json()
    return {"data": spec["data"], "layout": spec["layout"]}


def sweep_marker_css(spec: dict[str, Any], current: float | None, *, selector: str) -> str:
    """CSS that draws the slider's marker over the sweep chart in the box ``selector``.

    ``selector`` is a CSS selector of the element that holds the chart and only it
    (the chart fills its width and the height of its layout).

    The marker :func:`light_sweep_figure` would add (a dotted orange line and
    "slider <value>" at the top), drawn by the browser over the chart of
    :func:`sweep_figure_spec` (fixed x range and margins) instead of inside it:
    a slider move then restyles two pseudo-elements instead of re-creating the
    plotly chart (about 100-200 ms of the browser's time a move). Empty when
    ``current`` is None or not finite.
    """
    if current is None or not math.isfinite(current):
        return ""
    layout = spec["layout"]
    lo, hi = layout["xaxis"]["range"]
    d0, d1 = layout["xaxis"].get("domain", (0.0, 1.0))
    margin = layout.get("margin", _SWEEP_MARGIN)
    height = float(layout.get("height", 500))
    frac = min(max((float(current) - lo) / (hi - lo), 0.0), 1.0)
    left, right = float(margin["l"]), float(margin["r"])
    top, bottom = float(margin["t"]), float(margin["b"])
    x = f"calc({left:g}px + (100% - {left + right:g}px) * {d0 + frac * (d1 - d0):.6f})"
    sel = selector
    colour = _MARKER_LINE["color"]
    return (
        f"{sel}{{position:relative}}"
        f"{sel}::after{{content:'';position:absolute;left:{x};top:{top:g}px;"
        f"height:{height - top - bottom:g}px;border-left:{_MARKER_LINE['width']}px dotted {colour};"
        "pointer-events:none;z-index:1}"
        f"{sel}::before{{content:'slider {float(current):g}';position:absolute;left:{x};"
        f"top:{top:g}px;transform:translateX(-100%);padding-right:4px;font-size:12px;"
        f"color:#2a3f5f;pointer-events:none;z-index:1;white-space:nowrap}}"
    )


def light_sweep_figure(spec: dict[str, Any], *, current: float | None = None) -> go.Figure:
    """The sweep chart of :func:`sweep_figure_spec` with the slider's threshold marked.

    The same figure as ``sweep_figure(view, metric=..., current=current)`` (the
    vertical line and its label on the first x axis), built from plain dicts
    with ``_validate=False``; ``spec`` is not modified.
    """
    layout = dict(spec["layout"])
    if current is not None and math.isfinite(current):
        x = float(current)
        line = {"type": "line", "line": _MARKER_LINE, "x0": x, "x1": x, "xref": "x",
                "y0": 0, "y1": 1, "yref": "y domain"}  # fmt: skip
        note = {"showarrow": False, "text": f"slider {current:g}", "x": x, "xanchor": "right",
                "xref": "x", "y": 1, "yanchor": "top", "yref": "y domain"}  # fmt: skip
        layout["shapes"] = [*layout.get("shapes", ()), line]
        layout["annotations"] = [*layout.get("annotations", ()), note]
    return go.Figure({"data": spec["data"], "layout": layout}, _validate=False)
