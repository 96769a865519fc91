"""SQL of the model lifecycle: registry, evaluations, stages, jobs, triggers, drift.

:class:`LifecycleStore` wraps a :class:`~core.store.db.Store` and is the only
code that reads or writes the lifecycle tables (migration
``m003_model_lifecycle``). Every change that has a lifecycle event writes the
event in the *same* transaction (``BEGIN IMMEDIATE`` through
:meth:`Store.write`), so the table and the event log never disagree, and
everything that must be atomic (numbering versions, one production version,
claiming a due training trigger, deduplicating alerts) happens inside one
transaction.

Policy (which promotions are allowed, what a gate means) lives in
:mod:`core.lifecycle`; it reaches in through small ``guard`` callbacks that
run inside the transaction.

Times are UTC; in SQLite INTEGER nanoseconds since the epoch, in Python
``pandas.Timestamp`` (tz-aware).

The SQL is split by subject, one mixin per module: :mod:`.registry`
(versions, stage changes, evaluations), :mod:`.jobs` (training jobs and
triggers) and :mod:`.drift` (baselines and alerts); :mod:`._common` holds the
private helpers they share.
"""

from __future__ import annotations

from core.store.db import Store
from core.store.lifecycle.drift import ALERT_COLUMNS, AlertRecord, BaselineRecord, DriftSQL
from core.store.lifecycle.jobs import (
    FINAL_JOB_STATES,
    JOB_STATES,
    JobRecord,
    JobsSQL,
    TriggerRecord,
)
from core.store.lifecycle.registry import (
    STAGES,
    EvaluationRecord,
    ModelVersion,
    PromotionGuard,
    RegistrySQL,
    StageChange,
)

__all__ = [
    "ALERT_COLUMNS",
    "FINAL_JOB_STATES",
    "JOB_STATES",
    "STAGES",
    "AlertRecord",
    "BaselineRecord",
    "EvaluationRecord",
    "JobRecord",
    "LifecycleStore",
    "ModelVersion",
    "PromotionGuard",
    "StageChange",
    "TriggerRecord",
]

# --------------------------------------------------------------------------- the store


class LifecycleStore(RegistrySQL, JobsSQL, DriftSQL):
    """Reads and writes the lifecycle tables of one :class:`Store`.

    Parameters
    ----------
    store : Store
        An open store (migrated to at least ``m003_model_lifecycle``).

    Notes
    -----
    Stateless apart from ``store``: safe to share across threads (each thread
    uses its own connection) and to build anew in each process.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
