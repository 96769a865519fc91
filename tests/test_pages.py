"""Every dashboard page through Streamlit's AppTest: empty store, a backtest, an imported log.

The app is started from ``app.py`` (the router) and pages are reached with
``switch_page``, as a user reaches them from the sidebar. One small real
backtest (AAPL and MSFT, 2006-2011) and one imported synthetic signal log are
recorded once for the module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.backtest import BacktestConfig, run_backtest
from core.dashboard import synthetic_signal_log
from core.importer import import_signal_log
from core.learning import LearningEngine, LearningEngineConfig
from core.store import DB_FILENAME, Store

# AppTest routes through st.navigation as the server does (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("navigation_like_the_server")

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGES = (
    "overview",
    "backtest",
    "calibration",
    "thresholds",
    "drift",
    "models",
    "events",
    "reports",
)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A data directory with one small backtest and one imported synthetic log."""
    root = tmp_path_factory.mktemp("pages")
    data_dir = root / "data"
    log = root / "synthetic_signals.csv"
    synthetic_signal_log(3000, seed=3).to_csv(log, index=False)
    with LearningEngine(LearningEngineConfig(data_dir=data_dir)) as engine:
        backtest = run_backtest(
            BacktestConfig(symbols=("AAPL", "MSFT"), start="2006-01-01", end="2011-12-31"),
            engine=engine,
        )
        imported = import_signal_log(log, store=engine.store, name="synthetic log")
    return {"dir": data_dir, "backtest": backtest.run_id, "import": imported.run_id}


def _app(monkeypatch, data_dir) -> AppTest:
    monkeypatch.setenv("SIGNAL_LAB_DATA_DIR", str(data_dir))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def _open(at: AppTest, page: str, run_id: str | None = None) -> AppTest:
    if run_id is not None:
        at.sidebar.selectbox(key="run_id").set_value(run_id).run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success")
             for e in getattr(at, kind)]  # fmt: skip
    return "\n".join(str(p) for p in parts)


def _chart_specs(at: AppTest) -> list[dict]:
    """Every chart's plotly JSON: st.plotly_chart and the slider's panel (pages/_live_panel.py)."""
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    for live in at.get("bidi_component"):
        if live.proto.component_name == "signal_lab_live_panel":
            data = json.loads(live.proto.json)
            specs += [json.loads(data["sweep"]), json.loads(data["equity"])]
    return specs


def _chart_titles(at: AppTest) -> list[str]:
    out = []
    for spec in _chart_specs(at):
        title = spec.get("layout", {}).get("title", {})
        out.append(title.get("text", "") if isinstance(title, dict) else str(title))
    return out


def _metric(at: AppTest, label: str) -> str:
    """An st.metric's value, or a headline card's of the Thresholds slider's panel."""
    cards = [
        (card["label"], card["value"])
        for live in at.get("bidi_component")
        if live.proto.component_name == "signal_lab_live_panel"
        for card in json.loads(live.proto.json)["cards"]
    ]
    return next(v for k, v in [(m.label, m.value) for m in at.metric] + cards if k == label)


# --------------------------------------------------------------------------- empty store


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_an_empty_store(monkeypatch, tmp_path, page):
    at = _open(_app(monkeypatch, tmp_path / "data"), page)
    assert not at.error, [e.value for e in at.error]
    assert "no finished run" in _texts(at).lower()
    assert at.button(key="empty_run_sample").label == "Run the sample backtest"


def test_the_empty_store_button_runs_the_sample_backtest(monkeypatch, tmp_path):
    at = _open(_app(monkeypatch, tmp_path / "data"), "calibration")
    at.button(key="empty_run_sample").click().run()
    assert not at.exception and not at.error
    picker = at.sidebar.selectbox(key="run_id")
    assert picker.value is not None and "backtest" in picker.format_func(picker.value)
    at.run()
    assert any("Reliability" in t for t in _chart_titles(at))


# --------------------------------------------------------------------------- runs


