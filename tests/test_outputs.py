"""Output files a user asks for: no surprise overwrite, no links, no devices; safe CSV."""

from __future__ import annotations

import csv
import io
import os
import stat

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.cli import main
from core.csvsafe import FORMULA_PREFIXES, csv_bytes, neutralise_formulas
from core.errors import OutputError
from core.outputs import new_file_mode, write_output

# ----------------------------------------------------------------------------- write_output


def test_a_new_file_gets_a_normal_mode_and_the_data(tmp_path):
    path = write_output(tmp_path / "sub" / "r.html", "<p>hi</p>")
    assert path.read_text() == "<p>hi</p>"
    assert stat.S_IMODE(path.stat().st_mode) == new_file_mode()
    assert [p.name for p in path.parent.iterdir()] == ["r.html"]  # no temporary left


def test_an_existing_file_is_kept_without_overwrite(tmp_path):
    target = tmp_path / "r.html"
    target.write_text("mine")
    with pytest.raises(OutputError, match="already exists; pass --force"):
        write_output(target, "new")
    assert target.read_text() == "mine"
    os.chmod(target, 0o600)
    write_output(target, "new", overwrite=True)
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == new_file_mode()


def test_a_link_is_never_written_through_or_replaced(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "out.html"
    link.symlink_to(victim)
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="symbolic link"):
            write_output(link, "x", overwrite=overwrite)
    assert link.is_symlink() and victim.read_text() == "keep"


def test_a_device_or_a_folder_is_refused(tmp_path):
    with pytest.raises(OutputError, match="not a regular file"):
        write_output("/dev/null", "x", overwrite=True)
    (tmp_path / "dir").mkdir()
    with pytest.raises(OutputError, match="not a regular file"):
        write_output(tmp_path / "dir", "x", overwrite=True)


# ----------------------------------------------------------------------------- csv


@pytest.mark.parametrize(
    "cell",
    ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"],
)
def test_formula_cells_are_neutralised(cell):
    frame = pd.DataFrame({"symbol": [cell, "AAPL"], "return_pct": [-1.5, 2.0]})
    rows = list(csv.reader(io.StringIO(csv_bytes(frame).decode(), newline="")))
    assert rows[1][0] == "'" + cell
    assert rows[2][0] == "AAPL"
    assert rows[1][1] == "-1.5"  # a negative number stays a number


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_no_text_cell_can_start_a_formula(cells):
    out = neutralise_formulas(pd.DataFrame({"c": cells}))
    for before, after in zip(cells, out["c"], strict=True):
        assert not after.startswith(FORMULA_PREFIXES)
        assert after in (before, "'" + before)


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture
def imported(tmp_path):
    log = tmp_path / "log.csv"
    symbols = ['=HYPERLINK("http://evil")', "@SUM(A1)", "AAPL", "+cmd"] * 15
    pd.DataFrame(
        {
            "timestamp": pd.date_range("2020-01-02", periods=60, freq="D"),
            "symbol": symbols,
            "confidence": [0.4 + 0.005 * i for i in range(60)],
            "return_pct": [(-1.0) ** i * (1 + i % 3) for i in range(60)],
        }
    ).to_csv(log, index=False)
    data_dir = tmp_path / "data"
    assert main(["import", str(log), "--data-dir", str(data_dir)]) == 0
    return data_dir


def test_the_events_csv_export_neutralises_formulas_and_refuses_to_overwrite(
    tmp_path, imported, capsys
):
    out = tmp_path / "events.csv"
    assert main(["events", "--data-dir", str(imported), "--csv", str(out)]) == 0
    text = out.read_text()
    assert "'=HYPERLINK" in text and "'@SUM" in text
    assert "\n=" not in text and ",=" not in text and ",@" not in text
    capsys.readouterr()
    assert main(["events", "--data-dir", str(imported), "--csv", str(out)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(["events", "--data-dir", str(imported), "--csv", str(out), "--force"]) == 0


def test_report_out_refuses_to_overwrite_a_link_or_a_file(tmp_path, imported, capsys):
    run_id = __import__("core.store", fromlist=["Store"]).Store(imported).list_runs()[0].id
    target = tmp_path / "r.html"
    target.write_text("mine")
    args = ["report", run_id, "--data-dir", str(imported), "--out", str(target)]
    assert main(args) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert target.read_text() == "mine"
    link = tmp_path / "link.html"
    link.symlink_to(target)
    assert main([*args[:-1], str(link), "--force"]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    assert "<html" in target.read_text().lower()
    assert stat.S_IMODE(target.stat().st_mode) == new_file_mode()
