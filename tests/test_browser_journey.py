"""One journey through the served dashboard in a real Chromium (Debian's, via Playwright).

Starts ``streamlit run app.py`` on a free port with an empty data directory,
creates the store with a click, runs the sample backtest from the Backtest page, reads the reliability chart on
Calibration, moves the threshold slider on Thresholds, sets a drift baseline,
downloads the HTML report, and saves a screenshot of every page to
``tests/screenshots/<page>.png``.

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
    page.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=60_000)
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
    before = (_metric(page, "Trades"), _metric(page, "Win rate"))
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
