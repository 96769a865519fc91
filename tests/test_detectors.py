"""Streaming change detectors: exact detection indices, river as a reference, one interface."""

from __future__ import annotations

import doctest
import json
import math

import numpy as np
import pytest
from river import drift

from core.analytics.drift import detectors as detectors_module
from core.analytics.drift.detectors import (
    ADWIN,
    CUSUM,
    DETECTOR_TYPES,
    DriftDetector,
    PageHinkley,
    detect_changes,
    detector_from_dict,
)
from core.errors import ConfigError, ValidationError

ZEROS_THEN_ONES = [0.0] * 200 + [1.0] * 200
ONES_THEN_ZEROS = [1.0] * 200 + [0.0] * 200


def river_hits(detector, values) -> list[int]:
    hits = []
    for i, v in enumerate(values):
        detector.update(v)
        if detector.drift_detected:
            hits.append(i)
    return hits


def test_doctests():
    result = doctest.testmod(detectors_module)
    assert result.attempted >= 3 and result.failed == 0


# --------------------------------------------------------------------------- Page-Hinkley


def test_page_hinkley_exact_index_on_a_step():
    # After the step at 200 the running mean is (t - 199)/(t + 1), so the deviation of
    # each 1 is 200/(t + 1) and the statistic grows like 200 ln((t + 1)/200) - the
    # small δ terms; it crosses λ = 50 when (t + 1)/200 ≈ e^0.25 = 1.284, i.e. t = 257.
    assert detect_changes(PageHinkley(mode="up"), ZEROS_THEN_ONES) == [257]
    assert detect_changes(PageHinkley(mode="down"), ONES_THEN_ZEROS) == [257]
    assert detect_changes(PageHinkley(mode="both"), ZEROS_THEN_ONES) == [257]
    # the default watches for a drop only
    assert detect_changes(PageHinkley(), ZEROS_THEN_ONES) == []


@pytest.mark.parametrize("mode", ["up", "down", "both"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_page_hinkley_matches_river(mode, seed):
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(0, 1, 600), rng.normal(-1.5, 1, 600), rng.normal(1, 1, 600)]
    ours = detect_changes(PageHinkley(mode=mode), x)
    assert ours == river_hits(drift.PageHinkley(mode=mode), x.tolist())
    assert ours  # the stream has two changes: something must fire


def test_page_hinkley_prior_catches_a_shift_present_from_the_start():
    # A stream at 0.3 throughout: on its own the running mean is 0.3 and nothing moves;
    # seeded with a baseline mean of 0.5 (weight 1000), the drop is found.
    x = [0.3] * 400
    assert detect_changes(PageHinkley(threshold=20.0), x) == []
    seeded = PageHinkley(threshold=20.0, prior_mean=0.5, prior_weight=1000.0)
    hits = detect_changes(seeded, x)
    assert hits and hits[0] < 150


def test_page_hinkley_statistic_reports_the_test_value():
    ph = PageHinkley(mode="down", min_instances=1)
    assert ph.statistic == 0.0
    for v in ONES_THEN_ZEROS[:250]:
        ph.update(v)
    assert 0.0 < ph.statistic <= ph.threshold


# --------------------------------------------------------------------------- CUSUM


def test_cusum_exact_indices_on_a_step():
    # target 0, σ 1, k = 0.5: each 1 adds 1 - 0.5 = 0.5 to C+, which first exceeds
    # h = 5 after 11 ones (5.5), at index 210; the next update restarts at 0, so it
    # fires again every 11 values while the ones last.
    expected = list(range(210, 400, 11))
    assert detect_changes(CUSUM(target=0.0, sigma=1.0, mode="up"), ZEROS_THEN_ONES) == expected
    assert detect_changes(CUSUM(target=1.0, sigma=1.0, mode="down"), ONES_THEN_ZEROS) == expected
    assert detect_changes(CUSUM(target=0.0, sigma=1.0, mode="down"), ZEROS_THEN_ONES) == []


def test_cusum_estimates_target_and_sigma_from_the_warm_up():
    rng = np.random.default_rng(4)
    warm = rng.normal(2.0, 0.5, 30)
    x = np.r_[warm, np.full(100, 1.0)]
    mu, sd = warm.mean(), warm.std(ddof=1)
    # after the warm-up, C- grows by (mu - k sd - 1) per value and must pass h sd
    step = mu - 0.5 * sd - 1.0
    m = math.floor(5.0 * sd / step) + 1
    assert detect_changes(CUSUM(), x)[0] == 30 + m - 1


def test_cusum_warm_up_waits_for_variation():
    c = CUSUM(min_instances=5)
    for _ in range(40):
        c.update(0.0)
    assert c.warming_up  # σ would be 0: keep estimating
    c.update(1.0)
    assert not c.warming_up


# --------------------------------------------------------------------------- ADWIN


def test_adwin_exact_index_on_a_step():
    # Checks happen every clock = 32 updates; the first check after the step at 200 is
    # on update 224 (index 223), where the split at 200 has |0 - 1| = 1 > ε ≈ 0.62.
    assert detect_changes(ADWIN(), ZEROS_THEN_ONES) == [223]
    assert river_hits(drift.ADWIN(), ZEROS_THEN_ONES) == [223]
    assert detect_changes(ADWIN(clock=1), ZEROS_THEN_ONES)[0] < 223


@pytest.mark.parametrize("seed", range(8))
def test_adwin_detects_no_later_than_river_and_within_two_clocks(seed):
    # river's ADWIN2 tests only exponential-histogram bucket boundaries; this exact
    # version tests every split, so it fires at the same check or up to 2 checks earlier.
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(0, 1, 1000), rng.normal(0.5, 1, 1000)]
    ours = detect_changes(ADWIN(), x)[0]
    theirs = river_hits(drift.ADWIN(), x.tolist())[0]
    assert 1000 <= ours <= theirs
    assert theirs - ours <= 64


