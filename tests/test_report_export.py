"""Exports of a run: the analysis, CSV/JSON tables and the self-contained HTML report."""

from __future__ import annotations

import json
import re
import zipfile

import pytest

from core.backtest import BacktestConfig, run_backtest
from core.errors import ConfigError, StoreError
from core.reports.html_report import build_report, render_html, report_figures
from core.reports.tables import (
    analyze_stored_run,
    atomic_write,
    load_run_report,
    write_tables_csv,
)
from core.store import Store

NAME = '<img src=x onerror="alert(1)"> & co'


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    """A small backtest on the seeded synthetic market (about 750 trades)."""
    data_dir = tmp_path_factory.mktemp("export") / "data"
    result = run_backtest(
        BacktestConfig(
            source="synthetic", n_symbols=10, n_days=1000, data_dir=str(data_dir), name=NAME
        )
    )
    return data_dir, result


@pytest.fixture(scope="module")
def analysis(synthetic_run):
    data_dir, result = synthetic_run
    with Store(data_dir) as store:
        return analyze_stored_run(store, result.run_id, threshold_windows=4)


def test_analysis_of_a_stored_backtest(analysis, synthetic_run):
    _, result = synthetic_run
    assert analysis.run.synthetic and analysis.run.id == result.run_id
    assert analysis.key == "confidence" and analysis.threshold == pytest.approx(0.6)
    assert analysis.run_report_source.startswith("json report ")
    metrics = analysis.run_metrics().set_index("metric")
    assert metrics.loc["n_trades", "baseline"] == result.baseline.n_trades
    assert metrics.loc["win_rate", "filtered"] == pytest.approx(result.filtered.win_rate)
    assert analysis.equity_kind == "summed_pct"
    assert list(analysis.equity.columns) == ["baseline", "filtered"]
    assert analysis.equity["baseline"].iloc[-1] == pytest.approx(result.trades["return_pct"].sum())
    assert set(analysis.calibrators) == {"platt", "isotonic", "beta", "histogram"}
    assert analysis.calibration is analysis.calibrators["isotonic"]
    assert analysis.thresholds is not None and analysis.thresholds.walk_forward is not None
    tables = analysis.tables()
    assert {"run_metrics", "confidence_deciles", "calibration_totals", "calibrators",
            "threshold_sweep", "threshold_sample_comparison"} <= set(tables)  # fmt: skip
    json.dumps(analysis.to_dict(), allow_nan=False)


def test_load_run_report_falls_back_to_the_event(synthetic_run, tmp_path):
    data_dir, result = synthetic_run
    with Store(data_dir) as store:
        report, source = load_run_report(store, result.run_id)
        assert source.startswith("json report") and report["run_id"] == result.run_id
        result.report_path.rename(tmp_path / "moved.json")
        try:
            report, source = load_run_report(store, result.run_id)
        finally:
            (tmp_path / "moved.json").rename(result.report_path)
    assert source == "METRIC_RECORDED event"
    assert report["applied_threshold"] == pytest.approx(0.6)
    assert report["baseline"]["n_trades"] == result.baseline.n_trades


def test_html_report_is_self_contained_and_labelled(analysis):
    page = render_html(analysis)
    figs = report_figures(analysis)
    assert list(figs) == [
        "confidence_over_time", "deciles", "reliability", "calibrators", "calibration_samples",
        "sweep_sharpe", "sweep_win_rate", "threshold_samples", "equity",
    ]  # fmt: skip
    # plotly.js once, inline; no network fetch anywhere
    assert page.count('<script type="text/javascript">') == 1
    assert not re.search(r"<script[^>]+src=", page)
    head, rest = page.split('<script type="text/javascript">', 1)
    library, body = rest.split("</script>", 1)
    assert len(library) > 3_000_000  # plotly.min.js itself
    assert "http" not in head and "cdn.plot.ly" not in body
    assert f'data-charts="{len(figs)}"' in page
    assert page.count('<div class="chart"') == len(figs)
    assert page.count("Plotly.newPlot(") == len(figs)
    # synthetic data is labelled prominently, config and fingerprint are shown
    assert 'id="synthetic-banner"' in page and "SYNTHETIC DATA" in page
    assert analysis.run.data_fingerprint in page and analysis.run.config_hash in page
    assert '<pre id="config">' in page and "&quot;n_symbols&quot;: 10" in page
    # in sample and out of sample side by side, labelled
    assert page.count('<div class="side-by-side">') == 2
    assert page.count('<section class="in-sample"><h3>In sample:') == 2
    assert page.count('<section class="out-of-sample"><h3>Out of sample:') == 2


def test_html_report_escapes_user_strings(analysis):
    page = render_html(analysis)
    assert NAME not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; co" in page
    assert "<img" not in page


def test_html_report_of_a_real_market_run_has_no_synthetic_banner(analysis):
    real = analysis.__class__(**{**analysis.__dict__, "run": analysis.run.__class__(
        **{**analysis.run.__dict__, "synthetic": False, "source": "sample"})})  # fmt: skip
    page = render_html(real)
    assert "SYNTHETIC DATA" not in page and "Data: sample (backtest)" in page


def test_build_report_with_daily_equity(synthetic_run, tmp_path):
    data_dir, result = synthetic_run
    with Store(data_dir) as store:
        path = build_report(store, result.run_id, out=tmp_path / "r.html", equity=result.equity,
                            threshold_windows=3)  # fmt: skip
    page = path.read_text(encoding="utf-8")
    assert "Equity \\u2014 baseline against the filtered book" in page  # plotly JSON escapes —
    assert "Rebuilt from the stored trades" not in page


def test_build_report_default_paths_and_format_check(synthetic_run):
    data_dir, result = synthetic_run
    reports = data_dir.resolve().parent / "reports"
    with Store(data_dir) as store:
        json_path = build_report(store, result.run_id, format="json", threshold_windows=3)
        with pytest.raises(ConfigError, match="format must be one of html, json, csv"):
            build_report(store, result.run_id, format="pdf")
    assert json_path == reports / f"{result.run_id}-analysis.json"
    # the backtest's own report is left alone
    assert json.loads(result.report_path.read_text())["run_id"] == result.run_id
    assert json.loads(json_path.read_text())["tables"]["confidence_deciles"]["rows"]


def test_csv_exports_are_atomic_and_replace_whole(analysis, tmp_path):
    tables = analysis.tables()
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "stale.csv").write_text("old")
    write_tables_csv(tables, folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.csv" for n in tables)
    archive = write_tables_csv(tables, tmp_path / "t.zip")
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == sorted(f"{n}.csv" for n in tables)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.zip", "tables"]


def test_atomic_write_replaces_and_reports_unwritable(tmp_path):
    target = atomic_write(tmp_path / "a" / "x.txt", "one")
    atomic_write(target, b"two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["x.txt"]
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot write"):
        atomic_write(tmp_path / "file" / "x.txt", "z")
