"""Drift statistics: hand-computed values, scipy references, planted shifts, round trips."""

from __future__ import annotations

import doctest
import importlib
import json
import math
import pkgutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from core.analytics import drift as drift_stats_module
from core.analytics.calibration import brier_score, expected_calibration_error
from core.analytics.drift import (
    DistributionSummary,
    DriftBaseline,
    DriftFinding,
    DriftReport,
    DriftThresholds,
    baseline_from_trades,
    check_against_baseline,
    compare_windows,
    confidence_histogram,
    default_detectors,
    ks_test,
    population_stability_index,
    rolling_drift,
    summarize_distribution,
    win_rate_change,
)
from core.analytics.drift.detectors import ADWIN, CUSUM, PageHinkley
from core.errors import (
    ConfigError,
    DriftError,
    InsufficientDataError,
    TradesFrameError,
    ValidationError,
)

PERFORMANCE = ("psi", "ks", "win_rate", "brier", "ece", "mean_return", "sharpe")


def trades_frame(
    confidence: np.ndarray,
    win: np.ndarray,
    *,
    seed: int,
    start: str = "2024-01-01",
    freq: str = "h",
) -> pd.DataFrame:
    """A trades frame (core.trades layout, the columns drift needs) in time order."""
    rng = np.random.default_rng(seed)
    n = len(confidence)
    ret = np.where(win, 1.0, -1.0) * rng.uniform(0.2, 2.0, n)
    return pd.DataFrame(
        {
            "signal_id": [f"{seed}-{i:06d}" for i in range(n)],
            "entry_time": pd.date_range(start, periods=n, freq=freq, tz="UTC"),
            "confidence": confidence,
            "return_pct": ret,
            "win": ret > 0,
        }
    )


def calibrated(n: int, *, seed: int, a: float = 2.0, b: float = 5.0, **kw) -> pd.DataFrame:
    """Confidence ~ Beta(a, b), P(win | c) = c."""
    rng = np.random.default_rng(seed)
    c = rng.beta(a, b, n)
    return trades_frame(c, rng.random(n) < c, seed=seed + 1000, **kw)


def fixed_rate(n: int, p_win: float, *, seed: int, **kw) -> pd.DataFrame:
    """Confidence ~ Beta(2, 5) unrelated to the outcome; P(win) = p_win."""
    rng = np.random.default_rng(seed)
    return trades_frame(rng.beta(2, 5, n), rng.random(n) < p_win, seed=seed + 1000, **kw)


#: The drift_stats package and each of its modules (the examples live in the modules).
DRIFT_STATS_MODULES = [
    drift_stats_module,
    *(
        importlib.import_module(f"{drift_stats_module.__name__}.{info.name}")
        for info in pkgutil.iter_modules(drift_stats_module.__path__)
    ),
]


def test_doctests():
    results = [doctest.testmod(module) for module in DRIFT_STATS_MODULES]
    assert sum(r.attempted for r in results) >= 3 and sum(r.failed for r in results) == 0


# --------------------------------------------------------------------------- PSI


def test_psi_hand_computed():
    # baseline shares (0.5, 0.5), current (0.25, 0.75):
    # (0.25 - 0.5) ln(0.5) + (0.75 - 0.5) ln(1.5) = 0.25 ln 3
    psi = population_stability_index(
        [0.1, 0.2, 0.6, 0.7], [0.1, 0.6, 0.7, 0.8], bins=[0.0, 0.5, 1.0]
    )
    assert psi == pytest.approx(0.25 * math.log(3.0), rel=1e-12)


def test_psi_hand_computed_with_an_empty_bin():
    # baseline shares (0.5, 0.5, 0, 0) -> empty bins floored at eps = 1e-4;
    # current (0.25, 0.25, 0.25, 0.25)
    eps = 1e-4
    expected = 2 * (0.25 - 0.5) * math.log(0.25 / 0.5) + 2 * (0.25 - eps) * math.log(0.25 / eps)
    psi = population_stability_index(
        [0.1, 0.2, 0.3, 0.4], [0.1, 0.3, 0.6, 0.8], bins=[0.0, 0.25, 0.5, 0.75, 1.0]
    )
    assert psi == pytest.approx(expected, rel=1e-12)


