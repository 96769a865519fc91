"""One conversion to plain JSON types, shared by every ``to_dict`` and writer.

JSON has no NaN and no infinity. Signal Lab writes NaN as ``null`` (a value
that could not be computed) and infinities as the strings ``"inf"`` /
``"-inf"`` (a profit factor with no losing trade is infinite, not missing), so
``json.dumps(..., allow_nan=False)`` always succeeds and nothing is silently
turned into null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["json_safe"]


def json_safe(value: Any) -> Any:
    """``value`` with only JSON types, recursively.

    Mappings -> dicts with string keys; lists, tuples, sets and arrays -> lists;
    numpy scalars -> Python; NaN, None, NaT -> None; +/-inf -> "inf"/"-inf";
    timestamps and durations -> ISO 8601 strings; paths -> strings; objects with ``to_dict``
    -> their dict. Anything else is returned as is.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        x = float(value)
        if math.isnan(x):
            return None
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | pd.Timedelta):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict") and not isinstance(value, pd.DataFrame | pd.Series):
        return json_safe(value.to_dict())
    return value
