"""The Thresholds page's slider, the hot path: a book's arrays, the book a threshold keeps.

:func:`book_arrays` turns a trades frame into NumPy arrays once (the page
caches them), and :func:`filtered_book` answers any threshold with a few
vectorised passes over them (no Python loop over trades); :func:`equity_figure`
draws the answer.

On a slider move the figure is not rebuilt: :func:`equity_template` draws it
once per book with :func:`core.figures.equity_curves` (the one place its look is
defined) and keeps it as a plain dict whose dates are ISO strings, and
:func:`light_equity_figure` swaps in the kept trades' curve and label. Building
and validating a plotly figure of 2,000 dates took 80-100 ms, and serialising
its ``Timestamp`` objects another 60-80 ms; the light path takes about 5 ms.
"""

from __future__ import annotations

import base64
import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core import figures
from core.dashboard._common import Mode
from core.dashboard.labels import KEY_LABELS
from core.dashboard.runs import book_stats
from core.errors import ValidationError
from core.figures._style import thin
from core.trades import validate_trades

__all__ = [
    "BookArrays",
    "EquityTemplate",
    "FilteredBook",
    "book_arrays",
    "equity_figure",
    "equity_template",
    "filtered_book",
    "kept_trace_update",
    "light_equity_figure",
    "light_equity_spec",
]


@dataclass(frozen=True, eq=False)
class BookArrays:
    """A trades frame reduced to what a threshold needs.

    Built once per (run, key) by :func:`book_arrays`; every array has shape
    ``(n,)`` and row ``i`` is the ``i``-th trade to be realised (by exit time,
    entry time when the exit is unknown).

    Attributes
    ----------
    key : str
    time_ns : ndarray of int64
        When the trade's P&L is realised, nanoseconds since the epoch, UTC.
    score : ndarray of float64
        The confidence key, in [0, 1].
    returns : ndarray of float64
        ``return_pct``.
    entry_order : ndarray of int64
        Position of the trade in entry-time order (ties kept in the frame's order).
    baseline : dict
        :func:`book_stats` of every trade.
    baseline_equity : ndarray of float64
        Running sum of ``returns``.
    n_dropped : int
        Trades without a ``key`` value (left out).
    """

    key: str
    time_ns: np.ndarray
    score: np.ndarray
    returns: np.ndarray
    entry_order: np.ndarray
    baseline: dict[str, float]
    baseline_equity: np.ndarray
    n_dropped: int

    @property
    def n(self) -> int:
        return int(self.score.size)

    @functools.cached_property
    def rank(self) -> np.ndarray:
        """Position in "descending score, earlier entry first" order (0 = best).

        Percentile mode keeps ``rank < k``, the rule of the sweep. Sorted on first
        use (0.2 s per million trades), so that a page in score mode never pays it.
        """
        descending = np.lexsort((self.entry_order, -self.score))
        rank = np.empty(self.n, dtype=np.int64)
        rank[descending] = np.arange(self.n)
        rank.setflags(write=False)
        return rank