def test_adwin_window_is_bounded_and_estimates_the_mean():
    a = ADWIN(max_window=100, clock=10_000)
    for v in range(1000):
        a.update(float(v % 2))
    assert a.width == 100
    assert a.estimation == pytest.approx(0.5)


# --------------------------------------------------------------------------- false alarms


@pytest.mark.parametrize(
    ("detector", "stream"),
    [
        (PageHinkley(mode="both"), "wins"),
        (CUSUM(k=0.5, h=8.0, mode="both"), "normal"),
        (ADWIN(), "wins"),
        (ADWIN(), "normal"),
    ],
    ids=["page_hinkley", "cusum", "adwin_wins", "adwin_normal"],
)
def test_no_false_alarm_on_a_stationary_stream(detector, stream):
    rng = np.random.default_rng(3)
    n = 3000
    x = (rng.random(n) < 0.55).astype(float) if stream == "wins" else rng.normal(0, 1, n)
    assert detect_changes(detector, x) == []


# --------------------------------------------------------------------------- the interface


FACTORIES = {
    "page_hinkley": lambda: PageHinkley(threshold=10.0),
    "cusum_fixed": lambda: CUSUM(target=0.0, sigma=1.0, mode="both"),
    "cusum_estimated": lambda: CUSUM(h=8.0, mode="both"),
    "adwin": lambda: ADWIN(),
}


def step_stream() -> np.ndarray:
    rng = np.random.default_rng(11)
    return np.r_[rng.normal(0.0, 0.3, 300), rng.normal(-3.0, 0.3, 300)]


@pytest.fixture(params=list(FACTORIES), ids=list(FACTORIES))
def make(request):
    return FACTORIES[request.param]


def test_fires_on_a_clear_step(make):
    hits = detect_changes(make(), step_stream())
    assert hits and 300 <= hits[0] < 400


def test_update_returns_self_and_counts(make):
    d = make()
    assert d.update(0.1) is d
    assert d.n_seen == 1 and not d.drift_detected


