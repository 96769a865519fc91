"""Calibration: is the confidence informative, is it calibrated, and what would calibrate it?"""

import streamlit as st

from core import dashboard as dash
from pages import _shared as ui

ui.frame()

st.title("Calibration")
run = ui.require_run()
st.caption(dash.md_text(dash.run_label(run)))
mapped = ui.mapping_caption(run)
if mapped is None:
    st.stop()
key = ui.mapping_for(run)  # the mapping's cache key
label = "raw confidence" if mapped.column == "confidence" else "calibrated probability"

with st.sidebar.expander("Calibration settings"):
    n_bins = st.slider(
        "Bins", 5, 20, 10, key="cal_bins", help="Bins of the tables and the diagram."
    )
    strategy = st.radio(
        "Reliability bins",
        ["uniform", "quantile"],
        key="cal_strategy",
        format_func={"uniform": "Equal width", "quantile": "Equal count"}.__getitem__,
        horizontal=True,
    )

view = None
with ui.shown_errors():
    view = ui.cached_calibration(ui.data_dir(), run.id, run.n_events, key, n_bins, strategy)
if view is None:
    st.stop()
a = view.analysis

# --- Is the score informative? ---------------------------------------------------------
st.subheader(f"Is the {label} informative?")
s = a.summary
cols = st.columns(7)
cols[0].metric("Trades scored", f"{s.count:,}")
cols[1].metric("Mean", f"{s.mean:.3f}")
cols[2].metric("Median", f"{s.q50:.3f}")
cols[3].metric("Std", f"{s.std:.3f}")
cols[4].metric("5th pct", f"{s.q05:.3f}")
cols[5].metric("95th pct", f"{s.q95:.3f}")
cols[6].metric("At 0 or 1", f"{s.share_zero + s.share_one:.1%}")

st.markdown("**Correlation with the outcome** (95 % intervals, Fisher's z)")
st.dataframe(
    dash.readable_p_values(a.correlations.to_frame()),
    hide_index=True,
    width="stretch",
    column_order=["target", "method", "estimate", "ci_low", "ci_high", "p_value", "n"],
    column_config={
        "target": st.column_config.TextColumn("Against"),
        "method": st.column_config.TextColumn("Method"),
        "estimate": st.column_config.NumberColumn("Coefficient", format="%.3f"),
        "ci_low": st.column_config.NumberColumn("CI low", format="%.3f"),
        "ci_high": st.column_config.NumberColumn("CI high", format="%.3f"),
        "p_value": st.column_config.TextColumn("p-value"),
        "n": st.column_config.NumberColumn("Trades", format="%d"),
    },
)
st.plotly_chart(view.deciles, key="deciles_chart")
with st.expander("Decile table"):
    st.dataframe(
        dash.bin_table_display(a.deciles),
        hide_index=True,
        width="stretch",
        column_config={
            name: st.column_config.NumberColumn(title, format=fmt)
            for name, (title, fmt) in dash.BIN_TABLE_FORMATS.items()
        },
    )

# --- Is it calibrated? -------------------------------------------------------------------
st.subheader("Is it calibrated?")
m = a.calibration
ece_ci = None
if m.ece_low is not None and m.ece_high is not None:
    ece_ci = f"95 % CI {m.ece_low:.3f} – {m.ece_high:.3f}"
cols = st.columns(5)
cols[0].metric(
    "ECE",
    f"{m.ece:.3f}",
    help="Expected calibration error: |observed win rate − predicted| per bin, weighted by trades.",
)
cols[1].metric(
    "MCE", f"{m.mce:.3f}", help="Maximum calibration error over the bins of ≥ 10 trades."
)
cols[2].metric(
    "Spiegelhalter z",
    dash.fmt_number(m.spiegelhalter_z),
    help="Spiegelhalter's test of calibration (z, two-sided p): is the Brier score what "
    "perfect calibration would give?",
)
cols[3].metric(
    "Brier score",
    f"{m.brier:.3f}",
    help="Mean squared error of the probability; 0.25 is a coin flip.",
)
cols[4].metric("Log loss", f"{m.log_loss:.3f}", help="Mean negative log-likelihood (natural log).")
st.caption(
    f"ECE {m.ece:.3f}, "
    + (f"{ece_ci} (bootstrap)" if ece_ci else "no interval (too few trades to bootstrap)")
    + f"; Spiegelhalter z {dash.fmt_number(m.spiegelhalter_z)}, p "
    f"{dash.format_p_value(m.spiegelhalter_p)}; base win rate {m.base_rate:.1%} over {m.n:,} trades."
)
st.plotly_chart(view.reliability, key="reliability_chart")
st.plotly_chart(view.over_time, key="over_time_chart")

# --- What would calibrate it? --------------------------------------------------------------
st.subheader("What would calibrate it?")
st.caption(
    "Each calibrator maps the raw confidence to a probability. It is fitted walk-forward: on the "
    "trades whose outcome was known before each test window, and scored on that window only. "
    "In-sample figures (fitted and scored on the same trades) are shown beside them for contrast."
)
with st.form("calibrators"):
    methods = st.multiselect(
        "Calibrators", dash.CALIBRATION_METHODS, default=["platt", "isotonic"], key="cal_methods"
    )
    c1, c2 = st.columns(2)
    n_windows = c1.slider("Walk-forward windows", 3, 20, 8, key="cal_windows")
    min_train = c2.number_input(
        "Fewest training trades per fit", 20, 100_000, 200, step=50, key="cal_min_train"
    )
    fitted = st.form_submit_button("Fit walk-forward", type="primary", key="cal_fit_submit")
if fitted:
    st.session_state["cal_fit"] = (tuple(methods), int(n_windows), int(min_train))
    with ui.shown_errors("The comparison was not recorded in the trial ledger: "):
        dash.record_comparison_trial(
            ui.store(), run, methods=tuple(methods), n_windows=int(n_windows)
        )
