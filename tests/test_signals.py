"""The five models and the ensemble signal engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.data import FIELDS, MarketData, generate_synthetic, load_market_data
from core.errors import ConfigError
from core.signals import (
    MODEL_NAMES,
    SIGNAL_COLUMNS,
    EnsembleConfig,
    EnsembleSignalEngine,
    SignalEngineProtocol,
    breakout_model,
    classifier_model,
    crossover_model,
    empty_signals_frame,
    momentum_model,
    rsi_model,
)
from core.signals.features import (
    daily_volatility,
    rolling_mean,
    trailing_percentile,
    wilder_rsi,
)
from core.signals.models import (
    CLASSIFIER_FEATURES,
    CLASSIFIER_FEATURES_CLOSE_ONLY,
    classifier_features,
)

# A small market whose classifier refits several times (and subsamples).
SMALL_CONFIG = EnsembleConfig(
    min_agree=2,
    classifier={"retrain_every": 40, "min_train_bars": 120, "max_train_rows": 500},
)


def col(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)[:, None]


@pytest.fixture(scope="module")
def small_market() -> MarketData:
    return generate_synthetic(n_symbols=8, n_days=400, seed=3)


def _market(close: np.ndarray, *, spread: float = 0.0) -> MarketData:
    index = pd.bdate_range("2020-01-01", periods=len(close), tz="UTC", name="date")
    symbols = [f"S{i}" for i in range(close.shape[1])]
    frame = pd.DataFrame(close, index=index, columns=symbols)
    return MarketData(
        open=frame,
        high=frame * (1 + spread),
        low=frame * (1 - spread),
        close=frame,
        volume=frame * 0 + 1000.0,
        source="synthetic",
        synthetic=True,
    )


# --------------------------------------------------------------------------- models by hand
def test_momentum_by_hand() -> None:
    close = col([100, 100, 100, 100, 106, 100, 90, 95, 100])
    # 3-bar returns from bar 3: 0, +6 %, 0, -10 %, -10.4 %, 0 against a 5 % band.
    out = momentum_model(close, lookback=3, dead_band=0.05)
    assert out.votes[:, 0].tolist() == [0, 0, 0, 0, 1, 0, -1, -1, 0]
    assert out.votes.dtype == np.int8
    # No volatility estimate yet (20 bars): a non-zero vote gets the neutral 0.5.
    assert out.strength[:, 0].tolist() == [0, 0, 0, 0, 0.5, 0, 0.5, 0.5, 0]


def test_crossover_by_hand() -> None:
    close = col([10, 10, 10, 10, 12, 14, 12, 10, 8, 8])
    # SMA2 from bar 3: 10, 11, 13, 13, 11, 9, 8; SMA4: 10, 10.5, 11.5, 12, 12, 11, 9.5.
    out = crossover_model(close, fast=2, slow=4)
    assert out.votes[:, 0].tolist() == [0, 0, 0, 0, 1, 1, 1, -1, -1, -1]


def test_breakout_by_hand_excludes_today() -> None:
    close = col([10, 11, 12, 11, 13, 12, 9, 10, 10, 8])
    # Prior 3-bar channel at bar 4: highs 12.5, 11.5, 11.5 -> 12.5 < 13: +1.
    # Bar 6: prior lows 10.5, 12.5, 11.5 -> 10.5 > 9: -1. Bar 9: lows 8.5, 9.5, 9.5 > 8: -1.
    out = breakout_model(close, close + 0.5, close - 0.5, window=3)
    assert out.votes[:, 0].tolist() == [0, 0, 0, 0, 1, 0, -1, 0, 0, -1]
    # Including today's high would make a breakout impossible (close <= high).
    same = breakout_model(close, close, close, window=3)
    assert same.votes[:, 0].tolist() == [0, 0, 0, 0, 1, 0, -1, 0, 0, -1]


def test_rsi_by_hand() -> None:
    close = col([10, 11, 12, 13, 12, 11, 10, 9, 10])
    # Changes +1 +1 +1 -1 -1 -1 -1 +1; period 3: seed gain 1, loss 0 at bar 3, then
    # gain (2/3, 4/9, 8/27, 16/81, 113/243), loss (1/3, 5/9, 19/27, 65/81, 130/243).
    expected = [np.nan, np.nan, np.nan, 100.0, 200 / 3, 400 / 9, 800 / 27, 1600 / 81, 11300 / 243]
    np.testing.assert_allclose(wilder_rsi(close, 3)[:, 0], expected, rtol=1e-12)
    out = rsi_model(close, period=3, lower=30, upper=70)
    assert out.votes[:, 0].tolist() == [0, 0, 0, -1, 0, 0, 1, 1, 0]
    np.testing.assert_allclose(out.strength[6, 0], (30 - 800 / 27) / 30)
    np.testing.assert_allclose(out.strength[3, 0], (100 - 70) / 30)


def test_rsi_gap_path_matches_the_filter() -> None:
    rng = np.random.default_rng(5)
    close = np.exp(np.cumsum(rng.normal(0, 0.02, (80, 2)), axis=0)) * 50
    close[:, 1] = close[:, 0]
    close[60, 1] = np.nan  # an interior gap sends column 1 through the row loop
    rsi = wilder_rsi(close, 14)
    np.testing.assert_allclose(rsi[:60, 1], rsi[:60, 0], rtol=1e-12, equal_nan=True)
    assert np.isnan(rsi[60, 1]) and np.isnan(rsi[61, 1])  # a NaN price makes two NaN changes
    assert np.isfinite(rsi[62:, 1]).all()


def test_classifier_walk_forward_learns_a_trend() -> None:
    rng = np.random.default_rng(0)
    n_dates, n_symbols = 600, 6
    regime = np.repeat(rng.choice([-1, 1], (n_dates // 60 + 1, n_symbols)), 60, axis=0)[:n_dates]
    close = 100 * np.exp(np.cumsum(0.006 * regime + rng.normal(0, 0.01, regime.shape), axis=0))
    out = classifier_model(
        close, close * 1.005, close / 1.005, holding_days=5, retrain_every=50, min_train_bars=150
    )
    assert not out.votes[:150].any()  # before the first fit
    assert set(np.unique(out.votes)) <= {-1, 0, 1}
    forward = np.full_like(close, np.nan)
    forward[:-5] = np.sign(close[5:] - close[:-5])
    scored = (out.votes != 0) & np.isfinite(forward)
    assert scored.sum() > 1000
    assert (out.votes[scored] == forward[scored]).mean() > 0.7
    assert ((out.strength >= 0) & (out.strength <= 1)).all()


def test_classifier_never_fits_without_enough_rows() -> None:
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (200, 2)), axis=0))
    out = classifier_model(close, close, close, min_train_bars=100, min_train_rows=10_000)
    assert not out.votes.any() and not out.strength.any()


# --------------------------------------------------------------------------- properties
prices = st.lists(st.one_of(st.floats(0.01, 1e4), st.just(float("nan"))), min_size=2, max_size=60)


@settings(max_examples=60, deadline=None)
@given(values=prices, period=st.integers(2, 20))
@example(
    values=[0.01, 1.0, 1.4297605652309358, 5244.0], period=2
)  # all gains: the ratio rounded to 100 + 1e-14
def test_rsi_stays_in_range(values: list[float], period: int) -> None:
    rsi = wilder_rsi(col(values), period)
    finite = rsi[np.isfinite(rsi)]
    assert ((finite >= 0) & (finite <= 100)).all()


@settings(max_examples=40, deadline=None)
@given(values=prices, window=st.integers(1, 10))
def test_models_vote_in_range(values: list[float], window: int) -> None:
    close = col(values)
    vol = daily_volatility(close, 3)
    outputs = [
        momentum_model(close, lookback=window, dead_band=0.01, vol=vol),
        crossover_model(close, fast=window, slow=window + 2, vol=vol),
        breakout_model(close, close * 1.01, close * 0.99, window=window, vol=vol),
        rsi_model(close, period=max(window, 2)),
    ]
    for out in outputs:
        assert out.votes.dtype == np.int8
        assert set(np.unique(out.votes)) <= {-1, 0, 1}
        assert ((out.strength >= 0) & (out.strength <= 1)).all()
        assert (out.strength[out.votes == 0] == 0).all()


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=40), window=st.integers(1, 8))
def test_rolling_mean_matches_naive(values: list[float], window: int) -> None:
    x = col(values)
    got = rolling_mean(x, window)[:, 0]
    for t in range(len(values)):
        if t + 1 < window:
            assert np.isnan(got[t])
        else:
            np.testing.assert_allclose(got[t], np.mean(values[t + 1 - window : t + 1]), atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(0, 1), min_size=1, max_size=60), window=st.integers(1, 30))
def test_trailing_percentile_matches_pandas_rank(values: list[float], window: int) -> None:
    x = col(values)
    got = trailing_percentile(x, window, min_periods=1)
    want = pd.DataFrame(x).rolling(window, min_periods=1).rank(pct=True).to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)


# --------------------------------------------------------------------------- ensemble
def test_ensemble_rule_and_cooldown_by_hand() -> None:
    close = 100 * 1.01 ** np.arange(16, dtype=float)
    late = np.where(np.arange(16) >= 4, close, np.nan)
    market = _market(np.column_stack([close, late]))
    config = EnsembleConfig(
        models=("momentum", "crossover"),
        min_agree=2,
        holding_days=3,
        vol_window=5,
        momentum={"lookback": 3, "dead_band": 0.02},
        crossover={"fast": 2, "slow": 4},
    )
    signals = EnsembleSignalEngine(config).generate(market)
    # S0: both vote +1 from bar 3; volatility known from bar 5; then every 3 bars.
    # S1 starts at bar 4: votes from bar 7, volatility from bar 9.
    got = list(zip(signals["symbol"], signals["bar"], strict=True))
    assert got == [("S0", 5), ("S0", 8), ("S1", 9), ("S0", 11), ("S1", 12), ("S0", 14), ("S1", 15)]
    assert (signals["side"] == 1).all() and (signals["num_agreeing_models"] == 2).all()
    assert list(signals.columns) == [*SIGNAL_COLUMNS, "vote_momentum", "vote_crossover"]


def test_signals_frame_contract(small_market: MarketData) -> None:
    signals = EnsembleSignalEngine(SMALL_CONFIG).generate(small_market)
    assert len(signals) > 50
    assert list(signals.columns) == [*SIGNAL_COLUMNS, *(f"vote_{m}" for m in MODEL_NAMES)]
    dtypes = signals.dtypes.astype(str).to_dict()
    assert dtypes["ts"] == "datetime64[ns, UTC]"
    assert dtypes["bar"] == dtypes["num_agreeing_models"] == dtypes["holding_days"] == "int64"
    assert dtypes["side"] == "int8" and all(dtypes[f"vote_{m}"] == "int8" for m in MODEL_NAMES)
    for name in ("confidence", "signal_strength", "market_volatility"):
        assert dtypes[name] == "float64"
    assert pd.api.types.is_string_dtype(signals["symbol"])
    assert signals["ts"].equals(pd.Series(small_market.dates[signals["bar"]], name="ts"))
    assert signals[["ts", "symbol"]].equals(signals.sort_values(["ts", "symbol"])[["ts", "symbol"]])
    assert signals["confidence"].between(0, 1).all()
    assert signals["signal_strength"].between(0, 1).all()
    assert (signals["market_volatility"] > 0).all()
    assert set(signals["side"]) <= {-1, 1}
    assert (signals["num_agreeing_models"] >= SMALL_CONFIG.min_agree).all()
    votes = signals[[f"vote_{m}" for m in MODEL_NAMES]].to_numpy()
    agreeing = (votes == signals["side"].to_numpy()[:, None]).sum(axis=1)
    assert (agreeing == signals["num_agreeing_models"]).all()
    opposing = (votes == -signals["side"].to_numpy()[:, None]).sum(axis=1)
    assert (agreeing > opposing).all()
    # Per-symbol cooldown: a symbol's signals never overlap.
    gaps = signals.groupby("symbol")["bar"].diff().dropna()
    assert (gaps >= SMALL_CONFIG.holding_days).all()


def test_market_volatility_is_annualised_log_return_std(small_market: MarketData) -> None:
    signals = EnsembleSignalEngine(SMALL_CONFIG).generate(small_market)
    log_ret = np.log(small_market.close).diff()
    want = log_ret.rolling(20).std() * np.sqrt(252)
    expected = [want.iloc[b][s] for b, s in zip(signals["bar"], signals["symbol"], strict=True)]
    np.testing.assert_allclose(signals["market_volatility"], expected, rtol=1e-9)


@pytest.mark.parametrize("cut", [100, 150, 237, 330])
def test_no_lookahead(small_market: MarketData, cut: int) -> None:
    engine = EnsembleSignalEngine(SMALL_CONFIG)
    before = engine.compute(small_market)
    rng = np.random.default_rng(cut)
    factor = np.ones(small_market.shape)
    factor[cut + 1 :] = rng.uniform(0.7, 1.3, (small_market.shape[0] - cut - 1, factor.shape[1]))
    frames = {
        name: getattr(small_market, name) * (factor if name != "volume" else 1.0) for name in FIELDS
    }
    after = engine.compute(MarketData(**frames, source="synthetic", synthetic=True))
    head = slice(0, cut + 1)
    for name in ("votes", "strengths"):
        np.testing.assert_array_equal(getattr(before, name)[:, head], getattr(after, name)[:, head])
    for name in ("side", "num_agreeing", "confidence", "signal_strength", "entries"):
        np.testing.assert_array_equal(getattr(before, name)[head], getattr(after, name)[head])
    np.testing.assert_array_equal(before.market_volatility[head], after.market_volatility[head])
    # The perturbation is real: the classifier (and others) see it after the cut.
    assert not np.array_equal(before.votes[:, cut + 1 :], after.votes[:, cut + 1 :])
    if cut >= 120:  # the classifier has been fitted by then
        assert before.votes[-1, head].any()
    signals_before = before.to_frame()
    signals_after = after.to_frame()
    pd.testing.assert_frame_equal(
        signals_before[signals_before["bar"] <= cut],
        signals_after[signals_after["bar"] <= cut],
    )


def test_deterministic(small_market: MarketData) -> None:
    a = EnsembleSignalEngine(SMALL_CONFIG).generate(small_market)
    b = EnsembleSignalEngine(SMALL_CONFIG).generate(small_market)
    pd.testing.assert_frame_equal(a, b)
    other_seed = EnsembleConfig(**{**SMALL_CONFIG.to_dict(), "seed": 1})
    c = EnsembleSignalEngine(other_seed).generate(small_market)
    assert not c["vote_classifier"].equals(a["vote_classifier"]) or len(c) != len(a)


def test_confidence_formula(small_market: MarketData) -> None:
    result = EnsembleSignalEngine(SMALL_CONFIG).compute(small_market)
    share = result.num_agreeing / len(result.models)
    want = 0.5 * share + 0.35 * result.signal_strength + 0.15 * (1 - result.vol_rank)
    want = np.where(result.side != 0, want, 0.0)
    np.testing.assert_allclose(result.confidence, want)
    assert ((result.confidence >= 0) & (result.confidence <= 1)).all()
    assert ((result.vol_rank > 0) & (result.vol_rank <= 1)).all()


def test_sample_produces_enough_signals() -> None:
    market = load_market_data("sample")
    signals = EnsembleSignalEngine().generate(market)
    assert len(signals) >= 1000
    assert set(signals["symbol"]) == {"AAPL", "FB", "GOOG", "IBM", "MSFT"}
    assert signals["ts"].min() >= pd.Timestamp("2000-03-01", tz="UTC")
    assert signals["confidence"].between(0, 1).all()
    goog = signals[signals["symbol"] == "GOOG"]
    assert goog["ts"].min() > pd.Timestamp("2004-08-19", tz="UTC")


def test_disabled_models_have_no_vote_column(small_market: MarketData) -> None:
    config = EnsembleConfig(models=["rsi", "momentum"], min_agree=1)
    assert config.models == ("momentum", "rsi")
    signals = EnsembleSignalEngine(config).generate(small_market)
    assert [c for c in signals.columns if c.startswith("vote_")] == ["vote_momentum", "vote_rsi"]


def test_short_market_gives_empty_typed_frame() -> None:
    market = _market(col([10, 11, 12]))
    signals = EnsembleSignalEngine().generate(market)
    assert signals.empty
    pd.testing.assert_series_equal(signals.dtypes, empty_signals_frame().dtypes)


def test_protocol_accepts_builtin_and_custom_engines() -> None:
    class AlwaysLong:
        def generate(self, data: MarketData) -> pd.DataFrame:
            return empty_signals_frame()

    assert isinstance(EnsembleSignalEngine(), SignalEngineProtocol)
    assert isinstance(AlwaysLong(), SignalEngineProtocol)
    assert not isinstance(object(), SignalEngineProtocol)


def test_engine_rejects_wrong_inputs() -> None:
    with pytest.raises(ConfigError, match=r"config must be an EnsembleConfig"):
        EnsembleSignalEngine({"min_agree": 2})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"data must be a MarketData"):
        EnsembleSignalEngine().generate(pd.DataFrame())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"min_agree": 0},
            r"EnsembleConfig\.min_agree=0 is out of range; use an integer in \[1, 5\]",
        ),
        ({"min_agree": 6}, r"EnsembleConfig\.min_agree=6 is out of range.*\[1, 5\]"),
        (
            {"min_agree": 3, "models": ("momentum", "rsi")},
            r"min_agree=3 is out of range; use an integer in \[1, 2\] \(the number of enabled",
        ),
        ({"min_agree": True}, r"EnsembleConfig\.min_agree=True must be an integer"),
        ({"holding_days": 0}, r"EnsembleConfig\.holding_days=0 is out of range.*\[1, 252\]"),
        ({"holding_days": 2.5}, r"EnsembleConfig\.holding_days=2\.5 must be an integer"),
        ({"vol_window": 1}, r"EnsembleConfig\.vol_window=1 is out of range.*\[2, 1000\]"),
        ({"seed": -1}, r"EnsembleConfig\.seed=-1 is out of range"),
        ({"models": ("momentun",)}, r"unknown model 'momentun'; did you mean 'momentum'\?"),
        ({"models": ()}, r"EnsembleConfig\.models is empty"),
        ({"models": ("rsi", "rsi")}, r"lists a model twice"),
        ({"models": "rsi"}, r"must be a list of model names"),
        ({"momentum": {"lookback": 0}}, r"MomentumParams\.lookback=0 is out of range"),
        ({"momentum": {"dead_band": -0.1}}, r"MomentumParams\.dead_band=-0\.1 is out of range"),
        ({"momentum": {"lookbak": 5}}, r"no setting 'lookbak'; did you mean 'lookback'\?"),
        ({"crossover": {"fast": 50, "slow": 10}}, r"slow=10 must be greater than fast=50"),
        ({"breakout": {"window": 0}}, r"BreakoutParams\.window=0 is out of range"),
        ({"rsi": {"lower": 80, "upper": 70}}, r"RSIParams\.upper=70 must lie above lower=80"),
        ({"rsi": {"upper": 100}}, r"RSIParams\.upper=100 must lie above lower=30\.0 and below 100"),
        ({"rsi": {"lower": 0}}, r"RSIParams\.lower=0 is out of range; use a number in \(0\.0, 100"),
        ({"classifier": {"prob_margin": 0.6}}, r"ClassifierParams\.prob_margin=0\.6 is out of"),
        ({"classifier": {"retrain_every": 0}}, r"ClassifierParams\.retrain_every=0 is out of"),
        ({"classifier": {"C": 0.0}}, r"ClassifierParams\.C=0\.0 is out of range.*\(0\.0"),
        ({"classifier": 3}, r"EnsembleConfig\.classifier must be a ClassifierParams"),
    ],
)
def test_config_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        EnsembleConfig(**kwargs)


def test_config_round_trip_and_unknown_key() -> None:
    config = EnsembleConfig(min_agree=2, momentum={"lookback": 30}, models=["rsi", "momentum"])
    again = EnsembleConfig.from_dict(config.to_dict())
    assert again == config
    assert config.to_dict()["momentum"] == {"lookback": 30, "dead_band": 0.02}
    with pytest.raises(ConfigError, match=r"no setting 'min_agre'; did you mean 'min_agree'\?"):
        EnsembleConfig.from_dict({"min_agre": 2})


# --------------------------------------------------------------------------- close-only mode
def _close_only(market: MarketData) -> MarketData:
    return MarketData.from_closes(market.close, source="extended-close-only")


def test_close_only_breakout_uses_a_channel_of_prior_closes() -> None:
    close = col([10, 11, 12, 11, 13, 12, 9, 10, 10, 8])
    # Prior 3 closes at bar 4 (bars 1-3): max(11, 12, 11) = 12 < 13: +1; bar 6: min(11, 13, 12)
    # = 11 > 9: -1; bar 9: min(9, 10, 10) = 9 > 8: -1.
    out = breakout_model(close, None, None, window=3)
    assert out.votes[:, 0].tolist() == [0, 0, 0, 0, 1, 0, -1, 0, 0, -1]
    same = breakout_model(close, close, close, window=3)
    np.testing.assert_array_equal(out.votes, same.votes)
    np.testing.assert_array_equal(out.strength, same.strength)


def test_close_only_classifier_drops_only_the_range_feature(small_market: MarketData) -> None:
    close, high, low = (getattr(small_market, f).to_numpy() for f in ("close", "high", "low"))
    full = classifier_features(close, high, low)
    closes = classifier_features(close, None, None)
    assert full.shape[-1] == len(CLASSIFIER_FEATURES) == 8
    assert closes.shape == (*close.shape, len(CLASSIFIER_FEATURES_CLOSE_ONLY)) == (*close.shape, 7)
    assert "z_range" not in CLASSIFIER_FEATURES_CLOSE_ONLY
    keep = [CLASSIFIER_FEATURES.index(name) for name in CLASSIFIER_FEATURES_CLOSE_ONLY]
    np.testing.assert_array_equal(closes, full[..., keep])


@pytest.mark.parametrize("model", [breakout_model, classifier_features])
def test_range_models_need_both_high_and_low_or_neither(model) -> None:
    close = col([10.0, 11.0, 12.0])
    with pytest.raises(ConfigError, match="both high and low, or neither"):
        model(close, close, None)


def test_ensemble_on_close_only_data_is_labelled_and_reads_closes_only(
    small_market: MarketData,
) -> None:
    engine = EnsembleSignalEngine(SMALL_CONFIG)
    ohlcv = engine.compute(small_market)
    closes = engine.compute(_close_only(small_market))
    assert closes.close_only and not ohlcv.close_only
    # Models that read closes only vote the same on both; breakout follows the close channel.
    for name in ("momentum", "crossover", "rsi"):
        k = closes.models.index(name)
        np.testing.assert_array_equal(closes.votes[k], ohlcv.votes[k])
    k = closes.models.index("breakout")
    close = small_market.close.to_numpy()
    np.testing.assert_array_equal(
        closes.votes[k], breakout_model(close, None, None, **SMALL_CONFIG.breakout.to_dict()).votes
    )
    frame = engine.generate(_close_only(small_market))
    assert list(frame.columns[: len(SIGNAL_COLUMNS)]) == list(SIGNAL_COLUMNS)
    assert len(frame) > 0
    assert ((frame["confidence"] >= 0) & (frame["confidence"] <= 1)).all()


def test_close_only_signals_have_no_lookahead(small_market: MarketData) -> None:
    cut = 237
    engine = EnsembleSignalEngine(SMALL_CONFIG)
    data = _close_only(small_market)
    factor = np.ones(data.shape)
    factor[cut + 1 :] = np.random.default_rng(cut).uniform(0.7, 1.3, (data.shape[0] - cut - 1, 8))
    moved = MarketData.from_closes(data.close * factor, source="extended-close-only")
    before, after = engine.generate(data), engine.generate(moved)
    pd.testing.assert_frame_equal(
        before[before["bar"] <= cut].reset_index(drop=True),
        after[after["bar"] <= cut].reset_index(drop=True),
    )