def test_psi_quantile_bins_of_the_baseline():
    base = np.arange(100) / 100.0  # deciles: 10 values per bin
    current = np.r_[np.full(50, 0.05), np.full(50, 0.95)]  # half in the first and last bins
    b, c = 0.1, np.array([0.5] + [1e-4] * 8 + [0.5])
    expected = float(np.sum((c - b) * np.log(c / b)))
    assert population_stability_index(base, current) == pytest.approx(expected)


def test_psi_from_a_summary_equals_psi_from_raw_values():
    rng = np.random.default_rng(0)
    base, cur = rng.beta(2, 5, 3000), rng.beta(2.5, 5, 1000)
    summary = summarize_distribution(base)
    assert population_stability_index(summary, cur) == population_stability_index(base, cur)


finite = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    base=st.lists(finite, min_size=1, max_size=200),
    cur=st.lists(finite, min_size=1, max_size=200),
    bins=st.integers(1, 20),
)
def test_psi_is_non_negative(base, cur, bins):
    assert population_stability_index(base, cur, bins=bins) >= 0.0


@settings(max_examples=60, deadline=None)
@given(base=st.lists(finite, min_size=1, max_size=200), bins=st.integers(1, 20))
def test_psi_is_zero_for_identical_distributions(base, bins):
    assert population_stability_index(base, base, bins=bins) == 0.0
    assert population_stability_index(base, base[::-1] * 2, bins=bins) == 0.0


def test_psi_validation():
    with pytest.raises(ConfigError, match="bins must be omitted"):
        population_stability_index(summarize_distribution([0.1, 0.2]), [0.1], bins=5)
    with pytest.raises(ConfigError, match="eps must lie in"):
        population_stability_index([0.1], [0.2], eps=0.0)
    with pytest.raises(ConfigError, match="strictly increasing"):
        population_stability_index([0.1], [0.2], bins=[0.0, 0.5, 0.5, 1.0])
    with pytest.raises(ValidationError, match="current must be finite; position 1 holds nan"):
        population_stability_index([0.1, 0.2], [0.1, float("nan")])
    with pytest.raises(InsufficientDataError):
        population_stability_index([0.1, 0.2], [])


def test_confidence_histogram_has_open_ended_end_bins():
    props = confidence_histogram([-1.0, 0.0, 0.3, 0.5, 1.0, 2.0], edges=[0.0, 0.5, 1.0])
    np.testing.assert_allclose(props, [3 / 6, 3 / 6])
    props = confidence_histogram([0.1, 0.6, 0.7, 0.95], edges=[0.0, 0.5, 0.9, 1.0])
    np.testing.assert_allclose(props, [0.25, 0.5, 0.25])


# --------------------------------------------------------------------------- summary and KS


def test_summary_round_trip_through_json():
    rng = np.random.default_rng(1)
    s = summarize_distribution(rng.beta(2, 5, 5000))
    assert len(s.quantiles) == 1001 and len(s.edges) == 11 and s.n == 5000
    back = DistributionSummary.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s


def test_summary_of_tied_values_merges_bins():
    # inner deciles are 0.5 (x7) and 0.7 (x2): bins (<0.5, [0.5, 0.7), >=0.7)
    s = summarize_distribution([0.5] * 30 + [0.7] * 10)
    assert s.edges == (0.5, 0.5, 0.7, 0.7) and s.proportions == (0.0, 0.75, 0.25)
    assert population_stability_index(s, [0.5] * 30 + [0.7] * 10) == 0.0
    assert population_stability_index(s, [0.5] * 10 + [0.7] * 30) > 0.25
    constant = summarize_distribution([0.5] * 10)
    assert constant.proportions == (0.0, 1.0)
    assert population_stability_index(constant, [0.5, 0.5]) == 0.0
    assert population_stability_index(constant, [0.1, 0.9]) > 0.25


