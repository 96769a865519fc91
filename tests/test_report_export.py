"""Exports of a run: the analysis, CSV/JSON tables and the self-contained HTML report."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
import zipfile
from html.parser import HTMLParser

import pytest

from core.backtest import BacktestConfig, run_backtest
from core.dashboard import synthetic_signal_log
from core.errors import ConfigError, StoreError
from core.importer import import_signal_log
from core.reports.html_report import build_report, render_html, report_figures
from core.reports.json_report import reports_dir
from core.reports.tables import (
    analyze_stored_run,
    atomic_write,
    load_run_report,
    write_tables_csv,
)
from core.store import Store

NAME = '<img src=x onerror="alert(1)"> & co'
SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'


class _Page(HTMLParser):
    """The elements and the visible text of an HTML page, as a browser parses them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._open.append(tag)

    def handle_endtag(self, tag):
        if tag in self._open:
            del self._open[len(self._open) - 1 - self._open[::-1].index(tag) :]

    def handle_data(self, data):
        if not self._open or self._open[-1] not in ("script", "style"):
            self.text.append(data)

    def count(self, tag: str) -> int:
        return sum(1 for t, _ in self.tags if t == tag)


def _parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    parsed.close()
    return parsed


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
    assert analysis.run_report_source == "METRIC_RECORDED event"
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


def test_headline_numbers_come_from_the_stored_event_not_a_report_file(synthetic_run, tmp_path):
    data_dir, result = synthetic_run
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    bogus = {
        "run_id": result.run_id,
        "applied_threshold": 0.9,
        "confidence_key": "calibrated_probability",
        "baseline_performance": {"n_trades": 1, "win_rate": 0.99},
        "filtered_performance": {"n_trades": 1, "win_rate": 0.99},
        "improvement": {"win_rate": 0.5},
    }
    # where reports go (reports_dir), and where they went before (beside the data dir)
    for folder in {reports_dir(copy), tmp_path / "reports"}:
        folder.mkdir(exist_ok=True)
        (folder / f"{result.run_id}.json").write_text(json.dumps(bogus))
    with Store(copy) as store:
        report, source = load_run_report(store, result.run_id)
        analysis = analyze_stored_run(store, result.run_id, threshold_windows=3, methods=("platt",))
    assert source == "METRIC_RECORDED event"
    assert report["applied_threshold"] == pytest.approx(0.6)
    assert report["baseline"]["n_trades"] == result.baseline.n_trades
    metrics = analysis.run_metrics().set_index("metric")
    assert metrics.loc["n_trades", "baseline"] == result.baseline.n_trades
    assert metrics.loc["win_rate", "filtered"] == pytest.approx(result.filtered.win_rate)
    assert analysis.threshold == pytest.approx(0.6) and analysis.key == "confidence"


def test_a_run_without_a_metric_event_has_no_headline_numbers(tmp_path):
    log = tmp_path / "log.csv"
    synthetic_signal_log(300, seed=1).to_csv(log, index=False)
    with Store(tmp_path / "data") as store:
        run_id = import_signal_log(log, store=store, name="log").run_id
        folder = reports_dir(tmp_path / "data")
        folder.mkdir(exist_ok=True)
        (folder / f"{run_id}.json").write_text(
            json.dumps({"run_id": run_id, "baseline_performance": {"n_trades": 7}})
        )
        assert load_run_report(store, run_id) == (None, "none")


def test_html_report_is_self_contained_and_labelled(analysis):
    page = render_html(analysis)
    figs = report_figures(analysis)
    assert list(figs)[:9] == [
        "confidence_over_time", "deciles", "reliability", "calibrators", "calibration_samples",
        "sweep_sharpe", "sweep_win_rate", "threshold_samples", "equity",
    ]  # fmt: skip
    # then the decision charts this run allows (a synthetic market: sizing, segments, decay...)
    assert {"sizing_0", "sizing_1", "open_book_0"} <= set(list(figs)[9:])
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
    assert '<pre id="config">' in page
    config = page.split('<pre id="config">', 1)[1].split("</pre>", 1)[0]
    assert json.loads(html.unescape(config))["n_symbols"] == 10
    # in sample and out of sample side by side, labelled
    assert page.count('<div class="side-by-side">') == 2
    assert page.count('<section class="in-sample"><h3>In sample:') == 2
    assert page.count('<section class="out-of-sample"><h3>Out of sample:') == 2


def test_html_report_escapes_user_strings(analysis):
    page = render_html(analysis)
    assert NAME not in page and "<img" not in page
    parsed = _parse(page)
    assert parsed.count("img") == 0
    assert f"Signal Lab report — {NAME}" in "".join(parsed.text)


