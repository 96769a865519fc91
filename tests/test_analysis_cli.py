"""``signal-lab analyze | calibrate | sweep | report`` on an imported, seeded signal log."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from core.cli import build_parser, main
from core.importer import import_signal_log
from core.store import Store

N_TRADES = 1_200


def write_signal_log(path, n: int = N_TRADES, *, seed: int = 3) -> None:
    """A seeded log whose win probability rises with confidence."""
    rng = np.random.default_rng(seed)
    conf = rng.beta(2.0, 2.0, n).round(6)
    win = rng.random(n) < 0.3 + 0.4 * conf
    size = rng.lognormal(0.0, 0.5, n).round(6) + 0.01
    ret = np.where(win, size, -size)
    pd.DataFrame(
        {
            "timestamp": pd.date_range("2015-01-01", periods=n, freq="D", tz="UTC"),
            "symbol": rng.choice(["AAPL", "MSFT", "IBM"], n),
            "confidence": conf,
            "return_pct": ret,
            "holding_days": 2,
            "momentum": rng.normal(size=n),
        }
    ).to_parquet(path)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """(data_dir, run_id) of the imported log, shared by the module's tests."""
    root = tmp_path_factory.mktemp("analysis_cli")
    log = root / "signals.parquet"
    write_signal_log(log)
    data_dir = root / "data"
    with Store(data_dir) as store:
        result = import_signal_log(log, store=store, name="seeded <log>")
    return data_dir, result.run_id


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv: str) -> dict:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_commands_are_registered_and_documented():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("analyze", "calibrate", "sweep", "report"):
        assert name in sub.choices
        assert sub.choices[name].description


def test_analyze_prints_every_table(capsys, imported):
    data_dir, run_id = imported
    code, out, _ = run(capsys, "analyze", run_id, "--data-dir", str(data_dir))
    assert code == 0
    assert out.startswith(f"run {run_id} (import 'seeded <log>'; 1,200 trades)")
    for heading in ("Distribution", "Correlations (95% Fisher-z intervals)",
                    "Deciles of confidence", "Calibration (10 uniform bins)"):  # fmt: skip
        assert f"\n{heading}" in out
    assert "point_biserial" in out and "ece_high" in out


def test_analyze_json(capsys, imported):
    data_dir, run_id = imported
    payload = run_json(capsys, "analyze", run_id, "--data-dir", str(data_dir), "--bins", "5")
    assert payload["run_id"] == run_id and payload["synthetic"] is False
    assert payload["key"] == "confidence" and payload["n_scored"] == N_TRADES
    assert len(payload["deciles"]["rows"]) == 5
    assert payload["summary"]["count"] == N_TRADES
    pb = next(r for r in payload["correlations"]["rows"] if r["method"] == "point_biserial")
    assert pb["estimate"] > 0.1 and pb["ci_low"] < pb["estimate"] < pb["ci_high"]
    cal = payload["calibration"]
    assert cal["ece_low"] <= cal["ece"] <= cal["ece_high"]


def test_analyze_computes_missing_calibrated_probability(capsys, imported):
    data_dir, run_id = imported
    payload = run_json(capsys, "analyze", run_id, "--data-dir", str(data_dir),
                       "--key", "calibrated_probability", "--method", "platt",
                       "--calibration-windows", "6")  # fmt: skip
    assert payload["key"] == "calibrated_probability"
    assert payload["mapping"]["label"] == "platt, walk-forward, 6 windows"
    # the first window has no history: those trades are not scored
    assert 0 < payload["n_scored"] < N_TRADES


