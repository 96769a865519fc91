"""Parameter grids: expansion, validation, and the same results on a Dask cluster as locally."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from core.backtest import BacktestConfig
from core.cli import main
from core.errors import ConfigError
from core.grid import GRID_METRICS, expand_grid, run_grid
from core.store import Store

#: Small synthetic market: 10 symbols x 300 days, a 2 x 2 grid.
BASE = {"source": "synthetic", "n_symbols": 10, "n_days": 300, "seed": 7}
GRID = {"holding_days": [3, 5], "threshold": [0.55, 0.65]}
METRIC_COLUMNS = [f"{book}_{m}" for book in ("baseline", "filtered") for m in GRID_METRICS]


def test_expand_grid_first_key_varies_slowest():
    combos = expand_grid({"a": [1, 2], "b": ["x", "y", "z"]})
    assert combos[:3] == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 1, "b": "z"}]
    assert len(combos) == 6


@pytest.mark.parametrize(
    ("grid", "match"),
    [
        ({}, "non-empty mapping"),
        ({"threshold": []}, "non-empty list"),
        ({"threshold": 0.6}, "non-empty list"),
        ({"holding_day": [3]}, "did you mean 'holding_days'"),
        ({"threshold": [1.5]}, "threshold=1.5 is out of range"),
    ],
)
def test_bad_grids_fail_before_anything_runs(tmp_path, grid, match):
    with pytest.raises(ConfigError, match=match):
        run_grid(BASE, grid, executor="thread", data_dir=tmp_path)
    assert not (tmp_path / "signal_lab.db").exists()


def _check_recorded(data_dir, result) -> None:
    with Store(data_dir) as store:
        for row in result.summary.itertuples():
            info = store.get_run(row.run_id)
            assert info.status == "completed" and info.synthetic
            assert info.config["holding_days"] == row.holding_days
            assert info.config["threshold"] == row.threshold


@pytest.fixture(scope="module")
def local_result(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("local")
    result = run_grid(BASE, GRID, data_dir=data_dir)  # the default local process pool
    return data_dir, result


def test_grid_on_the_local_process_pool(local_result):
    data_dir, result = local_result
    assert result.executor.startswith("process pool") and result.n_failed == 0
    summary = result.summary
    assert list(summary[["holding_days", "threshold"]].itertuples(index=False, name=None)) == [
        (3, 0.55), (3, 0.65), (5, 0.55), (5, 0.65),
    ]  # fmt: skip
    assert summary["run_id"].is_unique and len(result.run_ids) == 4
    assert (summary["filtered_n_trades"] <= summary["baseline_n_trades"]).all()
    assert (summary.loc[summary["threshold"] == 0.65, "filtered_n_trades"].to_numpy()
            <= summary.loc[summary["threshold"] == 0.55, "filtered_n_trades"].to_numpy()).all()  # fmt: skip
    _check_recorded(data_dir, result)
    best = result.best("filtered_sharpe_per_trade")
    assert best["filtered_sharpe_per_trade"] == summary["filtered_sharpe_per_trade"].max()
    json.dumps(result.to_dict(), default=str)


def test_grid_on_a_dask_cluster_matches_the_local_pool(tmp_path, local_result):
    distributed = pytest.importorskip("distributed")
    _, local = local_result
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        result = run_grid(BASE, GRID, executor=client.get_executor(), data_dir=tmp_path)
        workers = set(client.scheduler_info()["workers"])
    assert len(workers) == 2 and result.n_failed == 0
    assert result.executor == f"dask {cluster.scheduler_address}"
    _check_recorded(tmp_path, result)
    pd.testing.assert_frame_equal(
        result.summary[["holding_days", "threshold", "n_signals", *METRIC_COLUMNS]],
        local.summary[["holding_days", "threshold", "n_signals", *METRIC_COLUMNS]],
    )


def test_a_failing_combination_is_reported_not_fatal(tmp_path, monkeypatch):
    import core.grid as grid_module

    real = grid_module.run_grid_point

    def flaky(config):
        if config["threshold"] == 0.65:
            raise RuntimeError("no data today")
        return real(config)

    monkeypatch.setattr(grid_module, "run_grid_point", flaky)
    result = run_grid({**BASE, "n_symbols": 3, "n_days": 120}, {"threshold": [0.55, 0.65]},
                      executor="thread", data_dir=tmp_path)  # fmt: skip
    assert result.n_failed == 1
    assert result.summary.loc[1, "error"] == "RuntimeError: no data today"
    assert pd.isna(result.summary.loc[1, "run_id"]) and len(result.run_ids) == 1


def test_grid_cli(tmp_path, capsys):
    args = ["grid", "--holding-days", "3", "5", "--threshold", "0.6", "--source", "synthetic",
            "--n-symbols", "3", "--n-days", "120", "--executor", "thread",
            "--data-dir", str(tmp_path), "--json"]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"] == ["holding_days", "threshold"] and out["n_failed"] == 0
    assert [r["holding_days"] for r in out["rows"]] == [3, 5]
    assert BacktestConfig.from_dict({**BASE, "threshold": 0.6}).threshold == 0.6
