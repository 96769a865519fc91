"""Detector thresholds calibrated to a false-alarm rate per monitoring window.

The streaming detectors (:class:`~core.analytics.drift.detectors.PageHinkley`,
:class:`~core.analytics.drift.detectors.CUSUM`) signal when a statistic crosses a
threshold. Textbook thresholds (``h = 5``, river's ``λ = 50``) assume normal,
independent data with a *known* in-control mean; on a win/loss stream compared
with an *estimated* baseline mean they fire far too often. Here the threshold is
chosen instead so that, on streams drawn like the baseline, the probability of
**any** alarm within a monitoring window of ``window`` trades is at most
``level`` (1 % for a warning, 0.1 % for critical by default).

Method (Chatterjee & Qiu 2009, bootstrap control limits):

1. The baseline outcome stream ``x`` (wins as 0/1, or returns) is resampled
   with the circular block bootstrap (Politis & Romano 1992; blocks of
   ``ceil(n^(1/3))`` trades keep short-range serial dependence) into
   ``n_paths`` paths of ``window`` trades.
2. Each path also gets its own *bootstrap baseline mean* ``μ*`` (the mean of a
   block-bootstrap sample of the baseline's size), and is standardised as
   ``z = (x* − μ*) / σ̂``. A check compares the current window with an
   estimated baseline mean, and this reproduces that estimation error; without
   it a small baseline gives many more false alarms than the nominal level.
3. The detector statistic of every path is computed at once (numpy over a
   ``(n_paths, window)`` array: the down-CUSUM is the Lindley recursion
   ``C_t = W_t − min(0, min_{s≤t} W_s)`` with ``W = cumsum(−k − z)``; Page-Hinkley
   with ``α = 1`` is ``max_{s≤t} D_s − D_t`` with ``D = cumsum(z − z̄_t + δ)``), and
   its maximum over the window taken. An alarm occurs within the window iff
   that maximum exceeds the threshold, so the threshold for level ``α`` is the
   ``1 − α`` quantile of the per-path maximum.
4. Small levels (0.1 %) leave few paths beyond the quantile, so the upper tail
   is fitted by peaks over a threshold with an exponential excess
   distribution (the first-passage tail of a CUSUM is exponential in ``h``;
   Siegmund 1985, ch. II): with ``u`` the ``1 − tail`` quantile and ``β`` the
   mean excess over ``u``, ``h(α) = u + β · ln(tail / α)``.
5. The achieved false-alarm rate is measured on a *fresh* bootstrap (another
   seed), and the detection delay by the same simulation with a shift injected
   from the first trade of the window (default: win rate 5 points lower; a
   win turns into a loss with probability ``shift / p̂``, and its return is
   replaced by a baseline loss).

A user may state an in-control average run length ``arl0`` (trades) instead
of a level: with geometric run lengths, ``level = 1 − exp(−window / arl0)``.

References
----------
E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954) 100-115.
D. C. Montgomery, *Introduction to Statistical Quality Control*, 7th ed.,
Wiley (2013), §9.1.3-9.1.4 (CUSUM design: ``k`` half the shift, ``h`` for the
in-control ARL). S. Chatterjee and P. Qiu, "Distribution-free cumulative sum
control charts using bootstrap-based control limits", Ann. Appl. Stat. 3 (2009)
349-369. D. N. Politis and J. P. Romano, "A circular block-resampling procedure
for stationary data", in *Exploring the Limits of Bootstrap*, Wiley (1992).
D. Siegmund, *Sequential Analysis*, Springer (1985).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from core.analytics.drift._common import _f, _nan
from core.analytics.drift.detectors import CUSUM, DriftDetector, PageHinkley
from core.errors import ConfigError, InsufficientDataError

__all__ = [
    "DEFAULT_CRITICAL_LEVEL",
    "DEFAULT_MONITOR_WINDOW",
    "DEFAULT_SHIFT",
    "DEFAULT_WARNING_LEVEL",
    "DetectorCalibration",
    "block_bootstrap_indices",
    "calibrate_detectors",
    "calibrated_detectors",
    "cusum_statistic",
    "first_crossing",
    "level_from_arl0",
    "page_hinkley_statistic",
]

#: Trades per monitoring window the thresholds are calibrated for.
DEFAULT_MONITOR_WINDOW = 2000
#: Probability of a false warning of one detector within one monitoring window. Two
#: detectors watch the win stream, so together with the five significance tests of
#: :class:`~core.analytics.drift.thresholds.DriftThresholds` (0.1 % each) a whole check
#: raises a false warning in about 1 % of windows (measured: bench/bench_drift.py).
DEFAULT_WARNING_LEVEL = 0.004
#: Probability of a false critical alarm of one detector within one monitoring window.
#: A 300k-trade stream has about 140 windows of 2,000: at 1e-5 per detector (and 5e-6
#: per significance test) fewer than 1 % of in-control streams ever see a critical alert.
DEFAULT_CRITICAL_LEVEL = 1e-5
#: Drop of the win rate (fraction) the detectors are tuned for and timed on.
DEFAULT_SHIFT = 0.05

_CHUNK = 128  # paths per block of the simulation (memory: _CHUNK × window floats)
_DETECTORS = ("page_hinkley", "cusum")
_TAIL = 0.05  # share of paths used to fit the exponential upper tail

Outcome = Literal["win", "return_pct"]


# ---------------------------------------------------------------- kernels
def _floats(z: Any) -> np.ndarray:
    """2-D float array; float32 input stays float32 (the simulation's paths)."""
    a = np.asarray(z)
    a = a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)
    if a.ndim != 2:
        raise ConfigError(f"paths must be a 2-D array (n_paths, n), got shape {a.shape}")
    return a


