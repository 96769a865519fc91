"""One journey through the served dashboard in a real Chromium (Debian's, via Playwright).

Starts ``streamlit run app.py`` on a free port with an empty data directory,
creates the store with a click, runs the sample backtest from the Backtest page, reads the reliability chart on
Calibration, moves the threshold slider on Thresholds, sets a drift baseline,
downloads the HTML report, and saves a screenshot of every page to
``tests/screenshots/<page>.png``. Then the honest decisions: Platt as the key
(every page says so), a threshold kept on Thresholds (the same after leaving,
coming back and reloading the URL), the report's verdict after deflation, bet
sizing, calibration by volatility regime, and two calibrator versions registered
on Calibration and compared on Models.

Needs ``/usr/bin/chromium`` (``make browser`` installs it; the launch arguments
are in ``tests/conftest.py``). Without it the journey is skipped, except under
``CI=true``, where it fails.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser_helpers import LIVE, served
from browser_helpers import go as _go
from browser_helpers import metric as _metric
from browser_helpers import settled as _settled
from browser_helpers import shot as _shot

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """The dashboard served by ``streamlit run`` on an empty data directory."""
    data_dir = tmp_path_factory.mktemp("journey") / "data"
    log = tmp_path_factory.mktemp("journey-log") / "streamlit.log"
    with served(data_dir, log) as url:
        yield url


def test_journey_from_an_empty_store_to_a_report(page, app_url):
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(app_url)
    # The frame stops before the page on a folder without a store: no page title yet.
    page.get_by_text("no finished run to analyse yet").wait_for(timeout=60_000)
    _settled(page)
    assert page.get_by_text("no finished run to analyse yet").is_visible()
    _shot(page, "overview_empty")
    # The folder holds no store yet: nothing is created without a click.
    page.get_by_role("button", name="Create an empty store").click()
    _settled(page)

    # Backtest: the sample market with the form's defaults.
    _go(page, "Backtest")
    page.get_by_role("button", name="Run backtest").click()
    page.get_by_role("heading", name="Result:").wait_for(timeout=120_000)
    _settled(page)
    _shot(page, "backtest")

    # Calibration: the reliability diagram is drawn, titled.
    _go(page, "Calibration")
    title = page.locator(f'{LIVE} [data-testid="stPlotlyChart"] .gtitle').filter(
        has_text="Reliability"
    )
    title.first.wait_for(timeout=60_000)
    assert "Reliability diagram" in title.first.text_content()
    _shot(page, "calibration")

    # Thresholds: the slider moves the filtered book's metrics.
    _go(page, "Thresholds")
    panel = page.locator(".signal-lab-live")
    panel.locator(".signal-lab-equity .main-svg").first.wait_for(timeout=60_000)
    before = (_metric(page, "Trades"), _metric(page, "Win rate"))
    # The panel is updated in place: the same chart element before and after the moves.
    panel.evaluate("el => { el.querySelector('.signal-lab-equity').__journeyMark = 1; }")
    slider = page.get_by_role("slider", name="Threshold")
    slider.focus()
    for _ in range(8):
        page.keyboard.press("ArrowLeft")
    _settled(page)
    deadline = time.monotonic() + 30
    after = before
    while after == before and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        after = (_metric(page, "Trades"), _metric(page, "Win rate"))
    assert after != before
    shown = _slider_value(page)
    page.wait_for_function(
        "v => document.querySelector('.signal-lab-live')?.dataset.version === 'absolute:' + v",
        arg=f"{float(shown):g}",
        timeout=30_000,
    )
    assert panel.evaluate("el => el.querySelector('.signal-lab-equity').__journeyMark") == 1
    legend = panel.locator(".signal-lab-equity .legendtext").all_text_contents()
    assert any(f"≥ {float(shown):.2f}" in t for t in legend), legend
    assert f"threshold={float(shown):g}" in page.url  # set in the browser, no new history entry
    # A move sends the kept trades' curve only (restyled in place): it ends at the summed
    # return the panel's table shows for the kept trades.
    assert _kept_curve_agrees_with_the_table(panel)
    # A panel that has no chart to update asks for the whole figures and gets them.
    panel.evaluate("el => { el.querySelector('.signal-lab-equity').__signalLabDrawn = false; }")
    slider.focus()
    page.keyboard.press("ArrowRight")
    shown = _slider_value(page)
    page.wait_for_function(
        "v => document.querySelector('.signal-lab-live')?.dataset.version === 'absolute:' + v",
        arg=f"{float(shown):g}",
        timeout=30_000,
    )
    healed = "el => typeof el.querySelector('.signal-lab-equity').__signalLabFigure === 'string'"
    assert panel.evaluate(healed)  # drawn whole again, in the same element
    assert panel.evaluate("el => el.querySelector('.signal-lab-equity').__journeyMark") == 1
    assert _kept_curve_agrees_with_the_table(panel)
    _shot(page, "thresholds")

    # Drift: the run's signal has no baseline; one click sets its first months.
    _go(page, "Drift")
    page.get_by_text("has no drift baseline yet").wait_for(timeout=60_000)
    page.get_by_role("button", name="Set this run's first months as the baseline").click()
    page.get_by_text("Baseline in force").wait_for(timeout=60_000)
    _settled(page)
    page.locator(f'{LIVE} [data-testid="stPlotlyChart"] .gtitle').filter(
        has_text="Drift against the baseline"
    ).first.wait_for(timeout=60_000)
    _shot(page, "drift")

    for name in ("Overview", "Models", "Events"):
        _go(page, name)
        _shot(page, name.lower())

    # Reports: the HTML report downloads and carries its plotly charts.
    _go(page, "Reports")
    _shot(page, "reports")
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="Download HTML report").click()
    html = Path(download.value.path()).read_text(encoding="utf-8")
    assert "plotly" in html.lower()
    assert "<html" in html.lower()

    _honest_decisions(page)


PLATT = "platt, walk-forward, 12 windows"


def _kept_curve_agrees_with_the_table(panel) -> bool:
    """The equity chart's kept curve ends at the table's summed return of the kept trades."""
    return panel.evaluate(
        """el => {
          const chart = el.querySelector('.signal-lab-equity');
          // _fullData: the traces as drawn (a whole figure's y is a typed-array spec in data)
          const kept = chart._fullData.find((t) => String(t.name).startsWith('Kept'));
          const last = Number(kept.y[kept.y.length - 1]).toFixed(3);
          const row = [...el.querySelectorAll('.signal-lab-table tr')]
            .find((r) => r.cells[0].textContent.startsWith('Summed return'));
          return [...row.cells].slice(1).some((c) => c.textContent === last);
        }"""
    )


def _main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def _slider_value(page) -> str:
    """The Threshold slider's value as drawn on its thumb."""
    thumb = page.locator(f'{LIVE} [data-testid="stSliderThumbValue"]').first
    thumb.wait_for(timeout=60_000)
    return thumb.inner_text().strip()


