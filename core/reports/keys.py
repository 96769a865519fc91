"""The score a page, a command or a report reads: which mapping made it, chosen by the user.

Every figure computed on a probability depends on how that probability was
made. The user picks one *mapping* (:data:`KEY_CHOICES`):

- ``"raw"``: the model's raw confidence;
- a calibrator (``"platt"``, ``"isotonic"``, ``"beta"``, ``"histogram"``) fitted
  walk-forward (each window scored by a calibrator fitted on earlier trades);
- ``"production"``: the signal's production calibrator in the model registry
  (by convention the model named after the signal) applied out of sample, to
  the trades that entered after its training window only.

:func:`map_key` returns the trades with the score column filled
(``confidence`` for raw, ``calibrated_probability`` otherwise) and the
:class:`~core.analytics.keymap.KeyMapping` that names it, so the dashboard, the
CLI and the report can say which numbers they show. The old key names stay
accepted (:data:`KEY_ALIASES`): ``confidence`` is raw, and
``calibrated_probability`` is the run's recorded calibrated probability when it
has one, else isotonic walk-forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.analytics.keymap import KeyMapping, calibrate_key
from core.errors import ConfigError, ModelNotFoundError
from core.lifecycle.registry import ModelRegistry
from core.store import Store
from core.store.db import RunInfo
from core.store.registry import ModelVersion

__all__ = [
    "KEY_ALIASES",
    "KEY_CHOICES",
    "MappedTrades",
    "choice_label",
    "map_key",
    "mapping_token",
    "normalize_choice",
    "production_version",
]

#: Mappings a user can choose, in the order the sidebar and ``--key`` list them.
KEY_CHOICES: tuple[str, ...] = ("raw", "platt", "isotonic", "beta", "histogram", "production")

#: Old key names still accepted: the score column names.
KEY_ALIASES: dict[str, str] = {"confidence": "raw", "calibrated_probability": "isotonic"}

#: Walk-forward windows of the calibrator mappings (named in their label).
N_WINDOWS = 12


@dataclass(frozen=True, eq=False)
class MappedTrades:
    """A run's trades with the chosen score, and how it was made.

    Attributes
    ----------
    trades : DataFrame
        The trades; ``column`` holds the score (NaN where it could not be made).
    column : str
        ``"confidence"`` (raw) or ``"calibrated_probability"``.
    choice : str
        The mapping asked for (one of :data:`KEY_CHOICES`, or an alias).
    mapping : KeyMapping
        The mapping in words (:attr:`KeyMapping.label`).
    """

    trades: pd.DataFrame = field(repr=False)
    column: str
    choice: str
    mapping: KeyMapping

    @property
    def label(self) -> str:
        """The mapping's label, e.g. ``"platt, walk-forward, 12 windows"``."""
        return self.mapping.label


def normalize_choice(choice: str | None) -> str:
    """``choice`` checked, with the default (``raw``) for None; aliases are kept as given.

    Raises
    ------
    ConfigError
        Not a mapping nor an alias.
    """
    if choice is None:
        return "raw"
    choice = str(choice).split(":", 1)[0]  # a cache token "production:name:v3"
    if choice in KEY_CHOICES or choice in KEY_ALIASES:
        return choice
    raise ConfigError(
        f"key must be one of {', '.join(KEY_CHOICES)} (or the aliases "
        f"{', '.join(KEY_ALIASES)}); got {choice!r}"
    )


def choice_label(choice: str, *, n_windows: int = N_WINDOWS) -> str:
    """How a mapping reads before it is computed (the sidebar's options)."""
    choice = normalize_choice(choice)
    if choice in ("raw", "confidence"):
        return "raw confidence"
    if choice == "production":
        return "production calibrator, out of sample"
    if choice == "calibrated_probability":
        return "calibrated probability (recorded, else isotonic walk-forward)"
    return f"{choice}, walk-forward, {n_windows} windows"


