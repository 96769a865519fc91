"""Backtest: run the ensemble on real, uploaded or synthetic prices, on demand."""

import datetime as dt

import streamlit as st

from core import dashboard as dash
from core.backtest import DEFAULT_THRESHOLD, BacktestConfig
from core.data import SAMPLE_SYMBOLS
from core.errors import SignalLabError, ValidationError
from pages import _shared as ui

ui.frame()

st.title("Backtest")
st.caption(
    "Five models vote on every bar; a signal's confidence says how strongly they agree. Every "
    "signal and its outcome is recorded, so the other pages can judge the confidence."
)

SOURCES = {
    "sample": "Sample: real daily prices (AAPL, IBM, MSFT, GOOG, FB; 2000–2013)",
    "extended": "Extended: MSFT 1986–2017, S&P 500 and NASDAQ Composite 1999–2018 (OHLCV)",
    "extended-close-only": "Extended, close-only: 20 S&P 500 stocks 1990–2022 (closes only)",
    "upload": "Upload your own prices (CSV or Parquet)",
    "synthetic": "Synthetic market (seeded; labelled synthetic)",
}
if ui.selected_run() is None:
    ui.empty_store()

source = st.radio("Market data", list(SOURCES), format_func=SOURCES.__getitem__, key="bt_source")
uploaded = None
if source == "upload":
    uploaded = st.file_uploader(
        "Daily bars: one file with date, symbol, open, high, low, close, volume columns",
        type=["csv", "parquet"],
        key="bt_upload",
    )

with st.form("backtest"):
    c1, c2, c3 = st.columns(3)
    symbols: list[str] = []
    n_symbols, n_days = 20, 1260
    if source == "sample":
        symbols = c1.multiselect(
            "Symbols", SAMPLE_SYMBOLS, default=["AAPL", "MSFT"], key="bt_symbols"
        )
    elif source == "synthetic":
        n_symbols = int(c1.number_input("Symbols", 1, 5000, 20, key="bt_n_symbols"))
        n_days = int(c1.number_input("Trading days", 60, 50_000, 1260, step=252, key="bt_n_days"))
    else:
        text = c1.text_input("Symbols (comma-separated, empty for all)", key="bt_symbols_text")
        symbols = [s.strip() for s in text.split(",") if s.strip()]
    use_dates = source != "synthetic"
    start = c2.date_input(
        "From",
        value=dt.date(2004, 1, 1),
        min_value=dt.date(1990, 1, 1),
        key="bt_start",
        disabled=not use_dates,
    )
    end = c3.date_input(
        "To",
        value=dt.date(2012, 12, 31),
        min_value=dt.date(1990, 1, 1),
        key="bt_end",
        disabled=not use_dates,
    )
    st.markdown("**Ensemble and trading**")
    e1, e2, e3, e4 = st.columns(4)
    min_agree = e1.slider("Models that must agree", 1, 5, 3, key="bt_min_agree")
    holding_days = int(e2.number_input("Holding days", 1, 252, 5, key="bt_holding"))
    threshold = e3.slider(
        "Confidence threshold",
        0.0,
        1.0,
        DEFAULT_THRESHOLD,
        step=0.01,
        key="bt_threshold",
        help="The filtered book keeps signals whose score is at least this; the baseline keeps all.",
    )
    confidence_key = e4.selectbox(
        "Threshold on", list(dash.KEY_LABELS), format_func=dash.KEY_LABELS.__getitem__, key="bt_key"
    )
    k1, k2, k3, k4 = st.columns(4)
    commission = k1.number_input(
        "Commission (bps per side)", 0.0, 1000.0, 1.0, step=0.5, key="bt_commission"
    )
    slippage = k2.number_input(
        "Slippage (bps per side)", 0.0, 1000.0, 2.0, step=0.5, key="bt_slippage"
    )
    max_positions = int(
        k3.number_input("Most positions at once", 1, 100_000, 10, key="bt_max_positions")
    )
    seed = int(k4.number_input("Seed", 0, 2**31 - 1, 0, key="bt_seed"))
    name = st.text_input("Run name (optional)", key="bt_name")
    signal = st.text_input(
        "Signal (optional)",
        key="bt_signal",
        help="The strategy the run belongs to; by default named from the ensemble's settings "
        "(e.g. ensemble-agree3-hold5). Baselines and calibrators are kept per signal.",
    )
    submitted = st.form_submit_button(
        "Run backtest", type="primary", icon=":material/play_arrow:", key="bt_submit"
    )

