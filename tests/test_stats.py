"""``core.analytics.stats``: the Wilson interval against scipy, and its error table."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from core.analytics.stats import bootstrap_ci, format_p_value, wilson_interval, z_value
from core.errors import ConfigError


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_matches_scipy(case):
    k, n = case
    low, high = wilson_interval(k, n, level=0.9)
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
    assert float(low) == pytest.approx(ref.low, abs=1e-12)
    assert float(high) == pytest.approx(ref.high, abs=1e-12)


def test_wilson_interval_without_trials_is_uninformative():
    low, high = wilson_interval(np.array([0, 3]), np.array([0, 4]))
    assert (low[0], high[0]) == (0.0, 1.0)
    assert 0.0 < low[1] < 0.75 < high[1] < 1.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: z_value(1.0), r"level must lie in \(0, 1\), got 1.0; use 0.95"),
        (lambda: wilson_interval(1, 2, level=0.0), r"level must lie in \(0, 1\)"),
        (
            lambda: bootstrap_ci([1.0, 2.0], "mode"),
            "statistic must be 'mean' or 'median', got 'mode'",
        ),
    ],
)
def test_errors_name_the_value_and_the_fix(call, match):
    with pytest.raises(ConfigError, match=match):
        call()


def test_config_errors_are_still_value_errors():
    # Callers that caught ValueError before the named exception keep working.
    with pytest.raises(ValueError):
        z_value(-0.5)


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.0, "< 1e-16"), (1e-300, "< 1e-16"), (3.2e-7, "3.2e-07"), (0.0321, "0.032"),
     (0.5, "0.5"), (1.0, "1"), (float("nan"), "n/a"), (None, "n/a")],
)  # fmt: skip
def test_format_p_value(p, text):
    assert format_p_value(p) == text
