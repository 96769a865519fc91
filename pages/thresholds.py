"""Thresholds: which threshold to trade at, chosen in sample and judged out of sample.

The slider and what it drives (headline figures, the sweep and equity charts, the
metrics table) live in one ``st.fragment``: a move reruns that part only (a
whole-page rerun took about a second in the browser). What it draws is one element,
:func:`pages._live_panel.live_panel`, which the browser updates in place; its charts
are built once per analysis and book (:func:`sweep_chart`, :func:`equity_spec`) and
only marked or refilled on a move. Keeping and applying the threshold sit below the
fragment and read the slider's value from session state.
"""

import math

import streamlit as st

from core import dashboard as dash
from core.dashboard import slider as slider_figures
from core.dashboard import thresholds as threshold_figures
from core.errors import SignalLabError
from core.store.db import RunInfo
from pages import _shared as ui
from pages._live_panel import SWEEP_BOX, PanelContent, figure_json, live_panel, new_page_run

_TTL = 3600  # seconds a cached figure lives, as the analyses in pages/_shared.py


@st.cache_data(max_entries=16, ttl=_TTL, show_spinner=False)
def sweep_chart(
    data_dir: str,
    run_id: str,
    n_events: int,
    key: str,
    mode: str,
    objective: str,
    min_trades: int,
    cost_bps: float,
    n_trials: int,
    metric: str,
) -> tuple[dict, str]:
    """The sweep chart of one analysis and metric, without the slider's marker: its
    spec (for the marker) and its plotly JSON (sent as it is on every move).

    ``n_trials`` as the page passed it to :func:`pages._shared.cached_thresholds`, so
    that this reads the page's analysis from the cache instead of computing it again.
    """
    view = ui.cached_thresholds(
        data_dir, run_id, n_events, key, mode, objective, min_trades, cost_bps, n_trials
    )
    spec = threshold_figures.sweep_figure_spec(view, metric=metric)
    return spec, figure_json(threshold_figures.light_sweep_figure(spec))


@st.cache_data(max_entries=8, ttl=_TTL, show_spinner=False)
def equity_spec(
    data_dir: str, run_id: str, n_events: int, key: str
) -> slider_figures.EquityTemplate:
    """The equity chart of a run's book, ready for the kept trades of any threshold."""
    book = ui.cached_book(data_dir, run_id, n_events, key)
    return slider_figures.equity_template(dash.filtered_book(book, threshold=0.0))


def slider_default(
    run: RunInfo,
    mapped: dash.MappedTrades,
    mode: str,
    view: dash.ThresholdView,
    decision: dash.ThresholdDecision | None,
) -> tuple[float, str]:
    """Where the slider starts (before this session moved it) and why.

    The signal's kept decision when it was made on this mapping and mode; otherwise the
    walk-forward recommendation (the median of the windows' choices), not the in-sample
    optimum.
    """
    if decision is not None and decision.key == mapped.label and decision.mode == mode:
        return decision.threshold, "the threshold kept for this signal"
    return view.recommended, "the walk-forward recommendation (median of the windows' choices)"


