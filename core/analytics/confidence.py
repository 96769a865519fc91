"""Is the confidence score informative? Distribution, correlations and bin tables.

All functions read a trades frame (see :mod:`core.trades`), check it once with
:func:`core.trades.validate_trades` (rows whose score ``key`` is NaN are
dropped) and work on whole columns: per-bin figures are ``bincount`` sums over
a ``searchsorted`` bin index, so deciles of a million trades take well under a
tenth of a second.

Units: ``return_pct`` is percent net of costs (1.5 = +1.5 %); ``win`` is
``return_pct > 0``; Sharpe is per trade, ``mean / std(ddof=1)``, not annualised.

Binning follows :mod:`core.analytics.calibration` (and scikit-learn's
``calibration_curve``): quantile bins have edges at ``np.percentile`` of the
score, uniform bins split [0, 1] evenly; a value on an inner edge falls in the
lower bin. Ties are never split: every trade with the same score lands in the
same bin, so heavy ties make some quantile bins bigger and others empty.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from core.analytics.calibration import assign_bins, bin_edges, json_safe
from core.analytics.stats import bootstrap_ci, fisher_z_interval, wilson_interval, z_value
from core.errors import InsufficientDataError, TradesFrameError
from core.trades import validate_trades

__all__ = [
    "BIN_TABLE_COLUMNS",
    "BOOTSTRAP_MAX_ROWS",
    "BinTable",
    "ConfidenceCorrelations",
    "ConfidenceSummary",
    "Correlation",
    "ExpectedReturnCurve",
    "confidence_correlations",
    "confidence_summary",
    "expected_return_curve",
    "fixed_bin_table",
    "quantile_table",
]

#: With ``bootstrap=None`` the return intervals are bootstrapped up to this many
#: trades and analytic above it (see :func:`quantile_table`).
BOOTSTRAP_MAX_ROWS = 20_000

#: Columns of :attr:`BinTable.table`, in order.
BIN_TABLE_COLUMNS: tuple[str, ...] = (
    "bin",
    "bin_low",
    "bin_high",
    "count",
    "share",
    "conf_min",
    "conf_max",
    "conf_mean",
    "win_rate",
    "win_low",
    "win_high",
    "mean_return",
    "mean_return_low",
    "mean_return_high",
    "median_return",
    "median_return_low",
    "median_return_high",
    "profit_factor",
    "no_losses",
    "sharpe",
)

_SUMMARY_QUANTILES = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)


def _fields_dict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [json_safe(row) for row in frame.to_dict(orient="records")]


def _score(usable: pd.DataFrame, key: str) -> np.ndarray:
    return usable[key].to_numpy(dtype=np.float64)


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class ConfidenceSummary:
    """Distribution of a confidence score over the trades that have one.

    Attributes
    ----------
    key : str
        The score column summarised.
    count : int
        Trades with a score (NaN scores are not counted).
    mean, std : float
        Mean and sample standard deviation (ddof=1; NaN when ``count == 1``).
    min, max : float
    q05, q10, q25, q50, q75, q90, q95 : float
        Quantiles (``np.quantile``, linear interpolation).
    share_zero, share_one : float
        Share of scores exactly 0 and exactly 1.
    """

    key: str
    count: int
    mean: float
    std: float
    min: float
    max: float
    q05: float
    q10: float
    q25: float
    q50: float
    q75: float
    q90: float
    q95: float
    share_zero: float
    share_one: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields (NaN -> None)."""
        return json_safe(_fields_dict(self))


def confidence_summary(trades: pd.DataFrame, *, key: str = "confidence") -> ConfidenceSummary:
    """Count, moments, quantiles and mass at 0 and 1 of a confidence score.

    Parameters
    ----------
    trades : DataFrame
        A trades frame; only the column ``key`` is read.
    key : str, default "confidence"
        Score column, values in [0, 1] or NaN (NaN rows are skipped).

    Returns
    -------
    ConfidenceSummary

    Raises
    ------
    TradesFrameError
        ``key`` is missing or has values outside [0, 1].
    InsufficientDataError
        No trade has a score.
    """
    usable = validate_trades(trades, key=key, min_rows=1, columns=())
    x = _score(usable, key)
    n = x.size
    q = np.quantile(x, _SUMMARY_QUANTILES)
    return ConfidenceSummary(
        key=key,
        count=int(n),
        mean=float(x.mean()),
        std=float(x.std(ddof=1)) if n > 1 else float("nan"),
        min=float(x.min()),
        max=float(x.max()),
        q05=float(q[0]),
        q10=float(q[1]),
        q25=float(q[2]),
        q50=float(q[3]),
        q75=float(q[4]),
        q90=float(q[5]),
        q95=float(q[6]),
        share_zero=float(np.count_nonzero(x == 0.0) / n),
        share_one=float(np.count_nonzero(x == 1.0) / n),
    )


