"""Serving the dashboard: fixed data directory, allowed stores, per-session uploads, text."""

from __future__ import annotations

import gc
import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.dashboard import (
    UploadSpace,
    available_stores,
    import_upload,
    md_text,
    preview_upload,
    server_settings,
    store_exists,
    synthetic_signal_log,
)
from core.errors import ConfigError
from core.store import Store

# ----------------------------------------------------------------------------- settings


def test_the_data_dir_comes_from_argv_then_secrets_then_environment(tmp_path):
    env = {"SIGNAL_LAB_DATA_DIR": str(tmp_path / "env")}
    secrets = {"data_dir": str(tmp_path / "secret")}
    argv = ["--data-dir", str(tmp_path / "argv")]
    assert server_settings(argv, secrets=secrets, environ=env).data_dir == tmp_path / "argv"
    assert server_settings([], secrets=secrets, environ=env).source == "secrets"
    assert server_settings([], environ=env).data_dir == tmp_path / "env"
    default = server_settings([], environ={})
    assert default.source == "default" and default.data_dir.is_absolute()
    # a test runner's own arguments are not the dashboard's business
    assert server_settings(["-q", "-x"], environ=env).source == "environment"


def test_allowed_roots_from_each_source(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    env = {"SIGNAL_LAB_ALLOWED_ROOTS": f"{a}{os.pathsep}{b}"}
    assert server_settings([], environ=env).allowed_roots == (a, b)
    assert server_settings(["--allowed-root", str(b)], environ=env).allowed_roots == (b,)
    assert server_settings([], secrets={"allowed_roots": [str(a)]}, environ={}).allowed_roots == (
        a,
    )
    with pytest.raises(ConfigError, match="allowed_roots from secrets must be a list"):
        server_settings([], secrets={"allowed_roots": 3}, environ={})


def test_only_existing_stores_inside_the_roots_are_offered(tmp_path):
    root = tmp_path / "root"
    for name in ("one", "two"):
        Store(root / name).close()
    (root / "empty").mkdir()
    Store(tmp_path / "outside").close()
    (root / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    Store(root / "one" / "deeper").close()  # two levels down: not offered
    settings = server_settings(
        ["--data-dir", str(tmp_path / "default"), "--allowed-root", str(root)], environ={}
    )
    offered = available_stores(settings)
    assert list(offered) == ["default (default)", "root/one", "root/two"]
    assert offered["root/two"] == root / "two"
    assert not store_exists(tmp_path / "default")


# ----------------------------------------------------------------------------- uploads


def test_two_sessions_uploading_the_same_name_import_their_own_files(tmp_path):
    store = Store(tmp_path / "data")
    first, second = UploadSpace(), UploadSpace()
    a = synthetic_signal_log(120, seed=1).to_csv(index=False).encode()
    b = synthetic_signal_log(7, seed=2).to_csv(index=False).encode()
    try:
        preview_a = preview_upload(store, "signals.csv", a, space=first)
        preview_b = preview_upload(store, "signals.csv", b, space=second)  # a second later
        assert preview_a.path != preview_b.path
        assert preview_a.path.parent != preview_b.path.parent
        done_a = import_upload(store, preview_a.path, space=first)
        done_b = import_upload(store, preview_b.path, space=second)
        assert (done_a.n_imported, done_b.n_imported) == (120, 7)
        assert len(store.trades_frame(done_a.run_id)) == 120
        assert first.files() == [] and second.files() == []  # deleted after import
        assert not (tmp_path / "data" / "uploads").exists()  # nothing shared on the server
    finally:
        store.close()
        first.close()
        second.close()


def test_an_upload_space_is_private_and_goes_away_with_its_session():
    space = UploadSpace()
    one = space.save("../../etc/passwd", b"x")
    two = space.save("../../etc/passwd", b"y")
    assert one != two and one.parent == space.path == two.parent
    assert re.fullmatch(r"passwd-\w+", one.name)  # the base name only, never a path
    assert (one.read_bytes(), two.read_bytes()) == (b"x", b"y")
    space.discard("/etc/hostname")  # outside the space: left alone
    folder = space.path
    del space
    gc.collect()
    assert not folder.exists()


def test_a_closed_space_refuses_new_files():
    space = UploadSpace()
    space.close()
    assert space.closed
    with pytest.raises(ConfigError, match="closed"):
        space.save("a.csv", b"")


# ----------------------------------------------------------------------------- text

_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:&\"'=/")


@given(st.text())
def test_md_text_escapes_every_markdown_character_and_keeps_the_text(value):
    out = md_text(value)
    # every special character is preceded by a backslash, and unescaping gives the text back
    assert re.sub(r"\\(.)", r"\1", out) == value.replace("\r", " ").replace("\n", " ")
    chars = iter(out)
    for ch in chars:
        if ch == "\\":
            assert next(chars) in _SPECIAL
        else:
            assert ch not in _SPECIAL


def test_md_text_defuses_an_image_beacon():
    assert "](" not in md_text("![x](http://127.0.0.1:9/b.png)")
    assert "<script>" not in md_text("<script>alert(1)</script>")
