"""Signal Lab dashboard: the router and frame (pages live in pages/)."""

import streamlit as st

st.set_page_config(page_title="Signal Lab", page_icon=":material/insights:", layout="wide")
st.title("Signal Lab")
st.write("Is your signal's confidence worth trading? The dashboard pages are on their way.")