# --------------------------------------------------------------------------- correlations

#: Fieller, Hartley & Pearson (1957) variance factor of atanh(Spearman rho).
SPEARMAN_FISHER_VARIANCE = 1.06


@dataclass(frozen=True)
class Correlation:
    """One correlation of the score with a target.

    Attributes
    ----------
    target : {"return_pct", "win"}
    method : {"pearson", "spearman", "point_biserial"}
    estimate : float
        The coefficient in [-1, 1]; NaN when either variable is constant (see
        ``note``).
    p_value : float
        Two-sided p-value of "no correlation" from ``scipy.stats``.
    ci_low, ci_high : float
        Fisher-z interval at the table's level (see ``ci_method``).
    n : int
    ci_method : str
        ``"fisher_z"`` (variance 1/(n-3)) or ``"fisher_z_fieller"`` (1.06/(n-3)).
    note : str
        Why the values are NaN, else "".
    """

    target: str
    method: str
    estimate: float
    p_value: float
    ci_low: float
    ci_high: float
    n: int
    ci_method: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields."""
        return json_safe(_fields_dict(self))


@dataclass(frozen=True)
class ConfidenceCorrelations:
    """Correlations of a score with ``return_pct`` and with ``win``.

    ``rows`` holds, in order: (return_pct, pearson), (return_pct, spearman),
    (win, point_biserial), (win, spearman).
    """

    key: str
    level: float
    n: int
    rows: tuple[Correlation, ...]

    def get(self, target: str, method: str) -> Correlation:
        """The row for ``target`` and ``method``; KeyError naming the choices if absent."""
        for row in self.rows:
            if row.target == target and row.method == method:
                return row
        choices = ", ".join(f"({r.target}, {r.method})" for r in self.rows)
        raise KeyError(f"no correlation ({target}, {method}); available: {choices}")

    def to_frame(self) -> pd.DataFrame:
        """One row per correlation with the :class:`Correlation` fields as columns."""
        return pd.DataFrame([_fields_dict(r) for r in self.rows])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: key, level, n and ``rows`` as a list of dicts."""
        return {
            "key": self.key,
            "level": float(self.level),
            "n": int(self.n),
            "rows": [r.to_dict() for r in self.rows],
        }


def _spearman_interval(r: float, n: int, level: float) -> tuple[float, float]:
    if n <= 3 or not np.isfinite(r):
        return (float("nan"), float("nan"))
    z = np.arctanh(np.clip(r, -0.999999999999, 0.999999999999))
    half = z_value(level) * np.sqrt(SPEARMAN_FISHER_VARIANCE / (n - 3.0))
    return (float(np.tanh(z - half)), float(np.tanh(z + half)))