@pytest.mark.parametrize("data", ["continuous", "ties", "small"])
def test_summary_cdf_is_within_one_quantile_step(data):
    rng = np.random.default_rng(2)
    x = {
        "continuous": rng.normal(0, 1, 20_000),
        "ties": rng.integers(0, 20, 20_000) / 20,
        "small": rng.random(37),
    }[data]
    s = summarize_distribution(x)
    grid = np.unique(np.r_[x, np.linspace(x.min() - 1, x.max() + 1, 500)])
    xs = np.sort(x)
    right = np.searchsorted(xs, grid, side="right") / x.size
    left = np.searchsorted(xs, grid, side="left") / x.size
    assert np.max(np.abs(s.cdf(grid) - right)) < 1 / 1000 + 1e-12
    assert np.max(np.abs(s.cdf(grid, side="left") - left)) < 1 / 1000 + 1e-12


def test_summary_validation():
    with pytest.raises(ValidationError, match="proportions must have len"):
        DistributionSummary((0.0, 1.0), (0.5, 0.5), (0.0, 1.0), 2, 0.5, 0.5)
    with pytest.raises(ValidationError, match="lacks 'quantiles'"):
        DistributionSummary.from_dict({"edges": [0, 1], "proportions": [1.0], "n": 1})
    with pytest.raises(ConfigError, match="n_quantiles"):
        summarize_distribution([0.1, 0.2], n_quantiles=1)


def test_ks_from_raw_values_is_scipys():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 400), rng.normal(0.2, 1, 300)
    res = ks_test(a, b)
    ref = stats.ks_2samp(a, b)
    assert (res.statistic, res.p_value) == (ref.statistic, ref.pvalue)
    assert not res.approximate and (res.n_baseline, res.n_current) == (400, 300)


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3])
def test_ks_from_a_summary_approximates_the_exact_test(shift):
    rng = np.random.default_rng(4)
    base, cur = rng.beta(2, 5, 10_000), np.clip(rng.beta(2, 5, 2000) + shift, 0, 1)
    exact = stats.ks_2samp(base, cur, method="asymp")
    approx = ks_test(summarize_distribution(base), cur)
    assert approx.approximate and approx.method == "conservative-bound"
    assert abs(approx.statistic - exact.statistic) <= 1e-3
    assert approx.p_value >= exact.pvalue  # a conservative bound, never smaller
    assert approx.p_value == pytest.approx(exact.pvalue, rel=0.5, abs=2e-3)


# --------------------------------------------------------------------------- win rate


def test_win_rate_z_test_against_the_formula():
    res = win_rate_change(550, 1000, 450, 1000)
    pooled = 0.5
    z = (0.45 - 0.55) / math.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert res.method == "z" and res.statistic == pytest.approx(z)
    assert res.p_value == pytest.approx(stats.norm.cdf(z))
    assert res.difference == pytest.approx(-0.1)
    two = win_rate_change(550, 1000, 450, 1000, alternative="two-sided")
    assert two.p_value == pytest.approx(2 * stats.norm.cdf(z))
    up = win_rate_change(550, 1000, 450, 1000, alternative="greater")
    assert up.p_value == pytest.approx(stats.norm.sf(z))


def test_win_rate_uses_fisher_for_small_counts():
    res = win_rate_change(9, 10, 3, 10)  # pooled 0.6: 10 x 0.4 = 4 expected losses < 5
    assert res.method == "fisher"
    assert res.p_value == pytest.approx(
        stats.fisher_exact([[3, 7], [9, 1]], alternative="less").pvalue
    )
    # all wins in both windows: nothing changed, no NaN
    same = win_rate_change(40, 40, 30, 30)
    assert same.statistic == 0.0 and same.p_value == 1.0


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((5, 4, 1, 2), ValidationError, r"baseline_wins \(5\) exceeds baseline_n \(4\)"),
        ((1, 4, -1, 2), ValidationError, "current_wins must be >= 0"),
        ((1.5, 4, 1, 2), ValidationError, "baseline_wins must be a whole number"),
        ((0, 0, 1, 2), InsufficientDataError, "baseline window has no trades"),
    ],
)
def test_win_rate_validation(args, error, match):
    with pytest.raises(error, match=match):
        win_rate_change(*args)


