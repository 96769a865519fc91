"""The trial ledger: every trial made on a signal, so the deflation counts them all.

A researcher who sweeps 101 thresholds, reruns at three others, compares four
calibrators and changes a parameter twice has made far more than 101 trials;
a deflated Sharpe ratio that counts only the last sweep flatters the choice.
:class:`TrialLedger` records each step as a ``TRIAL_RECORDED`` event (signal,
run, kind, parameters, trials added) and :meth:`TrialLedger.count` returns the
trials made since the signal's last ``LEDGER_RESET``. Pass that count as
``n_trials`` to :func:`core.analytics.selection.select_threshold` or
:func:`core.analytics.report.analyze_thresholds`: N becomes every trial made,
and N_eff grows in proportion (see
:func:`core.analytics.overfitting.selection_benchmark`).

:func:`record_threshold_choice` records the threshold finally chosen (a
``THRESHOLD_SELECTED`` event with its in-sample and out-of-sample figures, DSR,
PBO, the ledger count and the reason) and :func:`current_decision` reads back
the latest one.

The ledger is a service over the store; it keeps no state of its own. Its events
are store-level (``run_id`` None on the event): the run a step belongs to is kept in
the payload (``"run_id"``), so recording a trial never changes a run's own events,
its counts or the cached trades frame keyed by them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.errors import ConfigError
from core.events import EventType, LearningEvent
from core.jsonsafe import json_safe
from core.store.db import Store, check_signal_name

__all__ = [
    "TRIAL_KINDS",
    "ThresholdDecision",
    "TrialLedger",
    "current_decision",
    "record_threshold_choice",
]

#: Kinds of trial the ledger knows (free text is refused, so counts stay comparable).
TRIAL_KINDS: tuple[str, ...] = (
    "sweep",
    "grid",
    "rerun",
    "calibrator_comparison",
    "parameter_change",
    "walk_forward",
    "other",
)

_FRAME_COLUMNS = ("event_id", "recorded_at", "signal", "run_id", "kind", "n_trials", "params")


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def _after(event: LearningEvent, mark: LearningEvent | None) -> bool:
    """Whether ``event`` was recorded after ``mark`` (event ids sort by creation time)."""
    if mark is None:
        return True
    return (event.recorded_at, event.event_id) > (mark.recorded_at, mark.event_id)


class TrialLedger:
    """Every trial made on a signal, read and written through the store.

    Parameters
    ----------
    store : Store
        Where the ``TRIAL_RECORDED`` and ``LEDGER_RESET`` events live.

    Examples
    --------
    >>> ledger = TrialLedger(store)                                   # doctest: +SKIP
    >>> ledger.record("momo", run_id=run, kind="sweep",
    ...               params={"key": "confidence"}, n_trials=101)     # doctest: +SKIP
    >>> select_threshold(trades, n_trials=ledger.count("momo"))      # doctest: +SKIP
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------------ write

    def record(
        self,
        signal: str,
        *,
        run_id: str | None,
        kind: str,
        params: Mapping[str, Any] | None = None,
        n_trials: int,
    ) -> LearningEvent:
        """Record one research step on ``signal`` and the trials it adds.

        Parameters
        ----------
        signal : str
            The signal (strategy) name.
        run_id : str or None
            The run the step used, when there is one.
        kind : str
            One of :data:`TRIAL_KINDS`.
        params : mapping, optional
            What was tried (JSON types: numbers, strings, lists, mappings).
        n_trials : int
            Configurations the step evaluated (>= 0): 101 for a 101-threshold
            sweep, 1 for a rerun at one new threshold, the cells of a grid.

        Returns
        -------
        LearningEvent
            The stored ``TRIAL_RECORDED`` event.

        Raises
        ------
        ConfigError
            Unknown kind or a bad count.
        StoreError
            A bad signal name.
        PayloadError
            ``params`` holds a value that cannot be stored.
        """
        name = check_signal_name(signal)
        if kind not in TRIAL_KINDS:
            raise ConfigError(f"kind must be one of {', '.join(TRIAL_KINDS)}; got {kind!r}")
        if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 0:
            raise ConfigError(
                f"n_trials must be a whole number >= 0 (configurations evaluated), got {n_trials!r}"
            )
        now = _now()
        event = LearningEvent(
            EventType.TRIAL_RECORDED,
            None,
            now,
            {
                "signal": name,
                "run_id": run_id,
                "kind": kind,
                "n_trials": n_trials,
                "params": dict(params or {}),
            },
            recorded_at=now,
        )
        self.store.insert_events([event])
        return event

    def reset(self, signal: str, *, reason: str) -> LearningEvent:
        """Start the signal's count again from zero (e.g. new, unseen data).

        Earlier entries stay in the store (and in :meth:`frame` with
        ``since_reset=False``); only :meth:`count` forgets them.

        Raises
        ------
        ConfigError
            ``reason`` is empty: a reset must say why.
        """
        name = check_signal_name(signal)
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(
                "reason is required to reset a trial ledger (e.g. 'new data from 2025-01'); "
                "a reset without one hides trials"
            )
        now = _now()
        event = LearningEvent(
            EventType.LEDGER_RESET,
            None,
            now,
            {"signal": name, "reason": reason.strip()},
            recorded_at=now,
        )
        self.store.insert_events([event])
        return event

    # ------------------------------------------------------------------ read

    def last_reset(self, signal: str) -> LearningEvent | None:
        """The signal's latest ``LEDGER_RESET`` event, or None."""
        name = check_signal_name(signal)
        resets = [
            e
            for e in self.store.query_events(event_type=EventType.LEDGER_RESET)
            if e.payload.get("signal") == name
        ]
        return max(resets, key=lambda e: (e.recorded_at, e.event_id), default=None)

    def entries(self, signal: str, *, since_reset: bool = True) -> list[LearningEvent]:
        """The signal's ``TRIAL_RECORDED`` events in recording order."""
        name = check_signal_name(signal)
        mark = self.last_reset(name) if since_reset else None
        events = [
            e
            for e in self.store.query_events(event_type=EventType.TRIAL_RECORDED)
            if e.payload.get("signal") == name and _after(e, mark)
        ]
        return sorted(events, key=lambda e: (e.recorded_at, e.event_id))

    def count(self, signal: str) -> int:
        """Trials made on ``signal`` since its last reset (0 when none): the N to deflate by."""
        return int(sum(int(e.payload["n_trials"]) for e in self.entries(signal)))

    def frame(self, signal: str, *, since_reset: bool = True) -> pd.DataFrame:
        """The signal's entries, one row each.

        Columns: ``event_id``, ``recorded_at`` (UTC), ``signal``, ``run_id``,
        ``kind``, ``n_trials``, ``params`` (a dict).
        """
        rows = [
            {
                "event_id": e.event_id,
                "recorded_at": e.recorded_at,
                "signal": e.payload["signal"],
                "run_id": e.payload.get("run_id", e.run_id),
                "kind": e.payload["kind"],
                "n_trials": int(e.payload["n_trials"]),
                "params": dict(e.payload.get("params") or {}),
            }
            for e in self.entries(signal, since_reset=since_reset)
        ]
        frame = pd.DataFrame(rows, columns=list(_FRAME_COLUMNS))
        frame["n_trials"] = frame["n_trials"].astype("int64")
        frame["recorded_at"] = pd.to_datetime(frame["recorded_at"], utc=True)
        return frame


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class ThresholdDecision:
    """The threshold chosen for a signal, as recorded.

    Attributes
    ----------
    signal, run_id : str, str or None
    key : str
        The mapping label of the score the threshold applies to (e.g.
        ``"raw confidence"`` or ``"isotonic, walk-forward, 12 windows"``).
    mode : str
        ``"absolute"`` or ``"percentile"``.
    threshold : float
    in_sample, out_of_sample : dict
        Figures (trades, win_rate, sharpe, ...) in and out of sample.
    dsr, pbo : float or None
    ledger_count : int
        Trials counted when the choice was made.
    reason : str
    recorded_at : Timestamp
    event_id : str
    """

    signal: str
    run_id: str | None
    key: str
    mode: str
    threshold: float
    in_sample: dict[str, Any]
    out_of_sample: dict[str, Any]
    dsr: float | None
    pbo: float | None
    ledger_count: int
    reason: str
    recorded_at: pd.Timestamp
    event_id: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (time as ISO 8601)."""
        out = dict(self.__dict__)
        out["recorded_at"] = self.recorded_at.isoformat()
        return json_safe(out)


def record_threshold_choice(
    store: Store,
    *,
    signal: str,
    run_id: str | None,
    key: str,
    mode: str,
    threshold: float,
    in_sample: Mapping[str, Any],
    out_of_sample: Mapping[str, Any],
    dsr: float | None,
    pbo: float | None,
    ledger_count: int,
    reason: str,
) -> ThresholdDecision:
    """Record the threshold chosen for ``signal`` as a ``THRESHOLD_SELECTED`` event.

    Parameters
    ----------
    store : Store
    signal : str
    run_id : str or None
        The run the choice was made on.
    key : str
        Label of the score mapping (see :class:`core.analytics.keymap.KeyMapping`).
    mode : {"absolute", "percentile"}
    threshold : float
        Finite.
    in_sample, out_of_sample : mapping
        Figures of the choice (numbers; NaN becomes null, inf "inf").
    dsr, pbo : float or None
        Deflated Sharpe ratio and probability of backtest overfitting.
    ledger_count : int
        :meth:`TrialLedger.count` when the choice was made.
    reason : str
        Why this threshold (required).

    Returns
    -------
    ThresholdDecision

    Raises
    ------
    ConfigError
        Empty reason or key, unknown mode, non-finite threshold, bad count.
    """
    name = check_signal_name(signal)
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError("reason is required: say why this threshold was chosen")
    if not isinstance(key, str) or not key.strip():
        raise ConfigError("key must name the score mapping, e.g. 'raw confidence'")
    if mode not in ("absolute", "percentile"):
        raise ConfigError(f"mode must be 'absolute' or 'percentile', got {mode!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ConfigError(f"threshold must be a finite number, got {threshold!r}")
    if not pd.notna(threshold) or abs(float(threshold)) == float("inf"):
        raise ConfigError(f"threshold must be a finite number, got {threshold!r}")
    if isinstance(ledger_count, bool) or not isinstance(ledger_count, int) or ledger_count < 0:
        raise ConfigError(f"ledger_count must be a whole number >= 0, got {ledger_count!r}")
    now = _now()
    payload = {
        "signal": name,
        "run_id": run_id,
        "key": key,
        "mode": mode,
        "threshold": float(threshold),
        "in_sample": json_safe(dict(in_sample)),
        "out_of_sample": json_safe(dict(out_of_sample)),
        "dsr": json_safe(dsr),
        "pbo": json_safe(pbo),
        "ledger_count": int(ledger_count),
        "reason": reason.strip(),
    }
    event = LearningEvent(EventType.THRESHOLD_SELECTED, None, now, payload, recorded_at=now)
    store.insert_events([event])
    return _decision(event)


def current_decision(store: Store, signal: str) -> ThresholdDecision | None:
    """The latest threshold recorded for ``signal`` (None when there is none)."""
    name = check_signal_name(signal)
    events = [
        e
        for e in store.query_events(event_type=EventType.THRESHOLD_SELECTED)
        if e.payload.get("signal") == name
    ]
    latest = max(events, key=lambda e: (e.recorded_at, e.event_id), default=None)
    return None if latest is None else _decision(latest)


def _decision(event: LearningEvent) -> ThresholdDecision:
    p = event.payload
    return ThresholdDecision(
        signal=p["signal"],
        run_id=p.get("run_id", event.run_id),
        key=p["key"],
        mode=p["mode"],
        threshold=float(p["threshold"]),
        in_sample=dict(p.get("in_sample") or {}),
        out_of_sample=dict(p.get("out_of_sample") or {}),
        dsr=p.get("dsr"),
        pbo=p.get("pbo"),
        ledger_count=int(p["ledger_count"]),
        reason=p["reason"],
        recorded_at=event.recorded_at,
        event_id=event.event_id,
    )
