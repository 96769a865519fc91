"""The one JSON conversion every result uses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.jsonsafe import json_safe


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (float("nan"), None),
        (float("inf"), "inf"),
        (-np.inf, "-inf"),
        (np.float32(1.5), 1.5),
        (np.int64(3), 3),
        (np.bool_(True), True),
        (pd.NaT, None),
        (pd.Timestamp("2020-01-02", tz="UTC"), "2020-01-02T00:00:00+00:00"),
        (pd.Timedelta(days=5), "P5DT0H0M0S"),
        (Path("a/b"), "a/b"),
        ({1: (np.nan, {2}), "x": np.array([1.0, np.inf])}, {"1": [None, [2]], "x": [1.0, "inf"]}),
    ],
)
def test_conversions(value, expected):
    assert json_safe(value) == expected


@given(st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))  # fmt: skip
def test_any_nesting_dumps_without_nan(value):
    json.dumps(json_safe(value), allow_nan=False)
