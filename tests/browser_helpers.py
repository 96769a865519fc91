"""What the browser journeys share: a served dashboard, waiting for Streamlit, screenshots.

Facts these rely on are in ``../shared/TESTING.md``: the app is started with
``streamlit run`` on a free port and is ready when ``/_stcore/health`` answers ``ok``;
during a rerun Streamlit keeps stale elements beside live ones, so selectors go
through :data:`LIVE`; ``stApp`` carries ``data-test-script-state``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "tests" / "screenshots"
LIVE = '[data-testid="stElementContainer"][data-stale="false"]'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(
    data_dir: Path, log: Path, *, env: Mapping[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[str]:
    """The dashboard served by ``streamlit run`` on ``data_dir``; yields its URL; stops it."""
    port = free_port()
    environ = {**os.environ, "SIGNAL_LAB_DATA_DIR": str(data_dir), **(env or {})}
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", *(["--", *args] if args else []),
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT
        )
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


def settled(page) -> None:
    """Wait until the script run triggered by the last action has finished."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(
        timeout=60_000
    )


def go(page, title: str) -> None:
    """Open a page from the sidebar navigation and wait for it."""
    page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=title).click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=30_000)
    settled(page)


def shot(page, name: str) -> None:
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


def metric(page, label: str) -> str:
    """The value of the live ``st.metric`` card labelled ``label``, or of the Thresholds
    slider panel's headline card (``pages/_live_panel.py``)."""
    panel = page.locator(f'{LIVE} .signal-lab-card[aria-label="{label}"]')
    if panel.count():
        return panel.first.locator(".signal-lab-card-value").inner_text()
    card = page.locator(f'{LIVE} [data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=label)
    )
    return card.first.locator('[data-testid="stMetricValue"]').inner_text()


def upload_log(page, path: Path, *, signal: str) -> None:
    """Import a signal log on the Events page as a run of ``signal``."""
    go(page, "Events")
    page.get_by_role("tab", name="Import a signal log").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    settled(page)
    box = page.get_by_label("Signal", exact=True)
    box.wait_for(timeout=60_000)
    box.fill(signal)
    box.press("Enter")
    settled(page)
    page.get_by_role("button", name="Import").filter(has_text="signal(s)").click()
    page.get_by_text("it is now the selected run").wait_for(timeout=120_000)
    settled(page)
