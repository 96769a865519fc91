"""Overview: the runs in the store, the selected run's headline figures, health, alerts."""

import streamlit as st

from core import dashboard as dash
from pages import _shared as ui

ui.frame()

st.title("Overview")
st.caption("Is your signal's confidence worth trading? Start here.")

store = ui.store()
with ui.shown_errors():
    runs = dash.run_table(store)
if runs.empty:
    ui.empty_store()
    st.stop()

run = ui.selected_run()
if run is None:
    st.warning(
        "No run has finished yet (see the table below): run a backtest or import a log.",
        icon=":material/warning:",
    )
else:
    st.subheader(dash.md_text(dash.run_label(run)))
    ui.mapping_caption(
        run,
        scope="It drives the Calibration, Thresholds, Drift and Reports pages; the figures "
        "below are the run's own (at the threshold it was run with).",
    )
    with ui.shown_errors():
        decision = dash.current_decision(store, run.signal)
        if decision is None:
            st.info(
                f"No threshold is kept for signal {dash.md_text(run.signal)} yet: choose one on "
                "the **Thresholds** page and press **Keep threshold**.",
                icon=":material/flag:",
            )
        else:
            unit = "score" if decision.mode == "absolute" else "% of trades kept"
            dsr = "—" if decision.dsr is None else f"{decision.dsr:.1%}"
            pbo = "—" if decision.pbo is None else f"{decision.pbo:.0%}"
            st.success(
                f"**Kept threshold for signal {dash.md_text(run.signal)}: {decision.threshold:g}** "
                f"({unit}, on {dash.md_text(decision.key)}) · DSR {dsr} · PBO {pbo} · "
                f"{decision.ledger_count} trials counted · "
                f"{decision.recorded_at:%Y-%m-%d %H:%M} UTC — {dash.md_text(decision.reason)}",
                icon=":material/flag:",
            )
    with ui.shown_errors():
        overview = ui.cached_overview(ui.data_dir(), run.id, run.n_events)
        period = (
            f"{overview.start:%Y-%m-%d} → {overview.end:%Y-%m-%d}"
            if overview.start
            else "no trades"
        )
        threshold = (
            f"threshold {overview.threshold:.2f} on {dash.KEY_LABELS.get(overview.key, overview.key).lower()}"
            if overview.threshold is not None
            else "no threshold recorded"
        )
        st.caption(
            f"{overview.n_trades:,} trades · {period} · {len(overview.symbols)} symbol(s) · "
            f"{threshold} · "
            + (
                "figures recorded by the backtest"
                if overview.recorded
                else "figures computed from the trades"
            )
        )
        ui.headline(overview.metrics)
        ui.show_metrics(overview.metrics)

st.subheader("Runs")
st.dataframe(
    runs,
    hide_index=True,
    width="stretch",
    column_config={
        "run": st.column_config.TextColumn("Run", width="large"),
        "created": st.column_config.DatetimeColumn("Created (UTC)", format="YYYY-MM-DD HH:mm"),
        "signals": st.column_config.NumberColumn("Signals", format="%d"),
        "outcomes": st.column_config.NumberColumn("Outcomes", format="%d"),
        "events": st.column_config.NumberColumn("Events", format="%d"),
        "seed": st.column_config.NumberColumn("Seed", format="%d"),
        "synthetic": st.column_config.CheckboxColumn("Synthetic"),
        "id": st.column_config.TextColumn("Run id"),
    },
)

left, right = st.columns(2)
with left:
    st.subheader("Store health")
    with ui.shown_errors():
        health = ui.engine().health_check()
        stats = ui.engine().get_stats()
        icon = {"healthy": ":material/check_circle:", "degraded": ":material/warning:"}.get(
            health.status, ":material/error:"
        )
        st.markdown(f"{icon} **{health.status.capitalize()}**")
        for reason in health.reasons:
            st.markdown(f"- {dash.md_text(reason)}")
        st.caption(
            f"{stats.persisted:,} events in {stats.runs} run(s) · "
            f"{stats.db_size_bytes / 1e6:,.1f} MB · `{stats.db_path}`"
        )
with right:
    st.subheader("Latest alerts")
    with ui.shown_errors():
        alerts = dash.alerts_table(ui.engine(), limit=5)
        if alerts.empty:
            st.caption("No drift alerts. Set a baseline on the Drift page to start monitoring.")
        else:
            st.dataframe(alerts, hide_index=True, width="stretch")
            st.page_link(
                "pages/drift.py",
                label="Review alerts on the Drift page",
                icon=":material/monitor_heart:",
            )