def confidence_correlations(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    level: float = 0.95,
) -> ConfidenceCorrelations:
    """Pearson, Spearman and point-biserial correlation of the score with outcomes.

    Against ``return_pct``: Pearson and Spearman. Against ``win``: the
    point-biserial coefficient (which is Pearson's r with a 0/1 variable, so a
    separate Pearson row would repeat it) and Spearman. Point-biserial against
    ``return_pct`` is not defined (the return is not binary).

    P-values are those of ``scipy.stats.pearsonr``, ``spearmanr`` and
    ``pointbiserialr`` (two-sided). Confidence intervals use Fisher's z
    transform: ``atanh(r) +/- z * se`` mapped back with ``tanh``, where
    ``se = sqrt(1 / (n - 3))`` for Pearson and point-biserial, and
    ``se = sqrt(1.06 / (n - 3))`` for Spearman (Fieller, Hartley & Pearson 1957).

    Parameters
    ----------
    trades : DataFrame
        A trades frame with ``key``, ``return_pct`` and ``win``.
    key : str, default "confidence"
    level : float, default 0.95
        Confidence level of the intervals.

    Returns
    -------
    ConfidenceCorrelations
        When the score (or the target) is constant, the rows concerned hold NaN
        with ``note`` saying so.

    Raises
    ------
    TradesFrameError
        Missing columns or invalid values (see ``validate_trades``).
    InsufficientDataError
        Fewer than 4 trades with a score.

    References
    ----------
    R. A. Fisher, Metron 1 (1921) 3-32.
    E. C. Fieller, H. O. Hartley and E. S. Pearson, "Tests for rank correlation
    coefficients. I", Biometrika 44 (1957) 470-481.
    """
    z_value(level)  # validates level
    usable = validate_trades(trades, key=key, min_rows=4)
    x = _score(usable, key)
    ret = usable["return_pct"].to_numpy(dtype=np.float64)
    win = usable["win"].to_numpy().astype(np.float64)
    n = int(x.size)
    rows: list[Correlation] = []
    x_const = bool(np.ptp(x) == 0.0)
    for target, y, methods in (
        ("return_pct", ret, ("pearson", "spearman")),
        ("win", win, ("point_biserial", "spearman")),
    ):
        constant = [name for name, v in ((key, x), (target, y)) if np.ptp(v) == 0.0]
        if x_const or constant:
            note = f"undefined: {' and '.join(constant)} is constant"
            for method in methods:
                ci_method = "fisher_z_fieller" if method == "spearman" else "fisher_z"
                rows.append(Correlation(target, method, *([float("nan")] * 4), n, ci_method, note))
            continue
        for method in methods:
            if method == "spearman":
                res = sps.spearmanr(x, y)
                est = float(res.statistic)
                low, high = _spearman_interval(est, n, level)
                ci_method = "fisher_z_fieller"
            else:
                res = sps.pearsonr(x, y) if method == "pearson" else sps.pointbiserialr(y, x)
                est = float(res.statistic)
                low, high = fisher_z_interval(est, n, level=level)
                ci_method = "fisher_z"
            rows.append(
                Correlation(target, method, est, float(res.pvalue), low, high, n, ci_method)
            )
    return ConfidenceCorrelations(key=key, level=float(level), n=n, rows=tuple(rows))


# --------------------------------------------------------------------------- bin tables


@dataclass(frozen=True, eq=False)
class BinTable:
    """Per-bin trading figures of a confidence score.

    Attributes
    ----------
    key : str
        Score column.
    strategy : {"quantile", "uniform"}
        Equal-mass bins (``quantile_table``) or equal-width bins on [0, 1]
        (``fixed_bin_table``).
    n_bins, n : int
        Bins asked for and trades binned.
    level : float
        Confidence level of every interval.
    interval : {"bootstrap", "analytic"}
        How the mean/median return intervals were computed.
    n_boot, seed : int
        Bootstrap replicates and seed (bin ``b`` uses ``seed + b``).
    edges : ndarray, shape (n_bins + 1,)
    table : DataFrame
        ``n_bins`` rows, columns :data:`BIN_TABLE_COLUMNS`:

        - ``bin`` 0-based; ``bin_low``/``bin_high`` the edges; ``count``, ``share``
          (of ``n``);
        - ``conf_min``, ``conf_max``, ``conf_mean`` of the score in the bin;
        - ``win_rate`` with Wilson ``win_low``/``win_high``;
        - ``mean_return``, ``median_return`` (percent) with ``*_low``/``*_high``;
        - ``profit_factor`` = gains / |losses|; ``inf`` when the bin has no
          losing trade but some gain, NaN when every return in the bin is
          exactly 0; ``no_losses`` flags both cases (a non-empty bin without a
          losing trade);
        - ``sharpe`` = mean / std(ddof=1) per trade, NaN when the bin has fewer
          than 2 trades or a zero standard deviation.

        Empty bins (possible with ties or a narrow score) are kept with
        ``count == 0``, ``share == 0`` and NaN for every other figure, so the
        table always has ``n_bins`` rows; filter with ``table[table["count"] > 0]``.
    """

    key: str
    strategy: str
    n_bins: int
    n: int
    level: float
    interval: str
    n_boot: int
    seed: int
    edges: np.ndarray
    table: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: metadata plus ``rows`` (NaN -> None, inf -> "inf")."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "table"}
        out = json_safe(out)
        out["rows"] = _frame_records(self.table)
        return out


