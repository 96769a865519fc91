"""Drift monitoring of a model: a stored baseline, checks, alerts, a rolling view.

The statistics live in :mod:`core.analytics.drift`; this module stores
and orchestrates them:

- :meth:`DriftMonitor.set_baseline` summarises a window of a run's trades
  (:func:`~core.analytics.drift.baseline_from_trades`) and stores the
  :class:`~core.analytics.drift.DriftBaseline` as JSON, the model's
  active baseline (+ a ``DRIFT_BASELINE_SET`` event);
- :meth:`DriftMonitor.check` runs
  :func:`~core.analytics.drift.check_against_baseline` on current trades;
  every finding of severity ``warning`` or ``critical`` becomes an alert row
  (model, metric, baseline and current values, statistic, p-value, severity,
  window start and end, time, acknowledged flag) and a ``DRIFT_ALERT`` event.
  Checking the same window against the same baseline again adds nothing: the
  alert table is unique on model, metric, window and baseline;
- :meth:`DriftMonitor.acknowledge`, :meth:`DriftMonitor.alerts` (a DataFrame);
- :meth:`DriftMonitor.monitor` is
  :func:`~core.analytics.drift.rolling_drift` of a run against the
  model's baseline, window by window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from core.analytics.drift import (
    DEFAULT_MIN_TRADES,
    DriftBaseline,
    DriftReport,
    DriftThresholds,
    baseline_from_trades,
    check_against_baseline,
    rolling_drift,
)
from core.analytics.drift.detectors import DriftDetector
from core.errors import ConfigError, DriftError, RunNotFoundError
from core.store import Store
from core.store.drift import ALERT_COLUMNS, AlertRecord, BaselineRecord, DriftTables
from core.trade_windows import Window, load_trades, trades_in_window

__all__ = ["BaselineStatus", "DriftCheck", "DriftMonitor"]

_SEVERITIES = ("warning", "critical")


@dataclass(frozen=True)
class DriftCheck:
    """Result of :meth:`DriftMonitor.check`.

    Attributes
    ----------
    model_name : str
    baseline_id : int
        The stored baseline compared against.
    run_id : str or None
        Run of the current trades (None when passed in directly without one).
    report : DriftReport
        Every finding, alerting or not.
    new_alert_ids : tuple of int
        Alerts this check stored.
    existing_alert_ids : tuple of int
        Alerts already stored by an earlier check of the same window.
    window_start, window_end : Timestamp
        First and last ``entry_time`` of the current trades.
    """

    model_name: str
    baseline_id: int
    run_id: str | None
    report: DriftReport
    new_alert_ids: tuple[int, ...]
    existing_alert_ids: tuple[int, ...]
    window_start: pd.Timestamp
    window_end: pd.Timestamp

    @property
    def alert_ids(self) -> tuple[int, ...]:
        """Ids of every alert of this window (new and already stored)."""
        return self.new_alert_ids + self.existing_alert_ids

    @property
    def severity(self) -> str:
        return self.report.severity

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "baseline_id": self.baseline_id,
            "run_id": self.run_id,
            "severity": self.severity,
            "new_alert_ids": list(self.new_alert_ids),
            "existing_alert_ids": list(self.existing_alert_ids),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "report": self.report.to_dict(),
        }


@dataclass(frozen=True)
class BaselineStatus:
    """Which baseline a run is checked against, and whether it may be.

    Attributes
    ----------
    run_id : str
        The run to check.
    signal : str
        The signal it belongs to; baselines are looked up by signal.
    record : BaselineRecord or None
        The signal's active baseline (None: it has none).
    usable : bool
        A baseline exists and comes from a run of the same signal.
    reason : str
        Why not, in words (empty when usable).
    fix : str
        What to do about it (empty when usable).
    """

    run_id: str
    signal: str
    record: BaselineRecord | None
    usable: bool
    reason: str = ""
    fix: str = ""

    def describe(self) -> str:
        """One line: the baseline in force (signal, run, window, trades), or why there is none."""
        if not self.usable or self.record is None:
            return f"{self.reason} {self.fix}".strip()
        r = self.record
        when = ""
        if r.window_start is not None and r.window_end is not None:
            when = f", {r.window_start:%Y-%m-%d} to {r.window_end:%Y-%m-%d}"
        return (
            f"baseline #{r.id} of signal {self.signal!r}: {r.n:,} trades of run {r.run_id}"
            f"{when}, on {r.key}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "signal": self.signal,
            "usable": self.usable,
            "reason": self.reason,
            "fix": self.fix,
            "baseline": None if self.record is None else self.record.to_dict(),
        }


def _run_of(trades: pd.DataFrame) -> str | None:
    if "run_id" in trades.columns and len(trades) and trades["run_id"].nunique() == 1:
        return str(trades["run_id"].iloc[0])
    return None


class DriftMonitor:
    """Baselines, checks and alerts of the models of one store.

    Parameters
    ----------
    store : Store
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sql = DriftTables(store)

    # ----------------------------------------------------------------- baseline

    def set_baseline(
        self,
        model_name: str,
        run_id: str | None = None,
        window: Window = None,
        key: str = "confidence",
        *,
        trades: pd.DataFrame | None = None,
        thresholds: DriftThresholds | Mapping[str, Any] | None = None,
        bins: int = 10,
        min_trades: int = DEFAULT_MIN_TRADES,
    ) -> BaselineRecord:
        """Summarise a window of trades and store it as the model's active baseline.

        Parameters
        ----------
        model_name : str
            Model the baseline belongs to (need not be registered).
        run_id : str, optional
            Run whose trades are summarised; the newest completed run when None
            (ignored when ``trades`` is given).
        window : (start, end), optional
            Only trades entering in ``[start, end)``.
        key : str, default "confidence"
            Score column summarised.
        trades : DataFrame, optional
            Trades to summarise instead of a run's.
        thresholds : DriftThresholds or mapping, optional
            Severity levels later checks use by default (the documented defaults when None).
        bins : int, default 10
            PSI bins (quantiles of the baseline).
        min_trades : int, default 30

        Returns
        -------
        BaselineRecord
            Stored with a ``DRIFT_BASELINE_SET`` event; earlier baselines of the
            model stay stored, inactive.
        """
        if not isinstance(model_name, str) or not model_name.strip():
            raise ConfigError(f"model_name must be a non-empty string, got {model_name!r}")
        if trades is None:
            if run_id is None:
                run_id = self.store.latest_run_id()
            frame = load_trades(self.store, run_id, window)
        else:
            frame = trades_in_window(trades, window)
            run_id = run_id or _run_of(frame)
        limits = self._thresholds(thresholds)
        baseline = baseline_from_trades(frame, key=key, bins=bins, min_trades=min_trades)
        return self.sql.set_baseline(
            model_name=model_name, key=key, run_id=run_id, window_start=baseline.start,
            window_end=baseline.end, n=baseline.n, baseline=baseline.to_dict(),
            thresholds={} if limits is None else limits.to_dict(),
        )  # fmt: skip

    @staticmethod
    def _thresholds(value: DriftThresholds | Mapping[str, Any] | None) -> DriftThresholds | None:
        if value is None or isinstance(value, DriftThresholds):
            return value
        if isinstance(value, Mapping):
            return DriftThresholds.from_dict(value)
        raise ConfigError(f"thresholds must be DriftThresholds or a mapping, got {value!r}")

    def baseline_record(self, model_name: str) -> BaselineRecord:
        """The model's active baseline record.

        Raises
        ------
        DriftError
            The model has no baseline.
        """
        record = self.sql.active_baseline(model_name)
        if record is None:
            raise DriftError(
                f"model {model_name!r} has no drift baseline; set one with "
                f"set_drift_baseline({model_name!r}, run_id, window) or "
                f"`signal-lab drift baseline {model_name} --run RUN_ID`"
            )
        return record

    def baseline(self, model_name: str) -> DriftBaseline:
        """The model's active :class:`DriftBaseline`."""
        return DriftBaseline.from_dict(self.baseline_record(model_name).baseline)

    def baselines(self, model_name: str | None = None) -> list[BaselineRecord]:
        """Every stored baseline (of one model when given), oldest first."""
        return self.sql.list_baselines(model_name)

    # ----------------------------------------------------------------- per signal

    def status(self, run_id: str) -> BaselineStatus:
        """The baseline ``run_id`` is checked against: its signal's, and only if it is usable.

        Never another signal's baseline: a baseline whose source run belongs to a
        different signal is reported unusable, with the fix.
        """
        run = self.store.get_run(run_id)
        record = self.sql.active_baseline(run.signal)
        fix = (
            f"set this run's first months as the baseline: "
            f"`signal-lab drift baseline {run.id} --months 12` (or the Drift page's button)"
        )
        if record is None:
            return BaselineStatus(
                run.id, run.signal, None, False,
                reason=f"signal {run.signal!r} has no drift baseline yet.", fix=fix,
            )  # fmt: skip
        source = self._run_signal(record.run_id)
        if source is not None and source != run.signal:
            return BaselineStatus(
                run.id, run.signal, record, False,
                reason=f"baseline #{record.id} was set from run {record.run_id} of signal "
                f"{source!r}, not {run.signal!r}.",
                fix=fix,
            )  # fmt: skip
        return BaselineStatus(run.id, run.signal, record, True)

    def _run_signal(self, run_id: str | None) -> str | None:
        if run_id is None:
            return None
        try:
            return self.store.get_run(run_id).signal
        except RunNotFoundError:
            return None

    def set_baseline_from_run(
        self,
        run_id: str,
        *,
        months: int | None = None,
        share: float | None = None,
        key: str = "confidence",
        trades: pd.DataFrame | None = None,
        thresholds: DriftThresholds | Mapping[str, Any] | None = None,
    ) -> BaselineRecord:
        """Make the first ``months`` (or ``share``) of a run its signal's baseline.

        Parameters
        ----------
        run_id : str
            The run; its signal owns the baseline.
        months : int, optional
            Calendar months from the run's first entry (default 12 when neither
            ``months`` nor ``share`` is given).
        share : float, optional
            Instead of months: the first fraction of the run's trades, in (0, 1].
        key : str, default "confidence"
            Score column summarised.
        trades : DataFrame, optional
            The run's trades ready for ``key`` (e.g. with an out-of-sample
            ``calibrated_probability``); read from the store when None.
        thresholds : DriftThresholds or mapping, optional
            Severity levels stored with the baseline.

        Returns
        -------
        BaselineRecord
            It records the run and the window it came from.
        """
        run = self.store.get_run(run_id)
        frame = load_trades(self.store, run.id) if trades is None else trades
        frame = frame.sort_values("entry_time", kind="stable")
        if share is not None:
            if not 0.0 < float(share) <= 1.0:
                raise ConfigError(f"share must lie in (0, 1], got {share!r}")
            head = frame.iloc[: max(round(len(frame) * float(share)), 1)]
        else:
            n = 12 if months is None else months
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"months must be a whole number >= 1, got {months!r}")
            start = frame["entry_time"].iloc[0] if len(frame) else None
            head = frame if start is None else trades_in_window(
                frame, (start, start + pd.DateOffset(months=n))
            )  # fmt: skip
        return self.set_baseline(run.signal, run.id, key=key, trades=head, thresholds=thresholds)

    def check_run(
        self,
        run_id: str,
        *,
        window: Window = None,
        trades: pd.DataFrame | None = None,
        thresholds: DriftThresholds | Mapping[str, Any] | None = None,
    ) -> DriftCheck:
        """Check a run (or its ``window``) against its own signal's baseline; store alerts.

        Raises
        ------
        DriftError
            The signal has no usable baseline; the message says which and how to set one.
        """
        state = self.status(run_id)
        if not state.usable:
            raise DriftError(f"{state.reason} {state.fix}")
        frame = load_trades(self.store, run_id) if trades is None else trades
        return self.check(
            state.signal, trades_in_window(frame, window), run_id=run_id, thresholds=thresholds
        )

    # ----------------------------------------------------------------- check

    def check(
        self,
        model_name: str,
        current_trades: pd.DataFrame | None = None,
        *,
        run_id: str | None = None,
        window: Window = None,
        thresholds: DriftThresholds | Mapping[str, Any] | None = None,
        detectors: Mapping[str, DriftDetector] | None = None,
        outcome: Literal["win", "return_pct"] = "win",
        min_trades: int = DEFAULT_MIN_TRADES,
    ) -> DriftCheck:
        """Check current trades against the model's baseline and store the alerts.

        Parameters
        ----------
        model_name : str
        current_trades : DataFrame, optional
            The trades to check; else those of ``run_id`` (newest completed run
            when None) in ``window``.
        run_id : str, optional
        window : (start, end), optional
            Only trades entering in ``[start, end)``.
        thresholds : DriftThresholds or mapping, optional
            Severity levels; the baseline's stored ones (or the defaults) when None.
        detectors, outcome, min_trades
            As :func:`~core.analytics.drift.check_against_baseline`.

        Returns
        -------
        DriftCheck
            The report and the alert ids (new, and already stored for this window).

        Raises
        ------
        DriftError
            No baseline for the model.
        InsufficientDataError
            Fewer than ``min_trades`` current trades.
        """
        record = self.baseline_record(model_name)
        baseline = DriftBaseline.from_dict(record.baseline)
        limits = self._thresholds(thresholds)
        if limits is None:
            limits = DriftThresholds.from_dict(record.thresholds)
        checked = run_id if run_id is not None else (
            None if current_trades is None else _run_of(current_trades)
        )  # fmt: skip
        own, theirs = self._run_signal(checked), self._run_signal(record.run_id)
        if own is not None and theirs is not None and own != theirs:
            raise DriftError(
                f"run {checked} belongs to signal {own!r}, but baseline #{record.id} of "
                f"{model_name!r} comes from run {record.run_id} of signal {theirs!r}; a run is "
                f"checked only against its own signal's baseline: "
                f"`signal-lab drift baseline {checked} --months 12`"
            )
        if current_trades is None:
            if run_id is None:
                run_id = self.store.latest_run_id()
            frame = load_trades(self.store, run_id, window)
        else:
            frame = trades_in_window(current_trades, window)
            run_id = run_id or _run_of(frame)
        report = check_against_baseline(
            baseline, frame, thresholds=limits, detectors=detectors, outcome=outcome,
            min_trades=min_trades,
        )  # fmt: skip
        if report.current_start is None or report.current_end is None:
            raise DriftError(
                "the current trades have no entry_time, so the alerts cannot be keyed by "
                "window; pass a trades frame (store.trades_frame(run_id))"
            )
        findings = [f.to_dict() for f in report.findings if f.severity in _SEVERITIES]
        new, existing = self.sql.insert_alerts(
            model_name=model_name, baseline_id=record.id, run_id=run_id,
            window_start=report.current_start, window_end=report.current_end,
            n_current=report.n_current, findings=findings,
        )  # fmt: skip
        return DriftCheck(
            model_name=model_name,
            baseline_id=record.id,
            run_id=run_id,
            report=report,
            new_alert_ids=tuple(new),
            existing_alert_ids=tuple(existing),
            window_start=report.current_start,
            window_end=report.current_end,
        )

    # ----------------------------------------------------------------- alerts

    def acknowledge(self, alert_id: int) -> AlertRecord:
        """Mark an alert acknowledged (idempotent)."""
        return self.sql.acknowledge_alert(int(alert_id))

    def alerts(
        self,
        model_name: str | None = None,
        *,
        severity: str | None = None,
        acknowledged: bool | None = None,
        run_id: str | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Stored alerts, newest first, one row each (columns of :class:`AlertRecord`)."""
        if severity is not None and severity not in _SEVERITIES:
            raise ConfigError(f"severity must be 'warning' or 'critical', got {severity!r}")
        rows = self.sql.list_alerts(
            model_name=model_name, severity=severity, acknowledged=acknowledged, run_id=run_id,
            limit=limit,
        )  # fmt: skip
        frame = pd.DataFrame([r.__dict__ for r in rows], columns=list(ALERT_COLUMNS))
        for column in ("baseline_value", "current_value", "statistic", "p_value"):
            frame[column] = frame[column].astype("float64")
        return frame

    # ----------------------------------------------------------------- rolling

    def monitor(
        self,
        run_id: str | None = None,
        *,
        model_name: str | None = None,
        window: int | str = 500,
        step: int | str | None = None,
        key: str | None = None,
        thresholds: DriftThresholds | Mapping[str, Any] | None = None,
        min_trades: int = DEFAULT_MIN_TRADES,
    ) -> pd.DataFrame:
        """Drift statistics of a run window by window (:func:`rolling_drift`).

        Parameters
        ----------
        run_id : str, optional
            The run; the newest completed run when None.
        model_name : str, optional
            Compare against this model's stored baseline; without one, the
            run's first ``window`` is the baseline (its own row then shows no drift).
        window : int or offset, default 500
            Trades per window, or a time span such as ``"180D"``.
        step, key, thresholds, min_trades
            As :func:`rolling_drift`.

        Returns
        -------
        DataFrame
            One row per window (see :func:`rolling_drift`).
        """
        trades = load_trades(self.store, run_id)
        limits = self._thresholds(thresholds)
        if model_name is not None:
            record = self.baseline_record(model_name)
            baseline: DriftBaseline | pd.DataFrame = DriftBaseline.from_dict(record.baseline)
            if limits is None:
                limits = DriftThresholds.from_dict(record.thresholds)
        else:
            ordered = trades.sort_values("entry_time", kind="stable")
            if isinstance(window, int) and not isinstance(window, bool):
                baseline = ordered.iloc[:window]
            else:
                start = ordered["entry_time"].iloc[0]
                end = start + pd.tseries.frequencies.to_offset(window)
                baseline = trades_in_window(ordered, (start, end))
        return rolling_drift(
            trades, baseline, window=window, step=step, key=key, thresholds=limits,
            min_trades=min_trades,
        )  # fmt: skip
