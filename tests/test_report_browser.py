"""The HTML report of the real sample backtest, opened in Chromium from a file:// URL.

Uses pytest-playwright's ``page`` with Debian's Chromium (the launch arguments come
from ``tests/conftest.py``); without /usr/bin/chromium the test is skipped, except
under ``CI=true`` where it fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.backtest import BacktestConfig, run_backtest
from core.cli import main

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parent / "screenshots" / "report.png"


def test_report_of_the_sample_backtest_draws_every_chart(tmp_path, page, capsys):
    data_dir = tmp_path / "data"
    result = run_backtest(BacktestConfig(data_dir=str(data_dir)))  # the real sample market
    out = tmp_path / "report.html"
    assert main(["report", result.run_id, "--data-dir", str(data_dir), "--out", str(out)]) == 0
    capsys.readouterr()
    html = out.read_text(encoding="utf-8")
    n_charts = int(re.search(r'<main data-charts="(\d+)">', html).group(1))
    assert n_charts == 14  # 9 analysis charts + sizing (2), segments, decay, open book

    errors: list[str] = []
    remote: list[str] = []
    page.set_viewport_size({"width": 1300, "height": 900})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "request",
        lambda req: remote.append(req.url) if not req.url.startswith("file:") else None,
    )
    page.goto(out.as_uri())
    page.wait_for_function(
        "n => document.querySelectorAll('div.js-plotly-plot .main-svg').length >= n",
        arg=n_charts,
        timeout=30_000,
    )
    plots = page.locator("div.js-plotly-plot")
    assert plots.count() == n_charts
    titles = []
    for i in range(n_charts):
        plot = plots.nth(i)
        assert plot.locator("svg.main-svg").count() >= 1
        titles.append(plot.locator(".gtitle").first.text_content())
    assert titles[0].startswith("Confidence over time")
    assert any(t.startswith("Reliability diagram — Confidence (") for t in titles)
    assert "Threshold sweep — Sharpe ratio per trade of the trades kept (Confidence)" in titles
    assert page.locator("section.in-sample h3").first.text_content().startswith("In sample:")
    assert (
        page.locator("section.out-of-sample h3").first.text_content().startswith("Out of sample:")
    )
    assert page.locator("#synthetic-banner").count() == 0  # the sample market is real
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert errors == []
    assert remote == []  # opens offline: nothing fetched from the network