def page_hinkley_statistic(
    z: np.ndarray,
    *,
    delta: float,
    prior_weight: float,
    alpha: float = 1.0,
    min_instances: int = 30,
    mode: Literal["down", "up"] = "down",
) -> np.ndarray:
    """Page-Hinkley statistic of many standardised paths at once.

    Same arithmetic as :class:`~core.analytics.drift.detectors.PageHinkley` with
    ``prior_mean=0`` (the baseline, in standardised units) until its first
    detection: the running mean is ``z̄_t = Σ_{s≤t} z_s / (w + t)``, and for a drop
    ``D_t = α D_{t−1} + z_t − z̄_t + δ`` with statistic ``max_{s≤t} D_s − D_t``.

    Parameters
    ----------
    z : ndarray, shape (n_paths, n)
        Paths in time order along axis 1.
    delta : float
        Tolerance δ ≥ 0 (standard deviations per trade).
    prior_weight : float
        Pseudo-count ``w ≥ 0`` of the prior mean 0 (0: river's plain running mean).
    alpha : float, default 1.0
        Forgetting factor; with ``α = 1`` the sums are cumulative sums, otherwise
        the recursion runs over time (vectorised over paths).
    min_instances : int, default 30
        Positions before ``min_instances − 1`` are set to 0 (no detection there).
    mode : {"down", "up"}, default "down"

    Returns
    -------
    ndarray, shape (n_paths, n)
        The statistic after each observation; a detector with threshold ``λ``
        first fires at the first position where it exceeds ``λ``.
    """
    z = _floats(z)
    n = z.shape[1]
    t = np.arange(1, n + 1, dtype=z.dtype)
    mean = np.cumsum(z, axis=1) / (prior_weight + t)
    y = z - mean + (delta if mode == "down" else -delta)
    if alpha == 1.0:
        d = np.cumsum(y, axis=1)
    else:
        d = np.empty_like(y)
        acc = np.zeros(y.shape[0], dtype=y.dtype)
        for i in range(n):  # a linear recursion: loop over time, vectorised over paths
            acc = alpha * acc + y[:, i]
            d[:, i] = acc
    if mode == "down":
        stat = np.maximum.accumulate(d, axis=1) - d
    else:
        stat = d - np.minimum.accumulate(d, axis=1)
    stat[:, : max(min_instances - 1, 0)] = 0.0
    return stat