def production_version(store: Store, signal: str) -> ModelVersion | None:
    """The production version of the model named after ``signal`` (None when there is none)."""
    try:
        return ModelRegistry(store).get(signal, stage="production")
    except ModelNotFoundError:
        return None


def mapping_token(store: Store, signal: str, choice: str) -> str:
    """A string that changes when the mapping's result would: the cache key of a mapping.

    For ``production`` it names the model's production version (a promotion
    changes it); for every other mapping it is the choice itself.
    """
    choice = normalize_choice(choice)
    if choice != "production":
        return choice
    version = production_version(store, signal)
    return "production:none" if version is None else f"production:{signal}:v{version.version}"


def _no_production(signal: str) -> ConfigError:
    return ConfigError(
        f"signal {signal!r} has no production calibrator: the production mapping uses the "
        f"registry's model named after the signal. Register a calibrator under the model name {signal!r} "
        f"(Calibration page: fit walk-forward, then 'Register model version'), evaluate it and "
        f"promote it (Models page, or `signal-lab models promote {signal} VERSION --to "
        "production`), or choose another key"
    )


def map_key(
    store: Store,
    run: RunInfo,
    trades: pd.DataFrame,
    choice: str | None,
    *,
    n_windows: int = N_WINDOWS,
    min_train: int = 200,
) -> MappedTrades:
    """The run's trades with the score of mapping ``choice``, and its :class:`KeyMapping`.

    Parameters
    ----------
    store : Store
        Where the registry lives (for ``production``).
    run : RunInfo
        The run; its ``signal`` names the production model.
    trades : DataFrame
        The run's trades frame (never modified).
    choice : str or None
        One of :data:`KEY_CHOICES` or :data:`KEY_ALIASES` (None: raw).
    n_windows, min_train : int
        Walk-forward windows and fewest training trades of the calibrator mappings.

    Returns
    -------
    MappedTrades

    Raises
    ------
    ConfigError
        Unknown choice; ``production`` when the signal has no production
        calibrator (the message says how to register and promote one) or the
        version records no training window.
    InsufficientDataError
        Too few trades to fit walk-forward, or none after the production
        calibrator's training window.
    """
    choice = normalize_choice(choice)
    if choice in ("raw", "confidence"):
        n = int(trades["confidence"].notna().sum()) if "confidence" in trades else 0
        mapping = KeyMapping("raw", None, "none", None, None, n, len(trades), "raw confidence")
        return MappedTrades(trades, "confidence", choice, mapping)
    if choice == "calibrated_probability":
        recorded = (
            trades["calibrated_probability"].to_numpy(dtype=np.float64, na_value=np.nan)
            if "calibrated_probability" in trades
            else np.array([])
        )
        if np.isfinite(recorded).any():
            n = int(np.isfinite(recorded).sum())
            mapping = KeyMapping("recorded", None, "as recorded by the run", None, None, n,
                                 len(trades), "calibrated probability as recorded by the run")  # fmt: skip
            return MappedTrades(trades, "calibrated_probability", choice, mapping)
        frame, mapping = calibrate_key(trades, method="isotonic", n_windows=n_windows,
                                       min_train=min_train)  # fmt: skip
        return MappedTrades(frame, "calibrated_probability", choice, mapping)
    if choice == "production":
        version = production_version(store, run.signal)
        if version is None:
            raise _no_production(run.signal)
        if version.train_end is None:
            raise ConfigError(
                f"{run.signal} v{version.version} records no training window (train_end), so "
                "its out-of-sample trades are unknown; register it from a run"
            )
        calibrator = ModelRegistry(store).load(run.signal, version=version.version)
        frame, mapping = calibrate_key(
            trades, method="production", calibrator=calibrator, train_end=version.train_end
        )
        return MappedTrades(frame, "calibrated_probability", choice, mapping)
    frame, mapping = calibrate_key(trades, method=choice, n_windows=n_windows, min_train=min_train)
    return MappedTrades(frame, "calibrated_probability", choice, mapping)
