"""The served dashboard in a real Chromium: deep links, hostile strings, safe CSV.

A store holds a log whose run name is a Markdown image beacon and whose symbols are a
``<script>`` tag and spreadsheet formulas. No page may fetch the beacon or open a
dialog; the events CSV must neutralise the formula cells; and on a freshly started
server a deep link must come back inside the app's frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser_helpers import go, served, settled

from core.importer import import_signal_log
from core.store import Store

pytestmark = pytest.mark.browser

BEACON = "![x](http://127.0.0.1:9/b.png)"
SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://127.0.0.1:9/x","click")'
PAGES = (
    "Overview",
    "Backtest",
    "Calibration",
    "Thresholds",
    "Drift",
    "Models",
    "Events",
    "Reports",
)


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(5)
    n = 400
    log = root / "hostile.csv"
    pd.DataFrame(
        {
            "timestamp": pd.date_range("2021-01-01", periods=n, freq="D", tz="UTC"),
            "symbol": np.array([SCRIPT, FORMULA, "@SUM(A1)", "AAPL"])[np.arange(n) % 4],
            "confidence": rng.beta(4, 4, n).round(6),
            "return_pct": rng.normal(0.05, 1.0, n).round(6),
        }
    ).to_csv(log, index=False)
    data_dir = root / "data"
    with Store(data_dir) as store:
        import_signal_log(log, store=store, name=BEACON, signal=f"{BEACON} {SCRIPT}")
    return data_dir


def test_a_deep_link_on_a_fresh_server_comes_back_inside_the_frame(page, hostile_store, tmp_path):
    with served(hostile_store, tmp_path / "streamlit.log") as url:
        page.goto(f"{url}/calibration")  # the very first request this server sees
        page.get_by_role("heading", name="Calibration", exact=True).wait_for(timeout=60_000)
        settled(page)
        assert page.get_by_text("Data directory (fixed by the server)").is_visible()
        links = page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()
        assert [t.strip().split("\n")[-1] for t in links] == list(PAGES)


def test_hostile_strings_are_shown_as_text_on_every_page(page, hostile_store, tmp_path):
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    with served(hostile_store, tmp_path / "streamlit.log") as url:
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=60_000)
        settled(page)
        assert BEACON in page.inner_text("body")  # shown, literally
        for name in PAGES:
            go(page, name)
            page.wait_for_timeout(500)
        # the Events page's CSV export neutralises formula cells
        go(page, "Events")
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name="matching events as CSV").click()
        text = Path(download.value.path()).read_text(encoding="utf-8")
    assert not [u for u in requests if "127.0.0.1:9" in u], "a hostile string made a request"
    assert dialogs == []
    assert "'=HYPERLINK" in text and "'@SUM(A1)" in text
    assert '"=HYPERLINK' not in text and '"@SUM' not in text