params = st.session_state.get("cal_fit")
if params:
    with ui.shown_errors():
        comparison = ui.cached_comparison(ui.data_dir(), run.id, run.n_events, *params)
        st.dataframe(
            comparison.table,
            hide_index=True,
            width="stretch",
            column_config={
                "method": "Calibrator",
                "sample": st.column_config.TextColumn(
                    "Scored",
                    help="raw: the uncalibrated score; in_sample: fitted on every trade and "
                    "scored on them; out_of_sample: walk-forward (fitted on earlier trades only).",
                ),
                "n": st.column_config.NumberColumn("Trades", format="%d"),
                "ece": st.column_config.NumberColumn("ECE", format="%.4f"),
                "mce": st.column_config.NumberColumn("MCE", format="%.3f"),
                "brier": st.column_config.NumberColumn("Brier", format="%.4f"),
                "log_loss": st.column_config.NumberColumn("Log loss", format="%.4f"),
            },
        )
        st.plotly_chart(comparison.figure, key="calibrators_chart")
        if comparison.best:
            st.success(
                f"Lowest out-of-sample Brier score: **{comparison.best}**.", icon=":material/star:"
            )
        st.markdown("**Register a calibrator as a model version**")
        names = list(comparison.results)
        with st.form("register"):
            c1, c2 = st.columns(2)
            chosen = c1.selectbox(
                "Calibrator",
                names,
                index=names.index(comparison.best) if comparison.best in names else 0,
                key="cal_register_method",
            )
            name = c2.text_input(
                "Model name", value="confidence-calibrator", key="cal_register_name"
            )
            note = st.text_input("Note (optional)", key="cal_register_note")
            register = st.form_submit_button("Register model version", key="cal_register_submit")
        if register:
            with ui.shown_errors("Could not register the model: "):
                version = dash.register_calibrator(
                    ui.engine(),
                    comparison,
                    method=chosen,
                    name=name,
                    run_id=run.id,
                    note=note or None,
                )
                st.success(
                    f"Registered **{dash.md_text(version.name)}** version {version.version} "
                    f"(stage: {version.stage}). Evaluate and promote it on the Models page.",
                    icon=":material/check:",
                )
                st.page_link(
                    "pages/models.py",
                    label="Open the model registry",
                    icon=":material/inventory_2:",
                )


# --- Calibration by regime and segment ----------------------------------------------------
st.subheader("Is it calibrated in every regime?")
st.caption(
    "Out-of-sample probabilities (Platt, fitted walk-forward on earlier trades) per segment: "
    "reliability, ECE with its interval and win rate. A segment is flagged when its "
    "calibration differs significantly from perfect (likelihood-ratio test of intercept and "
    "slope, Holm-corrected across segments)."
)
options = dash.available_segments(ui.trades(run))
by = st.selectbox(
    "Segment by", list(options), format_func=options.__getitem__, key="cal_segment_by"
)
if by is None:
    st.caption("This run records no attribute to segment by.")
segments = None
with ui.shown_errors():
    segments = None if by is None else ui.cached_segments(ui.data_dir(), run.id, run.n_events, by)
if segments is not None:
    st.plotly_chart(segments.figures[0], key="segments_chart")
    st.dataframe(segments.result.table.reset_index(), hide_index=True, width="stretch")
    flagged = [str(x) for x in segments.result.flagged]
    if flagged:
        st.warning(
            "Calibration differs in: " + ", ".join(dash.md_text(f) for f in flagged),
            icon=":material/warning:",
        )
    else:
        st.caption("No segment is flagged. " + dash.md_text(segments.note))

# --- Signal decay ---------------------------------------------------------------------------
st.subheader("How long does the edge last?")
if run.kind != "backtest":
    st.caption("Signal decay needs the market's prices: it is shown for backtests.")
else:
    with ui.shown_errors():
        decay = ui.cached_decay(ui.data_dir(), run.id, run.n_events)
        st.plotly_chart(decay.figures[0], key="decay_chart")
        st.caption(dash.md_text(decay.note))


# --- The open book --------------------------------------------------------------------------
@st.cache_data(max_entries=8, ttl=3600, show_spinner="Forecasting the open book…")
def _open_book(data_dir: str, run_id: str, n_events: int) -> dash.DecisionView:
    store = ui.get_engine(data_dir).store
    trades = store.trades_frame(run_id)
    return dash.open_book_view(trades, open_signals=store.open_signals(run_id))


st.subheader("What will the open book do?")
st.caption(
    "The expected win rate of the signals whose outcome is not known yet (an imported log's "
    "rows without a return), from a calibrator fitted on the closed trades: the exact "
    "Poisson-binomial distribution of their wins. A run without open signals uses its newest "
    "closed signals instead and checks the forecast against their outcomes."
)
with ui.shown_errors():
    book = _open_book(ui.data_dir(), run.id, run.n_events)
    forecast, check = book.result
    b1, b2, b3 = st.columns(3)
    b1.metric("Open signals", f"{forecast.n:,}")
    b2.metric("Expected win rate", f"{forecast.expected_win_rate:.1%}")
    b3.metric(
        f"{forecast.level:.0%} band", f"{forecast.win_rate_low:.0%} – {forecast.win_rate_high:.0%}"
    )
    st.plotly_chart(book.figures[0], key="open_book_chart")
    if check is not None:
        verdict = "outside the forecast: drift" if check.drift else "within the forecast"
        st.caption(
            f"Realised {check.realised_win_rate:.1%} ({check.realised_wins} wins), "
            f"p = {dash.format_p_value(check.p_value)}: {verdict}."
        )
    st.caption(dash.md_text(book.note))