# --------------------------------------------------------------------------- thresholds


@pytest.mark.parametrize(
    ("metric", "value", "kw", "expected"),
    [
        ("psi", 0.05, {}, "ok"),
        ("psi", 0.1, {}, "warning"),
        ("psi", 0.3, {}, "critical"),
        ("ks", 0.2, {}, "ok"),
        ("ks", 0.0005, {}, "warning"),
        ("ks", 0.005, {}, "ok"),  # significant per test, not family-wise
        ("ks", 1e-6, {}, "critical"),
        ("win_rate", 1e-6, {"drop": 0.05}, "critical"),
        ("win_rate", 1e-7, {"drop": 0.01}, "ok"),  # below the 2-point gate
        ("win_rate", 0.0005, {}, "warning"),
        ("win_rate", 0.004, {}, "ok"),
        ("brier", 0.02, {}, "warning"),
        ("brier", 0.05, {"p_value": 0.001}, "critical"),
        ("brier", 0.05, {"p_value": 0.2}, "ok"),  # not significant
        ("ece", 0.01, {}, "ok"),
        ("ece", 0.06, {}, "critical"),
        ("mean_return", 0.001, {"drop": -0.1}, "ok"),  # a rise is no alert
        ("sharpe", 0.0005, {"drop": 0.1}, "warning"),
        ("detector", 0, {}, "ok"),
        ("detector", 1, {}, "warning"),
        ("detector", 3, {}, "critical"),
        ("sharpe", float("nan"), {}, "ok"),
        ("psi", None, {}, "ok"),
    ],
)
def test_severity_table(metric, value, kw, expected):
    assert DriftThresholds().severity(metric, value, **kw) == expected


def test_thresholds_validation_and_round_trip():
    t = DriftThresholds(psi_warning=0.2, psi_critical=0.4)
    assert DriftThresholds.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    with pytest.raises(ConfigError, match="psi_warning <= psi_critical"):
        DriftThresholds(psi_warning=0.3, psi_critical=0.2)
    with pytest.raises(ConfigError, match="ks_p_critical <= ks_p_warning"):
        DriftThresholds(ks_p_critical=0.1)
    with pytest.raises(ConfigError, match="no field 'psi'"):
        DriftThresholds.from_dict({"psi": 0.1})
    with pytest.raises(ConfigError, match="unknown drift metric 'auc'"):
        DriftThresholds().severity("auc", 0.5)


# --------------------------------------------------------------------------- planted shifts


@pytest.fixture(scope="module")
def baseline_trades():
    return calibrated(3000, seed=1)


def test_same_distribution_gives_no_alert(baseline_trades):
    report = compare_windows(baseline_trades, calibrated(1000, seed=2, start="2025-01-01"))
    assert report.alerts == () and report.severity == "ok"
    assert [f.metric for f in report.findings] == [
        *PERFORMANCE,
        "page_hinkley_win",
        "cusum_win",
    ]


def test_shifted_confidence_gives_psi_and_ks_alerts(baseline_trades):
    report = compare_windows(baseline_trades, calibrated(1000, seed=3, a=5.0, b=2.0))
    assert report.finding("psi").severity == "critical"
    assert report.finding("ks").severity == "critical"
    assert report.finding("psi").current_value > report.finding("psi").baseline_value


