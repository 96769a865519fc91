"""Calibration by regime and segment, with a test of which segments differ.

Trades are split by one attribute (``by``):

- ``"volatility"`` (alias of ``market_volatility``) and any numeric feature
  with more than ``max_categories`` distinct values: **terciles**. The cut
  points are the 1/3 and 2/3 quantiles (``numpy.quantile``, linear
  interpolation) of the non-missing values of the trades analysed, fixed once
  for the whole sample (a descriptive split, not a forecast); pass
  ``cut_points=`` to use others, e.g. those of a baseline period. Segments are
  ``low`` (``x <= c1``), ``mid`` (``c1 < x <= c2``) and ``high`` (``x > c2``).
- ``"symbol"``, ``"side"``, ``"num_agreeing_models"``, any column with at
  most ``max_categories`` distinct values: one segment per value.
- ``"year"``: the calendar year (UTC) of ``entry_time``.

Rows where the attribute is missing are left out (counted in ``n_missing``).

Per segment: the reliability curve, ECE with a bootstrap interval, Brier
score, log loss, win rate with a Wilson interval, and the segment's own
calibration intercept and slope (logistic recalibration ``logit P(win) = a +
b logit(p)``; a calibrated forecast has ``a = 0, b = 1``; Cox 1958).

Which segments differ
---------------------
Each segment with at least ``min_segment`` trades gets a likelihood ratio
test with 2 degrees of freedom (chi-squared) of its calibration-in-the-large
and slope, ``x = logit(p)``:

``reference="perfect"`` (default)
    Cox's test: ``logit P(win) = x`` (the forecasts are right) against ``a + b
    x`` fitted on the segment. The question to ask of calibrated,
    out-of-sample probabilities: where are they off?
``reference="rest"``
    ``a + b x`` shared by all trades against ``a + b x + c 1[s] + d 1[s] x``
    (the segment has its own intercept and slope). For raw scores, whose
    global calibration does not matter here. Caution: one badly calibrated
    segment makes "the rest" differ from every other segment too, so with
    few segments several can be flagged; prefer ``"perfect"`` to locate it.

The p-values of all tested segments are adjusted for multiple testing by
**Holm's step-down method** (default; controls the family-wise error rate) or
**Benjamini-Hochberg** (``"bh"``; controls the false discovery rate); a
segment is flagged when its adjusted p-value is below ``alpha``. Neither
reference flags a segment only for its base rate: a segment with a lower win
rate whose forecasts are lower by as much is calibrated. Forecasts of
exactly 0 or 1 (isotonic calibrators produce them at the ends of their
range) are clipped to ``[1e-6, 1 - 1e-6]`` for the logit; one of them that
misses costs about 13.8 nats, so Cox's test flags such a segment even when
its binned ECE is small (log loss says the same).

References
----------
D. R. Cox, "Two further applications of a model for binary regression",
Biometrika 45 (1958) 562-565.
S. Holm, "A simple sequentially rejective multiple test procedure",
Scandinavian Journal of Statistics 6 (1979) 65-70.
Y. Benjamini and Y. Hochberg, "Controlling the false discovery rate",
JRSS B 57 (1995) 289-300.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from core.analytics.calibration import (
    ReliabilityCurve,
    check_prob_win,
    ece_confidence_interval,
    quick_scores,
    reliability_curve,
)
from core.analytics.stats import wilson_interval
from core.errors import ConfigError, InsufficientDataError, TradesFrameError
from core.jsonsafe import json_safe
from core.metrics import win_rate
from core.trades import validate_trades

__all__ = [
    "SEGMENT_COLUMNS",
    "SegmentCalibration",
    "adjust_p_values",
    "calibration_by_segment",
    "segment_labels",
]

#: Columns of :attr:`SegmentCalibration.table`.
SEGMENT_COLUMNS: tuple[str, ...] = (
    "n",
    "wins",
    "win_rate",
    "win_low",
    "win_high",
    "mean_predicted",
    "ece",
    "ece_low",
    "ece_high",
    "brier",
    "log_loss",
    "calibration_intercept",
    "calibration_slope",
    "lr_stat",
    "p_value",
    "p_adjusted",
    "flagged",
)

_ALIASES = {"volatility": "market_volatility", "vol": "market_volatility"}
_CLIP = 1e-6


# --------------------------------------------------------------------------- helpers


def adjust_p_values(p: Any, *, method: Literal["holm", "bh"] = "holm") -> np.ndarray:
    """Multiple-testing adjusted p-values (NaN entries are ignored and stay NaN).

    Parameters
    ----------
    p : array_like of float, shape (m,)
    method : {"holm", "bh"}, default "holm"
        Holm's step-down (family-wise error rate) or Benjamini-Hochberg (false
        discovery rate).

    Returns
    -------
    ndarray, shape (m,)
        Equal to ``statsmodels.stats.multitest.multipletests(p,
        method="holm"/"fdr_bh")[1]`` on the non-NaN entries.

    References
    ----------
    Holm (1979); Benjamini and Hochberg (1995).
    """
    if method not in ("holm", "bh"):
        raise ConfigError(f"correction must be 'holm' or 'bh', got {method!r}; use 'holm'")
    pa = np.asarray(p, dtype=np.float64)
    out = np.full(pa.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(pa))
    m = ok.size
    if m == 0:
        return out
    order = np.argsort(pa[ok], kind="stable")
    sorted_p = pa[ok][order]
    rank = np.arange(1, m + 1)
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - rank + 1) * sorted_p))
    else:
        adj = np.minimum.accumulate(np.minimum(1.0, m * sorted_p / rank)[::-1])[::-1]
    out[ok[order]] = adj
    return out


def _logistic_ll(x: np.ndarray, y: np.ndarray, *, max_iter: int = 50) -> tuple[np.ndarray, float]:
    """Maximum-likelihood logistic regression with intercept by Newton's method.

    ``x`` shape (n, d) without the intercept column; a ridge of 1e-8 keeps the
    coefficients finite on separable data. Returns (coefficients, log-likelihood).
    """
    X = np.column_stack([np.ones(x.shape[0]), x])
    beta = np.zeros(X.shape[1])
    ridge = 1e-8 * np.eye(X.shape[1])
    ll = -math.inf
    for _ in range(max_iter):  # iterations of the fit, each vectorised over trades
        eta = X @ beta
        mu = 1.0 / (1.0 + np.exp(-eta))
        grad = X.T @ (y - mu) - 1e-8 * beta
        hess = (X * (mu * (1.0 - mu))[:, None]).T @ X + ridge
        step = np.linalg.solve(hess, grad)
        new_ll = -math.inf
        t = 1.0
        while t > 1e-6:  # halve the step until the likelihood does not fall
            cand = beta + t * step
            e = X @ cand
            new_ll = float(np.sum(y * e - np.logaddexp(0.0, e)))
            if new_ll >= ll - 1e-12:
                break
            t /= 2.0
        beta = beta + t * step
        if abs(new_ll - ll) < 1e-10:
            ll = new_ll
            break
        ll = new_ll
    return beta, ll


def segment_labels(
    trades: pd.DataFrame,
    by: str,
    *,
    cut_points: tuple[float, float] | None = None,
    max_categories: int = 8,
) -> tuple[pd.Series, str, tuple[float, float] | None]:
    """The segment of every trade.

    Parameters
    ----------
    trades : DataFrame
    by : str
        ``"volatility"``, ``"symbol"``, ``"side"``, ``"num_agreeing_models"``,
        ``"year"`` or any column (see the module docstring).
    cut_points : (float, float), optional
        Tercile cut points to use instead of the sample's.
    max_categories : int, default 8
        A numeric column with at most this many distinct values is categorical.

    Returns
    -------
    labels : Series of str (or None where the attribute is missing), index of ``trades``
    kind : {"categorical", "terciles", "year"}
    cut_points : (float, float) or None

    Raises
    ------
    TradesFrameError
        ``by`` names no column.
    """
    column = _ALIASES.get(by, by)
    if column == "year":
        if "entry_time" not in trades.columns:
            raise TradesFrameError("segmenting by year needs an entry_time column")
        year = pd.to_datetime(trades["entry_time"], utc=True).dt.year
        return year.astype("Int64").astype(str).where(year.notna(), None), "year", None
    if column not in trades.columns:
        raise TradesFrameError(
            f"trades frame has no column {column!r} to segment by; use one of volatility, "
            f"symbol, side, year or a column: {', '.join(map(str, trades.columns))}"
        )
    s = trades[column]
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if cut_points is None and (not numeric or s.nunique(dropna=True) <= max_categories):
        labels = s.astype(object).where(s.notna(), None)
        if numeric:  # 3.0 -> "3"
            labels = labels.map(lambda v: None if v is None else f"{float(v):g}")
        return labels.map(lambda v: None if v is None else str(v)), "categorical", None
    values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = values[np.isfinite(values)]
    if cut_points is None:
        if finite.size == 0:
            raise InsufficientDataError(f"column {column!r} has no values to cut into terciles")
        c1, c2 = (float(v) for v in np.quantile(finite, [1.0 / 3.0, 2.0 / 3.0]))
    else:
        c1, c2 = (float(v) for v in cut_points)
        if not c1 <= c2:
            raise ConfigError(f"cut_points must be increasing, got {cut_points!r}")
    names = np.array(["low", "mid", "high"], dtype=object)
    seg = names[np.searchsorted([c1, c2], values, side="left")]
    labels = pd.Series(np.where(np.isfinite(values), seg, None), index=trades.index, dtype=object)
    return labels, "terciles", (c1, c2)


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class SegmentCalibration:
    """Calibration of one score in every segment of one attribute.

    Attributes
    ----------
    by, key : str
        Attribute and score column.
    kind : {"categorical", "terciles", "year"}
    cut_points : (float, float) or None
        Tercile cut points (``low <= c1 < mid <= c2 < high``).
    table : DataFrame
        Index ``segment``; columns :data:`SEGMENT_COLUMNS`. ``win_low``/
        ``win_high``: Wilson interval; ``ece_low``/``ece_high``: bootstrap
        interval; ``lr_stat``/``p_value``: the test against ``reference`` (NaN
        below ``min_segment`` trades); ``p_adjusted``: after ``correction``;
        ``flagged``: ``p_adjusted < alpha``. All in sample (descriptive).
    curves : dict of str to ReliabilityCurve
        Per segment.
    correction : {"holm", "bh"}
    reference : {"perfect", "rest"}
    alpha, level : float
    n, n_missing, n_bins, n_boot, min_segment, seed : int
    """

    by: str
    key: str
    kind: str
    cut_points: tuple[float, float] | None
    table: pd.DataFrame
    curves: dict[str, ReliabilityCurve] = field(repr=False)
    correction: str
    reference: str
    alpha: float
    level: float
    n: int
    n_missing: int
    n_bins: int
    n_boot: int
    min_segment: int
    seed: int

    @property
    def flagged(self) -> list[str]:
        """Segments whose calibration differs significantly from the rest."""
        return [str(s) for s in self.table.index[self.table["flagged"].to_numpy(dtype=bool)]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: settings, ``table`` by segment and the curves."""
        out = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("table", "curves")
        }
        out["table"] = self.table.to_dict(orient="index")
        out["curves"] = {k: c.to_dict() for k, c in self.curves.items()}
        out["flagged"] = self.flagged
        return json_safe(out)


