"""Reports: download a run's HTML report, JSON report and CSV tables.

Each file is built when a user first asks for it (the download button's data is
a callable, run on the click) and then kept on disk per (store, run, event
count, key) by one :class:`core.dashboard.reports.ReportFiles` for the whole
server: a second click, another session or another format of the same run does
not analyse the run again.
"""

import streamlit as st

from core import dashboard as dash
from core.dashboard.reports import ReportFiles
from pages import _shared as ui


@st.cache_resource(show_spinner=False)
def report_files() -> ReportFiles:
    """The server's report files (a private temporary folder; thread-safe)."""
    return ReportFiles()


ui.frame()

st.title("Reports")
run = ui.require_run()
st.caption(dash.md_text(dash.run_label(run)))
st.markdown(
    "Each report is built from the run's events when you first click: the confidence statistics, "
    "the calibration and its calibrators, the threshold sweep with its in-sample choice and "
    "out-of-sample judgement, PSR, DSR and PBO, and the run's config and data fingerprint. It is "
    "kept until the run changes, so a second download is immediate."
)
mapped = ui.mapping_caption(run, scope="The reports state it.")
if mapped is None:
    st.stop()
key = ui.mapping_for(run)  # the mapping's cache key, also the report's key
store = ui.store()
files = report_files()

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
            data=lambda fmt=fmt: files.read(store, run.id, fmt, key=key, n_events=run.n_events),
            file_name=f"{run.id}{suffix}",
            mime=mime,
            icon=":material/download:",
            type="primary" if fmt == "html" else "secondary",
            key=f"report_{fmt}",
            on_click="ignore",
        )
        if files.ready(store, run.id, fmt, key=key, n_events=run.n_events):
            st.caption("Ready: built for this run already.")
st.caption(
    "The first report of a large run takes a few seconds; the other formats reuse its analysis. "
    "Its verdict deflates the Sharpe ratio by every trial in the signal's ledger."
)
