"""The Models page: registered versions, evaluations, stage changes and training jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.dashboard.calibration import CalibratorComparison
from core.errors import InsufficientDataError, ValidationError
from core.learning import LearningEngine
from core.lifecycle.gates import Gate

__all__ = [
    "VersionDetail",
    "change_stage",
    "evaluate_version",
    "jobs_table",
    "models_table",
    "register_calibrator",
    "submit_job",
    "version_detail",
]


def models_table(engine: LearningEngine) -> pd.DataFrame:
    """Every registered version: name, version, stage, method, key, training window, gates."""
    return engine.registry.versions_frame()


@dataclass(frozen=True)
class VersionDetail:
    """One model version: its record, metrics, evaluations (gates) and stage history."""

    version: Any
    metrics: pd.DataFrame
    evaluations: pd.DataFrame
    gates: pd.DataFrame
    history: pd.DataFrame


def version_detail(engine: LearningEngine, name: str, version: int) -> VersionDetail:
    """What the Models page shows about one version."""
    registry = engine.registry
    v = registry.get(name, version)
    metrics = pd.DataFrame(
        {"metric": list(v.metrics), "value": [_show(x) for x in v.metrics.values()]}
    )
    evals = registry.evaluations(name, version)
    evaluations = pd.DataFrame(
        [
            {"id": e.id, "at": e.at, "run_id": e.run_id, "passed": e.passed,
             "n_trades": e.n_trades, "production_version": e.production_version}
            for e in evals
        ],
        columns=["id", "at", "run_id", "passed", "n_trades", "production_version"],
    )  # fmt: skip
    gates = pd.DataFrame(
        [
            {"gate": str(g.gate), "observed": g.observed, "passed": g.passed}
            for g in (evals[-1].gates if evals else ())
        ],
        columns=["gate", "observed", "passed"],
    )
    history = registry.history_frame(name, version)
    return VersionDetail(version=v, metrics=metrics, evaluations=evaluations, gates=gates,
                         history=history)  # fmt: skip


def _show(value: Any) -> str:
    """A stored metric as text: numbers with 4 significant digits."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    return str(value)


def evaluate_version(
    engine: LearningEngine, name: str, version: int, *, run_id: str, gates: str
) -> Any:
    """Evaluate a version out of sample on a run with gates given as text, one per line."""
    parsed = [Gate.parse(line) for line in gates.splitlines() if line.strip()]
    return engine.evaluate_model(name, version, run_id, gates=parsed or None)


def change_stage(
    engine: LearningEngine,
    name: str,
    version: int,
    *,
    to_stage: str,
    reason: str | None,
    force: bool,
) -> Any:
    """Promote, demote or archive a version (with a reason, recorded)."""
    return engine.promote_model(
        name, version, to_stage=to_stage, reason=(reason or "").strip() or None, force=force
    )


def jobs_table(engine: LearningEngine) -> pd.DataFrame:
    """Training jobs, newest first."""
    return engine.jobs.frame()


def submit_job(
    engine: LearningEngine,
    *,
    model_name: str,
    method: str,
    run_id: str,
    key: str = "confidence",
    mode: str = "walk_forward",
    n_windows: int = 5,
) -> Any:
    """Queue a calibrator training job on a run (it runs in the background)."""
    return engine.submit_training_job(
        model_name.strip(), "calibrator",
        {"method": method, "run_id": run_id, "key": key, "mode": mode, "n_windows": int(n_windows)},
    )  # fmt: skip


def register_calibrator(
    engine: LearningEngine,
    comparison: CalibratorComparison,
    *,
    method: str,
    name: str,
    run_id: str,
    note: str | None = None,
) -> Any:
    """Register the walk-forward calibrator ``method`` of a comparison as a new version.

    The version registered is the calibrator of the *last* walk-forward window,
    fitted only on trades before that window, with that training window
    recorded, so an evaluation on the same run scores it on trades it has not
    seen. Its walk-forward out-of-sample figures are stored as its metrics.
    """
    if method not in comparison.results:
        raise ValidationError(f"no walk-forward result for {method!r}; fit it first")
    res = comparison.results[method]
    if res.last_calibrator is None:
        raise InsufficientDataError(
            f"the {method} calibrator had no window with enough history to fit"
        )
    ok = res.windows[res.windows["status"] == "ok"]
    last = ok.iloc[-1]
    oos = res.out_of_sample
    metrics = {"n_oos": res.n_evaluated}
    if oos is not None:
        metrics.update(oos_brier=oos.brier, oos_ece=oos.ece, oos_log_loss=oos.log_loss)
    return engine.register_model(
        name.strip(), model_type="calibrator", calibrator=res.last_calibrator,
        key=res.key, training_run_id=run_id, window=(last["train_start"], last["train_end"]),
        metrics=metrics, note=note or f"walk-forward {method}, registered from the dashboard",
    )  # fmt: skip