def calibration_by_segment(
    trades: pd.DataFrame,
    by: str,
    *,
    key: str = "confidence",
    n_bins: int = 10,
    min_segment: int = 30,
    correction: Literal["holm", "bh"] = "holm",
    alpha: float = 0.05,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    cut_points: tuple[float, float] | None = None,
    max_categories: int = 8,
    reference: Literal["perfect", "rest"] = "perfect",
) -> SegmentCalibration:
    """Reliability, ECE and win rate per segment, and which segments are off.

    Parameters
    ----------
    trades : DataFrame
        A trades frame with ``key`` and ``win`` (and the attribute ``by``).
        Rows whose ``key`` is NaN are left out.
    by : str
        Attribute to segment by (see :func:`segment_labels`).
    key : str, default "confidence"
        Score read as a win probability in [0, 1]. For a fitted calibrator's
        output, pass out-of-sample probabilities (e.g. from
        :func:`core.analytics.walkforward.walk_forward_calibrate`).
    n_bins : int, default 10
        Uniform bins of the ECE and the reliability curves.
    min_segment : int, default 30
        Fewest trades for a segment to be tested.
    correction : {"holm", "bh"}, default "holm"
    alpha : float, default 0.05
        Level of the adjusted test.
    n_boot, level, seed
        Bootstrap of the ECE interval (:func:`ece_confidence_interval`) and the
        level of the Wilson interval.
    cut_points, max_categories
        See :func:`segment_labels`.
    reference : {"perfect", "rest"}, default "perfect"
        What a segment's calibration is tested against (module docstring).

    Returns
    -------
    SegmentCalibration

    Raises
    ------
    TradesFrameError, InsufficientDataError, ConfigError

    References
    ----------
    Cox (1958); Holm (1979); Benjamini and Hochberg (1995).
    """
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must lie in (0, 1), got {alpha!r}; use 0.05")
    if isinstance(min_segment, bool) or not isinstance(min_segment, int) or min_segment < 2:
        raise ConfigError(f"min_segment must be an integer >= 2, got {min_segment!r}; use 30")
    adjust_p_values([], method=correction)  # validates the name
    if reference not in ("perfect", "rest"):
        raise ConfigError(f"reference must be 'perfect' or 'rest', got {reference!r}")
    usable = validate_trades(trades, key=key, columns=("win",))
    labels, kind, cuts = segment_labels(
        usable, by, cut_points=cut_points, max_categories=max_categories
    )
    present = labels.notna().to_numpy()
    if not present.any():
        raise InsufficientDataError(f"no trade has a value of {by!r}; pick another attribute")
    lab = labels.to_numpy(dtype=object)[present]
    p, w = check_prob_win(usable[key].to_numpy(dtype=np.float64)[present],
                          usable["win"].to_numpy()[present], prob_name=key)  # fmt: skip
    x = np.log(np.clip(p, _CLIP, 1 - _CLIP) / (1 - np.clip(p, _CLIP, 1 - _CLIP)))
    ll0 = _logistic_ll(x[:, None], w)[1] if reference == "rest" else math.nan
    segments = sorted(set(lab), key=lambda s: ({"low": 0, "mid": 1, "high": 2}.get(s, 3), s))
    rows: list[dict[str, Any]] = []
    curves: dict[str, ReliabilityCurve] = {}
    for s in segments:  # one iteration per segment (a handful), vectorised inside
        m = lab == s
        ps, ws = p[m], w[m]
        k = int(ws.sum())
        low, high = wilson_interval(k, ps.size, level=level)
        ci = ece_confidence_interval(ps, ws, n_bins=n_bins, n_boot=n_boot, level=level, seed=seed)
        _, brier, ll = quick_scores(ps, ws, n_bins=n_bins)
        row: dict[str, Any] = {
            "n": int(ps.size),
            "wins": k,
            "win_rate": win_rate(k, ps.size),
            "win_low": float(low),
            "win_high": float(high),
            "mean_predicted": float(ps.mean()),
            "ece": ci.ece,
            "ece_low": ci.low,
            "ece_high": ci.high,
            "brier": brier,
            "log_loss": ll,
            "calibration_intercept": math.nan,
            "calibration_slope": math.nan,
            "lr_stat": math.nan,
            "p_value": math.nan,
        }
        if ps.size >= min_segment and 0 < k < ps.size:
            beta, _ = _logistic_ll(x[m][:, None], ws)
            row["calibration_intercept"], row["calibration_slope"] = float(beta[0]), float(beta[1])
        lr = math.nan
        if reference == "rest" and ps.size >= min_segment and (~m).sum() >= min_segment:
            ind = m.astype(np.float64)
            _, ll1 = _logistic_ll(np.column_stack([x, ind, ind * x]), w)
            lr = max(0.0, 2.0 * (ll1 - ll0))
        elif reference == "perfect" and ps.size >= min_segment:
            xs = x[m]
            _, ll1 = _logistic_ll(xs[:, None], ws)
            ll_perfect = float(np.sum(ws * xs - np.logaddexp(0.0, xs)))
            lr = max(0.0, 2.0 * (ll1 - ll_perfect))
        if not math.isnan(lr):
            row["lr_stat"] = lr
            row["p_value"] = float(stats.chi2.sf(lr, df=2))
        curves[str(s)] = reliability_curve(ps, ws, n_bins=n_bins, level=level)
        rows.append(row)
    table = pd.DataFrame(rows, index=pd.Index([str(s) for s in segments], name="segment"))
    table["p_adjusted"] = adjust_p_values(table["p_value"].to_numpy(), method=correction)
    table["flagged"] = (table["p_adjusted"] < alpha).to_numpy()
    return SegmentCalibration(
        by=by,
        key=key,
        kind=kind,
        cut_points=cuts,
        table=table[list(SEGMENT_COLUMNS)],
        curves=curves,
        correction=correction,
        reference=reference,
        alpha=float(alpha),
        level=float(level),
        n=int(p.size),
        n_missing=int((~present).sum()),
        n_bins=int(n_bins),
        n_boot=int(n_boot),
        min_segment=int(min_segment),
        seed=int(seed),
    )
