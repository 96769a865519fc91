"""``signal-lab ledger SIGNAL``: the trials made on a signal, and a reset with a reason.

Every sweep, rerun and calibrator comparison on a signal is a trial; the deflated
Sharpe ratio of the signal's threshold counts them all (:mod:`core.lifecycle.ledger`).
This command shows the count since the last reset and the entries, and with
``--reset --reason TEXT`` starts the count again (the entries stay in the store).
"""

from __future__ import annotations

import argparse

from core.cli.common import add_common_options, emit, open_store, print_table
from core.errors import ConfigError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ledger`` command."""
    p = subparsers.add_parser(
        "ledger",
        help="the trial ledger of a signal: trials counted by the DSR; --reset with a reason",
        description=(
            "Trials made on SIGNAL since its last reset (sweeps, reruns, calibrator "
            "comparisons, grid cells): the N the deflated Sharpe ratio counts. --reset starts "
            "the count again and needs --reason (e.g. new, unseen data); earlier entries stay "
            "in the store (--all lists them). Also shows the signal's kept threshold."
        ),
    )
    p.add_argument("signal", metavar="SIGNAL", help="signal name (see `signal-lab runs`)")
    p.add_argument("--reset", action="store_true", help="start the count again (needs --reason)")
    p.add_argument("--reason", default=None, help="why the count restarts (required by --reset)")
    p.add_argument("--all", action="store_true", help="list entries before the last reset too")
    add_common_options(p).set_defaults(handler=_ledger)


def _ledger(args: argparse.Namespace) -> int:
    from core.lifecycle.ledger import TrialLedger, current_decision

    with open_store(args) as store:
        ledger = TrialLedger(store)
        if args.reset:
            if not args.reason or not args.reason.strip():
                raise ConfigError(
                    "--reset needs --reason TEXT saying why the count restarts (e.g. "
                    "--reason 'new data from 2026-01'); a reset without one hides trials"
                )
            ledger.reset(args.signal, reason=args.reason)
        count = ledger.count(args.signal)
        frame = ledger.frame(args.signal, since_reset=not args.all)
        reset = ledger.last_reset(args.signal)
        decision = current_decision(store, args.signal)
    shown = frame.assign(
        params=[", ".join(f"{k} {v}" for k, v in p.items()) for p in frame["params"]]
    ).drop(columns=["event_id", "signal"])
    lines = []
    if args.reset:
        lines.append(f"reset the trial ledger of {args.signal}: {args.reason.strip()}")
    lines.append(f"signal {args.signal}: {count} trials since the last reset")
    if reset is not None:
        lines.append(
            f"last reset {reset.recorded_at:%Y-%m-%d %H:%M} UTC: {reset.payload.get('reason')}"
        )
    if decision is not None:
        lines.append(
            f"kept threshold: {decision.threshold:g} ({decision.mode}) on {decision.key}, "
            f"{decision.recorded_at:%Y-%m-%d %H:%M} UTC — {decision.reason}"
        )
    lines.append("")
    lines.append(print_table(shown))
    payload = {
        "signal": args.signal,
        "count": count,
        "reset": None
        if reset is None
        else {"recorded_at": reset.recorded_at.isoformat(), "reason": reset.payload.get("reason")},
        "decision": None if decision is None else decision.to_dict(),
        "entries": frame.assign(recorded_at=frame["recorded_at"].astype(str)).to_dict("records"),
    }
    emit(args, payload, "\n".join(lines))
    return 0
