"""Calibrators: maps from a raw confidence score to a win probability.

Four methods share one small interface (:class:`Calibrator`)::

    cal = make_calibrator("platt").fit(confidence, win)
    p = cal.predict(confidence)            # ndarray in [0, 1], never NaN
    d = cal.to_dict()                      # JSON-safe, has "method" and params
    same = calibrator_from_dict(d)         # predicts identically

==============  ==========================================================  =========
method          model                                                       monotone
==============  ==========================================================  =========
``platt``       ``sigmoid(a * c + b)`` on the raw score ``c``               yes [*]_
``isotonic``    non-decreasing step/linear map (pool adjacent violators)    yes
``beta``        ``sigmoid(a ln c - b ln(1 - c) + c0)``, ``a, b >= 0``       yes
``histogram``   win frequency per bin, shrunk toward the base rate          no
==============  ==========================================================  =========

.. [*] non-decreasing when ``a >= 0`` (a score that predicts losses gets ``a < 0``).

Degenerate training data
------------------------
* Fewer than ``min_samples`` rows (default 20): :class:`CalibrationError`.
* All wins, all losses, or a constant confidence: nothing can be learnt about
  the shape of the map, so every method falls back to the constant Laplace
  estimate ``(wins + 1) / (n + 2)`` (never 0, 1 or NaN). The fallback is
  recorded, not silent: ``cal.fallback`` is ``"all wins"``, ``"all losses"`` or
  ``"constant confidence"`` (``None`` otherwise) and appears in ``to_dict()``.

Never exactly 0 or 1
--------------------
Every prediction is clipped to ``[eps, 1 - eps]`` with ``eps = 1 / (2 n_train)``
(:func:`probability_floor`): no training sample of ``n`` trades can justify a
probability closer to 0 or 1 than about half a trade in ``n`` (the Jeffreys
posterior mean of a rate with 0 wins in ``n`` is ``0.5 / (n + 1)``), and a
forecast of exactly 0 or 1 makes one miss cost an infinite log loss. The floor
depends only on ``n_train``, which ``to_dict`` keeps, so a calibrator rebuilt
from its dict predicts the same numbers.

Logistic fits (Platt and beta) use a damped Newton method (IRLS) on the full
data with a negligible ridge penalty (``1e-8 * ||w||^2 / 2`` against a summed
log-loss) that only matters for perfectly separable data, where it keeps the
coefficients finite.
"""

from __future__ import annotations

import abc
import difflib
import inspect
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
from scipy.special import expit
from sklearn.isotonic import isotonic_regression

from core.analytics.calibration import assign_bins, bin_edges, check_prob_win, json_safe
from core.errors import CalibrationError

__all__ = [
    "CALIBRATION_METHODS",
    "BaseCalibrator",
    "BetaCalibrator",
    "Calibrator",
    "HistogramCalibrator",
    "IsotonicCalibrator",
    "PlattCalibrator",
    "calibrator_from_dict",
    "default_min_block",
    "make_calibrator",
    "probability_floor",
]

#: Version of the ``to_dict`` layout.
FORMAT_VERSION = 1


def probability_floor(n_train: int) -> float:
    """``eps = 1 / (2 n_train)``: calibrated probabilities lie in ``[eps, 1 - eps]``.

    Parameters
    ----------
    n_train : int
        Trades the calibrator was fitted on (>= 1).
    """
    return 0.5 / max(int(n_train), 1)


