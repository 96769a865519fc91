"""Results of a drift check: one :class:`DriftFinding` per metric in a :class:`DriftReport`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd

from core.analytics.drift._common import _f, _iso, _time
from core.analytics.drift.thresholds import _RANK, DriftThresholds, Severity
from core.errors import ValidationError


@dataclass(frozen=True)
class DriftFinding:
    """One drift metric of a check.

    Attributes
    ----------
    metric : str
        ``psi``, ``ks``, ``win_rate``, ``brier``, ``ece``, ``mean_return``,
        ``sharpe`` or a detector's name and outcome (``page_hinkley_win``, ...).
    baseline_value, current_value : float or None
        The quantity in each window: mean confidence (psi, ks), win rate, Brier,
        ECE, mean return (percent), Sharpe, mean outcome (detectors).
    statistic : float or None
        PSI; KS D; z of the win rate; increase of Brier/ECE; Welch t; Sharpe z;
        number of detections.
    p_value : float or None
        One-sided for drops (win rate, mean return, Sharpe), two-sided for KS,
        None where there is no test.
    severity : {"ok", "warning", "critical"}
    message : str
        One line for people (alert lists, logs).
    detected_at : int or None
        Detectors: 0-based position in the current window (time order) of the
        first detection.
    detected_time : Timestamp or None
        Detectors: ``entry_time`` of that trade.
    """

    metric: str
    baseline_value: float | None
    current_value: float | None
    statistic: float | None
    p_value: float | None
    severity: Severity
    message: str
    detected_at: int | None = None
    detected_time: pd.Timestamp | None = None

    @property
    def is_alert(self) -> bool:
        return self.severity != "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None, time as ISO 8601)."""
        return {
            "metric": self.metric,
            "baseline_value": _f(self.baseline_value),
            "current_value": _f(self.current_value),
            "statistic": _f(self.statistic),
            "p_value": _f(self.p_value),
            "severity": self.severity,
            "message": self.message,
            "detected_at": self.detected_at,
            "detected_time": _iso(self.detected_time),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftFinding:
        if data.get("severity") not in _RANK:
            raise ValidationError(
                f"DriftFinding severity must be ok/warning/critical, got {data.get('severity')!r}"
            )
        at = data.get("detected_at")
        return cls(
            metric=str(data["metric"]),
            baseline_value=_f(data.get("baseline_value")),
            current_value=_f(data.get("current_value")),
            statistic=_f(data.get("statistic")),
            p_value=_f(data.get("p_value")),
            severity=data["severity"],
            message=str(data.get("message", "")),
            detected_at=None if at is None else int(at),
            detected_time=_time(data.get("detected_time")),
        )


@dataclass(frozen=True)
class DriftReport:
    """All findings of one drift check.

    Attributes
    ----------
    key : str
        Confidence column checked.
    n_baseline, n_current : int
        Trades in each window.
    findings : tuple of DriftFinding
        One per metric, in a fixed order (psi, ks, win_rate, brier, ece,
        mean_return, sharpe, then the detectors).
    current_start, current_end : Timestamp or None
        First and last ``entry_time`` of the current window.
    thresholds : DriftThresholds
        The levels used.
    """

    key: str
    n_baseline: int
    n_current: int
    findings: tuple[DriftFinding, ...]
    current_start: pd.Timestamp | None = None
    current_end: pd.Timestamp | None = None
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)

    @property
    def alerts(self) -> tuple[DriftFinding, ...]:
        """Findings whose severity is not ``"ok"``."""
        return tuple(f for f in self.findings if f.severity != "ok")

    @property
    def severity(self) -> Severity:
        """Worst severity over the findings."""
        worst = max((_RANK[f.severity] for f in self.findings), default=0)
        return ("ok", "warning", "critical")[worst]  # type: ignore[return-value]

    def finding(self, metric: str) -> DriftFinding:
        """The finding of ``metric``; KeyError naming the metrics present otherwise."""
        for f in self.findings:
            if f.metric == metric:
                return f
        raise KeyError(
            f"no finding {metric!r}; present: {', '.join(f.metric for f in self.findings)}"
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per finding (columns as :meth:`DriftFinding.to_dict`)."""
        names = [x.name for x in fields(DriftFinding)]
        rows = [{name: getattr(f, name) for name in names} for f in self.findings]
        return pd.DataFrame(rows, columns=names)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "n_baseline": self.n_baseline,
            "n_current": self.n_current,
            "severity": self.severity,
            "current_start": _iso(self.current_start),
            "current_end": _iso(self.current_end),
            "thresholds": self.thresholds.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReport:
        return cls(
            key=str(data["key"]),
            n_baseline=int(data["n_baseline"]),
            n_current=int(data["n_current"]),
            findings=tuple(DriftFinding.from_dict(f) for f in data["findings"]),
            current_start=_time(data.get("current_start")),
            current_end=_time(data.get("current_end")),
            thresholds=DriftThresholds.from_dict(data.get("thresholds", {})),
        )