def _honest_decisions(page) -> None:
    # The key is the mapping: choose Platt (walk-forward); every page names it.
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text(PLATT, exact=True).click()
    _settled(page)
    for name in ("Overview", "Calibration", "Thresholds", "Drift", "Reports", "Models", "Backtest"):
        _go(page, name)
        page.locator('[data-testid="stMain"]').get_by_text(PLATT).first.wait_for(timeout=60_000)
        assert PLATT in _main_text(page), name

    # Thresholds: move the slider, keep the threshold with a reason.
    _go(page, "Thresholds")
    slider = page.get_by_role("slider", name="Threshold")
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    _settled(page)
    kept = _slider_value(page)
    page.get_by_label("Why this threshold?").fill("inside the stable region")
    page.get_by_label("Why this threshold?").press("Enter")
    _settled(page)
    page.get_by_role("button", name="Keep threshold").click()
    page.get_by_text("Kept threshold").first.wait_for(timeout=60_000)
    _settled(page)
    assert "N_eff" in _main_text(page) and "How stable is the choice?" in _main_text(page)
    assert "A threshold with a guaranteed win rate" in _main_text(page)
    run_label = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    run_before = run_label.inner_text()

    # Leave, come back: the same threshold; the Overview shows the decision.
    _go(page, "Overview")
    page.get_by_text("Kept threshold for signal").wait_for(timeout=60_000)
    _go(page, "Thresholds")
    assert _slider_value(page) == kept
    # Reload the URL (a new session): the same run, key and threshold.
    assert f"threshold={kept}" in page.url or f"threshold={float(kept):g}" in page.url
    page.reload()
    page.get_by_role("heading", name="Thresholds", exact=True).wait_for(timeout=60_000)
    _settled(page)
    assert _slider_value(page) == kept
    assert run_label.inner_text() == run_before
    assert PLATT in _main_text(page)
    _shot(page, "thresholds_kept")

    # Bet sizing on the sample run: the table of rules appears.
    page.get_by_role("button", name="Size bets").click()
    page.get_by_text("Sizing rules, out of sample").wait_for(timeout=120_000)
    _settled(page)
    _shot(page, "thresholds_sizing")

    # The HTML report states the verdict after deflation and the mapping.
    _go(page, "Reports")
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="Download HTML report").click()
    report = Path(download.value.path()).read_text(encoding="utf-8")
    assert 'id="verdict"' in report and "after deflation (DSR" in report and "PBO" in report
    assert PLATT in report

    # Calibration: calibration by volatility regime (the first segment offered) draws its chart.
    _go(page, "Calibration")
    page.locator(f'{LIVE} [data-testid="stPlotlyChart"] .gtitle').filter(
        has_text="Calibration by volatility"
    ).first.wait_for(timeout=60_000)

    # Register two calibrator versions from the fitted comparison ...
    page.get_by_role("button", name="Fit walk-forward").click()
    page.get_by_text("Register a calibrator as a model version").wait_for(timeout=120_000)
    _settled(page)
    for _ in range(2):
        page.get_by_role("button", name="Register model version").click()
        _settled(page)
    page.get_by_text("version 2").first.wait_for(timeout=60_000)

    # ... and compare them on the Models page.
    _go(page, "Models")
    page.get_by_role("tab", name="Compare versions").click()
    _settled(page)
    page.get_by_role("button", name="Compare").click()
    _settled(page)
    page.locator('[data-testid="stAlert"]').filter(has_text="B").first.wait_for(timeout=60_000)
    assert page.locator(f'{LIVE} [data-testid="stPlotlyChart"]').count() >= 1
    _shot(page, "models_compare")
