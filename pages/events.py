"""Events: browse the raw events, export them, and import your own signal log."""

import datetime as dt
from pathlib import Path

import streamlit as st

from core import dashboard as dash
from core.events import EventType
from pages import _shared as ui

ui.frame()

st.title("Events")
store = ui.store()
if ui.selected_run() is None:
    ui.empty_store()
browse, upload = st.tabs(["Browse events", "Import a signal log"])

# --- Browse --------------------------------------------------------------------------------
with browse:
    runs = dash.run_table(store)
    run_ids = ["(all runs)", *runs["id"].tolist()]
    labels = dict(zip(runs["id"], runs["run"], strict=True))
    selected = st.session_state.get(ui.RUN)
    c1, c2, c3 = st.columns([3, 2, 1])
    run_choice = c1.selectbox(
        "Run",
        run_ids,
        index=run_ids.index(selected) if selected in run_ids else 0,
        format_func=lambda r: labels.get(r, r),
        key="ev_run",
    )
    types = ["(all types)", *[t.value for t in EventType]]
    event_type = c2.selectbox("Type", types, key="ev_type")
    symbol = c3.text_input("Symbol", key="ev_symbol", placeholder="e.g. AAPL").strip().upper()
    c4, c5, c6, c7 = st.columns(4)
    since = c4.date_input("From (UTC)", value=None, key="ev_since")
    until = c5.date_input("To (UTC, inclusive)", value=None, key="ev_until")
    page_size = c6.selectbox("Rows per page", [50, 100, 500, 1000], index=1, key="ev_page_size")
    filters = {
        "run_id": None if run_choice == "(all runs)" else run_choice,
        "event_type": None if event_type == "(all types)" else event_type,
        "symbol": symbol or None,
        "since": since,
        "until": until + dt.timedelta(days=1) if until else None,
    }
    with ui.shown_errors():
        total = store.count_events(**filters)
        n_pages = max((total + page_size - 1) // page_size, 1)
        page = int(c7.number_input(f"Page (of {n_pages:,})", 1, n_pages, 1, key="ev_page"))
        frame, total = dash.events_page(store, **filters, page=page, page_size=page_size)
        st.caption(f"{total:,} matching event(s); page {page:,} of {n_pages:,}.")
        st.dataframe(
            frame,
            hide_index=True,
            width="stretch",
            column_config={
                "ts": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm"),
                "recorded_at": st.column_config.DatetimeColumn(
                    "Recorded (UTC)", format="YYYY-MM-DD HH:mm:ss"
                ),
                "confidence": st.column_config.NumberColumn("Confidence", format="%.3f"),
                "calibrated_probability": st.column_config.NumberColumn(
                    "Calibrated", format="%.3f"
                ),
                "return_pct": st.column_config.NumberColumn("Return (%)", format="%.3f"),
                "market_volatility": st.column_config.NumberColumn("Volatility", format="%.3f"),
                "signal_strength": st.column_config.NumberColumn("Strength", format="%.3f"),
                "applied_threshold": st.column_config.NumberColumn("Threshold", format="%.2f"),
                "payload": st.column_config.TextColumn("Payload (JSON)", width="large"),
            },
        )
        st.download_button(
            f"Download the {total:,} matching events as CSV",
            data=lambda: dash.events_csv(store, **filters),
            file_name="signal_lab_events.csv",
            mime="text/csv",
            icon=":material/download:",
            disabled=total == 0,
            key="ev_download",
        )

# --- Import --------------------------------------------------------------------------------
with upload:
    st.markdown(
        "A CSV or Parquet file with one row per signal: `timestamp`, `symbol`, `confidence` "
        "(a probability in [0, 1]) and `return_pct` (or `entry_price` and `exit_price`); "
        "optional `side`, `holding_days`, `exit_time`, `signal_id` and any numeric feature. "
        "Nothing is written until you press **Import**; a file with bad rows imports nothing "
        "unless you choose to skip them."
    )
    flash = st.session_state.pop("ev_imported", None)
    if flash:
        st.success(flash, icon=":material/check:")
    # A new key after each import empties the uploader (its file was imported).
    uploads = st.session_state.setdefault("ev_uploads", 0)
    uploaded = st.file_uploader("Signal log", type=["csv", "parquet"], key=f"ev_upload_{uploads}")
    skip_bad = st.checkbox(
        "Skip bad rows", key="ev_skip_bad", help="Import the good rows and leave the bad ones out."
    )
    if uploaded is not None:
        with ui.shown_errors():
            preview = ui.upload_preview(uploaded, skip_bad_rows=skip_bad)
            if preview.error:
                st.error(dash.md_text(preview.error), icon=":material/error:")
            if len(preview.row_errors):
                st.markdown(
                    f"**{len(preview.row_errors):,} bad row(s)** (row numbers as a spreadsheet shows them):"
                )
                st.dataframe(
                    preview.row_errors,
                    hide_index=True,
                    width="stretch",
                    column_config={
                        "row": st.column_config.NumberColumn("Row", format="%d"),
                        "reason": "Reason",
                    },
                )
            result = preview.result
            if result is not None:
                st.markdown(
                    f"**Preview:** {result.n_rows:,} row(s) read, **{result.n_imported:,}** to import"
                    + (f", {result.n_skipped:,} skipped" if result.n_skipped else "")
                    + (
                        f"; features kept: {dash.md_text(', '.join(result.features))}"
                        if result.features
                        else ""
                    )
                    + (
                        f"; ignored columns: {dash.md_text(', '.join(result.ignored_columns))}"
                        if result.ignored_columns
                        else ""
                    )
                )
                st.dataframe(result.preview.head(200), hide_index=True, width="stretch")
            if preview.importable:
                name = st.text_input("Run name", value=uploaded.name, key="ev_import_name")
                signal = st.text_input(
                    "Signal",
                    value=Path(uploaded.name).stem,
                    key="ev_import_signal",
                    help="The strategy or model this log belongs to. Baselines, calibrators "
                    "and drift checks are kept per signal: a new name starts a new signal.",
                )
                if st.button(
                    f"Import {result.n_imported:,} signal(s)", type="primary", key="ev_import"
                ):
                    with ui.shown_errors("Import failed, nothing was written: "):
                        done = dash.import_upload(
                            store,
                            preview.path,
                            space=ui.upload_space(),
                            skip_bad_rows=skip_bad,
                            name=name or None,
                            signal=signal,
                        )
                        st.session_state.pop(ui.UPLOAD_PREVIEW, None)
                        st.session_state[ui.PENDING_RUN] = done.run_id
                        st.session_state["ev_uploads"] = uploads + 1
                        st.session_state["ev_imported"] = (
                            f"Imported {done.n_imported:,} signal(s) as run `{done.run_id}`; "
                            "it is now the selected run."
                        )
                        st.rerun()