def test_calibrate_split_and_walk_forward(capsys, imported):
    data_dir, run_id = imported
    with Store(data_dir) as store:
        events_before = store.count_events(run_id=run_id)
    code, out, _ = run(capsys, "calibrate", run_id, "--data-dir", str(data_dir),
                       "--method", "beta")  # fmt: skip
    assert code == 0
    assert "one chronological split: beta fitted on the first half" in out
    assert "In sample vs out of sample (6" in out and "out_of_sample" in out
    assert "key mapping: beta, one chronological split" in out
    assert out.rstrip().endswith("nothing else was written to the store.")

    payload = run_json(capsys, "calibrate", run_id, "--data-dir", str(data_dir),
                       "--method", "isotonic", "--walk-forward", "--windows", "6")  # fmt: skip
    assert payload["walk_forward"] is True and payload["n_windows"] == 6
    assert len(payload["windows"]) == 6
    assert payload["windows"][0]["status"] == "insufficient history"
    assert payload["out_of_sample"]["n"] == payload["n_evaluated"] > 0
    # in sample flatters the calibrator: its ECE is below the out-of-sample one
    assert payload["in_sample"]["ece"] < payload["out_of_sample"]["ece"]
    with Store(data_dir) as store:  # only the two trials in the ledger, no probability
        assert store.count_events(run_id=run_id) == events_before  # the run is untouched
        trials = store.query_events(event_type="TRIAL_RECORDED")
        assert sum(e.payload.get("run_id") == run_id for e in trials) >= 2
        assert store.trades_frame(run_id)["calibrated_probability"].isna().all()


def test_calibrate_with_too_little_history_says_so(capsys, imported):
    data_dir, run_id = imported
    code, out, _ = run(capsys, "calibrate", run_id, "--data-dir", str(data_dir),
                       "--min-train", "5000")  # fmt: skip
    assert code == 0
    assert "nothing scored out of sample; lower --min-train" in out


def test_sweep_text(capsys, imported):
    data_dir, run_id = imported
    code, out, _ = run(capsys, "sweep", run_id, "--data-dir", str(data_dir), "--windows", "4")
    assert code == 0
    assert "absolute thresholds (confidence >= threshold)" in out.splitlines()[0]
    assert "\nSweep (returns in %, Sharpe per trade)" in out
    assert "\nIn-sample choice (max sharpe, >= 30 trades)" in out
    assert "\nIn sample vs out of sample (walk-forward, 4 windows)" in out
    assert "dsr" in out and "pbo" in out


def test_sweep_json_with_bands(capsys, imported):
    data_dir, run_id = imported
    payload = run_json(capsys, "sweep", run_id, "--data-dir", str(data_dir), "--bands",
                       "--objective", "win_rate", "--min-trades", "50", "--windows", "3")  # fmt: skip
    sweep = payload["sweep"]
    assert sweep["bands"] is True and "sharpe_low" in sweep["columns"]
    assert len(sweep["rows"]) == 101
    choice = payload["choice"]
    assert choice["objective"] == "win_rate" and choice["trades"] >= 50
    # every threshold tried counts as a trial of the deflated Sharpe ratio, and so does
    # every trial in the signal's ledger (this sweep included)
    assert payload["ledger_count"] >= 101
    assert payload["deflated"]["n_trials"] == payload["ledger_count"]
    assert payload["dsr"]["n_trials"] == payload["ledger_count"]
    assert 0.0 <= payload["pbo"]["pbo"] <= 1.0
    assert set(payload["walk_forward"]["summary"]) == {
        "in_sample", "out_of_sample", "baseline_out_of_sample"
    }  # fmt: skip


