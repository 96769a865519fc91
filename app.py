"""Signal Lab dashboard: the router and frame.

Run with ``streamlit run app.py`` (or ``make run``). This script only sets the
page up, draws the shared sidebar (the store, fixed by the server; run picker;
confidence key), offers to create a missing store, and routes to the pages in
``pages/``; each page reads its widgets, calls
``core`` and draws.
"""

import streamlit as st

from core.analytics.sweep import load_kernel_in_background
from pages import _shared as ui

st.set_page_config(
    page_title="Signal Lab",
    page_icon=":material/insights:",
    layout="wide",
    initial_sidebar_state="expanded",
)

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/backtest.py", title="Backtest", icon=":material/play_circle:"),
    st.Page("pages/calibration.py", title="Calibration", icon=":material/tune:"),
    st.Page("pages/thresholds.py", title="Thresholds", icon=":material/filter_alt:"),
    st.Page("pages/drift.py", title="Drift", icon=":material/monitor_heart:"),
    st.Page("pages/models.py", title="Models", icon=":material/inventory_2:"),
    st.Page("pages/events.py", title="Events", icon=":material/list_alt:"),
    st.Page("pages/reports.py", title="Reports", icon=":material/description:"),
]

# numba and the sweep's kernel load while the first page draws (once per server).
load_kernel_in_background()
page = st.navigation(PAGES)
with st.sidebar:
    ui.sidebar()
with ui.framed():
    ui.require_store()
    page.run()