@st.fragment
def live_threshold(
    run: RunInfo,
    key: str,
    mode: str,
    start: float,
    options: tuple[str, int, float, int],
    book: dash.BookArrays,
    metric: str,
) -> None:
    """The slider, its metrics and charts; reruns alone when one of its widgets changes.

    Everything drawn here is drawn again on every move, so it holds only what the
    slider changes: the buttons that keep and apply the threshold sit below it and
    read the value kept in session state (:func:`pages._shared.remember_threshold`),
    which also survives a page switch and a Score <-> Top % switch.
    """
    objective, min_trades, cost_bps, n_trials = options
    widget = f"thr_slider_{mode}"
    owner = (run.id, key, mode)
    if st.session_state.get("thr_slider_owner") != owner or widget not in st.session_state:
        st.session_state[widget] = (
            min(max(round(start, 2), 0.0), 1.0) if mode == "absolute"
            else int(min(max(round(start), 1), 100))
        )  # fmt: skip
        st.session_state["thr_slider_owner"] = owner
    if mode == "absolute":
        threshold = float(
            st.slider(
                "Threshold",
                0.0,
                1.0,
                step=0.01,
                key=widget,
                help="Keep the trades whose score is at least this.",
            )
        )
    else:
        threshold = float(
            st.slider(
                "Threshold",
                1,
                100,
                step=1,
                key=widget,
                help="Keep this percentage of trades, the highest scores first.",
            )
        )
    # The URL follows the slider through the panel (history.replaceState in the
    # browser): st.query_params would cost a routing round and a history entry per move.
    # Full runs put it there the server's way (after this fragment's call).
    ui.remember_threshold(run, key, mode, threshold)

    with ui.shown_errors():
        filtered = dash.filtered_book(book, threshold=threshold, mode=mode)
        spec, sweep_json = sweep_chart(
            ui.data_dir(), run.id, run.n_events, key, mode, objective, min_trades, cost_bps,
            n_trials, metric,
        )  # fmt: skip
        template = equity_spec(ui.data_dir(), run.id, run.n_events, key)
        books, rows = dash.metrics_rows(filtered.metrics)
        line = (
            "no trade is kept."
            if math.isnan(filtered.score_cutoff)
            else f"the trades kept (lowest score {filtered.score_cutoff:.3f}) against every "
            "trade of the run."
        )
        # One element, updated in place in the browser (pages/_live_panel.py): the sweep
        # chart stays as drawn (its marker is CSS), the equity chart's kept curve is restyled
        # (the whole figures are sent on the page's full runs only).
        live_panel(
            PanelContent(
                cards=ui.headline_cards(filtered.metrics),
                line=line,
                books=books,
                rows=rows,
                sweep_json=sweep_json,
                equity_json=lambda: figure_json(
                    slider_figures.light_equity_spec(template, filtered)
                ),
                equity_kept=slider_figures.kept_trace_update(template, filtered),
                sweep_marked=lambda: threshold_figures.light_sweep_figure(spec, current=threshold),
                marker_css=threshold_figures.sweep_marker_css(spec, threshold, selector=SWEEP_BOX),
                version=f"{mode}:{threshold:g}",
                url_params={"mode": mode, "threshold": f"{threshold:g}"},
            ),
            key="thr_live_panel",
        )


def keep_and_apply(
    run: RunInfo,
    key: str,
    mapped: dash.MappedTrades,
    mode: str,
    view: dash.ThresholdView,
    book: dash.BookArrays,
    decision: dash.ThresholdDecision | None,
) -> None:
    """Keep the slider's threshold for the signal, or re-run the backtest at it.

    Outside the slider's fragment (a move does not redraw them): the buttons read the
    slider's value from session state when clicked, which a click's full run has just
    set.
    """
    threshold = ui.remembered_threshold(run, key, mode)
    st.subheader("Keep this threshold")
    if decision is not None:
        st.caption(
            f"Kept for signal {dash.md_text(run.signal)}: **{decision.threshold:g}** "
            f"({'score' if decision.mode == 'absolute' else '% of trades'}) on "
            f"{dash.md_text(decision.key)}, {decision.recorded_at:%Y-%m-%d %H:%M} UTC — "
            f"{dash.md_text(decision.reason)}"
        )
    reason = st.text_input(
        "Why this threshold?",
        key="thr_keep_reason",
        placeholder="e.g. inside the stable region; DSR and PBO accepted",
    )
    if st.button("Keep threshold", key="thr_keep", help="Keep the slider's threshold."):
        with ui.shown_errors("Cannot keep the threshold: "):
            if threshold is None:
                raise SignalLabError("move the slider first: no threshold is shown yet")
            filtered = dash.filtered_book(book, threshold=threshold, mode=mode)
            figures = {k: dash.metric_value(v) for k, v in filtered.metrics["filtered"].items()}
            kept = dash.keep_threshold(
                ui.store(), run, view, mapping_label=mapped.label, mode=mode,
                threshold=threshold, in_sample=figures, reason=reason,
            )  # fmt: skip
            st.success(
                f"Kept threshold **{kept.threshold:g}** for signal {dash.md_text(kept.signal)} "
                f"({dash.md_text(kept.key)}; {kept.ledger_count} trials in the ledger).",
                icon=":material/check:",
            )

    st.subheader("Apply the threshold")
    if run.kind != "backtest":
        st.caption(
            "This run is an imported signal log: there is no market to re-run it on. The figures above "
            "are what this threshold gives on the imported trades."
        )
    elif mode != "absolute":
        st.caption("Switch to a score threshold to re-run the backtest with it.")
    elif mapped.column != "confidence":
        st.caption(
            "A backtest thresholds its own raw confidence: choose raw confidence as the key "
            "to re-run it at a threshold."
        )
    else:
        st.caption(
            "Re-run this backtest with the slider's threshold; the new run is selected when it "
            "finishes."
        )
        if st.button("Apply threshold and rerun", type="primary", key="thr_apply"):
            with ui.shown_errors("Cannot re-run: "):
                if threshold is None:
                    raise SignalLabError("move the slider first: no threshold is shown yet")
                config = dash.rerun_config(
                    run, threshold=float(threshold), confidence_key=mapped.column
                )
                # the rerun is a trial of the signal: run_and_report records it in the ledger
                if ui.run_backtest_now(config) is not None:
                    st.rerun()


