"""The slider panel: its plotly.js asset (copied once, atomically, or refused cleanly) and
what it sends (the charts whole on a page's full run or when the browser asks, else light).
"""

from __future__ import annotations

import json
from pathlib import Path

import plotly
import pytest
from streamlit.testing.v1 import AppTest

from pages import _live_panel


@pytest.fixture
def static(monkeypatch, tmp_path):
    folder = tmp_path / "static"
    monkeypatch.setattr(_live_panel, "STATIC", folder)
    _live_panel.plotly_asset.cache_clear()
    yield folder
    _live_panel.plotly_asset.cache_clear()


def _package_copy() -> bytes:
    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()


def test_the_asset_is_the_plotly_packages_own_copy(static):
    assert _live_panel.plotly_asset()
    written = static / "plotly.min.js"
    assert written.read_bytes() == _package_copy()
    assert written.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in static.iterdir()] == ["plotly.min.js"]  # no temporary file left


def test_a_stale_or_linked_asset_is_replaced(static, tmp_path):
    static.mkdir()
    elsewhere = tmp_path / "elsewhere.js"
    elsewhere.write_text("not plotly")
    (static / "plotly.min.js").symlink_to(elsewhere)
    assert _live_panel.plotly_asset()
    target = static / "plotly.min.js"
    assert not target.is_symlink() and target.read_bytes() == _package_copy()
    assert elsewhere.read_text() == "not plotly"  # the link was replaced, not written through


def test_an_unwritable_place_falls_back(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(_live_panel, "STATIC", blocker / "static")  # cannot be a folder
    _live_panel.plotly_asset.cache_clear()
    try:
        assert _live_panel.plotly_asset() is False
    finally:
        _live_panel.plotly_asset.cache_clear()


_PANEL_SCRIPT = """
import streamlit as st

from pages._live_panel import PanelContent, _forget_sent, live_panel, new_page_run

if st.session_state.get("full_run", True):
    new_page_run("p")
if st.session_state.pop("browser_asks", False):
    _forget_sent("p")  # what the panel's on_missing_change callback does
built = st.session_state.setdefault("equity_built", [])
live_panel(
    PanelContent(
        cards=[("Trades", "12", None)], line="twelve trades.", books=["All"], rows=[["Trades", "12"]],
        sweep_json='{"data": [], "layout": {"title": {"text": "sweep"}}}',
        equity_json=lambda: built.append(1) or '{"data": [], "layout": {}}',
        equity_kept={"trace": 1, "y": {"dtype": "f8", "bdata": "AAAAAAAA8D8="}, "name": "Kept",
                     "hovertemplate": "%{y}"},
        sweep_marked=lambda: None, marker_css="", version="absolute:0.5",
    ),
    key="p",
)
"""


def _sent(at: AppTest) -> dict:
    (panel,) = [
        c for c in at.get("bidi_component") if c.proto.component_name == "signal_lab_live_panel"
    ]
    return json.loads(panel.proto.json)


def test_the_charts_go_whole_on_a_full_run_and_light_on_a_fragment_run():
    at = AppTest.from_string(_PANEL_SCRIPT, default_timeout=30)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    first = _sent(at)
    assert "sweep" in first and json.loads(first["equity"]) == {"data": [], "layout": {}}
    assert at.session_state["equity_built"] == [1]
    # A rerun that is not a page's full run (the slider's fragment): the kept curve only,
    # and the whole equity figure is not even built.
    at.session_state["full_run"] = False
    at.run()
    light = _sent(at)
    assert "sweep" not in light and "equity" not in light
    assert light["kept"]["trace"] == 1 and light["cards"][0]["value"] == "12"
    assert at.session_state["equity_built"] == [1]
    # The browser has no chart to update and asks: the next run sends them whole.
    at.session_state["browser_asks"] = True
    at.run()
    assert "sweep" in _sent(at) and "equity" in _sent(at)
    at.run()
    assert "sweep" not in _sent(at)  # and light again after that
    at.session_state["full_run"] = True
    at.run()
    assert "sweep" in _sent(at) and at.session_state["equity_built"] == [1, 1, 1]
