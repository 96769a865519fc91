"""One DSR line and one headline verdict, shared by the dashboard, the CLI and the report.

The deflated Sharpe ratio means little without what it was deflated by: N (the
trials counted: the thresholds tried, or the signal's trial ledger when it is
larger), N_eff (the effective number of independent trials), V (the variance
of the trials' Sharpe ratios under no skill) and the rule that set them.
:func:`dsr_summary` gathers them; :func:`dsr_text` says them in one line, and
:func:`headline_verdict` turns the in-sample result, the DSR and the PBO into
the sentence a report opens with ("filtered beats baseline in sample; not
significant after deflation (DSR 61 %, N_eff 12); PBO 79 %").
"""

from __future__ import annotations

import math
from typing import Any

from core.analytics.report import ThresholdAnalysis
from core.jsonsafe import json_safe

__all__ = ["dsr_summary", "dsr_text", "headline_verdict"]

#: PBO at or above which a choice is called likely overfitted.
PBO_WARNING = 0.5


def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(float(x))


def dsr_summary(analysis: ThresholdAnalysis, *, ledger_count: int | None = None) -> dict[str, Any]:
    """The DSR of a threshold analysis with what it was deflated by (JSON-safe).

    Keys: ``dsr``, ``significant``, ``sr``, ``sr_star``, ``n_trials`` (N),
    ``n_thresholds`` (thresholds in the sweep), ``ledger_count`` (the signal's
    trial ledger, when given), ``n_source`` (``"ledger"`` when N is the
    ledger's count, else ``"thresholds"``), ``n_effective`` (N_eff),
    ``sharpe_variance`` (V), ``method``, ``pbo``, ``psr``. Values are None
    when undefined.
    """
    d = analysis.deflated
    c = analysis.choice
    n_thresholds = len(analysis.sweep.table)
    n = c.n_trials if d is None else d.n_trials
    source = "ledger" if ledger_count is not None and ledger_count > n_thresholds else "thresholds"
    return json_safe(
        {
            "dsr": None if d is None else d.dsr,
            "significant": None if d is None else d.significant,
            "sr": None if d is None else d.sr,
            "sr_star": None if d is None else d.sr_star,
            "n_trials": n,
            "n_thresholds": n_thresholds,
            "ledger_count": ledger_count,
            "n_source": source,
            "n_effective": c.n_effective if d is None else d.n_effective,
            "sharpe_variance": c.sharpe_variance if d is None else d.sharpe_variance,
            "method": None if d is None else d.method,
            "pbo": None if analysis.pbo is None else analysis.pbo.pbo,
            "psr": analysis.psr,
        }
    )


def dsr_text(summary: dict[str, Any]) -> str:
    """``"DSR 61.2 % (not significant at 5 %) · N 303 (trial ledger) · N_eff 12.4 · V 0.0041 ·
    method galwey"``, from :func:`dsr_summary`."""
    if summary.get("dsr") is None:
        head = "DSR undefined"
    else:
        sig = "significant" if summary.get("significant") else "not significant"
        head = f"DSR {summary['dsr']:.1%} ({sig} at 5 %)"
    source = "trial ledger" if summary.get("n_source") == "ledger" else "thresholds tried"
    parts = [head, f"N {summary.get('n_trials')} ({source})"]
    if _finite(summary.get("n_effective")):
        parts.append(f"N_eff {summary['n_effective']:.1f}")
    if _finite(summary.get("sharpe_variance")):
        parts.append(f"V {summary['sharpe_variance']:.3g}")
    if summary.get("method"):
        parts.append(f"method {summary['method']}")
    return " · ".join(parts)


def headline_verdict(analysis: ThresholdAnalysis, *, ledger_count: int | None = None) -> str:
    """The verdict a report opens with: in sample, after deflation, and PBO.

    Examples: ``"filtered beats baseline in sample; not significant after
    deflation (DSR 61.0 %, N_eff 12); PBO 79 %: likely overfitted"`` or
    ``"filtered beats baseline in sample; significant after deflation (DSR 98.1 %,
    N_eff 9); PBO 12 %"``.
    """
    c = analysis.choice
    base = analysis.sweep.table
    baseline = base.loc[base["trades"].idxmax()]
    beats = (
        _finite(c.sharpe)
        and _finite(float(baseline["sharpe"]))
        and c.sharpe > float(baseline["sharpe"])
    )
    parts = [
        "filtered beats baseline in sample"
        if beats
        else "filtered does not beat baseline in sample"
    ]
    s = dsr_summary(analysis, ledger_count=ledger_count)
    n_eff = f", N_eff {s['n_effective']:.0f}" if _finite(s["n_effective"]) else ""
    if s["dsr"] is None:
        parts.append("deflated Sharpe undefined")
    else:
        word = "significant" if s["significant"] else "not significant"
        parts.append(f"{word} after deflation (DSR {s['dsr']:.1%}{n_eff}, N {s['n_trials']})")
    if s["pbo"] is None:
        parts.append("PBO undefined")
    else:
        parts.append(
            f"PBO {s['pbo']:.0%}" + (": likely overfitted" if s["pbo"] >= PBO_WARNING else "")
        )
    return "; ".join(parts)