ui.frame()

st.title("Thresholds")
run = ui.require_run()
st.caption(dash.md_text(dash.run_label(run)))
mapped = ui.mapping_caption(run)
if mapped is None:
    st.stop()
key = ui.mapping_for(run)  # the mapping's cache key: every cached result depends on it

c1, c2, c3, c4 = st.columns(4)
mode = c1.radio(
    "Threshold on",
    ["absolute", "percentile"],
    key="thr_mode",
    format_func={"absolute": "Score", "percentile": "Top % of trades"}.__getitem__,
    horizontal=True,
)
objective = c2.selectbox(
    "Objective (in-sample choice)",
    dash.OBJECTIVES,
    key="thr_objective",
    format_func=dash.OBJECTIVE_LABELS.__getitem__,
)
min_trades = int(
    c3.number_input("Fewest trades kept", 2, 1_000_000, 30, step=10, key="thr_min_trades")
)
cost_bps = float(
    c4.number_input(
        "Extra cost (bps / round trip)",
        0.0,
        500.0,
        0.0,
        step=1.0,
        key="thr_cost",
        help="Subtracted from every trade on top of the run's own costs.",
    )
)

view = None
with ui.shown_errors():
    # The sweep is a trial of the signal: recorded once per distinct setting, and the
    # DSR below counts every trial in the signal's ledger.
    n_ledger = dash.record_sweep_trial(
        ui.store(), run, key=mapped.label, mode=mode, objective=objective,
        min_trades=min_trades, cost_bps=cost_bps,
    )  # fmt: skip
    view = ui.cached_thresholds(
        ui.data_dir(), run.id, run.n_events, key, mode, objective, min_trades, cost_bps, n_ledger
    )
    book = ui.cached_book(ui.data_dir(), run.id, run.n_events, key)
if view is None:
    st.stop()
analysis = view.analysis
choice = analysis.choice

decision = dash.current_decision(ui.store(), run.signal)
start, why = slider_default(run, mapped, mode, view, decision)
st.caption(f"Started at {start:g}: {why}.")
metric = (
    st.segmented_control(
        "Sweep chart",
        list(dash.SWEEP_METRICS),
        default="sharpe",
        key="thr_metric",
        format_func=dash.SWEEP_METRICS.__getitem__,
    )
    or "sharpe"
)
new_page_run("thr_live_panel")  # this full run sends the panel's charts whole
live_threshold(
    run, key, mode, ui.threshold_start(run, key, mode, start),
    (objective, min_trades, cost_bps, n_ledger), book, metric,
)  # fmt: skip
if (shown := ui.remembered_threshold(run, key, mode)) is not None:
    ui.link_threshold(mode, shown)
keep_and_apply(run, key, mapped, mode, view, book, decision)


st.subheader("Chosen in sample, judged out of sample")
unit = "" if mode == "absolute" else " % of trades"
st.markdown(
    f"Maximising **{dash.OBJECTIVE_LABELS[objective].lower()}** over {len(analysis.sweep.table)} thresholds "
    f"({choice.n_eligible} keep at least {min_trades} trades) picks **{choice.threshold:g}{unit}** "
    f"on the whole run: {choice.trades:,} trades, win rate {choice.win_rate:.1%}, Sharpe / trade "
    f"{choice.sharpe:.3f}. Those figures are optimistic: the threshold was chosen on the same trades."
)
# Static tables (st.table), not grids: a grid is redrawn by the browser on every slider
# move of the fragment above, even though it is outside it.
ui.light_table(
    view.comparison(),
    {
        "trades": ("Trades", "{:,.0f}"),
        "win_rate": ("Win rate", "{:.1%}"),
        "mean_return": ("Mean return (%)", "{:.3f}"),
        "sharpe": ("Sharpe / trade", "{:.3f}"),
        "profit_factor": ("Profit factor", "{:.2f}"),
        "total_return": ("Summed return (%)", "{:.1f}"),
    },
)
if analysis.walk_forward is not None:
    st.caption(
        f"Walk-forward over {analysis.walk_forward.n_windows} windows: each window's threshold is "
        "chosen on the trades before it (purged of trades still open) and applied to it."
    )