def book_arrays(trades: pd.DataFrame, *, key: str = "confidence") -> BookArrays:
    """Prepare a trades frame for fast threshold changes (see :func:`filtered_book`).

    Parameters
    ----------
    trades : DataFrame
        A trades frame (:mod:`core.trades`), sorted by entry time as the store
        returns it; rows with a NaN ``key`` are left out.
    key : str, default "confidence"

    Raises
    ------
    TradesFrameError, InsufficientDataError
        From :func:`core.trades.validate_trades`.
    """
    usable = validate_trades(trades, key=key, min_rows=1)
    score = usable[key].to_numpy(dtype=np.float64)
    returns = usable["return_pct"].to_numpy(dtype=np.float64)
    entry = usable["entry_time"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    if "exit_time" in usable:
        exit_ns = usable["exit_time"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        when = np.where(exit_ns == np.iinfo(np.int64).min, entry, exit_ns)
    else:
        when = entry
    n = score.size
    entry_order = np.argsort(np.argsort(entry, kind="stable"), kind="stable")
    order = np.argsort(when, kind="stable")
    time_ns, score, returns = when[order], score[order], returns[order]
    entry_order = entry_order[order]
    baseline_equity = np.cumsum(returns)
    for a in (time_ns, score, returns, entry_order, baseline_equity):
        a.setflags(write=False)
    return BookArrays(
        key=key,
        time_ns=time_ns,
        score=score,
        returns=returns,
        entry_order=entry_order,
        baseline=book_stats(returns),
        baseline_equity=baseline_equity,
        n_dropped=int(len(trades) - n),
    )


def _keep_mask(book: BookArrays, threshold: float, mode: str) -> np.ndarray:
    """Which trades of ``book`` a threshold keeps (the rule of the sweep)."""
    if mode == "absolute":
        if not 0.0 <= threshold <= 1.0:
            raise ValidationError(
                f"threshold must lie in [0, 1] in absolute mode, got {threshold!r}"
            )
        return book.score >= threshold
    if mode == "percentile":
        if not 0.0 < threshold <= 100.0:
            raise ValidationError(
                f"threshold must be a percentage in (0, 100] in percentile mode, got {threshold!r}"
            )
        k = int(min(max(math.ceil(round(threshold * book.n / 100.0, 9)), 0), book.n))
        return book.rank < k
    raise ValidationError(f"mode must be 'absolute' or 'percentile', got {mode!r}")


@dataclass(frozen=True)
class FilteredBook:
    """The book a threshold keeps, against every trade.

    Attributes
    ----------
    threshold : float
        Score (absolute mode) or percentage of trades kept (percentile mode).
    mode : {"absolute", "percentile"}
    key : str
    score_cutoff : float
        Lowest score kept (NaN when nothing is kept).
    metrics : DataFrame
        Index metric names (:func:`book_stats`), columns ``baseline``,
        ``filtered``, ``improvement``.
    equity : DataFrame
        Index ``time`` (UTC, at most ``max_points`` rows, evenly thinned);
        columns ``baseline`` and ``filtered``: running sums of ``return_pct``
        (percent of one position) of every trade and of the trades kept.
    """

    threshold: float
    mode: str
    key: str
    score_cutoff: float
    metrics: pd.DataFrame
    equity: pd.DataFrame

    def value(self, metric: str, column: str = "filtered") -> float:
        """One figure of the table, e.g. ``book.value("sharpe_per_trade")``."""
        return float(self.metrics.loc[metric, column])


def filtered_book(
    book: BookArrays | pd.DataFrame,
    *,
    threshold: float,
    key: str = "confidence",
    mode: Mode = "absolute",
    max_points: int = 2000,
) -> FilteredBook:
    """Metrics and equity of the trades a threshold keeps (the slider's answer).

    Parameters
    ----------
    book : BookArrays or DataFrame
        Prepared arrays (:func:`book_arrays`, fast) or a trades frame (prepared
        here with ``key``).
    threshold : float
        Absolute mode: keep ``score >= threshold`` (in [0, 1]). Percentile mode:
        keep the top ``ceil(threshold * n / 100)`` trades by score, ties broken
        by entry time (the rule of :func:`core.analytics.sweep.threshold_sweep`).
    key : str, default "confidence"
        Used only when ``book`` is a DataFrame.
    mode : {"absolute", "percentile"}, default "absolute"
    max_points : int, default 2000
        Rows of the equity frame.

    Returns
    -------
    FilteredBook

    Notes
    -----
    A handful of O(n) vectorised passes (a comparison, a compress, a
    ``where`` and a cumulative sum) and one :func:`core.metrics.performance_metrics`
    of the kept returns; about 50 ms per million trades.
    """
    if isinstance(book, pd.DataFrame):
        book = book_arrays(book, key=key)
    t = float(threshold)
    keep = _keep_mask(book, t, mode)
    kept = book.returns[keep]
    filtered = book_stats(kept, n_total=book.n)
    cutoff = float(book.score[keep].min()) if kept.size else math.nan
    metrics = pd.DataFrame({"baseline": book.baseline, "filtered": filtered})
    metrics["improvement"] = metrics["filtered"] - metrics["baseline"]
    idx = thin(book.n, max_points)
    filtered_equity = np.cumsum(np.where(keep, book.returns, 0.0))
    equity = pd.DataFrame(
        {"baseline": book.baseline_equity[idx], "filtered": filtered_equity[idx]},
        index=pd.DatetimeIndex(book.time_ns[idx].view("datetime64[ns]"), name="time").tz_localize(
            "UTC"
        ),
    )
    return FilteredBook(
        threshold=t, mode=mode, key=book.key, score_cutoff=cutoff, metrics=metrics, equity=equity
    )


#: The equity chart's margins (px): the y axis title on the left, the x axis title and
#: the one-row legend below.
_EQUITY_MARGIN = {"l": 80, "r": 30, "t": 60, "b": 110, "autoexpand": False}


def _kept_label(book: FilteredBook) -> str:
    """Legend name of the kept trades' curve."""
    name = KEY_LABELS.get(book.key, book.key).lower()
    if book.mode == "absolute":
        return f"Kept: {name} ≥ {book.threshold:.2f}"
    return f"Kept: top {book.threshold:g} % by {name}"


def equity_figure(book: FilteredBook, *, title: str | None = None) -> go.Figure:
    """Summed-return equity of every trade and of the kept trades (core.figures).

    Fixed margins without automargin: plotly then lays the chart out in one pass
    (with automargin it drew it, measured the tick labels and drew it again), which
    matters because the slider redraws this chart on every move.
    """
    fig = figures.equity_curves(
        book.equity,
        kind="summed_pct",
        labels={"baseline": "All trades", "filtered": _kept_label(book)},
        title=title or "Equity: all trades against the trades kept",
    )
    fig.update_layout(margin=dict(_EQUITY_MARGIN))
    fig.update_xaxes(automargin=False)
    fig.update_yaxes(automargin=False)
    return fig


@dataclass(frozen=True, eq=False)
class EquityTemplate:
    """:func:`equity_figure` of one book as a plain dict, ready for new kept trades.

    Attributes
    ----------
    spec : dict
        The figure (``data``, ``layout``) as plotly JSON types; every trace's
        ``x`` is an array of ISO-8601 strings (UTC). Never mutated.
    trace : int
        Position of the kept trades' trace in ``spec["data"]``.
    label : str
        That trace's legend name in ``spec`` (replaced in its name and hover text).
    times : ndarray of datetime64[ns]
        The dates drawn (the thinned rows of :class:`FilteredBook` ``equity``).
    """

    spec: dict[str, Any]
    trace: int
    label: str
    times: np.ndarray


def equity_template(book: FilteredBook, *, title: str | None = None) -> EquityTemplate:
    """Draw :func:`equity_figure` once, for :func:`light_equity_figure` to reuse.

    Parameters
    ----------
    book : FilteredBook
        Any threshold's answer of the book (only its dates and styling are kept).
    title : str, optional
    """
    fig = equity_figure(book, title=title)
    spec = fig.to_plotly_json()
    times = book.equity.index.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[ns]")
    # The strings plotly writes for UTC Timestamps, made once instead of on every move.
    iso = np.char.add(np.datetime_as_string(times, unit="s"), "+00:00")
    data = [{**trace, "x": iso} for trace in spec["data"]]
    label = _kept_label(book)
    trace = next(i for i, t in enumerate(data) if t.get("name") == label)
    return EquityTemplate(
        spec={"data": data, "layout": spec["layout"]}, trace=trace, label=label, times=times
    )


def light_equity_figure(template: EquityTemplate, book: FilteredBook) -> go.Figure:
    """:func:`light_equity_spec` as a figure (built with ``_validate=False``)."""
    return go.Figure(light_equity_spec(template, book), _validate=False)


def _typed_array(values: np.ndarray) -> dict[str, str]:
    """A float64 array as plotly.js's typed-array spec (what a figure's JSON holds)."""
    data = np.ascontiguousarray(values, dtype="<f8")
    return {"dtype": "f8", "bdata": base64.b64encode(data.tobytes()).decode("ascii")}


def light_equity_spec(template: EquityTemplate, book: FilteredBook) -> dict[str, Any]:
    """:func:`equity_figure` of ``book`` from a template, as plotly JSON types.

    Parameters
    ----------
    template : EquityTemplate
        From :func:`equity_template` of a book with the same dates.
    book : FilteredBook

    Returns
    -------
    dict
        ``data`` and ``layout``, sharing the template's unchanged parts (do not
        mutate): serialised by ``plotly.io.to_json``, the same JSON as
        :func:`equity_figure` (dates as ISO strings instead of ``Timestamp``),
        without a figure object (whose construction deep-copies the dict).

    Raises
    ------
    ValidationError
        ``book`` has other dates than the template (another run or ``max_points``).
    """
    update = kept_trace_update(template, book)
    old = template.spec["data"][template.trace]
    kept = {
        **old,
        "y": update["y"],
        "customdata": update["y"],
        "name": update["name"],
        "hovertemplate": update["hovertemplate"],
    }
    data = list(template.spec["data"])
    data[template.trace] = kept
    return {"data": data, "layout": template.spec["layout"]}


def kept_trace_update(template: EquityTemplate, book: FilteredBook) -> dict[str, Any]:
    """What a threshold changes in the equity chart: the kept trades' trace.

    The rest of :func:`light_equity_spec` (the dates, every trade's curve, the
    layout) is the template's; a chart already drawn from it takes this as a
    restyle of one trace.

    Parameters
    ----------
    template : EquityTemplate
    book : FilteredBook
        With the template's dates.

    Returns
    -------
    dict
        ``trace`` (position in the figure's ``data``), ``y`` (the kept trades'
        summed return at each date, percent, as a typed-array spec; the trace's
        ``customdata`` is the same array), ``name`` and ``hovertemplate``.

    Raises
    ------
    ValidationError
        ``book`` has other dates than the template.
    """
    index = book.equity.index
    if len(index) != template.times.size or (
        index.size and index.tz_convert("UTC").tz_localize(None)[-1] != template.times[-1]
    ):
        raise ValidationError(
            "the equity template was drawn for other dates; build it with equity_template(book) "
            "for this run"
        )
    label = _kept_label(book)
    old = template.spec["data"][template.trace]
    return {
        "trace": template.trace,
        "y": _typed_array(book.equity["filtered"].to_numpy(dtype=np.float64)),
        "name": label,
        "hovertemplate": str(old.get("hovertemplate", "")).replace(template.label, label),
    }
