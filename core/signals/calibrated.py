"""A signal engine whose signals carry a fitted calibrator's probability."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.analytics.calibrators import BaseCalibrator
from core.errors import ConfigError

__all__ = ["CalibratedSignalEngine", "calibrate_scores"]


def calibrate_scores(calibrator: BaseCalibrator, scores: Any) -> np.ndarray:
    """The calibrator's probability of each score; NaN where the score is NaN.

    Parameters
    ----------
    calibrator : BaseCalibrator
        A fitted calibrator.
    scores : array_like of float, shape (n,)
        Raw scores in [0, 1], NaN where a row has none.

    Returns
    -------
    ndarray of float, shape (n,)
    """
    score = np.asarray(scores, dtype=np.float64)
    prob = np.full(score.shape, np.nan)
    ok = ~np.isnan(score)
    prob[ok] = calibrator.predict(score[ok])
    return prob


class CalibratedSignalEngine:
    """A signal engine whose signals carry a stored calibrator's probability.

    Wraps any signal engine (``generate(data) -> DataFrame``, the
    :class:`core.signals.SignalEngineProtocol`) and fills
    ``calibrated_probability`` from ``calibrator`` applied to ``key``, so
    ``run_backtest(config.replace(confidence_key="calibrated_probability"),
    signal_engine=registry.calibrated_signal_engine(name, inner))`` trades on the
    production calibrator's probability.

    Parameters
    ----------
    inner : signal engine
        The engine whose signals are calibrated.
    calibrator : BaseCalibrator
        A fitted calibrator (e.g. :meth:`core.lifecycle.registry.ModelRegistry.load`).
    key : str, default "confidence"
        Score column the calibrator reads.
    model : tuple of (str, int), optional
        Name and version of the registered model (for labels).
    """

    def __init__(
        self,
        inner: Any,
        calibrator: BaseCalibrator,
        *,
        key: str = "confidence",
        model: tuple[str, int] | None = None,
    ) -> None:
        if not callable(getattr(inner, "generate", None)):
            raise ConfigError(
                f"inner must be a signal engine with generate(data), got {type(inner).__name__}"
            )
        self.inner = inner
        self.calibrator = calibrator
        self.key = key
        self.model = model

    def generate(self, data: Any) -> pd.DataFrame:
        """The inner engine's signals with ``calibrated_probability`` filled in."""
        signals = self.inner.generate(data)
        score = signals[self.key].to_numpy(dtype=np.float64, na_value=np.nan)
        out = signals.copy()
        out["calibrated_probability"] = calibrate_scores(self.calibrator, score)
        return out

    def __repr__(self) -> str:
        label = "" if self.model is None else f" {self.model[0]} v{self.model[1]}"
        return f"CalibratedSignalEngine({self.inner!r},{label} {self.calibrator.method})"
