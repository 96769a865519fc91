"""Shared fixtures: real SQLite stores in temporary folders, seeded data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.learning import LearningEngine, LearningEngineConfig
from core.store import Store

CHROMIUM = Path("/usr/bin/chromium")


def pytest_collection_modifyitems(config, items):
    """Run the browser tests last.

    pytest-playwright keeps an event loop running for the rest of the session once
    its fixtures start; tests that call ``asyncio.run`` must come before that.
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Launch Debian's Chromium: Playwright cannot download its own browser here.

    Without /usr/bin/chromium the browser tests are skipped with the command that
    installs it, except under ``CI=true``, where they fail.
    """
    if not CHROMIUM.exists():
        message = (
            f"{CHROMIUM} is missing; install it with `make browser` (apt-get install chromium)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def navigation_like_the_server(monkeypatch):
    """Route AppTest through ``st.navigation`` as a served app does.

    A ``pages/`` folder next to app.py puts Streamlit in its older pages-folder mode until
    ``st.navigation`` runs; the server leaves it at its first run, AppTest's page manager
    would keep it. Page tests use this with ``pytest.mark.usefixtures``.
    """
    from streamlit.runtime import pages_manager

    original = pages_manager.PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        pages_manager.PagesManager.uses_pages_directory = False

    monkeypatch.setattr(pages_manager.PagesManager, "__init__", init)


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def store(data_dir):
    with Store(data_dir) as s:
        yield s


@pytest.fixture
def engine(data_dir):
    with LearningEngine(LearningEngineConfig(data_dir=data_dir, max_events_memory=100)) as e:
        yield e


def make_signals(
    n: int, *, seed: int = 0, start: str = "2020-01-01"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded batch of signals and outcomes in the column layout of ``signal_rows``."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=n, freq="D", tz="UTC")
    confidence = rng.random(n)
    returns = rng.normal(0.1, 2.0, n).round(6)
    signals = pd.DataFrame(
        {
            "signal_id": [f"{i:08d}" for i in range(n)],
            "ts": ts,
            "symbol": rng.choice(["AAPL", "MSFT", "IBM"], n),
            "side": rng.choice([1, -1], n),
            "confidence": confidence,
            "num_agreeing_models": rng.integers(1, 6, n),
            "market_volatility": rng.uniform(0.1, 0.5, n),
            "signal_strength": rng.random(n),
            "holding_days": np.full(n, 5.0),
            "applied_threshold": np.full(n, 0.6),
        }
    )
    outcomes = pd.DataFrame(
        {
            "signal_id": signals["signal_id"],
            "ts": ts + pd.Timedelta(days=7),
            "symbol": signals["symbol"],
            "return_pct": returns,
            "win": returns > 0,
            "confidence_used": confidence,
        }
    )
    return signals, outcomes
