"""validate_trades against a row-by-row statement of its rules (hypothesis).

The checks run on reductions (min/max of the scores, the sum of the returns)
and look at rows only when those show a problem; these cases put NaN and
out-of-range scores, NaN and infinite returns, returns whose sum overflows and
wins that contradict their returns anywhere in the frame.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InsufficientDataError, TradesFrameError
from core.trades import validate_trades

_score = st.one_of(
    st.floats(0.0, 1.0), st.just(math.nan), st.sampled_from([-1e-12, 1.0 + 1e-12, 7.0])
)
_ret = st.one_of(
    st.floats(-50.0, 50.0), st.sampled_from([0.0, math.nan, math.inf, -math.inf, 1e308, -1e308])
)


def expected(scores, rets, wins):
    """What the rules say: (kind of error or None, first bad position among usable rows, usable)."""
    usable = [i for i, s in enumerate(scores) if not math.isnan(s)]
    if not usable:
        return "insufficient", None, usable
    for pos, i in enumerate(usable):
        if not 0.0 <= scores[i] <= 1.0:
            return "score", pos, usable
    for pos, i in enumerate(usable):
        if not math.isfinite(rets[i]):
            return "return", pos, usable
    for pos, i in enumerate(usable):
        if wins[i] != (rets[i] > 0):
            return "win", pos, usable
    return None, None, usable


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_score, _ret, st.booleans(), st.booleans()), min_size=1, max_size=30))
def test_validate_trades_follows_its_rules_row_by_row(rows):
    scores = [r[0] for r in rows]
    rets = [r[1] for r in rows]
    # mostly consistent wins, sometimes flipped
    wins = [(ret > 0) != flip if flip and keep else ret > 0 for _, ret, flip, keep in rows]
    frame = pd.DataFrame({"confidence": scores, "return_pct": rets, "win": wins},
                         index=[f"t{i}" for i in range(len(rows))])  # fmt: skip
    kind, pos, usable = expected(scores, rets, wins)
    if kind == "insufficient":
        with pytest.raises(InsufficientDataError):
            validate_trades(frame)
        return
    if kind is None:
        out = validate_trades(frame)
        assert list(out.index) == [f"t{i}" for i in usable]
        return
    message = {"score": r"confidence must lie in", "return": r"return_pct must be finite",
               "win": r"win contradicts return_pct"}[kind]  # fmt: skip
    with pytest.raises(TradesFrameError, match=message) as caught:
        validate_trades(frame)
    assert f"row {pos} ('t{usable[pos]}')" in str(caught.value)


def test_returns_whose_sum_overflows_are_still_finite():
    frame = pd.DataFrame({"confidence": [0.2, 0.9], "return_pct": [1e308, 1e308], "win": True})
    assert len(validate_trades(frame)) == 2
    with np.errstate(over="ignore"):
        assert not np.isfinite(frame["return_pct"].to_numpy().sum())
