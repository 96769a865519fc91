"""The risk engine: confidence threshold, position sizing, concurrency limit.

Two steps, because the concurrency limit depends on when trades *exit*:

1. :meth:`RiskEngine.assess` (before execution, vectorised over the whole
   signal frame) adds the score of the chosen confidence key, whether it
   passes the threshold, and the position size.
2. :meth:`RiskEngine.admit` (after execution) walks the candidate trades in
   time order and skips a trade when ``max_positions`` are already open: a
   sweep with a heap of exit bars, ``O(n log k)`` for ``n`` trades and ``k =
   max_positions``; no loop over bars.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import ConfigError, ValidationError
from core.trades import CONFIDENCE_KEYS

__all__ = ["SIZING_METHODS", "RiskEngine"]

#: Position-sizing rules :class:`RiskEngine` knows.
SIZING_METHODS: tuple[str, ...] = ("fixed", "volatility")


def _check_number(name: str, value: object, low: float, high: float, *, open_low: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"RiskEngine.{name}={value!r} must be a number")
    x = float(value)
    ok = math.isfinite(x) and (x > low if open_low else x >= low) and x <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise ConfigError(
            f"RiskEngine.{name}={value!r} is out of range; use {bracket}{low}, {high}]"
        )


@dataclass(frozen=True)
class RiskEngine:
    """Which signals a book trades, and how large.

    Parameters
    ----------
    threshold : float, default 0.6
        Minimum score (inclusive) of the *filtered* book, in [0, 1]. A NaN
        score (an uncalibrated signal under ``calibrated_probability``) never
        passes.
    confidence_key : {"confidence", "calibrated_probability"}, default "confidence"
        Signal column the threshold is applied to.
    max_positions : int or None, default 10
        Most positions a book holds at once; a signal arriving when the book
        is full is skipped (first come, first served; signals of the same bar
        in the signal frame's order, i.e. by symbol, so confidence does not
        decide ties in the baseline). None: no limit.
    sizing : {"fixed", "volatility"}, default "fixed"
        ``fixed``: every trade gets ``position_fraction`` of equity.
        ``volatility``: ``position_fraction * min(target_volatility /
        market_volatility, max_scale)``, so calmer symbols get larger
        positions (a NaN volatility falls back to the fixed size; zero
        volatility gets the cap).
    position_fraction : float, default 0.1
        Fraction of equity per trade, in (0, 1]. With ``max_positions=10`` the
        book is never more than fully invested under fixed sizing.
    target_volatility : float, default 0.15
        Annualised volatility (a fraction) a volatility-sized position aims at.
    max_scale : float, default 2.0
        Cap of the volatility scaling factor.

    Raises
    ------
    ConfigError
        A setting is out of range (the message names it and the range).
    """

    threshold: float = 0.6
    confidence_key: str = "confidence"
    max_positions: int | None = 10
    sizing: str = "fixed"
    position_fraction: float = 0.1
    target_volatility: float = 0.15
    max_scale: float = 2.0

    def __post_init__(self) -> None:
        _check_number("threshold", self.threshold, 0.0, 1.0, open_low=False)
        if self.confidence_key not in CONFIDENCE_KEYS:
            raise ConfigError(
                f"RiskEngine.confidence_key={self.confidence_key!r} is not a confidence key; "
                f"use one of {CONFIDENCE_KEYS}"
            )
        if self.max_positions is not None and (
            isinstance(self.max_positions, bool)
            or not isinstance(self.max_positions, int | np.integer)
            or self.max_positions < 1
        ):
            raise ConfigError(
                f"RiskEngine.max_positions={self.max_positions!r} must be a whole number >= 1 "
                "or None (no limit)"
            )
        if self.sizing not in SIZING_METHODS:
            raise ConfigError(
                f"RiskEngine.sizing={self.sizing!r} is not known; use one of {SIZING_METHODS}"
            )
        _check_number("position_fraction", self.position_fraction, 0.0, 1.0, open_low=True)
        _check_number("target_volatility", self.target_volatility, 0.0, 5.0, open_low=True)
        _check_number("max_scale", self.max_scale, 0.0, 100.0, open_low=True)

    # ------------------------------------------------------------------ assess

    def assess(self, signals: pd.DataFrame) -> pd.DataFrame:
        """Score, threshold and size every signal.

        Parameters
        ----------
        signals : DataFrame, shape (n_signals, ...)
            Entry signals with the column ``confidence_key`` (and
            ``market_volatility`` for volatility sizing). Not mutated.

        Returns
        -------
        DataFrame, shape (n_signals, ...)
            A copy with three columns added: ``score`` (float64, the value of
            ``confidence_key``), ``passes_threshold`` (bool, ``score >=
            threshold``) and ``position_size`` (float64, fraction of equity).

        Raises
        ------
        ConfigError
            ``confidence_key`` is not a column of ``signals``.
        ValidationError
            Volatility sizing without a ``market_volatility`` column.
        """
        key = self.confidence_key
        if key not in signals.columns:
            raise ConfigError(
                f"confidence_key={key!r} but the signal engine produced no {key!r} column "
                f"(columns: {', '.join(map(str, signals.columns))}); use "
                "confidence_key='confidence' or a signal engine that calibrates its scores"
            )
        out = signals.copy()
        score = out[key].to_numpy(dtype=np.float64, na_value=np.nan)
        out["score"] = score
        with np.errstate(invalid="ignore"):
            out["passes_threshold"] = score >= self.threshold
        out["position_size"] = self.position_sizes(out)
        return out

    def position_sizes(self, signals: pd.DataFrame) -> np.ndarray:
        """Fraction of equity for each signal, shape (n_signals,)."""
        n = len(signals)
        if self.sizing == "fixed":
            return np.full(n, float(self.position_fraction))
        if "market_volatility" not in signals.columns:
            raise ValidationError(
                "sizing='volatility' needs a market_volatility column (annualised, a fraction) "
                "in the signals; use sizing='fixed' with this signal engine"
            )
        vol = signals["market_volatility"].to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.minimum(self.target_volatility / vol, self.max_scale)
        scale = np.where(np.isnan(scale), 1.0, scale)
        return self.position_fraction * scale

    # ------------------------------------------------------------------- admit

    def admit(
        self, entry_bar: np.ndarray, release_bar: np.ndarray, candidates: np.ndarray
    ) -> np.ndarray:
        """Apply the concurrency limit in time order.

        Parameters
        ----------
        entry_bar : ndarray of int, shape (n_trades,)
            Bar of each trade's entry fill, non-decreasing (trades in time order).
        release_bar : ndarray of int, shape (n_trades,)
            First bar at whose open the trade's slot is free again: the exit
            bar for an exit at the open, the bar after for an intraday exit.
        candidates : ndarray of bool, shape (n_trades,)
            Trades the book would like to take (all, or those passing the threshold).

        Returns
        -------
        ndarray of bool, shape (n_trades,)
            Trades taken: candidates for which a slot was free at entry.
        """
        entry = np.asarray(entry_bar, dtype=np.int64)
        release = np.asarray(release_bar, dtype=np.int64)
        wanted = np.asarray(candidates, dtype=bool)
        if not (entry.shape == release.shape == wanted.shape):
            raise ValidationError(
                f"entry_bar {entry.shape}, release_bar {release.shape} and candidates "
                f"{wanted.shape} must have one value per trade"
            )
        if entry.size > 1 and np.any(np.diff(entry) < 0):
            raise ValidationError("entry_bar must be in time order; sort the trades by entry first")
        if self.max_positions is None:
            return wanted.copy()
        limit = int(self.max_positions)
        taken = np.zeros(entry.size, dtype=bool)
        index = np.flatnonzero(wanted)
        if (release[index] > entry[index]).all():
            took = _admit_by_bar(entry[index], release[index], limit)
        else:
            took = _admit_one_by_one(entry[index], release[index], limit)
        taken[index[np.asarray(took, dtype=np.int64)]] = True
        return taken


def _admit_one_by_one(entry: np.ndarray, release: np.ndarray, limit: int) -> list[int]:
    """Positions of the trades taken, in order: a heap of the open trades' release bars."""
    heap: list[int] = []
    took: list[int] = []
    push, pop, keep = heapq.heappush, heapq.heappop, took.append
    for j, (e, r) in enumerate(zip(entry.tolist(), release.tolist(), strict=True)):
        while heap and heap[0] <= e:
            pop(heap)
        if len(heap) < limit:
            push(heap, r)
            keep(j)
    return took


def _admit_by_bar(entry: np.ndarray, release: np.ndarray, limit: int) -> list[int]:
    """:func:`_admit_one_by_one` when every trade releases after its entry bar.

    No trade taken at bar ``e`` frees its slot at ``e``, so a bar's candidates
    see the same open book: the first ``limit - open`` of them are taken. One
    step per entry bar instead of one per candidate.
    """
    if entry.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, entry[1:] != entry[:-1]]).tolist()
    ends = [*starts[1:], entry.size]
    bars = entry[starts].tolist()
    releases = release.tolist()
    heap: list[int] = []
    took: list[int] = []
    push, pop = heapq.heappush, heapq.heappop
    for e, first, stop in zip(bars, starts, ends, strict=True):
        while heap and heap[0] <= e:
            pop(heap)
        for j in range(first, min(stop, first + limit - len(heap))):
            push(heap, releases[j])
            took.append(j)
    return took
