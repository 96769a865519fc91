"""The evaluation gate language and the scoring of a model version out of sample.

A :class:`Gate` is data (metric, operator, value), e.g. ``ece_upper <= 0.05``;
:func:`score_model` computes every :data:`EVALUATION_METRICS` figure of a
version on trades it was not trained on (:func:`out_of_sample`); an
:class:`Evaluation` is the stored verdict. The registry
(:mod:`core.lifecycle.registry`) applies the gates and stores the result.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.analytics.calibration import calibration_report, ece_confidence_interval
from core.analytics.calibrators import calibrator_from_dict
from core.analytics.selection import select_threshold
from core.errors import ConfigError, InsufficientDataError, ValidationError
from core.store.registry import EvaluationRecord, ModelVersion
from core.trades import validate_trades

__all__ = [
    "DEFAULT_GATES",
    "EVALUATION_METRICS",
    "GATE_OPS",
    "Evaluation",
    "Gate",
    "GateResult",
    "out_of_sample",
    "parse_gates",
    "score_model",
]

#: Metrics an evaluation reports (a :class:`Gate` names one of these).
EVALUATION_METRICS: dict[str, str] = {
    "n_trades": "out-of-sample trades scored",
    "brier": "Brier score of the version's probabilities (lower is better)",
    "ece": "expected calibration error, 10 uniform bins (lower is better)",
    "ece_upper": "upper bound of the ECE's 95 % bootstrap interval (97.5th percentile)",
    "mce": "maximum calibration error over the bins",
    "log_loss": "mean negative log-likelihood (natural log)",
    "baseline_brier": "Brier score of the uncalibrated confidence on the same trades",
    "baseline_ece": "ECE of the uncalibrated confidence on the same trades",
    "production_brier": "Brier score of the production version on the same trades (None: none)",
    "production_ece": "ECE of the production version on the same trades (None: none)",
    "brier_gain_vs_baseline": "baseline_brier - brier (positive: better than uncalibrated)",
    "brier_gain_vs_production": (
        "production_brier - brier (positive: better than production); against the "
        "uncalibrated baseline when no other version is in production"
    ),
    "ece_gain_vs_baseline": "baseline_ece - ece (positive: better calibrated than raw)",
    "threshold": "threshold on the version's probability that maximises per-trade Sharpe",
    "threshold_trades": "trades kept at that threshold",
    "threshold_sharpe": "per-trade Sharpe at that threshold (in sample of the evaluation)",
    "dsr": "deflated Sharpe ratio of that threshold's trades (Bailey & López de Prado 2014)",
}

#: Comparison operators a gate may use.
GATE_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}

_GATE_TEXT = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|>|<)\s*([-+0-9.eE]+|inf)\s*$")


@dataclass(frozen=True)
class Gate:
    """One promotion condition: ``metric op value`` (e.g. ``ece_upper <= 0.05``).

    Parameters
    ----------
    metric : str
        One of :data:`EVALUATION_METRICS`.
    op : {">=", ">", "<=", "<"}
    value : float
        The threshold.

    Examples
    --------
    >>> Gate.parse("brier_gain_vs_production >= 0.001")
    Gate(metric='brier_gain_vs_production', op='>=', value=0.001)
    >>> Gate("n_trades", ">=", 200).check(150)
    False
    """

    metric: str
    op: str
    value: float

    def __post_init__(self) -> None:
        if self.metric not in EVALUATION_METRICS:
            hint = difflib.get_close_matches(str(self.metric), list(EVALUATION_METRICS), n=1)
            raise ConfigError(
                f"gate metric {self.metric!r} is unknown"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; one of {', '.join(EVALUATION_METRICS)}"
            )
        if self.op not in GATE_OPS:
            raise ConfigError(
                f"gate operator must be one of {', '.join(GATE_OPS)}, got {self.op!r}"
            )
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float, np.number)):
            raise ConfigError(f"gate value must be a number, got {self.value!r}")
        if math.isnan(float(self.value)):
            raise ConfigError("gate value must not be NaN")
        object.__setattr__(self, "value", float(self.value))

    @classmethod
    def parse(cls, text: str) -> Gate:
        """A gate from text such as ``"ece_upper<=0.05"``."""
        m = _GATE_TEXT.match(str(text))
        if m is None:
            raise ConfigError(
                f"cannot read gate {text!r}; write METRIC OP VALUE, e.g. 'ece_upper<=0.05' "
                f"(operators {', '.join(GATE_OPS)})"
            )
        return cls(m.group(1), m.group(2), float(m.group(3)))

    def check(self, observed: float | None) -> bool:
        """Whether ``observed`` satisfies the gate (a missing or NaN value never does)."""
        if observed is None or (isinstance(observed, float) and math.isnan(observed)):
            return False
        return bool(GATE_OPS[self.op](float(observed), self.value))

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Gate:
        return cls(str(data["metric"]), str(data["op"]), float(data["value"]))


#: Gates used when none are given: enough trades, at least as good a Brier score
#: as production (or as the raw confidence), and an ECE upper bound below 0.05.
DEFAULT_GATES: tuple[Gate, ...] = (
    Gate("n_trades", ">=", 200),
    Gate("brier_gain_vs_production", ">=", 0.0),
    Gate("ece_upper", "<=", 0.05),
)


@dataclass(frozen=True)
class GateResult:
    """A gate, the value observed and the verdict."""

    gate: Gate
    observed: float | None
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {**self.gate.to_dict(), "observed": self.observed, "passed": self.passed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        observed = data.get("observed")
        if isinstance(observed, str):  # "inf" / "-inf" as stored in JSON
            observed = float(observed)
        return cls(Gate.from_dict(data), observed, bool(data["passed"]))


@dataclass(frozen=True)
class Evaluation:
    """A stored out-of-sample evaluation of one model version.

    Attributes
    ----------
    id : int
    name : str
    version : int
    run_id : str or None
        Run whose trades were scored.
    passed : bool
        Every gate passed.
    gates : tuple of GateResult
    metrics : dict
        :data:`EVALUATION_METRICS` (None where not computable).
    production_version : int or None
        The version compared against (None: no other version in production).
    n_trades : int
        Out-of-sample trades scored.
    window_start, window_end : Timestamp or None
        First and last ``entry_time`` scored.
    at : Timestamp
    """

    id: int
    name: str
    version: int
    run_id: str | None
    passed: bool
    gates: tuple[GateResult, ...]
    metrics: dict[str, Any]
    production_version: int | None
    n_trades: int
    window_start: pd.Timestamp | None
    window_end: pd.Timestamp | None
    at: pd.Timestamp

    @property
    def failed_gates(self) -> tuple[GateResult, ...]:
        return tuple(g for g in self.gates if not g.passed)

    @classmethod
    def from_record(cls, record: EvaluationRecord) -> Evaluation:
        return cls(
            id=record.id,
            name=record.name,
            version=record.version,
            run_id=record.run_id,
            passed=record.passed,
            gates=tuple(GateResult.from_dict(g) for g in record.gates),
            metrics=dict(record.metrics),
            production_version=record.production_version,
            n_trades=record.n_trades,
            window_start=record.window_start,
            window_end=record.window_end,
            at=record.at,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "passed": self.passed,
            "gates": [g.to_dict() for g in self.gates],
            "metrics": dict(self.metrics),
            "production_version": self.production_version,
            "n_trades": self.n_trades,
            "window_start": None if self.window_start is None else self.window_start.isoformat(),
            "window_end": None if self.window_end is None else self.window_end.isoformat(),
            "at": self.at.isoformat(),
        }

    def summary(self) -> str:
        """One line per gate, for people."""
        head = (
            f"{self.name} v{self.version} on run {self.run_id}: "
            f"{'PASSED' if self.passed else 'FAILED'} ({self.n_trades} out-of-sample trades)"
        )
        lines = [head]
        for g in self.gates:
            obs = "n/a" if g.observed is None else f"{g.observed:.6g}"
            lines.append(f"  [{'ok' if g.passed else 'FAIL'}] {g.gate}  (observed {obs})")
        return "\n".join(lines)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    x = float(value)
    return None if math.isnan(x) else x


def _predict(model: ModelVersion, confidence: np.ndarray) -> np.ndarray:
    """Probabilities a version gives: its calibrator's map, or the raw score."""
    if model.model_type == "calibrator":
        return calibrator_from_dict(model.params["calibrator"]).predict(confidence)
    return confidence