def test_sweep_percentile_on_computed_calibrated_probability(capsys, imported):
    data_dir, run_id = imported
    code, out, _ = run(capsys, "sweep", run_id, "--data-dir", str(data_dir), "--key",
                       "calibrated_probability", "--percentile", "--windows", "3")  # fmt: skip
    assert code == 0
    lines = out.splitlines()
    assert "percentile thresholds (% of trades kept)" in lines[0]
    assert lines[1].startswith("key mapping: isotonic, walk-forward, 12 windows (")


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("html", "report.html"), ("json", "report.json"), ("csv", "tables.zip"), ("csv", "tables")],
)
def test_report_formats(capsys, imported, tmp_path, fmt, name):
    data_dir, run_id = imported
    out = tmp_path / name
    payload = run_json(capsys, "report", run_id, "--data-dir", str(data_dir),
                       "--format", fmt, "--out", str(out))  # fmt: skip
    assert payload == {"run_id": run_id, "format": fmt, "path": str(out)}
    assert out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left over
    if fmt == "html":
        text = out.read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>") and "Plotly.newPlot" in text
        assert "seeded &lt;log&gt;" in text and "seeded <log>" not in text
    elif fmt == "json":
        data = json.loads(out.read_text(encoding="utf-8"))
        assert data["run"]["id"] == run_id
        assert {"confidence_deciles", "threshold_sweep", "calibrators"} <= set(data["tables"])
    elif out.suffix == ".zip":
        with zipfile.ZipFile(out) as archive:
            members = set(archive.namelist())
        assert {"confidence_deciles.csv", "threshold_sweep.csv", "run_metrics.csv"} <= members
    else:
        deciles = pd.read_csv(out / "confidence_deciles.csv")
        assert len(deciles) == 10 and deciles["count"].sum() == N_TRADES


def test_report_default_location(capsys, imported):
    data_dir, run_id = imported
    code, out, _ = run(capsys, "report", run_id, "--data-dir", str(data_dir), "--format", "csv")
    assert code == 0
    expected = data_dir.resolve() / "reports" / f"{run_id}-tables.zip"
    assert out.strip() == f"wrote the csv report of run {run_id} to {expected}"
    assert expected.is_file()


def test_unknown_run_is_a_clear_error(capsys, imported):
    data_dir, _ = imported
    code, out, err = run(capsys, "analyze", "run-nope", "--data-dir", str(data_dir))
    assert code == 2 and out == ""
    assert "no run 'run-nope'" in err and "signal-lab runs" in err


def test_bad_option_is_refused(capsys, imported):
    data_dir, run_id = imported
    with pytest.raises(SystemExit) as exc:
        main(["calibrate", run_id, "--data-dir", str(data_dir), "--method", "magic"])
    assert exc.value.code == 2
    assert "invalid choice: 'magic'" in capsys.readouterr().err


# --------------------------------------------------------------------------- honest decisions


@pytest.fixture()
def fresh(tmp_path):
    """(data_dir, run_id, signal) of a fresh store: ledger counts start at zero."""
    log = tmp_path / "fresh.parquet"
    write_signal_log(log, seed=5)
    with Store(tmp_path / "data") as store:
        result = import_signal_log(log, store=store, name="fresh")
        signal = store.get_run(result.run_id).signal
    return tmp_path / "data", result.run_id, signal


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("raw", "raw confidence"),
        ("confidence", "raw confidence"),
        ("platt", "platt, walk-forward, 12 windows"),
        ("beta", "beta, walk-forward, 12 windows"),
        ("calibrated_probability", "isotonic, walk-forward, 12 windows"),
    ],
)
def test_key_chooses_the_mapping_and_prints_it(capsys, imported, key, label):
    data_dir, run_id = imported
    code, out, _ = run(capsys, "analyze", run_id, "--data-dir", str(data_dir), "--key", key)
    assert code == 0
    assert f"key mapping: {label} (" in out.splitlines()[1]
    assert "Spiegelhalter z" in out and "95 % CI" in out


def test_production_key_without_a_production_calibrator_says_how(capsys, imported):
    data_dir, run_id = imported
    code, _, err = run(capsys, "sweep", run_id, "--data-dir", str(data_dir), "--key", "production")
    assert code == 2
    assert "no production calibrator" in err and "promote" in err


def test_production_key_scores_only_after_the_training_window(capsys, fresh):
    from core.lifecycle.registry import ModelRegistry

    data_dir, run_id, signal = fresh
    with Store(data_dir) as store:
        registry = ModelRegistry(store)
        first = store.trades_frame(run_id).iloc[:600]
        version = registry.register_calibrator(signal, first, method="platt", run_id=run_id)
        registry.promote(signal, version.version, to_stage="production", force=True,
                         reason="test")  # fmt: skip
    payload = run_json(capsys, "analyze", run_id, "--data-dir", str(data_dir), "--key",
                       "production")  # fmt: skip
    assert payload["mapping"]["method"] == "production"
    assert payload["mapping"]["n_scored"] == N_TRADES - 600
    assert payload["n_scored"] == N_TRADES - 600