@pytest.mark.parametrize("payload", [SCRIPT, ATTRIBUTE], ids=["script", "attribute"])
def test_html_report_escapes_run_name_symbol_feature_column_and_error_text(analysis, payload):
    """Hostile strings everywhere user data reaches the page stay text, never markup."""
    run = dataclasses.replace(
        analysis.run,
        name=f"run {payload}",
        source=f"source {payload}",
        synthetic=False,
        config={**analysis.run.config, "symbols": [f"SYM{payload}"]},
    )
    feature = f"feature {payload}"  # a feature column, analysed as the confidence key
    report = dict(analysis.run_report)
    report["baseline"] = {**report["baseline"], f"metric {payload}": 1.0}
    hostile = dataclasses.replace(
        analysis,
        run=run,
        key=feature,
        trades=analysis.trades.assign(**{feature: analysis.trades["confidence"]}),
        run_report=report,
        notes=(f"error: {payload}",),
    )
    page = render_html(hostile)
    parsed = _parse(page)
    # no element or attribute was injected: one library script plus one per chart
    assert payload not in page
    assert parsed.count("img") == 0
    assert parsed.count("script") == 1 + len(report_figures(hostile))
    assert not any("onerror" in attrs for _, attrs in parsed.tags)
    # ... and the text a reader sees still says it literally
    text = "".join(parsed.text)
    for literal in (f"run {payload}", f"source {payload}", feature, f"metric {payload}",
                    f"error: {payload}"):  # fmt: skip
        assert literal in text, literal
    config = page.split('<pre id="config">', 1)[1].split("</pre>", 1)[0]
    assert json.loads(html.unescape(config))["symbols"] == [f"SYM{payload}"]


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
    reports = reports_dir(data_dir)
    own = reports / f"{result.run_id}.json"  # the backtest's own report, if it wrote one
    if not own.exists():
        own.parent.mkdir(parents=True, exist_ok=True)
        own.write_text(json.dumps({"run_id": result.run_id}))
    before = own.read_bytes()
    with Store(data_dir) as store:
        json_path = build_report(store, result.run_id, format="json", threshold_windows=3)
        with pytest.raises(ConfigError, match="format must be one of html, json, csv"):
            build_report(store, result.run_id, format="pdf")
    assert json_path == reports / f"{result.run_id}-analysis.json"
    assert own.read_bytes() == before  # left alone
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


def test_the_html_report_has_the_decision_sections(tmp_path):
    """Bet sizing, calibration by regime, signal decay and the open book, each out of sample."""
    from core.backtest import BacktestConfig, run_backtest
    from core.reports.html_report import build_report

    data_dir = tmp_path / "data"
    result = run_backtest(BacktestConfig(data_dir=str(data_dir), symbols=("AAPL", "MSFT", "IBM")))
    with Store(data_dir) as store:
        html = build_report(store, result.run_id, out=tmp_path / "r.html").read_text()
    section = html[html.index("Beyond the threshold") : html.index("<h2>Equity</h2>")]
    for title in ("Bet sizing", "Calibration by volatility regime", "How long does the edge last",
                  "Expected win rate of the newest signals"):  # fmt: skip
        assert title in section
    for div in ("fig-sizing_0", "fig-segments_0", "fig-decay_0", "fig-open_book_0"):
        assert f'id="{div}"' in section
    assert section.count("out of sample") >= 1 and "walk-forward" in section


# --------------------------------------------------------------------------- honest decisions


def test_the_report_states_the_mapping_and_a_verdict_after_deflation(synthetic_run, tmp_path):
    from core.lifecycle.ledger import TrialLedger

    data_dir, result = synthetic_run
    with Store(data_dir) as store:
        run = store.get_run(result.run_id)
        before = analyze_stored_run(store, result.run_id, key="platt", threshold_windows=4)
        TrialLedger(store).record(run.signal, run_id=run.id, kind="grid", n_trials=5000)
        after = analyze_stored_run(store, result.run_id, key="platt", threshold_windows=4)
        TrialLedger(store).reset(run.signal, reason="test done")
    assert before.mapping is not None and before.mapping_label == "platt, walk-forward, 12 windows"
    # the ledger's trials deflate the Sharpe ratio further: N grows, the DSR falls
    assert after.ledger_count == before.ledger_count + 5000
    assert after.dsr()["n_trials"] == after.ledger_count
    assert after.dsr()["n_source"] == "ledger"
    assert after.thresholds.deflated.dsr < before.thresholds.deflated.dsr
    verdict = after.verdict()
    assert verdict.startswith("filtered ")
    assert "after deflation (DSR " in verdict and "N_eff" in verdict
    assert f"N {after.ledger_count}" in verdict and "PBO " in verdict
    page = render_html(after)
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert f"Verdict: {verdict}." in " ".join(text.split())
    assert "platt, walk-forward, 12 windows" in text
    assert "Trials counted by the DSR (N)" in text and "(N_eff)" in text and "(V)" in text
    assert "Validation passed (in sample, before deflation" in text
    payload = after.to_dict()
    assert payload["verdict"] == verdict and payload["mapping"]["method"] == "platt"
    json.dumps(payload, allow_nan=False)


def test_the_html_report_compares_the_signals_newest_two_calibrators(tmp_path):
    from core.backtest import BacktestConfig, run_backtest
    from core.lifecycle.registry import ModelRegistry
    from core.reports.html_report import build_report

    data_dir = tmp_path / "data"
    result = run_backtest(BacktestConfig(data_dir=str(data_dir), symbols=("AAPL", "MSFT", "IBM")))
    with Store(data_dir) as store:
        signal = store.get_run(result.run_id).signal
        html = build_report(store, result.run_id, out=tmp_path / "one.html").read_text()
        assert "has 0 calibrator version(s)" in html  # says what to do instead
        trades = store.trades_frame(result.run_id)
        early = trades[trades["entry_time"] < "2006-01-01"]
        registry = ModelRegistry(store)
        registry.register_calibrator(signal, early, method="platt")
        registry.register_calibrator(signal, early, method="isotonic")
        html = build_report(store, result.run_id, out=tmp_path / "two.html").read_text()
    section = html[html.index("Version against version") :]
    assert 'id="fig-versions_0"' in section and "v2 - v1" in section
