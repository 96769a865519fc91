"""Which mapping produced the probabilities: raw, walk-forward or a production calibrator.

Every figure computed on ``calibrated_probability`` depends on how that column
was made. :func:`calibrate_key` makes it one of three honest ways and returns a
:class:`KeyMapping` that names it ("isotonic, walk-forward, 12 windows"), so a
table, a report or a recorded decision can say which numbers it shows.

- ``method="raw"``: the raw ``confidence`` itself.
- ``method`` in :data:`core.analytics.calibrators.CALIBRATION_METHODS`: fitted
  walk-forward (:func:`core.analytics.walkforward.walk_forward_calibrate`), each
  window scored by a calibrator fitted on earlier, resolved trades only.
- ``method="production"``: a fitted calibrator (e.g. the registry's production
  version) applied *out of sample only*: to trades that entered after its
  training window ended (``train_end``); earlier trades stay NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.analytics.calibrators import CALIBRATION_METHODS, Calibrator
from core.analytics.walkforward import walk_forward_calibrate
from core.errors import ConfigError, InsufficientDataError, TradesFrameError
from core.jsonsafe import json_safe
from core.trades import validate_trades

__all__ = ["KEY_METHODS", "KeyMapping", "calibrate_key"]

#: Methods :func:`calibrate_key` accepts.
KEY_METHODS: tuple[str, ...] = ("raw", *CALIBRATION_METHODS, "production")


@dataclass(frozen=True)
class KeyMapping:
    """How ``calibrated_probability`` was produced.

    Attributes
    ----------
    method : str
        One of :data:`KEY_METHODS` (for production: ``"production"``).
    calibrator : str or None
        The calibrator's method (``"isotonic"``, ...); None for raw.
    scheme : str
        ``"none"``, ``"walk-forward"`` or ``"out-of-sample after training"``.
    n_windows : int or None
        Walk-forward windows.
    train_end : Timestamp or None
        End of the production calibrator's training window.
    n_scored, n_total : int
        Trades with a probability, and all trades.
    label : str
        The mapping in words, e.g. ``"isotonic, walk-forward, 12 windows"``.
    """

    method: str
    calibrator: str | None
    scheme: str
    n_windows: int | None
    train_end: pd.Timestamp | None
    n_scored: int
    n_total: int
    label: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (time as ISO 8601)."""
        out = dict(self.__dict__)
        out["train_end"] = None if self.train_end is None else self.train_end.isoformat()
        return json_safe(out)


def calibrate_key(
    trades: pd.DataFrame,
    *,
    method: str = "isotonic",
    n_windows: int = 12,
    min_train: int = 200,
    calibrator: Calibrator | None = None,
    train_end: Any = None,
) -> tuple[pd.DataFrame, KeyMapping]:
    """A copy of ``trades`` with ``calibrated_probability`` made by ``method``, and its label.

    Parameters
    ----------
    trades : DataFrame
        A trades frame with ``confidence``, ``win``, ``return_pct`` and
        ``entry_time`` (walk-forward: also ``exit_time`` or ``holding_days``).
    method : str, default "isotonic"
        One of :data:`KEY_METHODS`.
    n_windows : int, default 12
        Walk-forward windows.
    min_train : int, default 200
        Fewest resolved earlier trades to fit a window's calibrator.
    calibrator : Calibrator, optional
        The fitted calibrator for ``method="production"``.
    train_end : datetime-like, optional
        End of its training window (UTC; naive is UTC): only trades entering
        strictly after it are scored.

    Returns
    -------
    trades : DataFrame
        A copy; the caller's frame is never modified. Unscored rows are NaN.
    mapping : KeyMapping

    Raises
    ------
    ConfigError
        Unknown method, or production without ``calibrator`` / ``train_end``.
    InsufficientDataError
        No trade could be scored (too little history, or none after ``train_end``).
    """
    if method not in KEY_METHODS:
        raise ConfigError(f"method must be one of {', '.join(KEY_METHODS)}; got {method!r}")
    validate_trades(trades, key="confidence", min_rows=1)
    out = trades.copy()
    conf = out["confidence"].to_numpy(dtype=np.float64, na_value=np.nan)
    if method == "raw":
        out["calibrated_probability"] = conf
        mapping = KeyMapping("raw", None, "none", None, None, int(np.isfinite(conf).sum()),
                             len(out), "raw confidence")  # fmt: skip
        return out, mapping
    if method == "production":
        if calibrator is None or train_end is None:
            raise ConfigError(
                "method='production' needs the fitted calibrator and its train_end; look them "
                "up in the model registry"
            )
        if "entry_time" not in out:
            raise TradesFrameError("production scoring needs entry_time to find later trades")
        end = pd.Timestamp(train_end)
        end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
        after = (pd.to_datetime(out["entry_time"], utc=True) > end).to_numpy() & np.isfinite(conf)
        if not after.any():
            raise InsufficientDataError(
                f"no trade entered after the calibrator's training window ended ({end}); "
                "production figures need later trades"
            )
        prob = np.full(len(out), np.nan)
        prob[after] = calibrator.predict(conf[after])
        out["calibrated_probability"] = prob
        label = f"production {calibrator.method}, trained to {end:%Y-%m-%d}, applied after"
        mapping = KeyMapping("production", calibrator.method, "out-of-sample after training",
                             None, end, int(after.sum()), len(out), label)  # fmt: skip
        return out, mapping
    result = walk_forward_calibrate(out, method=method, n_windows=n_windows, min_train=min_train)
    out["calibrated_probability"] = result.calibrated_probability.to_numpy()
    n_scored = result.n_evaluated
    if n_scored == 0:
        raise InsufficientDataError(
            f"walk-forward {method} calibration scored no trade: no window had {min_train} "
            f"earlier resolved trades ({len(out)} trades, {n_windows} windows); use fewer "
            "windows or a lower min_train"
        )
    label = f"{method}, walk-forward, {n_windows} windows"
    mapping = KeyMapping(method, method, "walk-forward", int(n_windows), None, n_scored,
                         len(out), label)  # fmt: skip
    return out, mapping
