"""The store commands of the CLI: import, runs, events, health (in-process and as a script)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pandas as pd

from core.cli import main
from core.cli.common import emit

LOG = "timestamp,symbol,confidence,return_pct\n2020-01-02,AAPL,0.7,1.5\n2020-01-03,MSFT,0.4,-0.5\n"


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_runs_events_health(tmp_path, capsys):
    path = tmp_path / "log.csv"
    path.write_text(LOG)
    d = str(tmp_path / "data")
    code, out, _ = _run(capsys, "import", str(path), "--data-dir", d, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["n_imported"] == 2 and result["run_id"].startswith("run-")
    code, out, _ = _run(capsys, "runs", "--data-dir", d, "--json")
    (run,) = json.loads(out)
    assert run["id"] == result["run_id"] and run["kind"] == "import" and run["n_signals"] == 2
    code, out, _ = _run(capsys, "events", "--data-dir", d, "--type", "SIGNAL_ACCURACY", "--json")
    assert [e["return_pct"] for e in json.loads(out)] == [1.5, -0.5]
    code, out, _ = _run(capsys, "health", "--data-dir", d)
    assert code == 0 and "status: healthy" in out and "SIGNAL_GENERATED: 2" in out
    csv_path = tmp_path / "events.csv"
    assert main(["events", "--data-dir", d, "--csv", str(csv_path)]) == 0
    assert len(csv_path.read_text().splitlines()) == 5


def test_bad_file_exit_code_and_message(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(LOG + "2020-01-04,IBM,2.0,1.0\n")
    code, _, err = _run(capsys, "import", str(path), "--data-dir", str(tmp_path / "d"))
    assert code == 2
    assert "row 4: confidence 2.0 is outside [0, 1]" in err and "--skip-bad-rows" in err
    code, out, _ = _run(capsys, "import", str(path), "--data-dir", str(tmp_path / "d"), "--json")
    assert code == 2 and json.loads(out)["row_errors"][0]["row"] == 4
    code, out, _ = _run(capsys, "import", str(path), "--data-dir", str(tmp_path / "d"),
                        "--skip-bad-rows")  # fmt: skip
    assert code == 0 and "skipped: 1" in out


def test_environment_variable_sets_the_data_dir(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SIGNAL_LAB_DATA_DIR", str(tmp_path / "env"))
    code, out, _ = _run(capsys, "health", "--json")
    assert code == 0
    assert json.loads(out)["stats"]["db_path"] == str(tmp_path / "env" / "signal_lab.db")


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "core.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    for command in ("import", "runs", "events", "health"):
        assert command in out


def test_json_output_keeps_infinity_as_inf_in_frames_and_results(tmp_path, capsys):
    # A frame through emit (pandas' own to_json would print null for inf).
    frame = pd.DataFrame({"profit_factor": [np.inf, -np.inf, np.nan, 1.5],
                          "at": pd.to_datetime(["2020-01-02"] * 3 + [None], utc=True)})  # fmt: skip
    emit(argparse.Namespace(json=True), frame, "text")
    rows = json.loads(capsys.readouterr().out)
    assert [r["profit_factor"] for r in rows] == ["inf", "-inf", None, 1.5]
    assert rows[0]["at"] == "2020-01-02T00:00:00+00:00" and rows[3]["at"] is None
    # The real command: a threshold that keeps only winners has an infinite profit factor.
    rng = np.random.default_rng(0)
    conf = rng.random(60)
    ret = np.where(conf > 0.5, rng.uniform(0.1, 2.0, 60), rng.normal(-0.5, 1.0, 60))
    path = tmp_path / "log.csv"
    pd.DataFrame({"timestamp": pd.date_range("2020-01-01", periods=60, freq="D"), "symbol": "A",
                  "confidence": conf.round(3), "return_pct": ret.round(3)}).to_csv(path, index=False)  # fmt: skip
    d = str(tmp_path / "data")
    _, out, _ = _run(capsys, "import", str(path), "--data-dir", d, "--json")
    code, out, _ = _run(capsys, "sweep", json.loads(out)["run_id"], "--data-dir", d, "--json")
    assert code == 0
    sweep = json.loads(out)["sweep"]
    by_threshold = {r["threshold"]: r for r in sweep["rows"]}
    assert by_threshold[0.7]["win_rate"] == 1.0 and by_threshold[0.7]["profit_factor"] == "inf"
