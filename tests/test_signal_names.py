"""Every run belongs to a named signal: store, migration, backtests, imports, CLI."""

from __future__ import annotations

import json
import sqlite3

import pytest

from core.backtest import BacktestConfig, run_backtest
from core.cli import main
from core.dashboard import rerun_config, synthetic_signal_log
from core.errors import ConfigError, StoreError
from core.importer import import_signal_log
from core.store import DB_FILENAME, Store
from core.store.schema import SCHEMA_VERSION, backtest_signal_name


def small(data_dir, **changes) -> BacktestConfig:
    return BacktestConfig(
        source="synthetic", n_symbols=3, n_days=300, seed=3, data_dir=str(data_dir), **changes
    )


# ----------------------------------------------------------------------------- the store


def test_a_run_cannot_be_created_without_a_signal(tmp_path):
    with Store(tmp_path) as store:
        with pytest.raises(TypeError, match="signal"):
            store.create_run(kind="backtest")  # type: ignore[call-arg]
        for bad, match in [("", "non-empty"), ("   ", "non-empty"), ("a\nb", "control"),
                           ("x" * 101, "at most 100")]:  # fmt: skip
            with pytest.raises(StoreError, match=match):
                store.create_run(kind="import", signal=bad)
        assert store.list_runs() == []
        run_id = store.create_run(kind="import", signal="  alpha  ")
        assert store.get_run(run_id).signal == "alpha"


def test_backtest_signal_names_come_from_what_defines_the_signals():
    assert backtest_signal_name({}) == "ensemble-agree3-hold5"
    assert backtest_signal_name({"min_agree": 2, "holding_days": 10}) == "ensemble-agree2-hold10"
    calibrated = {"signal_engine": "core.signals.ensemble.EnsembleSignalEngine[cal v2]"}
    assert backtest_signal_name(calibrated) == "ensemble-agree3-hold5"
    assert backtest_signal_name({"signal_engine": "my.models.MomentumModel"}) == "momentummodel"


def test_an_older_store_is_migrated_and_its_runs_named(tmp_path):
    """A store as the previous version wrote it (schema 3, no signal column)."""
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / DB_FILENAME)
    db.executescript(
        "DROP INDEX ix_runs_signal; ALTER TABLE runs DROP COLUMN signal;"
        "DELETE FROM _sqlite_migrations WHERE name = 'm004_signals';"
    )
    insert = (
        "INSERT INTO runs (id, kind, status, name, created, config) "
        "VALUES (?, ?, 'completed', ?, '2026-11-01T00:00:00+00:00', ?)"
    )
    db.execute(insert, ["run-a", "backtest", "bt", json.dumps({"min_agree": 2, "holding_days": 7})])
    db.execute(insert, ["run-b", "import", "my_log.csv", "{}"])
    db.commit()
    db.close()
    with Store(tmp_path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.get_run("run-a").signal == "ensemble-agree2-hold7"
        assert store.get_run("run-b").signal == "my_log.csv"
        assert set(store.signals_frame()["signal"]) == {"ensemble-agree2-hold7", "my_log.csv"}


# ----------------------------------------------------------------------------- runs


def test_backtests_reruns_and_imports_name_their_signal(tmp_path):
    data_dir = tmp_path / "data"
    first = run_backtest(small(data_dir))
    named = run_backtest(small(data_dir, signal="momentum v2"))
    with Store(data_dir) as store:
        run = store.get_run(first.run_id)
        assert run.signal == "ensemble-agree3-hold5"
        assert store.get_run(named.run_id).signal == "momentum v2"
        rerun = run_backtest(rerun_config(run, threshold=0.7))
        assert store.get_run(rerun.run_id).signal == run.signal  # a new threshold, same signal
    # the name labels the run; it does not change what is computed
    assert small(data_dir).config_hash("f" * 64) == small(data_dir, signal="x").config_hash(
        "f" * 64
    )
    log = tmp_path / "signals_2024.csv"
    synthetic_signal_log(200, seed=1).to_csv(log, index=False)
    with Store(data_dir) as store:
        default = import_signal_log(log, store=store)
        chosen = import_signal_log(log, store=store, signal="desk-7")
        assert store.get_run(default.run_id).signal == "signals_2024"
        assert store.get_run(chosen.run_id).signal == "desk-7"
        assert len(store.list_runs(signal="desk-7")) == 1


def test_a_bad_signal_name_is_a_config_error_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="non-empty"):
        small(tmp_path, signal=" ")
    assert not (tmp_path / DB_FILENAME).exists()


def test_the_cli_takes_and_shows_the_signal(tmp_path, capsys):
    data_dir = tmp_path / "data"
    log = tmp_path / "log.csv"
    synthetic_signal_log(150, seed=2).to_csv(log, index=False)
    assert main(["import", str(log), "--signal", "desk-7", "--data-dir", str(data_dir)]) == 0
    capsys.readouterr()
    assert main(["runs", "--data-dir", str(data_dir), "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["signal"] == "desk-7"
