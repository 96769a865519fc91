"""The deflated Sharpe ratio's selection rule: false positives on noise, power on an edge.

Seeded simulations of the acceptance figures; ``bench/bench_dsr.py`` measures the
same with more seeds and other return laws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.analytics.overfitting import (
    effective_number_of_trials,
    nested_trial_correlation,
    null_sharpe_variance,
    selection_benchmark,
    trial_correlation,
)
from core.analytics.selection import select_threshold


def trades(seed: int, *, edge: bool, n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    conf = rng.random(n)
    ret = rng.standard_normal(n) + (np.where(conf >= 0.9435, 1.06, 0.0) if edge else 0.0)
    return pd.DataFrame({"confidence": conf, "return_pct": ret, "win": ret > 0})


def test_noise_is_significant_in_about_five_percent_of_seeds():
    seeds = 200
    hits = sum(select_threshold(trades(s, edge=False)).deflated.significant for s in range(seeds))
    assert 0.02 <= hits / seeds <= 0.08


def test_a_planted_edge_is_significant_in_nearly_every_seed():
    seeds = 60
    results = [select_threshold(trades(1000 + s, edge=True)) for s in range(seeds)]
    assert np.mean([r.deflated.significant for r in results]) >= 0.95
    # the benchmark does not grow with the edge: same N_eff and V scale as on noise
    noise = select_threshold(trades(0, edge=False))
    assert results[0].n_effective == pytest.approx(noise.n_effective, rel=0.2)


def test_nested_correlation_and_effective_trials():
    corr = nested_trial_correlation([400, 100])
    np.testing.assert_allclose(corr, [[1.0, 0.5], [0.5, 1.0]])
    assert effective_number_of_trials(np.eye(7)) == pytest.approx(7.0)
    assert effective_number_of_trials(np.ones((7, 7))) == pytest.approx(1.0)
    # nested sets' return series have the nested correlation (mean-zero returns)
    rng = np.random.default_rng(0)
    r = rng.standard_normal(200_000)
    m = np.column_stack([r, np.where(np.arange(r.size) < 50_000, r, 0.0)])
    assert trial_correlation(m)[0, 1] == pytest.approx(0.5, abs=0.01)


def test_null_variance_matches_simulated_sharpe_variance():
    rng = np.random.default_rng(1)
    x = rng.standard_t(4, size=(20_000, 50))
    sharpe = x.mean(axis=1) / x.std(axis=1, ddof=1)
    assert null_sharpe_variance([50]) == pytest.approx(sharpe.var(), rel=0.05)


def test_benchmark_counts_the_ledger():
    b = selection_benchmark([2000, 1000, 500], n_evaluated=4)
    assert b.n_trials == 4 and b.n_candidates == 3
    more = selection_benchmark([2000, 1000, 500], n_evaluated=4, n_trials=40)
    assert more.n_trials == 40 and more.n_effective == pytest.approx(10 * b.n_effective)
    assert more.sr_star > b.sr_star
    assert b.to_dict()["method"].startswith("null variance")
