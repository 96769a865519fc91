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
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from core.analytics.calibration import calibration_report
from core.analytics.calibrators import BaseCalibrator, calibrator_from_dict, make_calibrator
from core.errors import (
    ConfigError,
    InsufficientDataError,
    ModelNotFoundError,
    PromotionRefusedError,
    ValidationError,
)
from core.events import to_utc
from core.lifecycle.gates import (
    Evaluation,
    Gate,
    GateResult,
    out_of_sample,
    parse_gates,
    score_model,
)
from core.signals.calibrated import CalibratedSignalEngine, calibrate_scores
from core.store import Store
from core.store.registry import (
    MODEL_STAGES,
    EvaluationRecord,
    ModelVersion,
    RegistryTables,
    StageChange,
)
from core.trade_windows import Window, load_trades, trades_in_window, window_bounds
from core.trades import validate_trades

__all__ = ["ModelRegistry"]


def _check_name(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{field} must be a non-empty string, got {value!r}")
    return value


class ModelRegistry:
    """Register, evaluate, promote and load model versions stored in a :class:`Store`.

    Parameters
    ----------
    store : Store
        The Signal Lab store (the registry's tables live in it).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sql = RegistryTables(store)

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
            window=window_bounds(usable), params={"options": dict(options or {})},
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
        gate_list = parse_gates(gates)
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
        start, end = window_bounds(oos)
        record = self.sql.record_evaluation(
            name=name, version=int(version), run_id=run_id,
            passed=all(r.passed for r in results), gates=[r.to_dict() for r in results],
            metrics=metrics, production_version=None if production is None else production.version,
            n_trades=int(metrics["n_trades"]), window_start=start, window_end=end,
        )  # fmt: skip
        return Evaluation.from_record(record)

    # ----------------------------------------------------------------- stages

    @staticmethod
    def _check_stage(stage: str) -> None:
        if stage not in MODEL_STAGES:
            prefixed = [s for s in MODEL_STAGES if str(stage) and s.startswith(str(stage))]
            hint = prefixed or difflib.get_close_matches(str(stage), MODEL_STAGES, n=1)
            raise ConfigError(
                f"stage must be one of {', '.join(MODEL_STAGES)}, got {stage!r}"
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
        out["calibrated_probability"] = calibrate_scores(cal, score)
        out.attrs["calibrator"] = {"name": name, "version": model.version, "method": cal.method}
        return out

    def calibrated_signal_engine(
        self, name: str, inner: Any, *, stage: str = "production"
    ) -> CalibratedSignalEngine:
        """A signal engine that adds the ``stage`` calibrator's probability to ``inner``'s signals.

        ``inner`` is the engine to wrap, e.g. ``config.signal_engine()`` of a
        :class:`core.backtest.BacktestConfig` (keeping its ``min_agree``,
        ``holding_days`` and ``seed``).
        """
        model = self.get(name, stage=stage)
        return CalibratedSignalEngine(
            inner,
            self.load(name, version=model.version),
            key=model.key,
            model=(name, model.version),
        )
