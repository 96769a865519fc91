"""The Thresholds page's live part (slider, metrics, charts, apply) runs in an ``st.fragment``.

Through Streamlit's AppTest on an imported synthetic log: the slider still moves
the filtered book's metrics (checked against the trades kept, counted by hand),
its computation runs inside a fragment (so a move in the browser reruns only
that part), and the light figures carry the slider's marker and the kept curve.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState
from streamlit.testing.v1 import AppTest

from core import dashboard
from core.dashboard import synthetic_signal_log
from core.importer import import_signal_log
from core.store import Store

# AppTest routes through st.navigation as the server does (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("navigation_like_the_server")

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("fragment")
    log = root / "log.csv"
    frame = synthetic_signal_log(2_000, seed=5)
    frame.to_csv(log, index=False)
    with Store(root / "data") as store:
        run_id = import_signal_log(log, store=store, name="fragment log").run_id
        trades = store.trades_frame(run_id)
    return {"dir": root / "data", "run": run_id, "trades": trades}


def _thresholds_page(monkeypatch, imported) -> AppTest:
    monkeypatch.setenv("SIGNAL_LAB_DATA_DIR", str(imported["dir"]))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.sidebar.selectbox(key="run_id").set_value(imported["run"]).run()
    at.switch_page("pages/thresholds.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _panel(at: AppTest) -> dict:
    """The data the slider's panel (pages/_live_panel.py) was sent in the last run."""
    (panel,) = [
        c for c in at.get("bidi_component") if c.proto.component_name == "signal_lab_live_panel"
    ]
    return json.loads(panel.proto.json)


def _metric(at: AppTest, label: str) -> str:
    return next(card["value"] for card in _panel(at)["cards"] if card["label"] == label)


def test_slider_in_its_fragment_updates_the_filtered_metrics(monkeypatch, imported):
    fragments: list[str | None] = []
    original = dashboard.filtered_book

    def spy(*args, **kwargs):
        fragments.append(ThreadState.get().fragment_id)  # None outside a fragment
        return original(*args, **kwargs)

    monkeypatch.setattr(dashboard, "filtered_book", spy)
    at = _thresholds_page(monkeypatch, imported)
    score = imported["trades"]["confidence"].to_numpy()
    returns = imported["trades"]["return_pct"].to_numpy()
    seen = {}
    for threshold in (0.3, 0.7):
        at.slider(key="thr_slider_absolute").set_value(threshold).run()
        assert not at.exception and not at.error
        kept = score >= threshold
        assert _metric(at, "Trades") == f"{int(kept.sum()):,}"
        assert _metric(at, "Win rate") == f"{(returns[kept] > 0).mean():.1%}"
        seen[threshold] = _metric(at, "Trades")
    assert seen[0.3] != seen[0.7]
    # Every call of the slider's computation ran inside a fragment.
    assert fragments and all(f for f in fragments)


def _marker_css(at: AppTest) -> list[str]:
    """The CSS of the slider's marker over the sweep chart."""
    return [_panel(at)["marker_css"]]


def _figure(at: AppTest, chart: str) -> dict:
    """The plotly JSON of the panel's ``sweep`` or ``equity`` chart."""
    return json.loads(_panel(at)[chart])


def test_the_first_load_computes_the_analysis_once(monkeypatch, imported):
    """The sweep chart reads the page's analysis from the cache (it computed a second one)."""
    import streamlit as st

    calls = []
    original = dashboard.threshold_view

    def spy(*args, **kwargs):
        calls.append(kwargs.get("n_trials"))
        return original(*args, **kwargs)

    st.cache_data.clear()
    monkeypatch.setattr(dashboard, "threshold_view", spy)
    at = _thresholds_page(monkeypatch, imported)
    assert not at.error, [e.value for e in at.error]
    assert len(calls) == 1, calls
    at.slider(key="thr_slider_absolute").set_value(0.4).run()
    assert len(calls) == 1, calls  # a move computes no analysis


