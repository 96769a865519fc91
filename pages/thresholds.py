"""Thresholds: which threshold to trade at, chosen in sample and judged out of sample.

The slider, the metrics and charts it drives, and the button that applies it live
in one ``st.fragment``: a move reruns that part only (a whole-page rerun took about
a second in the browser). Its charts are drawn once per analysis and book
(:func:`sweep_spec`, :func:`equity_spec`) and only marked or refilled on a move.
"""

import math

import streamlit as st

from core import dashboard as dash
from core.dashboard import slider as slider_figures
from core.dashboard import thresholds as threshold_figures
from core.store.db import RunInfo
from pages import _shared as ui

_TTL = 3600  # seconds a cached figure lives, as the analyses in pages/_shared.py


@st.cache_data(max_entries=16, ttl=_TTL, show_spinner=False)
def sweep_spec(
    data_dir: str,
    run_id: str,
    n_events: int,
    key: str,
    mode: str,
    objective: str,
    min_trades: int,
    cost_bps: float,
    metric: str,
) -> dict:
    """The sweep chart of one analysis and metric, without the slider's marker."""
    view = ui.cached_thresholds(
        data_dir, run_id, n_events, key, mode, objective, min_trades, cost_bps
    )
    return threshold_figures.sweep_figure_spec(view, metric=metric)


@st.cache_data(max_entries=8, ttl=_TTL, show_spinner=False)
def equity_spec(
    data_dir: str, run_id: str, n_events: int, key: str
) -> slider_figures.EquityTemplate:
    """The equity chart of a run's book, ready for the kept trades of any threshold."""
    book = ui.cached_book(data_dir, run_id, n_events, key)
    return slider_figures.equity_template(dash.filtered_book(book, threshold=0.0))


@st.fragment
def live_threshold(
    run: RunInfo,
    key: str,
    mode: str,
    options: tuple[str, int, float],
    view: dash.ThresholdView,
    book: dash.BookArrays,
) -> None:
    """The slider and what it drives; reruns alone when one of its widgets changes."""
    objective, min_trades, cost_bps = options
    choice = view.analysis.choice
    if mode == "absolute":
        threshold = st.slider(
            "Threshold",
            0.0,
            1.0,
            float(round(choice.threshold, 2)),
            step=0.01,
            key="thr_slider_absolute",
            help="Keep the trades whose score is at least this.",
        )
    else:
        threshold = float(
            st.slider(
                "Threshold",
                1,
                100,
                round(choice.threshold),
                step=1,
                key="thr_slider_percentile",
                help="Keep this percentage of trades, the highest scores first.",
            )
        )

    with ui.shown_errors():
        filtered = dash.filtered_book(book, threshold=threshold, mode=mode)
        if math.isnan(filtered.score_cutoff):
            st.markdown("**At this threshold:** no trade is kept.")
        else:
            st.markdown(
                f"**At this threshold:** the trades kept (lowest score {filtered.score_cutoff:.3f}) "
                "against every trade of the run."
            )
        ui.headline(filtered.metrics)
        left, right = st.columns(2)
        with left:
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
            spec = sweep_spec(
                ui.data_dir(), run.id, run.n_events, key, mode, objective, min_trades, cost_bps,
                metric,
            )  # fmt: skip
            st.plotly_chart(
                threshold_figures.light_sweep_figure(spec, current=threshold), key="sweep_chart"
            )
        with right:
            template = equity_spec(ui.data_dir(), run.id, run.n_events, key)
            st.plotly_chart(
                slider_figures.light_equity_figure(template, filtered), key="equity_chart"
            )
        ui.show_metrics(filtered.metrics)

    st.subheader("Apply the threshold")
    if run.kind != "backtest":
        st.caption(
            "This run is an imported signal log: there is no market to re-run it on. The figures above "
            "are what this threshold gives on the imported trades."
        )
    elif mode != "absolute":
        st.caption("Switch to a score threshold to re-run the backtest with it.")
    else:
        st.caption(
            f"Re-run this backtest with threshold {threshold:.2f}; the new run is selected when it finishes."
        )
        if st.button(f"Apply threshold {threshold:.2f} and rerun", type="primary", key="thr_apply"):
            with ui.shown_errors("Cannot re-run: "):
                config = dash.rerun_config(run, threshold=float(threshold), confidence_key=key)
                if ui.run_backtest_now(config) is not None:
                    st.rerun()


ui.frame()

st.title("Thresholds")
run = ui.require_run()
st.caption(dash.md_text(dash.run_label(run)))
key = ui.key_for(run)

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
    view = ui.cached_thresholds(
        ui.data_dir(), run.id, run.n_events, key, mode, objective, min_trades, cost_bps
    )
    book = ui.cached_book(ui.data_dir(), run.id, run.n_events, key)
if view is None:
    st.stop()
analysis = view.analysis
choice = analysis.choice

live_threshold(run, key, mode, (objective, min_trades, cost_bps), view, book)


st.subheader("Chosen in sample, judged out of sample")
unit = "" if mode == "absolute" else " % of trades"
st.markdown(
    f"Maximising **{dash.OBJECTIVE_LABELS[objective].lower()}** over {choice.n_trials} thresholds "
    f"({choice.n_eligible} keep at least {min_trades} trades) picks **{choice.threshold:g}{unit}** "
    f"on the whole run: {choice.trades:,} trades, win rate {choice.win_rate:.1%}, Sharpe / trade "
    f"{choice.sharpe:.3f}. Those figures are optimistic: the threshold was chosen on the same trades."
)
comparison = view.comparison()
st.dataframe(
    comparison,
    width="stretch",
    column_config={
        "trades": st.column_config.NumberColumn("Trades", format="%d"),
        "win_rate": st.column_config.NumberColumn("Win rate", format="percent"),
        "mean_return": st.column_config.NumberColumn("Mean return (%)", format="%.3f"),
        "sharpe": st.column_config.NumberColumn("Sharpe / trade", format="%.3f"),
        "profit_factor": st.column_config.NumberColumn("Profit factor", format="%.2f"),
        "total_return": st.column_config.NumberColumn("Summed return (%)", format="%.1f"),
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
if dsr is not None:
    st.caption(
        f"Observed Sharpe / trade {dsr.sr:.3f} against {dsr.sr_star:.3f} expected from the best of "
        f"{dsr.n_trials} trials by luck: "
        + ("significant at 5 %." if dsr.significant else "not significant at 5 %.")
    )
for note in analysis.notes:
    st.caption(f"Note: {note}")