def _check_bins(n_bins: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise TradesFrameError(f"n_bins must be a positive integer, got {n_bins!r}; use 10")


def _median_and_interval(seg: np.ndarray, z: float) -> tuple[float, float, float]:
    """Median and distribution-free order-statistic interval of ``seg``.

    Ranks ``floor(m/2 - z sqrt(m)/2)`` and ``ceil(1 + m/2 + z sqrt(m)/2)`` (1-based;
    normal approximation to the binomial), see Conover (1999), Practical
    Nonparametric Statistics, 3rd ed., sec. 3.2.
    """
    m = seg.size
    half = z * np.sqrt(m) / 2.0
    j = int(min(max(np.floor(m / 2.0 - half), 1), m)) - 1
    k = int(min(max(np.ceil(1.0 + m / 2.0 + half), 1), m)) - 1
    mid_lo, mid_hi = (m - 1) // 2, m // 2
    part = np.partition(seg, sorted({j, k, mid_lo, mid_hi}))
    return (0.5 * (part[mid_lo] + part[mid_hi]), float(part[j]), float(part[k]))


def _bin_table(
    trades: pd.DataFrame,
    *,
    key: str,
    n_bins: int,
    strategy: Literal["quantile", "uniform"],
    level: float,
    bootstrap: bool | None,
    n_boot: int,
    seed: int,
) -> BinTable:
    _check_bins(n_bins)
    z = z_value(level)
    usable = validate_trades(trades, key=key, min_rows=1)
    x = _score(usable, key)
    r = usable["return_pct"].to_numpy(dtype=np.float64)
    w = usable["win"].to_numpy().astype(np.float64)
    n = x.size
    use_boot = n <= BOOTSTRAP_MAX_ROWS if bootstrap is None else bool(bootstrap)

    edges = bin_edges(x, n_bins=n_bins, strategy=strategy)
    ids = assign_bins(x, edges)
    count = np.bincount(ids, minlength=n_bins)
    nz = count > 0
    m = np.where(nz, count, 1).astype(np.float64)
    nan = np.full(n_bins, np.nan)

    def per_bin(values: np.ndarray) -> np.ndarray:
        return np.bincount(ids, weights=values, minlength=n_bins)

    # Contiguous segments per bin: a stable radix sort of the small-int bin ids.
    order = np.argsort(ids.astype(np.uint16) if n_bins <= 65535 else ids, kind="stable")
    starts = np.concatenate(([0], np.cumsum(count)[:-1]))
    xs, rs = x[order], r[order]
    conf_min, conf_max = nan.copy(), nan.copy()
    conf_min[nz] = np.minimum.reduceat(xs, starts[nz])
    conf_max[nz] = np.maximum.reduceat(xs, starts[nz])
    conf_mean = np.where(nz, per_bin(x) / m, np.nan)

    wins = per_bin(w)
    win_rate = np.where(nz, wins / m, np.nan)
    win_low, win_high = wilson_interval(wins, count, level=level)

    mean_r = np.where(nz, per_bin(r) / m, np.nan)
    dev = r - np.where(nz, mean_r, 0.0)[ids]
    ss = per_bin(dev * dev)
    std = np.where(count > 1, np.sqrt(ss / np.maximum(count - 1, 1)), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(std > 0, mean_r / std, np.nan)
    gains = per_bin(np.maximum(r, 0.0))
    losses = -per_bin(np.minimum(r, 0.0))
    no_losses = nz & (losses == 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pf = np.where(losses > 0, gains / np.where(losses > 0, losses, 1.0), np.nan)
    pf = np.where(no_losses & (gains > 0), np.inf, pf)

    med, med_lo, med_hi = nan.copy(), nan.copy(), nan.copy()
    mean_lo, mean_hi = nan.copy(), nan.copy()
    if not use_boot:
        se = np.where(count > 1, std / np.sqrt(m), 0.0)
        mean_lo = np.where(nz, mean_r - z * se, np.nan)
        mean_hi = np.where(nz, mean_r + z * se, np.nan)
    for b in np.flatnonzero(nz):  # one iteration per bin, vectorised within
        seg = rs[starts[b] : starts[b] + count[b]]
        if use_boot:
            med[b] = float(np.median(seg))
            mean_lo[b], mean_hi[b] = bootstrap_ci(
                seg, "mean", n_boot=n_boot, level=level, seed=seed + int(b)
            )
            med_lo[b], med_hi[b] = bootstrap_ci(
                seg, "median", n_boot=n_boot, level=level, seed=seed + int(b)
            )
        else:
            med[b], med_lo[b], med_hi[b] = _median_and_interval(seg, z)

    table = pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "bin_low": edges[:-1],
            "bin_high": edges[1:],
            "count": count.astype(np.int64),
            "share": count / n,
            "conf_min": conf_min,
            "conf_max": conf_max,
            "conf_mean": conf_mean,
            "win_rate": win_rate,
            "win_low": np.where(nz, win_low, np.nan),
            "win_high": np.where(nz, win_high, np.nan),
            "mean_return": mean_r,
            "mean_return_low": mean_lo,
            "mean_return_high": mean_hi,
            "median_return": med,
            "median_return_low": med_lo,
            "median_return_high": med_hi,
            "profit_factor": pf,
            "no_losses": no_losses,
            "sharpe": sharpe,
        },
        columns=list(BIN_TABLE_COLUMNS),
    )
    edges = np.asarray(edges)
    edges.setflags(write=False)
    return BinTable(
        key=key,
        strategy=strategy,
        n_bins=int(n_bins),
        n=int(n),
        level=float(level),
        interval="bootstrap" if use_boot else "analytic",
        n_boot=int(n_boot),
        seed=int(seed),
        edges=edges,
        table=table,
    )


_TABLE_DOC_PARAMS = """
    Parameters
    ----------
    trades : DataFrame
        A trades frame with ``key``, ``return_pct`` (percent, net of costs) and
        ``win``; rows with a NaN score are skipped.
    key : str, default "confidence"
        Score column (``"confidence"`` or ``"calibrated_probability"``).
    n_bins : int, default 10
        Number of bins.
    level : float, default 0.95
        Confidence level of every interval.
    bootstrap : bool or None, default None
        Intervals of the mean and median return: ``True`` a percentile bootstrap
        per bin (:func:`core.analytics.stats.bootstrap_ci`, ``n_boot`` replicates,
        bin ``b`` seeded with ``seed + b``); ``False`` analytic intervals
        (normal ``mean +/- z * std / sqrt(count)`` and the distribution-free
        order-statistic interval of the median, Conover 1999); ``None`` bootstrap
        up to :data:`BOOTSTRAP_MAX_ROWS` trades and analytic above, which keeps a
        million trades under a tenth of a second. ``BinTable.interval`` records
        which was used.
    n_boot : int, default 1000
    seed : int, default 0

    Returns
    -------
    BinTable
        ``n_bins`` rows (empty bins kept with count 0 and NaN figures).

    Raises
    ------
    TradesFrameError
        A column is missing or holds invalid values; ``n_bins`` is not positive.
    InsufficientDataError
        No trade has a score.

    References
    ----------
    E. B. Wilson, JASA 22 (1927) 209-212 (win-rate interval).
    W. J. Conover, Practical Nonparametric Statistics, 3rd ed., Wiley (1999).
"""


def quantile_table(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    n_bins: int = 10,
    level: float = 0.95,
    bootstrap: bool | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> BinTable:
    """Trading figures per quantile bin of the score (deciles by default).

    Bin edges are the ``np.percentile`` of the score at ``0, 100/n_bins, ..., 100``;
    a trade on an inner edge goes to the lower bin; equal scores always share a
    bin (deterministic; with heavy ties some bins hold more trades and some
    none).
    """
    return _bin_table(
        trades,
        key=key,
        n_bins=n_bins,
        strategy="quantile",
        level=level,
        bootstrap=bootstrap,
        n_boot=n_boot,
        seed=seed,
    )


def fixed_bin_table(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    n_bins: int = 10,
    level: float = 0.95,
    bootstrap: bool | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> BinTable:
    """Trading figures per equal-width bin of the score on [0, 1].

    Bins are ``[0, 1/k], (1/k, 2/k], ..., ((k-1)/k, 1]`` for ``k = n_bins``.
    """
    return _bin_table(
        trades,
        key=key,
        n_bins=n_bins,
        strategy="uniform",
        level=level,
        bootstrap=bootstrap,
        n_boot=n_boot,
        seed=seed,
    )


quantile_table.__doc__ = (quantile_table.__doc__ or "") + _TABLE_DOC_PARAMS
fixed_bin_table.__doc__ = (fixed_bin_table.__doc__ or "") + _TABLE_DOC_PARAMS


# --------------------------------------------------------------------------- expected return


@dataclass(frozen=True, eq=False)
class ExpectedReturnCurve:
    """Mean return given confidence: calibration in trading units.

    Arrays have one entry per *non-empty* bin, in increasing confidence.

    Attributes
    ----------
    key, strategy, level, interval
        As in :class:`BinTable`.
    n : int
        Trades binned.
    overall_mean_return : float
        Mean ``return_pct`` of all binned trades (percent): the flat line an
        uninformative score would give.
    bin : ndarray of int
        Bin index in the underlying :class:`BinTable`.
    count : ndarray of int
    conf_mean : ndarray
        Mean score in the bin (x axis).
    mean_return, mean_return_low, mean_return_high : ndarray
        Mean ``return_pct`` in the bin and its interval (percent).
    win_rate : ndarray
        For reference next to the return.
    """

    key: str
    strategy: str
    level: float
    interval: str
    n: int
    overall_mean_return: float
    bin: np.ndarray
    count: np.ndarray
    conf_mean: np.ndarray
    mean_return: np.ndarray
    mean_return_low: np.ndarray
    mean_return_high: np.ndarray
    win_rate: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """One row per non-empty bin."""
        return pd.DataFrame(
            {
                name: getattr(self, name)
                for name in (
                    "bin",
                    "count",
                    "conf_mean",
                    "mean_return",
                    "mean_return_low",
                    "mean_return_high",
                    "win_rate",
                )
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields (arrays as lists)."""
        return json_safe(_fields_dict(self))


def expected_return_curve(
    trades: pd.DataFrame,
    *,
    key: str = "confidence",
    n_bins: int = 10,
    strategy: Literal["quantile", "uniform"] = "quantile",
    level: float = 0.95,
    bootstrap: bool | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> ExpectedReturnCurve:
    """Mean ``return_pct`` per confidence bin with its interval.

    The trading counterpart of a reliability curve: if the score is
    informative, the mean return rises with it. The figures are the
    ``conf_mean``, ``mean_return`` and ``mean_return_low/high`` columns of
    :func:`quantile_table` (``strategy="quantile"``) or :func:`fixed_bin_table`
    (``"uniform"``), restricted to non-empty bins; see those for the arguments
    and how the interval is computed.

    Returns
    -------
    ExpectedReturnCurve
    """
    if strategy not in ("quantile", "uniform"):
        raise TradesFrameError(
            f"strategy must be 'quantile' or 'uniform', got {strategy!r}; use 'quantile'"
        )
    bt = _bin_table(
        trades,
        key=key,
        n_bins=n_bins,
        strategy=strategy,
        level=level,
        bootstrap=bootstrap,
        n_boot=n_boot,
        seed=seed,
    )
    t = bt.table[bt.table["count"] > 0]
    if t.empty:  # pragma: no cover - validate_trades guarantees a row
        raise InsufficientDataError(f"no trade has a {key!r} value")
    total = float((t["mean_return"] * t["count"]).sum() / t["count"].sum())

    def col(name: str, dtype: Any = np.float64) -> np.ndarray:
        a = t[name].to_numpy(dtype=dtype)
        a.setflags(write=False)
        return a

    return ExpectedReturnCurve(
        key=key,
        strategy=strategy,
        level=bt.level,
        interval=bt.interval,
        n=bt.n,
        overall_mean_return=total,
        bin=col("bin", np.int64),
        count=col("count", np.int64),
        conf_mean=col("conf_mean"),
        mean_return=col("mean_return"),
        mean_return_low=col("mean_return_low"),
        mean_return_high=col("mean_return_high"),
        win_rate=col("win_rate"),
    )
