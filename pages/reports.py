"""Reports: download a run's HTML report, JSON report and CSV tables."""

import streamlit as st

from core import dashboard as dash
from pages import _shared as ui

ui.frame()

st.title("Reports")
run = ui.require_run()
st.caption(dash.md_text(dash.run_label(run)))
st.markdown(
    "Each report is built from the run's events when you click: the confidence statistics, the "
    "calibration and its calibrators, the threshold sweep with its in-sample choice and "
    "out-of-sample judgement, PSR, DSR and PBO, and the run's config and data fingerprint."
)
key = st.session_state.get(ui.KEY, "confidence")
store = ui.store()

cols = st.columns(len(dash.REPORT_FILES))
for col, (fmt, (label, suffix, mime)) in zip(cols, dash.REPORT_FILES.items(), strict=True):
    with col:
        st.markdown(f"**{label}**")
        st.caption(
            {
                "html": "One self-contained page with every chart (works offline).",
                "json": "Every result and table, machine-readable.",
                "csv": "One CSV per table, in a zip.",
            }[fmt]
        )
        st.download_button(
            f"Download {label.split(' (')[0]}",
            data=lambda fmt=fmt: dash.report_bytes(store, run.id, fmt, key=key),
            file_name=f"{run.id}{suffix}",
            mime=mime,
            icon=":material/download:",
            type="primary" if fmt == "html" else "secondary",
            key=f"report_{fmt}",
        )
st.caption(
    f"Confidence key: {dash.KEY_LABELS.get(key, key).lower()} (change it in the sidebar). "
    "Building a report of a large run takes a few seconds."
)