def test_win_rate_drop_gives_a_win_rate_alert_and_a_detection():
    report = compare_windows(fixed_rate(3000, 0.55, seed=4), fixed_rate(1000, 0.45, seed=5))
    wr = report.finding("win_rate")
    assert wr.severity == "critical" and wr.p_value < 1e-4
    assert wr.current_value - wr.baseline_value == pytest.approx(-0.1, abs=0.03)
    fired = [f for f in report.findings if f.metric.endswith("_win") and f.severity != "ok"]
    assert fired
    for f in fired:
        assert 30 <= f.detected_at < 1000  # calibrated: 1 % false alarms per 2,000 trades
        assert f.detected_time == pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(
            hours=f.detected_at
        )
    assert report.finding("psi").severity == "ok"


def test_calibration_break_alerts_brier_and_ece_but_not_psi_or_ks():
    rng = np.random.default_rng(6)
    c_base, c_cur = rng.beta(2, 5, 2000), rng.beta(2, 5, 2000)
    baseline = trades_frame(c_base, rng.random(2000) < c_base, seed=7)
    # same confidence distribution, but P(win | c) flattened to the average win rate
    current = trades_frame(c_cur, rng.random(2000) < c_cur.mean(), seed=8)
    report = compare_windows(baseline, current)
    assert report.finding("brier").severity != "ok"
    assert report.finding("ece").severity != "ok"
    assert report.finding("psi").severity == "ok"
    assert report.finding("ks").severity == "ok"
    assert report.finding("win_rate").severity == "ok"


def test_brier_and_ece_findings_use_the_calibration_module(baseline_trades):
    current = calibrated(800, seed=9)
    report = compare_windows(baseline_trades, current)
    b, e = report.finding("brier"), report.finding("ece")
    assert b.current_value == brier_score(current["confidence"], current["win"])
    assert e.baseline_value == expected_calibration_error(
        baseline_trades["confidence"], baseline_trades["win"], n_bins=10
    )
    assert b.statistic == pytest.approx(b.current_value - b.baseline_value)


def test_mean_return_and_sharpe_findings_match_the_formulas(baseline_trades):
    current = fixed_rate(600, 0.15, seed=10)  # the baseline wins about 29 %
    report = compare_windows(baseline_trades, current)
    rb, rc = baseline_trades["return_pct"], current["return_pct"]
    ref = stats.ttest_ind(rc, rb, equal_var=False, alternative="less")
    f = report.finding("mean_return")
    assert f.statistic == pytest.approx(ref.statistic) and f.p_value == pytest.approx(ref.pvalue)
    s_b, s_c = rb.mean() / rb.std(ddof=1), rc.mean() / rc.std(ddof=1)
    se = math.sqrt((1 + s_b**2 / 2) / rb.size + (1 + s_c**2 / 2) / rc.size)
    s = report.finding("sharpe")
    assert s.statistic == pytest.approx((s_c - s_b) / se)
    assert s.p_value == pytest.approx(stats.norm.cdf((s_c - s_b) / se))
    assert s.severity == "critical"


# --------------------------------------------------------------------------- stored baselines


def test_stored_baseline_gives_the_same_findings(baseline_trades):
    current = fixed_rate(1000, 0.3, seed=11)
    direct = compare_windows(baseline_trades, current)
    stored = DriftBaseline.from_dict(
        json.loads(json.dumps(baseline_from_trades(baseline_trades).to_dict()))
    )
    later = check_against_baseline(stored, current)
    for a, b in zip(direct.findings, later.findings, strict=True):
        assert a.metric == b.metric
        if a.metric == "ks":  # stored quantiles: D within 1/1000
            assert abs(a.statistic - b.statistic) <= 1e-3
        else:
            assert a == b


def test_baseline_round_trip(baseline_trades):
    b = baseline_from_trades(baseline_trades)
    assert b.n == 3000 and b.key == "confidence"
    assert b.start == baseline_trades["entry_time"].iloc[0]
    assert b.win_rate == baseline_trades["win"].mean()
    assert DriftBaseline.from_dict(json.loads(json.dumps(b.to_dict()))) == b
    with pytest.raises(DriftError, match="needs key, distribution"):
        DriftBaseline.from_dict({"key": "confidence"})


