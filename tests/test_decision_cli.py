"""Beyond the peers from the command line: size, segments, decay, open-book, models compare.

The numbers themselves are checked against references in test_sizing, test_segments,
test_decay, test_open_book and test_compare; here the commands must run the same
analytics on a stored run, out of sample, and report them.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.analytics.sizing import walk_forward_sizing
from core.backtest import BacktestConfig, run_backtest
from core.cli import main
from core.store import Store


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("decisions") / "data"
    result = run_backtest(BacktestConfig(data_dir=str(data_dir)))  # the real sample market
    return data_dir, result.run_id


def _json(capsys, *argv) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_size_reports_every_rule_out_of_sample(sample, capsys):
    data_dir, run_id = sample
    out = _json(capsys, "size", run_id, "--data-dir", str(data_dir))
    rows = out["table"]  # one row per sizing rule
    assert {"fixed", "threshold", "kelly", "ldp"} <= set(rows)
    assert {r["sample"] for r in rows.values()} == {"out_of_sample"}
    assert rows["fixed"]["mean_size"] == 1.0
    assert 0.0 <= rows["kelly"]["mean_size"] <= 1.0
    with Store(data_dir) as store:
        direct = walk_forward_sizing(store.trades_frame(run_id), calibrator="platt")
    assert rows["ldp"]["sharpe"] == pytest.approx(direct.table.loc["ldp", "sharpe"])


def test_segments_decay_and_open_book(sample, capsys):
    data_dir, run_id = sample
    d = ["--data-dir", str(data_dir)]
    seg = _json(capsys, "segments", run_id, "--by", "volatility", *d)
    assert list(seg["table"]) == ["low", "mid", "high"]
    assert sum(r["n"] for r in seg["table"].values()) > 900
    decay = _json(capsys, "decay", run_id, *d)
    assert list(decay["table"]) == ["1", "2", "3", "5", "10", "20"]  # horizons, days
    assert all(r["ic_low"] <= r["ic"] <= r["ic_high"] for r in decay["table"].values())
    book = _json(capsys, "open-book", run_id, "--n-open", "40", *d)
    assert book["forecast"]["n"] == 40
    assert np.isclose(sum(book["forecast"]["pmf"]), 1.0)
    assert 0.0 <= book["check"]["p_value"] <= 1.0


def test_models_compare_two_calibrator_versions(sample, capsys):
    data_dir, run_id = sample
    with Store(data_dir) as store:
        early = store.trades_frame(run_id)
        early = early[early["entry_time"] < "2006-01-01"]
    from core.learning import LearningEngine, LearningEngineConfig

    with LearningEngine(LearningEngineConfig(data_dir=data_dir)) as engine:
        engine.registry.register_calibrator("cmp", early, method="platt")
        engine.registry.register_calibrator("cmp", early, method="isotonic")
    out = _json(
        capsys, "models", "compare", "cmp", "1", "2", "--run", run_id, "--data-dir", str(data_dir)
    )
    assert list(out["table"]) == ["ece", "brier", "log_loss"]
    for row in out["table"].values():
        assert row["diff"] == pytest.approx(row["b"] - row["a"], abs=1e-12)
        assert row["diff_low"] <= row["diff_high"]
    assert "v2 - v1" in out["verdict"]


def test_decay_of_an_imported_log_says_what_it_needs(tmp_path, capsys):
    from core.dashboard import synthetic_signal_log

    log = tmp_path / "log.csv"
    synthetic_signal_log(300, seed=1).to_csv(log, index=False)
    d = ["--data-dir", str(tmp_path / "data")]
    assert main(["import", str(log), *d]) == 0
    run_id = json.loads(
        (capsys.readouterr(), main(["runs", "--json", *d]), capsys.readouterr())[2].out
    )[0]["id"]
    assert main(["decay", run_id, *d]) == 2
    assert "needs the market's prices" in capsys.readouterr().err


def test_decay_of_an_imported_log_from_the_users_price_file(tmp_path, capsys):
    """The same signals on the sample's own prices, written as a user's CSV of daily bars."""
    from core.data import load_market_data

    market = load_market_data(
        "sample", symbols=("AAPL", "MSFT"), start="2004-01-01", end="2008-12-31"
    )
    bars = market.to_long()
    prices = tmp_path / "bars.csv"
    bars.to_csv(prices, index=False)
    result = run_backtest(
        BacktestConfig(symbols=("AAPL", "MSFT"), start="2004-01-01", end="2008-12-31",
                       data_dir=str(tmp_path / "bt"))
    )  # fmt: skip
    log = tmp_path / "log.csv"
    trades = result.trades
    pd.DataFrame(
        {
            "timestamp": trades["entry_time"], "symbol": trades["symbol"],
            "side": trades["side"], "confidence": trades["confidence"],
            "return_pct": trades["return_pct"],
        }
    ).to_csv(log, index=False)  # fmt: skip
    d = ["--data-dir", str(tmp_path / "data")]
    assert main(["import", str(log), *d]) == 0
    capsys.readouterr()
    assert main(["runs", "--json", *d]) == 0
    run_id = json.loads(capsys.readouterr().out)[0]["id"]
    imported = _json(capsys, "decay", run_id, "--prices", str(prices), *d)
    backtest = _json(capsys, "decay", result.run_id, "--data-dir", str(tmp_path / "bt"))
    for h in ("1", "5", "20"):  # the same signals on the same prices: the same curve
        assert imported["table"][h]["ic"] == pytest.approx(backtest["table"][h]["ic"], abs=1e-9)


def test_open_book_of_imported_open_signals(tmp_path, capsys):
    """Rows without a return are open signals: forecast from a calibrator fitted on closed ones."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(4)
    n = 400
    conf = rng.beta(4, 4, n)
    ret = np.where(rng.random(n) < conf, 1.0, -1.0) * rng.uniform(0.5, 1.5, n)
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2022-01-03", periods=n, freq="D"),
            "symbol": "AAA",
            "confidence": conf.round(6),
            "return_pct": ret.round(6).astype(object),
        }
    )
    frame.loc[n - 25 :, "return_pct"] = ""  # the newest 25 have no outcome yet
    log = tmp_path / "book.csv"
    frame.to_csv(log, index=False)
    d = ["--data-dir", str(tmp_path / "data")]
    assert main(["import", str(log), *d]) == 0
    capsys.readouterr()
    assert main(["runs", "--json", *d]) == 0
    run_id = json.loads(capsys.readouterr().out)[0]["id"]
    out = _json(capsys, "open-book", run_id, *d)
    assert out["forecast"]["n"] == 25 and out["check"] is None
    assert np.isclose(sum(out["forecast"]["pmf"]), 1.0)
    assert 0.3 < out["forecast"]["expected_win_rate"] < 0.7
    assert main(["open-book", run_id, *d]) == 0
    assert "outcomes not known yet" in capsys.readouterr().out
