"""Severity levels: the drift metrics and the thresholds that grade them.

:data:`METRICS` names every metric :meth:`DriftThresholds.severity` grades as
``"ok"``, ``"warning"`` or ``"critical"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from core.errors import ConfigError

Severity = Literal["ok", "warning", "critical"]
_RANK: dict[str, int] = {"ok": 0, "warning": 1, "critical": 2}

#: Metric names :meth:`DriftThresholds.severity` knows, with what ``value`` means.
METRICS: dict[str, str] = {
    "psi": "population stability index (larger is worse)",
    "ks": "two-sample KS p-value (smaller is worse)",
    "win_rate": "one-sided p-value of a drop in win rate (smaller is worse)",
    "brier": "increase of the Brier score, current - baseline (larger is worse)",
    "ece": "increase of the ECE, current - baseline (larger is worse)",
    "mean_return": "one-sided Welch p-value of a drop in mean return (smaller is worse)",
    "sharpe": "one-sided p-value of a drop in per-trade Sharpe (smaller is worse)",
    "detector": "number of detections of a streaming detector (larger is worse)",
}


@dataclass(frozen=True)
class DriftThresholds:
    """Warning and critical levels of every drift metric.

    p-value metrics alert when ``p <= level``; the others when ``value >= level``.
    A drop smaller than the ``*_min_drop`` gate never alerts, however small its
    p-value (with tens of thousands of trades a trivial drop is significant).

    One check runs six significance tests (KS, win rate, Brier, ECE map, mean
    return, Sharpe) and two calibrated streaming detectors. The defaults hold the
    whole check, not each test, to a false-alarm rate: a window drawn like the
    baseline raises any false warning in about 1 % of checks (0.1 % per test,
    0.4 % per detector, Bonferroni-style), and a false critical alert in about
    5e-5 of checks (5e-6 per test, 1e-5 per detector), so fewer than 1 % of
    in-control 300k-trade streams (≈ 140 windows of 2,000) ever see one. Measured
    by ``bench/bench_drift.py`` (``family_wise_false_alarms``); see the README.

    Attributes
    ----------
    psi_warning, psi_critical : float, default 0.1, 0.25
        PSI levels (the credit-scoring convention, Siddiqi 2006).
    ks_p_warning, ks_p_critical : float, default 0.001, 5e-6
        KS p-value levels.
    win_rate_p_warning, win_rate_p_critical : float, default 0.001, 5e-6
        One-sided p-value levels of a drop in win rate.
    win_rate_min_drop : float, default 0.02
        Smallest drop in win rate (2 percentage points) that can alert.
    brier_warning, brier_critical : float, default 0.01, 0.03
        Absolute increase of the Brier score. (A coin-flip forecaster scores 0.25.)
    brier_max_p : float, default 0.001
        The increase must also be significant: the one-sided Welch t-test on the
        per-trade squared errors must give ``p <= brier_max_p`` (the Brier score is
        their mean), so sampling noise in a small window does not alert.
    ece_warning, ece_critical : float, default 0.02, 0.05
        Absolute increase of the ECE. ECE is biased upwards in small samples, so
        the increase alerts only when the calibration map changed significantly
        too: a chi-square test of the current wins per score bin against the
        baseline's win rate per bin must give ``p <= brier_max_p``.
    mean_return_p_warning, mean_return_p_critical : float, default 0.001, 5e-6
        One-sided Welch t-test p-value levels of a drop in mean ``return_pct``.
    mean_return_min_drop : float, default 0.0
        Smallest drop of the mean return, in percentage points, that can alert.
    sharpe_p_warning, sharpe_p_critical : float, default 0.001, 5e-6
        One-sided p-value levels of a drop in per-trade Sharpe.
    sharpe_min_drop : float, default 0.02
        Smallest drop of per-trade Sharpe that can alert.
    detector_warning, detector_critical : int, default 1, 2
        Detections of a streaming detector in the current window. A second
        detection means the shift persisted after the detector restarted.
    """

    psi_warning: float = 0.10
    psi_critical: float = 0.25
    ks_p_warning: float = 0.001
    ks_p_critical: float = 5e-6
    win_rate_p_warning: float = 0.001
    win_rate_p_critical: float = 5e-6
    win_rate_min_drop: float = 0.02
    brier_warning: float = 0.01
    brier_critical: float = 0.03
    brier_max_p: float = 0.001
    ece_warning: float = 0.02
    ece_critical: float = 0.05
    mean_return_p_warning: float = 0.001
    mean_return_p_critical: float = 5e-6
    mean_return_min_drop: float = 0.0
    sharpe_p_warning: float = 0.001
    sharpe_p_critical: float = 5e-6
    sharpe_min_drop: float = 0.02
    detector_warning: int = 1
    detector_critical: int = 2

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"DriftThresholds.{f.name} must be a finite number, got {v!r}")
            if v < 0:
                raise ConfigError(f"DriftThresholds.{f.name} must be >= 0, got {v!r}")
        for m in ("ks", "win_rate", "mean_return", "sharpe"):
            w, c = getattr(self, f"{m}_p_warning"), getattr(self, f"{m}_p_critical")
            if not 0.0 < c <= w < 1.0:
                raise ConfigError(
                    f"DriftThresholds needs 0 < {m}_p_critical <= {m}_p_warning < 1, got "
                    f"{m}_p_critical={c!r} and {m}_p_warning={w!r}"
                )
        if not 0.0 < self.brier_max_p <= 1.0:
            raise ConfigError(
                f"DriftThresholds.brier_max_p must lie in (0, 1], got {self.brier_max_p!r}"
            )
        for m in ("psi", "brier", "ece", "detector"):
            w, c = getattr(self, f"{m}_warning"), getattr(self, f"{m}_critical")
            if not 0.0 < w <= c:
                raise ConfigError(
                    f"DriftThresholds needs 0 < {m}_warning <= {m}_critical, got "
                    f"{m}_warning={w!r} and {m}_critical={c!r}"
                )

    def severity(
        self,
        metric: str,
        value: float | None,
        *,
        drop: float | None = None,
        p_value: float | None = None,
    ) -> Severity:
        """Severity of one metric value.

        Parameters
        ----------
        metric : str
            One of :data:`METRICS` (``"psi"``, ``"ks"``, ``"win_rate"``, ``"brier"``,
            ``"ece"``, ``"mean_return"``, ``"sharpe"``, ``"detector"``).
        value : float or None
            What :data:`METRICS` says for that metric (a p-value, an increase, a
            PSI, a count). ``None`` or NaN (not computable) is ``"ok"``.
        drop : float, optional
            For ``win_rate``, ``mean_return`` and ``sharpe``: baseline − current.
            A drop below the metric's ``*_min_drop`` is ``"ok"``.
        p_value : float, optional
            For ``brier`` (p-value of the increase) and ``ece`` (p-value of the
            calibration-map change): above ``brier_max_p`` it is ``"ok"``.

        Returns
        -------
        {"ok", "warning", "critical"}
        """
        if metric not in METRICS:
            raise ConfigError(
                f"unknown drift metric {metric!r}; expected one of {', '.join(METRICS)}"
            )
        if value is None or math.isnan(float(value)):
            return "ok"
        v = float(value)
        if metric in ("ks", "win_rate", "mean_return", "sharpe"):
            gate = getattr(self, f"{metric}_min_drop", None)
            if gate is not None and drop is not None and not drop >= gate:
                return "ok"
            if v <= getattr(self, f"{metric}_p_critical"):
                return "critical"
            return "warning" if v <= getattr(self, f"{metric}_p_warning") else "ok"
        if (
            metric in ("brier", "ece")
            and p_value is not None
            and not math.isnan(p_value)
            and p_value > self.brier_max_p
        ):
            return "ok"
        if v >= getattr(self, f"{metric}_critical"):
            return "critical"
        return "warning" if v >= getattr(self, f"{metric}_warning") else "ok"

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftThresholds:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"DriftThresholds has no field {', '.join(map(repr, unknown))}; "
                f"fields: {', '.join(sorted(names))}"
            )
        return cls(**data)