def cusum_statistic(z: np.ndarray, *, k: float, mode: Literal["down", "up"] = "down") -> np.ndarray:
    """Tabular CUSUM of many standardised paths at once (target 0, σ = 1).

    ``C⁻_t = max(0, C⁻_{t−1} − k − z_t)`` is Lindley's recursion, so
    ``C⁻_t = W_t − min(0, min_{s≤t} W_s)`` with ``W_t = Σ_{s≤t} (−k − z_s)``:
    cumulative sums and a running minimum, no loop over time. The same values
    as :class:`~core.analytics.drift.detectors.CUSUM` (``target=0, sigma=1``)
    until its first detection, up to rounding.

    Parameters
    ----------
    z : ndarray, shape (n_paths, n)
    k : float
        Allowance ≥ 0 in standard deviations.
    mode : {"down", "up"}, default "down"

    Returns
    -------
    ndarray, shape (n_paths, n)
    """
    z = _floats(z)
    w = np.cumsum((-k - z) if mode == "down" else (z - k), axis=1)
    return w - np.minimum(np.minimum.accumulate(w, axis=1), 0.0)


def first_crossing(stat: np.ndarray, threshold: float) -> np.ndarray:
    """Index of the first value above ``threshold`` per row, −1 where there is none.

    Parameters
    ----------
    stat : ndarray, shape (n_paths, n)
    threshold : float

    Returns
    -------
    ndarray of int, shape (n_paths,)
    """
    above = stat > threshold
    idx = above.argmax(axis=1)
    return np.where(above.any(axis=1), idx, -1)