if submitted:
    config = None
    with ui.shown_errors("The settings are not valid: "):
        fields = {
            "source": source,
            "symbols": tuple(symbols) or None,
            "start": start.isoformat() if use_dates and start else None,
            "end": end.isoformat() if use_dates and end else None,
            "n_symbols": n_symbols,
            "n_days": n_days,
            "threshold": float(threshold),
            "confidence_key": confidence_key,
            "holding_days": holding_days,
            "min_agree": int(min_agree),
            "max_positions": max_positions,
            "commission_bps": float(commission),
            "slippage_bps": float(slippage),
            "seed": seed,
            "name": name or None,
            "signal": signal.strip() or None,
        }
        if source == "upload":
            if uploaded is None:
                raise ValidationError("choose a CSV or Parquet file of daily bars to upload first")
            path = ui.upload_space().save(uploaded.name, uploaded.getvalue())
            fields["source"] = "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"
            fields["path"] = str(path)
        config = BacktestConfig(**fields)
    if config is not None and ui.run_backtest_now(config) is not None:
        st.rerun()

last = st.session_state.get(ui.LAST_BACKTEST)
if last:
    try:
        run = ui.store().get_run(last)
    except SignalLabError:
        run = None
    if run is not None:
        st.divider()
        st.subheader(f"Result: {dash.md_text(dash.run_label(run))}")
        ui.mapping_caption(run, applies=False)
        with ui.shown_errors():
            overview = ui.cached_overview(ui.data_dir(), run.id, run.n_events)
            ui.headline(overview.metrics)
            ui.show_metrics(overview.metrics)
            if overview.threshold is not None and overview.n_trades:
                key = (
                    overview.key
                    if overview.key in ("confidence", "calibrated_probability")
                    else "confidence"
                )
                book = ui.cached_book(ui.data_dir(), run.id, run.n_events, key)
                filtered = dash.filtered_book(book, threshold=overview.threshold)
                st.plotly_chart(
                    dash.equity_figure(
                        filtered,
                        title=f"Equity: every signal against threshold {overview.threshold:.2f}",
                    ),
                    key="backtest_equity",
                )
        st.markdown("**Next:**")
        l1, l2, l3, l4 = st.columns(4)
        l1.page_link(
            "pages/calibration.py", label="Is the confidence calibrated?", icon=":material/tune:"
        )
        l2.page_link(
            "pages/thresholds.py", label="Which threshold to trade?", icon=":material/filter_alt:"
        )
        l3.page_link("pages/drift.py", label="Is it drifting?", icon=":material/monitor_heart:")
        l4.page_link("pages/reports.py", label="Download the report", icon=":material/description:")

with st.expander("Past runs"):
    runs = dash.run_table(ui.store())
    failed = runs[runs["status"] == "failed"]
    if not failed.empty:
        st.warning(
            f"{len(failed)} run(s) failed; the reason is in the error column.",
            icon=":material/warning:",
        )
    st.dataframe(
        runs[["run", "status", "signals", "outcomes", "error"]],
        hide_index=True,
        width="stretch",
        column_config={
            "signals": st.column_config.NumberColumn("Signals", format="%d"),
            "outcomes": st.column_config.NumberColumn("Outcomes", format="%d"),
        },
    )