st.subheader("Is the choice overfitted?")
g1, g2, g3 = st.columns(3)
g1.metric(
    "PSR (true Sharpe > 0)",
    "—" if analysis.psr is None else f"{analysis.psr:.1%}",
    help="Probabilistic Sharpe ratio of the chosen threshold's trades (Bailey & López de Prado 2012).",
)
dsr = analysis.deflated
g2.metric(
    "Deflated Sharpe ratio",
    "—" if dsr is None else f"{dsr.dsr:.1%}",
    help="PSR against the best Sharpe that many skill-less thresholds would reach by luck "
    "(Bailey & López de Prado 2014). 95 % or more is the usual bar.",
)
g3.metric(
    "PBO",
    "—" if analysis.pbo is None else f"{analysis.pbo.pbo:.1%}",
    help="Probability of backtest overfitting by combinatorially symmetric cross-validation "
    "(Bailey et al. 2017): how often the in-sample best threshold ranks below the median out of sample.",
)
summary = view.dsr()
st.markdown(f"**{dash.md_text(view.dsr_text())}**")
if dsr is not None:
    st.caption(
        f"Observed Sharpe / trade {dsr.sr:.3f} against {dsr.sr_star:.3f} expected from the best of "
        f"N = {dsr.n_trials} trials by luck "
        + (
            f"(the signal's trial ledger: {summary['ledger_count']} trials since its last reset; "
            f"this sweep tried {summary['n_thresholds']} thresholds)"
            if summary["n_source"] == "ledger"
            else f"(the {summary['n_thresholds']} thresholds of this sweep; the ledger holds "
            f"{summary['ledger_count'] or 0})"
        )
        + ". N_eff is the effective number of independent trials, V the variance of their Sharpe "
        "ratios under no skill."
    )
for note in analysis.notes:
    st.caption(f"Note: {note}")

# --- Stability -------------------------------------------------------------------------------
st.subheader("How stable is the choice?")
stab = view.stability
if stab is None:
    st.caption(f"Not available: {dash.md_text(view.stability_note or 'no walk-forward')}.")
else:
    s1, s2, s3, s4 = st.columns(4)
    s1.metric(
        "Windows' choices",
        f"{stab.low:g} – {stab.high:g}",
        help="Range of the threshold each walk-forward window chose on its earlier trades.",
    )
    s2.metric("Median choice", f"{stab.median:g}")
    s3.metric(
        "Median, out of sample",
        "—" if stab.median_oos["trades"] == 0 else f"{stab.median_oos['sharpe']:.3f}",
        help="Sharpe / trade of the median choice on every test trade (pooled).",
    )
    s4.metric("Stable region", f"{stab.stable_low:g} – {stab.stable_high:g}")
    inside = "inside" if stab.median_in_stable_region else "outside"
    st.caption(
        f"Stable region: the thresholds whose out-of-sample "
        f"{dash.OBJECTIVE_LABELS[objective].lower()} (on the {stab.n_oos_trades:,} pooled test "
        f"trades) lies within the {stab.level:.0%} bootstrap band of the best "
        f"({stab.best_threshold:g}: {stab.best_value:.3f}, band {stab.band_low:.3f} – "
        f"{stab.band_high:.3f}). The median choice keeps {stab.median_oos['trades']:,.0f} test "
        f"trades at win rate {stab.median_oos['win_rate']:.1%} and lies {inside} the stable region."
    )
    ui.light_table(
        view.stability_table(),
        {"window": ("Window", "{:d}"), "threshold": ("Threshold chosen", "{:g}")},
        hide_index=True,
    )

