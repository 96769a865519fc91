"""Model registry: versions, stages, out-of-sample evaluation gates, promotion.

A model (a calibrator, say) is registered as a *version* of a name; versions
number themselves 1, 2, ... per name. A version moves through the stages
``development → staging → production``, or to ``archived``; at most one
version of a name is in production (promoting one archives the previous one,
and a partial UNIQUE index enforces it in SQLite). Every transition is
recorded with its time, stages, reason and whether it was forced, in a table
and as a ``MODEL_STAGE_CHANGED`` event.

Before promotion a version is **evaluated out of sample** on a run's trades:
the trades of its training window are left out, the stored model scores the
rest, and the scores are compared with the production version's and with the
uncalibrated confidence. :class:`Gate` objects (data: metric, operator, value)
decide whether it passes; the result is stored with every gate's observed value
and verdict, and a ``MODEL_EVALUATED`` event is written. Promotion to
``staging`` or ``production`` is refused unless the version's *last*
evaluation passed, or the promotion is forced with a reason (recorded).

Metrics an evaluation computes (:data:`EVALUATION_METRICS`) are computed
with :mod:`core.analytics` (Brier, ECE and its bootstrap bound, the threshold
sweep and the deflated Sharpe ratio).

Example
-------
>>> registry = ModelRegistry(store)                                  # doctest: +SKIP
>>> v = registry.register_calibrator("cal", train_trades, method="platt")  # doctest: +SKIP
>>> registry.evaluate(v.name, v.version, run_id, gates=DEFAULT_GATES).passed  # doctest: +SKIP
>>> registry.promote(v.name, v.version)                              # doctest: +SKIP
>>> registry.load("cal").predict([0.6, 0.7])                         # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.analytics.calibration import calibration_report, ece_confidence_interval
from core.analytics.calibrators import BaseCalibrator, calibrator_from_dict, make_calibrator
from core.analytics.selection import select_threshold
from core.errors import (
    ConfigError,
    InsufficientDataError,
    ModelNotFoundError,
    PromotionRefusedError,
    RunNotFoundError,
    ValidationError,
)
from core.events import to_utc
from core.store import Store
from core.store.lifecycle import (
    STAGES,
    EvaluationRecord,
    LifecycleStore,
    ModelVersion,
    StageChange,
)
from core.trades import validate_trades

__all__ = [
    "DEFAULT_GATES",
    "EVALUATION_METRICS",
    "GATE_OPS",
    "STAGES",
    "CalibratedSignalEngine",
    "Evaluation",
    "Gate",
    "GateResult",
    "ModelRegistry",
    "ModelVersion",
    "StageChange",
    "load_trades",
    "out_of_sample",
    "score_model",
    "trades_in_window",
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


def _check_name(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{field} must be a non-empty string, got {value!r}")
    return value


# --------------------------------------------------------------------------- gates


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


# --------------------------------------------------------------------------- trades helpers


Window = tuple[Any, Any] | Sequence[Any] | None


def trades_in_window(trades: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Trades whose ``entry_time`` lies in ``[start, end)`` (either bound may be None).

    Parameters
    ----------
    trades : DataFrame
        A trades frame with ``entry_time`` (UTC).
    window : (start, end) or None
        Datetime-likes (naive values are UTC); None keeps every trade.
    """
    if window is None:
        return trades
    if not isinstance(window, (tuple, list)) or len(window) != 2:
        raise ConfigError(
            f"window must be a pair (start, end) of times, either may be None; got {window!r}"
        )
    if "entry_time" not in trades.columns:
        raise ValidationError("trades need an entry_time column to select a time window")
    start, end = window
    mask = np.ones(len(trades), dtype=bool)
    times = trades["entry_time"]
    if start is not None:
        mask &= (times >= to_utc(start, field_name="window start")).to_numpy()
    if end is not None:
        mask &= (times < to_utc(end, field_name="window end")).to_numpy()
    return trades.loc[mask]


def load_trades(store: Store, run_id: str | None, window: Window = None) -> pd.DataFrame:
    """The trades frame of ``run_id`` (the newest completed run when None), in ``window``."""
    if run_id is None:
        run_id = store.latest_run_id()
        if run_id is None:
            raise RunNotFoundError(
                f"no completed run in {store.path}; run a backtest or import a signal log first"
            )
    return trades_in_window(store.trades_frame(run_id), window)