def test_report_round_trip_and_frame(baseline_trades):
    report = compare_windows(baseline_trades, fixed_rate(500, 0.1, seed=12))  # 30 % -> 10 %
    data = json.loads(json.dumps(report.to_dict()))
    assert data["severity"] == "critical"
    assert DriftReport.from_dict(data) == report
    frame = report.to_frame()
    assert list(frame["metric"]) == [f.metric for f in report.findings]
    assert set(frame.columns) >= {"metric", "severity", "p_value", "detected_at"}
    alert = report.alerts[0]
    assert DriftFinding.from_dict(alert.to_dict()) == alert


def test_key_and_trade_frame_errors(baseline_trades):
    b = baseline_from_trades(baseline_trades)
    with pytest.raises(DriftError, match="summarises 'confidence', not 'calibrated_probability'"):
        check_against_baseline(b, baseline_trades, key="calibrated_probability")
    with pytest.raises(DriftError, match="baseline must be a DriftBaseline"):
        check_against_baseline(b.to_dict(), baseline_trades)  # type: ignore[arg-type]
    with pytest.raises(TradesFrameError, match="no column 'return_pct'"):
        check_against_baseline(b, baseline_trades.drop(columns="return_pct"))
    with pytest.raises(InsufficientDataError, match="current window: 10 trade"):
        check_against_baseline(b, baseline_trades.head(10))
    with pytest.raises(ConfigError, match="outcome must be"):
        check_against_baseline(b, baseline_trades, outcome="pnl")  # type: ignore[arg-type]


def test_unsorted_current_window_is_read_in_time_order(baseline_trades):
    current = fixed_rate(1000, 0.45, seed=13)
    shuffled = current.sample(frac=1.0, random_state=0)
    a = compare_windows(baseline_trades, current)
    b = compare_windows(baseline_trades, shuffled)
    assert a.finding("cusum_win") == b.finding("cusum_win")
    assert shuffled.index.tolist() != current.index.tolist()  # the caller's frame untouched


# --------------------------------------------------------------------------- detectors option


def test_custom_detectors_and_return_outcome(baseline_trades):
    dets = {"ph": PageHinkley(threshold=20.0, delta=0.05), "adwin": ADWIN()}
    current = fixed_rate(1000, 0.3, seed=14)
    report = compare_windows(baseline_trades, current, detectors=dets, outcome="return_pct")
    names = [f.metric for f in report.findings][len(PERFORMANCE) :]
    assert names == ["ph_return", "adwin_return"]
    assert report.finding("ph_return").severity != "ok"
    # templates are copied, never mutated
    assert dets["ph"].n_seen == 0 and dets["ph"].prior_mean is None
    assert compare_windows(baseline_trades, current, detectors={}).findings[-1].metric == "sharpe"


def test_default_detectors_are_seeded_by_the_baseline():
    d = default_detectors()
    assert isinstance(d["cusum"], CUSUM) and d["cusum"].target is None
    # a CUSUM given its own reference keeps it
    b = fixed_rate(500, 0.55, seed=15)
    report = compare_windows(b, b, detectors={"c": CUSUM(target=5.0, sigma=1.0)})
    assert report.finding("c_win").statistic > 0  # z-scores far below a target of 5


# --------------------------------------------------------------------------- rolling


@pytest.fixture(scope="module")
def run_with_a_break():
    """3000 trades at a 55 % win rate, then 2000 at 40 %, hourly."""
    first = fixed_rate(3000, 0.55, seed=20)
    second = fixed_rate(2000, 0.40, seed=21, start="2024-05-05 00:00")
    return pd.concat([first, second], ignore_index=True)