def out_of_sample(trades: pd.DataFrame, model: ModelVersion) -> pd.DataFrame:
    """Trades outside the version's training window (``[train_start, train_end]`` left out)."""
    if model.train_start is None or model.train_end is None:
        return trades
    if "entry_time" not in trades.columns:
        raise ValidationError(
            f"{model.name} v{model.version} was trained on a time window, so the trades to "
            "score need an entry_time column to leave that window out"
        )
    t = trades["entry_time"]
    inside = (t >= model.train_start) & (t <= model.train_end)
    return trades.loc[~inside.to_numpy()]


def score_model(
    model: ModelVersion,
    trades: pd.DataFrame,
    *,
    production: ModelVersion | None = None,
    n_bins: int = 10,
    n_boot: int = 200,
    seed: int = 0,
    min_trades: int = 30,
) -> dict[str, Any]:
    """Every :data:`EVALUATION_METRICS` figure of ``model`` on ``trades`` (already out of sample).

    Parameters
    ----------
    model : ModelVersion
        The candidate.
    trades : DataFrame
        Trades frame with ``model.key``, ``return_pct``, ``win``.
    production : ModelVersion, optional
        Version to compare with (None: compare with the uncalibrated score).
    n_bins : int, default 10
        Uniform bins of the ECE.
    n_boot : int, default 200
        Bootstrap replicates of the ECE interval.
    seed : int, default 0
    min_trades : int, default 30
        Fewest trades a threshold must keep in the Sharpe selection.

    Returns
    -------
    dict
        Metric name to value (None where not computable).
    """
    usable = validate_trades(trades, key=model.key, min_rows=2)
    raw = usable[model.key].to_numpy(dtype=np.float64)
    win = usable["win"].to_numpy().astype(bool)
    prob = _predict(model, raw)
    cand = calibration_report(prob, win, n_bins=n_bins)
    base = calibration_report(raw, win, n_bins=n_bins)
    ci = ece_confidence_interval(prob, win, n_bins=n_bins, n_boot=n_boot, level=0.95, seed=seed)
    out: dict[str, Any] = {
        "n_trades": int(raw.size),
        "brier": cand.brier,
        "ece": cand.ece,
        "ece_upper": ci.high,
        "mce": cand.mce,
        "log_loss": cand.log_loss,
        "baseline_brier": base.brier,
        "baseline_ece": base.ece,
        "production_brier": None,
        "production_ece": None,
        "brier_gain_vs_baseline": base.brier - cand.brier,
        "ece_gain_vs_baseline": base.ece - cand.ece,
    }
    if production is not None:
        prod = calibration_report(_predict(production, raw), win, n_bins=n_bins)
        out["production_brier"] = prod.brier
        out["production_ece"] = prod.ece
        out["brier_gain_vs_production"] = prod.brier - cand.brier
    else:
        out["brier_gain_vs_production"] = out["brier_gain_vs_baseline"]
    scored = pd.DataFrame(
        {"calibrated_probability": prob, "return_pct": usable["return_pct"].to_numpy(), "win": win}
    )
    out.update(threshold=None, threshold_trades=None, threshold_sharpe=None, dsr=None)
    try:
        choice = select_threshold(
            scored, key="calibrated_probability", objective="sharpe", min_trades=min_trades
        )
    except InsufficientDataError:
        choice = None  # no threshold keeps min_trades trades: those figures stay None
    if choice is not None:
        out.update(
            threshold=choice.threshold,
            threshold_trades=choice.trades,
            threshold_sharpe=choice.sharpe,
            dsr=None if choice.deflated is None else choice.deflated.dsr,
        )
    counts = ("n_trades", "threshold_trades")
    return {k: v if k in counts else _float(v) for k, v in out.items()}


def parse_gates(gates: Iterable[Gate | str | Mapping[str, Any]] | Gate | str | None) -> list[Gate]:
    """Gates from Gate objects, text (``"ece_upper<=0.05"``) or mappings; :data:`DEFAULT_GATES` for None."""
    if gates is None:
        return list(DEFAULT_GATES)
    if isinstance(gates, (Gate, str)):
        gates = [gates]
    out = []
    for g in gates:
        if isinstance(g, Gate):
            out.append(g)
        elif isinstance(g, str):
            out.append(Gate.parse(g))
        elif isinstance(g, Mapping):
            out.append(Gate.from_dict(g))
        else:
            raise ConfigError(f"a gate must be a Gate, a mapping or text, got {g!r}")
    return out