def default_min_block(n_train: int) -> int:
    """Fewest trades per isotonic step by default: ``max(20, ceil(n_train / 50))``.

    Twenty trades bound a step's standard error at ``0.5 / sqrt(20) = 0.11``;
    ``n / 50`` caps the map at 50 steps, finer than any reliability table we
    draw (10-20 bins), so big samples get steps whose win rates are measured
    to a few points rather than single-trade spikes.
    """
    return max(20, -(-int(n_train) // 50))


@runtime_checkable
class Calibrator(Protocol):
    """What every calibrator offers (sweeps, walk-forward and the registry use this)."""

    method: str

    def fit(self, confidence: Any, win: Any) -> Self:
        """Fit on scores in [0, 1], shape (n,), and outcomes 0/1, shape (n,)."""
        ...

    def predict(self, confidence: Any) -> np.ndarray:
        """Calibrated probabilities, shape (n,), in [0, 1], never NaN."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description including ``"method"`` and fitted parameters."""
        ...

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Rebuild a fitted calibrator from :meth:`to_dict` output."""
        ...


# --------------------------------------------------------------------------- logistic


def _logistic_loss(eta: np.ndarray, y: np.ndarray) -> float:
    """Negative log-likelihood, sum of softplus(eta) - y * eta.

    softplus written as ``log1p(exp(-|eta|)) + max(eta, 0)``: the same value as
    ``np.logaddexp(0, eta)`` (stable for any eta) at a quarter of the cost.
    """
    softplus = np.log1p(np.exp(-np.abs(eta))) + np.maximum(eta, 0.0)
    return float(softplus.sum() - np.dot(y, eta))


def _fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    ridge: float = 1e-8,
    max_iter: int = 100,
    init: np.ndarray | None = None,
) -> np.ndarray:
    """Maximum-likelihood logistic regression by damped Newton (IRLS).

    Parameters
    ----------
    x : ndarray, shape (n, d)
        Features (no intercept column).
    y : ndarray, shape (n,)
        0/1 outcomes.
    init : ndarray, shape (d + 1,), optional
        Starting coefficients (a warm start: the same optimum, fewer iterations).

    Returns
    -------
    ndarray, shape (d + 1,)
        Coefficients, intercept last.
    """
    n, d = x.shape
    w0 = np.zeros(d + 1) if init is None else np.asarray(init, dtype=np.float64).copy()
    if d == 1:
        # One feature (Platt): dot products only, no (n, 2) design matrix.
        x1, x2 = x[:, 0], x[:, 0] * x[:, 0]

        def eta_of(w: np.ndarray) -> np.ndarray:
            return w[0] * x1 + w[1]

        def grad_hess(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            p = expit(eta)
            r = p - y
            v = p * (1.0 - p)
            vx = v @ x1
            return np.array([x1 @ r, r.sum()]), np.array([[v @ x2, vx], [vx, v.sum()]])

    else:
        xa = np.empty((n, d + 1))
        xa[:, :d] = x
        xa[:, d] = 1.0

        def eta_of(w: np.ndarray) -> np.ndarray:
            return xa @ w

        def grad_hess(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            p = expit(eta)
            return xa.T @ (p - y), (xa.T * (p * (1.0 - p))) @ xa

    return _damped_newton(w0, eta_of, grad_hess, y, ridge=ridge, max_iter=max_iter)


def _damped_newton(
    w: np.ndarray,
    eta_of: Callable[[np.ndarray], np.ndarray],
    grad_hess: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    y: np.ndarray,
    *,
    ridge: float,
    max_iter: int,
) -> np.ndarray:
    """Newton iterations with a backtracking (Armijo) line search on the ridge-penalised loss."""
    eye = np.eye(w.size)
    eta = eta_of(w)
    loss = _logistic_loss(eta, y) + 0.5 * ridge * float(w @ w)
    for _ in range(max_iter):  # each iteration is vectorised over the rows
        grad, hess = grad_hess(eta)
        grad = grad + ridge * w
        hess = hess + ridge * eye
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        decrement = float(grad @ step)
        if decrement <= 1e-12 * max(1.0, abs(loss)):
            break
        t = 1.0
        while t > 1e-12:
            w_new = w - t * step
            eta_new = eta_of(w_new)
            loss_new = _logistic_loss(eta_new, y) + 0.5 * ridge * float(w_new @ w_new)
            if loss_new <= loss - 1e-4 * t * decrement:
                break
            t *= 0.5
        else:
            break
        w, eta, loss = w_new, eta_new, loss_new
        if float(np.max(np.abs(t * step))) <= 1e-10 * (1.0 + float(np.max(np.abs(w)))):
            break
    return w


# --------------------------------------------------------------------------- base


class BaseCalibrator(abc.ABC):
    """Shared validation, degenerate-data fallback and (de)serialisation.

    Subclasses set ``method`` and implement ``_fit``, ``_predict``, ``_params``
    and ``_set_params``; their constructor takes keyword-only options that
    ``_options`` returns.

    Attributes (after ``fit``)
    --------------------------
    n_train : int
        Rows fitted on.
    base_rate : float
        Share of wins in the training data.
    fallback : str or None
        Why the constant Laplace estimate is used, or None.
    """

    method: ClassVar[str] = ""

    def __init__(self, *, min_samples: int = 20) -> None:
        if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
            raise CalibrationError(
                f"min_samples must be a positive integer, got {min_samples!r}; use 20"
            )
        self.min_samples = min_samples
        self.n_train: int | None = None
        self.base_rate: float | None = None
        self.fallback: str | None = None
        self._constant: float | None = None

    # -- subclass hooks
    @abc.abstractmethod
    def _fit(self, c: np.ndarray, y: np.ndarray) -> None: ...

    @abc.abstractmethod
    def _predict(self, c: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _params(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def _set_params(self, params: dict[str, Any]) -> None: ...

    def _options(self) -> dict[str, Any]:
        return {"min_samples": self.min_samples}

    # -- public API
    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`from_dict`) has set the parameters."""
        return self.n_train is not None

    def fit(self, confidence: Any, win: Any) -> Self:
        """Fit the map from ``confidence`` to P(win).

        Parameters
        ----------
        confidence : array_like, shape (n,)
            Raw scores in [0, 1], no NaN.
        win : array_like, shape (n,)
            Outcomes, 0/1 or bool (``return_pct > 0``).

        Returns
        -------
        self

        Raises
        ------
        CalibrationError
            Invalid inputs, or fewer than ``min_samples`` rows.
        """
        c, y = check_prob_win(confidence, win, prob_name="confidence")
        n = c.size
        if n < self.min_samples:
            raise CalibrationError(
                f"{self.method} calibration needs at least {self.min_samples} trades, got "
                f"{n}; collect more trades or pass a smaller min_samples"
            )
        wins = float(y.sum())
        self.n_train = int(n)
        self.base_rate = wins / n
        self.fallback = None
        self._constant = None
        if wins == n:
            self.fallback = "all wins"
        elif wins == 0:
            self.fallback = "all losses"
        elif c.min() == c.max():
            self.fallback = "constant confidence"
        if self.fallback is not None:
            self._constant = (wins + 1.0) / (n + 2.0)
        else:
            self._fit(c, y)
        return self

    def predict(self, confidence: Any) -> np.ndarray:
        """Calibrated win probability, shape ``(n,)``, in ``[eps, 1 - eps]``, never NaN.

        ``eps = 1 / (2 n_train)`` (:func:`probability_floor`): never exactly 0 or 1.

        Raises
        ------
        CalibrationError
            Not fitted, or ``confidence`` has NaN or values outside [0, 1].
        """
        if not self.is_fitted:
            raise CalibrationError(
                f"this {type(self).__name__} is not fitted; call fit(confidence, win) first"
            )
        c = np.asarray(confidence, dtype=np.float64)
        if c.ndim != 1:
            raise CalibrationError(f"confidence must be 1-D, got shape {c.shape}")
        if c.size == 0:
            return np.empty(0)
        check_prob_win(c, np.zeros(c.size, dtype=bool), prob_name="confidence")
        if self._constant is not None:
            return np.full(c.size, self._constant)
        eps = probability_floor(self.n_train)
        return np.clip(self._predict(c), eps, 1.0 - eps)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description: method, format, options, training facts, params.

        ``params`` holds the fitted parameters (``{"constant": p}`` when a
        fallback applies). Feed the result to :func:`calibrator_from_dict`.
        """
        if not self.is_fitted:
            raise CalibrationError(
                f"this {type(self).__name__} is not fitted; call fit(confidence, win) "
                "before to_dict()"
            )
        params = {"constant": self._constant} if self._constant is not None else self._params()
        return json_safe(
            {
                "method": self.method,
                "format": FORMAT_VERSION,
                "options": self._options(),
                "n_train": self.n_train,
                "base_rate": self.base_rate,
                "fallback": self.fallback,
                "params": params,
            }
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Rebuild a fitted calibrator from :meth:`to_dict` output."""
        if not isinstance(d, dict):
            raise CalibrationError(f"a calibrator dict is needed, got {type(d).__name__}")
        missing = [k for k in ("method", "options", "n_train", "params") if k not in d]
        if missing:
            raise CalibrationError(
                f"calibrator dict lacks {', '.join(missing)}; pass the output of to_dict()"
            )
        if d["method"] != cls.method:
            raise CalibrationError(
                f"dict describes a {d['method']!r} calibrator, not {cls.method!r}; use "
                "calibrator_from_dict(d)"
            )
        obj = cls(**dict(d["options"]))
        obj.n_train = int(d["n_train"])
        obj.base_rate = None if d.get("base_rate") is None else float(d["base_rate"])
        obj.fallback = d.get("fallback")
        params = d["params"]
        try:
            if "constant" in params:
                obj._constant = float(params["constant"])
            else:
                obj._set_params(params)
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(
                f"{cls.method} calibrator dict has bad params ({exc!r}); pass the output of "
                "to_dict()"
            ) from exc
        return obj

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        state = "fitted" if self.is_fitted else "unfitted"
        return f"{type(self).__name__}({opts}) [{state}]"


# --------------------------------------------------------------------------- Platt


class PlattCalibrator(BaseCalibrator):
    """Platt scaling: ``P(win | c) = sigmoid(a * c + b)`` on the raw score ``c``.

    Fitted by unpenalised maximum likelihood (up to the tiny ridge of the module
    docstring) on the raw score, not its logit, so data generated as
    ``P(win) = sigmoid(a c + b)`` give back ``a`` and ``b``. Platt's label
    smoothing (targets ``(N+ + 1)/(N+ + 2)``) is not applied.

    Attributes
    ----------
    a, b : float
        Slope and intercept after ``fit``.

    References
    ----------
    J. Platt, "Probabilistic outputs for support vector machines and comparisons
    to regularized likelihood methods", Advances in Large Margin Classifiers
    (1999) 61-74.
    """

    method: ClassVar[str] = "platt"

    def __init__(self, *, min_samples: int = 20) -> None:
        super().__init__(min_samples=min_samples)
        self.a: float | None = None
        self.b: float | None = None
        self._init: np.ndarray | None = None

    def warm_start(self, previous: BaseCalibrator | None) -> Self:
        """Start the next :meth:`fit` from ``previous``'s fitted ``a, b`` (if it is a fitted,
        non-fallback Platt calibrator). The optimum is the same; walk-forward windows
        that overlap converge in fewer Newton steps."""
        if (
            isinstance(previous, PlattCalibrator)
            and previous.a is not None
            and previous.fallback is None
        ):
            self._init = np.array([previous.a, previous.b])
        return self

    def _fit(self, c: np.ndarray, y: np.ndarray) -> None:
        a, b = _fit_logistic(c[:, None], y, init=self._init)
        self.a, self.b = float(a), float(b)

    def _predict(self, c: np.ndarray) -> np.ndarray:
        return expit(self.a * c + self.b)

    def _params(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b}

    def _set_params(self, params: dict[str, Any]) -> None:
        self.a, self.b = float(params["a"]), float(params["b"])


# --------------------------------------------------------------------------- isotonic


class IsotonicCalibrator(BaseCalibrator):
    """Isotonic regression: the best non-decreasing map in squared error.

    Rows with equal scores are pooled (weighted mean outcome), the
    pool-adjacent-violators algorithm (scikit-learn's ``isotonic_regression``)
    fits the pooled means, and prediction interpolates linearly between the
    fitted points, clipping outside the training range. Points inside flat
    runs are dropped, as scikit-learn does, so ``x`` and ``y`` (the knots kept
    in ``to_dict``) are short.

    Unlike plain isotonic regression, every step holds at least ``min_block``
    trades: after PAV, adjacent steps are merged left to right (weighted mean,
    which keeps the map non-decreasing) until each has ``min_block`` trades,
    and a short last step joins the one before. Plain PAV ends in steps of one
    or two trades at the extremes, whose win rates of 0 or 1 are noise (and
    whose deciles collapse to one value). ``min_block=1`` gives
    ``sklearn.isotonic.IsotonicRegression(out_of_bounds="clip", y_min=0,
    y_max=1)`` up to the probability floor of the module docstring.

    Parameters
    ----------
    min_block : int, optional
        Fewest trades per step; default :func:`default_min_block` of the
        training size, ``max(20, ceil(n / 50))``.
    min_samples : int, default 20

    Attributes
    ----------
    x, y : ndarray or None
        Interpolation knots (scores, probabilities) after ``fit``.

    References
    ----------
    B. Zadrozny and C. Elkan, "Transforming classifier scores into accurate
    multiclass probability estimates", KDD 2002.
    """

    method: ClassVar[str] = "isotonic"

    def __init__(self, *, min_block: int | None = None, min_samples: int = 20) -> None:
        super().__init__(min_samples=min_samples)
        if min_block is not None and (
            isinstance(min_block, bool) or not isinstance(min_block, int) or min_block < 1
        ):
            raise CalibrationError(
                f"min_block must be a positive integer or None, got {min_block!r}; None "
                "chooses max(20, n/50)"
            )
        self.min_block = min_block
        self.x: np.ndarray | None = None
        self.y: np.ndarray | None = None

    def _options(self) -> dict[str, Any]:
        return {"min_block": self.min_block, "min_samples": self.min_samples}

    def _fit(self, c: np.ndarray, y: np.ndarray) -> None:
        # Any sort will do: wins are summed within runs of equal scores (exact for 0/1),
        # and the default introsort is about twice as fast as a stable sort.
        order = np.argsort(c)
        cs = c[order]
        ys = y[order]
        starts = np.concatenate(([0], np.flatnonzero(np.diff(cs)) + 1))
        weight = np.diff(np.append(starts, cs.size)).astype(np.float64)
        ux = cs[starts]
        uy = np.add.reduceat(ys, starts) / weight
        fitted = np.asarray(isotonic_regression(uy, sample_weight=weight, y_min=0.0, y_max=1.0))
        m = default_min_block(c.size) if self.min_block is None else self.min_block
        if m > 1:
            fitted = _merge_small_steps(fitted, weight, m)
        keep = np.ones(ux.size, dtype=bool)
        if ux.size > 2:
            keep[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
        self.x, self.y = ux[keep], np.asarray(fitted)[keep]

    def _predict(self, c: np.ndarray) -> np.ndarray:
        return np.interp(c, self.x, self.y)

    def _params(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y}

    def _set_params(self, params: dict[str, Any]) -> None:
        x = np.asarray(params["x"], dtype=np.float64)
        y = np.asarray(params["y"], dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape or x.size == 0:
            raise ValueError("x and y must be non-empty lists of equal length")
        self.x, self.y = x, y


def _merge_small_steps(fitted: np.ndarray, weight: np.ndarray, m: int) -> np.ndarray:
    """Merge adjacent steps of a non-decreasing fit until each weighs at least ``m``.

    Left to right: a group closes once it weighs ``m``; a last group lighter
    than ``m`` joins the one before. Each group takes the weighted mean of its
    values, so the result is still non-decreasing. One Python step per PAV
    block (there are few); the per-point work is vectorised.
    """
    starts = np.concatenate(([0], np.flatnonzero(np.diff(fitted)) + 1))
    block_w = np.add.reduceat(weight, starts)
    group = np.empty(starts.size, dtype=np.int64)
    g, acc = 0, 0.0
    for b, w in enumerate(block_w.tolist()):
        group[b] = g
        acc += w
        if acc >= m:
            g, acc = g + 1, 0.0
    if acc > 0 and g > 0:  # a light last group joins the previous one
        group[group == g] = g - 1
    point_group = np.repeat(group, np.diff(np.append(starts, fitted.size)))
    sums = np.bincount(point_group, weights=fitted * weight)
    totals = np.bincount(point_group, weights=weight)
    return sums[point_group] / totals[point_group]


# --------------------------------------------------------------------------- beta


class BetaCalibrator(BaseCalibrator):
    """Beta calibration: ``sigmoid(a ln c - b ln(1 - c) + c0)`` with ``a, b >= 0``.

    A logistic regression on the features ``[ln c, -ln(1 - c)]`` (scores
    clipped to ``[eps, 1 - eps]``). If the slope of a feature comes out
    negative the model is refitted without it (that coefficient set to 0), as
    the authors' reference implementation does, so the map is monotone
    non-decreasing; if the remaining slope is negative as well, only the
    intercept is kept (a constant at the base rate).

    Parameters
    ----------
    eps : float, default 1e-12
        Clipping of the score before taking logarithms.
    min_samples : int, default 20

    Attributes
    ----------
    a, b, c : float
        Fitted parameters (``c`` is the intercept, ``c0`` above).

    References
    ----------
    M. Kull, T. Silva Filho and P. Flach, "Beta calibration: a well-founded and
    easily implemented improvement on logistic calibration for binary
    classifiers", AISTATS 2017, PMLR 54:623-631.
    """

    method: ClassVar[str] = "beta"

    def __init__(self, *, eps: float = 1e-12, min_samples: int = 20) -> None:
        super().__init__(min_samples=min_samples)
        if not 0.0 < eps < 0.5:
            raise CalibrationError(f"eps must lie in (0, 0.5), got {eps!r}; use 1e-12")
        self.eps = float(eps)
        self.a: float | None = None
        self.b: float | None = None
        self.c: float | None = None

    def _options(self) -> dict[str, Any]:
        return {"eps": self.eps, "min_samples": self.min_samples}

    def _features(self, c: np.ndarray) -> np.ndarray:
        cc = np.clip(c, self.eps, 1.0 - self.eps)
        return np.column_stack((np.log(cc), -np.log1p(-cc)))

    def _fit(self, c: np.ndarray, y: np.ndarray) -> None:
        x = self._features(c)
        a, b, c0 = _fit_logistic(x, y)
        if a < 0:
            b, c0 = _fit_logistic(x[:, 1:], y)
            a = 0.0
        elif b < 0:
            a, c0 = _fit_logistic(x[:, :1], y)
            b = 0.0
        if a < 0 or b < 0:  # the single remaining slope is negative too
            a = b = 0.0
            (c0,) = _fit_logistic(np.empty((c.size, 0)), y)
        self.a, self.b, self.c = float(a), float(b), float(c0)

    def _predict(self, c: np.ndarray) -> np.ndarray:
        x = self._features(c)
        return expit(self.a * x[:, 0] + self.b * x[:, 1] + self.c)

    def _params(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "c": self.c}

    def _set_params(self, params: dict[str, Any]) -> None:
        self.a, self.b, self.c = (float(params[k]) for k in ("a", "b", "c"))


# --------------------------------------------------------------------------- histogram


class HistogramCalibrator(BaseCalibrator):
    """Histogram binning: the (smoothed) win frequency of the score's bin.

    Bins are equal-width on [0, 1] (``strategy="uniform"``) or equal-mass on
    the training scores (``"quantile"``, edges at their percentiles), assigned
    as in :func:`core.analytics.calibration.assign_bins`. Each bin predicts the
    m-estimate ``(wins_b + m * base_rate) / (n_b + m)`` with ``m =
    prior_strength``: a bin with few trades is pulled toward the overall win
    rate and an empty bin predicts the base rate, so no bin says 0 or 1 on
    thin evidence. ``prior_strength=0`` gives the raw frequencies of Zadrozny
    & Elkan (empty bins still get the base rate). Not monotone in general.

    Parameters
    ----------
    n_bins : int, default 10
    strategy : {"uniform", "quantile"}, default "uniform"
    prior_strength : float, default 1.0
        ``m`` above, in pseudo-trades.
    min_samples : int, default 20

    Attributes
    ----------
    edges : ndarray, shape (n_bins + 1,)
    probabilities, counts : ndarray, shape (n_bins,)

    References
    ----------
    B. Zadrozny and C. Elkan, "Obtaining calibrated probability estimates from
    decision trees and naive Bayesian classifiers", ICML 2001.
    B. Cestnik, "Estimating probabilities: a crucial task in machine learning",
    ECAI 1990 (the m-estimate).
    """

    method: ClassVar[str] = "histogram"

    def __init__(
        self,
        *,
        n_bins: int = 10,
        strategy: str = "uniform",
        prior_strength: float = 1.0,
        min_samples: int = 20,
    ) -> None:
        super().__init__(min_samples=min_samples)
        if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
            raise CalibrationError(f"n_bins must be a positive integer, got {n_bins!r}; use 10")
        if strategy not in ("uniform", "quantile"):
            raise CalibrationError(
                f"strategy must be 'uniform' or 'quantile', got {strategy!r}; use 'uniform'"
            )
        if not np.isfinite(prior_strength) or prior_strength < 0:
            raise CalibrationError(
                f"prior_strength must be a finite number >= 0, got {prior_strength!r}; use 1.0"
            )
        self.n_bins = n_bins
        self.strategy = strategy
        self.prior_strength = float(prior_strength)
        self.edges: np.ndarray | None = None
        self.probabilities: np.ndarray | None = None
        self.counts: np.ndarray | None = None

    def _options(self) -> dict[str, Any]:
        return {
            "n_bins": self.n_bins,
            "strategy": self.strategy,
            "prior_strength": self.prior_strength,
            "min_samples": self.min_samples,
        }

    def _fit(self, c: np.ndarray, y: np.ndarray) -> None:
        edges = bin_edges(c, n_bins=self.n_bins, strategy=self.strategy)
        ids = assign_bins(c, edges)
        counts = np.bincount(ids, minlength=self.n_bins).astype(np.float64)
        wins = np.bincount(ids, weights=y, minlength=self.n_bins)
        base = float(y.mean())
        m = self.prior_strength
        denom = counts + m
        probs = np.where(denom > 0, (wins + m * base) / np.where(denom > 0, denom, 1.0), base)
        self.edges, self.probabilities, self.counts = edges, probs, counts

    def _predict(self, c: np.ndarray) -> np.ndarray:
        return self.probabilities[assign_bins(c, self.edges)]

    def _params(self) -> dict[str, Any]:
        return {"edges": self.edges, "probabilities": self.probabilities, "counts": self.counts}

    def _set_params(self, params: dict[str, Any]) -> None:
        edges = np.asarray(params["edges"], dtype=np.float64)
        probs = np.asarray(params["probabilities"], dtype=np.float64)
        if edges.shape != (self.n_bins + 1,) or probs.shape != (self.n_bins,):
            raise ValueError(f"edges/probabilities do not match n_bins={self.n_bins}")
        self.edges, self.probabilities = edges, probs
        self.counts = np.asarray(params.get("counts", np.zeros(self.n_bins)), dtype=np.float64)


# --------------------------------------------------------------------------- factory

_REGISTRY: dict[str, type[BaseCalibrator]] = {
    cls.method: cls
    for cls in (PlattCalibrator, IsotonicCalibrator, BetaCalibrator, HistogramCalibrator)
}

#: The calibration method names :func:`make_calibrator` accepts.
CALIBRATION_METHODS: tuple[str, ...] = tuple(_REGISTRY)


def _lookup(method: Any) -> type[BaseCalibrator]:
    if method in _REGISTRY:
        return _REGISTRY[method]
    hint = difflib.get_close_matches(str(method), CALIBRATION_METHODS, n=1)
    did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
    raise CalibrationError(
        f"unknown calibration method {method!r}; choose one of "
        f"{', '.join(CALIBRATION_METHODS)}{did_you_mean}"
    )


def make_calibrator(method: str, **options: Any) -> BaseCalibrator:
    """An unfitted calibrator of ``method`` with keyword ``options``.

    Parameters
    ----------
    method : {"platt", "isotonic", "beta", "histogram"}
    **options
        Constructor options of that class (e.g. ``min_samples=50``,
        ``n_bins=20`` for histogram).

    Raises
    ------
    CalibrationError
        Unknown method (with a "did you mean") or option.
    """
    cls = _lookup(method)
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = [k for k in options if k not in allowed]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, allowed, n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise CalibrationError(
            f"{method} calibrator has no option {', '.join(hints)}; options: {', '.join(allowed)}"
        )
    return cls(**options)


def calibrator_from_dict(d: dict[str, Any]) -> BaseCalibrator:
    """Rebuild any fitted calibrator from its ``to_dict()`` (dispatch on ``"method"``)."""
    if not isinstance(d, dict) or "method" not in d:
        raise CalibrationError(
            "a calibrator dict with a 'method' key is needed; pass the output of to_dict()"
        )
    return _lookup(d["method"]).from_dict(d)