@pytest.mark.parametrize("kind", ["backtest", "import"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_a_run(monkeypatch, recorded, page, kind):
    at = _open(_app(monkeypatch, recorded["dir"]), page, recorded[kind])
    assert not at.error, [e.value for e in at.error]
    if page == "calibration":
        assert any("Reliability" in t for t in _chart_titles(at))
    if page == "thresholds":
        assert any("sweep" in t.lower() or "threshold" in t.lower() for t in _chart_titles(at))


def test_overview_shows_recorded_figures_for_a_backtest_and_computed_for_an_import(
    monkeypatch, recorded
):
    at = _open(_app(monkeypatch, recorded["dir"]), "overview", recorded["backtest"])
    assert "figures recorded by the backtest" in _texts(at)
    at = _open(at, "overview", recorded["import"])
    assert "figures computed from the trades" in _texts(at)
    assert _metric(at, "Trades") == "3,000"


def test_moving_the_threshold_slider_changes_the_filtered_metrics(monkeypatch, recorded):
    at = _open(_app(monkeypatch, recorded["dir"]), "thresholds", recorded["import"])
    slider = at.slider(key="thr_slider_absolute")
    slider.set_value(0.2).run()
    low = (_metric(at, "Trades"), _metric(at, "Win rate"))
    at.slider(key="thr_slider_absolute").set_value(0.7).run()
    high = (_metric(at, "Trades"), _metric(at, "Win rate"))
    assert low != high
    assert int(low[0].replace(",", "")) > int(high[0].replace(",", ""))


def test_percentile_mode_keeps_the_top_share_of_trades(monkeypatch, recorded):
    at = _open(_app(monkeypatch, recorded["dir"]), "thresholds", recorded["import"])
    at.radio(key="thr_mode").set_value("percentile").run()
    at.slider(key="thr_slider_percentile").set_value(25).run()
    assert not at.error
    assert _metric(at, "Trades") == "750"


def test_switching_the_confidence_key_switches_the_analysis(monkeypatch, recorded):
    at = _open(_app(monkeypatch, recorded["dir"]), "calibration", recorded["import"])
    raw = _chart_titles(at)
    ece_raw = _metric(at, "ECE")
    assert "raw confidence" in _texts(at)
    at.sidebar.radio(key="confidence_key").set_value("isotonic").run()
    assert not at.exception and not at.error
    assert "isotonic, walk-forward, 12 windows" in _texts(at).replace("\\", "")
    assert _chart_titles(at) != raw
    assert _metric(at, "ECE") != ece_raw


def test_calibrators_are_fitted_walk_forward_and_one_is_registered(monkeypatch, recorded):
    at = _open(_app(monkeypatch, recorded["dir"]), "calibration", recorded["import"])
    at.multiselect(key="cal_methods").set_value(["platt", "isotonic"])
    at.button(key="cal_fit_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any("out of sample" in t.lower() for t in _chart_titles(at))
    table = next(d.value for d in at.dataframe if "sample" in d.value.columns)
    assert set(table["sample"]) == {"raw", "in_sample", "out_of_sample"}
    at.text_input(key="cal_register_name").set_value("pages-calibrator")
    at.button(key="cal_register_submit").click().run()
    assert any("Registered" in s.value for s in at.success), _texts(at)
    at = _open(at, "models")
    versions = at.dataframe[0].value
    assert "pages-calibrator" in set(versions["name"])


def test_drift_baseline_then_windows_then_alerts(monkeypatch, recorded):
    # the backtest's signal gets a baseline; the imported log's signal must not use it
    at = _open(_app(monkeypatch, recorded["dir"]), "drift", recorded["backtest"])
    at.button(key="drift_set").click().run()
    assert "Baseline in force: signal" in _texts(at)
    at = _open(at, "drift", recorded["import"])
    texts = _texts(at).replace("\\", "")
    assert "signal 'synthetic_signals' has no drift baseline yet" in texts
    assert "never compared with another signal's baseline" in texts
    assert "Drift against the baseline" not in " ".join(_chart_titles(at))
    at.number_input(key="drift_months").set_value(1).run()  # the log spans 11 weeks
    at.button(key="drift_set").click().run()
    assert not at.error, [e.value for e in at.error]
    texts = _texts(at).replace("\\", "")
    assert "Baseline in force: signal **synthetic_signals**" in texts
    assert "the newest included" in texts
    assert any("Drift against the baseline" in t for t in _chart_titles(at))
    at.button(key="drift_check").click().run()
    assert not at.error, [e.value for e in at.error]
    assert "Severity" in _texts(at)


def test_events_page_pages_through_events_and_previews_an_import(monkeypatch, recorded, tmp_path):
    at = _open(_app(monkeypatch, recorded["dir"]), "events", recorded["import"])
    # 3,000 signals and 3,000 outcomes; trials other tests recorded are store-level events
    # (their run is in the payload), so the run's own events do not change
    with Store(recorded["dir"]) as store:
        assert store.count_events(run_id=recorded["import"]) == 6000
    assert "6,000 matching event(s)" in _texts(at)
    at.selectbox(key="ev_type").set_value("SIGNAL_ACCURACY").run()
    assert "3,000 matching event(s)" in _texts(at)
    bad = synthetic_signal_log(20, seed=9)
    bad.loc[4, "confidence"] = 1.7
    at.file_uploader(key="ev_upload_0").upload(
        "bad.csv", bad.to_csv(index=False).encode(), "text/csv"
    )
    at.run()
    assert not at.exception
    errors = at.dataframe[-1].value
    assert list(errors["row"]) == [6]
    assert not any(b.key == "ev_import" for b in at.button)  # nothing importable yet
    at.checkbox(key="ev_skip_bad").check().run()
    assert "19" in at.button(key="ev_import").label
    at.text_input(key="ev_import_name").set_value("partly bad log")
    at.button(key="ev_import").click().run()
    assert not at.exception and not at.error
    assert any("Imported 19 signal(s)" in s.value for s in at.success)
    picker = at.sidebar.selectbox(key="run_id")
    assert "partly bad log" in picker.format_func(picker.value)


def test_models_page_evaluates_promotes_and_queues_a_job(monkeypatch, recorded):
    at = _open(_app(monkeypatch, recorded["dir"]), "calibration", recorded["import"])
    at.button(key="cal_fit_submit").click().run()
    at.text_input(key="cal_register_name").set_value("pages-models")
    at.button(key="cal_register_submit").click().run()
    at = _open(at, "models")
    picker = at.selectbox(key="models_pick")
    picker.set_value("pages-models v1").run()
    at.button(key="models_eval_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any(("Passed" in m.value or "Failed" in m.value) for m in [*at.success, *at.warning])
    at.selectbox(key="models_stage").set_value("archived")
    at.text_input(key="models_reason").set_value("superseded in a test")
    at.button(key="models_stage_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    history = next(d.value for d in at.dataframe if "to_stage" in d.value.columns)
    assert "archived" in set(history["to_stage"])
    at.button(key="job_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    jobs = at.dataframe[-1].value
    assert "state" in jobs.columns and len(jobs) >= 1


def test_apply_threshold_reruns_the_backtest_with_it(monkeypatch, recorded):
    at = _open(_app(monkeypatch, recorded["dir"]), "thresholds", recorded["backtest"])
    at.slider(key="thr_slider_absolute").set_value(0.55).run()
    at.button(key="thr_apply").click().run()
    assert not at.error, [e.value for e in at.error]
    picker = at.sidebar.selectbox(key="run_id")
    assert picker.value != recorded["backtest"]
    assert "rerun" in picker.format_func(picker.value)
    at = _open(at, "overview")
    assert "threshold 0.55" in _texts(at)


def _created(folder: Path) -> Path:
    """An empty store in ``folder`` (created the way a user's click creates it)."""
    Store(folder).close()
    return folder


def test_a_missing_store_is_offered_not_created(monkeypatch, tmp_path):
    folder = tmp_path / "typo"
    at = _open(_app(monkeypatch, folder), "events")
    assert not at.exception
    assert not (folder / DB_FILENAME).exists()
    assert "holds no signal lab store yet" in _texts(at).lower()
    assert not at.sidebar.text_input, "no browser user may type a path on the server"
    at.button(key="create_store").click().run()
    assert (folder / DB_FILENAME).exists()
    assert [t.label for t in at.tabs][:2] == ["Browse events", "Import a signal log"]


def test_the_store_is_picked_among_the_allowed_roots_only(monkeypatch, tmp_path, recorded):
    root = tmp_path / "team"
    _created(root / "alpha")
    (root / "not-a-store").mkdir()
    outside = _created(tmp_path / "outside")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv("SIGNAL_LAB_ALLOWED_ROOTS", str(root))
    at = _app(monkeypatch, recorded["dir"])
    picker = at.sidebar.selectbox(key="store_label")
    assert picker.options[0].startswith("default")
    assert picker.options[1:] == ["team/alpha"]  # no empty folder, no link leading out
    at.sidebar.selectbox(key="store_label").set_value("team/alpha").run()
    assert not at.exception
    assert str(root / "alpha") in "".join(c.value for c in at.sidebar.code)
    assert "no finished run" in _texts(at).lower()


def test_backtest_page_runs_a_synthetic_backtest_and_links_on(monkeypatch, tmp_path):
    at = _open(_app(monkeypatch, _created(tmp_path / "data")), "backtest")
    at.radio(key="bt_source").set_value("synthetic").run()
    at.number_input(key="bt_n_symbols").set_value(3)
    at.number_input(key="bt_n_days").set_value(400)
    at.text_input(key="bt_name").set_value("tiny synthetic")
    at.button(key="bt_submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("tiny synthetic" in h.value for h in at.subheader)
    assert "synthetic" in at.sidebar.selectbox(key="run_id").format_func(
        at.sidebar.selectbox(key="run_id").value
    )
    assert len(at.get("page_link")) == 4


def test_backtest_page_says_what_is_wrong_in_plain_words(monkeypatch, tmp_path):
    at = _open(_app(monkeypatch, _created(tmp_path / "data")), "backtest")
    at.radio(key="bt_source").set_value("upload").run()
    at.button(key="bt_submit").click().run()
    assert not at.exception
    assert any("choose a CSV or Parquet file" in e.value for e in at.error)
    at.radio(key="bt_source").set_value("sample").run()
    at.multiselect(key="bt_symbols").set_value(["FB"])
    at.date_input(key="bt_start").set_value(__import__("datetime").date(2001, 1, 1))
    at.date_input(key="bt_end").set_value(__import__("datetime").date(2002, 1, 1))
    at.button(key="bt_submit").click().run()
    assert not at.exception
    assert at.error, "a backtest on FB before it listed must fail with a message"


# --------------------------------------------------------------------------- beyond the peers


def _array(value) -> list:
    """A trace's x or y as a list (plotly may ship arrays as base64 ``bdata``)."""
    import base64

    import numpy as np

    if value is None:
        return []
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)


def _figure(at: AppTest, key: str):
    """The plotly figure of the chart with widget ``key`` (arrays decoded)."""
    import plotly.io as pio

    chart = next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id)
    return pio.from_json(chart.proto.spec)


def test_calibration_by_regime_and_signal_decay_on_a_backtest(monkeypatch, recorded):
    at = _open(_app(monkeypatch, recorded["dir"]), "calibration", recorded["backtest"])
    assert not at.error, [e.value for e in at.error]
    picker = at.selectbox(key="cal_segment_by")
    assert picker.value == "volatility" and "symbol" in picker.options
    names = [t.name for t in _figure(at, "segments_chart").data]
    assert {"low", "mid", "high"} <= {str(n).split(" ")[0] for n in names if n}
    xs = [x for t in _figure(at, "decay_chart").data for x in _array(t.x)]
    assert {1, 20} <= set(xs)  # horizons of 1 to 20 days
    at.selectbox(key="cal_segment_by").set_value("symbol").run()
    assert not at.error, [e.value for e in at.error]
    # an imported log has no prices: decay says so, no error
    at = _open(at, "calibration", recorded["import"])
    assert not at.error
    assert "needs the market's prices" in _texts(at)


def test_models_page_compares_two_versions(monkeypatch, recorded):
    at = _open(_app(monkeypatch, recorded["dir"]), "calibration", recorded["backtest"])
    with LearningEngine(LearningEngineConfig(data_dir=recorded["dir"])) as engine:
        trades = engine.store.trades_frame(recorded["backtest"])
        early = trades[trades["entry_time"] < "2008-01-01"]
        for method in ("platt", "isotonic"):
            engine.registry.register_calibrator("pages-compare", early, method=method)
    at = _open(at, "models", recorded["backtest"])
    at.selectbox(key="cmp_name").set_value("pages-compare").run()
    at.selectbox(key="cmp_a").set_value(1).run()
    at.selectbox(key="cmp_b").set_value(2).run()
    at.button(key="cmp_go").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any("v2 - v1" in i.value.replace("\\", "") for i in at.info)