def test_rolling_drift_by_trade_count(run_with_a_break, baseline_trades):
    base = baseline_from_trades(fixed_rate(3000, 0.55, seed=22))
    frame = rolling_drift(run_with_a_break, base, window=500)
    assert len(frame) == 10 and (frame["n"] == 500).all()
    assert list(frame.columns[:4]) == ["window_start", "window_end", "n", "psi"]
    assert {"ks_stat", "ks_p", "win_rate_p", "sharpe_p", "psi_severity", "severity"} <= set(
        frame.columns
    )
    assert (frame["win_rate_severity"].iloc[6:] != "ok").all()
    assert (frame["psi_severity"] == "ok").all()
    assert frame["window_start"].iloc[1] == run_with_a_break["entry_time"].iloc[500]
    overlapping = rolling_drift(run_with_a_break, base, window=500, step=250)
    assert len(overlapping) == 19


def test_rolling_drift_by_time(run_with_a_break):
    base = fixed_rate(3000, 0.55, seed=22)
    frame = rolling_drift(run_with_a_break, base, window="30D")
    spans = frame["window_end"] - frame["window_start"]
    assert (spans == pd.Timedelta(days=30)).all()
    assert frame["n"].sum() == len(run_with_a_break)  # non-overlapping, all windows full
    assert frame["win_rate"].iloc[-1] == pytest.approx(0.40, abs=0.05)


def test_rolling_drift_errors(run_with_a_break):
    base = baseline_from_trades(fixed_rate(300, 0.55, seed=23))
    with pytest.raises(InsufficientDataError, match="at least 30 are needed"):
        rolling_drift(run_with_a_break.head(20), base, window=500)
    with pytest.raises(ConfigError, match="step must be a positive number of trades"):
        rolling_drift(run_with_a_break, base, window=500, step="10D")
    with pytest.raises(ConfigError, match="must both be trade counts or pandas offsets"):
        rolling_drift(run_with_a_break, base, window="ninety days")
    with pytest.raises(ConfigError, match="at least min_trades=30"):
        rolling_drift(run_with_a_break, base, window=10)


def test_windows_like_the_baseline_rarely_alert():
    """Family-wise false alarms: about 5 % of same-distribution windows, not 5 % per test."""
    rng = np.random.default_rng(123)

    def draw(n):
        c = rng.beta(2, 3, n)
        win = rng.random(n) < 1 / (1 + np.exp(-(4 * c - 2)))
        ret = np.where(win, rng.uniform(0.1, 2, n), -rng.uniform(0.1, 2, n))
        return pd.DataFrame({"entry_time": pd.date_range("2020", periods=n, freq="h", tz="UTC"),
                             "confidence": c, "return_pct": ret, "win": win})  # fmt: skip

    # A fresh baseline each time: p-values are calibrated over baseline draws too.
    # The statistical tests only (the detectors' rates: tests/test_drift_calibration.py).
    alerted = sum(
        bool(
            check_against_baseline(
                baseline_from_trades(draw(3000), calibrate=False), draw(500), detectors={}
            ).alerts
        )
        for _ in range(60)
    )
    assert alerted <= 9  # ~5 % expected (3 of 60); 9 would be far beyond chance


def test_a_calibration_break_alerts_on_ece_even_at_a_modest_size():
    rng = np.random.default_rng(7)
    c = rng.beta(2, 3, 4000)
    win = rng.random(4000) < 1 / (1 + np.exp(-(4 * c - 2)))
    frame = pd.DataFrame({"entry_time": pd.date_range("2020", periods=4000, freq="h", tz="UTC"),
                          "confidence": c, "return_pct": np.where(win, 1.0, -1.0), "win": win})  # fmt: skip
    baseline = baseline_from_trades(frame)
    c2 = rng.beta(2, 3, 800)
    flat = rng.random(800) < 0.4
    broken = pd.DataFrame({"entry_time": pd.date_range("2021", periods=800, freq="h", tz="UTC"),
                           "confidence": c2, "return_pct": np.where(flat, 1.0, -1.0), "win": flat})  # fmt: skip
    report = check_against_baseline(baseline, broken)
    assert report.finding("ece").severity != "ok"
    assert report.finding("ece").p_value < 0.01
    assert report.finding("psi").severity == "ok"