def test_light_charts_mark_the_slider_and_redraw_the_kept_curve(monkeypatch, imported):
    at = _thresholds_page(monkeypatch, imported)
    at.slider(key="thr_slider_absolute").set_value(0.65).run()
    # Both charts are in the panel (updated in place), none is an st.plotly_chart.
    assert not at.get("plotly_chart")
    sweep = _figure(at, "sweep")
    assert "sweep" in sweep["layout"]["title"]["text"].lower()
    # The sweep chart does not change with the slider (the browser keeps it as it is);
    # the marker is drawn over it at 0.65 of its fixed x range.
    lo, hi = sweep["layout"]["xaxis"]["range"]
    d0, d1 = sweep["layout"]["xaxis"].get("domain", (0.0, 1.0))
    css = _marker_css(at)
    assert len(css) == 1 and "content:'slider 0.65'" in css[0]
    assert css[0].startswith(".signal-lab-live .signal-lab-sweep{")
    assert f"* {d0 + (0.65 - lo) / (hi - lo) * (d1 - d0):.6f})" in css[0]
    equity = _figure(at, "equity")
    assert _panel(at)["version"] == "absolute:0.65"
    assert _panel(at)["url_params"] == {"mode": "absolute", "threshold": "0.65"}
    names = [t["name"] for t in equity["data"]]
    assert names[0] == "All trades" and names[1].endswith("confidence ≥ 0.65")
    kept = imported["trades"]["confidence"].to_numpy() >= 0.65
    expected = float(imported["trades"]["return_pct"].to_numpy()[kept].sum())
    assert equity["data"][1]["y"] and np.isclose(_last(equity["data"][1]["y"]), expected)
    at.slider(key="thr_slider_absolute").set_value(0.7).run()
    again = _figure(at, "sweep")
    assert again == sweep and "content:'slider 0.7'" in _marker_css(at)[0]
    # Changing the chart's metric keeps the marker (the chart is redrawn from its cache).
    at.segmented_control(key="thr_metric").set_value("win_rate").run()
    sweep = _figure(at, "sweep")
    assert "win rate" in sweep["layout"]["title"]["text"].lower()
    assert "content:'slider 0.7'" in _marker_css(at)[0]


def test_the_panel_keeps_its_element_across_moves(monkeypatch, imported):
    """Same element id on every move (the browser updates it in place); new figures each time."""
    at = _thresholds_page(monkeypatch, imported)
    ids = set()
    trades = imported["trades"]
    for threshold in (0.3, 0.7, 0.3):
        at.slider(key="thr_slider_absolute").set_value(threshold).run()
        (panel,) = [c for c in at.get("bidi_component") if "thr_live_panel" in c.proto.id]
        ids.add(panel.proto.id)
        assert _panel(at)["version"] == f"absolute:{threshold:g}"
        kept = trades["confidence"].to_numpy() >= threshold
        expected = float(trades["return_pct"].to_numpy()[kept].sum())
        assert np.isclose(_last(_figure(at, "equity")["data"][1]["y"]), expected)
        # The table's rows are the metrics of the kept trades, formatted.
        books, rows = _panel(at)["table"]["books"], _panel(at)["table"]["rows"]
        assert len(books) >= 2 and all(len(r) == len(books) + 1 for r in rows)
        trades_row = next(r for r in rows if r[0].lower().startswith("trades"))
        assert f"{int(kept.sum()):,}" in trades_row
    assert len(ids) == 1  # one element identity for all three moves


def test_without_static_serving_the_panel_falls_back_to_streamlit_elements(monkeypatch, imported):
    from streamlit import config

    from pages import _live_panel

    served = config.get_option("server.enableStaticServing")
    config.set_option("server.enableStaticServing", False)  # a server without our config
    try:
        assert not _live_panel.served_in_place()
        at = _thresholds_page(monkeypatch, imported)
        at.slider(key="thr_slider_absolute").set_value(0.7).run()
    finally:
        config.set_option("server.enableStaticServing", served)
    assert not at.exception and not at.error
    assert not [c for c in at.get("bidi_component") if "thr_live_panel" in c.proto.id]
    kept = imported["trades"]["confidence"].to_numpy() >= 0.7
    assert next(m.value for m in at.metric if m.label == "Trades") == f"{int(kept.sum()):,}"
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    sweep = next(s for s in specs if "sweep" in s["layout"]["title"]["text"].lower())
    assert [a["text"] for a in sweep["layout"]["annotations"] if "slider" in a["text"]] == [
        "slider 0.7"
    ]
    assert any(s["layout"]["title"]["text"].startswith("Equity") for s in specs)


def _last(values) -> float:
    """Last value of a plotly array (a list, or a typed array ``{"dtype", "bdata"}``)."""
    if isinstance(values, dict):
        import base64

        return float(np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])[-1])
    return float(values[-1])