def _window_bounds(trades: pd.DataFrame) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    if "entry_time" not in trades.columns or trades.empty:
        return None, None
    t = trades["entry_time"]
    return t.min(), t.max()


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


# --------------------------------------------------------------------------- backtest hook


class CalibratedSignalEngine:
    """A signal engine whose signals carry a stored calibrator's probability.

    Wraps any signal engine (``generate(data) -> DataFrame``, the
    :class:`core.signals.SignalEngineProtocol`) and fills
    ``calibrated_probability`` from ``calibrator`` applied to ``key``, so
    ``run_backtest(config.replace(confidence_key="calibrated_probability"),
    signal_engine=registry.calibrated_signal_engine(name))`` trades on the
    production calibrator's probability.

    Parameters
    ----------
    inner : signal engine
        The engine whose signals are calibrated.
    calibrator : BaseCalibrator
        A fitted calibrator (e.g. :meth:`ModelRegistry.load`).
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
        prob = np.full(score.size, np.nan)
        ok = ~np.isnan(score)
        prob[ok] = self.calibrator.predict(score[ok])
        out = signals.copy()
        out["calibrated_probability"] = prob
        return out

    def __repr__(self) -> str:
        label = "" if self.model is None else f" {self.model[0]} v{self.model[1]}"
        return f"CalibratedSignalEngine({self.inner!r},{label} {self.calibrator.method})"


# --------------------------------------------------------------------------- registry


class ModelRegistry:
    """Register, evaluate, promote and load model versions stored in a :class:`Store`.

    Parameters
    ----------
    store : Store
        The Signal Lab store (the registry's tables live in it).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sql = LifecycleStore(store)

    # ----------------------------------------------------------------- register

    def register(
        self,
        name: str,
        *,
        model_type: str,
        method: str | None = None,
        params: Mapping[str, Any] | None = None,
        calibrator: BaseCalibrator | None = None,
        key: str = "confidence",
        training_run_id: str | None = None,
        window: Window = None,
        metrics: Mapping[str, Any] | None = None,
        note: str | None = None,
        job_id: str | None = None,
    ) -> ModelVersion:
        """Register the next version of ``name`` in ``development``.

        Parameters
        ----------
        name : str
            Model name; versions number themselves per name (1, 2, ...), safely
            under concurrent registration.
        model_type : str
            ``"calibrator"`` (needs ``calibrator`` or ``params["calibrator"]``),
            ``"signal"``, ...
        method : str, optional
            Defaults to the calibrator's method.
        params : mapping, optional
            JSON-able parameters (options, hyper-parameters).
        calibrator : BaseCalibrator, optional
            A fitted calibrator; stored as ``params["calibrator"]`` (its ``to_dict()``).
        key : str, default "confidence"
            Score column the model reads.
        training_run_id : str, optional
        window : (start, end), optional
            First and last ``entry_time`` of the training trades (inclusive);
            evaluation leaves these trades out.
        metrics : mapping, optional
            Training figures (JSON-able).
        note : str, optional
            Who registered it and why.

        Returns
        -------
        ModelVersion
        """
        _check_name("name", name)
        _check_name("model_type", model_type)
        params = dict(params or {})
        if calibrator is not None:
            params["calibrator"] = calibrator.to_dict()
            method = method or calibrator.method
        if model_type == "calibrator":
            if "calibrator" not in params:
                raise ConfigError(
                    "a 'calibrator' model needs a fitted calibrator: pass calibrator=... or "
                    "params={'calibrator': cal.to_dict()}"
                )
            calibrator_from_dict(params["calibrator"])  # refuse what could not be loaded back
        start = end = None
        if window is not None:
            if not isinstance(window, (tuple, list)) or len(window) != 2:
                raise ConfigError(f"window must be a pair (start, end), got {window!r}")
            start = None if window[0] is None else to_utc(window[0], field_name="window start")
            end = None if window[1] is None else to_utc(window[1], field_name="window end")
        return self.sql.register_version(
            name=name, model_type=model_type, method=method, params=params, key=key,
            training_run_id=training_run_id, train_start=start, train_end=end,
            metrics=dict(metrics or {}), note=note, job_id=job_id,
        )  # fmt: skip

    def register_calibrator(
        self,
        name: str,
        trades: pd.DataFrame,
        *,
        method: str = "platt",
        key: str = "confidence",
        options: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        note: str | None = None,
    ) -> ModelVersion:
        """Fit a calibrator on ``trades`` and register it (its window = their entry times).

        The metrics stored are *in sample* (``in_sample_brier``, ``in_sample_ece``,
        ``n_train``); the honest figures come from :meth:`evaluate`.
        """
        usable = validate_trades(trades, key=key, min_rows=2)
        cal = make_calibrator(method, **dict(options or {}))
        cal.fit(usable[key].to_numpy(dtype=np.float64), usable["win"].to_numpy())
        rep = calibration_report(cal.predict(usable[key].to_numpy(dtype=np.float64)),
                                 usable["win"].to_numpy())  # fmt: skip
        if run_id is None and "run_id" in usable.columns and usable["run_id"].nunique() == 1:
            run_id = str(usable["run_id"].iloc[0])
        return self.register(
            name, model_type="calibrator", calibrator=cal, key=key, training_run_id=run_id,
            window=_window_bounds(usable), params={"options": dict(options or {})},
            metrics={"n_train": len(usable), "in_sample_brier": rep.brier,
                     "in_sample_ece": rep.ece},
            note=note,
        )  # fmt: skip

    # ----------------------------------------------------------------- read

    def get(
        self, name: str, version: int | None = None, *, stage: str | None = None
    ) -> ModelVersion:
        """A version by number, the newest one in ``stage``, or the newest of all.

        Raises
        ------
        ModelNotFoundError
            No such model, version, or no version in that stage.
        """
        if version is not None:
            return self.sql.get_version(name, int(version))
        if stage is not None:
            self._check_stage(stage)
            found = self.sql.version_at_stage(name, stage)
            if found is None:
                versions = self.sql.versions_of(name)
                if not versions:
                    raise ModelNotFoundError(
                        f"no model named {name!r}; list models with `signal-lab models list`"
                    )
                stages = ", ".join(f"v{v.version}: {v.stage}" for v in versions)
                raise ModelNotFoundError(
                    f"model {name!r} has no version in {stage!r} ({stages}); promote one with "
                    f"`signal-lab models promote {name} VERSION --to {stage}`"
                )
            return found
        versions = self.sql.versions_of(name)
        if not versions:
            raise ModelNotFoundError(
                f"no model named {name!r}; list models with `signal-lab models list`"
            )
        return versions[-1]

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first (empty when unknown)."""
        return self.sql.versions_of(name)

    def list(
        self, *, name: str | None = None, stage: str | None = None, model_type: str | None = None
    ) -> list[ModelVersion]:
        """Versions matching the filters, by name then version."""
        if stage is not None:
            self._check_stage(stage)
        return self.sql.list_versions(name=name, stage=stage, model_type=model_type)

    def models_frame(self) -> pd.DataFrame:
        """One row per model name (versions, production version, stage counts, last update)."""
        return self.sql.models_frame()

    def versions_frame(self, name: str | None = None) -> pd.DataFrame:
        """One row per version: stage, method, training run and window, key metrics."""
        cols = ["name", "version", "model_type", "method", "stage", "key", "training_run_id",
                "train_start", "train_end", "created", "note", "last_evaluation_passed"]  # fmt: skip
        rows = []
        for v in self.sql.list_versions(name=name):
            evals = self.sql.evaluations_of(v.name, v.version)
            row = {c: getattr(v, c) for c in cols[:-1]}
            row["last_evaluation_passed"] = evals[-1].passed if evals else None
            rows.append(row)
        return pd.DataFrame(rows, columns=cols)

    def history(self, name: str, version: int | None = None) -> list[StageChange]:
        """Stage changes of ``name`` (of one version when given), oldest first."""
        return self.sql.stage_history(name, version)

    def history_frame(self, name: str, version: int | None = None) -> pd.DataFrame:
        cols = ["id", "name", "version", "from_stage", "to_stage", "reason", "forced", "at"]
        return pd.DataFrame([c.to_dict() for c in self.history(name, version)], columns=cols)

    def evaluations(self, name: str, version: int | None = None) -> list[Evaluation]:
        """Stored evaluations, oldest first."""
        return [Evaluation.from_record(r) for r in self.sql.evaluations_of(name, version)]

    def last_evaluation(self, name: str, version: int) -> Evaluation | None:
        evals = self.sql.evaluations_of(name, version)
        return Evaluation.from_record(evals[-1]) if evals else None

    # ----------------------------------------------------------------- evaluate

    def evaluate(
        self,
        name: str,
        version: int,
        run_id: str | None = None,
        gates: Iterable[Gate | str] | None = None,
        *,
        trades: pd.DataFrame | None = None,
        window: Window = None,
        n_bins: int = 10,
        n_boot: int = 200,
        seed: int = 0,
        min_trades: int = 30,
    ) -> Evaluation:
        """Score a version out of sample on a run's trades, apply the gates, store the result.

        Trades whose ``entry_time`` lies in the version's training window are
        left out whatever the run (a different run over the same market period
        holds the same signals). The production version (if another version is
        in production) and the uncalibrated ``key`` are scored on the same
        trades. The production version may have been trained on some of them,
        which flatters it: the comparison errs on the side of keeping production.

        Parameters
        ----------
        name, version
            The version to evaluate.
        run_id : str, optional
            Run whose trades are scored; the newest completed run when None
            (ignored when ``trades`` is given).
        gates : iterable of Gate or str, optional
            Conditions to pass (strings are parsed by :meth:`Gate.parse`);
            :data:`DEFAULT_GATES` when None.
        trades : DataFrame, optional
            Trades to score instead of a run's.
        window : (start, end), optional
            Only trades entering in ``[start, end)``.
        n_bins, n_boot, seed, min_trades
            See :func:`score_model`.

        Returns
        -------
        Evaluation
            Stored (with a ``MODEL_EVALUATED`` event).

        Raises
        ------
        ModelNotFoundError
            Unknown model or version.
        InsufficientDataError
            Fewer than 2 out-of-sample trades.
        """
        model = self.sql.get_version(name, version)
        gate_list = self._gates(gates)
        if trades is None:
            if run_id is None:
                run_id = self.store.latest_run_id()
            frame = load_trades(self.store, run_id, window)
        else:
            frame = trades_in_window(trades, window)
            if run_id is None and "run_id" in frame.columns and frame["run_id"].nunique() == 1:
                run_id = str(frame["run_id"].iloc[0])
        oos = out_of_sample(frame, model)
        if len(oos) < 2:
            raise InsufficientDataError(
                f"{name} v{version}: {len(oos)} trade(s) of run {run_id} lie outside its "
                f"training window ({model.train_start} to {model.train_end}); evaluate it on "
                "a later window or another run"
            )
        production = self.sql.version_at_stage(name, "production")
        if production is not None and production.version == model.version:
            production = None
        metrics = score_model(
            model, oos, production=production, n_bins=n_bins, n_boot=n_boot, seed=seed,
            min_trades=min_trades,
        )  # fmt: skip
        results = [GateResult(g, metrics.get(g.metric), g.check(metrics.get(g.metric)))
                   for g in gate_list]  # fmt: skip
        start, end = _window_bounds(oos)
        record = self.sql.record_evaluation(
            name=name, version=int(version), run_id=run_id,
            passed=all(r.passed for r in results), gates=[r.to_dict() for r in results],
            metrics=metrics, production_version=None if production is None else production.version,
            n_trades=int(metrics["n_trades"]), window_start=start, window_end=end,
        )  # fmt: skip
        return Evaluation.from_record(record)

    @staticmethod
    def _gates(gates: Iterable[Gate | str] | None) -> list[Gate]:
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

    # ----------------------------------------------------------------- stages

    @staticmethod
    def _check_stage(stage: str) -> None:
        if stage not in STAGES:
            prefixed = [s for s in STAGES if str(stage) and s.startswith(str(stage))]
            hint = prefixed or difflib.get_close_matches(str(stage), STAGES, n=1)
            raise ConfigError(
                f"stage must be one of {', '.join(STAGES)}, got {stage!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
            )

    def promote(
        self,
        name: str,
        version: int,
        *,
        to_stage: str = "production",
        reason: str | None = None,
        force: bool = False,
    ) -> list[StageChange]:
        """Move a version to ``to_stage``; returns the stage changes recorded.

        To ``staging`` or ``production`` the version's last evaluation must have
        passed, unless ``force=True`` with a ``reason`` (recorded with the
        change). Promoting to production archives the current production
        version in the same transaction. Moving to ``development`` or
        ``archived`` needs no evaluation.

        Raises
        ------
        PromotionRefusedError
            Never evaluated, last evaluation failed, already in ``to_stage``,
            or forced without a reason. The message says how to force.
        ModelNotFoundError
            Unknown model or version.
        """
        self._check_stage(to_stage)
        if force and not (isinstance(reason, str) and reason.strip()):
            raise PromotionRefusedError(
                f"a forced promotion of {name} v{version} needs a reason; pass "
                "reason='why the gates do not apply' (CLI: --force --reason '...')"
            )
        how_to_force = (
            f"to promote anyway, force it with a reason: promote_model({name!r}, {version}, "
            f"to_stage={to_stage!r}, force=True, reason='...') or "
            f"`signal-lab models promote {name} {version} --to {to_stage} --force --reason '...'`"
        )

        def guard(current: ModelVersion, last: EvaluationRecord | None) -> None:
            if current.stage == to_stage:
                raise PromotionRefusedError(f"{name} v{version} is already in {to_stage!r}")
            if force or to_stage not in ("staging", "production"):
                return
            if last is None:
                raise PromotionRefusedError(
                    f"{name} v{version} has never been evaluated, so it cannot go to "
                    f"{to_stage!r}; evaluate it first (evaluate_model({name!r}, {version}, "
                    f"run_id)); {how_to_force}"
                )
            if not last.passed:
                failed = [
                    f"{g['metric']} {g['op']} {g['value']:g} (observed {g.get('observed')})"
                    for g in last.gates
                    if not g["passed"]
                ]
                raise PromotionRefusedError(
                    f"{name} v{version} failed its last evaluation (#{last.id} on run "
                    f"{last.run_id}): {'; '.join(failed)}; {how_to_force}"
                )

        return self.sql.change_stage(
            name, int(version), to_stage, reason=reason, forced=bool(force), guard=guard
        )

    # ----------------------------------------------------------------- load / apply

    def load(
        self, name: str, stage: str | None = "production", *, version: int | None = None
    ) -> BaseCalibrator:
        """The calibrator of a version (by number, or the one in ``stage``), ready to predict.

        Raises
        ------
        ModelNotFoundError
            No such version, or none in that stage.
        ConfigError
            The version is not a calibrator (read its params with :meth:`get`).
        """
        model = self.get(name, version, stage=None if version is not None else stage)
        if model.model_type != "calibrator" or "calibrator" not in model.params:
            raise ConfigError(
                f"{name} v{model.version} is a {model.model_type!r} model, not a calibrator; "
                "read its parameters with get_model(name, version).params"
            )
        return calibrator_from_dict(model.params["calibrator"])

    def apply_production_calibrator(
        self, frame: pd.DataFrame, name: str, *, key: str | None = None
    ) -> pd.DataFrame:
        """A copy of ``frame`` with ``calibrated_probability`` from the production calibrator.

        Parameters
        ----------
        frame : DataFrame
            A trades frame or a signals frame with the score column.
        name : str
            Model name; its production version is used.
        key : str, optional
            Score column; the version's own key by default.

        Returns
        -------
        DataFrame
            Same rows; ``calibrated_probability`` in [0, 1] (NaN where the score
            is NaN); ``attrs["calibrator"]`` names the model and version.
        """
        model = self.get(name, stage="production")
        cal = self.load(name, version=model.version)
        column = key or model.key
        if column not in frame.columns:
            raise ValidationError(
                f"frame has no {column!r} column to calibrate; columns: {', '.join(frame.columns)}"
            )
        score = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        out = frame.copy()
        prob = np.full(score.size, np.nan)
        ok = ~np.isnan(score)
        prob[ok] = cal.predict(score[ok])
        out["calibrated_probability"] = prob
        out.attrs["calibrator"] = {"name": name, "version": model.version, "method": cal.method}
        return out

    def calibrated_signal_engine(
        self, name: str, inner: Any = None, *, stage: str = "production"
    ) -> CalibratedSignalEngine:
        """A signal engine that adds the ``stage`` calibrator's probability to ``inner``'s signals.

        ``inner`` defaults to the ensemble with default settings
        (``BacktestConfig().signal_engine()``); pass ``config.signal_engine()``
        to keep a config's ``min_agree``, ``holding_days`` and ``seed``.
        """
        model = self.get(name, stage=stage)
        if inner is None:
            from core.backtest import BacktestConfig  # the backtest imports the engines

            inner = BacktestConfig().signal_engine()
        return CalibratedSignalEngine(
            inner,
            self.load(name, version=model.version),
            key=model.key,
            model=(name, model.version),
        )
