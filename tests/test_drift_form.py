"""The Drift page's detector settings: a form generated from DriftThresholds' fields (AppTest)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import core.dashboard
from core.analytics.drift import DriftThresholds
from core.dashboard import synthetic_signal_log
from core.importer import import_signal_log
from core.store import Store

# AppTest routes through st.navigation as the server does (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("navigation_like_the_server")

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PREFIX = "drift_threshold_"


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """A data directory with one imported synthetic signal log (1,500 trades)."""
    root = tmp_path_factory.mktemp("drift_form")
    log = root / "log.csv"
    synthetic_signal_log(1500, seed=5).to_csv(log, index=False)
    with Store(root / "data") as store:
        run_id = import_signal_log(log, store=store, name="drift form log").run_id
    return root / "data", run_id


@pytest.fixture
def drift_page(monkeypatch, imported):
    data_dir, run_id = imported
    monkeypatch.setenv("SIGNAL_LAB_DATA_DIR", str(data_dir))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.sidebar.selectbox(key="run_id").set_value(run_id).run()
    at.switch_page("pages/drift.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _inputs(at: AppTest) -> dict[str, object]:
    return {w.key[len(PREFIX) :]: w for w in at.number_input if w.key.startswith(PREFIX)}


def test_the_form_has_one_input_per_field_at_its_default(drift_page):
    inputs = _inputs(drift_page)
    names = [f.name for f in dataclasses.fields(DriftThresholds)]
    assert list(inputs) == names
    defaults = DriftThresholds()
    assert {n: w.value for n, w in inputs.items()} == {n: getattr(defaults, n) for n in names}
    assert inputs["psi_warning"].label == "PSI warning"


def test_a_changed_value_changes_the_thresholds_passed_on(drift_page, monkeypatch):
    passed: list[DriftThresholds] = []
    original = core.dashboard.set_baseline

    def spy(*args, **kwargs):
        passed.append(kwargs["thresholds"])
        return original(*args, **kwargs)

    monkeypatch.setattr(core.dashboard, "set_baseline", spy)
    at = drift_page
    _inputs(at)["psi_warning"].set_value(0.15).run()
    _inputs(at)["detector_critical"].set_value(3).run()
    assert not at.error, [e.value for e in at.error]
    at.button(key="drift_set").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert passed == [DriftThresholds(psi_warning=0.15, detector_critical=3)]
    assert isinstance(passed[0].detector_critical, int)


def test_invalid_settings_are_reported_and_stop_the_page(drift_page):
    at = drift_page
    _inputs(at)["psi_warning"].set_value(0.5).run()  # above psi_critical (0.25)
    shown = [e.value.replace("\\", "") for e in at.error]  # Markdown escapes dropped
    assert any(
        "Detector settings are not valid" in t and "psi_warning <= psi_critical" in t for t in shown
    ), shown
    assert not [b for b in at.button if b.key == "drift_set"]