def test_sweep_records_a_trial_and_prints_the_dsr_with_what_deflated_it(capsys, fresh):
    data_dir, run_id, _ = fresh
    code, out, _ = run(capsys, "sweep", run_id, "--data-dir", str(data_dir), "--windows", "3")
    assert code == 0
    assert "key mapping: raw confidence" in out
    dsr_line = next(line for line in out.splitlines() if line.startswith("deflated Sharpe:"))
    assert "N 101" in dsr_line and "N_eff" in dsr_line and " V " in dsr_line
    assert "method" in dsr_line
    assert any(line.startswith("verdict: ") and "PBO" in line for line in out.splitlines())
    assert "Threshold stability" in out and "stable region" in out
    # the same settings again: not a new trial; another objective: 101 more
    run(capsys, "sweep", run_id, "--data-dir", str(data_dir), "--windows", "3")
    payload = run_json(capsys, "sweep", run_id, "--data-dir", str(data_dir), "--windows", "3",
                       "--objective", "win_rate")  # fmt: skip
    assert payload["ledger_count"] == 202
    assert payload["dsr"]["n_trials"] == 202 and payload["dsr"]["n_source"] == "ledger"
    assert payload["deflated"]["n_trials"] == 202
    stab = payload["stability"]
    assert stab["low"] <= stab["median"] <= stab["high"]
    assert stab["stable_low"] <= stab["best_threshold"] <= stab["stable_high"]


def test_sweep_guarantee(capsys, fresh):
    data_dir, run_id, _ = fresh
    code, out, _ = run(capsys, "sweep", run_id, "--data-dir", str(data_dir), "--windows", "3",
                       "--guarantee", "0.55", "--delta", "0.2")  # fmt: skip
    assert code == 0
    section = out.split("Guaranteed win rate\n-------------------\n", 1)[1]
    assert "with 80 % confidence the win rate of kept trades is >= 55%" in section
    assert "out-of-sample check on the later 600 trades" in section
    payload = run_json(capsys, "sweep", run_id, "--data-dir", str(data_dir), "--windows", "3",
                       "--guarantee", "0.52")  # fmt: skip
    g = payload["guarantee"]
    assert g["target_win_rate"] == 0.52 and g["delta"] == 0.1
    assert g["threshold"] is not None and g["fit_lower_bound"] >= 0.52
    assert g["oos_met"] == (g["oos_win_rate"] >= 0.52)
    # asking too much: no threshold is certified, and the output says so
    code, out, _ = run(capsys, "sweep", run_id, "--data-dir", str(data_dir), "--windows", "3",
                       "--guarantee", "0.55")  # fmt: skip
    assert code == 0 and "no threshold keeps trades winning >= 55 % with 90 % confidence" in out


def test_ledger_command_lists_and_resets_with_a_reason(capsys, fresh):
    data_dir, run_id, signal = fresh
    run(capsys, "sweep", run_id, "--data-dir", str(data_dir), "--windows", "3")
    run(capsys, "calibrate", run_id, "--data-dir", str(data_dir), "--key", "platt")
    payload = run_json(capsys, "ledger", signal, "--data-dir", str(data_dir))
    assert payload["count"] == 102
    assert [e["kind"] for e in payload["entries"]] == ["sweep", "calibrator_comparison"]
    code, _, err = run(capsys, "ledger", signal, "--data-dir", str(data_dir), "--reset")
    assert code == 2 and "--reason" in err
    code, out, _ = run(capsys, "ledger", signal, "--data-dir", str(data_dir), "--reset",
                       "--reason", "new data")  # fmt: skip
    assert code == 0 and f"signal {signal}: 0 trials" in out and "new data" in out
    payload = run_json(capsys, "ledger", signal, "--data-dir", str(data_dir), "--all")
    assert payload["count"] == 0 and len(payload["entries"]) == 2
