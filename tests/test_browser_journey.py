"""One journey through the served dashboard in a real Chromium (Debian's, via Playwright).

Starts ``streamlit run app.py`` on a free port with an empty data directory,
runs the sample backtest from the Backtest page, reads the reliability chart on
Calibration, moves the threshold slider on Thresholds, sets a drift baseline,
downloads the HTML report, and saves a screenshot of every page to
``tests/screenshots/<page>.png``.

Needs ``/usr/bin/chromium`` (``make browser`` installs it; the launch arguments
are in ``tests/conftest.py``). Without it the journey is skipped, except under
``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "tests" / "screenshots"
LIVE = '[data-testid="stElementContainer"][data-stale="false"]'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """The dashboard served by ``streamlit run`` on an empty data directory."""
    data_dir = tmp_path_factory.mktemp("journey") / "data"
    port = _free_port()
    log = tmp_path_factory.mktemp("journey-log") / "streamlit.log"
    env = {**os.environ, "SIGNAL_LAB_DATA_DIR": str(data_dir)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _settled(page) -> None:
    """Wait until the script run triggered by the last action has finished."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(
        timeout=60_000
    )


def _go(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=title).click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=30_000)
    _settled(page)


def _shot(page, name: str) -> None:
    """Screenshot the whole page: the app scrolls inside its own container, so the
    viewport is stretched to the content's height for the shot."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate(
        '() => Math.max(...[...document.querySelectorAll(\'[data-testid="stMain"], '
        '[data-testid="stAppViewContainer"] section\')].map(e => e.scrollHeight), 1000)'
    )
    page.set_viewport_size({"width": 1400, "height": min(int(height) + 40, 6000)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def _metric(page, label: str) -> str:
    card = page.locator(f'{LIVE} [data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=label)
    )
    return card.first.locator('[data-testid="stMetricValue"]').inner_text()


def test_journey_from_an_empty_store_to_a_report(page, app_url):
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(app_url)
    page.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=60_000)
    _settled(page)
    assert page.get_by_text("no finished run to analyse yet").is_visible()
    _shot(page, "overview_empty")

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

    # Drift: set a baseline from the first part of the run.
    _go(page, "Drift")
    page.get_by_role("button", name="Set baseline").click()
    page.get_by_text("Baseline of model").wait_for(timeout=60_000)
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
