"""Monitoring in a real Chromium: a new signal, its baseline in one click, honest alerts.

Imports a seeded i.i.d. log as a new signal on a served dashboard whose store already
holds another signal's baseline; the Drift page must refuse to use that baseline and
offer to set one; a check of the rest of the i.i.d. log raises no alert; a degraded
log of the same signal then raises alerts with a severity, and one is acknowledged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from browser_helpers import LIVE, go, served, settled, shot, upload_log

from core.backtest import BacktestConfig, run_backtest
from core.lifecycle.drift import DriftMonitor
from core.store import Store

pytestmark = pytest.mark.browser

SIGNAL = "desk-iid"


def signal_log(n: int, *, p_win: float, seed: int, start: str) -> pd.DataFrame:
    """A seeded signal log: confidence ~ Beta(4, 4) carrying no information, P(win) fixed."""
    rng = np.random.default_rng(seed)
    win = rng.random(n) < p_win
    size = rng.gamma(2.0, 0.5, n) + 0.05
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=n, freq="6h", tz="UTC"),
            "symbol": rng.choice(["AAA", "BBB", "CCC"], n),
            "confidence": rng.beta(4, 4, n).round(6),
            "return_pct": np.where(win, size, -size).round(6),
            "holding_days": 1.0,
        }
    )


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("drift-journey")
    data_dir = root / "data"
    # Another signal with a baseline is already in the store: it must never be used.
    result = run_backtest(
        BacktestConfig(source="synthetic", n_symbols=5, n_days=400, data_dir=str(data_dir))
    )
    with Store(data_dir) as store:
        DriftMonitor(store).set_baseline_from_run(result.run_id, months=6)
    iid = root / "iid.csv"
    signal_log(3000, p_win=0.5, seed=7, start="2020-01-01").to_csv(iid, index=False)
    degraded = root / "degraded.csv"
    signal_log(1500, p_win=0.35, seed=8, start="2022-06-01").to_csv(degraded, index=False)
    with served(data_dir, root / "streamlit.log") as url:
        yield url, iid, degraded


def test_a_new_signal_gets_its_own_baseline_and_honest_alerts(page, app):
    url, iid, degraded = app
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=60_000)
    settled(page)

    upload_log(page, iid, signal=SIGNAL)
    go(page, "Drift")
    page.get_by_text(f"signal '{SIGNAL}' has no drift baseline yet").wait_for(timeout=60_000)
    assert page.get_by_text("never compared with another signal's baseline").is_visible()
    page.get_by_role("button", name="Set this run's first months as the baseline").click()
    page.get_by_text("Baseline in force").wait_for(timeout=120_000)
    settled(page)
    assert SIGNAL in page.locator(f"{LIVE} [data-testid='stAlert']").first.inner_text()

    page.get_by_role("button", name="Check and record alerts").click()
    page.get_by_text("Severity").first.wait_for(timeout=120_000)
    settled(page)
    summary = page.locator(f"{LIVE} [data-testid='stMarkdown']").filter(has_text="Severity")
    assert "Severity ok" in summary.first.inner_text()
    assert "0 new alert(s)" in summary.first.inner_text()
    shot(page, "drift_iid")

    # A degraded log of the same signal is checked against that signal's baseline.
    upload_log(page, degraded, signal=SIGNAL)
    go(page, "Drift")
    page.get_by_text("Baseline in force").wait_for(timeout=60_000)
    page.get_by_role("button", name="Check and record alerts").click()
    page.get_by_text("Severity").first.wait_for(timeout=120_000)
    settled(page)
    summary = page.locator(f"{LIVE} [data-testid='stMarkdown']").filter(has_text="Severity")
    text = summary.first.inner_text()
    assert "Severity critical" in text or "Severity warning" in text
    alerts = page.locator(f"{LIVE} [data-testid='stDataFrame']").last
    alerts.wait_for(timeout=30_000)
    page.get_by_role("button", name="Acknowledge").click()
    settled(page)
    shot(page, "drift_degraded")
    with Store(iid.parent / "data") as store:
        frame = DriftMonitor(store).alerts(SIGNAL)
    assert len(frame) > 0 and set(frame["severity"]) <= {"warning", "critical"}
    assert frame["acknowledged"].astype(bool).sum() == 1
    assert "win_rate" in set(frame["metric"])
