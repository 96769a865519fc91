"""Honest decisions in the dashboard (AppTest): the key mapping, the kept threshold, links,
the trial ledger, stability, the guaranteed win rate and bet sizing.

Each test gets its own store with one imported synthetic signal log (3,000 trades,
signal ``log``), so ledger counts and kept thresholds never leak between tests; the
sizing test uses a small real backtest.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.backtest import BacktestConfig, run_backtest
from core.dashboard import synthetic_signal_log
from core.importer import import_signal_log
from core.learning import LearningEngine, LearningEngineConfig
from core.lifecycle.ledger import TrialLedger, current_decision
from core.store import Store
from tests.test_pages import APP, _metric
from tests.test_pages import _texts as _escaped_texts

# AppTest routes through st.navigation as the server does (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("navigation_like_the_server")


@pytest.fixture()
def imported(tmp_path):
    """A fresh store with one imported synthetic log: (data dir, run id)."""
    log = tmp_path / "log.csv"
    synthetic_signal_log(3000, seed=3).to_csv(log, index=False)
    data_dir = tmp_path / "data"
    with LearningEngine(LearningEngineConfig(data_dir=data_dir)) as engine:
        run = import_signal_log(log, store=engine.store, name="synthetic log")
    return data_dir, run.run_id


def _start(monkeypatch, data_dir, **query) -> AppTest:
    monkeypatch.setenv("SIGNAL_LAB_DATA_DIR", str(data_dir))
    at = AppTest.from_file(APP, default_timeout=90)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def _page(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _texts(at: AppTest) -> str:
    """Every text element, with Markdown escapes removed (``walk\\-forward``)."""
    return _escaped_texts(at).replace("\\", "")


def _count(data_dir, signal: str = "log") -> int:
    with Store(data_dir) as store:
        return TrialLedger(store).count(signal)


# --------------------------------------------------------------------------- the mapping


def test_choosing_platt_names_the_mapping_on_every_page(monkeypatch, imported):
    data_dir, _ = imported
    at = _start(monkeypatch, data_dir)
    at.sidebar.radio(key="confidence_key").set_value("platt").run()
    for page in ("calibration", "thresholds", "overview", "reports", "drift"):
        _page(at, page)
        assert not at.error, (page, [e.value for e in at.error])
        assert "platt, walk-forward, 12 windows" in _texts(at), page
    assert at.query_params["key"] == "platt"


def test_the_production_mapping_says_how_to_get_one(monkeypatch, imported):
    data_dir, _ = imported
    at = _start(monkeypatch, data_dir)
    at.sidebar.radio(key="confidence_key").set_value("production").run()
    _page(at, "thresholds")
    text = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "no production calibrator" in text
    assert "'log'" in text and "promote" in text


def test_calibration_shows_spiegelhalter_and_the_ece_interval(monkeypatch, imported):
    data_dir, _ = imported
    at = _page(_start(monkeypatch, data_dir), "calibration")
    assert _metric(at, "Spiegelhalter z") != "—"
    caption = _texts(at)
    assert "Spiegelhalter z" in caption and "95 % CI" in caption


# --------------------------------------------------------------------------- the kept threshold


def _set_threshold(at: AppTest, value: float) -> None:
    at.slider(key="thr_slider_absolute").set_value(value).run()
    assert not at.exception


def test_a_kept_threshold_survives_pages_modes_and_new_sessions(monkeypatch, imported):
    data_dir, run_id = imported
    at = _page(_start(monkeypatch, data_dir), "thresholds")
    _set_threshold(at, 0.7)
    at.text_input(key="thr_keep_reason").set_value("inside the stable region")
    at.button(key="thr_keep").click().run()
    assert any("Kept threshold" in s.value for s in at.success), _texts(at)
    with Store(data_dir) as store:
        decision = current_decision(store, "log")
    assert decision is not None and decision.threshold == pytest.approx(0.7)
    assert decision.key == "raw confidence" and decision.run_id == run_id
    assert decision.reason == "inside the stable region" and decision.ledger_count >= 101

    _page(at, "overview")
    assert "Kept threshold for signal log: 0.7" in _texts(at)
    _page(at, "thresholds")
    assert at.slider(key="thr_slider_absolute").value == pytest.approx(0.7)

    at.radio(key="thr_mode").set_value("percentile").run()
    at.slider(key="thr_slider_percentile").set_value(25).run()
    at.radio(key="thr_mode").set_value("absolute").run()
    assert at.slider(key="thr_slider_absolute").value == pytest.approx(0.7)
    at.radio(key="thr_mode").set_value("percentile").run()
    assert at.slider(key="thr_slider_percentile").value == 25

    fresh = _page(_start(monkeypatch, data_dir), "thresholds")
    assert fresh.slider(key="thr_slider_absolute").value == pytest.approx(0.7)
    assert "the threshold kept for this signal" in _texts(fresh)


def test_keeping_needs_a_reason(monkeypatch, imported):
    data_dir, _ = imported
    at = _page(_start(monkeypatch, data_dir), "thresholds")
    at.button(key="thr_keep").click().run()
    assert any("reason is required" in e.value for e in at.error)
    with Store(data_dir) as store:
        assert current_decision(store, "log") is None


def test_without_a_decision_the_slider_starts_at_the_walk_forward_recommendation(
    monkeypatch, imported
):
    data_dir, _ = imported
    at = _page(_start(monkeypatch, data_dir), "thresholds")
    median = _metric(at, "Median choice")
    assert at.slider(key="thr_slider_absolute").value == pytest.approx(float(median))
    assert "walk-forward recommendation" in _texts(at)


def test_a_link_reopens_the_same_run_and_threshold(monkeypatch, imported, tmp_path):
    data_dir, run_id = imported
    # a second run, newer: without the link the sidebar would select it
    log = tmp_path / "other.csv"
    synthetic_signal_log(500, seed=9).to_csv(log, index=False)
    with Store(data_dir) as store:
        other = import_signal_log(log, store=store, name="other log").run_id
    at = _start(monkeypatch, data_dir, run=run_id, threshold="0.66", mode="absolute")
    assert at.sidebar.selectbox(key="run_id").value == run_id != other
    _page(at, "thresholds")
    assert at.slider(key="thr_slider_absolute").value == pytest.approx(0.66)
    _set_threshold(at, 0.68)
    assert at.query_params["threshold"] == "0.68"
    assert at.query_params["run"] == run_id
    assert at.query_params["signal"] == "log"


# --------------------------------------------------------------------------- the ledger


def test_a_sweep_adds_trials_once_and_the_dsr_counts_them(monkeypatch, imported):
    data_dir, _ = imported
    assert _count(data_dir) == 0
    at = _page(_start(monkeypatch, data_dir), "thresholds")
    assert _count(data_dir) == 101
    at.run()  # a redraw is not a new trial
    assert _count(data_dir) == 101
    at.selectbox(key="thr_objective").set_value("win_rate").run()
    assert _count(data_dir) == 202
    text = _texts(at)
    assert "N 202 (trial ledger)" in text and "N_eff" in text and " V " in text
    assert "method" in text


def test_resetting_the_ledger_needs_a_reason(monkeypatch, imported):
    data_dir, _ = imported
    at = _page(_start(monkeypatch, data_dir), "thresholds")
    assert _count(data_dir) == 101
    at.button(key="thr_ledger_reset_submit").click().run()
    assert any("reason is required" in e.value for e in at.error)
    assert _count(data_dir) == 101
    at.text_input(key="thr_ledger_reason").set_value("new data from 2026-01")
    at.button(key="thr_ledger_reset_submit").click().run()
    assert any("starts again" in s.value for s in at.success)
    assert _count(data_dir) == 0


def test_a_calibrator_fit_is_a_trial(monkeypatch, imported):
    data_dir, _ = imported
    at = _page(_start(monkeypatch, data_dir), "calibration")
    at.multiselect(key="cal_methods").set_value(["platt", "isotonic", "beta"])
    at.button(key="cal_fit_submit").click().run()
    assert _count(data_dir) == 3


# --------------------------------------------------------------------------- sections


def test_stability_and_the_guarantee_render(monkeypatch, imported):
    data_dir, _ = imported
    at = _page(_start(monkeypatch, data_dir), "thresholds")
    headers = [h.value for h in at.subheader]
    assert "How stable is the choice?" in headers
    assert "A threshold with a guaranteed win rate" in headers
    assert " – " in _metric(at, "Stable region")
    assert "bootstrap band of the best" in _texts(at)
    at.number_input(key="thr_target").set_value(0.52).run()
    text = _texts(at)
    assert "with 90 % confidence the win rate of kept trades is ≥ 52%" in text
    assert "Out-of-sample check on the later 1,500 trades" in text


@pytest.fixture(scope="module")
def backtest_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("sizing") / "data"
    with LearningEngine(LearningEngineConfig(data_dir=data_dir)) as engine:
        run_backtest(
            BacktestConfig(symbols=("AAPL", "MSFT"), start="2006-01-01", end="2011-12-31"),
            engine=engine,
        )
    return data_dir


def test_bet_sizing_on_the_thresholds_page(monkeypatch, backtest_dir):
    at = _page(_start(monkeypatch, backtest_dir), "thresholds")
    at.number_input(key="thr_kelly").set_value(0.25)
    at.button(key="thr_size_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    table = next(d.value for d in at.dataframe if "mean_size" in d.value.columns)
    assert list(table["method"]) == ["fixed", "threshold", "kelly", "ldp"]
    assert set(table["sample"]) == {"out_of_sample"}
    assert "Kelly × 0.25" in _texts(at)