# --- A threshold with a guaranteed win rate ------------------------------------------------
st.subheader("A threshold with a guaranteed win rate")
st.caption(
    "Learn then Test on the first half of the trades (Clopper-Pearson bound, corrected for "
    "serially dependent outcomes), checked on the second half."
)
gc1, gc2 = st.columns(2)
target = float(gc1.number_input("Target win rate", 0.01, 0.99, 0.55, step=0.01, key="thr_target"))
delta = float(gc2.number_input("δ (1 − confidence)", 0.01, 0.5, 0.1, step=0.01, key="thr_delta"))
with ui.shown_errors("No guarantee: "):
    g = ui.cached_guarantee(ui.data_dir(), run.id, run.n_events, key, target, delta)
    conf = f"{(1 - g.delta) * 100:g} %"
    if g.threshold is None:
        st.warning(dash.md_text(g.statement), icon=":material/warning:")
    else:
        st.markdown(
            f"**Keep trades above {g.threshold:g}; with {conf} confidence the win rate of kept "
            f"trades is ≥ {g.target_win_rate:.0%}.** Fitted on {g.fit_trades:,} trades (to "
            f"{g.fit_end:%Y-%m-%d}): {g.fit_kept:,} kept, win rate {g.fit_win_rate:.1%}, lower "
            f"bound {g.fit_lower_bound:.1%}."
        )
    check = (
        "no test trade is kept"
        if g.oos_met is None
        else f"{g.oos_kept:,} kept, win rate {g.oos_win_rate:.1%}: "
        + ("target met" if g.oos_met else "target missed")
    )
    st.caption(f"Out-of-sample check on the later {g.test_trades:,} trades: {check}.")

# --- Bet sizing ------------------------------------------------------------------------------
st.subheader("How much to bet?")
st.caption(
    "Sizing rules side by side, every figure out of sample: fixed size, the best fixed "
    "threshold, Kelly and López de Prado's size from a calibrated probability (fitted "
    "walk-forward on earlier trades, from the raw confidence)."
)
with st.form("thr_sizing"):
    z1, z2, z3 = st.columns(3)
    kelly = z1.number_input("Kelly fraction", 0.05, 1.0, 0.5, step=0.05, key="thr_kelly")
    cap = z2.number_input("Size cap", 0.1, 5.0, 1.0, step=0.1, key="thr_cap")
    size_cost = z3.number_input(
        "Cost (bps / round trip)", 0.0, 500.0, 0.0, step=1.0, key="thr_size_cost"
    )
    sized = st.form_submit_button("Size bets", key="thr_size_submit")
if sized:
    st.session_state["thr_sizing_params"] = (float(kelly), float(cap), float(size_cost))
sizing_params = st.session_state.get("thr_sizing_params")
if sizing_params:
    with ui.shown_errors("Cannot size bets: "):
        sizing = ui.cached_sizing(ui.data_dir(), run.id, run.n_events, *sizing_params)
        st.markdown("**Sizing rules, out of sample** (values with their bootstrap bands)")
        st.dataframe(
            sizing.result.table.reset_index(),
            hide_index=True,
            width="stretch",
            key="thr_sizing_table",
        )
        for i, fig in enumerate(sizing.figures):
            st.plotly_chart(fig, key=f"thr_sizing_chart_{i}")
        st.caption(dash.md_text(sizing.note))

# --- The trial ledger ------------------------------------------------------------------------
with st.expander(f"Trial ledger of {dash.md_text(run.signal)}: {view.ledger_count or 0} trials"):
    with ui.shown_errors():
        ledger = dash.ledger_view(ui.store(), run.signal)
        since = (
            f" since the reset of {ledger.reset_at:%Y-%m-%d %H:%M} UTC "
            f"({dash.md_text(ledger.reset_reason or '')})"
            if ledger.reset_at is not None
            else ""
        )
        st.markdown(
            f"**{ledger.count} trials** on signal {dash.md_text(ledger.signal)}{since}. Every "
            "sweep, rerun and calibrator comparison counts; the DSR above deflates by them all."
        )
        st.dataframe(ledger.entries, hide_index=True, width="stretch", key="thr_ledger_table")
    with st.form("thr_ledger_reset"):
        reset_reason = st.text_input(
            "Reason for a reset (required)",
            key="thr_ledger_reason",
            placeholder="e.g. new, unseen data from 2026-01",
        )
        reset = st.form_submit_button("Reset the count", key="thr_ledger_reset_submit")
    if reset:
        with ui.shown_errors("Cannot reset the ledger: "):
            dash.reset_ledger(ui.store(), run.signal, reason=reset_reason)
            st.success("The ledger starts again from zero.", icon=":material/check:")
