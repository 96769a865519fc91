"""Drift: is the signal still working? A baseline, windows against it, alerts."""

import pandas as pd
import streamlit as st

from core import dashboard as dash
from core.dashboard.forms import from_form, number_fields
from pages import _shared as ui

ui.frame()

st.title("Drift")
run = ui.require_run()
st.caption(dash.md_text(dash.run_label(run)))
key = ui.key_for(run)
engine = ui.engine()

# --- Detector settings (shared by the baseline, the timeline and the checks) ---------------
# One input per DriftThresholds field, generated from the dataclass (core.dashboard.forms).
with st.sidebar.expander("Detector settings"):
    values = {
        spec.name: st.number_input(key=f"drift_threshold_{spec.name}", **spec.number_input_kwargs())
        for spec in number_fields(dash.DriftThresholds)
    }
thresholds = None
with ui.shown_errors("Detector settings are not valid: "):
    thresholds = from_form(dash.DriftThresholds, values)
if thresholds is None:
    st.stop()
settings = tuple(thresholds.to_dict().items())  # hashable, for the cached timeline

# --- Baseline in force ----------------------------------------------------------------------
# Baselines are kept per signal: a run is only ever compared with its own signal's baseline.
status = dash.baseline_status(engine, run.id)
labels = {r.id: dash.run_label(r) for r in ui.store().list_runs(signal=run.signal)}


def set_baseline_form(label: str) -> None:
    """One click to set this run's first months as the signal's baseline."""
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    months = int(
        c1.number_input(
            "Months", 1, 600, 12, key="drift_months", help="From the run's first trade."
        )
    )
    if c2.button(label, type="primary", key="drift_set"):
        with ui.shown_errors("Could not set the baseline: "):
            record = dash.set_baseline(
                engine,
                run_id=run.id,
                trades=ui.trades(run, key),
                months=months,
                key=key,
                thresholds=thresholds,
            )
            st.toast(f"Baseline #{record.id} set: {record.n:,} trades.", icon=":material/check:")
            st.rerun()


if not status.usable:
    st.warning(
        f"{dash.md_text(status.reason)} This run is never compared with another signal's "
        "baseline: set one from this run's first months.",
        icon=":material/warning:",
    )
    set_baseline_form(f"Set this run's first months as the baseline of {dash.md_text(run.signal)}")
    st.stop()
record = status.record
st.info(
    dash.describe_baseline(status, run_label=labels.get(record.run_id)), icon=":material/anchor:"
)
with st.expander("Replace the baseline"):
    set_baseline_form("Set this run's first months as the new baseline")

# --- Windows over time ------------------------------------------------------------------------
st.subheader("Windows against the baseline")
c1, c2 = st.columns(2)
window_kind = c1.radio("Window by", ["trades", "time"], key="drift_window_kind", horizontal=True)
if window_kind == "trades":
    window = int(
        c2.number_input(
            "Trades per window",
            30,
            1_000_000,
            dash.default_window(run.n_signals),
            step=10,
            key="drift_window_trades",
        )
    )
else:
    window = c2.selectbox(
        "Window length", ["30D", "90D", "180D", "365D"], index=2, key="drift_window_time"
    )

with ui.shown_errors():
    timeline = ui.cached_drift(
        ui.data_dir(), run.id, run.n_events, run.signal, record.id, window, settings
    )
    counts = timeline.frame["severity"].value_counts()
    m1, m2, m3 = st.columns(3)
    m1.metric("Windows", f"{len(timeline.frame):,}")
    last = timeline.frame.iloc[-1]
    st.caption(
        f"{int(timeline.frame['n_trades'].sum()):,} trades in all, the newest included: the "
        f"last window ends {pd.Timestamp(last['window_end']):%Y-%m-%d}"
        + (f" and is partial ({int(last['n_trades']):,} trades)." if bool(last["partial"]) else ".")
        + " Windows inside the baseline period are marked and never alert."
    )
    m2.metric("Warning", f"{int(counts.get('warning', 0)):,}")
    m3.metric("Critical", f"{int(counts.get('critical', 0)):,}")
    st.plotly_chart(dash.drift_figure(timeline), key="drift_chart")
    with st.expander("Windows"):
        st.dataframe(
            dash.drift_table(timeline),
            hide_index=True,
            width="stretch",
            column_config=ui.drift_columns(),
        )

# --- Check one window and record alerts ---------------------------------------------------
st.subheader("Check the current window")
trades = ui.trades(run, key)
if len(trades):
    first = trades["entry_time"].iloc[0].to_pydatetime().date()
    last = trades["entry_time"].iloc[-1].to_pydatetime().date()
    default_start = (
        record.window_end.date()
        if record.window_end is not None and record.run_id == run.id
        else first
    )
    default_start = min(max(default_start, first), last)
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    start = c1.date_input(
        "From (UTC)", value=default_start, min_value=first, max_value=last, key="drift_from"
    )
    end = c2.date_input(
        "To (UTC, inclusive)", value=last, min_value=first, max_value=last, key="drift_to"
    )
    if c3.button("Check and record alerts", key="drift_check"):
        with ui.shown_errors("Could not check drift: "):
            check, findings = dash.check_window(
                engine,
                run_id=run.id,
                trades=trades,
                start=pd.Timestamp(start, tz="UTC"),
                end=pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1),
                thresholds=thresholds,
            )
            st.markdown(
                f"Severity **{check.severity}** · {len(check.new_alert_ids)} new alert(s), "
                f"{len(check.existing_alert_ids)} already recorded for this window."
            )
            st.dataframe(
                findings,
                hide_index=True,
                width="stretch",
                column_config={
                    "baseline_value": st.column_config.NumberColumn("Baseline", format="%.4g"),
                    "current_value": st.column_config.NumberColumn("Current", format="%.4g"),
                    "statistic": st.column_config.NumberColumn("Statistic", format="%.4g"),
                    "p_value": st.column_config.NumberColumn("p-value", format="%.3g"),
                    "message": st.column_config.TextColumn("What it means", width="large"),
                },
            )

# --- Alerts --------------------------------------------------------------------------------
st.subheader("Alerts")
with ui.shown_errors():
    alerts = dash.alerts_table(engine, signal=run.signal)
    if alerts.empty:
        st.caption(f"No alerts recorded for signal {dash.md_text(run.signal)}.")
    else:
        st.dataframe(
            alerts,
            hide_index=True,
            width="stretch",
            column_config={
                "created": st.column_config.DatetimeColumn(
                    "Raised (UTC)", format="YYYY-MM-DD HH:mm"
                ),
                "window_start": st.column_config.DatetimeColumn("From", format="YYYY-MM-DD"),
                "window_end": st.column_config.DatetimeColumn("To", format="YYYY-MM-DD"),
                "message": st.column_config.TextColumn("Message", width="large"),
                "acknowledged": st.column_config.CheckboxColumn("Acknowledged"),
            },
        )
        open_ids = alerts.loc[~alerts["acknowledged"].astype(bool), "id"].tolist()
        if open_ids:
            a1, a2 = st.columns([3, 1], vertical_alignment="bottom")
            alert_id = a1.selectbox("Alert to acknowledge", open_ids, key="drift_ack_id")
            if a2.button("Acknowledge", key="drift_ack"):
                dash.acknowledge_alert(engine, alert_id)
                st.rerun()