def block_bootstrap_indices(
    n: int, *, n_paths: int, length: int, block: int, seed: int = 0
) -> np.ndarray:
    """Circular block-bootstrap indices into a series of ``n`` values.

    Parameters
    ----------
    n : int
        Length of the series resampled.
    n_paths, length : int
        Paths drawn and values per path.
    block : int
        Block length (1: the ordinary i.i.d. bootstrap).
    seed : int, default 0

    Returns
    -------
    ndarray of int, shape (n_paths, length)

    References
    ----------
    D. N. Politis and J. P. Romano (1992), see the module docstring.
    """
    rng = np.random.default_rng(seed)
    n_blocks = -(-length // block)
    starts = rng.integers(0, n, size=(n_paths, n_blocks, 1))
    idx = (starts + np.arange(block)) % n
    return idx.reshape(n_paths, n_blocks * block)[:, :length]


def level_from_arl0(arl0: float, *, window: int) -> float:
    """Per-window false-alarm probability of an in-control ARL of ``arl0`` trades.

    With geometric run lengths, ``P(alarm within window) = 1 − exp(−window / arl0)``.
    """
    if not (isinstance(arl0, (int, float)) and math.isfinite(arl0) and arl0 > 0):
        raise ConfigError(f"arl0 must be a positive number of trades, got {arl0!r}")
    return float(-math.expm1(-window / float(arl0)))


# ---------------------------------------------------------------- result
@dataclass(frozen=True)
class DetectorCalibration:
    """Calibrated thresholds of one detector on one outcome, stored with the baseline.

    Attributes
    ----------
    detector : {"page_hinkley", "cusum"}
        Which detector (as in :func:`~core.analytics.drift.check.default_detectors`).
    outcome : {"win", "return_pct"}
        Outcome stream it watches (standardised by the baseline).
    allowance : float
        CUSUM ``k`` or Page-Hinkley ``δ``, in standard deviations per trade
        (half the design shift).
    prior_weight : float
        Page-Hinkley prior weight (the baseline's trades); 0 for CUSUM.
    window : int
        Monitoring window (trades) the levels refer to.
    warning_level, critical_level : float
        Target probabilities of any false alarm within a window.
    warning_threshold, critical_threshold : float
        Thresholds (standard deviations) meeting them on the fitting bootstrap.
    warning_far, critical_far : float
        Share of paths of a *fresh* bootstrap (seed + 1) with an alarm at each
        threshold: the achieved false-alarm rate per window.
    shift : float
        Win-rate drop (fraction) used to time detection.
    detection_power : float
        Share of shifted paths with a warning within the window.
    median_delay, mean_delay : float
        Trades from the start of the shift to the first warning, over the
        shifted paths that were detected (NaN when none were).
    n_paths, block, seed : int
        Bootstrap paths, block length and seed used.
    """

    detector: str
    outcome: str
    allowance: float
    prior_weight: float
    window: int
    warning_level: float
    critical_level: float
    warning_threshold: float
    critical_threshold: float
    warning_far: float
    critical_far: float
    shift: float
    detection_power: float
    median_delay: float
    mean_delay: float
    n_paths: int
    block: int
    seed: int

    def detector_at(self, level: Literal["warning", "critical"]) -> DriftDetector:
        """A fresh detector with this calibration's threshold at ``level``."""
        h = self.warning_threshold if level == "warning" else self.critical_threshold
        if self.detector == "page_hinkley":
            return PageHinkley(
                delta=self.allowance, threshold=h, alpha=1.0, min_instances=30, mode="down",
                prior_mean=0.0, prior_weight=max(self.prior_weight, 1.0),
            )  # fmt: skip
        return CUSUM(target=0.0, sigma=1.0, k=self.allowance, h=h, mode="down")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None)."""
        return {k: (_f(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DetectorCalibration:
        """Rebuild from :meth:`to_dict` output."""
        ints = {"window", "n_paths", "block", "seed"}
        strs = {"detector", "outcome"}
        values: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            v = data[name]
            values[name] = str(v) if name in strs else int(v) if name in ints else _nan(v)
        return cls(**values)


# ---------------------------------------------------------------- calibration
def _check_level(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 0.5:
        raise ConfigError(f"{name} must be a probability in (0, 0.5), got {value!r}; use 0.01")
    return float(value)


def _tail_quantile(m: np.ndarray, level: float) -> float:
    """``1 − level`` quantile of ``m``; exponential peaks-over-threshold below ``_TAIL``."""
    if level >= _TAIL:
        return float(np.quantile(m, 1.0 - level))
    u = float(np.quantile(m, 1.0 - _TAIL))
    excess = m[m > u] - u
    if excess.size < 10:
        return float(np.max(m))
    return u + float(excess.mean()) * math.log(_TAIL / level)


@dataclass(frozen=True)
class _Stream:
    """A baseline outcome stream and what the simulation needs from it."""

    outcome: str
    x: np.ndarray  # outcome (wins as 0/1, or returns)
    win: np.ndarray
    ret: np.ndarray
    mu: float
    sd: float
    block: int
    block_sums: np.ndarray  # circular block sums, shape (n,)


def _stream(win: np.ndarray, ret: np.ndarray, outcome: str, block: int | None) -> _Stream:
    x = win.astype(np.float64) if outcome == "win" else ret.astype(np.float64)
    n = x.size
    b = max(1, math.ceil(n ** (1.0 / 3.0))) if block is None else int(block)
    b = min(b, n)
    mu = float(x.mean())
    sd = math.sqrt(mu * (1.0 - mu)) if outcome == "win" else float(x.std(ddof=1))
    ext = np.concatenate([[0.0], np.cumsum(np.r_[x, x[: b - 1]])])
    return _Stream(outcome, x, win, ret, mu, sd, b, ext[b : b + n] - ext[:n])


def _simulate(
    s: _Stream,
    *,
    allowance: float,
    window: int,
    n_paths: int,
    seed: int,
    shift: float = 0.0,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Per-path maximum statistic of each detector, or (given ``thresholds``) the
    index of its first crossing (−1: none), on one set of bootstrap paths."""
    n = s.x.size
    rng = np.random.default_rng([seed, 7])
    losers = np.flatnonzero(~s.win)
    p_flip = 0.0 if shift <= 0 else min(1.0, shift / max(float(s.win.mean()), 1e-12))
    n_base_blocks = max(1, -(-n // s.block))
    out = {name: np.empty(n_paths) for name in _DETECTORS}
    for lo in range(0, n_paths, _CHUNK):
        m = min(_CHUNK, n_paths - lo)
        idx = block_bootstrap_indices(
            n, n_paths=m, length=window, block=s.block, seed=int(rng.integers(2**63))
        )
        x = s.x[idx]
        if p_flip > 0:
            flip = s.win[idx] & (rng.random(idx.shape) < p_flip)
            if s.outcome == "win":
                x = np.where(flip, 0.0, x)
            elif losers.size:
                x = np.where(flip, s.ret[losers[rng.integers(0, losers.size, idx.shape)]], x)
        # each path's own bootstrap baseline mean: the estimation error of the baseline
        starts = rng.integers(0, n, size=(m, n_base_blocks))
        mu_star = s.block_sums[starts].sum(axis=1) / (n_base_blocks * s.block)
        # float32 halves memory traffic; over a few thousand steps the cumulative
        # sums keep ~1e-4 σ absolute precision, far below the Monte-Carlo error
        z = ((x - mu_star[:, None]) / s.sd).astype(np.float32)
        for name in _DETECTORS:
            if name == "cusum":
                stat = cusum_statistic(z, k=allowance)
            else:
                stat = page_hinkley_statistic(z, delta=allowance, prior_weight=float(n))
            out[name][lo : lo + m] = (
                stat.max(axis=1) if thresholds is None else first_crossing(stat, thresholds[name])
            )
    return out


def calibrate_detectors(
    win: Any,
    ret: Any,
    *,
    outcome: Outcome = "win",
    window: int = DEFAULT_MONITOR_WINDOW,
    warning_level: float = DEFAULT_WARNING_LEVEL,
    critical_level: float = DEFAULT_CRITICAL_LEVEL,
    arl0: tuple[float, float] | None = None,
    shift: float = DEFAULT_SHIFT,
    n_paths: int = 2000,
    block: int | None = None,
    seed: int = 0,
) -> dict[str, DetectorCalibration]:
    """Calibrate the down-Page-Hinkley and down-CUSUM on a baseline outcome stream.

    See the module docstring for the method. Both detectors get the allowance
    ``k = δ = shift_σ / 2`` (Montgomery §9.1.3: half the shift to detect), the
    shift being ``shift`` win-rate points in standard deviations of the outcome.

    Parameters
    ----------
    win : array_like of bool, shape (n,)
        Baseline wins in time order.
    ret : array_like of float, shape (n,)
        Baseline ``return_pct`` in time order (percent).
    outcome : {"win", "return_pct"}, default "win"
        Stream the detectors will watch.
    window : int, default 2000
        Monitoring window, trades.
    warning_level, critical_level : float, default 0.01, 0.001
        Target probability of any false alarm within one window.
    arl0 : (float, float), optional
        In-control average run lengths (trades) for warning and critical
        instead of the levels (:func:`level_from_arl0`).
    shift : float, default 0.05
        Win-rate drop (fraction) to design for and to time detection on.
    n_paths : int, default 2000
        Bootstrap paths per simulation (three simulations: fit, fresh, shifted).
    block : int, optional
        Block length; ``ceil(n^(1/3))`` when omitted.
    seed : int, default 0
        Seeds the fitting bootstrap; ``seed + 1`` the fresh one, ``seed + 2`` the
        shifted one.

    Returns
    -------
    dict of str to DetectorCalibration
        ``{"page_hinkley": ..., "cusum": ...}``; empty when the outcome does not
        vary in the baseline (nothing to standardise by).

    Raises
    ------
    ConfigError
        An option is out of range.
    InsufficientDataError
        Fewer than 30 baseline trades.
    """
    w = np.asarray(win).astype(bool)
    r = np.asarray(ret, dtype=np.float64)
    if w.shape != r.shape or w.ndim != 1:
        raise ConfigError(f"win and ret must be 1-D of equal length, got {w.shape} and {r.shape}")
    if w.size < 30:
        raise InsufficientDataError(
            f"calibrating detectors needs at least 30 baseline trades, got {w.size}"
        )
    if outcome not in ("win", "return_pct"):
        raise ConfigError(f"outcome must be 'win' or 'return_pct', got {outcome!r}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 30:
        raise ConfigError(f"window must be an integer >= 30 trades, got {window!r}; use 2000")
    if isinstance(n_paths, bool) or not isinstance(n_paths, (int, np.integer)) or n_paths < 200:
        raise ConfigError(f"n_paths must be an integer >= 200, got {n_paths!r}; use 2000")
    if arl0 is not None:
        warning_level = level_from_arl0(arl0[0], window=int(window))
        critical_level = level_from_arl0(arl0[1], window=int(window))
    warning_level = _check_level("warning_level", warning_level)
    critical_level = _check_level("critical_level", critical_level)
    if critical_level > warning_level:
        raise ConfigError(
            f"critical_level ({critical_level!r}) must not exceed warning_level "
            f"({warning_level!r}); critical is the rarer alarm"
        )
    if not (isinstance(shift, (int, float)) and 0.0 < shift < 1.0):
        raise ConfigError(f"shift must be a win-rate drop in (0, 1), got {shift!r}; use 0.05")
    s = _stream(w, r, outcome, block)
    if not s.sd > 0:
        return {}
    if outcome == "win":
        shift_sd = shift / s.sd
    else:
        gap = (r[w].mean() if w.any() else 0.0) - (r[~w].mean() if (~w).any() else 0.0)
        shift_sd = shift * abs(float(gap)) / s.sd
    allowance = 0.5 * shift_sd
    common = {"allowance": allowance, "window": int(window), "n_paths": int(n_paths)}
    fit = _simulate(s, seed=seed, **common)
    h = {
        name: (_tail_quantile(m, warning_level), _tail_quantile(m, critical_level))
        for name, m in fit.items()
    }
    fresh = _simulate(s, seed=seed + 1, **common)
    hits = _simulate(
        s, seed=seed + 2, shift=shift, thresholds={k: v[0] for k, v in h.items()}, **common
    )
    out: dict[str, DetectorCalibration] = {}
    for name in _DETECTORS:
        h_w, h_c = h[name][0], max(h[name][1], h[name][0])
        found = hits[name][hits[name] >= 0]
        out[name] = DetectorCalibration(
            detector=name,
            outcome=outcome,
            allowance=allowance,
            prior_weight=float(w.size) if name == "page_hinkley" else 0.0,
            window=int(window),
            warning_level=warning_level,
            critical_level=critical_level,
            warning_threshold=h_w,
            critical_threshold=h_c,
            warning_far=float(np.mean(fresh[name] > h_w)),
            critical_far=float(np.mean(fresh[name] > h_c)),
            shift=float(shift),
            detection_power=float(found.size / n_paths),
            median_delay=float(np.median(found) + 1) if found.size else math.nan,
            mean_delay=float(np.mean(found) + 1) if found.size else math.nan,
            n_paths=int(n_paths),
            block=s.block,
            seed=int(seed),
        )
    return out


def calibrated_detectors(
    calibrations: Mapping[str, DetectorCalibration],
    *,
    level: Literal["warning", "critical"] = "warning",
) -> dict[str, DriftDetector]:
    """Detectors built from calibrations, at the warning or critical threshold."""
    return {name: c.detector_at(level) for name, c in calibrations.items()}
