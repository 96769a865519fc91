"""Streaming change detectors that share one small interface.

Each detector sees one value at a time (a win as 0/1, a return, a standardised
score) and says, on the update where it happens, that the stream has changed.
The interface follows river's ``DriftDetector``:

- ``update(x) -> self`` feeds one value (finite; NaN and inf are refused);
- ``drift_detected`` (read-only) is true on the update where a change is signalled;
  the *next* ``update`` starts the detector afresh, as if just constructed;
- ``n_seen`` counts the values seen since the detector (re)started;
- ``reset()`` returns the detector to its freshly constructed state;
- ``to_dict()`` gives the settings (with the class name under ``"type"``) and
  ``from_dict`` / :func:`detector_from_dict` rebuild a detector from them.

:func:`detect_changes` runs a detector over a whole array and returns the indices
where it fired. It is a plain Python loop over ``update``: change detection is
sequential by nature (each decision depends on every earlier value).

Detectors
---------
:class:`PageHinkley`
    Page-Hinkley test on the running mean (Page 1954; Hinkley 1971).
:class:`CUSUM`
    Tabular CUSUM against a target mean, in standard-deviation units
    (Page 1954; Montgomery, *Introduction to Statistical Quality Control*, §9.1).
:class:`ADWIN`
    Adaptive windowing (Bifet & Gavaldà 2007), exact O(W) version over a bounded window.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal, Self

import numpy as np

from core.errors import ConfigError, ValidationError

__all__ = [
    "ADWIN",
    "CUSUM",
    "DETECTOR_TYPES",
    "DriftDetector",
    "PageHinkley",
    "detect_changes",
    "detector_from_dict",
]

Mode = Literal["down", "up", "both"]
_MODES: tuple[str, ...] = ("down", "up", "both")


def _check_mode(owner: str, mode: object) -> str:
    if mode not in _MODES:
        raise ConfigError(
            f"{owner} mode must be one of 'down', 'up', 'both', got {mode!r}; "
            "use 'down' to watch for a drop in the mean (a falling win rate)"
        )
    return str(mode)


def _check_real(
    owner: str,
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    allow_none: bool = False,
) -> float | None:
    """Validate one finite numeric setting; the message names parameter, value and range."""
    if value is None and allow_none:
        return None
    valid = (
        f"{'(' if low_open or low == -math.inf else '['}{low:g}, "
        f"{high:g}{')' if high_open or high == math.inf else ']'}"
    )
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{owner} {name} must be a number in {valid}, got {value!r}")
    v = float(value)
    inside = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not (math.isfinite(v) and inside):
        raise ConfigError(f"{owner} {name} must be a finite number in {valid}, got {value!r}")
    return v


def _check_int(owner: str, name: str, value: object, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{owner} {name} must be an integer >= {low}, got {value!r}")
    if value < low:
        raise ConfigError(f"{owner} {name} must be an integer >= {low}, got {value!r}")
    return int(value)


class DriftDetector(abc.ABC):
    """Base class of the streaming change detectors.

    Subclasses implement ``_step(x) -> bool`` (one observation; return whether a
    change is signalled), ``_reset_state()`` and ``_settings()``; the base class
    validates input, counts observations and restarts after a detection.
    """

    #: Registry name of the detector (the ``"type"`` in :meth:`to_dict`).
    kind: ClassVar[str] = ""

    def __init__(self) -> None:
        self._drift_detected = False
        self._n_seen = 0

    # -- the interface ----------------------------------------------------------
    @property
    def drift_detected(self) -> bool:
        """Whether the last :meth:`update` signalled a change (read-only)."""
        return self._drift_detected

    @property
    def n_seen(self) -> int:
        """Values seen since the detector was constructed, reset or last fired."""
        return self._n_seen

    def update(self, x: float) -> Self:
        """Feed one value; return the detector (so calls chain).

        Parameters
        ----------
        x : float
            The next observation, finite.

        Raises
        ------
        ValidationError
            ``x`` is not a real number, or is NaN or infinite.
        """
        if self._drift_detected:
            self.reset()
        try:
            v = float(x)
        except (TypeError, ValueError):
            raise ValidationError(
                f"{type(self).__name__}.update expects a real number, got {x!r}"
            ) from None
        if not math.isfinite(v):
            raise ValidationError(
                f"{type(self).__name__}.update got {v!r}; values must be finite "
                "(drop or repair NaN/inf observations before feeding a detector)"
            )
        self._n_seen += 1
        self._drift_detected = self._step(v)
        return self

    def reset(self) -> None:
        """Return to the freshly constructed state (settings are kept)."""
        self._drift_detected = False
        self._n_seen = 0
        self._reset_state()

    def to_dict(self) -> dict[str, Any]:
        """Settings as a JSON-ready dict: ``{"type": <class name>, <parameter>: value}``."""
        return {"type": self.kind, **self._settings()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftDetector:
        """Rebuild a detector from :meth:`to_dict` output.

        Called on :class:`DriftDetector` itself it dispatches on ``data["type"]``.
        """
        return detector_from_dict(data) if cls is DriftDetector else _build(cls, data)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._settings().items())
        return f"{type(self).__name__}({args})"

    # -- to implement -----------------------------------------------------------
    @abc.abstractmethod
    def _step(self, x: float) -> bool:
        """Consume one finite value; return whether a change is signalled."""

    @abc.abstractmethod
    def _reset_state(self) -> None:
        """Clear the statistics (not the settings)."""

    @abc.abstractmethod
    def _settings(self) -> dict[str, Any]:
        """Constructor keyword arguments, JSON-ready."""


class PageHinkley(DriftDetector):
    """Page-Hinkley test for a change in the mean of a stream.

    With ``x̄_t`` the running mean, the cumulative deviations are
    ``U_t = α U_{t-1} + (x_t − x̄_t − δ)`` (for a rise) and
    ``D_t = α D_{t-1} + (x_t − x̄_t + δ)`` (for a drop). A rise is signalled when
    ``U_t − min U > λ``, a drop when ``max D − D_t > λ``, once ``min_instances``
    values have been seen. The arithmetic follows ``river.drift.PageHinkley``
    exactly (same detection indices when no prior is given).

    Parameters
    ----------
    delta : float, default 0.005
        Magnitude of change tolerated per observation (δ ≥ 0), in the units of ``x``.
    threshold : float, default 50.0
        Decision threshold λ > 0, in the units of ``x``.
    alpha : float, default 0.9999
        Forgetting factor α in (0, 1] applied to the cumulative sums.
    min_instances : int, default 30
        No change is signalled before this many values (since the last restart).
    mode : {"down", "up", "both"}, default "down"
        Watch for a drop in the mean (a falling win rate), a rise, or either.
    prior_mean : float or None, default None
        Seed the running mean with a reference value (e.g. the baseline's mean):
        ``x̄_t = (w·prior_mean + Σx) / (w + t)``. Without it the running mean is that
        of the stream itself, so a shift that is present from the first value on
        goes unnoticed.
    prior_weight : float, default 0.0
        Pseudo-count ``w ≥ 0`` of the prior (e.g. the baseline's number of trades).
        Required to be > 0 when ``prior_mean`` is given.

    Examples
    --------
    A win/loss stream whose win rate falls from 0.7 to 0.3 after 500 trades:

    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> wins = np.r_[rng.random(500) < 0.7, rng.random(500) < 0.3].astype(float)
    >>> ph = PageHinkley(threshold=20.0)
    >>> detect_changes(ph, wins)
    [520]

    References
    ----------
    E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954) 100-115.
    D. V. Hinkley, "Inference about the change-point from cumulative sum tests",
    Biometrika 58 (1971) 509-523.
    """

    kind = "PageHinkley"

    def __init__(
        self,
        *,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        min_instances: int = 30,
        mode: Mode = "down",
        prior_mean: float | None = None,
        prior_weight: float = 0.0,
    ) -> None:
        super().__init__()
        name = "PageHinkley"
        self.delta = _check_real(name, "delta", delta, low=0.0)
        self.threshold = _check_real(name, "threshold", threshold, low=0.0, low_open=True)
        self.alpha = _check_real(name, "alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.min_instances = _check_int(name, "min_instances", min_instances, low=1)
        self.mode = _check_mode(name, mode)
        self.prior_mean = _check_real(name, "prior_mean", prior_mean, allow_none=True)
        self.prior_weight = _check_real(name, "prior_weight", prior_weight, low=0.0)
        if (self.prior_mean is None) != (self.prior_weight == 0.0):
            raise ConfigError(
                f"PageHinkley prior_mean and prior_weight go together, got prior_mean="
                f"{prior_mean!r} and prior_weight={prior_weight!r}; give both (weight > 0) "
                "or neither"
            )
        self._up_on = self.mode in ("up", "both")
        self._down_on = self.mode in ("down", "both")
        self._reset_state()

    def _reset_state(self) -> None:
        self._n = self.prior_weight
        self._mean = 0.0 if self.prior_mean is None else self.prior_mean
        self._sum_up = 0.0
        self._sum_down = 0.0
        self._min_up = math.inf
        self._max_down = -math.inf

    def _step(self, x: float) -> bool:
        self._n += 1.0
        self._mean += (1.0 / self._n) * (x - self._mean)  # river's stats.Mean, bit for bit
        dev = x - self._mean
        self._sum_up = self.alpha * self._sum_up + dev - self.delta
        self._sum_down = self.alpha * self._sum_down + dev + self.delta
        if self._sum_up < self._min_up:
            self._min_up = self._sum_up
        if self._sum_down > self._max_down:
            self._max_down = self._sum_down
        if self._n_seen < self.min_instances:
            return False
        return (self._up_on and self._sum_up - self._min_up > self.threshold) or (
            self._down_on and self._max_down - self._sum_down > self.threshold
        )

    @property
    def statistic(self) -> float:
        """Current test value compared with ``threshold`` (largest watched side)."""
        up = self._sum_up - self._min_up if self._up_on and self._n_seen else 0.0
        down = self._max_down - self._sum_down if self._down_on and self._n_seen else 0.0
        return max(up, down)

    def _settings(self) -> dict[str, Any]:
        return {
            "delta": self.delta,
            "threshold": self.threshold,
            "alpha": self.alpha,
            "min_instances": self.min_instances,
            "mode": self.mode,
            "prior_mean": self.prior_mean,
            "prior_weight": self.prior_weight,
        }


class CUSUM(DriftDetector):
    """Tabular CUSUM for a shift of the mean away from a target.

    With target ``μ0``, standard deviation ``σ``, allowance ``K = kσ`` and decision
    interval ``H = hσ`` (Montgomery's notation)::

        C⁺_t = max(0, x_t − (μ0 + K) + C⁺_{t−1})     # a rise
        C⁻_t = max(0, (μ0 − K) − x_t + C⁻_{t−1})     # a drop

    and a change is signalled when the watched sum exceeds ``H``. ``k = δ/2``
    is the classical choice to detect a shift of ``δ`` standard deviations fastest.

    Parameters
    ----------
    target : float or None, default None
        In-control mean μ0 (units of ``x``). ``None``: the mean of the first
        ``min_instances`` values (no change is signalled during that warm-up).
    sigma : float or None, default None
        In-control standard deviation σ > 0 (units of ``x``). ``None``: the standard
        deviation (ddof=1) of the warm-up values. If the warm-up values are all
        equal the warm-up goes on until they vary (σ = 0 would make every
        deviation infinitely significant).
    k : float, default 0.5
        Allowance, in standard deviations (≥ 0).
    h : float, default 5.0
        Decision interval, in standard deviations (> 0). ``k=0.5, h=5`` gives an
        in-control average run length of about 465 on normal data.
    min_instances : int, default 30
        Length of the warm-up used to estimate ``target`` and/or ``sigma`` (≥ 2).
    mode : {"down", "up", "both"}, default "down"
        Watch ``C⁻`` (a drop), ``C⁺`` (a rise) or both.

    Examples
    --------
    Returns (σ = 1) whose mean falls by one standard deviation after 300 values.
    The first alarm comes 3 values after the change; with a fixed target the
    detector keeps firing while the mean stays low:

    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> x = np.r_[rng.normal(0.0, 1.0, 300), rng.normal(-1.0, 1.0, 300)]
    >>> hits = detect_changes(CUSUM(target=0.0, sigma=1.0), x)
    >>> hits[:3], len(hits)
    ([302, 308, 318], 24)

    References
    ----------
    E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954) 100-115.
    D. C. Montgomery, *Introduction to Statistical Quality Control*, 7th ed.,
    Wiley (2013), section 9.1 (the tabular CUSUM).
    """

    kind = "CUSUM"

    def __init__(
        self,
        *,
        target: float | None = None,
        sigma: float | None = None,
        k: float = 0.5,
        h: float = 5.0,
        min_instances: int = 30,
        mode: Mode = "down",
    ) -> None:
        super().__init__()
        name = "CUSUM"
        self.target = _check_real(name, "target", target, allow_none=True)
        self.sigma = _check_real(name, "sigma", sigma, low=0.0, low_open=True, allow_none=True)
        self.k = _check_real(name, "k", k, low=0.0)
        self.h = _check_real(name, "h", h, low=0.0, low_open=True)
        self.min_instances = _check_int(name, "min_instances", min_instances, low=2)
        self.mode = _check_mode(name, mode)
        self._up_on = self.mode in ("up", "both")
        self._down_on = self.mode in ("down", "both")
        self._reset_state()

    def _reset_state(self) -> None:
        self._warm = self.target is None or self.sigma is None
        self._wn = 0  # Welford accumulators for the warm-up
        self._wmean = 0.0
        self._wm2 = 0.0
        self._set_reference(self.target, self.sigma)
        self._c_up = 0.0
        self._c_down = 0.0

    def _set_reference(self, mu: float | None, sd: float | None) -> None:
        self._mu = 0.0 if mu is None else mu
        self._sd = 1.0 if sd is None else sd
        self._hi = self._mu + self.k * self._sd
        self._lo = self._mu - self.k * self._sd
        self._limit = self.h * self._sd

    def _step(self, x: float) -> bool:
        if self._warm:
            self._wn += 1
            d = x - self._wmean
            self._wmean += d / self._wn
            self._wm2 += d * (x - self._wmean)
            if self._wn >= self.min_instances and (self.sigma is not None or self._wm2 > 0.0):
                mu = self._wmean if self.target is None else self.target
                sd = math.sqrt(self._wm2 / (self._wn - 1)) if self.sigma is None else self.sigma
                self._set_reference(mu, sd)
                self._warm = False
            return False
        fired = False
        if self._up_on:
            self._c_up = max(0.0, x - self._hi + self._c_up)
            fired = self._c_up > self._limit
        if self._down_on:
            self._c_down = max(0.0, self._lo - x + self._c_down)
            fired = fired or self._c_down > self._limit
        return fired

    @property
    def statistic(self) -> float:
        """Current watched sum in standard deviations (compare with ``h``)."""
        up = self._c_up if self._up_on else 0.0
        down = self._c_down if self._down_on else 0.0
        return max(up, down) / self._sd

    @property
    def warming_up(self) -> bool:
        """True while ``target``/``sigma`` are still being estimated."""
        return self._warm

    def _settings(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "sigma": self.sigma,
            "k": self.k,
            "h": self.h,
            "min_instances": self.min_instances,
            "mode": self.mode,
        }


class ADWIN(DriftDetector):
    """Adaptive windowing: signal when two sub-windows have different means.

    Every ``clock`` updates (once more than ``grace_period`` values are held) the
    window ``W`` of the latest values is split at *every* point into an older part
    ``W0`` (``n0`` values) and a newer part ``W1`` (``n1``), both at least
    ``min_window_length`` long, and a change is signalled when for some split

    ``|μ̂0 − μ̂1| > ε = sqrt(2 · m · σ̂²_W · δ') + (2/3) · δ' · m``

    with ``δ' = ln(2 ln|W| / δ)``, ``m = 1/(n0 − L + 1) + 1/(n1 − L + 1)``
    (``L = min_window_length``) and ``σ̂²_W`` the variance of the window. This is
    the cut test of Bifet & Gavaldà as river implements it; unlike ADWIN2 (which
    keeps an exponential histogram and tests only bucket boundaries) this version
    keeps the values themselves and tests every split, so it is exact but costs
    O(W) per check (vectorised; about 1 µs per update amortised at ``W = 10 000``).
    The window is bounded by ``max_window`` (the oldest value is dropped beyond
    it). As with every detector here, the update after a detection starts afresh
    with an empty window (river's ``ADWIN`` does the same).

    Parameters
    ----------
    delta : float, default 0.002
        Confidence δ in (0, 1): smaller means fewer false alarms and later detection.
    clock : int, default 32
        Check for a change every ``clock`` updates (1: every update).
    min_window_length : int, default 5
        Shortest sub-window a split may leave.
    grace_period : int, default 10
        No check before the window holds more than this many values.
    max_window : int, default 10_000
        Most values kept; beyond it the window slides.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = np.r_[rng.normal(0.0, 1.0, 1000), rng.normal(1.0, 1.0, 1000)]
    >>> detect_changes(ADWIN(), x)  # change at 1000, found at the check on update 1056
    [1055]

    References
    ----------
    A. Bifet and R. Gavaldà, "Learning from time-changing data with adaptive
    windowing", Proc. SIAM International Conference on Data Mining (2007) 443-448.
    """

    kind = "ADWIN"

    def __init__(
        self,
        *,
        delta: float = 0.002,
        clock: int = 32,
        min_window_length: int = 5,
        grace_period: int = 10,
        max_window: int = 10_000,
    ) -> None:
        super().__init__()
        self.delta = _check_real(
            "ADWIN", "delta", delta, low=0.0, high=1.0, low_open=True, high_open=True
        )
        self.clock = _check_int("ADWIN", "clock", clock, low=1)
        self.min_window_length = _check_int("ADWIN", "min_window_length", min_window_length, low=1)
        self.grace_period = _check_int("ADWIN", "grace_period", grace_period, low=0)
        self.max_window = _check_int(
            "ADWIN", "max_window", max_window, low=2 * self.min_window_length
        )
        self._buf = np.empty(2 * self.max_window, dtype=np.float64)
        self._reset_state()

    def _reset_state(self) -> None:
        self._lo = 0
        self._hi = 0
        self._tick = 0

    def _step(self, x: float) -> bool:
        if self._hi == self._buf.size:  # compact: move the window to the front
            w = self._hi - self._lo
            self._buf[:w] = self._buf[self._lo : self._hi]
            self._lo, self._hi = 0, w
        self._buf[self._hi] = x
        self._hi += 1
        if self._hi - self._lo > self.max_window:
            self._lo += 1
        self._tick += 1
        if self._tick % self.clock or self._hi - self._lo <= self.grace_period:
            return False
        return self._cut_exists(self._buf[self._lo : self._hi])

    def _cut_exists(self, w: np.ndarray) -> bool:
        size = w.size
        low = self.min_window_length
        n0 = np.arange(low, size - low + 1, dtype=np.float64)
        if n0.size == 0:
            return False
        csum = np.cumsum(w)
        u0 = csum[low - 1 : size - low]
        n1 = size - n0
        gap = np.abs(u0 / n0 - (csum[-1] - u0) / n1)
        d_prime = math.log(2.0 * math.log(size) / self.delta)
        m = 1.0 / (n0 - low + 1.0) + 1.0 / (n1 - low + 1.0)
        eps = np.sqrt(2.0 * m * float(w.var()) * d_prime) + (2.0 / 3.0) * d_prime * m
        return bool(np.any(gap > eps))

    @property
    def width(self) -> int:
        """Number of values in the window."""
        return self._hi - self._lo

    @property
    def estimation(self) -> float:
        """Mean of the window (0.0 when empty, as in river)."""
        return float(self._buf[self._lo : self._hi].mean()) if self.width else 0.0

    def _settings(self) -> dict[str, Any]:
        return {
            "delta": self.delta,
            "clock": self.clock,
            "min_window_length": self.min_window_length,
            "grace_period": self.grace_period,
            "max_window": self.max_window,
        }


#: Detector classes by their ``to_dict()["type"]``.
DETECTOR_TYPES: dict[str, type[DriftDetector]] = {
    cls.kind: cls for cls in (PageHinkley, CUSUM, ADWIN)
}


def _build(cls: type[DriftDetector], data: Mapping[str, Any]) -> DriftDetector:
    settings = dict(data)
    kind = settings.pop("type", cls.kind)
    if kind != cls.kind:
        raise ConfigError(f"{cls.__name__}.from_dict got the settings of a {kind!r} detector")
    known = set(cls()._settings())  # the defaults are valid for every detector
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(
            f"{cls.__name__} has no setting {', '.join(map(repr, unknown))}; "
            f"valid settings: {', '.join(sorted(known))}"
        )
    return cls(**settings)


def detector_from_dict(data: Mapping[str, Any]) -> DriftDetector:
    """Rebuild any detector from its :meth:`DriftDetector.to_dict` output.

    Raises
    ------
    ConfigError
        ``data`` has no known ``"type"`` or holds a setting the detector lacks.
    """
    kind = data.get("type") if isinstance(data, Mapping) else None
    if kind not in DETECTOR_TYPES:
        raise ConfigError(
            f"unknown detector type {kind!r}; expected one of {', '.join(DETECTOR_TYPES)} "
            "under the 'type' key (as written by to_dict())"
        )
    return _build(DETECTOR_TYPES[kind], data)


def detect_changes(detector: DriftDetector, values: Iterable[float]) -> list[int]:
    """Run ``detector`` over ``values`` and return the indices where it fired.

    The detector is reset first, so the result depends only on ``values``; after
    each detection it starts afresh (see :class:`DriftDetector`).

    Parameters
    ----------
    detector : DriftDetector
        Any detector of this module; its state is overwritten.
    values : array_like, shape (n,)
        Observations in time order, finite.

    Returns
    -------
    list of int
        0-based positions in ``values`` where ``drift_detected`` was true.

    Raises
    ------
    ValidationError
        A value is NaN or infinite (the message gives its position).
    """
    if not isinstance(detector, DriftDetector):
        raise ConfigError(
            f"detect_changes needs a DriftDetector (PageHinkley, CUSUM, ADWIN), "
            f"got {type(detector).__name__}"
        )
    if not hasattr(values, "__len__"):  # a generator or other one-shot iterable
        values = list(values)
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(
            "values must be real numbers (an array, list or Series of floats)"
        ) from None
    if x.ndim != 1:
        raise ValidationError(f"values must be one-dimensional, got shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValidationError(
            f"values must be finite; position {bad[0]} holds {float(x[bad[0]])!r} "
            f"({bad.size} such value(s)); drop or repair them first"
        )
    detector.reset()
    update = detector.update
    hits: list[int] = []
    for i, v in enumerate(x.tolist()):
        if update(v).drift_detected:
            hits.append(i)
    return hits