def test_restarts_after_a_detection(make):
    d = make()
    x = step_stream()
    i = detect_changes(d, x)[0]
    d.reset()
    for v in x[: i + 1]:
        d.update(v)
    assert d.drift_detected and d.n_seen == i + 1
    d.update(x[i + 1])
    assert not d.drift_detected and d.n_seen == 1


def test_reset_restores_the_fresh_state(make):
    d = make()
    x = step_stream()
    first = detect_changes(d, x)
    for v in x[:350]:
        d.update(v)
    d.reset()
    assert d.n_seen == 0 and not d.drift_detected
    hits = [i for i, v in enumerate(x) if d.update(v).drift_detected]
    assert hits == first == detect_changes(make(), x)


def test_drift_detected_is_read_only(make):
    d = make()
    with pytest.raises(AttributeError):
        d.drift_detected = True
    with pytest.raises(AttributeError):
        d.n_seen = 3


def test_to_dict_round_trip(make):
    d = make()
    settings = d.to_dict()
    assert settings["type"] in DETECTOR_TYPES
    assert json.loads(json.dumps(settings)) == settings
    for rebuilt in (type(d).from_dict(settings), DriftDetector.from_dict(settings)):
        assert type(rebuilt) is type(d)
        assert rebuilt.to_dict() == settings
    x = step_stream()
    assert detect_changes(detector_from_dict(settings), x) == detect_changes(d, x)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -math.inf, "abc", None])
def test_rejects_non_finite_values(make, bad):
    d = make()
    with pytest.raises(ValidationError, match=type(d).__name__):
        d.update(bad)
    assert isinstance(ValidationError("x"), ValueError)
    assert d.n_seen == 0


def test_detect_changes_names_the_bad_position(make):
    with pytest.raises(ValidationError, match=r"position 2 holds nan"):
        detect_changes(make(), [0.0, 1.0, float("nan"), 1.0])


def test_detect_changes_accepts_iterables(make):
    x = step_stream()
    assert detect_changes(make(), (v for v in x)) == detect_changes(make(), list(x))


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (PageHinkley, {"threshold": 0}, r"threshold must be a finite number in \(0, inf\)"),
        (PageHinkley, {"delta": -1}, r"delta .* got -1"),
        (PageHinkley, {"alpha": 1.5}, r"alpha .* \(0, 1\], got 1.5"),
        (PageHinkley, {"min_instances": 0}, r"min_instances must be an integer >= 1, got 0"),
        (PageHinkley, {"mode": "sideways"}, r"mode must be one of .* got 'sideways'"),
        (PageHinkley, {"prior_mean": 0.5}, r"prior_mean and prior_weight go together"),
        (PageHinkley, {"threshold": float("nan")}, r"threshold"),
        (CUSUM, {"sigma": 0.0}, r"sigma must be a finite number in \(0, inf\), got 0.0"),
        (CUSUM, {"h": -1.0}, r"h must"),
        (CUSUM, {"k": "0.5"}, r"k must be a number"),
        (CUSUM, {"min_instances": 1}, r"min_instances must be an integer >= 2"),
        (ADWIN, {"delta": 1.0}, r"delta must be a finite number in \(0, 1\), got 1.0"),
        (ADWIN, {"clock": 0}, r"clock must be an integer >= 1"),
        (ADWIN, {"max_window": 5}, r"max_window must be an integer >= 10"),
    ],
)
def test_invalid_settings(cls, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        cls(**kwargs)


def test_settings_are_keyword_only():
    with pytest.raises(TypeError):
        PageHinkley(0.005)  # type: ignore[misc]


def test_from_dict_errors():
    with pytest.raises(ConfigError, match="unknown detector type 'KSWIN'"):
        detector_from_dict({"type": "KSWIN"})
    with pytest.raises(ConfigError, match="CUSUM has no setting 'lambda'"):
        detector_from_dict({"type": "CUSUM", "lambda": 3})
    with pytest.raises(ConfigError, match="settings of a 'ADWIN' detector"):
        PageHinkley.from_dict({"type": "ADWIN"})
