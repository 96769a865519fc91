"""The slider panel's plotly.js asset: copied once, atomically, or refused cleanly."""

from __future__ import annotations

from pathlib import Path

import plotly
import pytest

from pages import _live_panel


@pytest.fixture
def static(monkeypatch, tmp_path):
    folder = tmp_path / "static"
    monkeypatch.setattr(_live_panel, "STATIC", folder)
    _live_panel.plotly_asset.cache_clear()
    yield folder
    _live_panel.plotly_asset.cache_clear()


def _package_copy() -> bytes:
    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()


def test_the_asset_is_the_plotly_packages_own_copy(static):
    assert _live_panel.plotly_asset()
    written = static / "plotly.min.js"
    assert written.read_bytes() == _package_copy()
    assert written.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in static.iterdir()] == ["plotly.min.js"]  # no temporary file left


def test_a_stale_or_linked_asset_is_replaced(static, tmp_path):
    static.mkdir()
    elsewhere = tmp_path / "elsewhere.js"
    elsewhere.write_text("not plotly")
    (static / "plotly.min.js").symlink_to(elsewhere)
    assert _live_panel.plotly_asset()
    target = static / "plotly.min.js"
    assert not target.is_symlink() and target.read_bytes() == _package_copy()
    assert elsewhere.read_text() == "not plotly"  # the link was replaced, not written through


def test_an_unwritable_place_falls_back(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(_live_panel, "STATIC", blocker / "static")  # cannot be a folder
    _live_panel.plotly_asset.cache_clear()
    try:
        assert _live_panel.plotly_asset() is False
    finally:
        _live_panel.plotly_asset.cache_clear()
